//! How long things live: servers killed with -9, names, peers dying mid-message, data before a
//! close, the pipe list.

use super::*;

/// Makes a disconnected instance listen again, without waiting for a client.
fn listen_again(server: &mut NamedPipeServer) {
    server.set_nonblocking(true).unwrap();
    assert_eq!(server.connect().unwrap_err().kind(), ErrorKind::WouldBlock);
    server.set_nonblocking(false).unwrap();
}

pub(super) fn foreign_partial(args: &[String]) {
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

pub(super) fn client_write_close(args: &[String]) {
    let n: usize = args[1].parse().unwrap();
    let mut c = open(&args[0]);
    c.write_all(&pattern(n, 1)).unwrap();
}

pub(super) fn kill_9_server_then_new_server() {
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
        .first_pipe_instance(true)
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

/// A client process that opened a pipe before opens its successor, never the pipe it knew:
/// after the server is killed and another takes the name with other parameters (its first
/// instance: a new description), the next open sees the new pipe, and one with the old server
/// gone and no new one finds nothing.
pub(super) fn reopen_after_kill_sees_the_new_pipe() {
    let name = unique("reopened");
    let (mut c, mut out) = spawn("servers_and_block", &[&name, "2"]);
    assert_eq!(line(&mut out), "ready");
    // Twice (an instance each): the second open is the one a client process makes again and
    // again.
    let first: Vec<NamedPipeClient> = (0..2).map(|_| open(&name)).collect();
    assert!(first.iter().all(|c| c.pipe_mode() == PipeMode::Byte));
    c.kill().unwrap(); // SIGKILL
    assert!(!wait(&mut c).success());
    drop(first);
    // A new server straight away (nobody looked in between), of another type.
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(1)
        .create(&name)
        .unwrap();
    assert!(server.created_pipe());
    let client = open(&name);
    assert_eq!(client.pipe_mode(), PipeMode::Message);
    // Its one instance holds this client: busy, as the new pipe says.
    let e = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy, "{e}");
    drop(client);
    drop(server);
    assert_eq!(
        NamedPipeClient::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

pub(super) fn name_lives_while_an_instance_does() {
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

pub(super) fn peer_dying_mid_message_is_broken_pipe() {
    let name = unique("midmessage");
    let mut server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
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

pub(super) fn data_before_close_is_delivered() {
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
    // A closed (not disconnected) server: the end of data, then writes find no reader.
    assert_eq!(line(&mut out), "100000");
    assert_eq!(line(&mut out), "end");
    assert_eq!(line(&mut out), "BrokenPipe");
    finish(c);
}

pub(super) fn list_shows_pipes() {
    let name = unique("listed");
    let _a = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(4)
        .create(&name)
        .unwrap();
    let _b = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let entry = named_pipe::list()
        .unwrap()
        .into_iter()
        .find(|p| p.name == name.rsplit('\\').next().unwrap())
        .expect("listed");
    assert_eq!(entry.pipe_mode, PipeMode::Message);
    assert_eq!(entry.instances, 2);
    assert_eq!(entry.listening, 2);
    assert_eq!(entry.max_instances, Some(4));
}
