//! What the CLI tests share: starting the real `pipework` binary, waiting for it with a deadline
//! that fails the test, and reading what it announced and wrote.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// How long a `pipework` process may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A command that runs the `pipework` binary under test.
pub fn pipework() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipework"))
}

/// Runs `pipework ARGS` with nothing on stdin and collects what it wrote.
pub fn output(args: &[&str]) -> Output {
    pipework()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pipework")
}

/// Waits for `child` within [`TIMEOUT`] (killing it and failing the test after that) and
/// collects what it wrote.
pub fn finish(child: Child, what: &str) -> Output {
    finish_within(child, what, TIMEOUT)
}

/// [`finish`] with a deadline of `timeout`.
pub fn finish_within(mut child: Child, what: &str, timeout: Duration) -> Output {
    let process = pipework::process::Process::from_child(&child).unwrap();
    if !process.wait_timeout(timeout).unwrap() {
        let _ = child.kill();
        panic!("{what} still running after {timeout:?}");
    }
    child.wait_with_output().unwrap()
}

/// Starts `command` with its standard output and error piped and returns it with the first line
/// it wrote on standard error (empty if it exited first).
pub fn spawn_announced(command: &mut Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pipework");
    let line = first_line(child.stderr.take().unwrap());
    (child, line)
}

/// The first line read from `from`, its end included (empty if it ends first).
pub fn first_line(from: impl Read) -> String {
    let mut line = String::new();
    BufReader::new(from).read_line(&mut line).unwrap();
    line
}

/// Finishes `child` (see [`finish`]), checks that it succeeded and returns its standard output.
pub fn succeeded_with_stdout(child: Child, what: &str) -> String {
    let out = finish(child, what);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// A child process, killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Checks that `out` is of a process that succeeded, showing its standard error if not.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
