//! `pipework shm listen|send` end to end: two senders in turn through one listener, every byte
//! in order on the listener's output, and the name in `pipework list` while it is listened on.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};

use common::{pipework, TIMEOUT};

/// Waits within [`TIMEOUT`] for `child` to exit, failing with `what` if it does not.
fn exits(child: &Child, what: &str) {
    let process = pipework::process::Process::from_child(child).unwrap();
    assert!(process.wait_timeout(TIMEOUT).unwrap(), "{what}");
}

/// Starts `pipework shm listen NAME --count 2` with its standard output and error piped.
fn listen_for_two(name: &str) -> Child {
    pipework()
        .args(["shm", "listen", name, "--count", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pipework shm listen")
}

/// Runs `pipework shm send NAME` with `input` on its standard input, within [`TIMEOUT`].
fn send(name: &str, input: &[u8]) {
    let mut child = pipework()
        .args(["shm", "send", name])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pipework shm send");
    child.stdin.take().unwrap().write_all(input).unwrap();
    exits(&child, &format!("send still running after {TIMEOUT:?}"));
    common::assert_success(&child.wait_with_output().unwrap());
}

#[test]
fn two_senders_in_turn_through_one_listener() {
    let name = format!("cli-shm-{}", std::process::id());
    let mut listener = listen_for_two(&name);
    // It says so once writers can connect (or exits, which ends the line empty).
    let line = common::first_line(listener.stderr.take().unwrap());
    assert_eq!(line.trim(), "listening");
    let mut stdout = listener.stdout.take().unwrap();
    let collected = std::thread::spawn(move || {
        let mut all = Vec::new();
        stdout.read_to_end(&mut all).unwrap();
        all
    });

    let list = pipework().arg("list").output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with("shm-pipe") && l.contains(&name)),
        "{list}"
    );

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    send(&name, &big);
    send(&name, b"and a short one\n");

    exits(&listener, "the listener did not stop after two writers");
    assert!(listener.wait().unwrap().success());
    let mut expected = big;
    expected.extend_from_slice(b"and a short one\n");
    assert!(
        collected.join().unwrap() == expected,
        "every byte, in order"
    );

    let list = pipework().arg("list").output().unwrap();
    assert!(!String::from_utf8(list.stdout).unwrap().contains(&name));
}

#[test]
fn sending_to_a_name_nobody_listens_on_fails_clearly() {
    let name = format!("cli-shm-nobody-{}", std::process::id());
    let out = pipework()
        .args(["shm", "send", &name])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&name), "{err}");
}

/// Lines or bytes from a child's pipe, read on a thread so that the test can wait for them with
/// a timeout that fails.
fn forward<T: Send + 'static>(
    mut read: impl FnMut() -> Option<T> + Send + 'static,
) -> std::sync::mpsc::Receiver<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        while let Some(item) = read() {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    rx
}

#[test]
fn a_writer_killed_mid_stream_is_reported_and_the_next_one_served() {
    let name = format!("cli-shm-killed-{}", std::process::id());
    let mut listener = listen_for_two(&name);
    let mut errors = BufReader::new(listener.stderr.take().unwrap());
    let lines = forward(move || {
        let mut line = String::new();
        (errors.read_line(&mut line).ok()? > 0).then_some(line)
    });
    let mut stdout = listener.stdout.take().unwrap();
    let bytes = forward(move || {
        let mut buf = vec![0u8; 4096];
        let n = stdout.read(&mut buf).ok()?;
        (n > 0).then(|| buf[..n].to_vec())
    });
    assert_eq!(lines.recv_timeout(TIMEOUT).unwrap().trim(), "listening");

    // The first writer sends a line, which reaches the listener's output, then dies mid-stream
    // (its standard input still open).
    let mut doomed = pipework()
        .args(["shm", "send", &name])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pipework shm send");
    let mut input = doomed.stdin.take().unwrap();
    input.write_all(b"first part\n").unwrap();
    let mut got = Vec::new();
    while got.len() < b"first part\n".len() {
        got.extend(
            bytes
                .recv_timeout(TIMEOUT)
                .expect("the first writer's bytes"),
        );
    }
    assert_eq!(got, b"first part\n");
    doomed.kill().unwrap(); // SIGKILL
    doomed.wait().unwrap();
    drop(input);

    let report = lines
        .recv_timeout(TIMEOUT)
        .expect("a report of the dead writer");
    assert!(
        report.contains(&name) && report.contains("writer 1"),
        "{report}"
    );
    send(&name, b"second writer\n");

    exits(&listener, "the listener did not go on to the second writer");
    assert!(listener.wait().unwrap().success());
    while let Ok(more) = bytes.recv_timeout(TIMEOUT) {
        got.extend(more);
    }
    assert_eq!(got, b"first part\nsecond writer\n");
}
