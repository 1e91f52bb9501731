//! Win32 behaviours of issue 18 points 1, 4 and 5, across real processes: a client's open
//! before the server's connect, the disconnect as the client sees it, buffer sizes as quotas.

use super::*;
use std::os::fd::AsFd as _;

/// Tells a child (blocked in [`go`]) to go on.
fn tell(c: &Child, word: &str) {
    let mut stdin = c.stdin.as_ref().expect("piped stdin");
    writeln!(stdin, "{word}").unwrap();
}

/// Child side: waits for the parent's word.
fn go() -> String {
    let mut s = String::new();
    std::io::stdin().read_line(&mut s).unwrap();
    s.trim_end().to_string()
}

// ---- point 1: the open completes before ConnectNamedPipe ----

/// Child: opens `args[0]` (the server has not called connect), writes "early" and says so;
/// then reads the server's answer. With `args[1] == "async"`, through the tokio client.
pub(super) fn client_open_write_early(args: &[String]) {
    #[cfg(feature = "tokio")]
    if args.get(1).map(String::as_str) == Some("async") {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        common::runtime().block_on(async {
            let mut c = ClientOptions::new().open_async(&args[0]).await.unwrap();
            c.write_all(b"early").await.unwrap();
            println!("opened");
            let mut answer = [0u8; 6];
            c.read_exact(&mut answer).await.unwrap();
            println!("{}", String::from_utf8_lossy(&answer));
        });
        return;
    }
    // No waiting asked: the open must find the instance listening and complete at once.
    let mut c = NamedPipeClient::open(&args[0]).unwrap();
    c.write_all(b"early").unwrap();
    println!("opened");
    let mut answer = [0u8; 6];
    c.read_exact(&mut answer).unwrap();
    println!("{}", String::from_utf8_lossy(&answer));
}

/// `CreateFile` succeeds as soon as an instance listens, before `ConnectNamedPipe`: the client
/// writes at once and the data waits; the server's connect then reports the client already
/// there (`ERROR_PIPE_CONNECTED`, a success: `Connected::AlreadyConnected`). Blocking and
/// tokio, on both ends.
pub(super) fn open_before_connect_succeeds_and_connect_reports_pipe_connected() {
    let clients: &[&str] = if cfg!(feature = "tokio") {
        &["blocking", "async"]
    } else {
        &["blocking"]
    };
    for &client in clients {
        let name = unique(&format!("early-{client}"));
        let mut server = ServerOptions::new().create(&name).unwrap();
        let (c, mut out) = spawn("client_open_write_early", &[&name, client]);
        // The child's open completed and its write went while this server has not connected.
        assert_eq!(line(&mut out), "opened");
        assert!(!server.is_connected());
        assert_eq!(server.connect().unwrap(), Connected::AlreadyConnected);
        assert!(server.is_connected());
        let mut early = [0u8; 5];
        server.read_exact(&mut early).unwrap();
        assert_eq!(&early, b"early");
        server.write_all(b"answer").unwrap();
        assert_eq!(line(&mut out), "answer");
        finish(c);
    }
    // The tokio server: its connect reports the waiting client the same way.
    #[cfg(feature = "tokio")]
    common::runtime().block_on(async {
        let name = unique("early-async-server");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut server = ServerOptions::new().create_async(&name).unwrap();
        let (c, mut out) = spawn("client_open_write_early", &[&name, "blocking"]);
        assert_eq!(line(&mut out), "opened");
        assert_eq!(server.connect().await.unwrap(), Connected::AlreadyConnected);
        let mut early = [0u8; 5];
        server.read_exact(&mut early).await.unwrap();
        assert_eq!(&early, b"early");
        server.write_all(b"answer").await.unwrap();
        assert_eq!(line(&mut out), "answer");
        finish(c);
    });
}

