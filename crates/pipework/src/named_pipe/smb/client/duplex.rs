//! Full duplex on one SMB connection: a READ may wait at the server (an interim
//! `STATUS_PENDING` reply) while WRITEs go out under other message ids.
//!
//! The connection is split in two. Sending (credit, message id, signature, the socket's write)
//! happens under one lock, by whichever thread calls; one receiver thread reads every reply,
//! passes over interim ones, checks signatures and hands each final reply to the caller waiting
//! for its message id. A call is "send, then wait for my reply", so any number of threads may
//! have one outstanding each (a reader keeping a READ pending, a writer's WRITEs).
//!
//! [`RemotePipeStream`] (feature `tokio`) is the byte stream on top: a thread keeps one READ
//! outstanding and feeds what arrives to the stream's reads; writes go out on tokio's blocking
//! pool, one at a time.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::sign::Signer;
use super::wire::{self, status, Head};
use super::{malformed, status_error, Answer, RemotePipe, CREDITS_ASKED, MAX_FRAME};

/// How long a call waits for a credit the server has not granted yet.
const CREDIT_WAIT: Duration = Duration::from_secs(30);

/// What the sending side owns.
struct Out {
    stream: TcpStream,
    next_id: u64,
}

/// The callers waiting for replies, by message id.
#[derive(Default)]
struct Waiting {
    callers: HashMap<u64, mpsc::SyncSender<io::Result<Answer>>>,
    /// The connection broke: why (every later call fails the same way).
    broken: Option<(ErrorKind, String)>,
}

/// The state both sides share.
pub(crate) struct Shared {
    what: String,
    file: [u8; 16],
    dialect: u16,
    tree_id: u32,
    session_id: u64,
    signer: Option<Signer>,
    max_read: u32,
    max_write: u32,
    out: Mutex<Out>,
    credits: Mutex<u32>,
    credit_granted: Condvar,
    waiting: Mutex<Waiting>,
    /// The socket, for shutting it down.
    socket: TcpStream,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The owner of a duplex connection: dropping it shuts the connection down, which ends the
/// receiver thread and fails every call still waiting (with `BrokenPipe`).
pub(crate) struct Duplex {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Duplex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Duplex")
            .field("name", &self.shared.what)
            .finish()
    }
}

impl Drop for Duplex {
    fn drop(&mut self) {
        let _ = self.shared.socket.shutdown(Shutdown::Both);
    }
}

impl Duplex {
    /// The shared state, for threads that call on the connection.
    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }
}

impl RemotePipe {
    /// Turns this pipe's connection into a duplex one (see the module docs). What a read left
    /// unconsumed is returned with it.
    pub(crate) fn into_duplex(self) -> io::Result<(Duplex, Vec<u8>)> {
        let s = self.session;
        let named = |e: io::Error| io::Error::new(e.kind(), format!("named pipe {}: {e}", s.what));
        s.stream.set_read_timeout(None).map_err(named)?;
        s.stream.set_write_timeout(None).map_err(named)?;
        let reading = s.stream.try_clone().map_err(named)?;
        let socket = s.stream.try_clone().map_err(named)?;
        let shared = Arc::new(Shared {
            what: s.what.clone(),
            file: self.file,
            dialect: s.dialect,
            tree_id: s.tree_id,
            session_id: s.session_id,
            signer: s.signer.clone(),
            max_read: s.max_read,
            max_write: s.max_write,
            out: Mutex::new(Out {
                stream: s.stream,
                next_id: s.next_id,
            }),
            credits: Mutex::new(s.credits),
            credit_granted: Condvar::new(),
            waiting: Mutex::new(Waiting::default()),
            socket,
        });
        let receiver = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("pipework-smb-recv".into())
            .spawn(move || receive(&receiver, reading))
            .map_err(named)?;
        let left = self.pending[self.taken.min(self.pending.len())..].to_vec();
        Ok((Duplex { shared }, left))
    }
}

