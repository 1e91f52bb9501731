//! The tokio front-ends: async wait, servers and clients.

use super::*;

#[cfg(feature = "tokio")]
pub(super) fn async_server_serves_clients_at_once() {
    let name = unique("async-server");
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    common::runtime().block_on(async {
        // Each task says so when it has served a client to the end.
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        // One thread, four instances, each a task: the overlapped server's shape.
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let mut server = ServerOptions::new()
                    .pipe_mode(PipeMode::Message)
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
pub(super) fn async_client(args: &[String]) {
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
pub(super) fn async_client_bytes_and_messages() {
    let messages = unique("async-client-m");
    let bytes = unique("async-client-b");
    let mut m = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
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

#[cfg(feature = "tokio")]
pub(super) fn async_wait() {
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

/// Open descriptors of this process.
#[cfg(feature = "tokio")]
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// An async server past its rings holds one descriptor per connected pipework client (the
/// socket: the client's disconnect notice is mapped, not held open), a disconnected client
/// still learns it was disconnected, and the names of connected instances leave the pipe's
/// directory (which clients list at every open). The server runs in a child of its own, where
/// no other test opens descriptors meanwhile.
#[cfg(feature = "tokio")]
pub(super) fn async_server_holds_one_descriptor_per_client() {
    let name = unique("one-fd");
    let (c, mut out) = spawn("one_fd_server", &[&name]);
    assert_eq!(line(&mut out), "ok");
    finish(c);
}

/// Child: the server of [`async_server_holds_one_descriptor_per_client`], which says `ok`.
#[cfg(feature = "tokio")]
pub(super) fn one_fd_server(args: &[String]) {
    const CLIENTS: usize = 16;
    let name = &args[0];
    common::runtime().block_on(async {
        let mut options = ServerOptions::new();
        // What a server holding more connections than its rings' share serves them with.
        options.pipe_mode(PipeMode::Message).shared_memory(false);
        let mut listening = options.create_async(name).unwrap();
        let dir = listening
            .get_ref()
            .socket_path()
            .parent()
            .unwrap()
            .to_path_buf();
        let (c, mut out) = spawn("clients_hold_many", &[name, &CLIENTS.to_string()]);
        // Counted with the clients' child started (its pipes are this process's descriptors).
        let before = open_descriptors();
        let mut connected = Vec::new();
        for _ in 0..CLIENTS {
            tokio::time::timeout(TIMEOUT, listening.connect())
                .await
                .expect("a client within the time limit")
                .unwrap();
            let next = options.create_async(name).unwrap();
            connected.push(std::mem::replace(&mut listening, next));
        }
        assert_eq!(line(&mut out), "open");
        // Each client's tag (and notice) is taken at its first read or write at the latest.
        for server in &mut connected {
            server.write_message(b"hi").await.unwrap();
        }
        for _ in 0..CLIENTS {
            assert_eq!(line(&mut out), "hi");
        }
        assert_eq!(
            open_descriptors(),
            before + CLIENTS,
            "descriptors for {CLIENTS} connected clients"
        );
        let listed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| {
                f.strip_prefix('i')
                    .is_some_and(|n| n.parse::<u64>().is_ok())
            })
            .collect();
        assert_eq!(
            listed.len(),
            1,
            "only the listening instance's socket: {listed:?}"
        );
        // The notice still reaches the client.
        connected[0].disconnect().unwrap();
        writeln!(c.stdin.as_ref().unwrap(), "go").unwrap();
        assert_eq!(line(&mut out), "NotConnected");
        drop(connected);
        finish(c);
    });
    println!("ok");
}

/// Child: opens `args[1]` clients of `args[0]`, says `open`, reads one message on each and
/// says it, then, told to, reads on the first again and says how it ended; holds them until
/// its input ends.
pub(super) fn clients_hold_many(args: &[String]) {
    let n: usize = args[1].parse().unwrap();
    let mut clients: Vec<NamedPipeClient> = (0..n).map(|_| open(&args[0])).collect();
    println!("open");
    for c in &mut clients {
        let mut buf = [0u8; 16];
        match c.read_message(&mut buf).unwrap() {
            MessageRead::Complete(k) => println!("{}", String::from_utf8_lossy(&buf[..k])),
            other => panic!("{other:?}"),
        }
    }
    let mut word = String::new();
    std::io::stdin().read_line(&mut word).unwrap();
    let mut buf = [0u8; 16];
    match clients[0].read_message(&mut buf) {
        Err(e) => println!("{}", kind_name(&e)),
        Ok(other) => println!("{other:?}"),
    }
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}
