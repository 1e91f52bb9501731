//! pipework's own SMB2 client for pipes on other machines (`\\host\pipe\NAME`): through a
//! private smbd (tests/common/smbd.rs) onto a pipework server, the whole circle (Linux client →
//! SMB → Samba → pipework server), and onto impacket's SimpleSMBServer.
//!
//! Built with the `interop` feature (root, Samba's `smbd`, `python3-impacket`).

#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;
#[path = "common/smbd.rs"]
mod smbd;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::Ordering;

use common::TIMEOUT;
use pipework::named_pipe::{
    ClientOptions, MessageRead, NamedPipeClient, NamedPipeServer, PipeMode, ReadMode, RemoteClient,
    ServerOptions, WaitTimeout,
};
use smbd::{Smbd, NEXT};

fn main() {
    common::main(
        &[
            #[cfg(feature = "interop")]
            (
                "interop_client_byte_pipe_through_samba_onto_pipework",
                byte_pipe_circle,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_client_message_pipe_more_data_transact_peek",
                message_pipe_circle,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_client_unknown_pipe_is_not_found_and_call_and_wait_work",
                unknown_call_wait,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_client_ntlmv2_user_with_mandatory_signing_at_every_dialect",
                user_with_signing,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_client_remote_users_pass_the_pipes_allow_rules",
                remote_users_pass_allow_rules,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_client_onto_impacket_simple_smb_server",
                impacket_simple_server,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_client_a_hundred_clients_a_hundred_messages_through_samba",
                hundred_clients,
            ),
            #[cfg(all(feature = "interop", feature = "tokio"))]
            (
                "interop_client_stream_writes_while_a_read_waits_at_the_server",
                duplex_stream,
            ),
            #[cfg(all(feature = "interop", feature = "rpc"))]
            (
                "interop_client_tonic_channel_to_a_remote_pipe_through_samba",
                tonic_remote,
            ),
        ],
        &[],
    )
}

/// Held by the tests that point `PIPEWORK_SMB_PORT` at their own smbd (tests run in parallel).
static SMB_PORT_ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn unique(prefix: &str) -> String {
    format!(
        "pw-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn remote_options(smbd: &Smbd, mode: PipeMode) -> ServerOptions {
    let mut options = ServerOptions::new();
    options
        .pipe_mode(mode)
        .remote_socket_dir(smbd.socket_dir())
        .allow_everyone();
    options
}

/// `\\127.0.0.1\pipe\NAME`.
fn unc(name: &str) -> String {
    format!(r"\\127.0.0.1\pipe\{name}")
}

fn client_options(smbd: &Smbd) -> ClientOptions {
    let mut o = ClientOptions::new();
    o.remote_port(smbd.port);
    o
}

/// Serves one client on `server` with `serve`, in a thread; the identity it saw comes back.
fn serve_one(
    mut server: NamedPipeServer,
    serve: impl FnOnce(&mut NamedPipeServer) + Send + 'static,
) -> std::thread::JoinHandle<RemoteClient> {
    std::thread::spawn(move || {
        server.connect().unwrap();
        let who = server.remote_client().cloned().expect("a remote client");
        serve(&mut server);
        who
    })
}

fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((seed + i * 31) % 251) as u8).collect()
}

