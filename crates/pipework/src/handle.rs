//! Handles: inheritance flags, duplication, and passing a handle to another process.
//!
//! On Linux a Win32 handle is a file descriptor. Every descriptor pipework creates is
//! close-on-exec from birth, so a child process receives only what it is explicitly given.
//!
//! | Win32 | pipework |
//! |---|---|
//! | `SetHandleInformation(h, HANDLE_FLAG_INHERIT, ..)` | [`set_inheritable`] |
//! | `GetHandleInformation(h, ..)` | [`is_inheritable`] |
//! | `DuplicateHandle` within a process | [`duplicate`], or `try_clone` on a pipe end |
//! | `DuplicateHandle` into another process | [`send`] and [`recv`] over a Unix-domain socket |
//! | `DuplicateHandle` out of another process | [`crate::process::Process::duplicate_handle`] |
//! | a handle value received on the command line | [`take_inherited`] |
//!
//! Passing a pipe end to an unrelated process:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! let (here, there) = UnixStream::pair()?; // normally: a listener both sides know by path
//! let (reader, mut writer) = pipework::pipe::create()?;
//! pipework::handle::send(&here, &reader)?;
//! drop(reader);
//!
//! let received = pipework::handle::recv(&there)?;
//! let mut reader = pipework::pipe::PipeReader::try_from(received)?;
//! writer.write_all(b"through a socket")?;
//! drop(writer);
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert_eq!(text, "through a socket");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::io::{fcntl_dupfd_cloexec, fcntl_getfd, fcntl_setfd, FdFlags};
use rustix::net::{RecvFlags, SendFlags};

use crate::sys::error::{error, invalid, named};
use crate::sys::fdpass;

/// How errors name a handle: by its number in this process.
fn handle_name(fd: BorrowedFd<'_>) -> String {
    format!("handle {}", fd.as_raw_fd())
}

/// How errors name a socket that carries handles.
fn socket_name(conn: BorrowedFd<'_>) -> String {
    format!("handle socket {}", conn.as_raw_fd())
}

/// Makes `handle` inheritable (or not) by child processes started afterwards
/// (`SetHandleInformation(h, HANDLE_FLAG_INHERIT, ..)`): clears or sets close-on-exec.
pub fn set_inheritable(handle: impl AsFd, inheritable: bool) -> io::Result<()> {
    let fd = handle.as_fd();
    let flags = fcntl_getfd(fd).map_err(|e| named(handle_name(fd), e))?;
    let flags = if inheritable {
        flags - FdFlags::CLOEXEC
    } else {
        flags | FdFlags::CLOEXEC
    };
    fcntl_setfd(fd, flags).map_err(|e| named(handle_name(fd), e))
}

/// Whether child processes would inherit `handle` (`GetHandleInformation`).
///
/// ```
/// let (reader, _writer) = pipework::pipe::create()?;
/// assert!(!pipework::handle::is_inheritable(&reader)?); // close-on-exec from birth
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn is_inheritable(handle: impl AsFd) -> io::Result<bool> {
    let fd = handle.as_fd();
    let flags = fcntl_getfd(fd).map_err(|e| named(handle_name(fd), e))?;
    Ok(!flags.contains(FdFlags::CLOEXEC))
}

/// A new handle to the same object (`DuplicateHandle` within this process, `DUPLICATE_SAME_ACCESS`),
/// inheritable or not as asked.
pub fn duplicate(handle: impl AsFd, inheritable: bool) -> io::Result<OwnedFd> {
    let fd = handle.as_fd();
    let copy = fcntl_dupfd_cloexec(fd, 3).map_err(|e| named(handle_name(fd), e))?;
    if inheritable {
        set_inheritable(&copy, true)?;
    }
    Ok(copy)
}

/// Adopts a handle this process inherited from its parent, by the number the parent passed on
/// (for instance on the command line, as the Win32 sample does with handle values).
///
/// Fails with `NotFound` when no handle of that number is open. The handle is made close-on-exec
/// again, so it goes no further than this process unless passed on explicitly.
///
/// # Safety
/// Nothing else in this process may own `raw`: call this once per inherited handle, and never on a
/// number held by a `File`, a socket or an `OwnedFd`.
pub unsafe fn take_inherited(raw: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: the caller guarantees nothing else owns `raw`.
    let fd = unsafe { crate::sys::own_raw_fd(raw) }?;
    set_inheritable(&fd, false)?;
    Ok(fd)
}

/// Sends a duplicate of `handle` over the Unix-domain socket `conn` (`SCM_RIGHTS`); the process at
/// the other end takes it with [`recv`]. The sender keeps its own handle.
///
/// `conn` may be a `UnixStream`, a connected `UnixDatagram`, or anything else that is a
/// connected Unix-domain socket.
pub fn send(conn: impl AsFd, handle: impl AsFd) -> io::Result<()> {
    send_with(conn, &[0], &[handle.as_fd()])
}

/// Receives one handle sent with [`send`]. It arrives close-on-exec.
///
/// Fails with `UnexpectedEof` if the peer closed the connection first, and `InvalidData` if the
/// peer sent bytes without a handle.
pub fn recv(conn: impl AsFd) -> io::Result<OwnedFd> {
    let conn = conn.as_fd();
    let mut tag = [0u8; 1];
    let (n, mut handles) = recv_with(conn, &mut tag, 1)?;
    match (n, handles.pop()) {
        (_, Some(fd)) => Ok(fd),
        (0, None) => Err(error(
            ErrorKind::UnexpectedEof,
            socket_name(conn),
            "the peer closed the connection before sending a handle",
        )),
        (_, None) => Err(error(
            ErrorKind::InvalidData,
            socket_name(conn),
            "the peer sent data where a handle was expected",
        )),
    }
}

/// Sends `data` (at least one byte) with `handles` attached, in one message.
///
/// The building block for protocols that pass handles beside their own bytes.
pub fn send_with(conn: impl AsFd, data: &[u8], handles: &[BorrowedFd<'_>]) -> io::Result<()> {
    let conn = conn.as_fd();
    if data.is_empty() {
        return Err(invalid(
            socket_name(conn),
            "handles must travel with at least one byte of data",
        ));
    }
    // The handles ride on the first chunk only.
    let mut sent = fdpass::send(conn, &[IoSlice::new(data)], handles, SendFlags::empty())
        .map_err(|e| named(socket_name(conn), e))?;
    while sent < data.len() {
        sent += fdpass::send(
            conn,
            &[IoSlice::new(&data[sent..])],
            &[],
            SendFlags::empty(),
        )
        .map_err(|e| named(socket_name(conn), e))?;
    }
    Ok(())
}

/// Receives up to `buf.len()` bytes and at most `max_handles` handles from one message; the handles
/// arrive close-on-exec. Returns the byte count (0: the peer closed) and the handles.
///
/// Fails with `InvalidData` (and closes whatever did arrive) when the peer sent more handles than
/// `max_handles`.
pub fn recv_with(
    conn: impl AsFd,
    buf: &mut [u8],
    max_handles: usize,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let conn = conn.as_fd();
    let got = fdpass::recv(
        conn,
        &mut [IoSliceMut::new(buf)],
        max_handles,
        RecvFlags::empty(),
    )
    .map_err(|e| named(socket_name(conn), e))?;
    if got.refused_handles {
        return Err(error(
            ErrorKind::InvalidData,
            socket_name(conn),
            format!("the peer sent more than {max_handles} handle(s) in one message"),
        ));
    }
    Ok((got.bytes, got.handles))
}
