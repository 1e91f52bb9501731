//! Named pipes against strangers and hostile peers: a peer flooding handles, a server that never
//! answers, another user's process holding the addresses a client would use or the name a client
//! looks for, absurd timeouts. Each test crosses real processes; those that need another user run
//! as root and drop a child to `nobody` (the interop suite).

// The interop tests build only with the `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{child, wait, TIMEOUT};
use pipework::named_pipe::{self, ClientOptions, NamedPipeServer, ServerOptions, WaitTimeout};

const NOBODY: u32 = 65534;
/// One-byte writes, each carrying a handle, that a hostile client sends.
const FLOOD: usize = 10_000;

fn main() {
    common::main(
        &[
            (
                "handles_are_refused_unless_asked_for",
                handles_are_refused_unless_asked_for,
            ),
            (
                "open_ends_in_time_when_the_server_never_connects",
                open_ends_in_time_when_the_server_never_connects,
            ),
            (
                "server_identity_is_checked_before_the_handshake",
                server_identity_is_checked_before_the_handshake,
            ),
            ("huge_timeouts_saturate", huge_timeouts_saturate),
            (
                "taken_client_addresses_do_not_stop_an_open",
                taken_client_addresses_do_not_stop_an_open,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_another_user_holds_client_addresses",
                another_user_holds_client_addresses,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_clients_reach_only_trusted_owners",
                clients_reach_only_trusted_owners,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_squatter_that_never_answers",
                squatter_that_never_answers,
            ),
        ],
        &[
            ("handle_counter", handle_counter),
            ("handle_flooder", handle_flooder),
            ("client_on_go", client_on_go),
            ("address_squatter", address_squatter),
            ("squatter", squatter),
        ],
    )
}

/// A pipe name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    format!(r"\\.\pipe\np-hostile-{}-{tag}", std::process::id())
}

/// Starts a child role with arguments, stdin and stdout piped.
fn spawn(role: &str, args: &[&str], nobody: bool) -> (Child, BufReader<ChildStdout>) {
    let mut cmd = child(role);
    cmd.args(args).stdout(Stdio::piped()).stdin(Stdio::piped());
    if nobody {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let mut c = cmd
        .spawn()
        .expect("start a child (as nobody, the test needs root, as in CI)");
    let out = BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

use common::line;

/// Closes the child's stdin (its signal to finish) and checks it succeeded.
fn finish(mut c: Child) {
    drop(c.stdin.take());
    assert!(wait(&mut c).success(), "child failed");
}

/// Runs `f` on a thread and returns its result, failing the test if it takes longer than the
/// harness timeout (an open that hangs fails here instead of hanging the suite).
fn bounded<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(TIMEOUT)
        .expect("the call did not return within the harness timeout")
}

/// The error an open ends with (bounded), failing if it succeeds.
fn open_error(name: &str, options: ClientOptions) -> io::Error {
    let name = name.to_string();
    bounded(move || options.open(&name).map(drop)).expect_err("the open should have been refused")
}

/// `connect` bounded by the harness timeout.
fn accept(server: &mut NamedPipeServer) {
    server.set_nonblocking(true).unwrap();
    loop {
        match server.connect() {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock => assert!(
                common::readable_within(&*server, TIMEOUT),
                "no client within {TIMEOUT:?}"
            ),
            Err(e) => panic!("connect: {e}"),
        }
    }
    server.set_nonblocking(false).unwrap();
}

fn number(text: &str, key: &str) -> usize {
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == key {
            return words.next().unwrap().parse().unwrap();
        }
    }
    panic!("no {key} in {text:?}")
}

// ---- children ----

/// A server that reads `FLOOD` bytes from one client, counting its own open handles after every
/// read; it reports the bytes, whether they were all `H`, the count once connected, the highest
/// and the last.
fn handle_counter(args: &[String]) {
    let keep: usize = args[1].parse().unwrap();
    let mut server = ServerOptions::new()
        .accept_handles(keep)
        .create(&args[0])
        .unwrap();
    println!("ready");
    accept(&mut server);
    let baseline = common::open_handles().len();
    let (mut total, mut highest, mut all_tags) = (0, baseline, true);
    let mut buf = [0u8; 64];
    while total < FLOOD {
        let n = server.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        all_tags &= buf[..n].iter().all(|&b| b == b'H');
        total += n;
        highest = highest.max(common::open_handles().len());
    }
    let last = common::open_handles().len();
    println!("bytes {total} tags {all_tags} baseline {baseline} highest {highest} last {last}");
}