fn byte_pipe_circle() {
    let smbd = Smbd::start();
    let name = unique("cbytes");
    let server = remote_options(&smbd, PipeMode::Byte).create(&name).unwrap();
    let served = serve_one(server, |s| {
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
    let mut client = client_options(&smbd)
        .open(&unc(&name.to_uppercase()))
        .unwrap();
    assert_eq!(client.pipe_mode(), PipeMode::Byte);
    let data = pattern(200_000, 3);
    for chunk in data.chunks(50_000) {
        client.write_all(chunk).unwrap();
        let mut back = vec![0u8; chunk.len()];
        client.read_exact(&mut back).unwrap();
        let want: Vec<u8> = chunk.iter().map(|b| b ^ 0x5a).collect();
        assert!(back == want, "wrong bytes back");
    }
    drop(client);
    let who = served.join().unwrap();
    assert_eq!(who.user.as_deref(), Some("ANONYMOUS LOGON"), "{who:?}");
}

fn message_pipe_circle() {
    let smbd = Smbd::start();
    let name = unique("cmsgs");
    let server = remote_options(&smbd, PipeMode::Message)
        .create(&name)
        .unwrap();
    let served = serve_one(server, |s| {
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
    let mut client = client_options(&smbd)
        .pipe_mode(PipeMode::Message)
        .open(&unc(&name))
        .unwrap();
    assert_eq!(client.pipe_mode(), PipeMode::Message);
    let session = client.remote_session().unwrap();
    assert!(!session.signed, "an anonymous session has no key");
    assert_eq!(session.dialect, 0x0311);
    // "More data": a 3000-byte reply read 1000 bytes at a time.
    client.write_message(&pattern(3000, 1)).unwrap();
    let mut small = [0u8; 1000];
    let mut whole = Vec::new();
    loop {
        match client.read_message(&mut small).unwrap() {
            MessageRead::MoreData { read, left } => {
                whole.extend_from_slice(&small[..read]);
                assert_eq!((read, left as usize), (1000, 3000 - whole.len()));
            }
            MessageRead::Complete(n) => {
                whole.extend_from_slice(&small[..n]);
                break;
            }
            MessageRead::End => panic!("ended"),
        }
    }
    let mut want = pattern(3000, 1);
    want.reverse();
    assert!(whole == want, "{} bytes back, wrong", whole.len());
    for n in [1, 2, 100, 4096, 20000, 65535] {
        let req = pattern(n, n);
        let mut reply = vec![0u8; 70000];
        let got = client.transact(&req, &mut reply).unwrap();
        assert_eq!(got, MessageRead::Complete(n), "transact {n}");
        let mut want = req.clone();
        want.reverse();
        assert!(reply[..n] == want[..], "transact {n}: wrong bytes");
    }
    // A transaction whose reply is larger than the buffer: "more data", the rest read after.
    let mut reply = vec![0u8; 100];
    let got = client.transact(&pattern(250, 9), &mut reply).unwrap();
    assert_eq!(
        got,
        MessageRead::MoreData {
            read: 100,
            left: 150
        }
    );
    // What is left of the message is here already: peek sees it, a read takes it.
    let mut p = [0u8; 50];
    let seen = client.peek(&mut p).unwrap();
    assert_eq!(
        (seen.read, seen.available, seen.left_in_message),
        (50, 150, 100)
    );
    let mut rest = [0u8; 200];
    assert_eq!(
        client.read_message(&mut rest).unwrap(),
        MessageRead::Complete(150)
    );
    let mut want = pattern(250, 9);
    want.reverse();
    assert!(
        reply[..] == want[..100] && rest[..150] == want[100..],
        "wrong reply"
    );
    assert!(p[..] == want[100..150]);
    // Nothing held here: the server is asked; Samba has no FSCTL_PIPE_PEEK (Unsupported).
    match client.peek(&mut p) {
        Ok(seen) => assert_eq!(seen.available, 0),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}"),
    }
    // Byte-read mode reads a message's parts as a stream.
    client.set_read_mode(ReadMode::Byte).unwrap();
    client.write_message(b"0123456789").unwrap();
    let mut b = [0u8; 4];
    client.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"9876");
    let mut b = [0u8; 6];
    client.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"543210");
    // A message longer than one request carries is refused whole, naming the pipe.
    let e = client.write_message(&vec![0u8; 70000]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains(&name), "{e}");
    drop(client);
    served.join().unwrap();
    // The server sees the end when the client goes.
}

fn unknown_call_wait() {
    let _env = SMB_PORT_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let smbd = Smbd::start();
    let e = client_options(&smbd)
        .open(&unc(&unique("nobody-serves-this")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("nobody-serves-this"), "{e}");
    // CallNamedPipe and WaitNamedPipe take the port from the environment.
    std::env::set_var("PIPEWORK_SMB_PORT", smbd.port.to_string());
    let name = unique("call");
    let server = remote_options(&smbd, PipeMode::Message)
        .create(&name)
        .unwrap();
    pipework::named_pipe::wait(&unc(&name), WaitTimeout::After(TIMEOUT)).unwrap();
    // Samba 4.17 has no FSCTL_PIPE_WAIT: it cannot tell a pipe that does not exist (the wait
    // returns at once, the open then says NotFound); a server that can says NotFound.
    if let Err(e) = pipework::named_pipe::wait(&unc("pw-none-here"), WaitTimeout::After(TIMEOUT)) {
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    }
    let served = serve_one(server, |s| {
        let mut buf = [0u8; 100];
        let MessageRead::Complete(n) = s.read_message(&mut buf).unwrap() else {
            panic!("no whole message")
        };
        let mut reply = b"re: ".to_vec();
        reply.extend_from_slice(&buf[..n]);
        s.write_message(&reply).unwrap();
    });
    let reply =
        pipework::named_pipe::call(&unc(&name), b"hello", WaitTimeout::After(TIMEOUT)).unwrap();
    assert_eq!(reply, b"re: hello");
    served.join().unwrap();
    // A server that closed: the client's read finds the end, its write a broken pipe.
    let server = remote_options(&smbd, PipeMode::Byte).create(&name).unwrap();
    let served = serve_one(server, |s| {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
    });
    let mut client = client_options(&smbd).open(&unc(&name)).unwrap();
    client.write_all(b"x").unwrap();
    served.join().unwrap();
    let mut b = [0u8; 8];
    assert_eq!(client.read(&mut b).unwrap(), 0);
    let e = client.write_all(b"more").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
}

/// An account every Debian system has (uid 1), given a Samba password in each test's own
/// smbd only: neither root nor the guest.
const USER: &str = "daemon";
const PASSWORD: &str = "Pipe-work 1";

/// Every dialect, signed: HMAC-SHA256 (2.0.2, 2.1), AES-CMAC (3.0, 3.0.2), AES-CMAC with the
/// pre-authentication hash (3.1.1).
fn user_with_signing() {
    for (protocol, dialect) in [
        ("SMB2_02", 0x0202),
        ("SMB2_10", 0x0210),
        ("SMB3_00", 0x0300),
        ("SMB3_02", 0x0302),
        ("SMB3_11", 0x0311),
    ] {
        signed_session(protocol, dialect);
    }
}

fn signed_session(protocol: &str, dialect: u16) {
    let smbd = Smbd::start_with(&format!(
        "server signing = mandatory\nserver max protocol = {protocol}\n"
    ));
    let uid = smbd.add_user(USER, PASSWORD);
    let name = unique("signed");
    // Only that user (and the server's own) may connect.
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .remote_socket_dir(smbd.socket_dir())
        .allow_user(uid)
        .create(&name)
        .unwrap();
    let served = serve_one(server, |s| {
        let mut buf = vec![0u8; 70000];
        while let MessageRead::Complete(n) = s.read_message(&mut buf).unwrap() {
            s.write_message(&buf[..n]).unwrap();
        }
    });
    // A wrong password is refused.
    let e = client_options(&smbd)
        .remote_user(USER)
        .remote_password("wrong")
        .open(&unc(&name))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let mut client = client_options(&smbd)
        .remote_user(USER)
        .remote_password(PASSWORD)
        .remote_domain("PWTEST")
        .pipe_mode(PipeMode::Message)
        .open(&unc(&name))
        .unwrap();
    let session = client.remote_session().unwrap();
    assert!(session.signed, "{session:?}");
    assert_eq!(session.dialect, dialect, "{protocol}");
    for n in [1, 1000, 65535] {
        let mut reply = vec![0u8; n];
        let got = client.transact(&pattern(n, 5), &mut reply).unwrap();
        assert_eq!(got, MessageRead::Complete(n));
        assert!(reply == pattern(n, 5), "{n} bytes back, wrong");
    }
    client.close_remote().unwrap();
    let who = served.join().unwrap();
    assert_eq!(who.user.as_deref(), Some(USER), "{who:?}");
    assert_eq!(who.unix_uid, Some(u64::from(uid)), "{who:?}");
}

/// A client the pipe does not admit: smbd is answered "access denied" in the handshake. A Samba
/// that reads the reply's status fails the open with it; 4.17 (Debian 12's) ignores the status and opens, and
/// the connection it made is closed at once: the client's first exchange finds the pipe broken
/// (smbd answers PIPE_BROKEN, or CONNECTION_RESET when the close reset the socket under it).
/// Either way nothing reaches the server.
fn assert_refused(opened: std::io::Result<NamedPipeClient>) {
    match opened {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
            assert!(e.to_string().contains("owner-only"), "{e}");
        }
        Ok(mut client) => {
            let mut reply = [0u8; 10];
            match client.transact(b"no", &mut reply) {
                Err(e) => assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}"),
                Ok(got) => assert_eq!(got, MessageRead::End),
            }
        }
    }
}

