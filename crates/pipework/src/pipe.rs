//! Anonymous pipes: a read end and a write end of one kernel pipe (Win32 `CreatePipe`).
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let (mut reader, mut writer) = pipework::pipe::create()?;
//! writer.write_all(b"hello")?;
//! drop(writer); // the last write handle: the reader sees the end after the data
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert_eq!(text, "hello");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreatePipe(&r, &w, sa, nSize)` | [`create`], [`PipeOptions`] |
//! | `ReadFile(r, ...)` | [`Read`] on [`PipeReader`] (or `&PipeReader`) |
//! | `WriteFile(w, ...)` | [`Write`] on [`PipeWriter`] (or `&PipeWriter`) |
//! | `PeekNamedPipe(r, buf, n, &read, &avail, NULL)` | [`PipeReader::peek`], [`PipeReader::bytes_available`] |
//! | `CloseHandle` | `drop` |
//! | `DuplicateHandle` (same process) | `try_clone` |
//! | `SetNamedPipeHandleState(PIPE_NOWAIT)` | `set_nonblocking` |
//!
//! The behaviour follows Win32, expressed in Rust terms:
//!
//! * A read blocks while the pipe is empty and returns what is there. It returns `Ok(0)` only once
//!   the pipe is drained and every write handle is closed: clones, duplicates and copies held by
//!   child processes all count. Data written before the writers closed is always read in full.
//! * A write returns only when every byte is written; partial writes and interrupted system calls
//!   are retried inside. A full pipe blocks the writer until the reader makes room.
//! * A write after every reader is gone fails with [`ErrorKind::BrokenPipe`] (after reporting
//!   the bytes that went in before the last reader left); no write, splice or tee ever delivers a
//!   `SIGPIPE`, whatever the process's disposition for it and whenever that changes: the signal
//!   is blocked for the writing thread during the system call and the one the call raised is
//!   taken back before the thread's mask is restored. Neither a default disposition (which would
//!   kill the process) nor a handler (which would run) sees it.
//! * Every handle is close-on-exec from birth: a child process only receives the ends it is
//!   given, through [`Stdio`] or [`crate::process::CommandExt::inherit_handle`].
//!
//! # Zero-copy paths
//!
//! Linux moves data between a pipe and a file or socket inside the kernel (`splice`, `tee`):
//! [`PipeReader::splice_to`], [`PipeWriter::splice_from`], [`PipeReader::tee_to`] and
//! [`splice_all`] never copy the bytes through this process.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let (reader, mut writer) = pipework::pipe::create()?;
//! let (mut far, near) = std::os::unix::net::UnixStream::pair()?;
//! writer.write_all(b"moved in the kernel")?;
//! drop(writer);
//! let moved = pipework::pipe::splice_all(&reader, &near)?; // pipe → socket, no user-space copy
//! drop(near);
//! let mut text = String::new();
//! far.read_to_string(&mut text)?;
//! assert_eq!((moved, text.as_str()), (19, "moved in the kernel"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! One difference is Linux's: nonblocking mode belongs to the pipe end's open file description,
//! so clones of a handle and children that inherited it share it.

#[cfg(feature = "tokio")]
mod async_io;

#[cfg(feature = "tokio")]
pub use self::async_io::{AsyncPipeReader, AsyncPipeWriter};

use std::fmt;
use std::fs;
use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::process::Stdio;
use std::sync::OnceLock;

use rustix::fs::{fcntl_getfl, fcntl_setfl, fstat, FileType, OFlags};
use rustix::io::Errno;
use rustix::pipe::{
    fcntl_getpipe_size, fcntl_setpipe_size, pipe_with, tee, PipeFlags, SpliceFlags,
};

use crate::sys;

/// Creates an anonymous pipe with the system's default buffer size: `(read end, write end)`.
///
/// Both handles are close-on-exec and blocking. Equivalent to `PipeOptions::new().create()`.
pub fn create() -> io::Result<(PipeReader, PipeWriter)> {
    PipeOptions::new().create()
}

/// How to create an anonymous pipe: buffer size, inheritance and blocking mode.
///
/// ```
/// use pipework::pipe::PipeOptions;
///
/// let (reader, writer) = PipeOptions::new().buffer_size(200_000).create()?;
/// // The kernel grants whole pages in powers of two: at least what was asked.
/// assert!(reader.buffer_size()? >= 200_000);
/// assert_eq!(reader.buffer_size()?, writer.buffer_size()?);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct PipeOptions {
    buffer_size: Option<usize>,
    inheritable: bool,
    nonblocking: bool,
}

