//! Names, opening and connecting: case, missing pipes, access modes, connect / disconnect,
//! waiting for an instance.

use super::*;

pub(super) fn foreign_come_go(args: &[String]) {
    drop(UnixStream::connect(&args[0]).unwrap());
}

pub(super) fn client_wait_open(args: &[String]) {
    println!("waiting");
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::Forever)
        .open(&args[0])
        .unwrap();
    c.write_all(b"in").unwrap();
    println!("in");
}

pub(super) fn names_are_case_insensitive_and_long() {
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
    // A pipe on another machine is opened over SMB (tests/named_pipe_smb_client.rs goes through
    // Samba): with no SMB server at the port, the connection is refused, naming the pipe.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = pipework::named_pipe::ClientOptions::new()
        .remote_port(port)
        .open(r"\\127.0.0.1\pipe\x")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    assert!(e.to_string().contains(r"\\127.0.0.1\pipe\x"), "{e}");
}

pub(super) fn missing_pipe_is_not_found() {
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

pub(super) fn access_mode_must_fit() {
    let name = unique("inbound");
    let mut server = ServerOptions::new()
        .access_outbound(false)
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

pub(super) fn connect_already_connected_and_came_and_went() {
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

pub(super) fn disconnect_flush_and_reuse() {
    let name = unique("disconnect");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_read_all", &[&name]);
    accept(&mut server);
    server.write_all(&pattern(500_000, 1)).unwrap();
    server.flush().unwrap(); // returns once the client has read everything
    server.disconnect().unwrap();
    // The client read everything; then its reads and writes fail with "not connected"
    // (ERROR_PIPE_NOT_CONNECTED), not the end of a closed pipe.
    assert_eq!(line(&mut out), "500000");
    assert_eq!(line(&mut out), "NotConnected");
    assert_eq!(line(&mut out), "NotConnected");
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

pub(super) fn wait_for_an_instance() {
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
