//! The examples, run as they are.

use super::*;

/// An example program built beside this test binary (`cargo test` builds the examples).
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "example {name} not built at {}",
        path.display()
    );
    Command::new(path)
}

/// Reads one line from `out` without taking more from the pipe.
fn line_from(out: &mut std::process::ChildStdout) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        common::wait_readable(&*out);
        match std::io::Read::read(out, &mut byte).unwrap() {
            0 => break,
            _ => line.push(byte[0]),
        }
    }
    String::from_utf8_lossy(&line).trim_end().to_string()
}

pub(super) fn example_server_and_client() {
    // A private directory: the sample's fixed name cannot meet anyone else's.
    let dir = std::env::temp_dir().join(format!("pipework-ms-example-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    let mut server = example("mailslot_server");
    server
        .arg("3")
        .env("PIPEWORK_RUNTIME_DIR", &dir)
        .stdout(Stdio::piped());
    let mut server = server.spawn().unwrap();
    let mut out = server.stdout.take().unwrap();
    assert!(line_from(&mut out).starts_with("waiting for messages"));
    let mut client = example("mailslot_client");
    client.env("PIPEWORK_RUNTIME_DIR", &dir);
    let (code, text) = run(client);
    assert_eq!(code, 0, "{text}");
    assert!(wait(&mut server).success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("Message one for mailslot."), "{rest}");
    assert!(rest.contains("Message three for mailslot."), "{rest}");
    assert_eq!(rest.lines().count(), 3, "{rest}");
}

pub(super) fn example_announcer() {
    let pair = NetPair::new();
    let in_ns = |ns: &str, role: &str| {
        let program = example("mailslot_announcer");
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(program.get_program())
            .args([role, pair.ip(ns), &PORT.to_string()])
            .env(
                "PIPEWORK_RUNTIME_DIR",
                std::env::temp_dir().join(format!("pipework-ms-{}-{ns}", pair.tag)),
            )
            .stdout(Stdio::piped());
        c
    };
    // Both run until stopped: stopped when the test ends, passed or failed.
    let mut listener = KillOnDrop(in_ns(&pair.b, "listen").spawn().unwrap());
    let mut heard = listener.0.stdout.take().unwrap();
    assert!(line_from(&mut heard).starts_with("listening"));
    let _announcer = KillOnDrop(in_ns(&pair.a, "announce").spawn().unwrap());
    let first = line_from(&mut heard);
    assert!(first.contains(" is here at "), "{first:?}");
}

/// A child that runs until stopped, stopped when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
