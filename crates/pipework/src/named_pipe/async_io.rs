//! The tokio front-end: [`AsyncNamedPipeServer`] and [`AsyncNamedPipeClient`].
//!
//! They drive the same machinery as the blocking types (the instance registry, the handshake,
//! the framing state machine) on nonblocking sockets, waiting for readiness through tokio
//! instead of in the kernel: only the waiting differs. A direction that moved to its
//! shared-memory ring (see [`super::ring`]) waits for this side's bell instead of the socket:
//! the task marks the ring's waiting word "awaiting the bell", and the peer rings the bell
//! (an eventfd) instead of waking a futex; a watch looks at the peer after 50 ms without a ring.

use std::future::{poll_fn, Future};
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::time::{sleep, Instant, Sleep};

use super::client::{Backoff, Opening};
use super::ring::Rings;
use super::{
    ClientOptions, Connected, Credentials, MessageRead, NamedPipeClient, NamedPipeServer,
    ServerOptions, WaitTimeout,
};
use crate::name::PipeName;

/// A readiness registration for (a duplicate of) a pipe's socket.
fn register(fd: impl AsFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    crate::sys::register_async(crate::handle::duplicate(fd, false)?, interest)
}

/// The number of a descriptor that its owner keeps open for longer than the registration made
/// with it ([`register_in_place`]).
#[derive(Debug)]
struct Registered(std::os::fd::RawFd);

impl std::os::fd::AsRawFd for Registered {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

/// A readiness registration for a pipe's socket itself, without a duplicate: one descriptor
/// per client, not two, for a server holding thousands. The registration must be dropped
/// before the socket closes; [`AsyncNamedPipeServer`] sees to it (its `io` goes first).
fn register_in_place(fd: impl AsFd, interest: Interest) -> io::Result<AsyncFd<Registered>> {
    use std::os::fd::AsRawFd;
    crate::sys::register_async(Registered(fd.as_fd().as_raw_fd()), interest)
}

/// The I/O both async ends share: an inner blocking-API end in nonblocking mode, and its
/// readiness registration.
trait Inner: io::Read + io::Write {
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead>;
    fn write_message(&mut self, message: &[u8]) -> io::Result<()>;
    /// The connection's rings, if it has any.
    fn rings(&mut self) -> Option<&mut Rings>;
    /// Whether a read has something to return besides what the ring holds (bytes read ahead,
    /// a state to report): then it is made even when the ring is empty.
    fn read_pending(&self) -> bool;
    /// Prepares an in-place read (`lend_in_place` of the blocking ends).
    fn lend_in_place(&mut self, messages: bool) -> io::Result<MessageRead>;
}

impl Inner for NamedPipeServer {
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        NamedPipeServer::read_message(self, buf)
    }
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        NamedPipeServer::write_message(self, message)
    }
    fn rings(&mut self) -> Option<&mut Rings> {
        self.rings_mut()
    }
    fn read_pending(&self) -> bool {
        NamedPipeServer::read_pending(self)
    }
    fn lend_in_place(&mut self, messages: bool) -> io::Result<MessageRead> {
        NamedPipeServer::lend_in_place(self, messages)
    }
}

impl Inner for NamedPipeClient {
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        NamedPipeClient::read_message(self, buf)
    }
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        NamedPipeClient::write_message(self, message)
    }
    fn rings(&mut self) -> Option<&mut Rings> {
        self.rings_mut()
    }
    fn read_pending(&self) -> bool {
        NamedPipeClient::read_pending(self)
    }
    fn lend_in_place(&mut self, messages: bool) -> io::Result<MessageRead> {
        NamedPipeClient::lend_in_place(self, messages)
    }
}

/// How often a task waiting on a ring looks at its peer (as a blocking end's sleep slice).
const WATCH: Duration = Duration::from_millis(50);

/// This side's bell, registered with the runtime for one direction's waits, and the watch on
/// the peer.
#[derive(Debug)]
struct Bell {
    fd: AsyncFd<OwnedFd>,
    watch: Pin<Box<Sleep>>,
    /// The bell rang since the watch last ran out: the peer was alive within the last
    /// [`WATCH`].
    rang: bool,
}

impl Bell {
    fn new(bell: BorrowedFd<'_>) -> io::Result<Bell> {
        Ok(Bell {
            fd: register(bell, Interest::READABLE)?,
            watch: Box::pin(sleep(WATCH)),
            rang: false,
        })
    }

