//! `pipework list` prints names as data: a name full of terminal controls, made by another
//! process, comes out escaped on one row of the table, and exactly as it is in `--json`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use common::{pipework, Running as Holder, TIMEOUT};

#[test]
fn a_name_with_controls_is_one_escaped_row_and_exact_in_json() {
    let tag = format!("pw-list-{}", std::process::id());
    let name = format!("\\\\.\\mailslot\\{tag}\\\x1b[31mred\x07bell\nforged row\u{85}end");
    let escaped = format!(r"\\.\mailslot\{tag}\\x1b[31mred\x07bell\nforged row\u{{85}}end");

    // Another process holds the slot: `pipework mailslot read` announces it once it exists.
    let mut child = pipework()
        .args(["mailslot", "read", &name, "--timeout", "30000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let errors = BufReader::new(child.stderr.take().unwrap());
    let holder = Holder(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // The announcement spans two lines (the name holds a newline): wait for its end.
        for line in errors.lines() {
            let Ok(line) = line else { return };
            if line.ends_with("end") {
                let _ = tx.send(());
                return;
            }
        }
    });
    rx.recv_timeout(TIMEOUT)
        .expect("the mailslot reader's announcement");

    let out = pipework().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for c in ['\x1b', '\x07', '\u{85}'] {
        assert!(!text.contains(c), "{c:?} reached the terminal: {text:?}");
    }
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(&tag)).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0].starts_with("mailslot "), "{}", rows[0]);
    assert!(rows[0].contains(&escaped), "{} lacks {escaped}", rows[0]);
    assert!(!text.lines().any(|l| l.starts_with("forged")), "{text}");

    let out = pipework().args(["list", "--json"]).output().unwrap();
    assert!(out.status.success());
    let objects: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let ours: Vec<&serde_json::Value> = objects
        .iter()
        .filter(|o| o["name"].as_str().is_some_and(|n| n.contains(&tag)))
        .collect();
    assert_eq!(ours.len(), 1, "{objects:?}");
    assert_eq!(ours[0]["name"], name.as_str());
    assert_eq!(ours[0]["kind"], "mailslot");
    assert_eq!(ours[0]["queued"], 0);
    drop(holder);
}

#[test]
fn json_lists_every_kind_with_its_fields() {
    let id = std::process::id();
    let mapping = format!("Local\\pw-list-json-map-{id}");
    let event = format!("Local\\pw-list-json-event-{id}");
    let _mapping = pipework::mapping::FileMapping::create(&mapping, 8192).unwrap();
    let _event = pipework::sync::Event::create(&event, true, false).unwrap();
    let out = pipework().args(["list", "--json"]).output().unwrap();
    assert!(out.status.success());
    let objects: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |name: &str| {
        objects
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {objects:?}"))
    };
    assert_eq!(find(&mapping)["kind"], "mapping");
    assert_eq!(find(&mapping)["size"], 8192);
    assert_eq!(find(&event)["kind"], "event");
}
