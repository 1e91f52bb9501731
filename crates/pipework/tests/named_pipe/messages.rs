//! What travels: bytes, message boundaries and more-data, transact / call, nonblocking mode,
//! many clients, handles, foreign clients.

use super::*;

pub(super) fn client_messages(args: &[String]) {
    let mut c = open(&args[0]);
    assert_eq!(c.pipe_mode(), PipeMode::Message);
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

pub(super) fn client_transact(args: &[String]) {
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

pub(super) fn client_recv_handle(args: &[String]) {
    let mut c = open(&args[0]);
    let fd = c.recv_handle().unwrap();
    let mut w = pipework::pipe::PipeWriter::try_from(fd).unwrap();
    w.write_all(b"through a named pipe").unwrap();
}

pub(super) fn byte_pipe_echo() {
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

pub(super) fn message_boundaries_more_data_and_peek() {
    let name = unique("messages");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
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

pub(super) fn transact_and_call() {
    let name = unique("transact");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
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

pub(super) fn nonblocking_mode() {
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

pub(super) fn thousand_clients_random_messages() {
    let name = unique("thousand");
    let instances = 32;
    let servers: Vec<_> = (0..instances)
        .map(|_| {
            let mut s = ServerOptions::new()
                .pipe_mode(PipeMode::Message)
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
    // Stop each instance with a client from this process: one message, then the end of what
    // it writes. Each stays open until every instance has stopped (an open completes before
    // the server's connect, and a client gone by then would be one that came and went).
    let mut stoppers = Vec::new();
    for _ in 0..instances {
        let mut stopper = ClientOptions::new()
            .wait(WaitTimeout::After(TIMEOUT))
            .open(&name)
            .unwrap();
        stopper.write_message(b"stop").unwrap();
        rustix::net::shutdown(&stopper, rustix::net::Shutdown::Write).unwrap();
        stoppers.push(stopper);
    }
    let served: usize = servers.into_iter().map(|t| t.join().unwrap()).sum();
    drop(stoppers);
    assert_eq!(served, 1000);
}

pub(super) fn handle_passing() {
    let name = unique("handles");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
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

pub(super) fn foreign_client_gets_exact_bytes() {
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
