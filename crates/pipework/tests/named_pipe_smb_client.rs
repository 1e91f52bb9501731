//! pipework's own SMB2 client for pipes on other machines (`\\host\pipe\NAME`): through a
//! private smbd (tests/common/smbd.rs) onto a pipework server, the whole circle (Linux client →
//! SMB → Samba → pipework server), and onto impacket's SimpleSMBServer.
//!
//! Built with the `interop` feature (root, Samba's `smbd`, `python3-impacket`).

#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;
#[path = "common/smbd.rs"]
mod smbd;

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::Ordering;

use common::TIMEOUT;
use pipework::named_pipe::{
    ClientOptions, MessageRead, NamedPipeClient, NamedPipeServer, PipeMode, ReadMode,
    RemoteClient, ServerOptions, WaitTimeout,
};
use smbd::{Smbd, NEXT};

fn main() {
    common::main(
        &[
            #[cfg(feature = "interop")]
            (
                "interop_client_byte_pipe_through_samba_onto_pipework",
                byte_pipe_circle,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_client_message_pipe_more_data_transact_peek",
                message_pipe_circle,
            ),
        ],
        &[],
    )
}

fn unique(prefix: &str) -> String {
    format!(
        "pw-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn remote_options(smbd: &Smbd, mode: PipeMode) -> ServerOptions {
    let mut options = ServerOptions::new();
    options
        .pipe_mode(mode)
        .remote_socket_dir(smbd.socket_dir())
        .allow_everyone();
    options
}

/// `\\127.0.0.1\pipe\NAME`.
fn unc(name: &str) -> String {
    format!(r"\\127.0.0.1\pipe\{name}")
}

fn client_options(smbd: &Smbd) -> ClientOptions {
    let mut o = ClientOptions::new();
    o.remote_port(smbd.port);
    o
}

/// Serves one client on `server` with `serve`, in a thread; the identity it saw comes back.
fn serve_one(
    mut server: NamedPipeServer,
    serve: impl FnOnce(&mut NamedPipeServer) + Send + 'static,
) -> std::thread::JoinHandle<RemoteClient> {
    std::thread::spawn(move || {
        server.connect().unwrap();
        let who = server.remote_client().cloned().expect("a remote client");
        serve(&mut server);
        who
    })
}

fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((seed + i * 31) % 251) as u8).collect()
}

fn byte_pipe_circle() {
    let smbd = Smbd::start();
    let name = unique("cbytes");
    let server = remote_options(&smbd, PipeMode::Byte).create(&name).unwrap();
    let served = serve_one(server, |s| {
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            let turned: Vec<u8> = buf[..n].iter().map(|b| b ^ 0x5a).collect();
            s.write_all(&turned).unwrap();
        }
    });
    let mut client = client_options(&smbd).open(&unc(&name.to_uppercase())).unwrap();
    assert_eq!(client.pipe_mode(), PipeMode::Byte);
    let data = pattern(200_000, 3);
    for chunk in data.chunks(50_000) {
        client.write_all(chunk).unwrap();
        let mut back = vec![0u8; chunk.len()];
        client.read_exact(&mut back).unwrap();
        let want: Vec<u8> = chunk.iter().map(|b| b ^ 0x5a).collect();
        assert!(back == want, "wrong bytes back");
    }
    drop(client);
    let who = served.join().unwrap();
    assert_eq!(who.user.as_deref(), Some("ANONYMOUS LOGON"), "{who:?}");
}

fn message_pipe_circle() {
    let smbd = Smbd::start();
    let name = unique("cmsgs");
    let server = remote_options(&smbd, PipeMode::Message)
        .create(&name)
        .unwrap();
    let served = serve_one(server, |s| {
        let mut buf = vec![0u8; 70000];
        loop {
            match s.read_message(&mut buf).unwrap() {
                MessageRead::Complete(n) => {
                    let mut reply = buf[..n].to_vec();
                    reply.reverse();
                    s.write_message(&reply).unwrap();
                }
                MessageRead::End => break,
                MessageRead::MoreData { .. } => panic!("a message longer than 70000 bytes"),
            }
        }
    });
    let mut client = client_options(&smbd)
        .pipe_mode(PipeMode::Message)
        .open(&unc(&name))
        .unwrap();
    assert_eq!(client.pipe_mode(), PipeMode::Message);
    // "More data": a 3000-byte reply read 1000 bytes at a time.
    client.write_message(&pattern(3000, 1)).unwrap();
    let mut small = [0u8; 1000];
    let mut whole = Vec::new();
    loop {
        match client.read_message(&mut small).unwrap() {
            MessageRead::MoreData { read, left } => {
                whole.extend_from_slice(&small[..read]);
                eprintln!("more data: read {read} left {left}");
            }
            MessageRead::Complete(n) => {
                whole.extend_from_slice(&small[..n]);
                break;
            }
            MessageRead::End => panic!("ended"),
        }
    }
    let mut want = pattern(3000, 1);
    want.reverse();
    assert!(whole == want, "{} bytes back, wrong", whole.len());
    for n in [1, 2, 100, 4096, 20000, 65535] {
        let req = pattern(n, n);
        let mut reply = vec![0u8; 70000];
        let got = client.transact(&req, &mut reply).unwrap();
        assert_eq!(got, MessageRead::Complete(n), "transact {n}");
        let mut want = req.clone();
        want.reverse();
        assert!(reply[..n] == want[..], "transact {n}: wrong bytes");
    }
    // Peek.
    client.write_message(b"peekaboo").unwrap();
    let mut p = [0u8; 4];
    let seen = client.peek(&mut p);
    eprintln!("peek: {seen:?} {p:?}");
    let mut r = [0u8; 100];
    assert_eq!(client.read_message(&mut r).unwrap(), MessageRead::Complete(8));
    assert_eq!(&r[..8], b"oobakeep");
    drop(client);
    served.join().unwrap();
    let _ = (ErrorKind::NotFound, ReadMode::Byte, WaitTimeout::Forever, NamedPipeClient::open);
}
