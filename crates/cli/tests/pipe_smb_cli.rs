//! `pipework pipe call|connect \\HOST\pipe\NAME` end to end (interop): the command's SMB2 client
//! onto impacket's SimpleSMBServer on 127.0.0.1, whose pipe `pwecho` is relayed to an echo
//! server; anonymous, and as a user whose password comes from the variable `--password-env`
//! names.

#![cfg(feature = "interop")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use common::{finish, pipework};

/// impacket's SimpleSMBServer on `argv[1]`, its pipe `pwecho` relayed to an echo server.
const SERVER: &str = r#"
import socket, sys, threading
from impacket import smbserver
echo = socket.socket()
echo.bind(('127.0.0.1', 0))
echo.listen(8)
def serve_echo():
    while True:
        c, _ = echo.accept()
        def one(c):
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
        threading.Thread(target=one, args=(c,), daemon=True).start()
threading.Thread(target=serve_echo, daemon=True).start()
server = smbserver.SimpleSMBServer(listenAddress='127.0.0.1', listenPort=int(sys.argv[1]))
server.setSMB2Support(True)
server.registerNamedPipe('pwecho', echo.getsockname())
print('ready', flush=True)
server.start()
"#;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Killed, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(SERVER)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run /usr/bin/python3 (python3-impacket is needed)");
    let mut line = String::new();
    // It prints once it listens, or exits (an empty line).
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    (Killed(child), port)
}

#[test]
fn interop_pipe_call_and_connect_reach_a_remote_pipe() {
    let (_server, port) = start_server();
    let port = port.to_string();
    let name = r"\\127.0.0.1\pipe\pwecho";
    // CallNamedPipe, anonymous.
    let out = finish(
        pipework()
            .args(["pipe", "call", name, "hello there", "--port", &port])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        "pipe call",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello there\n");
    // As a user, the password from the environment.
    let mut child = pipework()
        .args(["pipe", "connect", name, "--port", &port])
        .args(["--user", "alice", "--password-env", "PW_TEST_PASSWORD"])
        .env("PW_TEST_PASSWORD", "secret")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\n")
        .unwrap();
    let out = finish(child, "pipe connect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\n");
    // A pipe that is not there: the error names it.
    let out = finish(
        pipework()
            .args([
                "pipe",
                "call",
                r"\\127.0.0.1\pipe\pw-missing",
                "x",
                "--port",
                &port,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        "pipe call",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pw-missing") && err.contains("does not exist"),
        "{err}"
    );
    // A password variable that is not set is refused before anything is sent.
    let out = finish(
        pipework()
            .args(["pipe", "call", name, "x", "--port", &port])
            .args(["--user", "alice", "--password-env", "PW_TEST_UNSET"])
            .env_remove("PW_TEST_UNSET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        "pipe call",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PW_TEST_UNSET"));
}