impl PipeOptions {
    /// Default options: system buffer size, not inheritable, blocking.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for a buffer of at least `bytes` (the `nSize` of `CreatePipe`).
    ///
    /// The kernel rounds the size up to a power-of-two number of pages; a size above the system
    /// maximum (`/proc/sys/fs/pipe-max-size`) is capped to it. [`PipeReader::buffer_size`] tells
    /// what was granted. Without this call the pipe has the system default (64 KiB on Linux).
    /// `create` fails with `InvalidInput` for 0 (leave the size unset for the default) and for
    /// sizes above 4 GiB, which no `CreatePipe` caller can ask for.
    pub fn buffer_size(&mut self, bytes: usize) -> &mut Self {
        self.buffer_size = Some(bytes);
        self
    }

    /// Makes both handles inheritable by every child process started afterwards (the
    /// `bInheritHandle` of `SECURITY_ATTRIBUTES`). Off by default; to hand one end to one child,
    /// prefer [`crate::process::CommandExt::inherit_handle`], which never leaks into other children.
    pub fn inheritable(&mut self, inheritable: bool) -> &mut Self {
        self.inheritable = inheritable;
        self
    }

    /// Creates both ends in nonblocking mode (`PIPE_NOWAIT`): an empty read or a full write is
    /// [`ErrorKind::WouldBlock`].
    pub fn nonblocking(&mut self, nonblocking: bool) -> &mut Self {
        self.nonblocking = nonblocking;
        self
    }

    /// Creates the pipe: `(read end, write end)`.
    pub fn create(&self) -> io::Result<(PipeReader, PipeWriter)> {
        let wanted = self.buffer_size.map(checked_size).transpose()?;
        let mut flags = PipeFlags::CLOEXEC;
        if self.nonblocking {
            flags |= PipeFlags::NONBLOCK;
        }
        let (read, write) = pipe_with(flags).map_err(|e| {
            let e = io::Error::from(e);
            io::Error::new(e.kind(), format!("cannot create an anonymous pipe: {e}"))
        })?;
        if let Some(bytes) = wanted {
            resize(&write, bytes)?;
        }
        if self.inheritable {
            crate::handle::set_inheritable(&read, true)?;
            crate::handle::set_inheritable(&write, true)?;
        }
        Ok((PipeReader { fd: read }, PipeWriter { fd: write }))
    }
}

const MAX_REQUEST: usize = u32::MAX as usize;

fn checked_size(bytes: usize) -> io::Result<usize> {
    match bytes {
        0 => Err(io::Error::new(
            ErrorKind::InvalidInput,
            "pipe buffer size 0: leave the size unset to get the system default",
        )),
        b if b > MAX_REQUEST => Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("pipe buffer size {b} is absurd: a pipe buffer cannot exceed 4 GiB"),
        )),
        b => Ok(b.min(max_buffer_size())),
    }
}

/// The largest pipe buffer an unprivileged process may ask for (`/proc/sys/fs/pipe-max-size`).
pub fn max_buffer_size() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20)
    })
}

