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
    // pipework's own datagrams, unicast on the loopback interface only: nothing leaves the
    // machine, no multicast group is joined (the group is loopback's broadcast address), and
    // no NetBIOS datagram is sent outside a test's own network namespace (see the interop test
    // below for the NetBIOS wire).
    let name = format!(r"\\.\mailslot\pipework-cli-test\{}\net", std::process::id());
    let port = (40_000 + std::process::id() % 20_000).to_string();
    let net = [
        "--wire",
        "pipework",
        "--interface",
        "lo",
        "--port",
        &port,
        "--group",
        "127.255.255.255",
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

/// Two network namespaces joined by a veth pair (10.79.0.1, 10.79.0.2), removed on drop: the
/// NetBIOS wire never touches the machine's own interfaces in a test.
#[cfg(feature = "interop")]
struct Namespaces {
    a: String,
    b: String,
    dir: std::path::PathBuf,
}

#[cfg(feature = "interop")]
impl Namespaces {
    fn new() -> Namespaces {
        let tag = std::process::id();
        let ns = Namespaces {
            a: format!("pipework-cli-nbt-{tag}-a"),
            b: format!("pipework-cli-nbt-{tag}-b"),
            dir: std::env::temp_dir().join(format!("pipework-cli-nbt-{tag}")),
        };
        std::fs::create_dir_all(&ns.dir).unwrap();
        let (va, vb) = (format!("pca{tag:x}"), format!("pcb{tag:x}"));
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &ns.a]);
        ip(&["netns", "add", &ns.b]);
        ip(&[
            "link", "add", &va, "netns", &ns.a, "type", "veth", "peer", "name", &vb, "netns", &ns.b,
        ]);
        for (name, dev, addr) in [(&ns.a, &va, "10.79.0.1/24"), (&ns.b, &vb, "10.79.0.2/24")] {
            ip(&[
                "-n",
                name,
                "addr",
                "add",
                addr,
                "brd",
                "10.79.0.255",
                "dev",
                dev,
            ]);
            ip(&["-n", name, "link", "set", dev, "up"]);
        }
        ns
    }

    /// `pipework ARGS` inside namespace `ns`, with a mailslot directory of that namespace's own.
    fn pipework(&self, ns: &str) -> std::process::Command {
        let mut c = std::process::Command::new("ip");
        c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_pipework")])
            .env("PIPEWORK_RUNTIME_DIR", self.dir.join(ns));
        c
    }
}

#[cfg(feature = "interop")]
impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(feature = "interop")]
#[test]
fn interop_read_listens_and_send_reaches_it_on_the_netbios_wire() {
    let ns = Namespaces::new();
    let name = r"\\.\mailslot\cli\inbox";
    let names = ["--workgroup", "PWCLIGRP", "--interface"];
    let (reader, announce) = spawn_announced(
        ns.pipework(&ns.b)
            .args(["mailslot", "read", name, "--count", "3", "--listen"])
            .args(names)
            .args(["10.79.0.2", "--netbios-name", "PWCLIB"])
            .args(["--also-receive", "PWCLIGRP<1d>", "--timeout", "30000"]),
    );
    // The reader ends by itself: after three messages, or 30 s without one.
    assert!(announce.contains("reading mailslot"), "{announce}");
    for (to, extra, text) in [
        // Found by a NetBIOS name query that the reader's listener answers.
        (r"\\PWCLIB\mailslot\cli\inbox", &[][..], "to the host"),
        (r"\\*\mailslot\cli\inbox", &[][..], "to the workgroup"),
        (
            r"\\PWCLIGRP\mailslot\cli\inbox",
            &["--group-suffix", "1d"][..],
            "to the master browser",
        ),
    ] {
        let out = ns
            .pipework(&ns.a)
            .args(["mailslot", "send", to, text])
            .args(names)
            .args(["10.79.0.1", "--netbios-name", "PWCLIA"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{to}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut lines: Vec<String> = succeeded_with_stdout(reader, "pipework mailslot read")
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        ["to the host", "to the master browser", "to the workgroup"]
    );
}