/// The connection's I/O error, with the kind a pipe gives.
fn io_error(what: &str, e: &io::Error) -> io::Error {
    let kind = match e.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::NotConnected => {
            ErrorKind::BrokenPipe
        }
        k => k,
    };
    io::Error::new(kind, format!("named pipe {what}: the SMB connection: {e}"))
}

/// One SMB2 message, at most [`MAX_FRAME`] bytes.
fn frame(stream: &mut TcpStream, what: &str) -> io::Result<Vec<u8>> {
    let mut head = [0u8; 4];
    stream
        .read_exact(&mut head)
        .map_err(|e| io_error(what, &e))?;
    let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
    if head[0] != 0 || len > MAX_FRAME {
        return Err(malformed(
            what,
            wire::Malformed("a frame longer than anything asked for"),
        ));
    }
    let mut m = vec![0u8; len];
    stream.read_exact(&mut m).map_err(|e| io_error(what, &e))?;
    Ok(m)
}

/// The receiver thread: every reply to its caller, until the connection ends.
fn receive(shared: &Shared, mut stream: TcpStream) {
    let e = loop {
        let m = match frame(&mut stream, &shared.what) {
            Ok(m) => m,
            Err(e) => break e,
        };
        let head = match wire::reply(&m) {
            Ok(h) => h,
            Err(e) => break malformed(&shared.what, e),
        };
        if head.credits > 0 {
            let mut credits = lock(&shared.credits);
            *credits = credits
                .saturating_add(u32::from(head.credits))
                .min(u32::from(u16::MAX));
            shared.credit_granted.notify_all();
        }
        if head.status == status::PENDING && head.flags & wire::FLAG_ASYNC != 0 {
            // Interim: the final reply comes later under the same message id.
            continue;
        }
        let Some(caller) = lock(&shared.waiting).callers.remove(&head.message_id) else {
            // An oplock break or another unsolicited message.
            continue;
        };
        if shared.signer.as_ref().is_some_and(|s| !s.verify(&m)) {
            let e = io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "named pipe {}: a reply's signature is missing or wrong",
                    shared.what
                ),
            );
            let _ = caller.send(Err(io::Error::new(e.kind(), e.to_string())));
            break e;
        }
        let _ = caller.send(Ok(Answer { head, message: m }));
    };
    let mut waiting = lock(&shared.waiting);
    waiting.broken = Some((e.kind(), e.to_string()));
    for (_, caller) in waiting.callers.drain() {
        let _ = caller.send(Err(io::Error::new(e.kind(), e.to_string())));
    }
    drop(waiting);
    let _ = shared.socket.shutdown(Shutdown::Both);
    // Wake a caller waiting for a credit: it finds the connection broken.
    let _guard = lock(&shared.credits);
    shared.credit_granted.notify_all();
}

impl Shared {
    fn broken(&self) -> Option<io::Error> {
        lock(&self.waiting)
            .broken
            .as_ref()
            .map(|(kind, message)| io::Error::new(*kind, message.clone()))
    }