fn resize(fd: &OwnedFd, bytes: usize) -> io::Result<()> {
    match fcntl_setpipe_size(fd, bytes) {
        Ok(_) => Ok(()),
        // The user's total of pipe pages is over `pipe-user-pages-soft`: the size is a suggestion
        // (as in Win32), the pipe keeps what it has and `buffer_size()` tells the truth.
        Err(Errno::PERM) => Ok(()),
        Err(e) => Err(io::Error::new(
            io::Error::from(e).kind(),
            format!("cannot give the pipe a {bytes}-byte buffer: {e}"),
        )),
    }
}

/// The read end of an anonymous pipe.
///
/// Reads block while the pipe is empty; `Ok(0)` means the pipe is drained and every write handle
/// is closed. `&PipeReader` reads too, so several threads may share one end.
pub struct PipeReader {
    fd: OwnedFd,
}

/// The write end of an anonymous pipe.
///
/// A write returns once every byte is in the pipe (or fails with `BrokenPipe` when every reader
/// is gone). `&PipeWriter` writes too.
pub struct PipeWriter {
    fd: OwnedFd,
}

fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(n) => return Ok(n),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes all of `buf`, retrying partial writes and interruptions. In nonblocking mode, a full
/// pipe ends the call: `Ok(n)` with what was accepted, or `WouldBlock` when nothing was.
fn write_fd(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match sys::write_no_sigpipe(fd, &buf[done..]) {
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            // What was accepted is not lost: report it; the next call reports the error.
            Err(_) if done > 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// [`write_fd`] for several buffers in order: one `writev` while nothing stops it short.
fn write_vectored_fd(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // The kernel takes at most IOV_MAX (1024) slices per call; the rest go in later calls.
    const MAX_SLICES: usize = 1024;
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    let first = loop {
        match sys::writev_no_sigpipe(fd, &bufs[..bufs.len().min(MAX_SLICES)]) {
            Ok(n) if n == total => return Ok(n),
            Ok(n) => break n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    };
    // Stopped short (a full nonblocking pipe, many slices, a signal): go on from where it stopped.
    let mut rest = bufs.to_vec();
    let mut left = &mut rest[..];
    IoSlice::advance_slices(&mut left, first);
    let mut done = first;
    while done < total {
        match sys::writev_no_sigpipe(fd, &left[..left.len().min(MAX_SLICES)]) {
            Ok(n) => {
                done += n;
                IoSlice::advance_slices(&mut left, n);
            }
            Err(Errno::INTR) => {}
            // What was accepted is not lost: report it; the next call reports the error.
            Err(_) => break,
        }
    }
    Ok(done)
}

fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    let flags = fcntl_getfl(fd)?;
    let flags = if nonblocking {
        flags | OFlags::NONBLOCK
    } else {
        flags - OFlags::NONBLOCK
    };
    fcntl_setfl(fd, flags)?;
    Ok(())
}

fn clone_fd(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, 3)?)
}