/// Child: opens `args[0]`, writes `args[1]` (as one message on a message pipe) unless it is
/// empty, and exits, all before the server connects.
pub(super) fn client_write_and_leave(args: &[String]) {
    let mut c = NamedPipeClient::open(&args[0]).unwrap();
    if !args[1].is_empty() {
        c.write_message(args[1].as_bytes()).unwrap();
    }
    println!("left");
}

/// A client that came, wrote and closed before `ConnectNamedPipe` leaves its data: the server
/// connects it, reads it, then finds the end (`ERROR_BROKEN_PIPE` / end of data). One that came
/// and went without writing makes the connect fail with `ERROR_NO_DATA` (`BrokenPipe`).
pub(super) fn client_gone_before_connect_leaves_its_data_then_the_end() {
    let name = unique("parting");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_write_and_leave", &[&name, "parting words"]);
    assert_eq!(line(&mut out), "left");
    finish(c);
    assert_eq!(server.connect().unwrap(), Connected::AlreadyConnected);
    let mut all = Vec::new();
    server.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"parting words");
    assert_eq!(server.read(&mut [0u8; 8]).unwrap(), 0);
    server.disconnect().unwrap();

    // On a message pipe: the message, then the end.
    let name = unique("parting-message");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let (c, mut out) = spawn("client_write_and_leave", &[&name, "last message"]);
    assert_eq!(line(&mut out), "left");
    finish(c);
    assert_eq!(server.connect().unwrap(), Connected::AlreadyConnected);
    let mut message = Vec::new();
    assert_eq!(
        server.read_message_to_end(&mut message).unwrap(),
        MessageRead::Complete(12)
    );
    assert_eq!(message, b"last message");
    let mut buf = [0u8; 8];
    assert_eq!(server.read_message(&mut buf).unwrap(), MessageRead::End);

    // Came and went with nothing written: ERROR_NO_DATA, and the instance listens again.
    let name = unique("came-went");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_write_and_leave", &[&name, ""]);
    assert_eq!(line(&mut out), "left");
    finish(c);
    let e = server.connect().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
    assert!(e.to_string().contains("came and went"), "{e}");
    // The instance is busy until its next connect listens again; the disconnect a Win32
    // server calls in between succeeds, once.
    assert!(named_pipe::is_busy(
        &NamedPipeClient::open(&name).unwrap_err()
    ));
    server.disconnect().unwrap();
    assert!(named_pipe::is_not_connected(
        &server.disconnect().unwrap_err()
    ));
    server.set_nonblocking(true).unwrap();
    assert_eq!(server.connect().unwrap_err().kind(), ErrorKind::WouldBlock);
    server.set_nonblocking(false).unwrap();
    let (c, mut out) = spawn("client_write_and_leave", &[&name, "again"]);
    assert_eq!(line(&mut out), "left");
    finish(c);
    assert_eq!(server.connect().unwrap(), Connected::AlreadyConnected);
    let mut again = Vec::new();
    server.read_to_end(&mut again).unwrap();
    assert_eq!(again, b"again");
}

/// The checks of a client's open hold before `ConnectNamedPipe`: another user the pipe does not
/// admit is refused at its open (`ERROR_ACCESS_DENIED`), and its connection never becomes the
/// server's client; the user it admits opens at once.
#[cfg(feature = "interop")]
pub(super) fn open_before_connect_still_refuses_a_stranger() {
    assert_eq!(
        rustix::process::geteuid().as_raw(),
        0,
        "this test drops a child to uid nobody: it must run as root (as CI does)"
    );
    let name = unique("stranger-early");
    let mut server = ServerOptions::new()
        .global(true)
        .allow_user(4242)
        .create(&name)
        .unwrap();
    let mut c = child("client_try_open")
        .arg(&name)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a child as nobody (the test needs root, as in CI)");
    let mut out = BufReader::new(c.stdout.take().unwrap());
    assert_eq!(line(&mut out), "PermissionDenied");
    assert!(wait(&mut c).success());
    server.set_nonblocking(true).unwrap();
    assert_eq!(server.connect().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(!server.is_connected());
    drop(server);

    let mut server = ServerOptions::new()
        .global(true)
        .allow_user(NOBODY)
        .create(&name)
        .unwrap();
    let mut c = child("client_write_and_leave")
        .args([name.as_str(), "admitted"])
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    assert_eq!(line(&mut out), "left");
    assert!(wait(&mut c).success());
    assert_eq!(server.connect().unwrap(), Connected::AlreadyConnected);
    assert_eq!(server.client().unwrap().uid, NOBODY);
    let mut all = Vec::new();
    server.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"admitted");
}

