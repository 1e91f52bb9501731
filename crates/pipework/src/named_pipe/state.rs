//! What an end knows about its connection beyond the bytes: whether the peer is gone, whether
//! the server disconnected it, how much room the pipe's buffer has. Kept apart from the I/O path
//! ([`super::conn`]) so that path stays a plain mover of bytes.
//!
//! **The disconnect notice.** A pipework client creates an eventfd and hands it to the server
//! with one tag byte right after it connects ([`super::handshake::NOTICE_TAG`]); `DisconnectNamedPipe`
//! adds 1 to it before shutting the socket down. The client looks at it only when its socket
//! says the stream ended (or a write found no reader): set, the server disconnected it
//! (`NotConnected`); not set, the server closed or died (the end, `BrokenPipe`). The counter
//! lives in the kernel object the client holds, so it tells the truth even after the server has
//! exited. A foreign client sends no tag and is told nothing: it sees the plain end of a socket.

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{sockopt, RecvFlags};

use super::conn::Conn;

/// Whether the peer has closed its end and nothing is left to read: no byte in the socket and
/// none held by the framer (a 0-byte message waiting is something to read).
pub(crate) fn at_end(conn: &mut Conn) -> io::Result<bool> {
    if conn.framer.has_buffered() {
        return Ok(false);
    }
    if let Some(end) = conn.rings_at_end()? {
        return Ok(end);
    }
    let mut probe = [0u8; 1];
    match rustix::net::recv(&conn.fd, &mut probe, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Ok((0, _)) | Err(Errno::CONNRESET) => Ok(true),
        Ok(_) | Err(Errno::AGAIN) | Err(Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The part of a kernel-reported socket buffer size that holds data: Linux reports twice the
/// size asked for (the other half pays for its bookkeeping).
fn data_part(reported: usize) -> usize {
    reported / 2
}

/// The buffer sizes granted to the socket `fd`: (send, receive), in bytes of data.
pub(crate) fn granted(fd: BorrowedFd<'_>) -> io::Result<(usize, usize)> {
    Ok((
        data_part(sockopt::socket_send_buffer_size(fd)?),
        data_part(sockopt::socket_recv_buffer_size(fd)?),
    ))
}

/// Asks the kernel for buffer sizes on `fd` (0: leave the system's default).
pub(crate) fn ask(fd: BorrowedFd<'_>, send: u32, recv: u32) {
    // Advisory, as in Win32: the kernel clamps to its limits and `granted` tells what it gave.
    if send > 0 {
        let _ = sockopt::set_socket_send_buffer_size(fd, send as usize);
    }
    if recv > 0 {
        let _ = sockopt::set_socket_recv_buffer_size(fd, recv as usize);
    }
}

/// Kernel bookkeeping one send chunk may cost beyond its data, at most: the buffer head and
/// the rounding of its pages.
const CHUNK_OVERHEAD: usize = 1024 + 4096;

/// Whether a message of `len` payload bytes (plus its header) goes into the socket `fd` at once
/// without the sender waiting: the buffer's quota (`PIPE_NOWAIT` message writes are all or
/// nothing). A Unix-domain stream socket takes a chunk of at most half its send buffer whenever
/// the bytes in flight are below the buffer size; the message fits when that holds before each
/// of its chunks, counting the earlier ones at their most.
pub(crate) fn message_fits(fd: BorrowedFd<'_>, len: usize) -> io::Result<bool> {
    let limit = sockopt::socket_send_buffer_size(fd)?;
    let in_flight = crate::sys::unread_by_peer(fd)?;
    let chunk = (limit / 2).saturating_sub(64).max(1);
    let total = len + super::framing::HEADER;
    let chunks = total.div_ceil(chunk);
    let before_last = (chunks - 1) * chunk;
    let cost = before_last + (chunks - 1) * CHUNK_OVERHEAD;
    Ok(in_flight.saturating_add(cost) < limit)
}

/// A new disconnect notice, for a client to hand to its server.
pub(crate) fn new_notice() -> io::Result<OwnedFd> {
    use rustix::event::{eventfd, EventfdFlags};
    Ok(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?)
}

/// Whether the server signalled the notice `fd` (it disconnected this client).
pub(crate) fn notice_signalled(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

/// Checks that a handle a client sent as its notice is an eventfd (anything else is dropped:
/// the server never writes into a file a peer chose) and makes it nonblocking.
pub(crate) fn accept_notice(fd: OwnedFd) -> Option<OwnedFd> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    if link.as_os_str() != "anon_inode:[eventfd]" {
        return None;
    }
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK).ok()?;
    Some(fd)
}

/// Tells the client behind `notice` that the server disconnected it.
pub(crate) fn signal_notice(notice: impl AsFd) {
    // Never blocks (the handle is nonblocking); a counter a peer filled up is its own affair.
    let _ = rustix::io::write(notice, &1u64.to_ne_bytes());
}

/// The error of an end whose server disconnected it (`ERROR_PIPE_NOT_CONNECTED`).
pub(crate) fn disconnected(what: &str) -> io::Error {
    io::Error::new(
        ErrorKind::NotConnected,
        format!("named pipe {what}: the server disconnected this client"),
    )
}

/// Whether an I/O error says the peer is gone (the end of a message stream cut short, a write
/// with no reader left).
pub(crate) fn peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_is_an_eventfd_and_signals() {
        let mine = new_notice().unwrap();
        assert!(!notice_signalled(mine.as_fd()));
        let theirs = accept_notice(mine.try_clone().unwrap()).unwrap();
        signal_notice(&theirs);
        assert!(notice_signalled(mine.as_fd()));
        // Anything else is refused.
        let (r, _w) = rustix::pipe::pipe().unwrap();
        assert!(accept_notice(r).is_none());
    }
}
