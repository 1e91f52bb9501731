//! `pipework mailslot read|send` and `pipework list`, run as real processes.

mod common;

use common::{pipework, spawn_announced, succeeded_with_stdout};

#[test]
fn read_send_and_list() {
    let name = format!(r"\\.\mailslot\pipework-cli-test\{}\Box", std::process::id());
    // Wait for the server to announce its slot.
    let (reader, announce) = spawn_announced(pipework().args([
        "mailslot",
        "read",
        &name,
        "--count",
        "3",
        "--timeout",
        "30000",
    ]));
    assert!(announce.contains("reading mailslot"), "{announce}");

    let status = pipework()
        .args([
            "mailslot",
            "send",
            &name.to_uppercase(),
            "hello",
            "",
            "world",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let out = succeeded_with_stdout(reader, "pipework mailslot read");
    assert_eq!(out, "hello\n\nworld\n");

    // Gone with its server.
    let out = pipework()
        .args(["mailslot", "send", &name, "late"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no mailslot"));
}

#[test]
fn list_shows_queued_messages() {
    let name = format!(
        r"\\.\mailslot\pipework-cli-test\{}\listed",
        std::process::id()
    );
    let slot = pipework::mailslot::MailslotOptions::new()
        .create(&name)
        .unwrap();
    let status = pipework()
        .args(["mailslot", "send", &name, "a", "b"])
        .status()
        .unwrap();
    assert!(status.success());
    let out = pipework().arg("list").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("mailslot") && l.contains(&name) && l.ends_with(" 2 queued")),
        "{text}"
    );
    drop(slot);
}

#[test]
fn read_listens_and_send_reaches_it_over_loopback() {
    // NetBIOS datagrams on the loopback interface only, unicast to its address: nothing leaves
    // the machine. Ports of this test's own, so that no NetBIOS daemon is in the way.
    let name = format!(r"\\.\mailslot\pipework-cli-test\{}\net", std::process::id());
    let port = (40_000 + std::process::id() % 20_000).to_string();
    let name_port = (20_000 + std::process::id() % 20_000).to_string();
    let net = [
        "--interface",
        "lo",
        "--port",
        &port,
        "--name-port",
        &name_port,
    ];
    let (reader, announce) = spawn_announced(
        pipework()
            .args(["mailslot", "read", &name, "--count", "1", "--listen"])
            .args(net),
    );
    assert!(announce.contains("reading mailslot"), "{announce}");
    let remote = name.replace(r"\\.\", r"\\127.0.0.1\");
    let status = pipework()
        .args(["mailslot", "send", &remote, "over udp"])
        .args(net)
        .status()
        .unwrap();
    assert!(status.success());
    // Without an interface, nothing goes to the network.
    let out = pipework()
        .args(["mailslot", "send", &remote, "nowhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interface"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = succeeded_with_stdout(reader, "pipework mailslot read");
    assert_eq!(out, "over udp\n");
}

#[test]
fn short_names_mean_this_computers_mailslot() {
    let short = format!("pipework-cli-test-{}-short", std::process::id());
    let (reader, announce) = spawn_announced(pipework().args([
        "mailslot",
        "read",
        &short,
        "--count",
        "2",
        "--timeout",
        "30000",
    ]));
    let full = format!(r"\\.\mailslot\{short}");
    assert!(announce.contains(&full), "{announce}");
    // The short name and the full one reach the same slot.
    for (name, text) in [(short.as_str(), "short"), (full.as_str(), "full")] {
        let out = pipework()
            .args(["mailslot", "send", name, text])
            .output()
            .unwrap();
        common::assert_success(&out);
    }
    let out = succeeded_with_stdout(reader, "pipework mailslot read");
    assert_eq!(out, "short\nfull\n");
}
