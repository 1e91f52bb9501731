//! Named pipes across machines through Samba: a private smbd, started by each test with its own
//! smb.conf and every directory it writes in the test's temporary directory, listening only on
//! 127.0.0.1 at a free port, hands opens of `\pipe\NAME` on IPC$ to a pipework server; SMB
//! clients (Python's impacket) open them as a Windows program would. smbd is stopped at the end
//! of each test, passed or failed.
//!
//! Built with the `interop` feature (root, Samba's `smbd`, `python3-impacket`).

// Without the `interop` feature there are no tests, and the helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;
#[path = "common/smbd.rs"]
mod smbd;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use common::TIMEOUT;
use pipework::named_pipe::{MessageRead, NamedPipeServer, PipeMode, RemoteClient, ServerOptions};
use smbd::{Smbd, SmbdPort, NEXT};

fn main() {
    common::main(
        &[
            #[cfg(feature = "interop")]
            (
                "interop_impacket_writes_and_reads_a_byte_pipe_and_its_identity_arrives",
                impacket_writes_and_reads_a_byte_pipe,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_impacket_transacts_on_a_message_pipe_message_for_message",
                impacket_transacts_on_a_message_pipe,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_an_unknown_pipe_is_object_name_not_found",
                unknown_pipe_is_not_found,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_a_server_that_rejects_remote_clients_is_not_reached",
                rejecting_server_is_not_reached,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_hostile_handshakes_are_refused_and_the_server_goes_on",
                hostile_handshakes_are_refused,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_a_hundred_remote_clients_a_hundred_messages_each",
                hundred_remote_clients,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_a_remote_client_takes_an_instance_and_a_disconnect_reaches_it",
                remote_client_takes_an_instance,
            ),
            #[cfg(all(feature = "interop", feature = "tokio"))]
            (
                "interop_an_async_server_serves_impacket",
                async_server_serves_impacket,
            ),
        ],
        &[("handshake-as-nobody", handshake_as_nobody)],
    )
}

fn unique(prefix: &str) -> String {
    format!(
        "pw-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn remote_options(smbd: &Smbd, mode: PipeMode) -> ServerOptions {
    let mut options = ServerOptions::new();
    // Anonymous clients (smbd's guest, nobody): admitted as everyone is.
    options
        .pipe_mode(mode)
        .remote_socket_dir(smbd.socket_dir())
        .allow_everyone();
    options
}

/// Serves one client on `server` with `serve`, in a thread; the identity it saw comes back.
fn serve_one(
    mut server: NamedPipeServer,
    serve: impl FnOnce(&mut NamedPipeServer) + Send + 'static,
) -> std::thread::JoinHandle<RemoteClient> {
    std::thread::spawn(move || {
        server.connect().unwrap();
        let who = server.remote_client().cloned().expect("a remote client");
        assert!(
            server.client().is_none(),
            "no local credentials for a remote client"
        );
        serve(&mut server);
        who
    })
}

fn impacket_writes_and_reads_a_byte_pipe() {
    let smbd = Smbd::start();
    let name = unique("bytes");
    let server = remote_options(&smbd, PipeMode::Byte).create(&name).unwrap();
    let socket = server.remote_socket_path().unwrap().to_path_buf();
    assert_eq!(
        socket,
        smbd.socket_dir().join("np").join(name.to_lowercase())
    );
    let served = serve_one(server, |s| {
        // Echo every byte, each turned, until the client closes.
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let turned: Vec<u8> = buf[..n].iter().map(|b| b ^ 0x5a).collect();
            s.write_all(&turned).unwrap();
        }
    });
    // The pipe name in another case: Samba lower-cases it, as Windows ignores case.
    let out = smbd.client(
        r#"
c, t = connect()
f = c.openFile(t, '\\' + args[0].upper())
data = bytes(range(256)) * 8
got = b''
for i in range(0, len(data), 1000):
    chunk = data[i:i+1000]
    c.writeFile(t, f, chunk)
    want = bytes(b ^ 0x5a for b in chunk)
    part = b''
    while len(part) < len(chunk):
        part += c.readFile(t, f, 0, len(chunk) - len(part))
    if part != want:
        fail('wrong bytes at %d' % i)
c.closeFile(t, f)
print('ok')
"#,
        &[&name],
    );
    assert_eq!(out.trim(), "ok");
    let who = served.join().unwrap();
    assert_eq!(who.user.as_deref(), Some("ANONYMOUS LOGON"), "{who:?}");
    assert_eq!(who.domain.as_deref(), Some("NT AUTHORITY"), "{who:?}");
    assert_eq!(who.user_sid().unwrap().to_string(), "S-1-5-7");
    assert_eq!(who.client_addr, "127.0.0.1");
    assert_eq!(who.server_port, smbd.port);
    // The last instance gone, smbd's socket for the pipe is gone too.
    assert!(!socket.exists());
}