    /// Waits for the bell (armed by the caller) or for the watch: either way, look again.
    /// `true` when the bell rang, `false` when a whole [`WATCH`] went by without it (then the
    /// peer is to be looked at: a killed one rings no bell).
    ///
    /// A watch that runs out after the bell rang only starts over: a busy connection's peer
    /// is alive, and looking at it would cost both sides a few system calls every [`WATCH`]
    /// (the read that looks finds the ring empty and asks the writer for a wake-up byte on
    /// the socket). A peer killed is still seen within two [`WATCH`]es.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if let Poll::Ready(guard) = self.fd.poll_read_ready(cx) {
            let mut guard = guard?;
            // Back to zero; the next ring makes the bell ready again.
            let _ = rustix::io::read(guard.get_inner().as_fd(), &mut [0u8; 8]);
            guard.clear_ready();
            self.rang = true;
            return Poll::Ready(Ok(true));
        }
        while self.watch.as_mut().poll(cx).is_ready() {
            self.watch.as_mut().reset(Instant::now() + WATCH);
            if !std::mem::take(&mut self.rang) {
                return Poll::Ready(Ok(false));
            }
        }
        Poll::Pending
    }
}

/// The bell registered twice (each a copy of the handle): a reading task and a writing task
/// are each woken when it rings. Made at the first wait on a ring (boxed: an end on the socket
/// carries one word for it).
#[derive(Debug, Default)]
struct Bells(Option<Box<[Option<Bell>; 2]>>);

/// Which way an operation moves data.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read = 0,
    Write = 1,
}

/// Performs `op` (nonblocking) on `inner`, waiting while it would block: for the socket's
/// readiness while the direction is on the socket, for the bell once it is on the ring.
///
/// A read on the ring that finds it empty (and nothing read ahead) waits for the bell at once,
/// without making the read: a read of an empty ring looks at the peer (a system call), which
/// a server's every request would pay once more, the read that finds the next request not
/// there yet. The peer is still looked at whenever the watch runs out.
fn poll_op<I: Inner, T>(
    inner: &mut I,
    io: &AsyncFd<impl std::os::fd::AsRawFd>,
    bells: &mut Bells,
    cx: &mut Context<'_>,
    dir: Dir,
    mut op: impl FnMut(&mut I) -> io::Result<T>,
) -> Poll<io::Result<T>> {
    // The watch ran out: make the read, which looks at the peer.
    let mut look = false;
    loop {
        let on_ring = match inner.rings() {
            Some(rings) if dir == Dir::Read => rings.reads_ring(),
            Some(rings) => rings.writes_ring(),
            None => false,
        };
        if on_ring {
            let empty = dir == Dir::Read
                && !look
                && !inner.read_pending()
                && inner.rings().is_some_and(|rings| rings.arm_read());
            if !empty {
                match op(inner) {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    other => return Poll::Ready(other),
                }
            }
            look = false;
            let Some(rings) = inner.rings() else { continue };
            let armed = empty
                || match dir {
                    Dir::Read => rings.arm_read(),
                    Dir::Write => rings.arm_write(),
                };
            if !armed {
                continue;
            }
            let pair = bells.0.get_or_insert_with(Default::default);
            let slot = &mut pair[dir as usize];
            let bell = match slot {
                Some(bell) => bell,
                None => slot.insert(Bell::new(rings.bell())?),
            };
            look = !ready!(bell.poll_wait(cx))?;
            continue;
        }
        let mut guard = match dir {
            Dir::Read => ready!(io.poll_read_ready(cx))?,
            Dir::Write => ready!(io.poll_write_ready(cx))?,
        };
        match op(inner) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => guard.clear_ready(),
            other => return Poll::Ready(other),
        }
    }
}

async fn read_message(
    inner: &mut impl Inner,
    io: &AsyncFd<impl std::os::fd::AsRawFd>,
    bells: &mut Bells,
    buf: &mut [u8],
) -> io::Result<MessageRead> {
    // Parts of one message arrive as they come; the framing state keeps the rest.
    let mut filled = 0;
    loop {
        let got = poll_fn(|cx| {
            poll_op(inner, io, bells, cx, Dir::Read, |i| {
                i.read_message(&mut buf[filled..])
            })
        })
        .await;
        match got {
            Ok(MessageRead::Complete(n)) => return Ok(MessageRead::Complete(filled + n)),
            Ok(MessageRead::MoreData { read, left }) => {
                filled += read;
                if filled == buf.len() {
                    return Ok(MessageRead::MoreData { read: filled, left });
                }
            }
            Ok(MessageRead::End) if filled == 0 => return Ok(MessageRead::End),
            Ok(MessageRead::End) => return Err(ErrorKind::BrokenPipe.into()),
            Err(e) => return Err(e),
        }
    }
}

