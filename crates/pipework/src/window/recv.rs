//! The receiving side of a window: its listening socket, one reader thread per connected
//! sender, and the queue its owner pumps (or its handler thread drains).
//!
//! A reader thread reads one request at a time from its connection. A posted message is queued
//! (or refused when the queue is full) and answered at once; a sent message is queued ahead of
//! every posted one, and the reader waits for the owner's result before it answers and reads
//! the next request. Senders therefore never wait on each other's connections, and a sender
//! that stalls mid-request holds up its own reader thread only.

use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::net::{sockopt, RecvFlags};

use super::blob::Mapped;
use super::wire::{Answer, Op, Request, Status, ABORT_IF_HUNG, ANSWER_LEN, IN_MEMFD, REQUEST_LEN};
use super::{Hwnd, WM_COPYDATA};
use crate::sys::fdpass;

/// The most senders connected to one window at once; more are turned away.
const MAX_CONNECTIONS: usize = 1024;

/// Who sent a message: the process and user as the kernel tells them, and the sending window
/// as the sender states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The sending process (from `SO_PEERCRED` when it connected).
    pub pid: u32,
    /// The sending user (from `SO_PEERCRED`).
    pub uid: u32,
    /// The window the sender names as its own (`wParam` of `WM_COPYDATA`), if any.
    pub window: Option<Hwnd>,
}

#[derive(Debug)]
enum Data {
    Empty,
    Inline(Vec<u8>),
    Mapped(Mapped),
}

/// What a sent message's answer carries back to its reader thread.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: Status,
    pub(crate) result: isize,
    pub(crate) data: Vec<u8>,
}

/// One message taken from a window's queue.
///
/// Its data is valid while the message lives; a sent message is answered by [`Message::reply`],
/// or with 0 when dropped unanswered (what `DefWindowProc` answers for most messages). The
/// sender of a sent message waits until then.
#[derive(Debug)]
pub struct Message {
    msg: u32,
    wparam: usize,
    lparam: isize,
    data: Data,
    origin: Origin,
    reply: Option<SyncSender<Reply>>,
}

impl Message {
    /// The message number (`WM_USER + 1`, [`WM_COPYDATA`], ...).
    pub fn msg(&self) -> u32 {
        self.msg
    }

    /// `wParam`.
    pub fn wparam(&self) -> usize {
        self.wparam
    }

    /// `lParam`.
    pub fn lparam(&self) -> isize {
        self.lparam
    }

    /// The bytes the message carries (empty for most messages), read-only and valid while the
    /// message lives.
    pub fn data(&self) -> &[u8] {
        match &self.data {
            Data::Empty => &[],
            Data::Inline(v) => v,
            Data::Mapped(m) => m.bytes(),
        }
    }

    /// Who sent it.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Whether the sender waits for an answer (`InSendMessage`): `false` for a posted message.
    pub fn is_sent(&self) -> bool {
        self.reply.is_some()
    }

    /// For a [`WM_COPYDATA`] message, its `dwData` (the kind) and its bytes.
    pub fn copy_data(&self) -> Option<(usize, &[u8])> {
        (self.msg == WM_COPYDATA).then(|| (self.lparam as usize, self.data()))
    }

    /// Answers a sent message with `result` (`ReplyMessage`); does nothing for a posted one.
    pub fn reply(mut self, result: isize) {
        self.answer(Status::Done, result, Vec::new());
    }

    /// Answers with `result` and bytes (the data-carrying answers DDE needs).
    pub(crate) fn reply_with(mut self, result: isize, data: Vec<u8>) {
        self.answer(Status::Done, result, data);
    }

    fn answer(&mut self, status: Status, result: isize, data: Vec<u8>) {
        if let Some(reply) = self.reply.take() {
            // The reader waits for exactly this; if it is gone (the sender left), nobody cares.
            let _ = reply.send(Reply {
                status,
                result,
                data,
            });
        }
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        self.answer(Status::Done, 0, Vec::new());
    }
}

/// The queue and what the reader threads and the owner share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) hwnd: Hwnd,
    queue: Mutex<Queue>,
    ready: Condvar,
    post_limit: usize,
    post_bytes_limit: usize,
    hung_after: Duration,
    #[cfg(feature = "tokio")]
    pub(crate) notify: tokio::sync::Notify,
}

#[derive(Debug)]
struct Queue {
    sent: VecDeque<Message>,
    posted: VecDeque<Message>,
    posted_bytes: usize,
    /// When the owner last asked for a message (`GetMessage`, `PeekMessage`).
    last_asked: Instant,
    /// Sent messages taken and not answered yet are counted by their readers.
    handling: usize,
    /// The owner is blocked waiting for a message (so it is responding).
    waiting: bool,
    closed: bool,
    connections: Vec<UnixStream>,
}