fn impacket_transacts_on_a_message_pipe() {
    let smbd = Smbd::start();
    let name = unique("messages");
    let server = remote_options(&smbd, PipeMode::Message)
        .create(&name)
        .unwrap();
    let served = serve_one(server, |s| {
        // A 3000-byte message read 1000 bytes at a time: "more data" twice, then the rest.
        let mut small = [0u8; 1000];
        let mut whole = Vec::new();
        loop {
            match s.read_message(&mut small).unwrap() {
                MessageRead::MoreData { read, left } => {
                    whole.extend_from_slice(&small[..read]);
                    assert_eq!(left as usize, 3000 - whole.len());
                }
                MessageRead::Complete(n) => {
                    whole.extend_from_slice(&small[..n]);
                    break;
                }
                MessageRead::End => panic!("the client went"),
            }
        }
        assert_eq!(whole, pattern(3000, 7));
        s.write_message(b"got 3000").unwrap();
        // Then each message answered by its reverse, until the client closes.
        let mut buf = vec![0u8; 70000];
        loop {
            match s.read_message(&mut buf).unwrap() {
                MessageRead::Complete(n) => {
                    let mut reply = buf[..n].to_vec();
                    reply.reverse();
                    s.write_message(&reply).unwrap();
                }
                MessageRead::End => break,
                MessageRead::MoreData { .. } => panic!("a message longer than 70000 bytes"),
            }
        }
    });
    let out = smbd.client(
        r#"
def pattern(n, seed):
    return bytes((seed + i * 31) % 251 for i in range(n))
c, t = connect()
f = c.openFile(t, '\\' + args[0])
c.writeFile(t, f, pattern(3000, 7))
if c.readFile(t, f, 0, 100) != b'got 3000':
    fail('no answer to the long message')
for n in [1, 2, 100, 4096, 20000, 65535]:
    req = pattern(n, n)
    rep = c.transactNamedPipe(t, f, req, waitAnswer=True)
    if rep != req[::-1]:
        fail('transact %d: %d bytes back, wrong' % (n, len(rep)))
# Messages keep their boundaries on plain reads too.
c.writeFile(t, f, b'abc')
c.writeFile(t, f, b'defgh')
if c.readFile(t, f, 0, 100) != b'cba' or c.readFile(t, f, 0, 100) != b'hgfed':
    fail('message boundaries lost')
c.closeFile(t, f)
print('ok')
"#,
        &[&name],
    );
    assert_eq!(out.trim(), "ok");
    served.join().unwrap();
}

/// `n` bytes of a pattern that differs with `seed` (the Python scripts make the same).
fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((seed + i * 31) % 251) as u8).collect()
}