// ---- point 4: the disconnect as the client sees it ----

/// Child: opens `args[0]` (message-read mode if `args[1]` is `message`), reads the server's
/// "bye", waits for the word, then reports how a read, a peek and a write end. With `args[1]`
/// `async`, the reads and writes go through the tokio client.
pub(super) fn client_after_disconnect(args: &[String]) {
    let mode = args[1].as_str();
    #[cfg(feature = "tokio")]
    if mode == "async" {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        common::runtime().block_on(async {
            let mut c = ClientOptions::new().open_async(&args[0]).await.unwrap();
            let mut bye = [0u8; 3];
            c.read_exact(&mut bye).await.unwrap();
            println!("{}", String::from_utf8_lossy(&bye));
            go();
            let read = c.read(&mut [0u8; 8]).await;
            let write = c.write_all(b"late").await;
            let peek = c.get_mut().peek(&mut [0u8; 8]);
            println!("{}", outcome(read.map(|n| n.to_string())));
            println!("{}", outcome(peek.map(|p| p.available.to_string())));
            println!("{}", outcome(write.map(|()| "written".to_string())));
        });
        return;
    }
    let mut options = ClientOptions::new();
    if mode == "message" {
        options.pipe_mode(PipeMode::Message);
    }
    let mut c = options.open(&args[0]).unwrap();
    let mut bye = [0u8; 3];
    if mode == "message" {
        assert_eq!(c.read_message(&mut bye).unwrap(), MessageRead::Complete(3));
    } else {
        c.read_exact(&mut bye).unwrap();
    }
    println!("{}", String::from_utf8_lossy(&bye));
    go();
    let read = if mode == "message" {
        c.read_message(&mut [0u8; 8]).map(|r| format!("{r:?}"))
    } else {
        c.read(&mut [0u8; 8]).map(|n| n.to_string())
    };
    println!("{}", outcome(read));
    println!(
        "{}",
        outcome(c.peek(&mut [0u8; 8]).map(|p| p.available.to_string()))
    );
    let write = if mode == "message" {
        c.write_message(b"late")
    } else {
        c.write_all(b"late")
    };
    println!("{}", outcome(write.map(|()| "written".to_string())));
    // And it stays so.
    println!("{}", outcome(c.read(&mut [0u8; 8]).map(|n| n.to_string())));
}

/// An operation's result as a word: its value, or its error's kind.
fn outcome(result: std::io::Result<String>) -> String {
    match result {
        Ok(v) => v,
        Err(e) => kind_name(&e),
    }
}