/// A client that sends `FLOOD` one-byte writes, each carrying a handle.
fn handle_flooder(args: &[String]) {
    let mut client = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .open(&args[0])
        .unwrap();
    let (_r, w) = pipework::pipe::create().unwrap();
    for _ in 0..FLOOD {
        client.send_handle(&w).unwrap();
    }
}

/// A client (of this user) that opens the pipe once told to on stdin, and writes `hello`.
fn client_on_go(args: &[String]) {
    println!("started");
    let mut go = String::new();
    io::stdin().read_line(&mut go).unwrap();
    match ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .open(&args[0])
    {
        Ok(mut c) => {
            c.write_all(b"hello").unwrap();
            println!("ok");
        }
        Err(e) => println!("{:?} {e}", e.kind()),
    }
}

/// The abstract addresses a client of process `args[0]` would have bound before they were made
/// unpredictable (`pipework-np1 ACCESS PID COUNTER`): bound here, held until stdin closes.
fn address_squatter(args: &[String]) {
    use rustix::net::{bind, socket, AddressFamily, SocketAddrUnix, SocketType};
    let pid = &args[0];
    let mut held = Vec::new();
    for access in ["rw", "r", "w", "-"] {
        for counter in 0..64 {
            let name = format!("pipework-np1 {access} {pid} {counter}");
            let fd = socket(AddressFamily::UNIX, SocketType::STREAM, None).unwrap();
            let addr = SocketAddrUnix::new_abstract_name(name.as_bytes()).unwrap();
            bind(&fd, &addr).unwrap();
            held.push(fd);
        }
    }
    println!("bound {}", held.len());
    let mut rest = Vec::new();
    let _ = io::stdin().read_to_end(&mut rest);
}

/// Another user's process that creates the global pipe `args[0]` first, with `args[1]`
/// instances open to everyone, then admits `args[2]` clients one after the other on its first
/// instance (reporting what each wrote); it holds the pipe until stdin closes.
fn squatter(args: &[String]) {
    let instances: usize = args[1].parse().unwrap();
    let serve: usize = args[2].parse().unwrap();
    let mut options = ServerOptions::new();
    options.global(true).allow_everyone();
    let mut servers: Vec<NamedPipeServer> = (0..instances)
        .map(|_| options.create(&args[0]).unwrap())
        .collect();
    println!("ready");
    for _ in 0..serve {
        let server = &mut servers[0];
        accept(server);
        let mut hello = [0u8; 5];
        server.read_exact(&mut hello).unwrap();
        println!("got {}", String::from_utf8_lossy(&hello));
        server.disconnect().unwrap();
    }
    let mut rest = Vec::new();
    let _ = io::stdin().read_to_end(&mut rest);
}

// ---- tests ----

/// A child sends 10,000 one-byte writes, each with a handle, to a server in another child. A server that accepts no handles
/// keeps none: its handle count stays flat and every byte arrives. One that accepts 4 keeps 4.
fn handles_are_refused_unless_asked_for() {
    for accept_n in [0usize, 4] {
        let name = unique(&format!("flood-{accept_n}"));
        let (c, mut out) = spawn("handle_counter", &[&name, &accept_n.to_string()], false);
        assert_eq!(line(&mut out), "ready");
        let (flooder, _) = spawn("handle_flooder", &[&name], false);
        let report = line(&mut out);
        finish(flooder);
        finish(c);
        assert_eq!(number(&report, "bytes"), FLOOD, "{report}");
        assert!(report.contains("tags true"), "{report}");
        let baseline = number(&report, "baseline");
        assert!(
            number(&report, "highest") <= baseline + accept_n,
            "{report}"
        );
        assert_eq!(number(&report, "last"), baseline + accept_n, "{report}");
    }
}

