//! DCE/RPC across machines: pipework's `rpcecho` server on the pipe `rpcecho`, served to remote
//! clients through a private smbd (see common/smbd.rs), called over `ncacn_np` by foreign
//! clients — Samba's own `rpcclient` (`echoaddone`, `echodata`, `sinkdata`, `sourcedata`) and
//! Python impacket's DCE/RPC client over an SMB transport — with payloads that cross several
//! fragments each way.
//!
//! Built with the `interop` feature (root, Samba's `smbd` and `rpcclient`, `python3-impacket`).

#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;
#[path = "common/smbd.rs"]
mod smbd;

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use common::TIMEOUT;
use pipework::named_pipe::{PipeMode, ServerOptions};
use pipework::rpc::dce::echo::{Echo, RpcechoServer};
use pipework::rpc::dce::Server;
use smbd::Smbd;

fn main() {
    common::main(
        &[
            #[cfg(feature = "interop")]
            (
                "interop_rpcclient_calls_pipework_rpcecho_through_samba",
                rpcclient_calls,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_impacket_calls_pipework_rpcecho_over_ncacn_np_through_samba",
                impacket_calls,
            ),
        ],
        &[("echo_remote", echo_remote_role)],
    )
}

/// The pipe rpcclient opens for the rpcecho interface (its endpoint in echo.idl).
const PIPE: &str = "rpcecho";

/// One `rpcecho` server at a time: both tests serve the same pipe name.
static SERVING: Mutex<()> = Mutex::new(());

/// Child: serves rpcecho on the pipe `rpcecho` to remote clients whose smbd looks for pipe
/// sockets in `args[0]`; prints `ready` once the pipe exists.
fn echo_remote_role(args: &[String]) {
    let mut options = ServerOptions::new();
    options
        .pipe_mode(PipeMode::Message)
        .reject_remote_clients(false)
        .remote_socket_dir(&args[0])
        .allow_everyone();
    let first = options.create(PIPE).expect("create pipe");
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut server = Server::new();
    server.add(RpcechoServer(Echo));
    Arc::new(server)
        .serve_pipe_from(first, PIPE, &options)
        .expect("serve pipe");
}

/// The child server, killed when dropped.
struct EchoChild(Child);

impl Drop for EchoChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_echo(socket_dir: &Path) -> EchoChild {
    let mut child = EchoChild(
        common::child("echo_remote")
            .arg(socket_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out: BufReader<ChildStdout> = BufReader::new(child.0.stdout.take().unwrap());
    assert_eq!(common::line(&mut out), "ready");
    child
}

/// Runs `program` with `args` to its end (within [`TIMEOUT`]): its exit success, stdout and
/// stderr.
fn run(program: &str, args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    // Both pipes drained on threads, so a chatty child cannot block on a full pipe.
    let mut o = child.stdout.take().unwrap();
    let mut e = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = o.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = e.read_to_string(&mut s);
        s
    });
    let status = common::wait_within(&mut child, TIMEOUT);
    (status.success(), out.join().unwrap(), err.join().unwrap())
}

fn rpcclient_calls() {
    let _one = SERVING.lock().unwrap_or_else(|e| e.into_inner());
    let smbd = Smbd::start();
    let _server = start_echo(&smbd.socket_dir());
    let conf = smbd.conf();
    let port = smbd.port.to_string();
    // Sizes well past one fragment (rpcclient's and pipework's are a few KiB).
    let commands = "echoaddone 41; echodata 100000; sinkdata 100000; sourcedata 100000";
    let (ok, out, err) = run(
        "rpcclient",
        &[
            "-s",
            conf.to_str().unwrap(),
            "-p",
            &port,
            "-U%",
            "-c",
            commands,
            &format!("ncacn_np:127.0.0.1[{PIPE}]"),
        ],
    );
    let all = format!("{out}\n{err}\nsmbd:\n{}", smbd.log());
    assert!(ok, "rpcclient failed:\n{all}");
    assert!(out.contains("41 + 1 = 42"), "{all}");
    for bad in ["mismatch", "result was", "NT_STATUS", "Could not"] {
        assert!(!out.contains(bad) && !err.contains(bad), "{bad}: {all}");
    }
}

fn impacket_calls() {
    const SCRIPT: &str = r#"
import struct, sys
from impacket.dcerpc.v5 import transport
from impacket.uuid import uuidtup_to_bin

port = int(sys.argv[1])
t = transport.SMBTransport('127.0.0.1', port, filename=r'\rpcecho')
t.set_credentials('', '')
dce = t.get_dce_rpc()
dce.connect()
dce.bind(uuidtup_to_bin(('60a15ec5-4de8-11d7-a637-005056a20182', '1.0')))

def call(opnum, stub):
    dce.call(opnum, stub)
    return dce.recv()

# AddOne
r = call(0, struct.pack('<I', 41))
assert struct.unpack('<I', r)[0] == 42, r
# EchoData, 200 000 bytes: many fragments each way.
data = bytes((i * 7) & 0xff for i in range(200000))
r = call(1, struct.pack('<II', len(data), len(data)) + data)
assert struct.unpack('<I', r[:4])[0] == len(data) and r[4:4 + len(data)] == data, 'EchoData'
# SinkData
r = call(2, struct.pack('<II', 10, 10) + b'0123456789')
assert r == b'', r
# SourceData
r = call(3, struct.pack('<I', 5000))
assert struct.unpack('<I', r[:4])[0] == 5000 and r[4:5004] == bytes(i & 0xff for i in range(5000)), 'SourceData'
dce.disconnect()
print('impacket ok')
"#;
    let _one = SERVING.lock().unwrap_or_else(|e| e.into_inner());
    let smbd = Smbd::start();
    let _server = start_echo(&smbd.socket_dir());
    let (ok, out, err) = run("/usr/bin/python3", &["-c", SCRIPT, &smbd.port.to_string()]);
    assert!(
        ok && out.contains("impacket ok"),
        "impacket client failed:\n{out}\n{err}\nsmbd:\n{}",
        smbd.log()
    );
}