impl Shared {
    pub(crate) fn new(
        hwnd: Hwnd,
        post_limit: usize,
        post_bytes_limit: usize,
        hung_after: Duration,
    ) -> Shared {
        Shared {
            hwnd,
            queue: Mutex::new(Queue {
                sent: VecDeque::new(),
                posted: VecDeque::new(),
                posted_bytes: 0,
                last_asked: Instant::now(),
                handling: 0,
                waiting: false,
                closed: false,
                connections: Vec::new(),
            }),
            ready: Condvar::new(),
            post_limit,
            post_bytes_limit,
            hung_after,
            #[cfg(feature = "tokio")]
            notify: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        self.ready.notify_one();
        #[cfg(feature = "tokio")]
        self.notify.notify_one();
    }

    /// The next message, sent ones first, without waiting.
    pub(crate) fn take(&self) -> Option<Message> {
        let mut q = self.lock();
        q.last_asked = Instant::now();
        Self::pop(&mut q)
    }

    fn pop(q: &mut Queue) -> Option<Message> {
        if let Some(m) = q.sent.pop_front() {
            return Some(m);
        }
        let m = q.posted.pop_front()?;
        q.posted_bytes -= m.data().len();
        Some(m)
    }

    /// The next message, waiting at most `timeout` (`None`: forever).
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Option<Message> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut q = self.lock();
        loop {
            q.last_asked = Instant::now();
            if let Some(m) = Self::pop(&mut q) {
                return Some(m);
            }
            if q.closed {
                return None;
            }
            let left = match deadline {
                None => None,
                Some(d) => Some(d.checked_duration_since(Instant::now())?),
            };
            q.waiting = true;
            q = match left {
                None => self.ready.wait(q).unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    self.ready
                        .wait_timeout(q, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
            q.waiting = false;
        }
    }

    /// Messages waiting now.
    pub(crate) fn queued(&self) -> usize {
        let q = self.lock();
        q.sent.len() + q.posted.len()
    }

    /// Whether the owner is not responding: messages wait (or one is being handled) and it has
    /// not asked for a message for `hung_after` (`IsHungAppWindow`).
    fn hung(&self, q: &Queue) -> bool {
        !q.waiting
            && (q.handling > 0 || !q.sent.is_empty() || !q.posted.is_empty())
            && q.last_asked.elapsed() >= self.hung_after
    }

    /// Closes the window: queued messages are answered "destroyed", connections shut down.
    pub(crate) fn close(&self) {
        let (drained, connections) = {
            let mut q = self.lock();
            q.closed = true;
            let mut drained: Vec<Message> = q.sent.drain(..).collect();
            drained.extend(q.posted.drain(..));
            q.posted_bytes = 0;
            (drained, std::mem::take(&mut q.connections))
        };
        for mut m in drained {
            m.answer(Status::Destroyed, 0, Vec::new());
        }
        for c in connections {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        self.ready.notify_all();
        #[cfg(feature = "tokio")]
        self.notify.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

/// Accepts senders until the listener is shut down.
pub(crate) fn accept_loop(listener: UnixListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(_) => return,
        };
        if shared.is_closed() {
            return;
        }
        let Ok(creds) = sockopt::socket_peercred(&stream) else {
            continue;
        };
        let origin = Origin {
            pid: creds.pid.as_raw_nonzero().get() as u32,
            uid: creds.uid.as_raw(),
            window: None,
        };
        {
            let mut q = shared.lock();
            q.connections.retain(peer_open);
            if q.connections.len() >= MAX_CONNECTIONS {
                continue;
            }
            match stream.try_clone() {
                Ok(c) => q.connections.push(c),
                Err(_) => continue,
            }
        }
        let shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("pipework-window".into())
            .stack_size(128 << 10)
            .spawn(move || serve(stream, origin, &shared));
        drop(spawned);
    }
}

/// Whether a connection's peer may still be there (not shut down or reset).
fn peer_open(c: &UnixStream) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(c, PollFlags::empty())];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&zero)) {
        Ok(0) => true,
        Ok(_) => !fds[0]
            .revents()
            .intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL),
        Err(_) => false,
    }
}

