//! The shared-memory ring path: a pipework server and a pipework client (rings on by default)
//! move their data through rings once each direction's reader has read through the API, with
//! every named-pipe behaviour of the socket path; either side turning them off keeps the socket.

use super::*;

fn ring_server(name: &str, mode: PipeMode) -> NamedPipeServer {
    ServerOptions::new()
        .pipe_mode(mode)
        .shared_memory(true)
        .create(name)
        .unwrap()
}

fn ring_open(name: &str) -> NamedPipeClient {
    ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(true)
        .open(name)
        .unwrap()
}

/// Child: opens `args[0]` with rings (unless `args[1]` is `off`), echoes `args[2]` bytes (byte
/// stream) back `args[3]` times, says whether rings are in use, then reads to the end.
pub(super) fn ring_client_echo(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(args[1] != "off")
        .open(&args[0])
        .unwrap();
    let n: usize = args[2].parse().unwrap();
    let rounds: usize = args[3].parse().unwrap();
    let mut got = vec![0u8; n];
    for _ in 0..rounds {
        c.read_exact(&mut got).unwrap();
        c.write_all(&got).unwrap();
    }
    println!("{}", c.shared_memory_in_use());
    // The server's disconnect: NotConnected, with nothing before it.
    let mut rest = Vec::new();
    assert!(named_pipe::is_not_connected(
        &c.read_to_end(&mut rest).unwrap_err()
    ));
    assert!(rest.is_empty());
    println!("ok");
}