fn remote_users_pass_allow_rules() {
    let smbd = Smbd::start();
    let name = unique("owner-only");
    // The default rule (the owner and root): an anonymous client (smbd's guest) is refused at
    // its open, and the server goes on waiting for one it admits.
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .remote_socket_dir(smbd.socket_dir())
        .create(&name)
        .unwrap();
    let served = serve_one(server, |s| {
        let mut buf = [0u8; 10];
        assert_eq!(s.read_message(&mut buf).unwrap(), MessageRead::Complete(2));
    });
    assert_refused(
        client_options(&smbd)
            .pipe_mode(PipeMode::Message)
            .open(&unc(&name)),
    );
    // A user the pipe does not name, authenticated: refused too.
    smbd.add_user(USER, PASSWORD);
    assert_refused(
        client_options(&smbd)
            .remote_user(USER)
            .remote_password(PASSWORD)
            .pipe_mode(PipeMode::Message)
            .open(&unc(&name)),
    );
    // Root (the server's own user, mapped by Samba) is admitted.
    smbd.add_user("root", PASSWORD);
    let mut client = client_options(&smbd)
        .remote_user("root")
        .remote_password(PASSWORD)
        .open(&unc(&name))
        .unwrap();
    client.write_message(b"ok").unwrap();
    let who = served.join().unwrap();
    assert_eq!(who.unix_uid, Some(0), "{who:?}");
}

