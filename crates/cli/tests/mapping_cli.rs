//! `pipework mapping ...` end to end: a holder process, writes and reads by other processes,
//! the OS name Python attaches by, and the name gone once the holder is.

mod common;

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

use common::{assert_success, output as pipework};

/// Starts `pipework mapping create NAME --size SIZE`, which holds the mapping until its standard
/// input closes, and returns it with the lines of its standard output.
fn hold(name: &str, size: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut holder = common::pipework()
        .args(["mapping", "create", name, "--size", size])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the holder");
    let lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    (holder, lines)
}

#[test]
fn create_write_read_info_python_remove() {
    let name = format!("Local\\pw-cli-test-{}", std::process::id());
    // The holder prints its info once the mapping exists (a closed stdout here fails the test).
    let (mut holder, mut lines) = hold(&name, "8192");
    let info: Vec<String> = (0..5).map(|_| lines.next().unwrap().unwrap()).collect();
    assert!(info[0].ends_with(&name), "{info:?}");
    assert!(info[2].ends_with("8192"), "{info:?}");

    let out = pipework(&[
        "mapping",
        "write",
        &name,
        "hello from the cli",
        "--offset",
        "16",
    ]);
    assert_success(&out);
    let out = pipework(&["mapping", "read", &name, "--offset", "16", "--len", "18"]);
    assert_eq!(out.stdout, b"hello from the cli");
    let out = pipework(&["mapping", "read", &name, "--len", "2", "--hex"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "00 00");

    let out = pipework(&["mapping", "info", &name, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["size"], 8192);
    assert_eq!(json["kind"], "mapping");
    let os_name = json["os_name"].as_str().unwrap().to_string();
    let python = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys\nfrom multiprocessing import shared_memory, resource_tracker\n\
             s = shared_memory.SharedMemory(name=sys.argv[1])\n\
             resource_tracker.unregister(s._name, 'shared_memory')\n\
             assert bytes(s.buf[16:34]) == b'hello from the cli'\ns.close()",
        )
        .arg(&os_name)
        .status()
        .expect("python3 is needed (apt-get install python3)");
    assert!(python.success());

    let out = pipework(&["mapping", "open", &name, "--write"]);
    assert!(out.status.success());

    // remove: frees the name at once, even while it is held.
    let out = pipework(&["mapping", "remove", &name]);
    assert_success(&out);
    let out = pipework(&["mapping", "info", &name]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no object named"));
    assert!(!pipework(&["mapping", "remove", &name]).status.success());

    // The holder lets go and exits cleanly.
    holder.stdin.take().unwrap().flush().unwrap();
    assert!(holder.wait().unwrap().success());
}

#[test]
fn a_mapping_lives_while_its_creator_holds_it() {
    let name = format!("Local\\pw-cli-test-life-{}", std::process::id());
    let (mut holder, mut lines) = hold(&name, "4096");
    lines.next().unwrap().unwrap();
    assert!(pipework(&["mapping", "info", &name]).status.success());
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let out = pipework(&["mapping", "info", &name]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no object named"));
}

#[test]
fn list_shows_mappings_and_sync_objects_with_kind_and_size() {
    let id = std::process::id();
    let mapping_name = format!("Local\\pw-cli-list-map-{id}");
    let mutex_name = format!("Local\\pw-cli-list-mutex-{id}");
    let event_name = format!("Local\\pw-cli-list-event-{id}");
    let _mapping = pipework::mapping::FileMapping::create(&mapping_name, 12288).unwrap();
    let _mutex = pipework::sync::Mutex::create(&mutex_name, false).unwrap();
    let _event = pipework::sync::Event::create(&event_name, true, false).unwrap();
    let out = pipework(&["list"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let row = |kind: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(kind) && l.contains(name))
            .unwrap_or_else(|| panic!("no {kind} {name} in:\n{text}"))
            .to_string()
    };
    assert!(row("mapping", &mapping_name).contains("12288 bytes"));
    row("mutex", &mutex_name);
    row("event", &event_name);
}
