//! Named pipes across real processes: one test per behaviour of the Win32 contract (§2).

// The interop tests (foreign programs, root, network namespaces) build only with the
// `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdout, Stdio};
use std::time::Duration;

use common::{child, wait, TIMEOUT};
use pipework::named_pipe::{
    self, Access, ClientOptions, Connected, MessageRead, NamedPipeClient, NamedPipeServer,
    PipeType, ReadMode, ServerOptions, WaitTimeout,
};

const NOBODY: u32 = 65534;

fn main() {
    common::main(
        &[
            (
                "names_are_case_insensitive_and_long",
                names_are_case_insensitive_and_long,
            ),
            ("byte_pipe_echo", byte_pipe_echo),
            ("credentials_both_ways", credentials_both_ways),
            ("missing_pipe_is_not_found", missing_pipe_is_not_found),
            (
                "busy_when_every_instance_is_taken",
                busy_when_every_instance_is_taken,
            ),
            ("access_mode_must_fit", access_mode_must_fit),
            (
                "first_instance_and_mismatched_instances",
                first_instance_and_mismatched_instances,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_other_user_refused_then_admitted",
                other_user_refused_then_admitted,
            ),
            ("client_checks_server_uid", client_checks_server_uid),
            (
                "connect_already_connected_and_came_and_went",
                connect_already_connected_and_came_and_went,
            ),
            ("disconnect_flush_and_reuse", disconnect_flush_and_reuse),
            ("wait_for_an_instance", wait_for_an_instance),
            (
                "message_boundaries_more_data_and_peek",
                message_boundaries_more_data_and_peek,
            ),
            ("transact_and_call", transact_and_call),
            ("nonblocking_mode", nonblocking_mode),
            ("instances_255_at_once", instances_255_at_once),
            (
                "thousand_clients_random_messages",
                thousand_clients_random_messages,
            ),
            (
                "kill_9_server_then_new_server",
                kill_9_server_then_new_server,
            ),
            (
                "name_lives_while_an_instance_does",
                name_lives_while_an_instance_does,
            ),
            (
                "peer_dying_mid_message_is_broken_pipe",
                peer_dying_mid_message_is_broken_pipe,
            ),
            (
                "data_before_close_is_delivered",
                data_before_close_is_delivered,
            ),
            ("handle_passing", handle_passing),
            (
                "foreign_client_gets_exact_bytes",
                foreign_client_gets_exact_bytes,
            ),
            ("list_shows_pipes", list_shows_pipes),
            ("instances_across_processes", instances_across_processes),
            #[cfg(feature = "tokio")]
            ("async_wait", async_wait),
            #[cfg(feature = "tokio")]
            (
                "async_server_serves_clients_at_once",
                async_server_serves_clients_at_once,
            ),
            #[cfg(feature = "tokio")]
            (
                "async_client_bytes_and_messages",
                async_client_bytes_and_messages,
            ),
        ],
        &[
            ("client_echo", client_echo),
            ("client_creds", client_creds),
            ("client_try_open", client_try_open),
            ("client_hold", client_hold),
            ("client_messages", client_messages),
            ("client_transact", client_transact),
            ("clients_many", clients_many),
            ("server_and_block", server_and_block),
            ("foreign_partial", foreign_partial),
            ("foreign_come_go", foreign_come_go),
            ("client_recv_handle", client_recv_handle),
            ("client_wait_open", client_wait_open),
            ("client_read_all", client_read_all),
            ("client_write_close", client_write_close),
            #[cfg(feature = "tokio")]
            ("async_client", async_client),
        ],
    )
}