/// Child: the message side of [`messages_on_rings`].
pub(super) fn ring_client_messages(args: &[String]) {
    let mut c = ring_open(&args[0]);
    assert_eq!(c.pipe_mode(), PipeMode::Message);
    // Each side reads once: both directions move to their rings.
    let mut go = [0u8; 8];
    assert_eq!(c.read_message(&mut go).unwrap(), MessageRead::Complete(2));
    c.write_message(b"ready").unwrap();
    assert_eq!(c.read_message(&mut go).unwrap(), MessageRead::Complete(3));
    assert!(c.shared_memory_in_use());
    c.write_message(b"hello").unwrap();
    c.write_message(b"").unwrap();
    c.write_message(&pattern(100_000, 3)).unwrap();
    c.write_message(&pattern(3_000_000, 4)).unwrap(); // larger than a ring
    c.write_message(b"peek-me").unwrap();
    c.write_message(b"second").unwrap();
    c.flush().unwrap(); // returns once the server has read everything
    println!("flushed");
    // Byte-read mode (the client's default) reads across the server's messages.
    let mut all = [0u8; 6];
    c.read_exact(&mut all).unwrap();
    assert_eq!(&all, b"xyzuvw");
    // Transactions: message-read mode, nothing unread.
    c.set_read_mode(ReadMode::Message).unwrap();
    let mut reply = [0u8; 64];
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
    assert_eq!(
        c.transact(b"x", &mut reply).unwrap_err().kind(),
        ErrorKind::ResourceBusy
    );
    assert_eq!(
        c.read_message(&mut reply).unwrap(),
        MessageRead::Complete(4)
    );
    assert_eq!(&reply[..4], b"CDEF");
    // A handle, beside the rings.
    let fd = c.recv_handle().unwrap();
    let mut w = pipework::pipe::PipeWriter::try_from(fd).unwrap();
    w.write_all(b"through a ring pipe").unwrap();
    drop(w);
    // Nonblocking: nothing there is WouldBlock, then the server's message comes.
    c.set_nonblocking(true).unwrap();
    assert_eq!(
        c.read_message(&mut reply).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    println!("nonblocking");
    let got = loop {
        match c.read_message(&mut reply) {
            Ok(got) => break got,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(got, MessageRead::Complete(4));
    assert_eq!(&reply[..4], b"last");
    c.set_nonblocking(false).unwrap();
    // The server disconnects with data in flight: it arrives, then the end; writes fail.
    assert_eq!(
        c.read_message(&mut reply).unwrap(),
        MessageRead::Complete(9)
    );
    assert_eq!(&reply[..9], b"in flight");
    assert!(named_pipe::is_not_connected(
        &c.read_message(&mut reply).unwrap_err()
    ));
    assert!(named_pipe::is_not_connected(
        &c.write_message(b"late").unwrap_err()
    ));
    println!("ok");
}

/// Two ping-pongs: after them both directions are on their rings.
fn ping_pong(end: &mut (impl Read + Write), first: bool) {
    let mut got = [0u8; 4];
    for _ in 0..2 {
        if first {
            end.write_all(b"ping").unwrap();
            end.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"pong");
        } else {
            end.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");
            end.write_all(b"pong").unwrap();
        }
    }
}

/// Child: opens with rings, moves both directions to them, says so, writes "partial", then
/// blocks on stdin (to be killed).
pub(super) fn ring_client_hold(args: &[String]) {
    let mut c = ring_open(&args[0]);
    ping_pong(&mut c, false);
    println!("{}", c.shared_memory_in_use());
    c.write_all(b"partial").unwrap();
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// Child: a ring server for one client; moves both directions to the rings, writes "some" and
/// blocks (to be killed).
pub(super) fn ring_server_hold(args: &[String]) {
    let mut server = ring_server(&args[0], PipeMode::Byte);
    println!("ready");
    server.connect().unwrap();
    ping_pong(&mut server, true);
    println!("{}", server.shared_memory_in_use());
    server.write_all(b"some").unwrap();
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// Child: writes `args[1]` numbered messages without waiting for anything, then `args[1]` more
/// bytes' worth of numbered lines on a byte pipe `args[2]`... (see [`switch_keeps_order`]).
pub(super) fn ring_client_stream(args: &[String]) {
    let mut c = ring_open(&args[0]);
    let n: u32 = args[1].parse().unwrap();
    for i in 0..n {
        if c.pipe_mode() == PipeMode::Message {
            c.write_message(&i.to_le_bytes()).unwrap();
        } else {
            c.write_all(&i.to_le_bytes()).unwrap();
        }
    }
    // The server's answer once it has read everything, then the end.
    let mut done = [0u8; 4];
    c.read_exact(&mut done).unwrap();
    assert_eq!(&done, b"done");
    println!("{}", c.shared_memory_in_use());
}

/// Bytes both ways through the rings between two processes, peek and bytes available included,
/// then the client's close is the end of data.
pub(super) fn bytes_on_rings() {
    let name = unique("ring-bytes");
    let mut server = ring_server(&name, PipeMode::Byte);
    let n = 3_000_000; // three times a ring
    let (c, mut out) = spawn("ring_client_echo", &[&name, "on", &n.to_string(), "2"]);
    accept(&mut server);
    for round in 0..2u8 {
        let data = pattern(n, 9 + round);
        // The client reads while this writes: the write returns once all is in the pipe.
        server.write_all(&data).unwrap();
        // Peek: bytes available, without consuming them.
        let mut first = [0u8; 8];
        let info = loop {
            let info = server.peek(&mut first).unwrap();
            if info.available >= 8 {
                break info;
            }
            std::thread::yield_now();
        };
        assert_eq!(info.read, 8);
        assert_eq!(&first, &data[..8]);
        let mut back = vec![0u8; n];
        server.read_exact(&mut back).unwrap();
        assert!(back == data, "echo differs in round {round}");
    }
    // The first round moved both directions to their rings.
    assert!(server.shared_memory_in_use());
    assert_eq!(line(&mut out), "true");
    server.disconnect().unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

/// Messages through the rings: boundaries, 0-byte messages, more data, peek, byte-read mode,
/// flush, transact, handles beside the rings, nonblocking reads, disconnect with data in
/// flight.
pub(super) fn messages_on_rings() {
    let name = unique("ring-messages");
    let mut server = ring_server(&name, PipeMode::Message);
    let (c, mut out) = spawn("ring_client_messages", &[&name]);
    accept(&mut server);
    server.set_read_mode(ReadMode::Message).unwrap();
    server.write_message(b"go").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(5)
    );
    server.write_message(b"go!").unwrap();
    assert!(server.shared_memory_in_use());
    let mut buf = [0u8; 3];
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::MoreData { read: 3, left: 2 }
    );
    assert_eq!(&buf, b"hel");
    let mut buf = [0u8; 16];
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(2)
    );
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(0)
    );
    let mut big = Vec::new();
    assert_eq!(
        server.read_message_to_end(&mut big).unwrap(),
        MessageRead::Complete(100_000)
    );
    assert!(big == pattern(100_000, 3));
    big.clear();
    assert_eq!(
        server.read_message_to_end(&mut big).unwrap(),
        MessageRead::Complete(3_000_000)
    );
    assert!(big == pattern(3_000_000, 4));
    // Peek: the first message's start, all bytes available, what is left of the message.
    let info = loop {
        let mut small = [0u8; 4];
        let info = server.peek(&mut small).unwrap();
        if info.available == 13 {
            assert_eq!(&small, b"peek");
            break info;
        }
        std::thread::yield_now();
    };
    assert_eq!(info.read, 4);
    assert_eq!(info.left_in_message, 3);
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(7)
    );
    assert_eq!(&buf[..7], b"peek-me");
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(6)
    );
    assert_eq!(line(&mut out), "flushed");
    server.write_message(b"xyz").unwrap();
    server.write_message(b"").unwrap();
    server.write_message(b"uvw").unwrap();
    // Transactions from the client: answer each in upper case.
    for _ in 0..2 {
        let mut req = [0u8; 16];
        let MessageRead::Complete(n) = server.read_message(&mut req).unwrap() else {
            panic!("a whole request")
        };
        server
            .write_message(&req[..n].to_ascii_uppercase())
            .unwrap();
    }
    let (mut r, w) = pipework::pipe::create().unwrap();
    server.send_handle(&w).unwrap();
    drop(w);
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    assert_eq!(text, "through a ring pipe");
    assert_eq!(line(&mut out), "nonblocking");
    server.write_message(b"last").unwrap();
    server.write_message(b"in flight").unwrap();
    server.disconnect().unwrap();
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