    /// Sends a request and waits for its reply; a success (or one of `also`) is returned.
    fn call(&self, command: u16, body: &[u8], doing: &str, also: &[u32]) -> io::Result<Answer> {
        {
            let mut credits = lock(&self.credits);
            while *credits == 0 {
                if let Some(e) = self.broken() {
                    return Err(e);
                }
                let (c, timeout) = self
                    .credit_granted
                    .wait_timeout(credits, CREDIT_WAIT)
                    .unwrap_or_else(|e| e.into_inner());
                credits = c;
                if timeout.timed_out() && *credits == 0 {
                    return Err(io::Error::new(
                        ErrorKind::TimedOut,
                        format!(
                            "named pipe {}: the server granted no credit to send with",
                            self.what
                        ),
                    ));
                }
            }
            *credits -= 1;
        }
        let (tx, rx) = mpsc::sync_channel(1);
        {
            let mut out = lock(&self.out);
            let id = out.next_id;
            {
                let mut waiting = lock(&self.waiting);
                if let Some((kind, message)) = &waiting.broken {
                    return Err(io::Error::new(*kind, message.clone()));
                }
                waiting.callers.insert(id, tx);
            }
            let head = Head {
                command,
                credit_charge: u16::from(self.dialect != 0x0202),
                credit_request: CREDITS_ASKED,
                message_id: id,
                tree_id: self.tree_id,
                session_id: self.session_id,
            };
            let mut m = wire::request(&head, body);
            if let Some(signer) = &self.signer {
                signer.sign(&mut m);
            }
            let mut frame = Vec::with_capacity(4 + m.len());
            frame.extend_from_slice(&(m.len() as u32).to_be_bytes());
            frame.extend_from_slice(&m);
            out.next_id += 1;
            if let Err(e) = out.stream.write_all(&frame) {
                lock(&self.waiting).callers.remove(&id);
                let _ = self.socket.shutdown(Shutdown::Both);
                return Err(io_error(&self.what, &e));
            }
        }
        let a = rx.recv().map_err(|_| {
            io::Error::new(
                ErrorKind::BrokenPipe,
                format!("named pipe {}: the SMB connection ended", self.what),
            )
        })??;
        if a.head.command != command {
            return Err(malformed(
                &self.what,
                wire::Malformed("a reply to another command"),
            ));
        }
        if a.head.status == status::SUCCESS || also.contains(&a.head.status) {
            Ok(a)
        } else {
            Err(status_error(&self.what, doing, a.head.status))
        }
    }

    /// One READ of up to a chunk: what arrived (possibly part of a message), `None` at the end
    /// of the pipe. It may wait at the server as long as the pipe stays empty.
    pub(crate) fn read_chunk(&self) -> io::Result<Option<Vec<u8>>> {
        let len = self.max_read;
        let a = self.call(
            wire::READ,
            &wire::read(&self.file, len),
            "READ",
            &[
                status::BUFFER_OVERFLOW,
                status::END_OF_FILE,
                status::PIPE_BROKEN,
                status::PIPE_DISCONNECTED,
                status::PIPE_CLOSING,
                status::CONNECTION_DISCONNECTED,
            ],
        )?;
        if a.head.status != status::SUCCESS && a.head.status != status::BUFFER_OVERFLOW {
            return Ok(None);
        }
        let data =
            wire::read_reply(&a.message, len as usize).map_err(|e| malformed(&self.what, e))?;
        Ok(Some(data.to_vec()))
    }

    /// WRITEs until all of `data` is taken.
    pub(crate) fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut at = 0;
        while at < data.len() {
            let end = data.len().min(at + self.max_write as usize);
            let a = self.call(
                wire::WRITE,
                &wire::write(&self.file, &data[at..end]),
                "WRITE",
                &[],
            )?;
            let n = wire::written(&a.message).map_err(|e| malformed(&self.what, e))? as usize;
            if n == 0 || n > end - at {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    format!(
                        "named pipe {}: the server took {n} of {} bytes",
                        self.what,
                        end - at
                    ),
                ));
            }
            at += n;
        }
        Ok(())
    }

    /// The most one WRITE carries.
    pub(crate) fn max_write(&self) -> usize {
        self.max_write as usize
    }
}

#[cfg(feature = "tokio")]
pub use stream::RemotePipeStream;

#[cfg(feature = "tokio")]
mod stream {
    use std::future::Future;
    use std::io::{self, ErrorKind};
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{ready, Context, Poll};

    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;

    use super::{Duplex, Shared};
    use crate::named_pipe::ClientOptions;

    /// A pipe on another machine (`\\host\pipe\NAME`) as a full-duplex byte stream for tokio:
    /// reads and writes may be outstanding at once, as HTTP/2 (gRPC) needs. Open it with
    /// [`ClientOptions::open_remote_stream`].
    ///
    /// A thread keeps one SMB READ waiting at the server and hands what arrives to
    /// [`poll_read`](AsyncRead::poll_read); each write is taken at once and sent (SMB WRITE)
    /// on tokio's blocking pool, one at a time: its error, if any, is that of the next write,
    /// flush or shutdown. Message boundaries are not kept (a byte stream). Dropping the stream
    /// closes the SMB connection, which the server takes as the client's close.
    pub struct RemotePipeStream {
        duplex: Duplex,
        shared: Arc<Shared>,
        incoming: mpsc::Receiver<io::Result<Vec<u8>>>,
        /// What arrived and was not read yet: `held[at..]`.
        held: Vec<u8>,
        at: usize,
        writing: Option<JoinHandle<io::Result<()>>>,
        failed: Option<(ErrorKind, String)>,
    }