/// A pipe name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    format!(r"\\.\pipe\np-test-{}-{tag}", std::process::id())
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Starts a child role with arguments, its stdout piped.
fn spawn(role: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut c = child(role)
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let out = BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

/// A line from a child, bounded by the harness timeout.
fn line(out: &mut BufReader<ChildStdout>) -> String {
    common::wait_readable(out.get_ref());
    let mut s = String::new();
    out.read_line(&mut s).expect("read child line");
    s.trim_end().to_string()
}

/// `connect` bounded by the harness timeout (so a failed child fails the test, not hangs it).
fn accept(server: &mut NamedPipeServer) -> Connected {
    server.set_nonblocking(true).unwrap();
    let connected = loop {
        match server.connect() {
            Ok(c) => break c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => assert!(
                common::readable_within(&*server, TIMEOUT),
                "no client within {TIMEOUT:?}"
            ),
            Err(e) => panic!("connect: {e}"),
        }
    };
    server.set_nonblocking(false).unwrap();
    connected
}

/// Makes a disconnected instance listen again, without waiting for a client.
fn listen_again(server: &mut NamedPipeServer) {
    server.set_nonblocking(true).unwrap();
    assert_eq!(server.connect().unwrap_err().kind(), ErrorKind::WouldBlock);
    server.set_nonblocking(false).unwrap();
}

fn finish(mut c: Child) {
    drop(c.stdin.take());
    assert!(wait(&mut c).success(), "child failed");
}

fn kind_name(e: &std::io::Error) -> String {
    format!("{:?}", e.kind())
}

// ---- children ----

/// Opens `name`, waiting while the instance is busy (between a disconnect and the next connect).
fn open(name: &str) -> NamedPipeClient {
    ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .open(name)
        .unwrap()
}

fn client_echo(args: &[String]) {
    let n: usize = args[1].parse().unwrap();
    let mut c = open(&args[0]);
    let data = pattern(n, 7);
    c.write_all(&data).unwrap();
    let mut back = vec![0u8; n];
    c.read_exact(&mut back).unwrap();
    assert!(back == data, "echo differs");
    println!("ok");
}

fn client_creds(args: &[String]) {
    let c = open(&args[0]);
    let server = c.server();
    assert_eq!(server.pid.to_string(), args[1]);
    assert_eq!(server.uid, rustix::process::geteuid().as_raw());
    println!("ok");
}

fn client_try_open(args: &[String]) {
    let mut options = ClientOptions::new();
    options.wait(WaitTimeout::After(TIMEOUT));
    if let Some(uid) = args.get(1).filter(|a| !a.is_empty()) {
        options.server_uid(uid.parse().unwrap());
    }
    if args.get(2).map(String::as_str) == Some("read-only") {
        options.write(false);
    }
    if args.get(2).map(String::as_str) == Some("write-only") {
        options.read(false);
    }
    match options.open(&args[0]) {
        Ok(mut c) => {
            println!("ok");
            if c.write_all(b"hello").is_err() {
                let mut b = [0u8; 5];
                let _ = c.read(&mut b);
            }
        }
        Err(e) => println!("{}", kind_name(&e)),
    }
}

fn client_hold(args: &[String]) {
    let count: usize = args[1].parse().unwrap();
    let mut held = Vec::new();
    for i in 0..count {
        let mut c = NamedPipeClient::open(&args[0]).unwrap();
        c.write_all(&(i as u32).to_le_bytes()).unwrap();
        held.push(c);
    }
    // One more finds every instance busy.
    let e = NamedPipeClient::open(&args[0]).unwrap_err();
    println!("held {}", kind_name(&e));
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

fn client_messages(args: &[String]) {
    let mut c = open(&args[0]);
    assert_eq!(c.pipe_type(), PipeType::Message);
    c.write_message(b"hello").unwrap();
    c.write_message(b"").unwrap();
    c.write_message(&pattern(100_000, 3)).unwrap();
    c.write_message(b"ab").unwrap();
    c.write_message(b"cd").unwrap();
    c.write_message(b"peek-me").unwrap();
    c.write_message(b"second").unwrap();
    c.flush().unwrap();
    // Byte-read mode (the client's default) reads across the server's messages.
    let mut all = [0u8; 6];
    c.read_exact(&mut all).unwrap();
    assert_eq!(&all, b"xyzuvw");
    println!("ok");
}

fn client_transact(args: &[String]) {
    let mut c = open(&args[0]);
    // Byte-read mode: no transaction.
    let mut reply = [0u8; 64];
    assert_eq!(
        c.transact(b"x", &mut reply).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    c.set_read_mode(ReadMode::Message).unwrap();
    assert_eq!(
        c.transact(b"hello", &mut reply).unwrap(),
        MessageRead::Complete(5)
    );
    assert_eq!(&reply[..5], b"HELLO");
    let mut small = [0u8; 2];
    assert_eq!(
        c.transact(b"abcdef", &mut small).unwrap(),
        MessageRead::MoreData { read: 2, left: 4 }
    );
    // The rest of the reply is unread: a transaction now is busy.
    assert_eq!(
        c.transact(b"x", &mut reply).unwrap_err().kind(),
        ErrorKind::ResourceBusy
    );
    assert_eq!(
        c.read_message(&mut reply).unwrap(),
        MessageRead::Complete(4)
    );
    assert_eq!(&reply[..4], b"CDEF");
    drop(c);
    let got = named_pipe::call(&args[0], b"called", WaitTimeout::Forever).unwrap();
    assert_eq!(got, b"CALLED");
    println!("ok");
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `args[1]` clients on `args[2]` threads, each sending 100 messages of random sizes and
/// checking every echoed byte.
fn clients_many(args: &[String]) {
    let name = args[0].clone();
    let clients: usize = args[1].parse().unwrap();
    let threads: usize = args[2].parse().unwrap();
    let seed: u64 = args[3].parse().unwrap();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let name = name.clone();
            let next = next.clone();
            std::thread::spawn(move || loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= clients {
                    return;
                }
                let mut rng = Rng(seed * 1_000_003 + k as u64 + 1);
                let mut c = ClientOptions::new()
                    .wait(WaitTimeout::After(TIMEOUT))
                    .open(&name)
                    .unwrap();
                c.set_read_mode(ReadMode::Message).unwrap();
                let mut reply = vec![0u8; 9000];
                for m in 0..100 {
                    let len = (rng.next() % 8193) as usize;
                    let msg = pattern(len, (k + m) as u8);
                    c.write_message(&msg).unwrap();
                    match c.read_message(&mut reply).unwrap() {
                        MessageRead::Complete(n) => {
                            assert_eq!(n, len);
                            assert!(reply[..n] == msg[..], "client {k} message {m} differs");
                        }
                        other => panic!("client {k} message {m}: {other:?}"),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("ok");
}

fn server_and_block(args: &[String]) {
    let _server = ServerOptions::new().create(&args[0]).unwrap();
    println!("ready");
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

fn foreign_partial(args: &[String]) {
    let mut s = UnixStream::connect(&args[0]).unwrap();
    // A header promising many bytes, then 10 of them, then gone.
    let promised: u32 = args.get(1).map_or(1000, |a| a.parse().unwrap());
    s.write_all(&promised.to_le_bytes()).unwrap();
    s.write_all(&[1u8; 10]).unwrap();
    if args.len() > 1 {
        let mut rest = Vec::new();
        std::io::stdin().read_to_end(&mut rest).unwrap();
    }
}

fn foreign_come_go(args: &[String]) {
    drop(UnixStream::connect(&args[0]).unwrap());
}

fn client_recv_handle(args: &[String]) {
    let mut c = open(&args[0]);
    let fd = c.recv_handle().unwrap();
    let mut w = pipework::pipe::PipeWriter::try_from(fd).unwrap();
    w.write_all(b"through a named pipe").unwrap();
}

fn client_wait_open(args: &[String]) {
    println!("waiting");
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::Forever)
        .open(&args[0])
        .unwrap();
    c.write_all(b"in").unwrap();
    println!("in");
}

fn client_read_all(args: &[String]) {
    let mut c = open(&args[0]);
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert!(all == pattern(all.len(), 1));
    println!("{}", all.len());
    // The server is gone or disconnected: writes fail.
    let e = c.write_all(b"late").unwrap_err();
    println!("{}", kind_name(&e));
}

fn client_write_close(args: &[String]) {
    let n: usize = args[1].parse().unwrap();
    let mut c = open(&args[0]);
    c.write_all(&pattern(n, 1)).unwrap();
}

// ---- tests ----

fn names_are_case_insensitive_and_long() {
    let tag: String = format!("Case/Ünï {}", "x".repeat(230));
    let name = format!(r"\\.\pipe\{}", tag);
    assert!(tag.len() > 108, "longer than a socket path can hold");
    let mut server = ServerOptions::new().create(&name).unwrap();
    // The client spells it in another case, without the prefix.
    let (c, mut out) = spawn("client_echo", &[&tag.to_uppercase(), "1000"]);
    accept(&mut server);
    let mut buf = vec![0u8; 1000];
    server.read_exact(&mut buf).unwrap();
    server.write_all(&buf).unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
    let e = ServerOptions::new()
        .create(&format!(r"\\.\pipe\{}", "y".repeat(257)))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = NamedPipeClient::open(r"\\.\pipe\a\b").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = NamedPipeClient::open(r"\\remote\pipe\x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

fn byte_pipe_echo() {
    let name = unique("echo");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_echo", &[&name, "300000"]);
    accept(&mut server);
    // Peek on a byte pipe: what is there, without consuming it.
    let mut first = [0u8; 8];
    let info = loop {
        let info = server.peek(&mut first).unwrap();
        if info.available > 0 {
            break info;
        }
        common::wait_readable(&server);
    };
    assert_eq!(info.read, 8);
    assert_eq!(info.left_in_message, 0);
    assert_eq!(&first[..], &pattern(8, 7)[..]);
    let mut buf = vec![0u8; 300_000];
    server.read_exact(&mut buf).unwrap();
    server.write_all(&buf).unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn credentials_both_ways() {
    let name = unique("creds");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let me = std::process::id().to_string();
    let (c, mut out) = spawn("client_creds", &[&name, &me]);
    accept(&mut server);
    let client = server.client().unwrap();
    assert_eq!(client.pid, c.id());
    assert_eq!(client.uid, rustix::process::geteuid().as_raw());
    assert_eq!(client.gid, rustix::process::getegid().as_raw());
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn missing_pipe_is_not_found() {
    let name = unique("missing");
    assert_eq!(
        NamedPipeClient::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        named_pipe::wait(&name, WaitTimeout::Forever)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        named_pipe::call(&name, b"x", WaitTimeout::Forever)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

fn busy_when_every_instance_is_taken() {
    let name = unique("busy");
    let mut server = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let (c, mut out) = spawn("client_try_open", &[&name]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ok");
    // The only instance is connected: another client is busy, another instance too many.
    let e = NamedPipeClient::open(&name).unwrap_err();
    assert!(named_pipe::is_busy(&e), "{e}");
    assert!(e.to_string().contains("instance is busy"), "{e}");
    let e = ServerOptions::new()
        .max_instances(1)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    finish(c);
    for bad in [0, 256] {
        let e = ServerOptions::new()
            .max_instances(bad)
            .create(&unique("bad"))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
}

fn access_mode_must_fit() {
    let name = unique("inbound");
    let mut server = ServerOptions::new()
        .access(Access::Inbound)
        .create(&name)
        .unwrap();
    // Reading from an inbound pipe (the server only reads): denied at open.
    let (c, mut out) = spawn("client_try_open", &[&name, "", "read-only"]);
    assert_eq!(line(&mut out), "PermissionDenied");
    finish(c);
    let (c, mut out) = spawn("client_try_open", &[&name]);
    assert_eq!(line(&mut out), "PermissionDenied");
    finish(c);
    let (c, mut out) = spawn("client_try_open", &[&name, "", "write-only"]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ok");
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"hello");
    // The server of an inbound pipe cannot write.
    assert_eq!(
        server.write(b"x").unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    finish(c);
}

fn first_instance_and_mismatched_instances() {
    let name = unique("first");
    let first = ServerOptions::new()
        .first_instance(true)
        .create(&name)
        .unwrap();
    assert!(first.created_pipe());
    let e = ServerOptions::new()
        .first_instance(true)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let e = ServerOptions::new()
        .access(Access::Outbound)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    // Other parameters of later instances are accepted; the first's stick.
    let second = ServerOptions::new().max_instances(3).create(&name).unwrap();
    assert!(!second.created_pipe());
    assert_eq!(second.max_instances(), None);
    let e = ServerOptions::new()
        .read_mode(ReadMode::Message)
        .create(&unique("rm"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

fn as_nobody(role: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut cmd = child(role);
    cmd.args(args)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped());
    let mut c = cmd
        .spawn()
        .expect("start a child as nobody (the test needs root, as in CI)");
    let out = BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

fn other_user_refused_then_admitted() {
    assert_eq!(
        rustix::process::geteuid().as_raw(),
        0,
        "this test drops a child to uid nobody: it must run as root (as CI does)"
    );
    let name = unique("nobody");
    {
        // A default server, even in the global namespace, admits only its own user.
        let _server = ServerOptions::new().global(true).create(&name).unwrap();
        let (mut c, mut out) = as_nobody("client_try_open", &[&name]);
        assert_eq!(line(&mut out), "PermissionDenied");
        assert!(wait(&mut c).success());
    }
    {
        // Reachable (allow everyone's file modes) but not admitted: the handshake refuses.
        let mut server = ServerOptions::new()
            .global(true)
            .allow_user(4242)
            .create(&name)
            .unwrap();
        let (mut c, mut out) = as_nobody("client_try_open", &[&name]);
        assert!(common::readable_within(&server, TIMEOUT));
        server.set_nonblocking(true).unwrap();
        let e = server.connect().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
        assert_eq!(line(&mut out), "PermissionDenied");
        assert!(wait(&mut c).success());
    }
    let mut server = ServerOptions::new()
        .global(true)
        .allow_user(NOBODY)
        .create(&name)
        .unwrap();
    let (mut c, mut out) = as_nobody("client_try_open", &[&name]);
    accept(&mut server);
    assert_eq!(server.client().unwrap().uid, NOBODY);
    assert_eq!(line(&mut out), "ok");
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"hello");
    assert!(wait(&mut c).success());
}

fn client_checks_server_uid() {
    let name = unique("squat");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_try_open", &[&name, "12345"]);
    accept(&mut server);
    assert_eq!(line(&mut out), "PermissionDenied");
    finish(c);
    server.disconnect().unwrap();
    let me = rustix::process::geteuid().as_raw().to_string();
    let (c, mut out) = spawn("client_try_open", &[&name, &me]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn connect_already_connected_and_came_and_went() {
    let name = unique("already");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_echo", &[&name, "10"]);
    // The client is waiting before ConnectNamedPipe is called.
    assert!(common::readable_within(&server, TIMEOUT));
    assert_eq!(server.connect().unwrap(), Connected::AlreadyConnected);
    assert_eq!(server.connect().unwrap(), Connected::AlreadyConnected);
    let mut buf = [0u8; 10];
    server.read_exact(&mut buf).unwrap();
    server.write_all(&buf).unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
    server.disconnect().unwrap();
    // A client that came and went before it was admitted.
    let mut s = ServerOptions::new().create(&unique("went")).unwrap();
    let path = s.socket_path();
    let mut c = child("foreign_come_go")
        .arg(path.to_str().unwrap())
        .spawn()
        .unwrap();
    assert!(wait(&mut c).success());
    let e = s.connect().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    assert!(e.to_string().contains("came and went"), "{e}");
    // The instance listens again at the next connect.
    let name2 = s.name().to_string();
    let (c, mut out) = spawn("client_try_open", &[&name2]);
    accept(&mut s);
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn disconnect_flush_and_reuse() {
    let name = unique("disconnect");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_read_all", &[&name]);
    accept(&mut server);
    server.write_all(&pattern(500_000, 1)).unwrap();
    server.flush().unwrap(); // returns once the client has read everything
    server.disconnect().unwrap();
    assert_eq!(line(&mut out), "500000");
    assert_eq!(line(&mut out), "BrokenPipe");
    finish(c);
    // Disconnected and not yet listening: new clients are busy.
    assert!(named_pipe::is_busy(
        &NamedPipeClient::open(&name).unwrap_err()
    ));
    assert_eq!(
        server.read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    // Reuse.
    let (c, mut out) = spawn("client_echo", &[&name, "100"]);
    accept(&mut server);
    let mut buf = [0u8; 100];
    server.read_exact(&mut buf).unwrap();
    server.write_all(&buf).unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn wait_for_an_instance() {
    let name = unique("wait");
    let mut server = ServerOptions::new()
        .max_instances(1)
        .default_timeout(Duration::from_millis(20))
        .create(&name)
        .unwrap();
    // Listening: wait returns at once.
    named_pipe::wait(&name, WaitTimeout::Default).unwrap();
    let (c, mut out) = spawn("client_try_open", &[&name]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ok");
    // Busy: the waits time out.
    let e = named_pipe::wait(&name, WaitTimeout::Default).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    let e = named_pipe::wait(&name, WaitTimeout::After(Duration::from_millis(30))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    let e = ClientOptions::new()
        .wait(WaitTimeout::After(Duration::from_millis(30)))
        .open(&name)
        .unwrap_err();
    assert!(
        named_pipe::is_busy(&e) || e.kind() == ErrorKind::TimedOut,
        "{e}"
    );
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    finish(c);
    // A client that waits forever gets in once the instance listens again.
    let (c, mut out) = spawn("client_wait_open", &[&name]);
    assert_eq!(line(&mut out), "waiting");
    server.disconnect().unwrap();
    accept(&mut server);
    let mut two = [0u8; 2];
    server.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"in");
    assert_eq!(line(&mut out), "in");
    finish(c);
}

fn message_boundaries_more_data_and_peek() {
    let name = unique("messages");
    let mut server = ServerOptions::new()
        .pipe_type(PipeType::Message)
        .create(&name)
        .unwrap();
    let (c, mut out) = spawn("client_messages", &[&name]);
    accept(&mut server);
    let mut small = [0u8; 3];
    assert_eq!(
        server.read_message(&mut small).unwrap(),
        MessageRead::MoreData { read: 3, left: 2 }
    );
    assert_eq!(&small, b"hel");
    let mut buf = vec![0u8; 200_000];
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(2)
    );
    assert_eq!(&buf[..2], b"lo");
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(0)
    );
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(100_000)
    );
    assert!(buf[..100_000] == pattern(100_000, 3)[..]);
    // Byte-read mode reads across the boundaries of "ab" and "cd".
    server.set_read_mode(ReadMode::Byte).unwrap();
    let mut four = [0u8; 4];
    server.read_exact(&mut four).unwrap();
    assert_eq!(&four, b"abcd");
    server.set_read_mode(ReadMode::Message).unwrap();
    // Peek: wait until both remaining messages are there ("peek-me" 7 + "second" 6).
    let mut peeked = [0u8; 4];
    let info = loop {
        let info = server.peek(&mut peeked).unwrap();
        if info.available == 13 {
            break info;
        }
        common::wait_readable(&server);
    };
    assert_eq!(info.read, 4);
    assert_eq!(info.left_in_message, 3);
    assert_eq!(&peeked, b"peek");
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(7)
    );
    assert_eq!(&buf[..7], b"peek-me");
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(6)
    );
    server.write_message(b"xyz").unwrap();
    server.write_message(b"").unwrap();
    server.write_message(b"uvw").unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
    assert_eq!(server.read_message(&mut buf).unwrap(), MessageRead::End);
    // Message-read mode on a byte pipe is refused.
    let mut byte = ServerOptions::new().create(&unique("bytes")).unwrap();
    assert_eq!(
        byte.set_read_mode(ReadMode::Message).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

fn transact_and_call() {
    let name = unique("transact");
    let mut server = ServerOptions::new()
        .pipe_type(PipeType::Message)
        .create(&name)
        .unwrap();
    let (c, mut out) = spawn("client_transact", &[&name]);
    for _ in 0..2 {
        accept(&mut server);
        loop {
            let mut request = Vec::new();
            match server.read_message_to_end(&mut request).unwrap() {
                MessageRead::End => break,
                _ => server.write_message(&request.to_ascii_uppercase()).unwrap(),
            }
        }
        server.disconnect().unwrap();
    }
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn nonblocking_mode() {
    let name = unique("nowait");
    let mut server = ServerOptions::new()
        .nonblocking(true)
        .create(&name)
        .unwrap();
    assert_eq!(server.connect().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(
        server.read(&mut [0u8; 1]).unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    let (c, mut out) = spawn("client_echo", &[&name, "64"]);
    assert!(common::readable_within(&server, TIMEOUT));
    server.connect().unwrap();
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 64 {
        match server.read(&mut buf[got..]) {
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => common::wait_readable(&server),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        server.read(&mut [0u8; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    server.write_all(&buf).unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn instances_255_at_once() {
    let name = unique("many");
    let servers: Vec<NamedPipeServer> = (0..255)
        .map(|_| {
            ServerOptions::new()
                .max_instances(255)
                .create(&name)
                .unwrap()
        })
        .collect();
    let e = ServerOptions::new().create(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    let (c, mut out) = spawn("client_hold", &[&name, "255"]);
    let threads: Vec<_> = servers
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                accept(&mut s);
                let mut index = [0u8; 4];
                s.read_exact(&mut index).unwrap();
                (u32::from_le_bytes(index), s)
            })
        })
        .collect();
    let mut seen: Vec<u32> = Vec::new();
    let mut servers = Vec::new();
    for t in threads {
        let (i, s) = t.join().unwrap();
        seen.push(i);
        servers.push(s);
    }
    seen.sort();
    assert_eq!(seen, (0..255).collect::<Vec<_>>());
    assert!(servers.iter().all(|s| s.is_connected()));
    assert_eq!(line(&mut out), "held ResourceBusy");
    let entry = named_pipe::list()
        .unwrap()
        .into_iter()
        .find(|p| p.name == name.rsplit('\\').next().unwrap())
        .unwrap();
    assert_eq!(entry.instances, 255);
    finish(c);
}

fn thousand_clients_random_messages() {
    let name = unique("thousand");
    let instances = 32;
    let servers: Vec<_> = (0..instances)
        .map(|_| {
            let mut s = ServerOptions::new()
                .pipe_type(PipeType::Message)
                .create(&name)
                .unwrap();
            std::thread::spawn(move || {
                let mut served = 0;
                let mut buf = vec![0u8; 9000];
                // Each instance serves clients until the test's stop message.
                loop {
                    accept(&mut s);
                    loop {
                        match s.read_message(&mut buf).unwrap() {
                            MessageRead::Complete(n) => s.write_message(&buf[..n]).unwrap(),
                            MessageRead::End => break,
                            MessageRead::MoreData { .. } => panic!("message too long"),
                        }
                    }
                    if s.client().is_some_and(|c| c.pid == std::process::id()) {
                        return served;
                    }
                    served += 1;
                    s.disconnect().unwrap();
                }
            })
        })
        .collect();
    let children: Vec<_> = (0..4)
        .map(|p| spawn("clients_many", &[&name, "250", "8", &p.to_string()]))
        .collect();
    for (c, mut out) in children {
        assert_eq!(line(&mut out), "ok");
        finish(c);
    }
    // Stop each instance with a client from this process.
    let mut stoppers = Vec::new();
    for _ in 0..instances {
        stoppers.push(
            ClientOptions::new()
                .wait(WaitTimeout::After(TIMEOUT))
                .open(&name)
                .unwrap(),
        );
    }
    drop(stoppers);
    let served: usize = servers.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(served, 1000);
}

fn kill_9_server_then_new_server() {
    let name = unique("killed");
    let (mut c, mut out) = spawn("server_and_block", &[&name]);
    assert_eq!(line(&mut out), "ready");
    named_pipe::wait(&name, WaitTimeout::Default).unwrap(); // it exists and listens
    c.kill().unwrap(); // SIGKILL
    let status = wait(&mut c);
    assert!(!status.success());
    // Nothing left blocks: the name is gone, and a new server takes it as the first instance.
    assert_eq!(
        NamedPipeClient::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // ... and the files the killed server left are gone once anyone looked.
    let dir =
        pipework::name::directory(pipework::name::Namespace::Local, pipework::name::Kind::Pipe)
            .unwrap()
            .join(pipework::name::PipeName::parse(&name).unwrap().file_key());
    assert!(!dir.exists(), "{} left behind", dir.display());
    let mut server = ServerOptions::new()
        .first_instance(true)
        .create(&name)
        .unwrap();
    assert!(server.created_pipe());
    let (c, mut out) = spawn("client_echo", &[&name, "10"]);
    accept(&mut server);
    let mut buf = [0u8; 10];
    server.read_exact(&mut buf).unwrap();
    server.write_all(&buf).unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn name_lives_while_an_instance_does() {
    let name = unique("lifetime");
    let a = ServerOptions::new().create(&name).unwrap();
    let b = ServerOptions::new().create(&name).unwrap();
    drop(a);
    named_pipe::wait(&name, WaitTimeout::Default).unwrap();
    drop(b);
    assert_eq!(
        NamedPipeClient::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let dir =
        pipework::name::directory(pipework::name::Namespace::Local, pipework::name::Kind::Pipe)
            .unwrap();
    let key = pipework::name::PipeName::parse(&name).unwrap().file_key();
    assert!(
        !dir.join(key).exists(),
        "the pipe's directory is removed with its last instance"
    );
}

fn peer_dying_mid_message_is_broken_pipe() {
    let name = unique("midmessage");
    let mut server = ServerOptions::new()
        .pipe_type(PipeType::Message)
        .create(&name)
        .unwrap();
    let path = server.socket_path();
    let mut c = child("foreign_partial")
        .arg(path.to_str().unwrap())
        .spawn()
        .unwrap();
    accept(&mut server);
    assert!(wait(&mut c).success());
    let mut buf = vec![0u8; 4096];
    let e = server.read_message(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    // A hostile length makes no huge allocation: the reader only grows with real bytes.
    server.disconnect().unwrap();
    listen_again(&mut server);
    let mut c = child("foreign_partial")
        .arg(path.to_str().unwrap())
        .arg(u32::MAX.to_string())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    accept(&mut server);
    let mut whole = Vec::new();
    // The first 10 bytes arrive; then the peer goes.
    drop(c.stdin.take());
    let e = server.read_message_to_end(&mut whole).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    assert!(wait(&mut c).success());
}

fn data_before_close_is_delivered() {
    let name = unique("drain");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, _out) = spawn("client_write_close", &[&name, "100000"]);
    accept(&mut server);
    finish(c); // the client wrote everything and exited before the server read any of it
    let mut all = Vec::new();
    server.read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), 100_000);
    assert!(all == pattern(100_000, 1));
    // And the other way: the server writes and closes its instance.
    server.disconnect().unwrap();
    let (c, mut out) = spawn("client_read_all", &[&name]);
    accept(&mut server);
    server.write_all(&pattern(100_000, 1)).unwrap();
    drop(server);
    assert_eq!(line(&mut out), "100000");
    assert_eq!(line(&mut out), "BrokenPipe");
    finish(c);
}

fn handle_passing() {
    let name = unique("handles");
    let mut server = ServerOptions::new()
        .pipe_type(PipeType::Message)
        .create(&name)
        .unwrap();
    let (c, _out) = spawn("client_recv_handle", &[&name]);
    accept(&mut server);
    let (mut r, w) = pipework::pipe::create().unwrap();
    server.send_handle(&w).unwrap();
    drop(w);
    finish(c);
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    assert_eq!(text, "through a named pipe");
}

fn foreign_client_gets_exact_bytes() {
    let name = unique("foreign");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let path = named_pipe::socket_path(&name).unwrap();
    assert_eq!(path, server.socket_path());
    let t = std::thread::spawn(move || {
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(b"raw bytes").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        back
    });
    accept(&mut server);
    let mut got = Vec::new();
    server.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"raw bytes");
    server.write_all(b"exactly these").unwrap();
    server.disconnect().unwrap();
    assert_eq!(t.join().unwrap(), b"exactly these");
}

fn list_shows_pipes() {
    let name = unique("listed");
    let _a = ServerOptions::new()
        .pipe_type(PipeType::Message)
        .max_instances(4)
        .create(&name)
        .unwrap();
    let _b = ServerOptions::new()
        .pipe_type(PipeType::Message)
        .create(&name)
        .unwrap();
    let entry = named_pipe::list()
        .unwrap()
        .into_iter()
        .find(|p| p.name == name.rsplit('\\').next().unwrap())
        .expect("listed");
    assert_eq!(entry.pipe_type, PipeType::Message);
    assert_eq!(entry.instances, 2);
    assert_eq!(entry.listening, 2);
    assert_eq!(entry.max_instances, Some(4));
}

#[cfg(feature = "tokio")]
fn async_server_serves_clients_at_once() {
    let name = unique("async-server");
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    common::runtime().block_on(async {
        // Each task says so when it has served a client to the end.
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        // One thread, four instances, each a task: the overlapped server's shape.
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let mut server = ServerOptions::new()
                    .pipe_type(PipeType::Message)
                    .create_async(&name)
                    .unwrap();
                let served = served.clone();
                let done_tx = done_tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 9000];
                    loop {
                        server.connect().await.unwrap();
                        loop {
                            match server.read_message(&mut buf).await.unwrap() {
                                MessageRead::Complete(n) => {
                                    server.write_message(&buf[..n]).await.unwrap()
                                }
                                MessageRead::End => break,
                                other => panic!("{other:?}"),
                            }
                        }
                        served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        server.disconnect().unwrap();
                        let _ = done_tx.send(());
                    }
                })
            })
            .collect();
        let mut c = child("clients_many")
            .args([name.as_str(), "12", "4", "9"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = c.stdout.take().unwrap();
        let process = pipework::process::Process::from_child(&c).unwrap();
        // Wait for the child without blocking the runtime's only thread.
        let exited = tokio::task::spawn_blocking(move || process.wait_timeout(TIMEOUT).unwrap())
            .await
            .unwrap();
        assert!(exited, "clients still running after {TIMEOUT:?}");
        assert!(c.wait().unwrap().success());
        let mut said = String::new();
        BufReader::new(stdout).read_line(&mut said).unwrap();
        assert_eq!(said.trim(), "ok");
        // The clients are gone once the child has exited, but a task may still be finishing
        // with the last one (seeing its end of data): wait for all twelve before stopping them.
        for _ in 0..12 {
            tokio::time::timeout(TIMEOUT, done_rx.recv())
                .await
                .expect("every client served to the end in time")
                .expect("the tasks still run");
        }
        for t in tasks {
            t.abort();
        }
    });
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 12);
}

#[cfg(feature = "tokio")]
fn async_client(args: &[String]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    common::runtime().block_on(async {
        let mut c = pipework::named_pipe::AsyncNamedPipeClient::open(&args[0])
            .await
            .unwrap();
        assert_eq!(c.server().pid.to_string(), args[2]);
        c.get_mut().set_read_mode(ReadMode::Message).unwrap();
        let mut reply = [0u8; 16];
        assert_eq!(
            c.transact(b"async", &mut reply).await.unwrap(),
            MessageRead::Complete(5)
        );
        assert_eq!(&reply[..5], b"ASYNC");
        let big = pattern(200_000, 5);
        c.write_message(&big).await.unwrap();
        let mut back = vec![0u8; 200_000];
        assert_eq!(
            c.read_message(&mut back).await.unwrap(),
            MessageRead::Complete(200_000)
        );
        assert!(back == big.to_ascii_uppercase());
        drop(c);
        let mut b = ClientOptions::new().open_async(&args[1]).await.unwrap();
        b.write_all(b"bytes").await.unwrap();
        let mut five = [0u8; 5];
        b.read_exact(&mut five).await.unwrap();
        assert_eq!(&five, b"bytes");
    });
    println!("ok");
}

#[cfg(feature = "tokio")]
fn async_client_bytes_and_messages() {
    let messages = unique("async-client-m");
    let bytes = unique("async-client-b");
    let mut m = ServerOptions::new()
        .pipe_type(PipeType::Message)
        .create(&messages)
        .unwrap();
    let mut b = ServerOptions::new().create(&bytes).unwrap();
    let me = std::process::id().to_string();
    let (c, mut out) = spawn("async_client", &[&messages, &bytes, &me]);
    accept(&mut m);
    for _ in 0..2 {
        let mut request = Vec::new();
        m.read_message_to_end(&mut request).unwrap();
        m.write_message(&request.to_ascii_uppercase()).unwrap();
    }
    accept(&mut b);
    let mut five = [0u8; 5];
    b.read_exact(&mut five).unwrap();
    b.write_all(&five).unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

fn instances_across_processes() {
    let name = unique("shared");
    let first = ServerOptions::new().max_instances(2).create(&name).unwrap();
    // Another process adds the second instance (its own parameters give way to the first's).
    let (mut c, mut out) = spawn("server_and_block", &[&name]);
    assert_eq!(line(&mut out), "ready");
    assert_eq!(first.instances().unwrap(), 2);
    let e = ServerOptions::new()
        .max_instances(2)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    // The other process dies: its instance is gone with it, and its slot is free again.
    c.kill().unwrap();
    wait(&mut c);
    assert_eq!(first.instances().unwrap(), 1);
    let again = ServerOptions::new().max_instances(2).create(&name).unwrap();
    assert_eq!(again.instances().unwrap(), 2);
}

#[cfg(feature = "tokio")]
fn async_wait() {
    let name = unique("async-wait");
    let rt = common::runtime();
    let e = rt
        .block_on(named_pipe::wait_async(&name, WaitTimeout::Forever))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let mut server = ServerOptions::new().max_instances(1).create(&name).unwrap();
    rt.block_on(named_pipe::wait_async(&name, WaitTimeout::Default))
        .unwrap();
    let (c, mut out) = spawn("client_try_open", &[&name]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ok");
    let e = rt
        .block_on(named_pipe::wait_async(
            &name,
            WaitTimeout::After(Duration::from_millis(30)),
        ))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    finish(c);
    server.disconnect().unwrap();
    // An async client that waits gets in once the instance listens again.
    let opening = std::thread::spawn({
        let name = name.clone();
        move || {
            common::runtime().block_on(async {
                let mut c = ClientOptions::new()
                    .wait(WaitTimeout::After(TIMEOUT))
                    .open_async(&name)
                    .await
                    .unwrap();
                tokio::io::AsyncWriteExt::write_all(&mut c, b"in")
                    .await
                    .unwrap();
            })
        }
    });
    accept(&mut server);
    let mut two = [0u8; 2];
    server.read_exact(&mut two).unwrap();
    assert_eq!(&two, b"in");
    opening.join().unwrap();
}