fn splice_once(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> Result<usize, Errno> {
    loop {
        match sys::splice_no_sigpipe(from, to, len, SpliceFlags::MOVE) {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// [`splice_once`] out of a pipe into `to`: a socket reset by its peer (which left with bytes
/// unread) is, like a pipe without readers, a reader that is gone: `BrokenPipe`.
fn splice_out(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    splice_once(from, to, len).map_err(|e| match e {
        Errno::CONNRESET => io::Error::new(
            ErrorKind::BrokenPipe,
            format!("the reader of handle {} is gone ({e})", to.as_raw_fd()),
        ),
        e => e.into(),
    })
}

/// Moves everything from `from` into `to` (a file, a socket or another pipe) until every writer of
/// `from` is closed and it is drained, without copying through user space. Returns the byte count.
///
/// The zero-copy counterpart of [`std::io::copy`]. A file `to` must not be in append mode (the
/// kernel refuses `splice` into `O_APPEND` files: `InvalidInput`).
pub fn splice_all(from: &PipeReader, to: impl AsFd) -> io::Result<u64> {
    let chunk = from.buffer_size().unwrap_or(1 << 16);
    let mut total = 0u64;
    loop {
        match splice_out(from.as_fd(), to.as_fd(), chunk)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

/// Checks that `fd` is a pipe (or FIFO) opened for `want` ("read" or "write") and nothing more:
/// a FIFO opened for reading and writing is its own peer (its reads wait for its own writes and
/// its writes never meet a vanished reader), so it is neither end.
fn check_pipe_end(fd: &OwnedFd, want: &str) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    let unusable = |e: Errno| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("handle {raw} is not usable: {e}"),
        )
    };
    let stat = fstat(fd).map_err(unusable)?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::Fifo {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("handle {raw} is not a pipe (it is a {})", describe(kind)),
        ));
    }
    let flags = fcntl_getfl(fd).map_err(unusable)?;
    if flags.contains(OFlags::PATH) {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "handle {raw} names a pipe (O_PATH) but is open for neither reading nor writing"
            ),
        ));
    }
    let (wanted, other) = if want == "read" {
        (OFlags::RDONLY, "write")
    } else {
        (OFlags::WRONLY, "read")
    };
    let mode = flags & OFlags::RWMODE;
    if mode == wanted {
        return Ok(());
    }
    let what = if mode == OFlags::RDWR {
        format!("handle {raw} is a pipe opened for reading and writing, not only its {want} end")
    } else {
        format!("handle {raw} is the {other} end of a pipe, not its {want} end")
    };
    Err(io::Error::new(ErrorKind::InvalidInput, what))
}

fn describe(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "file of unknown type",
    }
}

impl PipeReader {
    /// Bytes that a read could take now without blocking (`PeekNamedPipe`'s `lpTotalBytesAvail`).
    pub fn bytes_available(&self) -> io::Result<usize> {
        Ok(rustix::io::ioctl_fionread(&self.fd)? as usize)
    }

    /// Copies up to `buf.len()` bytes from the front of the pipe without consuming them, and never
    /// blocks: an empty pipe gives `Ok(0)` (`PeekNamedPipe`).
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let (mut reader, mut writer) = pipework::pipe::create()?;
    /// writer.write_all(b"abcdef")?;
    /// let mut front = [0; 3];
    /// assert_eq!(reader.peek(&mut front)?, 3);
    /// assert_eq!(&front, b"abc");
    /// assert_eq!(reader.bytes_available()?, 6); // nothing was consumed
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.bytes_available()?);
        if want == 0 {
            return Ok(0);
        }
        // tee(2) duplicates pipe contents into a scratch pipe without consuming them.
        let (scratch_read, scratch_write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        if want > fcntl_getpipe_size(&scratch_write)? {
            resize(&scratch_write, want.min(max_buffer_size()))?;
        }
        let copied = loop {
            match tee(&self.fd, &scratch_write, want, SpliceFlags::NONBLOCK) {
                Ok(n) => break n,
                Err(Errno::INTR) => continue,
                // Another reader took the data between the two calls.
                Err(Errno::AGAIN) => return Ok(0),
                Err(e) => return Err(e.into()),
            }
        };
        let mut filled = 0;
        while filled < copied {
            match read_fd(scratch_read.as_fd(), &mut buf[filled..copied])? {
                0 => break,
                n => filled += n,
            }
        }
        Ok(filled)
    }

    /// The pipe's buffer capacity in bytes, as the kernel granted it.
    pub fn buffer_size(&self) -> io::Result<usize> {
        Ok(fcntl_getpipe_size(&self.fd)?)
    }

    /// Moves up to `len` bytes from the pipe into `out` (a file at its current offset, a socket,
    /// or another pipe) without copying them through this process (`splice`). Blocks like a read
    /// while the pipe is empty; `Ok(0)` at the end of data. A socket or pipe `out` whose reader is
    /// gone gives `BrokenPipe`, never a signal.
    pub fn splice_to(&self, out: impl AsFd, len: usize) -> io::Result<usize> {
        splice_out(self.fd.as_fd(), out.as_fd(), len)
    }

    /// Copies up to `len` bytes from the front of this pipe into the pipe `out` without consuming
    /// them and without copying through this process (`tee`). Blocks while this pipe is empty;
    /// `Ok(0)` at the end of data.
    pub fn tee_to(&self, out: &PipeWriter, len: usize) -> io::Result<usize> {
        loop {
            match sys::tee_no_sigpipe(self.fd.as_fd(), out.fd.as_fd(), len, SpliceFlags::empty()) {
                Ok(n) => return Ok(n),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Switches nonblocking mode: an empty read becomes [`ErrorKind::WouldBlock`].
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        set_nonblocking(self.fd.as_fd(), nonblocking)
    }

    /// A second handle to the same read end (`DuplicateHandle` within this process).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            fd: clone_fd(self.fd.as_fd())?,
        })
    }
}