/// After `DisconnectNamedPipe` the client's reads, writes and peeks fail with
/// `ERROR_PIPE_NOT_CONNECTED` (`NotConnected`, `named_pipe::is_not_connected`), not the end of
/// data or `BrokenPipe`; byte and message pipes, blocking and tokio clients.
pub(super) fn disconnect_makes_client_io_pipe_not_connected() {
    let modes: &[&str] = if cfg!(feature = "tokio") {
        &["byte", "message", "async"]
    } else {
        &["byte", "message"]
    };
    for &mode in modes {
        let name = unique(&format!("dropped-{mode}"));
        let pipe_mode = if mode == "message" {
            PipeMode::Message
        } else {
            PipeMode::Byte
        };
        let mut server = ServerOptions::new()
            .pipe_mode(pipe_mode)
            .create(&name)
            .unwrap();
        let (c, mut out) = spawn("client_after_disconnect", &[&name, mode]);
        accept(&mut server);
        server.write_message(b"bye").unwrap();
        assert_eq!(line(&mut out), "bye");
        server.disconnect().unwrap();
        tell(&c, "go");
        assert_eq!(line(&mut out), "NotConnected", "{mode}: read");
        assert_eq!(line(&mut out), "NotConnected", "{mode}: peek");
        assert_eq!(line(&mut out), "NotConnected", "{mode}: write");
        if mode != "async" {
            assert_eq!(line(&mut out), "NotConnected", "{mode}: read again");
        }
        finish(c);
    }
}

/// Child: opens `args[0]`, reads the server's "bye", waits for the word (the server has closed
/// its instance meanwhile), then reports how a read, a peek and a write end.
pub(super) fn client_after_close(args: &[String]) {
    client_after_close_here(super::open(&args[0]));
}

/// [`client_after_close`] on an open client.
fn client_after_close_here(mut c: NamedPipeClient) {
    let mut bye = [0u8; 3];
    c.read_exact(&mut bye).unwrap();
    println!("{}", String::from_utf8_lossy(&bye));
    go();
    println!("{}", outcome(c.read(&mut [0u8; 8]).map(|n| n.to_string())));
    println!(
        "{}",
        outcome(c.peek(&mut [0u8; 8]).map(|p| p.available.to_string()))
    );
    println!(
        "{}",
        outcome(c.write_all(b"late").map(|()| "written".to_string()))
    );
}

/// A server that closes its instance (or dies) is not a disconnect: the client reads the end of
/// data and its writes fail with `BrokenPipe` (`ERROR_BROKEN_PIPE` / `ERROR_NO_DATA`); a peek on
/// the drained end fails too instead of reporting zeros, on either end.
pub(super) fn server_close_is_broken_pipe_and_peek_on_a_drained_end_fails() {
    let name = unique("closed");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_after_close", &[&name]);
    accept(&mut server);
    server.write_all(b"bye").unwrap();
    assert_eq!(line(&mut out), "bye");
    drop(server);
    tell(&c, "go");
    assert_eq!(line(&mut out), "0");
    assert_eq!(line(&mut out), "BrokenPipe");
    assert_eq!(line(&mut out), "BrokenPipe");
    finish(c);

    // The server's end: what the client wrote is seen, then the peek fails.
    let name = unique("peek-drained");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_write_and_leave", &[&name, "xy"]);
    assert_eq!(line(&mut out), "left");
    finish(c);
    accept(&mut server);
    let mut buf = [0u8; 8];
    let seen = server.peek(&mut buf).unwrap();
    assert_eq!((seen.read, seen.available), (2, 2));
    server.read_exact(&mut buf[..2]).unwrap();
    let e = server.peek(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
    assert!(e.to_string().contains(&name), "{e}");
}

/// Child: opens `args[0]` and peeks first (so the server's data comes on the rings), says
/// "ready", reads the server's "bye", waits for the word (the server has closed its instance
/// meanwhile), then reports how a read, a peek and a write end.
pub(super) fn client_after_close_on_rings(args: &[String]) {
    let mut c = super::open(&args[0]);
    assert_eq!(c.peek(&mut [0u8; 8]).unwrap().available, 0);
    println!("ready");
    client_after_close_here(c);
}

/// The closed server's copy of its socket that a process being started holds until its
/// `exec` does not keep the instance open: once the client read the end of data from the
/// ring, its write fails with `BrokenPipe` too (it went on the socket, which that copy still
/// held open).
pub(super) fn server_close_is_broken_pipe_while_a_copy_of_its_socket_lives() {
    let name = unique("closed-copied");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_after_close_on_rings", &[&name]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ready");
    server.write_all(b"bye").unwrap();
    assert_eq!(line(&mut out), "bye");
    assert!(server.shared_memory_in_use());
    // What a child being spawned by another thread holds until its exec closes it.
    let copy = server.as_fd().try_clone_to_owned().unwrap();
    drop(server);
    tell(&c, "go");
    assert_eq!(line(&mut out), "0");
    assert_eq!(line(&mut out), "BrokenPipe");
    assert_eq!(line(&mut out), "BrokenPipe");
    drop(copy);
    finish(c);
}