fn remote_client_takes_an_instance() {
    let smbd = Smbd::start();
    let name = unique("one-instance");
    let mut server = remote_options(&smbd, PipeMode::Message)
        .max_instances(1)
        .create(&name)
        .unwrap();
    let (admitted, is_admitted) = mpsc::channel();
    let (checked, is_checked) = mpsc::channel::<()>();
    let serving = std::thread::spawn(move || {
        server.connect().unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            server.read_message(&mut buf).unwrap(),
            MessageRead::Complete(2)
        );
        admitted.send(()).unwrap();
        is_checked.recv_timeout(TIMEOUT).unwrap();
        // DisconnectNamedPipe: the remote client's next read fails.
        server.disconnect().unwrap();
        server
    });
    let port = smbd.port;
    let n2 = name.clone();
    let client = std::thread::spawn(move || {
        SmbdPort(port).client(
            r#"
c, t = connect()
f = c.openFile(t, '\\' + args[0])
c.writeFile(t, f, b'hi')
try:
    print('read %r' % c.readFile(t, f, 0, 10))
except SessionError as e:
    print('0x%08x' % e.getErrorCode())
"#,
            &[&n2],
        )
    });
    is_admitted
        .recv_timeout(TIMEOUT)
        .expect("the remote client admitted");
    // The pipe's one instance is the remote client's: a local client finds it busy.
    let busy = pipework::named_pipe::NamedPipeClient::open(&name).unwrap_err();
    assert!(pipework::named_pipe::is_busy(&busy), "{busy}");
    checked.send(()).unwrap();
    let out = client.join().unwrap();
    assert_eq!(out.trim(), STATUS_PIPE_DISCONNECTED, "{out}");
    // The instance serves again, locally too. Until the server connects again the instance is
    // busy, so the local client waits for it (WaitNamedPipe), within the test's time limit: a
    // server that never listens again fails the open instead of hanging the test.
    let mut server = serving.join().unwrap();
    let serving = std::thread::spawn(move || {
        server.connect().unwrap();
        assert!(server.remote_client().is_none());
        assert!(server.client().is_some());
        server.write_message(b"bye").unwrap();
    });
    let mut client = pipework::named_pipe::ClientOptions::new()
        .wait(pipework::named_pipe::WaitTimeout::After(TIMEOUT))
        .open(&name)
        .expect("the instance listens again");
    let mut bye = [0u8; 3];
    client.read_exact(&mut bye).unwrap();
    assert_eq!(&bye, b"bye");
    serving.join().unwrap();
}

const STATUS_PIPE_DISCONNECTED: &str = "0xc00000b0";

/// A script that opens `args[0]` and prints the NTSTATUS it fails with.
const OPEN_STATUS: &str = r#"
c, t = connect()
try:
    f = c.openFile(t, '\\' + args[0])
    print('opened')
except SessionError as e:
    print('0x%08x' % e.getErrorCode())
"#;

const STATUS_OBJECT_NAME_NOT_FOUND: &str = "0xc0000034";

fn unknown_pipe_is_not_found() {
    let smbd = Smbd::start();
    let out = smbd.client(OPEN_STATUS, &[&unique("nobody-serves-this")]);
    assert_eq!(out.trim(), STATUS_OBJECT_NAME_NOT_FOUND);
}

fn rejecting_server_is_not_reached() {
    let smbd = Smbd::start();
    let name = unique("local-only");
    // The default: PIPE_REJECT_REMOTE_CLIENTS. Another in the same process serves remotely.
    let local = ServerOptions::new().create(&name).unwrap();
    assert!(local.remote_socket_path().is_none());
    let out = smbd.client(OPEN_STATUS, &[&name]);
    assert_eq!(out.trim(), STATUS_OBJECT_NAME_NOT_FOUND);
    assert!(!smbd
        .socket_dir()
        .join("np")
        .join(name.to_lowercase())
        .exists());
    drop(local);
    // Explicitly rejected, likewise.
    let local = ServerOptions::new()
        .reject_remote_clients(true)
        .create(&name)
        .unwrap();
    let out = smbd.client(OPEN_STATUS, &[&name]);
    assert_eq!(out.trim(), STATUS_OBJECT_NAME_NOT_FOUND);
    drop(local);
}

