//! Tokio front-ends for anonymous pipes: the same ends, read and written without blocking a thread.
//!
//! Win32 offers no overlapped I/O on anonymous pipes; pipework does, through tokio's reactor.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (reader, writer) = pipework::pipe::create()?;
//! let (mut reader, mut writer) = (reader.into_async()?, writer.into_async()?);
//! writer.write_all(b"ping").await?;
//! drop(writer);
//! let mut got = Vec::new();
//! reader.read_to_end(&mut got).await?;
//! assert_eq!(got, b"ping");
//! # Ok(())
//! # }
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{PipeReader, PipeWriter};

/// The read end of an anonymous pipe, driven by tokio ([`PipeReader::into_async`]).
#[derive(Debug)]
pub struct AsyncPipeReader {
    inner: AsyncFd<PipeReader>,
}

/// The write end of an anonymous pipe, driven by tokio ([`PipeWriter::into_async`]).
#[derive(Debug)]
pub struct AsyncPipeWriter {
    inner: AsyncFd<PipeWriter>,
}

impl PipeReader {
    /// Registers this end with the current tokio runtime, switching it to nonblocking mode.
    ///
    /// Nonblocking mode belongs to the open pipe end, so do not hand a clone of an async end to a
    /// child process that expects blocking reads. Must be called within a tokio runtime.
    pub fn into_async(self) -> io::Result<AsyncPipeReader> {
        self.set_nonblocking(true)?;
        Ok(AsyncPipeReader {
            inner: crate::sys::register_async(self, ::tokio::io::Interest::READABLE)?,
        })
    }
}

impl PipeWriter {
    /// Registers this end with the current tokio runtime, switching it to nonblocking mode.
    ///
    /// Must be called within a tokio runtime.
    pub fn into_async(self) -> io::Result<AsyncPipeWriter> {
        self.set_nonblocking(true)?;
        Ok(AsyncPipeWriter {
            inner: crate::sys::register_async(self, ::tokio::io::Interest::WRITABLE)?,
        })
    }
}

impl AsyncPipeReader {
    /// The blocking end back, in blocking mode.
    pub fn into_blocking(self) -> io::Result<PipeReader> {
        let end = self.inner.into_inner();
        end.set_nonblocking(false)?;
        Ok(end)
    }

    /// See [`PipeReader::bytes_available`].
    pub fn bytes_available(&self) -> io::Result<usize> {
        self.inner.get_ref().bytes_available()
    }

    /// See [`PipeReader::peek`].
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.get_ref().peek(buf)
    }
}

impl AsyncPipeWriter {
    /// The blocking end back, in blocking mode.
    pub fn into_blocking(self) -> io::Result<PipeWriter> {
        let end = self.inner.into_inner();
        end.set_nonblocking(false)?;
        Ok(end)
    }
}

impl AsyncRead for AsyncPipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|end| end.get_ref().read(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for AsyncPipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_write_ready(cx))?;
            match guard.try_io(|end| end.get_ref().write(data)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_write_ready(cx))?;
            match guard.try_io(|end| end.get_ref().write_vectored(bufs)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsFd for AsyncPipeReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

impl AsRawFd for AsyncPipeReader {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for AsyncPipeWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

impl AsRawFd for AsyncPipeWriter {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}