/// impacket's SimpleSMBServer with a pipe `pwecho` relayed to an echo server on TCP.
const SIMPLE_SERVER: &str = r#"
import socket, sys, threading
from impacket import smbserver
port = int(sys.argv[1])
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
                c.sendall(bytes(b ^ 0x33 for b in d))
        threading.Thread(target=one, args=(c,), daemon=True).start()
threading.Thread(target=serve_echo, daemon=True).start()
server = smbserver.SimpleSMBServer(listenAddress='127.0.0.1', listenPort=port)
server.setSMB2Support(True)
server.setSMBChallenge('')
server.registerNamedPipe('pwecho', echo.getsockname())
print('ready', flush=True)
server.start()
"#;

fn impacket_simple_server() {
    use std::process::{Command, Stdio};
    let port = smbd::free_port();
    let mut child = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(SIMPLE_SERVER)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run /usr/bin/python3 (python3-impacket is needed)");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let line = common::first_line(&mut child);
    let _child = Kill(child);
    assert_eq!(line.trim(), "ready");
    for user in [None, Some("someone")] {
        let mut options = ClientOptions::new();
        options.remote_port(port);
        if let Some(user) = user {
            options.remote_user(user).remote_password("any");
        }
        let mut client = options.open(r"\\127.0.0.1\pipe\pwecho").unwrap();
        let data = pattern(10000, 4);
        client.write_all(&data).unwrap();
        let mut back = vec![0u8; data.len()];
        client.read_exact(&mut back).unwrap();
        let want: Vec<u8> = data.iter().map(|b| b ^ 0x33).collect();
        assert!(back == want, "wrong bytes back");
        // TransactNamedPipe: impacket relays it to the socket (a byte stream: message-read
        // mode is this client's).
        client.set_read_mode(ReadMode::Message).unwrap();
        let mut reply = [0u8; 64];
        let got = client.transact(b"ping", &mut reply).unwrap();
        assert_eq!(got, MessageRead::Complete(4));
        assert_eq!(&reply[..4], &b"ping".map(|b| b ^ 0x33));
    }
    let e = {
        let mut o = ClientOptions::new();
        o.remote_port(port);
        o.open(r"\\127.0.0.1\pipe\pw-nothing").unwrap_err()
    };
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

fn hundred_clients() {
    const CLIENTS: usize = 100;
    const MESSAGES: usize = 100;
    const AT_ONCE: usize = 10;
    let smbd = Smbd::start();
    let name = unique("hundred");
    let mut servers = Vec::new();
    for _ in 0..AT_ONCE {
        let server = remote_options(&smbd, PipeMode::Message)
            .create(&name)
            .unwrap();
        servers.push(std::thread::spawn(move || {
            let mut server = server;
            let mut served = 0;
            while served < CLIENTS / AT_ONCE {
                server.connect().unwrap();
                let mut buf = [0u8; 256];
                while let MessageRead::Complete(n) = server.read_message(&mut buf).unwrap() {
                    let reply: Vec<u8> = buf[..n].iter().map(|b| b.wrapping_add(1)).collect();
                    server.write_message(&reply).unwrap();
                }
                server.disconnect().unwrap();
                served += 1;
            }
        }));
    }
    let port = smbd.port;
    let unc_name = unc(&name);
    let clients: Vec<_> = (0..AT_ONCE)
        .map(|t| {
            let unc_name = unc_name.clone();
            std::thread::spawn(move || {
                for c in 0..CLIENTS / AT_ONCE {
                    let mut client = ClientOptions::new()
                        .remote_port(port)
                        .pipe_mode(PipeMode::Message)
                        .wait(WaitTimeout::After(TIMEOUT))
                        .open(&unc_name)
                        .unwrap();
                    for m in 0..MESSAGES {
                        let request = pattern(1 + (m * 7 + c) % 200, t * 1000 + c * 100 + m);
                        let mut reply = [0u8; 256];
                        let got = client.transact(&request, &mut reply).unwrap();
                        assert_eq!(got, MessageRead::Complete(request.len()));
                        let want: Vec<u8> = request.iter().map(|b| b.wrapping_add(1)).collect();
                        assert!(
                            reply[..request.len()] == want[..],
                            "client {t}/{c} message {m}"
                        );
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    for s in servers {
        s.join().unwrap();
    }
    let _ = NamedPipeClient::open;
}

#[cfg(feature = "tokio")]
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The duplex layer: a READ waits at the server (the pipe is empty) while the client's WRITEs
/// go out on the same connection; the server answers only what it received, so every reply
/// proves a write completed while a read was outstanding. Then 300 KB written and read back at
/// once, from two tasks.
#[cfg(feature = "tokio")]
fn duplex_stream() {
    // Anonymous (unsigned), then a user's signed sessions: 3.1.1 (AES-CMAC) and 2.0.2
    // (HMAC-SHA256, no credit charge); a READ's final reply comes signed after its interim one.
    duplex_stream_on(&Smbd::start(), None, Some("ANONYMOUS LOGON"));
    for protocol in ["SMB3_11", "SMB2_02"] {
        let smbd = Smbd::start_with(&format!(
            "server signing = mandatory\nserver max protocol = {protocol}\n"
        ));
        smbd.add_user(USER, PASSWORD);
        duplex_stream_on(&smbd, Some(USER), Some(USER));
    }
    // A local name is not for this stream.
    let e = current_thread()
        .block_on(ClientOptions::new().open_remote_stream(r"\\.\pipe\x"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // Nor is a remote name for the local async client: it says where to go.
    let e = current_thread()
        .block_on(ClientOptions::new().open_async(r"\\127.0.0.1\pipe\x"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("open_remote_stream"), "{e}");
}

#[cfg(feature = "tokio")]
fn duplex_stream_on(smbd: &Smbd, user: Option<&str>, seen_as: Option<&str>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = unique("cduplex");
    let server = remote_options(smbd, PipeMode::Byte).create(&name).unwrap();
    let served = serve_one(server, |s| {
        let mut buf = [0u8; 65536];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let turned: Vec<u8> = buf[..n].iter().map(|b| b ^ 0x5a).collect();
            s.write_all(&turned).unwrap();
        }
    });
    current_thread().block_on(async {
        let run = async {
            let mut options = client_options(smbd);
            if let Some(user) = user {
                options.remote_user(user).remote_password(PASSWORD);
            }
            let stream = options
                .open_remote_stream(&unc(&name))
                .await
                .expect("open the remote stream");
            let (mut rd, mut wr) = tokio::io::split(stream);
            for round in 0..5u8 {
                // The read is asked for first: it waits at the server until the write is in.
                let read = tokio::spawn(async move {
                    let mut back = [0u8; 4];
                    rd.read_exact(&mut back).await.map(|_| (rd, back))
                });
                tokio::task::yield_now().await;
                wr.write_all(&[round; 4]).await.unwrap();
                wr.flush().await.unwrap();
                let (r, back) = read.await.unwrap().expect("the reply");
                rd = r;
                assert_eq!(back, [round ^ 0x5a; 4], "round {round}");
            }
            let data = pattern(300_000, 7);
            let want: Vec<u8> = data.iter().map(|b| b ^ 0x5a).collect();
            let reading = tokio::spawn(async move {
                let mut back = vec![0u8; 300_000];
                rd.read_exact(&mut back).await.map(|_| back)
            });
            wr.write_all(&data).await.unwrap();
            wr.flush().await.unwrap();
            let back = reading.await.unwrap().expect("300 KB back");
            assert!(back == want, "wrong bytes back");
        };
        tokio::time::timeout(TIMEOUT, run).await.expect("in time");
    });
    let who = served.join().unwrap();
    assert_eq!(who.user.as_deref(), seen_as, "{who:?}");
}

/// A tonic channel to `\\127.0.0.1\pipe\NAME`: through the private smbd onto pipework's gRPC
/// demo service; a unary call, a server stream, a bidirectional stream, several calls on one
/// channel; the port comes from `PIPEWORK_SMB_PORT` as `grpc::connect` reads it.
#[cfg(feature = "rpc")]
fn tonic_remote() {
    use pipework::rpc::grpc::{self, demo};
    use tokio_stream::StreamExt;
    let smbd = Smbd::start();
    let name = unique("cgrpc");
    let options = remote_options(&smbd, PipeMode::Byte);
    let pipe = name.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        current_thread().block_on(async {
            let incoming = grpc::incoming(&pipe, &options).expect("create pipe");
            ready_tx.send(()).unwrap();
            let _ = tonic::transport::Server::builder()
                .add_service(demo::demo_server::DemoServer::new(demo::DemoService))
                .serve_with_incoming(incoming)
                .await;
        });
    });
    ready_rx.recv_timeout(TIMEOUT).expect("the server ready");
    // The port as a caller without options gives it: grpc::connect reads the environment.
    let _env = SMB_PORT_ENV.lock().unwrap_or_else(|e| e.into_inner());
    std::env::set_var("PIPEWORK_SMB_PORT", smbd.port.to_string());
    current_thread().block_on(async {
        let run = async {
            let channel = grpc::connect(&unc(&name)).await.expect("connect");
            let mut client = demo::demo_client::DemoClient::new(channel);
            let reply = client
                .say(demo::SayRequest {
                    text: "over smb".into(),
                    ..Default::default()
                })
                .await
                .expect("say");
            assert_eq!(reply.into_inner().text, "over smb");
            let mut numbers = client
                .count(demo::CountRequest { count: 2000 })
                .await
                .expect("count")
                .into_inner();
            let mut seen = 0;
            while let Some(n) = numbers.next().await {
                seen += 1;
                assert_eq!(n.expect("a number").n, seen);
            }
            assert_eq!(seen, 2000);
            // Two calls at once on the one channel, one of them a bidirectional stream.
            let mut other = client.clone();
            let words: Vec<_> = (0..50)
                .map(|i| demo::SayRequest {
                    text: format!("w{i}"),
                    ..Default::default()
                })
                .collect();
            let chat = async move {
                let mut replies = other
                    .chat(tokio_stream::iter(words))
                    .await
                    .expect("chat")
                    .into_inner();
                let mut i = 0;
                while let Some(r) = replies.next().await {
                    assert_eq!(r.expect("a reply").text, format!("w{i}"));
                    i += 1;
                }
                i
            };
            let say = client.say(demo::SayRequest {
                text: "second".into(),
                ..Default::default()
            });
            let (chatted, said) = tokio::join!(chat, say);
            assert_eq!(chatted, 50);
            assert_eq!(said.expect("say").into_inner().text, "second");
            let big = "x".repeat(200_000);
            let reply = client
                .say(demo::SayRequest {
                    text: big.clone(),
                    ..Default::default()
                })
                .await
                .expect("a 200 KB say");
            assert!(reply.into_inner().text == big, "200 KB back");
            // The handler sees a caller through Samba: no local process.
            let who = client
                .who_am_i(demo::WhoAmIRequest {})
                .await
                .expect("who am i")
                .into_inner();
            assert_eq!((who.transport.as_str(), who.pid), ("pipe", 0), "{who:?}");
            // `connect_to` takes the same target.
            let channel = grpc::connect_to(&unc(&name)).await.expect("connect_to");
            let reply = demo::demo_client::DemoClient::new(channel)
                .say(demo::SayRequest {
                    text: "by connect_to".into(),
                    ..Default::default()
                })
                .await
                .expect("say by connect_to");
            assert_eq!(reply.into_inner().text, "by connect_to");
        };
        tokio::time::timeout(TIMEOUT, run).await.expect("in time");
    });
}