/// A client killed with -9 while the server waits on the ring: an error, never a hang; and a
/// server killed while the client waits: the same.
pub(super) fn kill_9_on_rings_is_an_error() {
    let name = unique("ring-kill-client");
    let mut server = ring_server(&name, PipeMode::Byte);
    let (mut c, mut out) = spawn("ring_client_hold", &[&name]);
    accept(&mut server);
    ping_pong(&mut server, true);
    assert!(server.shared_memory_in_use());
    assert_eq!(line(&mut out), "true");
    let mut got = [0u8; 7];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"partial");
    c.kill().unwrap();
    let _ = wait(&mut c);
    // As on the socket: the end of data (the wait on the ring notices within a sleep slice),
    // then writes fail.
    let mut more = [0u8; 16];
    assert_eq!(server.read(&mut more).unwrap(), 0);
    let e = server.write_all(b"to nobody").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    assert!(e.to_string().contains(&name), "{e}");

    let name = unique("ring-kill-server");
    let (mut s, mut out) = spawn("ring_server_hold", &[&name]);
    assert_eq!(line(&mut out), "ready");
    let mut client = ring_open(&name);
    ping_pong(&mut client, false);
    assert!(client.shared_memory_in_use());
    assert_eq!(line(&mut out), "true");
    let mut got = [0u8; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"some");
    s.kill().unwrap();
    let _ = wait(&mut s);
    assert_eq!(client.read(&mut more).unwrap(), 0);
    assert_eq!(
        client.write_all(b"to nobody").unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
}

/// A client that writes without waiting while the server starts reading: its data moves from
/// the socket to the ring in the middle of the stream, and not one message or byte is lost,
/// doubled or reordered.
pub(super) fn switch_keeps_order() {
    for mode in [PipeMode::Message, PipeMode::Byte] {
        let name = unique("ring-switch");
        let mut server = ring_server(&name, mode);
        let n: u32 = 200_000;
        let (c, mut out) = spawn("ring_client_stream", &[&name, &n.to_string()]);
        accept(&mut server);
        let mut got = [0u8; 4];
        for i in 0..n {
            match mode {
                PipeMode::Message => assert_eq!(
                    server.read_message(&mut got).unwrap(),
                    MessageRead::Complete(4)
                ),
                PipeMode::Byte => server.read_exact(&mut got).unwrap(),
            }
            assert_eq!(u32::from_le_bytes(got), i, "{mode:?}");
        }
        assert!(server.shared_memory_in_use(), "{mode:?}");
        server.write_all(b"done").unwrap();
        assert_eq!(line(&mut out), "true");
        finish(c);
    }
}

/// Tokio ends on the rings: an async server and an async client (in another process)
/// ping-pong, then stream more than a ring holds each way, each direction waiting on its bell.
#[cfg(feature = "tokio")]
pub(super) fn async_ends_on_rings() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = unique("ring-async");
    common::runtime().block_on(async {
        let mut server = ServerOptions::new().create_async(&name).unwrap();
        let mut c = child("ring_client_async")
            .arg(&name)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = c.stdout.take().unwrap();
        server.connect().await.unwrap();
        let mut got = [0u8; 4];
        for i in 0..200u32 {
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(u32::from_le_bytes(got), i);
            server.write_all(&got).await.unwrap();
        }
        assert!(server.get_ref().shared_memory_in_use());
        let data = pattern(3_000_000, 5);
        server.write_all(&data).await.unwrap();
        let mut back = vec![0u8; data.len()];
        server.read_exact(&mut back).await.unwrap();
        assert!(back == data, "the stream came back different");
        drop(server);
        let process = pipework::process::Process::from_child(&c).unwrap();
        let exited = tokio::task::spawn_blocking(move || process.wait_timeout(TIMEOUT).unwrap())
            .await
            .unwrap();
        assert!(exited);
        assert!(c.wait().unwrap().success());
        let mut said = String::new();
        BufReader::new(stdout).read_line(&mut said).unwrap();
        assert_eq!(said.trim(), "true");
    });
}