    impl std::fmt::Debug for RemotePipeStream {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RemotePipeStream")
                .field("pipe", &self.duplex)
                .finish()
        }
    }

    impl ClientOptions {
        /// Opens `name`, a pipe on another machine (`\\host\pipe\NAME`), as a full-duplex
        /// [`RemotePipeStream`] (inside a tokio runtime): the open is
        /// [`open`](Self::open)'s (the same credentials, port and waiting), done on tokio's
        /// blocking pool. A local name is refused (`InvalidInput`): open it with
        /// [`open_async`](Self::open_async).
        pub async fn open_remote_stream(&self, name: &str) -> io::Result<RemotePipeStream> {
            let parsed = crate::name::PipeName::parse(name)?;
            if parsed.server().is_none() {
                return Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    format!("named pipe {name} is not on another machine"),
                ));
            }
            let options = self.clone();
            let name = name.to_string();
            let opened = tokio::task::spawn_blocking(move || {
                let mut client = options.open(&name)?;
                let Some(pipe) = client.remote.take() else {
                    return Err(io::Error::new(
                        ErrorKind::InvalidInput,
                        format!("named pipe {name} is not on another machine"),
                    ));
                };
                pipe.into_duplex()
            })
            .await
            .map_err(io::Error::other)?;
            let (duplex, held) = opened?;
            RemotePipeStream::start(duplex, held)
        }
    }

    impl RemotePipeStream {
        fn start(duplex: Duplex, held: Vec<u8>) -> io::Result<RemotePipeStream> {
            let shared = duplex.shared();
            let (tx, rx) = mpsc::channel(4);
            let reader = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("pipework-smb-read".into())
                .spawn(move || loop {
                    match reader.read_chunk() {
                        Ok(Some(data)) if data.is_empty() => {}
                        Ok(Some(data)) => {
                            if tx.blocking_send(Ok(data)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    }
                })?;
            Ok(RemotePipeStream {
                duplex,
                shared,
                incoming: rx,
                held,
                at: 0,
                writing: None,
                failed: None,
            })
        }

        /// Waits for the write in flight, if any.
        fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            if let Some((kind, message)) = &self.failed {
                return Poll::Ready(Err(io::Error::new(*kind, message.clone())));
            }
            if let Some(writing) = &mut self.writing {
                let r = ready!(Pin::new(writing).poll(cx));
                self.writing = None;
                let r = r.map_err(io::Error::other).and_then(|r| r);
                if let Err(e) = r {
                    self.failed = Some((e.kind(), e.to_string()));
                    return Poll::Ready(Err(e));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncRead for RemotePipeStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if this.at >= this.held.len() {
                match ready!(this.incoming.poll_recv(cx)) {
                    Some(Ok(data)) => {
                        this.held = data;
                        this.at = 0;
                    }
                    Some(Err(e)) => return Poll::Ready(Err(e)),
                    None => return Poll::Ready(Ok(())),
                }
            }
            let rest = &this.held[this.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for RemotePipeStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            ready!(this.poll_written(cx))?;
            if buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let n = buf.len().min(this.shared.max_write());
            let data = buf[..n].to_vec();
            let shared = Arc::clone(&this.shared);
            this.writing = Some(tokio::task::spawn_blocking(move || shared.write_all(&data)));
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_written(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_written(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PipeMode, ReadMode, Session, CHUNK};
    use super::*;
    use std::net::TcpListener;

    /// A reply from the fake server: `command` answered with `status` under `id`.
    fn reply(command: u16, status: u32, id: u64, flags: u8, body: &[u8]) -> Vec<u8> {
        let head = Head {
            command,
            credit_charge: 0,
            credit_request: 1,
            message_id: id,
            tree_id: 1,
            session_id: 1,
        };
        let mut m = wire::request(&head, body);
        m[8..12].copy_from_slice(&status.to_le_bytes());
        m[16] |= flags | wire::FLAG_RESPONSE as u8;
        let mut f = (m.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&m);
        f
    }

    /// READ's or WRITE's reply body (structure size 17): `count`, then `data` at offset 80.
    fn body17(count: u32, data: &[u8]) -> Vec<u8> {
        let mut b = 17u16.to_le_bytes().to_vec();
        b.push((wire::HEADER + 16) as u8);
        b.push(0);
        b.extend_from_slice(&count.to_le_bytes());
        b.extend_from_slice(&[0u8; 8]);
        b.extend_from_slice(data);
        b
    }

    fn request(s: &mut TcpStream) -> (u16, u64, Vec<u8>) {
        let m = frame(s, "fake").unwrap();
        let command = u16::from_le_bytes([m[12], m[13]]);
        let mut id = [0u8; 8];
        id.copy_from_slice(&m[24..32]);
        (command, u64::from_le_bytes(id), m)
    }

    #[test]
    fn a_write_completes_while_a_read_waits_at_the_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut read_id = None;
            let mut wrote = Vec::new();
            // The READ waits ("pending") until the WRITE came and was answered.
            while read_id.is_none() || wrote.is_empty() {
                let (command, id, m) = request(&mut s);
                match command {
                    wire::READ => {
                        read_id = Some(id);
                        let interim = reply(wire::READ, status::PENDING, id, 2, &[9, 0, 0, 0]);
                        s.write_all(&interim).unwrap();
                    }
                    wire::WRITE => {
                        wrote = m[wire::HEADER + 48..].to_vec();
                        let n = wrote.len() as u32;
                        let answer = reply(wire::WRITE, status::SUCCESS, id, 0, &body17(n, &[]));
                        s.write_all(&answer).unwrap();
                    }
                    other => panic!("command {other}"),
                }
            }
            // An unsolicited message (an oplock break's id) is passed over.
            s.write_all(&reply(
                wire::READ,
                status::SUCCESS,
                u64::MAX,
                0,
                &body17(0, &[]),
            ))
            .unwrap();
            let mut back = b"re: ".to_vec();
            back.extend_from_slice(&wrote);
            let data = body17(back.len() as u32, &back);
            let id = read_id.unwrap();
            s.write_all(&reply(wire::READ, status::SUCCESS, id, 2, &data))
                .unwrap();
            // Then the connection ends.
        });
        let session = Session {
            stream: TcpStream::connect(("127.0.0.1", port)).unwrap(),
            what: r"\\127.0.0.1\pipe\fake".into(),
            next_id: 5,
            credits: 2,
            session_id: 1,
            tree_id: 1,
            dialect: 0x0311,
            signer: None,
            max_read: CHUNK,
            max_write: CHUNK,
            max_transact: CHUNK,
            last_sent: Vec::new(),
        };
        let pipe = RemotePipe {
            session,
            file: [1; 16],
            pipe_mode: Some(PipeMode::Byte),
            read_mode: ReadMode::Byte,
            seen_message: false,
            pending: b"held back".to_vec(),
            taken: 5,
            pending_more: false,
        };
        let (duplex, held) = pipe.into_duplex().unwrap();
        assert_eq!(held, b"back");
        let shared = duplex.shared();
        let reader = std::thread::spawn(move || shared.read_chunk());
        duplex.shared().write_all(b"ping").unwrap();
        let got = reader.join().unwrap().unwrap();
        assert_eq!(got.as_deref(), Some(&b"re: ping"[..]));
        server.join().unwrap();
        // The server closed: every later call is a broken pipe naming the pipe.
        let e = duplex.shared().read_chunk().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
        assert!(e.to_string().contains(r"\\127.0.0.1\pipe\fake"), "{e}");
    }
}