/// Serves one sender's connection until it closes or misbehaves.
fn serve(mut stream: UnixStream, origin: Origin, shared: &Shared) {
    let (reply_tx, reply_rx) = sync_channel::<Reply>(1);
    while let Ok(Some((request, fd))) = read_request(&stream) {
        let data = match read_data(&mut stream, &request, fd) {
            Ok(d) => d,
            Err(_) => {
                let _ = write_answer(&mut stream, Status::Refused, 0, &[]);
                return;
            }
        };
        let origin = Origin {
            window: (request.from != 0).then_some(Hwnd(request.from)),
            ..origin
        };
        let sent = request.op == Op::Send;
        let len = match &data {
            Data::Empty => 0,
            Data::Inline(v) => v.len(),
            Data::Mapped(m) => m.bytes().len(),
        };
        let message = Message {
            msg: request.msg,
            wparam: request.wparam as usize,
            lparam: request.lparam as isize,
            data,
            origin,
            reply: sent.then(|| reply_tx.clone()),
        };
        if !sent {
            let status = {
                let mut q = shared.lock();
                if q.closed {
                    Status::Destroyed
                } else if q.posted.len() >= shared.post_limit
                    || q.posted_bytes + len > shared.post_bytes_limit
                {
                    Status::Full
                } else {
                    q.posted_bytes += len;
                    q.posted.push_back(message);
                    shared.wake();
                    Status::Done
                }
            };
            if write_answer(&mut stream, status, 0, &[]).is_err() {
                return;
            }
            continue;
        }
        {
            let mut q = shared.lock();
            if q.closed {
                drop(q);
                let mut message = message;
                message.reply = None;
                if write_answer(&mut stream, Status::Destroyed, 0, &[]).is_err() {
                    return;
                }
                continue;
            }
            if request.flags & ABORT_IF_HUNG != 0 && shared.hung(&q) {
                drop(q);
                let mut message = message;
                message.reply = None;
                if write_answer(&mut stream, Status::Hung, 0, &[]).is_err() {
                    return;
                }
                continue;
            }
            q.handling += 1;
            q.sent.push_back(message);
            shared.wake();
        }
        let reply = wait_reply(&reply_rx);
        shared.lock().handling -= 1;
        if write_answer(&mut stream, reply.status, reply.result, &reply.data).is_err() {
            return;
        }
    }
}

fn wait_reply(rx: &Receiver<Reply>) -> Reply {
    rx.recv().unwrap_or(Reply {
        status: Status::Destroyed,
        result: 0,
        data: Vec::new(),
    })
}

/// Reads one request header (and the memfd attached to it); `None` at the end of the stream.
fn read_request(stream: &UnixStream) -> io::Result<Option<(Request, Option<OwnedFd>)>> {
    let mut header = [0u8; REQUEST_LEN];
    let mut got = 0;
    let mut handle = None;
    while got < REQUEST_LEN {
        let received = fdpass::recv(
            stream.as_fd(),
            &mut [IoSliceMut::new(&mut header[got..])],
            1,
            RecvFlags::empty(),
        )?;
        if received.bytes == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if let Some(fd) = received.handles.into_iter().next() {
            if handle.is_some() {
                return Err(io::ErrorKind::InvalidData.into());
            }
            handle = Some(fd);
        }
        got += received.bytes;
    }
    Ok(Some((Request::decode(&header)?, handle)))
}

fn read_data(stream: &mut UnixStream, request: &Request, fd: Option<OwnedFd>) -> io::Result<Data> {
    match (request.flags & IN_MEMFD != 0, fd) {
        (true, Some(fd)) => Ok(Data::Mapped(Mapped::open(&fd, request.len)?)),
        (false, None) if request.len == 0 => Ok(Data::Empty),
        (false, None) => Ok(Data::Inline(super::wire::read_inline(
            &mut *stream,
            request.len,
        )?)),
        _ => Err(io::ErrorKind::InvalidData.into()),
    }
}

fn write_answer(
    stream: &mut UnixStream,
    status: Status,
    result: isize,
    data: &[u8],
) -> io::Result<()> {
    let header = Answer {
        status,
        result: result as i64,
        len: data.len() as u64,
    }
    .encode();
    debug_assert_eq!(header.len(), ANSWER_LEN);
    if data.is_empty() {
        write_all(stream, &header)
    } else {
        let mut buf = Vec::with_capacity(ANSWER_LEN + data.len());
        buf.extend_from_slice(&header);
        buf.extend_from_slice(data);
        write_all(stream, &buf)
    }
}

/// Writes without ever raising `SIGPIPE`.
pub(crate) fn write_all(stream: &UnixStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = fdpass::send(
            stream.as_fd(),
            &[io::IoSlice::new(buf)],
            &[],
            rustix::net::SendFlags::empty(),
        )?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}
