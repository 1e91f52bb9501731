//! Tokio front-ends for shared-memory pipes: the same ends and the same ring, read and written
//! without blocking a thread.
//!
//! A task cannot sleep on a futex, so an async end waits for its *bell* instead: an eventfd made
//! with the pipe, whose handle travels with the ring. An end about to wait marks its waiting
//! word "awaiting the bell" rather than "sleeping"; the other side, blocking or async, in this
//! process or another, sees the mark when it publishes and rings the bell instead of waking a
//! futex. Async ends do not spin (spinning would hold the runtime's thread). A peer that
//! vanishes without closing rings nothing, so a waiting end also looks at its lifeline every
//! 50 ms, as blocking ends do.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (reader, writer) = pipework::shm_pipe::create()?;
//! let (mut reader, mut writer) = (reader.into_async()?, writer.into_async()?);
//! let sender = tokio::spawn(async move {
//!     writer.write_all(&[7u8; 3 << 20]).await?; // more than the ring holds
//!     writer.shutdown().await
//! });
//! let mut got = Vec::new();
//! reader.read_to_end(&mut got).await?;
//! sender.await.unwrap()?;
//! assert_eq!(got.len(), 3 << 20);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use ::tokio::time::{sleep, Instant, Sleep};

use super::wait::SLEEP_SLICE;
use super::{End, ShmReader, ShmWriter};
use crate::sys::error::error;

/// The read end of a shared-memory pipe, driven by tokio ([`ShmReader::into_async`]).
#[derive(Debug)]
pub struct AsyncShmReader {
    inner: ShmReader,
    waiting: Waiting,
}

/// The write end of a shared-memory pipe, driven by tokio ([`ShmWriter::into_async`]).
#[derive(Debug)]
pub struct AsyncShmWriter {
    inner: ShmWriter,
    waiting: Waiting,
    shut_down: bool,
}

/// How an async end waits: its bell registered with the runtime, and the watch on the peer.
#[derive(Debug)]
struct Waiting {
    bell: AsyncFd<OwnedFd>,
    watch: Pin<Box<Sleep>>,
}

/// What a wait came to.
enum Waited {
    /// Something may have changed: look again.
    Recheck,
    /// The peer's every handle is closed.
    PeerGone,
}

impl Waiting {
    fn new(bell: OwnedFd) -> io::Result<Waiting> {
        Ok(Waiting {
            bell: crate::sys::register_async(bell, Interest::READABLE)?,
            watch: Box::pin(sleep(SLEEP_SLICE)),
        })
    }

    /// Waits for the bell (already armed by the caller) or for the watch to find the peer gone.
    fn poll_wait(&mut self, cx: &mut Context<'_>, end: &End) -> Poll<io::Result<Waited>> {
        if let Poll::Ready(guard) = self.bell.poll_read_ready(cx) {
            let mut guard = guard?;
            // Take the count back to zero; the next ring makes the bell ready again.
            let _ = rustix::io::read(guard.get_inner().as_fd(), &mut [0u8; 8]);
            guard.clear_ready();
            return Poll::Ready(Ok(Waited::Recheck));
        }
        if self.watch.as_mut().poll(cx).is_ready() {
            self.watch.as_mut().reset(Instant::now() + SLEEP_SLICE);
            return Poll::Ready(Ok(if end.peer_gone()? {
                Waited::PeerGone
            } else {
                Waited::Recheck
            }));
        }
        Poll::Pending
    }
}

impl ShmReader {
    /// Registers this end with the current tokio runtime: an [`AsyncShmReader`] reads the same
    /// ring without blocking a thread. The writer may be blocking or async, in any process.
    /// Must be called within a tokio runtime.
    pub fn into_async(self) -> io::Result<AsyncShmReader> {
        let bell = self.end.reader_bell()?;
        Ok(AsyncShmReader {
            waiting: Waiting::new(bell)?,
            inner: self,
        })
    }
}

impl ShmWriter {
    /// Registers this end with the current tokio runtime: an [`AsyncShmWriter`] writes into the
    /// same ring without blocking a thread. The reader may be blocking or async, in any process.
    /// Must be called within a tokio runtime.
    pub fn into_async(self) -> io::Result<AsyncShmWriter> {
        let bell = self.end.writer_bell()?;
        Ok(AsyncShmWriter {
            waiting: Waiting::new(bell)?,
            inner: self,
            shut_down: false,
        })
    }
}

impl AsyncShmReader {
    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// Bytes that a read could take now without waiting.
    pub fn bytes_available(&self) -> io::Result<usize> {
        self.inner.bytes_available()
    }
}

impl AsyncShmWriter {
    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

impl AsyncRead for AsyncShmReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(n) = this.inner.try_read_now(buf.initialize_unfilled())? {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            if !this.inner.end.arm_reader_bell() {
                continue;
            }
            match this.waiting.poll_wait(cx, &this.inner.end) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Waited::Recheck)) => {}
                Poll::Ready(Ok(Waited::PeerGone)) => {
                    if this.inner.bytes_available()? > 0 || this.inner.writer_closed() {
                        continue;
                    }
                    return Poll::Ready(Err(this.inner.vanished()));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for AsyncShmWriter {
    /// Writes what fits in the ring now (at least one byte), waiting while it is full.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.shut_down {
            return Poll::Ready(Err(error(
                ErrorKind::BrokenPipe,
                &*this.inner.end.ring.what,
                "this writer was shut down",
            )));
        }
        loop {
            if let Some(n) = this.inner.try_write_now(data)? {
                return Poll::Ready(Ok(n));
            }
            if !this.inner.end.arm_writer_bell() {
                continue;
            }
            match this.waiting.poll_wait(cx, &this.inner.end) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(Waited::Recheck)) => {}
                Poll::Ready(Ok(Waited::PeerGone)) => return Poll::Ready(Err(this.inner.broken())),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Bytes are the reader's as soon as a write returns: nothing to flush.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes the write end for the reader, which sees the end of data after what the ring
    /// holds; later writes are `BrokenPipe`.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.shut_down {
            this.shut_down = true;
            this.inner.close();
        }
        Poll::Ready(Ok(()))
    }
}