/// An async read waiting on an empty ring (for the bell, which a killed peer never rings) ends
/// when the peer is killed, as on the socket: the end of data, then writes fail.
#[cfg(feature = "tokio")]
pub(super) fn async_read_on_rings_sees_a_killed_peer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let name = unique("ring-async-kill");
    common::runtime().block_on(async {
        let mut server = ServerOptions::new()
            .shared_memory(true)
            .create_async(&name)
            .unwrap();
        let (mut c, mut out) = spawn("ring_client_hold", &[&name]);
        server.connect().await.unwrap();
        let mut got = [0u8; 4];
        for _ in 0..2 {
            server.write_all(b"ping").await.unwrap();
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"pong");
        }
        assert_eq!(line(&mut out), "true");
        let mut got = [0u8; 7];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"partial");
        assert!(server.get_ref().shared_memory_in_use());
        // The read goes to wait first (join polls it first), then the client is killed.
        let mut more = [0u8; 16];
        let (read, ()) = tokio::join!(
            tokio::time::timeout(TIMEOUT, server.read(&mut more)),
            async {
                c.kill().unwrap();
            }
        );
        assert_eq!(read.expect("the read ended in time").unwrap(), 0);
        let _ = wait(&mut c);
        let e = server.write_all(b"to nobody").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    });
}

/// Child: the async client of [`async_ends_on_rings`].
#[cfg(feature = "tokio")]
pub(super) fn ring_client_async(args: &[String]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    common::runtime().block_on(async {
        let mut c = ClientOptions::new()
            .wait(WaitTimeout::After(TIMEOUT))
            .open_async(&args[0])
            .await
            .unwrap();
        let mut got = [0u8; 4];
        for i in 0..200u32 {
            c.write_all(&i.to_le_bytes()).await.unwrap();
            c.read_exact(&mut got).await.unwrap();
            assert_eq!(u32::from_le_bytes(got), i);
        }
        let mut data = vec![0u8; 3_000_000];
        c.read_exact(&mut data).await.unwrap();
        assert!(data == pattern(3_000_000, 5));
        c.write_all(&data).await.unwrap();
        println!("{}", c.get_mut().shared_memory_in_use());
        // The server's end, after what it sent.
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).await.unwrap();
    });
}

/// Either side turning the rings off keeps the socket; the data flows all the same.
pub(super) fn shared_memory_option_turns_rings_off() {
    for (server_on, client_on) in [(true, false), (false, true)] {
        let name = unique(&format!("ring-off-{server_on}"));
        let mut server = ServerOptions::new()
            .shared_memory(server_on)
            .create(&name)
            .unwrap();
        let on = if client_on { "on" } else { "off" };
        let (c, mut out) = spawn("ring_client_echo", &[&name, on, "1000", "2"]);
        accept(&mut server);
        for _ in 0..2 {
            let data = pattern(1000, 2);
            server.write_all(&data).unwrap();
            let mut back = vec![0u8; 1000];
            server.read_exact(&mut back).unwrap();
            assert!(back == data);
        }
        assert!(!server.shared_memory_in_use());
        assert_eq!(line(&mut out), "false");
        server.disconnect().unwrap();
        assert_eq!(line(&mut out), "ok");
        finish(c);
    }
    // A foreign client (no handshake) keeps the plain socket on a ring server.
    let name = unique("ring-foreign");
    let mut server = ring_server(&name, PipeMode::Byte);
    let path = server.socket_path();
    let t = std::thread::spawn(move || {
        let mut s = UnixStream::connect(path).unwrap();
        s.write_all(b"raw bytes").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        back
    });
    accept(&mut server);
    assert!(!server.shared_memory_in_use());
    let mut got = Vec::new();
    server.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"raw bytes");
    server.write_all(b"exact").unwrap();
    server.disconnect().unwrap();
    assert_eq!(t.join().unwrap(), b"exact");
}
