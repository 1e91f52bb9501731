//! The tokio front-end: [`AsyncNamedPipeServer`] and [`AsyncNamedPipeClient`].
//!
//! They drive the same machinery as the blocking types (the instance registry, the handshake,
//! the framing state machine) on nonblocking sockets, waiting for readiness through tokio
//! instead of in the kernel: only the waiting differs.

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use super::client::{timed_out, Backoff, Opening};
use super::handshake::{ReplyReader, REPLY_LEN};
use super::{
    ClientOptions, Connected, Credentials, MessageRead, NamedPipeClient, NamedPipeServer,
    ServerOptions, WaitTimeout,
};
use crate::name::PipeName;

/// A readiness registration for (a duplicate of) a pipe's socket.
fn register(fd: impl AsFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    crate::sys::register_async(crate::handle::duplicate(fd, false)?, interest)
}

/// The I/O both async ends share: an inner blocking-API end in nonblocking mode, and its
/// readiness registration.
trait Inner: io::Read + io::Write {
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead>;
    fn write_message(&mut self, message: &[u8]) -> io::Result<()>;
}

impl Inner for NamedPipeServer {
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        NamedPipeServer::read_message(self, buf)
    }
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        NamedPipeServer::write_message(self, message)
    }
}

impl Inner for NamedPipeClient {
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        NamedPipeClient::read_message(self, buf)
    }
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        NamedPipeClient::write_message(self, message)
    }
}

async fn read_message(
    inner: &mut impl Inner,
    io: &AsyncFd<OwnedFd>,
    buf: &mut [u8],
) -> io::Result<MessageRead> {
    // Parts of one message arrive as they come; the framing state keeps the rest.
    let mut filled = 0;
    loop {
        let mut guard = io.readable().await?;
        match inner.read_message(&mut buf[filled..]) {
            Ok(MessageRead::Complete(n)) => return Ok(MessageRead::Complete(filled + n)),
            Ok(MessageRead::MoreData { read, left }) => {
                filled += read;
                if filled == buf.len() {
                    return Ok(MessageRead::MoreData { read: filled, left });
                }
                guard.clear_ready();
            }
            Ok(MessageRead::End) if filled == 0 => return Ok(MessageRead::End),
            Ok(MessageRead::End) => return Err(ErrorKind::BrokenPipe.into()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => guard.clear_ready(),
            Err(e) => return Err(e),
        }
    }
}

async fn write_message(
    inner: &mut impl Inner,
    io: &AsyncFd<OwnedFd>,
    message: &[u8],
) -> io::Result<()> {
    loop {
        let mut guard = io.writable().await?;
        match inner.write_message(message) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => guard.clear_ready(),
            other => return other,
        }
    }
}

fn poll_read(
    inner: &mut impl Inner,
    io: &AsyncFd<OwnedFd>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    loop {
        let mut guard = ready!(io.poll_read_ready(cx))?;
        match inner.read(buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => guard.clear_ready(),
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

fn poll_write(
    inner: &mut impl Inner,
    io: &AsyncFd<OwnedFd>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    loop {
        let mut guard = ready!(io.poll_write_ready(cx))?;
        match inner.write(buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => guard.clear_ready(),
            other => return Poll::Ready(other),
        }
    }
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
#[derive(Debug)]
pub struct AsyncNamedPipeServer {
    inner: NamedPipeServer,
    io: Option<AsyncFd<OwnedFd>>,
}

impl ServerOptions {
    /// Creates one instance for use with tokio (inside a runtime): see [`ServerOptions::create`].
    pub fn create_async(&self, name: &str) -> io::Result<AsyncNamedPipeServer> {
        // An async instance waits on its socket's readiness: its data stays on the socket.
        let mut inner = self.clone().shared_memory(false).create(name)?;
        inner.set_nonblocking(true)?;
        Ok(AsyncNamedPipeServer { inner, io: None })
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
                    self.io = Some(register(
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
                    let listener = register(&self.inner, Interest::READABLE)?;
                    let _ = listener.readable().await?;
                    waited = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Disconnects the client (`DisconnectNamedPipe`): see [`NamedPipeServer::disconnect`].
    pub fn disconnect(&mut self) -> io::Result<()> {
        self.io = None;
        self.inner.disconnect()
    }

    /// The connected client's process id, user and group.
    pub fn client(&self) -> Option<Credentials> {
        self.inner.client()
    }

    /// Reads one message: see [`NamedPipeServer::read_message`].
    pub async fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        let io = self.io.as_ref().ok_or_else(not_connected)?;
        read_message(&mut self.inner, io, buf).await
    }

    /// Writes one message.
    pub async fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        let io = self.io.as_ref().ok_or_else(not_connected)?;
        write_message(&mut self.inner, io, message).await
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
        poll_read(&mut this.inner, io, cx, buf)
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
        poll_write(&mut this.inner, io, cx, buf)
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
#[derive(Debug)]
pub struct AsyncNamedPipeClient {
    inner: NamedPipeClient,
    io: AsyncFd<OwnedFd>,
}

impl ClientOptions {
    /// Opens `name` for use with tokio (inside a runtime): see [`ClientOptions::open`]. Waiting
    /// for the server's admission, and for a free instance if [`wait`](Self::wait) was asked,
    /// happens without blocking the runtime's thread, within the same time limits.
    pub async fn open_async(&self, name: &str) -> io::Result<AsyncNamedPipeClient> {
        let parsed = PipeName::parse(name)?;
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
        loop {
            let Some(fd) = opening.next_socket()? else {
                return Err(opening.exhausted());
            };
            let reply = read_reply_async(&fd, opening.deadline, &opening.what).await?;
            if let Some(mut inner) = opening.finish(fd, reply, Vec::new())? {
                self.apply_read_mode(&mut inner)?;
                let io = register(&inner, Interest::READABLE | Interest::WRITABLE)?;
                return Ok(AsyncNamedPipeClient { inner, io });
            }
        }
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

/// Reads the server's handshake reply until `deadline`: see the blocking front-end.
async fn read_reply_async(
    fd: &OwnedFd,
    deadline: Option<std::time::Instant>,
    what: &str,
) -> io::Result<Option<[u8; REPLY_LEN]>> {
    let io = register(fd, Interest::READABLE)?;
    let reading = async {
        let mut reply = ReplyReader::default();
        let mut none = Vec::new();
        loop {
            if let Some(bytes) = reply.complete() {
                return Ok(Some(bytes));
            }
            let mut guard = io.readable().await?;
            match super::conn::recv_into(fd.as_fd(), reply.space(), &mut none, 0) {
                Ok(0) => return Ok(None),
                Ok(n) => reply.advance(n)?,
                Err(e) if e.kind() == ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) => return Err(e),
            }
        }
    };
    match crate::sys::time::left(deadline) {
        None => reading.await,
        Some(left) => match tokio::time::timeout(left, reading).await {
            Ok(result) => result,
            Err(_) => Err(timed_out(what)),
        },
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
        read_message(&mut self.inner, &self.io, buf).await
    }

    /// Writes one message.
    pub async fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        write_message(&mut self.inner, &self.io, message).await
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
        poll_read(&mut this.inner, &this.io, cx, buf)
    }
}

impl AsyncWrite for AsyncNamedPipeClient {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        poll_write(&mut this.inner, &this.io, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        Poll::Ready(
            rustix::net::shutdown(&this.inner, rustix::net::Shutdown::Write).map_err(Into::into),
        )
    }
}