/// An in-place read prepared, waiting as a read does (for the socket, or for the bell once the
/// direction is on its ring).
async fn lend_in_place(
    inner: &mut impl Inner,
    io: &AsyncFd<impl std::os::fd::AsRawFd>,
    bells: &mut Bells,
    messages: bool,
) -> io::Result<MessageRead> {
    poll_fn(|cx| {
        poll_op(inner, io, bells, cx, Dir::Read, |i| {
            i.lend_in_place(messages)
        })
    })
    .await
}

async fn write_message(
    inner: &mut impl Inner,
    io: &AsyncFd<impl std::os::fd::AsRawFd>,
    bells: &mut Bells,
    message: &[u8],
) -> io::Result<()> {
    poll_fn(|cx| {
        poll_op(inner, io, bells, cx, Dir::Write, |i| {
            i.write_message(message)
        })
    })
    .await
}

fn poll_read(
    inner: &mut impl Inner,
    io: &AsyncFd<impl std::os::fd::AsRawFd>,
    bells: &mut Bells,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let n = ready!(poll_op(inner, io, bells, cx, Dir::Read, |i| i
        .read(buf.initialize_unfilled())))?;
    buf.advance(n);
    Poll::Ready(Ok(()))
}

fn poll_write(
    inner: &mut impl Inner,
    io: &AsyncFd<impl std::os::fd::AsRawFd>,
    bells: &mut Bells,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    poll_op(inner, io, bells, cx, Dir::Write, |i| i.write(buf))
}

fn not_connected() -> io::Error {
    io::Error::new(
        ErrorKind::NotConnected,
        "named pipe: no client is connected to this instance",
    )
}

/// One instance of a named pipe, server side, for tokio (the overlapped server's Rust form).
///
/// Create it with [`ServerOptions::create_async`]; everything else reads like
/// [`NamedPipeServer`], with `async` waits.
// `repr(C)`: the registration and the bells, which every wait looks at, lie right before the
// connection's state (the start of `inner`), in the same lines of memory.
#[derive(Debug)]
#[repr(C)]
pub struct AsyncNamedPipeServer {
    /// The registration of `inner`'s connected socket: declared first, so it is dropped (and
    /// deregistered) before `inner` closes the socket.
    io: Option<AsyncFd<Registered>>,
    bells: Bells,
    inner: NamedPipeServer,
}

impl ServerOptions {
    /// Creates one instance for use with tokio (inside a runtime): see [`ServerOptions::create`].
    pub fn create_async(&self, name: &str) -> io::Result<AsyncNamedPipeServer> {
        let mut inner = self.create(name)?;
        inner.set_io_nonblocking(true)?;
        Ok(AsyncNamedPipeServer {
            io: None,
            inner,
            bells: Bells::default(),
        })
    }
}

impl AsyncNamedPipeServer {
    /// The blocking-API view of this instance (name, type, client credentials, ...).
    pub fn get_ref(&self) -> &NamedPipeServer {
        &self.inner
    }