/// A server that never calls `connect`: a client's open completes at once all the same (Win32
/// completes `CreateFile` on a listening instance), and takes the instance; the next open, with
/// a time limit or on a pipe whose server set a default timeout, ends in time, busy or
/// `TimedOut`, naming the pipe.
fn open_ends_in_time_when_the_server_never_connects() {
    let in_time = |e: &io::Error, name: &str| {
        assert!(
            named_pipe::is_busy(e) || e.kind() == ErrorKind::TimedOut,
            "{e}"
        );
        assert!(e.to_string().contains(name), "{e}");
    };
    let name = unique("mute");
    let _server = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let first = {
        let name = name.clone();
        bounded(move || ClientOptions::new().open(&name)).expect("the open completes at once")
    };
    let mut options = ClientOptions::new();
    options.wait(WaitTimeout::After(Duration::from_millis(200)));
    in_time(&open_error(&name, options), &name);
    drop(first);

    // No time limit of the caller's: the pipe's default timeout bounds the open.
    let name = unique("mute-default");
    let _server = ServerOptions::new()
        .max_instances(1)
        .default_timeout(Duration::from_millis(200))
        .create(&name)
        .unwrap();
    let first = {
        let name = name.clone();
        bounded(move || ClientOptions::new().open(&name)).expect("the open completes at once")
    };
    let mut options = ClientOptions::new();
    options.wait(WaitTimeout::Default);
    in_time(&open_error(&name, options), &name);
    drop(first);

    #[cfg(feature = "tokio")]
    {
        let name = unique("mute-async");
        let _server = ServerOptions::new().max_instances(1).create(&name).unwrap();
        let e = bounded(move || {
            common::runtime().block_on(async {
                let _first = ClientOptions::new()
                    .open_async(&name)
                    .await
                    .expect("the open completes at once");
                ClientOptions::new()
                    .wait(WaitTimeout::After(Duration::from_millis(200)))
                    .open_async(&name)
                    .await
                    .map(drop)
                    .unwrap_err()
            })
        });
        in_time(&e, "mute-async");
    }
}

/// A client that names the server's user refuses another at once, from the socket's
/// credentials, even when it would wait for ever and the server never answers.
fn server_identity_is_checked_before_the_handshake() {
    let name = unique("identity");
    let _server = ServerOptions::new().create(&name).unwrap();
    let mut options = ClientOptions::new();
    options.wait(WaitTimeout::Forever).server_uid(12345);
    let e = open_error(&name, options);
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("12345"), "{e}");
    assert!(e.to_string().contains(&name), "{e}");

    #[cfg(feature = "tokio")]
    {
        let name = unique("identity-async");
        let _server = ServerOptions::new().create(&name).unwrap();
        let e = bounded(move || {
            common::runtime().block_on(async {
                ClientOptions::new()
                    .wait(WaitTimeout::Forever)
                    .server_uid(12345)
                    .open_async(&name)
                    .await
                    .map(drop)
                    .unwrap_err()
            })
        });
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    }
}

/// `Duration::MAX` means no limit: in a wait, in an open's wait, as a pipe's default timeout.
fn huge_timeouts_saturate() {
    let name = unique("max");
    let mut server = ServerOptions::new()
        .max_instances(1)
        .default_timeout(Duration::MAX)
        .create(&name)
        .unwrap();
    named_pipe::wait(&name, WaitTimeout::After(Duration::MAX)).unwrap();
    named_pipe::wait(&name, WaitTimeout::Default).unwrap();
    assert!(named_pipe::list()
        .unwrap()
        .iter()
        .any(|p| p.name.ends_with("-max")));

    // A client that waits with the pipe's default (no limit) gets in (and writes, so that it
    // is no client that came and went before the server's connect).
    let opener = {
        let name = name.clone();
        std::thread::spawn(move || {
            ClientOptions::new()
                .wait(WaitTimeout::Default)
                .open(&name)?
                .write_all(b"!")
        })
    };
    accept(&mut server);
    opener.join().unwrap().unwrap();
    server.disconnect().unwrap();

    // The instance is busy: a client waiting `After(Duration::MAX)` gets in once it is free.
    let (c, mut out) = spawn("client_on_go", &[&name], false);
    assert_eq!(line(&mut out), "started");
    c.stdin.as_ref().unwrap().write_all(b"go\n").unwrap();
    accept(&mut server);
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"hello");
    assert_eq!(line(&mut out), "ok");
    let opener = {
        let name = name.clone();
        std::thread::spawn(move || {
            let mut client = ClientOptions::new()
                .wait(WaitTimeout::After(Duration::MAX))
                .open(&name)?;
            client.write_all(b"later")
        })
    };
    finish(c);
    server.disconnect().unwrap();
    accept(&mut server);
    let mut later = [0u8; 5];
    server.read_exact(&mut later).unwrap();
    assert_eq!(&later, b"later");
    opener.join().unwrap().unwrap();

    #[cfg(feature = "tokio")]
    {
        let name2 = name.clone();
        let opener = std::thread::spawn(move || {
            common::runtime().block_on(async {
                named_pipe::wait_async(&name2, WaitTimeout::After(Duration::MAX)).await?;
                ClientOptions::new()
                    .wait(WaitTimeout::After(Duration::MAX))
                    .open_async(&name2)
                    .await?
                    .get_mut()
                    .write_all(b"!")
            })
        });
        server.disconnect().unwrap();
        accept(&mut server);
        opener.join().unwrap().unwrap();
    }
}

