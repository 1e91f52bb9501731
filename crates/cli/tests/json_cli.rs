//! Every command that prints records about objects has `--json`, and what it prints parses:
//! `list`, `mapping create|open|info`, `pipe path`, `bench --list` (and `bench` itself, in
//! bench_cli.rs).

use std::process::{Command, Stdio};

fn pipework_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_pipework"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pipework");
    assert!(
        out.status.success(),
        "pipework {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one line of JSON: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("pipework {args:?}: {e}: {text}"))
}

#[test]
fn every_record_printing_command_takes_json() {
    let id = std::process::id();
    let mapping = format!("Local\\pw-json-{id}");
    let _held = pipework::mapping::FileMapping::create(&mapping, 4096).unwrap();
    let pipe = format!("pw-json-{id}");
    let _server = pipework::named_pipe::ServerOptions::new()
        .create(&pipe)
        .unwrap();

    for command in ["info", "open"] {
        let info = pipework_json(&["mapping", command, &mapping, "--json"]);
        assert_eq!(info["name"], mapping.as_str());
        assert_eq!(info["size"], 4096);
        assert!(info["python"]["3.13+"]
            .as_str()
            .unwrap()
            .contains("track=False"));
    }
    let created = format!("Local\\pw-json-created-{id}");
    let info = pipework_json(&[
        "mapping",
        "create",
        &created,
        "--size",
        "8192",
        "--no-hold",
        "--json",
    ]);
    assert_eq!(info["size"], 8192);

    let path = pipework_json(&["pipe", "path", &pipe, "--json"]);
    assert_eq!(path["type"], "byte");
    assert!(path["path"].as_str().unwrap().starts_with('/'));

    let listed = pipework_json(&["list", "--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert!(names.iter().any(|n| n.contains(&pipe)), "{names:?}");

    let mechanisms = pipework_json(&["bench", "--list", "--json"]);
    assert!(mechanisms
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "shm-pipe"));
}