/// Child: connects to the socket `args[0]` as a plain Unix-domain socket client (socat, Python),
/// reads the server's "bye", then reports what its next read gets.
pub(super) fn foreign_after_disconnect(args: &[String]) {
    let mut s = UnixStream::connect(&args[0]).unwrap();
    let mut bye = [0u8; 3];
    s.read_exact(&mut bye).unwrap();
    println!("{}", String::from_utf8_lossy(&bye));
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    println!("end after {}", rest.len());
}

/// A foreign client (no pipework on its side) is told nothing of the disconnect: it gets
/// exactly the bytes written, then the plain end of its socket.
pub(super) fn foreign_client_sees_the_plain_end_after_disconnect() {
    let name = unique("foreign-dropped");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let path = server.socket_path();
    let (c, mut out) = spawn("foreign_after_disconnect", &[path.to_str().unwrap()]);
    accept(&mut server);
    server.write_all(b"bye").unwrap();
    assert_eq!(line(&mut out), "bye");
    server.disconnect().unwrap();
    assert_eq!(line(&mut out), "end after 0");
    finish(c);
}

// ---- point 5: buffer sizes are quotas ----

/// Child: opens `args[0]`, prints what `info` says, then serves the parent's words: `read N
/// SIZE` reads N messages and checks each is SIZE bytes, `bytes N` reads N bytes, `peek`
/// prints the bytes available, `quit` ends.
pub(super) fn client_quota_reader(args: &[String]) {
    let mut c = super::open(&args[0]);
    let info = c.info().unwrap();
    println!(
        "info {} {:?} {} {} {:?}",
        info.server_end, info.pipe_mode, info.out_buffer, info.in_buffer, info.max_instances
    );
    loop {
        let word = go();
        let parts: Vec<&str> = word.split(' ').collect();
        match parts[0] {
            "read" => {
                let n: usize = parts[1].parse().unwrap();
                let size: usize = parts[2].parse().unwrap();
                let mut buf = vec![0u8; size + 1];
                for i in 0..n {
                    match c.read_message(&mut buf).unwrap() {
                        MessageRead::Complete(got) => {
                            assert_eq!(got, size, "message {i}");
                            assert!(buf[..got] == pattern(size, i as u8)[..], "message {i}");
                        }
                        other => panic!("message {i}: {other:?}"),
                    }
                }
                println!("read {n}");
            }
            "bytes" => {
                let n: usize = parts[1].parse().unwrap();
                let got = common::read_exact(&mut c, n);
                assert!(got.iter().all(|&b| b == 7));
                println!("bytes {n}");
            }
            "peek" => println!("peek {}", c.peek(&mut [0u8; 8]).unwrap().available),
            _ => return,
        }
    }
}

/// Child: opens `args[0]` in nonblocking mode and writes a message larger than the pipe's
/// inbound buffer (nothing goes: `WouldBlock`), then a small one (it goes).
pub(super) fn client_quota_writer(args: &[String]) {
    let mut c = ClientOptions::new()
        .nonblocking(true)
        .pipe_mode(PipeMode::Message)
        .open(&args[0])
        .unwrap();
    let info = c.info().unwrap();
    let big = vec![1u8; 8 * info.in_buffer.max(1)];
    println!(
        "{}",
        outcome(c.write_message(&big).map(|()| "written".into()))
    );
    println!(
        "{}",
        outcome(c.write_message(b"small").map(|()| "written".into()))
    );
    go();
}

