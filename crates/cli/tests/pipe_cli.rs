//! `pipework pipe ...` and `pipework list` end to end, and `socat` talking to a byte pipe through
//! the socket `pipework pipe path` names.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

fn pipework() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipework"))
}

/// Runs `command` with `input` on stdin; fails the test after [`TIMEOUT`].
fn run(mut command: Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start command");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let process = pipework::process::Process::from_child(&child).unwrap();
    if !process.wait_timeout(TIMEOUT).unwrap() {
        let _ = child.kill();
        panic!("{command:?} still running after {TIMEOUT:?}");
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running `pipework pipe serve`, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(name: &str, args: &[&str]) -> Server {
    let mut child = pipework()
        .args(["pipe", "serve", name])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pipework pipe serve");
    let mut line = String::new();
    // The server prints this once its instances exist (or exits, which ends the line empty).
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening"), "serve said {line:?}");
    Server(child)
}

fn unique(tag: &str) -> String {
    format!("cli-{}-{tag}", std::process::id())
}

/// Interop suite: needs `socat`.
#[cfg(feature = "interop")]
#[test]
fn interop_socat_reaches_a_byte_pipe_through_its_path() {
    let name = unique("socat");
    let _server = serve(&name, &[]);
    let mut path = pipework();
    path.args(["pipe", "path", &name]);
    let path = String::from_utf8(run(path, b"").stdout).unwrap();
    let path = path.trim();
    assert!(std::path::Path::new(path).exists(), "{path}");
    assert!(
        which_socat().is_some(),
        "this test needs socat (apt-get install socat, as .ci/run does)"
    );
    let mut socat = Command::new("socat");
    socat.args(["-t", "5", "-", &format!("UNIX-CONNECT:{path}")]);
    let out = run(socat, b"hello from socat\n");
    // Exactly the bytes written, echoed: no preamble.
    assert_eq!(out.stdout, b"hello from socat\n");
}

#[cfg(feature = "interop")]
fn which_socat() -> Option<()> {
    Command::new("socat")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| ())
}

#[test]
fn connect_echoes_a_byte_pipe() {
    let name = unique("bytes");
    let _server = serve(&name, &["--instances", "2"]);
    let mut connect = pipework();
    connect.args(["pipe", "connect", &name]);
    assert_eq!(
        run(connect, b"some bytes\nmore").stdout,
        b"some bytes\nmore"
    );
}

#[test]
fn call_and_connect_on_a_message_pipe() {
    let name = unique("messages");
    let _server = serve(&name, &["--message"]);
    let mut call = pipework();
    call.args(["pipe", "call", &name, "a request"]);
    assert_eq!(run(call, b"").stdout, b"a request\n");
    let mut connect = pipework();
    connect.args(["pipe", "connect", "--wait", &format!(r"\\.\pipe\{name}")]);
    assert_eq!(run(connect, b"one\ntwo\n").stdout, b"one\ntwo\n");
}

#[test]
fn exec_wires_each_client_to_a_command() {
    let name = unique("exec");
    let _server = serve(&name, &["--exec", "tr a-z A-Z"]);
    let mut connect = pipework();
    connect.args(["pipe", "connect", &name]);
    assert_eq!(run(connect, b"shout\n").stdout, b"SHOUT\n");
}

/// `--exec CMD` is one argument: the options and NAME come before or after it alike.
#[test]
fn exec_works_before_or_after_the_name_and_other_options() {
    let name = unique("exec-first");
    let mut child = pipework()
        .args([
            "pipe",
            "serve",
            "--exec",
            "tr a-z A-Z",
            "--instances",
            "2",
            &name,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pipework pipe serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Server(child);
    assert!(
        line.starts_with("listening") && line.contains(&name),
        "{line:?}"
    );
    let mut connect = pipework();
    connect.args(["pipe", "connect", &name]);
    assert_eq!(run(connect, b"first\n").stdout, b"FIRST\n");

    // Between options, with a command line of several words and a pipe of its own.
    let name = unique("exec-middle");
    let _server = serve(
        &name,
        &["--exec", "sed s/b/x/ | tr a-z A-Z", "--instances", "1"],
    );
    let mut connect = pipework();
    connect.args(["pipe", "connect", &name]);
    assert_eq!(run(connect, b"abc\n").stdout, b"AXC\n");
}

#[test]
fn list_shows_name_instances_and_mode() {
    let name = unique("listed");
    let _server = serve(&name, &["--message", "--instances", "3"]);
    let out = String::from_utf8(run(pipework_list(), b"").stdout).unwrap();
    let row = out
        .lines()
        .find(|l| l.starts_with("pipe ") && l.contains(&name))
        .unwrap_or_else(|| panic!("{name} not in {out}"));
    assert!(row.contains("message"), "{row}");
    assert!(row.contains("3/3"), "{row}");
}

fn pipework_list() -> Command {
    let mut c = pipework();
    c.arg("list");
    c
}

#[test]
fn connect_takes_only_a_server_of_the_given_uid() {
    let name = unique("uid");
    let _server = serve(&name, &[]);
    let me = rustix::process::getuid().as_raw();
    let mut mine = pipework();
    mine.args(["pipe", "connect", &name, "--server-uid", &me.to_string()]);
    assert_eq!(run(mine, b"to my own server").stdout, b"to my own server");

    let other = (me + 4242).to_string();
    let refused = pipework()
        .args(["pipe", "connect", &name, "--server-uid", &other])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(&name) && err.contains(&other), "{err}");

    let help = pipework()
        .args(["pipe", "connect", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--server-uid <UID>"));
}