fn hostile_handshakes_are_refused() {
    let smbd = Smbd::start();
    let name = unique("hostile");
    let server = remote_options(&smbd, PipeMode::Message)
        .create(&name)
        .unwrap();
    let socket = server.remote_socket_path().unwrap().to_path_buf();
    let served = serve_one(server, |s| {
        let mut buf = [0u8; 100];
        let MessageRead::Complete(n) = s.read_message(&mut buf).unwrap() else {
            panic!("no whole message");
        };
        s.write_message(&buf[..n]).unwrap();
    });
    let good = valid_request();
    let mut wrong_level = good.clone();
    wrong_level[8] = 9;
    wrong_level[12] = 9;
    let mut wrong_tag = good.clone();
    wrong_tag[12] = 6;
    let mut bad_string = good.clone();
    bad_string[0x30..0x34].copy_from_slice(&u32::MAX.to_le_bytes()); // a string's max count
    bad_string[0x38..0x3c].copy_from_slice(&u32::MAX.to_le_bytes()); // and its length
    let mut many_sids = good.clone();
    many_sids[0xc8..0xd0].copy_from_slice(&[0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f]);
    let mut trailing = [&good[..], &[0u8; 8][..]].concat();
    trailing[..4].copy_from_slice(&(good.len() as u32 + 8 - 4).to_be_bytes());
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("truncated prefix", good[..3].to_vec()),
        ("truncated body", good[..good.len() / 2].to_vec()),
        (
            "4 GiB length",
            [&[0xff, 0xff, 0xff, 0xff][..], &good[4..]].concat(),
        ),
        (
            "length past the end",
            [&[0, 0, 0x10, 0][..], &good[4..]].concat(),
        ),
        ("tiny length", [&[0, 0, 0, 4][..], &good[4..8]].concat()),
        ("wrong magic", [&good[..4], b"NPAX", &good[8..]].concat()),
        ("wrong level", wrong_level),
        ("level and tag differ", wrong_tag),
        ("oversized string", bad_string),
        ("a quarter billion SIDs", many_sids),
        ("bytes after the structure", trailing),
    ];
    for (what, bytes) in hostile {
        let mut s = UnixStream::connect(&socket).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let _ = s.write_all(&bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert!(reply.is_empty(), "{what}: answered {reply:?}");
    }
    // A handshake from anyone but root is not believed, even where the socket's and its
    // directory's modes let them connect: no reply, the connection closed.
    use std::os::unix::fs::PermissionsExt;
    let np = socket.parent().unwrap();
    std::fs::set_permissions(np, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = common::output_of(
        common::child("handshake-as-nobody")
            .arg(&socket)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(out.trim(), "closed without a reply");
    // Still serving: a real client through smbd.
    let out = smbd.client(
        r#"
c, t = connect()
f = c.openFile(t, '\\' + args[0])
if c.transactNamedPipe(t, f, b'still here', waitAnswer=True) != b'still here':
    fail('wrong answer')
print('ok')
"#,
        &[&name],
    );
    assert_eq!(out.trim(), "ok");
    let who = served.join().unwrap();
    assert_eq!(who.user.as_deref(), Some("ANONYMOUS LOGON"));
}

/// Child: as `nobody`, sends a valid handshake to the socket `args[0]` and says what came back.
fn handshake_as_nobody(args: &[String]) {
    common::become_nobody();
    let mut s = UnixStream::connect(&args[0]).expect("connect as nobody");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let _ = s.write_all(&valid_request());
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    if reply.is_empty() {
        println!("closed without a reply");
    } else {
        println!("answered {reply:?}");
    }
}

/// A request as smbd 4.17 sends it (captured from one): level 7, an anonymous client.
fn valid_request() -> Vec<u8> {
    include_bytes!("../src/named_pipe/smb/testdata/samba-4.17-anonymous.npa").to_vec()
}

fn hundred_remote_clients() {
    const CLIENTS: usize = 100;
    const MESSAGES: usize = 100;
    const INSTANCES: usize = 8;
    const PROCESSES: usize = 4;
    let smbd = Smbd::start();
    let name = unique("hundred");
    let options = remote_options(&smbd, PipeMode::Message);
    let served = Arc::new(AtomicUsize::new(0));
    let (done, finished) = mpsc::channel();
    let mut servers = Vec::new();
    for _ in 0..INSTANCES {
        let mut server = options.create(&name).unwrap();
        let served = served.clone();
        let done = done.clone();
        servers.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match server.connect() {
                    // The test's own local "stop" client, gone before it was admitted.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return,
                    other => {
                        other.unwrap();
                    }
                }
                if server.remote_client().is_none() {
                    // The test's own local "stop" client.
                    let _ = server.disconnect();
                    return;
                }
                loop {
                    match server.read_message(&mut buf).unwrap() {
                        MessageRead::Complete(n) => {
                            let reply: Vec<u8> = buf[..n].iter().map(|b| b ^ 0xa5).collect();
                            server.write_message(&reply).unwrap();
                        }
                        MessageRead::End => break,
                        MessageRead::MoreData { .. } => panic!("a message too long"),
                    }
                }
                server.disconnect().unwrap();
                if served.fetch_add(1, Ordering::SeqCst) + 1 == CLIENTS {
                    let _ = done.send(());
                }
            }
        }));
    }
    // PROCESSES client processes, each opening its share of the clients one after another;
    // each client sends MESSAGES messages of varied sizes and checks every byte of the answers.
    let script = format!(
        r#"
def pattern(n, seed):
    return bytes((seed + i * 31) % 251 for i in range(n))
c, t = connect()
first, count = int(args[0]), int(args[1])
for client in range(first, first + count):
    f = c.openFile(t, '\\' + args[2])
    for m in range({MESSAGES}):
        n = 1 + (client * 131 + m * 17) % 700
        req = pattern(n, client + m)
        rep = c.transactNamedPipe(t, f, req, waitAnswer=True)
        if rep != bytes(b ^ 0xa5 for b in req):
            fail('client %d message %d: wrong answer' % (client, m))
    c.closeFile(t, f)
print('ok')
"#
    );
    let per = CLIENTS / PROCESSES;
    let runs: Vec<_> = (0..PROCESSES)
        .map(|p| {
            let (smbd_port, script, name) = (smbd.port, script.clone(), name.clone());
            let first = (p * per).to_string();
            let per = per.to_string();
            std::thread::spawn(move || {
                let smbd = SmbdPort(smbd_port);
                smbd.client(&script, &[&first, &per, &name])
            })
        })
        .collect();
    for run in runs {
        assert_eq!(run.join().unwrap().trim(), "ok");
    }
    finished.recv_timeout(TIMEOUT).expect("every client served");
    assert_eq!(served.load(Ordering::SeqCst), CLIENTS);
    // Stop the instances: a local client each, which they recognise by having no remote
    // identity.
    for _ in 0..INSTANCES {
        let _ = pipework::named_pipe::ClientOptions::new()
            .wait(pipework::named_pipe::WaitTimeout::After(TIMEOUT))
            .open(&name)
            .unwrap();
    }
    for s in servers {
        s.join().unwrap();
    }
}