/// The addresses a client binds cannot be predicted: another process holding every address the
/// old scheme would have given a client (its pid and a counter) does not stop its opens.
fn taken_client_addresses_do_not_stop_an_open() {
    addresses_taken_by(false);
}

fn another_user_holds_client_addresses() {
    assert_root();
    addresses_taken_by(true);
}

fn addresses_taken_by(nobody: bool) {
    let name = unique(if nobody { "addr-nobody" } else { "addr" });
    let mut server = ServerOptions::new().allow_everyone().create(&name).unwrap();
    let (c, mut out) = spawn("client_on_go", &[&name], false);
    assert_eq!(line(&mut out), "started");
    let pid = c.id().to_string();
    let (squatter, mut squatter_out) = spawn("address_squatter", &[&pid], nobody);
    assert_eq!(line(&mut squatter_out), "bound 256");
    c.stdin.as_ref().unwrap().write_all(b"go\n").unwrap();
    accept(&mut server);
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"hello");
    assert_eq!(line(&mut out), "ok");
    finish(c);
    finish(squatter);
}

fn assert_root() {
    assert_eq!(
        rustix::process::geteuid().as_raw(),
        0,
        "this test drops a child to uid nobody: it must run as root (as CI does)"
    );
}

/// Makes sure the global namespace exists, created by root, before another user uses it.
fn prime_global_namespace() {
    drop(
        ServerOptions::new()
            .global(true)
            .create(&unique("prime"))
            .unwrap(),
    );
}

/// Another user's global pipe: a client that names no server identity is refused, naming the
/// pipe and its owner, without connecting; naming that user, or any owner, reaches it.
fn clients_reach_only_trusted_owners() {
    assert_root();
    prime_global_namespace();
    let name = unique("trust");
    let (s, mut s_out) = spawn("squatter", &[&name, "1", "2"], true);
    assert_eq!(line(&mut s_out), "ready");

    let e = open_error(&name, ClientOptions::new());
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let text = e.to_string();
    assert!(text.contains(&name[r"\\.\pipe\".len()..]), "{text}");
    assert!(text.contains("uid 65534"), "{text}");

    for trusting in [true, false] {
        let name = name.clone();
        bounded(move || {
            let mut options = ClientOptions::new();
            options.wait(WaitTimeout::After(TIMEOUT));
            if trusting {
                options.server_uid(NOBODY);
            } else {
                options.any_server_owner();
            }
            let mut client = options.open(&name).unwrap();
            assert_eq!(client.server().uid, NOBODY);
            client.write_all(b"hello").unwrap();
        });
        assert_eq!(line(&mut s_out), "got hello");
    }
    finish(s);
}

/// Another user's global pipe whose server never connects anyone: a client that expects root
/// is refused at once, even waiting for ever; once every instance holds a client the server
/// never takes, a client that trusts any owner but set a time limit ends in time.
fn squatter_that_never_answers() {
    assert_root();
    prime_global_namespace();
    let name = unique("mute-squatter");
    let (s, mut s_out) = spawn("squatter", &[&name, "2", "0"], true);
    assert_eq!(line(&mut s_out), "ready");

    // The first client's open completes at once (as in Win32) and takes an instance.
    let first = {
        let name = name.clone();
        bounded(move || ClientOptions::new().any_server_owner().open(&name))
            .expect("the open completes at once")
    };
    // The other instance: its server is not root, refused from its credentials (the refused
    // connection stays queued there, the squatter never taking it).
    let mut options = ClientOptions::new();
    options.server_uid(0).wait(WaitTimeout::Forever);
    let e = open_error(&name, options);
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("uid 65534"), "{e}");

    let mut options = ClientOptions::new();
    options
        .any_server_owner()
        .wait(WaitTimeout::After(Duration::from_millis(300)));
    let e = open_error(&name, options);
    assert!(
        named_pipe::is_busy(&e) || e.kind() == ErrorKind::TimedOut,
        "{e}"
    );
    assert!(e.to_string().contains("mute-squatter"), "{e}");
    drop(first);
    finish(s);
}