    /// Waits for a client and connects it (`ConnectNamedPipe`): see [`NamedPipeServer::connect`].
    pub async fn connect(&mut self) -> io::Result<Connected> {
        let mut waited = false;
        loop {
            match self.inner.connect() {
                Ok(connected) => {
                    self.bells = Bells::default();
                    self.io = Some(register_in_place(
                        &self.inner,
                        Interest::READABLE | Interest::WRITABLE,
                    )?);
                    return Ok(if waited {
                        Connected::Connected
                    } else {
                        connected
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // The instance listens now: wait until a client knocks.
                    match self.inner.smb.fd() {
                        // Or a client on another machine, through Samba (named_pipe/smb).
                        Some(fd) => {
                            let listener = register(&self.inner, Interest::READABLE)?;
                            let remote = register(fd, Interest::READABLE)?;
                            super::smb::either(&listener, &remote).await?;
                        }
                        None => {
                            let listener = register_in_place(&self.inner, Interest::READABLE)?;
                            let _ = listener.readable().await?;
                        }
                    }
                    waited = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Disconnects the client (`DisconnectNamedPipe`): see [`NamedPipeServer::disconnect`].
    pub fn disconnect(&mut self) -> io::Result<()> {
        self.io = None;
        self.bells = Bells::default();
        self.inner.disconnect()
    }

    /// The connected client's process id, user and group.
    pub fn client(&self) -> Option<Credentials> {
        self.inner.client()
    }

    /// The client on another machine, through Samba: see [`NamedPipeServer::remote_client`].
    pub fn remote_client(&self) -> Option<&super::RemoteClient> {
        self.inner.remote_client()
    }

    /// Reads one message: see [`NamedPipeServer::read_message`].
    pub async fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        let io = self.io.as_ref().ok_or_else(not_connected)?;
        read_message(&mut self.inner, io, &mut self.bells, buf).await
    }

    /// Writes one message.
    pub async fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        let io = self.io.as_ref().ok_or_else(not_connected)?;
        write_message(&mut self.inner, io, &mut self.bells, message).await
    }

    /// [`NamedPipeServer::fill_buf_in_place`], waiting as an async read does: the bytes
    /// waiting, lent where they lie, until [`consume`](Self::consume).
    ///
    /// # Safety
    /// As [`NamedPipeServer::fill_buf_in_place`]: the client's process must be a pipework end
    /// (which never changes bytes it has published until they are consumed).
    pub async unsafe fn fill_buf_in_place(&mut self) -> io::Result<&[u8]> {
        let io = self.io.as_ref().ok_or_else(not_connected)?;
        lend_in_place(&mut self.inner, io, &mut self.bells, false).await?;
        // SAFETY: the caller vouches for the client (this function's contract).
        Ok(unsafe { self.inner.lent_in_place() })
    }

    /// [`NamedPipeServer::read_message_in_place`], waiting as an async read does.
    ///
    /// # Safety
    /// As [`fill_buf_in_place`](Self::fill_buf_in_place).
    pub async unsafe fn read_message_in_place(&mut self) -> io::Result<(&[u8], MessageRead)> {
        let io = self.io.as_ref().ok_or_else(not_connected)?;
        let got = lend_in_place(&mut self.inner, io, &mut self.bells, true).await?;
        // SAFETY: the caller vouches for the client (this function's contract).
        Ok((unsafe { self.inner.lent_in_place() }, got))
    }

    /// Marks `n` bytes lent by the last in-place read as read ([`NamedPipeServer::consume`]).
    pub fn consume(&mut self, n: usize) {
        self.inner.consume(n);
    }
}

impl AsyncRead for AsyncNamedPipeServer {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let io = this.io.as_ref().ok_or_else(not_connected)?;
        poll_read(&mut this.inner, io, &mut this.bells, cx, buf)
    }
}

impl AsyncWrite for AsyncNamedPipeServer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let io = this.io.as_ref().ok_or_else(not_connected)?;
        poll_write(&mut this.inner, io, &mut this.bells, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.inner.is_connected() {
            // Shutting down twice is no error, unlike a second `disconnect`.
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(this.disconnect())
    }
}

/// The client end of a named pipe, for tokio.
// `repr(C)`, as the server's: the registration and the bells before the connection's state.
#[derive(Debug)]
#[repr(C)]
pub struct AsyncNamedPipeClient {
    io: AsyncFd<OwnedFd>,
    bells: Bells,
    inner: NamedPipeClient,
}

impl ClientOptions {
    /// Opens `name` for use with tokio (inside a runtime): see [`ClientOptions::open`]. Waiting
    /// for a free instance, if [`wait`](Self::wait) was asked, happens without blocking the
    /// runtime's thread, within the same time limits. As in Win32, the open does not wait for
    /// the server's `connect`.
    ///
    /// A pipe on another machine (`\\host\pipe\NAME`) is `Unsupported` here: open it with
    /// [`open_remote_stream`](Self::open_remote_stream), a full-duplex byte stream over SMB.
    pub async fn open_async(&self, name: &str) -> io::Result<AsyncNamedPipeClient> {
        let parsed = PipeName::parse(name)?;
        if parsed.server().is_some() {
            return Err(io::Error::new(
                ErrorKind::Unsupported,
                format!(
                    "named pipe {parsed}: an AsyncNamedPipeClient is a pipe on this machine; \
                     open one on another with ClientOptions::open_remote_stream"
                ),
            ));
        }
        let mut limit = self.first_limit();
        let mut pause = Backoff::default();
        loop {
            match self.try_open_async(&parsed, &mut limit).await {
                Err(e) if super::is_busy(&e) && self.wait_asked() => {
                    let Some(timeout) = self.next_wait(&limit) else {
                        return Err(e);
                    };
                    if let Some(d) = pause.next(&limit) {
                        tokio::time::sleep(d).await;
                    }
                    wait_async(name, timeout).await?;
                }
                other => return other,
            }
        }
    }

    async fn try_open_async(
        &self,
        name: &PipeName,
        limit: &mut Option<Option<std::time::Instant>>,
    ) -> io::Result<AsyncNamedPipeClient> {
        let mut opening = Opening::new(self.clone(), name, true, limit)?;
        let Some((fd, server)) = opening.next_socket()? else {
            return Err(opening.exhausted());
        };
        let mut inner = opening.finish(fd, server)?;
        self.apply_read_mode(&mut inner)?;
        let io = register(&inner, Interest::READABLE | Interest::WRITABLE)?;
        Ok(AsyncNamedPipeClient {
            inner,
            io,
            bells: Bells::default(),
        })
    }
}

/// `WaitNamedPipe` without blocking the runtime: see [`super::wait`].
pub async fn wait_async(name: &str, timeout: WaitTimeout) -> io::Result<()> {
    let mut waiter = super::Waiter::new(name, timeout)?;
    let watch = register(&waiter.watch, Interest::READABLE)?;
    loop {
        let Some(step) = waiter.check()? else {
            return Ok(());
        };
        if let Ok(guard) = tokio::time::timeout(step, watch.readable()).await {
            guard?.clear_ready();
        }
    }
}

impl AsyncNamedPipeClient {
    /// Opens `name` for reading and writing: see [`ClientOptions::open_async`].
    pub async fn open(name: &str) -> io::Result<AsyncNamedPipeClient> {
        ClientOptions::new().open_async(name).await
    }

    /// The blocking-API view of this end (server credentials, pipe type, read mode, ...).
    pub fn get_mut(&mut self) -> &mut NamedPipeClient {
        &mut self.inner
    }

    /// The server's process id, user and group.
    pub fn server(&self) -> Credentials {
        self.inner.server()
    }

    /// Reads one message: see [`NamedPipeClient::read_message`].
    pub async fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        read_message(&mut self.inner, &self.io, &mut self.bells, buf).await
    }

    /// Writes one message.
    pub async fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        write_message(&mut self.inner, &self.io, &mut self.bells, message).await
    }

    /// [`NamedPipeClient::fill_buf_in_place`], waiting as an async read does: the bytes
    /// waiting, lent where they lie, until [`consume`](Self::consume).
    ///
    /// # Safety
    /// As [`NamedPipeClient::fill_buf_in_place`]: the server's process must be a pipework end
    /// (which never changes bytes it has published until they are consumed).
    pub async unsafe fn fill_buf_in_place(&mut self) -> io::Result<&[u8]> {
        lend_in_place(&mut self.inner, &self.io, &mut self.bells, false).await?;
        // SAFETY: the caller vouches for the server (this function's contract).
        Ok(unsafe { self.inner.lent_in_place() })
    }

    /// [`NamedPipeClient::read_message_in_place`], waiting as an async read does.
    ///
    /// # Safety
    /// As [`fill_buf_in_place`](Self::fill_buf_in_place).
    pub async unsafe fn read_message_in_place(&mut self) -> io::Result<(&[u8], MessageRead)> {
        let got = lend_in_place(&mut self.inner, &self.io, &mut self.bells, true).await?;
        // SAFETY: the caller vouches for the server (this function's contract).
        Ok((unsafe { self.inner.lent_in_place() }, got))
    }

    /// Marks `n` bytes lent by the last in-place read as read ([`NamedPipeClient::consume`]).
    pub fn consume(&mut self, n: usize) {
        self.inner.consume(n);
    }

    /// Writes `request` as one message and reads one reply message (`TransactNamedPipe`).
    pub async fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<MessageRead> {
        self.write_message(request).await?;
        self.read_message(reply).await
    }
}

impl AsyncRead for AsyncNamedPipeClient {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        poll_read(&mut this.inner, &this.io, &mut this.bells, cx, buf)
    }
}

impl AsyncWrite for AsyncNamedPipeClient {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        poll_write(&mut this.inner, &this.io, &mut this.bells, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().inner.shutdown_write())
    }
}