impl PipeWriter {
    /// The pipe's buffer capacity in bytes, as the kernel granted it.
    pub fn buffer_size(&self) -> io::Result<usize> {
        Ok(fcntl_getpipe_size(&self.fd)?)
    }

    /// Moves up to `len` bytes from `input` (a file at its current offset, a socket, or another
    /// pipe) into this pipe without copying them through this process (`splice`). Blocks while
    /// the pipe is full; `Ok(0)` at the end of `input`.
    pub fn splice_from(&self, input: impl AsFd, len: usize) -> io::Result<usize> {
        Ok(splice_once(input.as_fd(), self.fd.as_fd(), len)?)
    }

    /// Switches nonblocking mode: a write to a full pipe becomes [`ErrorKind::WouldBlock`], or
    /// returns the count of the bytes that fitted.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        set_nonblocking(self.fd.as_fd(), nonblocking)
    }

    /// A second handle to the same write end (`DuplicateHandle` within this process). The reader
    /// sees the end of data only after every handle, clones included, is closed.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            fd: clone_fd(self.fd.as_fd())?,
        })
    }
}

impl Read for &PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_fd(self.fd.as_fd(), buf)
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for &PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_fd(self.fd.as_fd(), buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        write_vectored_fd(self.fd.as_fd(), bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes as `&PipeWriter` does.
impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

macro_rules! fd_conversions {
    ($ty:ident, $end:literal, $std:ty) => {
        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.fd.as_raw_fd()
            }
        }

        impl IntoRawFd for $ty {
            fn into_raw_fd(self) -> RawFd {
                self.fd.into_raw_fd()
            }
        }

        impl From<$ty> for OwnedFd {
            fn from(end: $ty) -> OwnedFd {
                end.fd
            }
        }

        impl From<$ty> for Stdio {
            fn from(end: $ty) -> Stdio {
                Stdio::from(end.fd)
            }
        }

        impl From<$ty> for $std {
            fn from(end: $ty) -> $std {
                <$std>::from(end.fd)
            }
        }

        impl From<$std> for $ty {
            fn from(end: $std) -> $ty {
                $ty {
                    fd: OwnedFd::from(end),
                }
            }
        }

        /// Adopts a descriptor after checking that it is the right end of a pipe or FIFO, open
        /// for that direction only (`O_RDONLY` for a read end, `O_WRONLY` for a write end):
        /// anything else, a FIFO opened read-write included, is `InvalidInput` naming the handle.
        impl TryFrom<OwnedFd> for $ty {
            type Error = io::Error;

            fn try_from(fd: OwnedFd) -> io::Result<$ty> {
                check_pipe_end(&fd, $end)?;
                Ok($ty { fd })
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.fd.as_raw_fd())
                    .finish()
            }
        }
    };
}

fd_conversions!(PipeReader, "read", std::io::PipeReader);
fd_conversions!(PipeWriter, "write", std::io::PipeWriter);
