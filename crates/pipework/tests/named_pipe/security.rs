//! Who is at the other end: credentials both ways, other users refused or admitted.

use super::*;

pub(super) fn client_creds(args: &[String]) {
    let c = open(&args[0]);
    let server = c.server();
    assert_eq!(server.pid.to_string(), args[1]);
    assert_eq!(server.uid, rustix::process::geteuid().as_raw());
    println!("ok");
    // Connected until the test is done with the server's view of this client.
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

pub(super) fn credentials_both_ways() {
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

pub(super) fn other_user_refused_then_admitted() {
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

pub(super) fn client_checks_server_uid() {
    let name = unique("squat");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (c, mut out) = spawn("client_try_open", &[&name, "12345"]);
    assert_eq!(line(&mut out), "PermissionDenied");
    finish(c);
    // The client refused this server as soon as its connection was made, and closed it: the
    // server finds a client that came and went (ERROR_NO_DATA).
    let e = server.connect().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
    let me = rustix::process::geteuid().as_raw().to_string();
    let (c, mut out) = spawn("client_try_open", &[&name, &me]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ok");
    finish(c);
}