#[cfg(feature = "tokio")]
fn async_server_serves_impacket() {
    let smbd = Smbd::start();
    let name = unique("async");
    let options = remote_options(&smbd, PipeMode::Message);
    let rt = common::runtime();
    let mut server = rt.block_on(async { options.create_async(&name) }).unwrap();
    let (tx, rx) = mpsc::channel();
    let n2 = name.clone();
    let port = smbd.port;
    let client = std::thread::spawn(move || {
        let out = SmbdPort(port).client(
            r#"
c, t = connect()
f = c.openFile(t, '\\' + args[0])
if c.transactNamedPipe(t, f, b'async hello', waitAnswer=True) != b'ASYNC HELLO':
    fail('wrong answer')
print('ok')
"#,
            &[&n2],
        );
        tx.send(out).unwrap();
    });
    let who = rt.block_on(async {
        tokio::time::timeout(TIMEOUT, async {
            server.connect().await.unwrap();
            let who = server.remote_client().cloned().expect("a remote client");
            let mut buf = [0u8; 64];
            let MessageRead::Complete(n) = server.read_message(&mut buf).await.unwrap() else {
                panic!("no whole message");
            };
            server
                .write_message(&buf[..n].to_ascii_uppercase())
                .await
                .unwrap();
            who
        })
        .await
        .expect("served in time")
    });
    assert_eq!(who.user_sid().unwrap().to_string(), "S-1-5-7");
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().trim(), "ok");
    client.join().unwrap();
}
