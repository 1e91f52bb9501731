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
