//! Win32 behaviours a program ported from Windows can tell apart (issue 18), each across real
//! processes and named after the behaviour.

use super::*;

/// Child: creates another instance of `args[0]` with other parameters than the first's, prints
/// what it got, and holds the instance until stdin closes.
pub(super) fn server_other_parameters(args: &[String]) {
    let name = &args[0];
    // Another type, limit, buffer sizes and timeout are accepted; the first's values stick.
    let second = ServerOptions::new()
        .pipe_mode(PipeMode::Byte)
        .max_instances(9)
        .in_buffer_size(1234)
        .out_buffer_size(4321)
        .default_timeout(Duration::from_secs(77))
        .create(name)
        .unwrap();
    println!(
        "joined {} {:?} {:?}",
        second.created_pipe(),
        second.pipe_mode(),
        second.max_instances()
    );
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// §2 ⚠: a later instance with another type, instance limit, buffer sizes or default timeout is
/// accepted and the first instance's values stick; only another access mode,
/// `FILE_FLAG_FIRST_PIPE_INSTANCE` and the instance limit refuse.
pub(super) fn later_instance_parameters_are_ignored_first_instance_values_stick() {
    let name = unique("stick");
    let mut first = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(2)
        .create(&name)
        .unwrap();
    assert!(first.created_pipe());
    // Another access mode is refused (ERROR_ACCESS_DENIED), and so is
    // FILE_FLAG_FIRST_PIPE_INSTANCE on an existing name.
    let e = ServerOptions::new()
        .access_inbound(false)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let e = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    // Another process's instance asking for other parameters joins the pipe as it is.
    let (c, mut out) = spawn("server_other_parameters", &[&name]);
    assert_eq!(line(&mut out), "joined false Message Some(2)");
    // The first instance's limit of two holds across both processes (ERROR_PIPE_BUSY).
    let e = ServerOptions::new()
        .pipe_mode(PipeMode::Byte)
        .max_instances(200)
        .create(&name)
        .unwrap_err();
    assert!(named_pipe::is_busy(&e), "{e}");
    // A client sees a message pipe (the first instance has listened longest, so it is the
    // one a client reaches, in either order of handing instances out).
    let (client, mut client_out) = spawn("client_pipe_mode", &[&name]);
    accept(&mut first);
    assert_eq!(line(&mut client_out), "Message");
    finish(client);
    finish(c);
    drop(first);
}

/// Child: opens `args[0]` and prints the pipe's type as the client sees it.
pub(super) fn client_pipe_mode(args: &[String]) {
    let c = super::open(&args[0]);
    println!("{:?}", c.pipe_mode());
    // Connected until the test is done (a client gone before the server's connect would be
    // one that came and went).
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// `DisconnectNamedPipe` on an instance with no client, or a second time, fails with
/// `ERROR_PIPE_NOT_CONNECTED`; so do peek, reads and writes on the disconnected end.
pub(super) fn disconnect_without_client_is_pipe_not_connected() {
    let name = unique("notconn");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let e = server.disconnect().unwrap_err();
    assert!(named_pipe::is_not_connected(&e), "{e}");
    assert!(e.to_string().contains(&name), "{e}");
    let (c, mut out) = spawn("client_try_open", &[&name]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ok");
    server.disconnect().unwrap();
    let e = server.disconnect().unwrap_err();
    assert!(named_pipe::is_not_connected(&e), "{e}");
    let mut buf = [0u8; 8];
    let e = server.peek(&mut buf).unwrap_err();
    assert!(named_pipe::is_not_connected(&e), "{e}");
    let e = server.read_message(&mut buf).unwrap_err();
    assert!(named_pipe::is_not_connected(&e), "{e}");
    let e = server.write_message(b"late").unwrap_err();
    assert!(named_pipe::is_not_connected(&e), "{e}");
    finish(c);
}

/// Instances are handed out in the order they started listening: the instance that has waited
/// longest gets the next client, not the lowest slot.
pub(super) fn longest_waiting_instance_gets_the_next_client() {
    let name = unique("order");
    let mut s1 = ServerOptions::new().create(&name).unwrap();
    let mut s2 = ServerOptions::new().create(&name).unwrap();
    // Both listen since their creation: the first created has waited longest.
    let (c, mut out) = spawn("client_try_open", &[&name]);
    accept(&mut s1);
    assert_eq!(line(&mut out), "ok");
    finish(c);
    s1.disconnect().unwrap();
    // s1 listens again from now on (its next connect); s2 has waited since its creation.
    s1.set_nonblocking(true).unwrap();
    assert_eq!(s1.connect().unwrap_err().kind(), ErrorKind::WouldBlock);
    let (c, mut out) = spawn("client_try_open", &[&name]);
    accept(&mut s2);
    assert_eq!(line(&mut out), "ok");
    finish(c);
    // The newer listener got no client.
    assert_eq!(s1.connect().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(!s1.is_connected());
}

/// Child: writes the messages "a", "" (a 0-byte message) and "b" to `args[0]`, then closes.
pub(super) fn client_zero_message_then_close(args: &[String]) {
    let mut c = super::open(&args[0]);
    c.write_message(b"a").unwrap();
    c.write_message(b"").unwrap();
    c.write_message(b"b").unwrap();
    println!("sent");
}

/// A 0-byte write on a message pipe is a real 0-length message, told apart from the end of the
/// pipe in the message API: `Complete(0)` for the message, `End` (again and again) once the
/// client has closed.
pub(super) fn zero_byte_message_is_not_the_end_of_a_message_pipe() {
    let name = unique("zero");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let (c, mut out) = spawn("client_zero_message_then_close", &[&name]);
    accept(&mut server);
    assert_eq!(line(&mut out), "sent");
    finish(c);
    let mut buf = [0u8; 8];
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(1)
    );
    assert_eq!(&buf[..1], b"a");
    assert_eq!(
        server.read_message(&mut buf).unwrap(),
        MessageRead::Complete(0)
    );
    let mut whole = Vec::new();
    assert_eq!(
        server.read_message_to_end(&mut whole).unwrap(),
        MessageRead::Complete(1)
    );
    assert_eq!(whole, b"b");
    assert_eq!(server.read_message(&mut buf).unwrap(), MessageRead::End);
    assert_eq!(server.read_message(&mut buf).unwrap(), MessageRead::End);
}

/// Child: opens `args[0]` in message-read mode, answers one message with "re:" and the message.
pub(super) fn client_answer_one(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .pipe_mode(PipeMode::Message)
        .open(&args[0])
        .unwrap();
    let mut buf = [0u8; 64];
    let n = match c.read_message(&mut buf).unwrap() {
        MessageRead::Complete(n) => n,
        other => panic!("request: {other:?}"),
    };
    let mut answer = b"re:".to_vec();
    answer.extend_from_slice(&buf[..n]);
    c.write_message(&answer).unwrap();
    println!("answered");
}

/// `TransactNamedPipe` works on a server handle too: the server writes a request message to its
/// client and reads the reply message in one call.
pub(super) fn transact_named_pipe_on_a_server_end() {
    let name = unique("srvtx");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let mut reply = [0u8; 64];
    let e = server.transact(b"x", &mut reply).unwrap_err();
    assert!(named_pipe::is_not_connected(&e), "{e}");
    let (c, mut out) = spawn("client_answer_one", &[&name]);
    accept(&mut server);
    assert_eq!(
        server.transact(b"ping", &mut reply).unwrap(),
        MessageRead::Complete(7)
    );
    assert_eq!(&reply[..7], b"re:ping");
    assert_eq!(line(&mut out), "answered");
    finish(c);
}

/// Child: `CallNamedPipe` on `args[0]` with a 4-byte reply buffer; prints what it got.
pub(super) fn client_call_small_buffer(args: &[String]) {
    let mut reply = [0u8; 4];
    match named_pipe::call_into(&args[0], b"call", &mut reply, WaitTimeout::After(TIMEOUT)) {
        Ok(MessageRead::MoreData { read, left }) => println!(
            "more {read} {left} {}",
            String::from_utf8_lossy(&reply[..read])
        ),
        Ok(other) => println!("{other:?}"),
        Err(e) => println!("{}", kind_name(&e)),
    }
}

/// `CallNamedPipe` gives Windows' errors: not found for a missing pipe, busy once the wait for a
/// busy pipe runs out, and more data (with the reply's first part) for a buffer too small.
pub(super) fn call_named_pipe_not_found_busy_and_more_data() {
    let e = named_pipe::call(&unique("nobody"), b"x", WaitTimeout::After(TIMEOUT)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let name = unique("callerr");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(1)
        .create(&name)
        .unwrap();
    // A client in another process takes the only instance: a call finds the pipe busy, waits
    // the (short) time it was given, and reports it busy (ERROR_PIPE_BUSY), not timed out.
    let (holder, mut holder_out) = spawn("client_try_open", &[&name]);
    accept(&mut server);
    assert_eq!(line(&mut holder_out), "ok");
    let e =
        named_pipe::call(&name, b"x", WaitTimeout::After(Duration::from_millis(20))).unwrap_err();
    assert!(named_pipe::is_busy(&e), "{e}");
    finish(holder);
    server.disconnect().unwrap();

    // A reply longer than the caller's buffer: ERROR_MORE_DATA with the first part.
    let (c, mut out) = spawn("client_call_small_buffer", &[&name]);
    accept(&mut server);
    let mut request = Vec::new();
    assert_eq!(
        server.read_message_to_end(&mut request).unwrap(),
        MessageRead::Complete(4)
    );
    assert_eq!(request, b"call");
    server.write_message(b"answered at length").unwrap();
    assert_eq!(line(&mut out), "more 4 14 answ");
    finish(c);
}