/// Buffer sizes are quotas: a nonblocking (`PIPE_NOWAIT`) message write that does not fit the
/// pipe's buffer writes nothing, a byte write writes what fits, and blocking writes wait until
/// the reader drains; `GetNamedPipeInfo` reports the sizes granted, on both ends.
pub(super) fn buffer_sizes_are_quotas_and_get_named_pipe_info_reports_them() {
    const OUT: usize = 16 * 1024;
    const IN: usize = 8 * 1024;
    let name = unique("quota");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .out_buffer_size(OUT as u32)
        .in_buffer_size(IN as u32)
        .max_instances(3)
        .create(&name)
        .unwrap();
    let info = server.info().unwrap();
    assert!(info.server_end);
    assert_eq!(info.pipe_mode, PipeMode::Message);
    assert_eq!((info.out_buffer, info.in_buffer), (OUT, IN));
    assert_eq!(info.max_instances, Some(3));
    let (c, mut out) = spawn("client_quota_reader", &[&name]);
    accept(&mut server);
    assert_eq!(
        server.info().unwrap(),
        info,
        "the sizes granted to the connection"
    );
    assert_eq!(
        line(&mut out),
        format!("info false Message {OUT} {IN} Some(3)")
    );

    server.set_nonblocking(true).unwrap();
    // A message larger than the whole buffer: nothing is written.
    let e = server.write_message(&vec![9u8; 4 * OUT]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    // Messages until the buffer is full: each goes whole, or not at all.
    let mut sent = 0;
    loop {
        match server.write_message(&pattern(1000, sent as u8)) {
            Ok(()) => sent += 1,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("write: {e}"),
        }
        assert!(
            sent * 1000 <= 4 * OUT,
            "{sent} messages went into a {OUT}-byte buffer"
        );
    }
    assert!(sent > 0);
    tell(&c, &format!("read {sent} 1000"));
    assert_eq!(line(&mut out), format!("read {sent}"));
    tell(&c, "peek");
    assert_eq!(
        line(&mut out),
        "peek 0",
        "nothing of the refused messages went"
    );

    // A blocking write of the large message waits until the client drains it.
    server.set_nonblocking(false).unwrap();
    tell(&c, &format!("read 1 {}", 4 * OUT));
    server.write_message(&pattern(4 * OUT, 0)).unwrap();
    assert_eq!(line(&mut out), "read 1");
    tell(&c, "quit");
    finish(c);

    // Byte mode: a nonblocking write takes what fits.
    let name = unique("quota-bytes");
    let mut server = ServerOptions::new()
        .out_buffer_size(OUT as u32)
        .create(&name)
        .unwrap();
    let (c, mut out) = spawn("client_quota_reader", &[&name]);
    accept(&mut server);
    let _ = line(&mut out);
    server.set_nonblocking(true).unwrap();
    let n = server.write(&vec![7u8; 16 * OUT]).unwrap();
    assert!(n > 0 && n < 16 * OUT, "{n} of {} bytes", 16 * OUT);
    tell(&c, &format!("bytes {n}"));
    assert_eq!(line(&mut out), format!("bytes {n}"));
    tell(&c, "peek");
    assert_eq!(line(&mut out), "peek 0");
    tell(&c, "quit");
    finish(c);

    // The client's side: its nonblocking message writes obey the pipe's inbound buffer.
    let name = unique("quota-in");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .in_buffer_size(IN as u32)
        .create(&name)
        .unwrap();
    let (c, mut out) = spawn("client_quota_writer", &[&name]);
    assert_eq!(line(&mut out), "WouldBlock");
    assert_eq!(line(&mut out), "written");
    accept(&mut server);
    let mut buf = [0u8; 16];
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(5)
    );
    assert_eq!(&buf[..5], b"small");
    tell(&c, "quit");
    finish(c);
}
