//! The shared-memory ring path: a pipework server and a pipework client that both turned it on
//! move their data through rings, with every named-pipe behaviour of the socket path; either
//! side turning it off keeps the socket.

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

/// Child: opens `args[0]` with rings (unless `args[1]` is `off`), says whether they are in use,
/// echoes `args[2]` bytes (byte stream) back, then reads to the end.
pub(super) fn ring_client_echo(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(args[1] != "off")
        .open(&args[0])
        .unwrap();
    println!("{}", c.shared_memory_in_use());
    let n: usize = args[2].parse().unwrap();
    let mut got = vec![0u8; n];
    c.read_exact(&mut got).unwrap();
    c.write_all(&got).unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    println!("ok");
}

/// Child: the message side of [`messages_on_rings`].
pub(super) fn ring_client_messages(args: &[String]) {
    let mut c = ring_open(&args[0]);
    assert!(c.shared_memory_in_use());
    assert_eq!(c.pipe_mode(), PipeMode::Message);
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
    assert_eq!(c.read_message(&mut reply).unwrap(), MessageRead::End);
    assert_eq!(
        c.write_message(b"late").unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
    println!("ok");
}

/// Child: opens with rings, says so, then blocks on stdin (to be killed).
pub(super) fn ring_client_hold(args: &[String]) {
    let mut c = ring_open(&args[0]);
    println!("{}", c.shared_memory_in_use());
    c.write_all(b"partial").unwrap();
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// Child: a ring server for one client; writes what it is told and blocks (to be killed).
pub(super) fn ring_server_hold(args: &[String]) {
    let mut server = ring_server(&args[0], PipeMode::Byte);
    println!("ready");
    server.connect().unwrap();
    println!("{}", server.shared_memory_in_use());
    server.write_all(b"some").unwrap();
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// Bytes both ways through the rings between two processes, peek and bytes available included,
/// then the client's close is the end of data.
pub(super) fn bytes_on_rings() {
    let name = unique("ring-bytes");
    let mut server = ring_server(&name, PipeMode::Byte);
    let n = 3_000_000; // three times a ring
    let (c, mut out) = spawn("ring_client_echo", &[&name, "on", &n.to_string()]);
    accept(&mut server);
    assert!(server.shared_memory_in_use());
    assert_eq!(line(&mut out), "true");
    let data = pattern(n, 9);
    // The client reads while this writes: the write returns once all is in the ring.
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
    assert!(back == data, "echo differs");
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
    assert!(server.shared_memory_in_use());
    server.set_read_mode(ReadMode::Message).unwrap();
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
    assert_eq!(line(&mut out), "true");
    let mut got = [0u8; 7];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"partial");
    c.kill().unwrap();
    let _ = wait(&mut c);
    let mut more = [0u8; 16];
    let e = server.read(&mut more).unwrap_err();
    assert!(e.to_string().contains(&name), "{e}");
    assert_eq!(
        server.write_all(b"to nobody").unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );

    let name = unique("ring-kill-server");
    let (mut s, mut out) = spawn("ring_server_hold", &[&name]);
    assert_eq!(line(&mut out), "ready");
    let mut client = ring_open(&name);
    assert!(client.shared_memory_in_use());
    assert_eq!(line(&mut out), "true");
    let mut got = [0u8; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"some");
    s.kill().unwrap();
    let _ = wait(&mut s);
    assert!(client.read(&mut more).is_err());
    assert_eq!(
        client.write_all(b"to nobody").unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
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
        let (c, mut out) = spawn("ring_client_echo", &[&name, on, "1000"]);
        accept(&mut server);
        assert!(!server.shared_memory_in_use());
        assert_eq!(line(&mut out), "false");
        let data = pattern(1000, 2);
        server.write_all(&data).unwrap();
        let mut back = vec![0u8; 1000];
        server.read_exact(&mut back).unwrap();
        assert!(back == data);
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
