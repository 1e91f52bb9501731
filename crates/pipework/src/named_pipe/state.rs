//! What an end knows about its connection beyond the bytes: whether the peer is gone, whether
//! the server disconnected it, how much room the pipe's buffer has. Kept apart from the I/O path
//! ([`super::conn`]) so that path stays a plain mover of bytes.
//!
//! **The disconnect notice.** A pipework client creates a notice, a memfd of one 8-byte word
//! sealed against shrinking, and hands it to the server with one tag byte right after it
//! connects ([`super::handshake::NOTICE_TAG`]). The server maps the word and closes the
//! handle at once: a connected client costs the server its socket and no other descriptor (a
//! mapping is no open file), so a server under a hard limit of 20,000 open files can hold
//! 10,000 clients and more. `DisconnectNamedPipe` stores 1 in the word before shutting the
//! socket down. The client looks at the word (one `pread`) only when its socket says the
//! stream ended (or a write found no reader): set, the server disconnected it
//! (`NotConnected`); not set, the server closed or died (the end, `BrokenPipe`). The word
//! lives in memory the client holds, so it tells the truth even after the server has exited.
//! A foreign client sends no tag and is told nothing: it sees the plain end of a socket. An
//! eventfd offered as the notice (what earlier pipework clients sent) is still taken, held
//! and signalled as before, at the cost of its descriptor. A second word follows the first in
//! the notices clients make now: a server that did not take the rings the client offered sets
//! it before writing anything ([`rings_refused`]).

use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

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

/// A fresh Unix-domain stream socket, nonblocking and close-on-exec: a listener, or a client's
/// socket before it connects.
pub(crate) fn nonblocking_stream() -> io::Result<OwnedFd> {
    use rustix::net::{socket_with, AddressFamily, SocketFlags, SocketType};
    Ok(socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?)
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

/// Bytes of a disconnect notice: one word, 0 until the server disconnects the client.
const NOTICE_LEN: u64 = 8;
/// Bytes of the notice a client makes: the disconnect word, then a word the server sets when
/// it refused the rings the client offered (so the client drops them instead of looking at
/// them on every read and write). A server takes a notice of one word too (earlier clients'),
/// and earlier servers write only the first word.
const NOTICE_MADE: u64 = 2 * NOTICE_LEN;

/// A new disconnect notice, for a client to hand to its server: a memfd holding two zero
/// words, sealed so that neither side can shrink it under the other's mapping.
pub(crate) fn new_notice() -> io::Result<OwnedFd> {
    use rustix::fs::{fcntl_add_seals, ftruncate, memfd_create, MemfdFlags, SealFlags};
    let fd = memfd_create(
        "pipework-notice",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    ftruncate(&fd, NOTICE_MADE)?;
    fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
    Ok(fd)
}

/// Whether the server signalled the notice `fd` (it disconnected this client): its word is
/// set, or, for an eventfd notice, the counter is.
pub(crate) fn notice_signalled(fd: BorrowedFd<'_>) -> bool {
    let mut word = [0u8; NOTICE_LEN as usize];
    match rustix::io::pread(fd, &mut word, 0) {
        Ok(n) => n == word.len() && word != [0; NOTICE_LEN as usize],
        // An eventfd (a client on another machine has one that is never signalled).
        Err(_) => {
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
        }
    }
}

/// Whether the server set the notice `fd`'s second word: it refused the rings this client
/// offered. `false` for a notice without one (an eventfd) or a server that never sets it.
pub(crate) fn rings_refused(fd: BorrowedFd<'_>) -> bool {
    let mut word = [0u8; NOTICE_LEN as usize];
    matches!(rustix::io::pread(fd, &mut word, NOTICE_LEN), Ok(n) if n == word.len() && word != [0; NOTICE_LEN as usize])
}

/// Checks that a handle is an eventfd (anything else is dropped: the server never writes into
/// a file a peer chose) and makes it nonblocking: a ring's bell, or an eventfd notice.
pub(crate) fn accept_notice(fd: OwnedFd) -> Option<OwnedFd> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    if link.as_os_str() != "anon_inode:[eventfd]" {
        return None;
    }
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK).ok()?;
    Some(fd)
}

/// A connected client's disconnect notice, as the server holds it.
#[derive(Debug)]
pub(crate) enum Notice {
    /// The client's word, mapped (its handle closed).
    Mapped(crate::sys::shm::Region),
    /// An eventfd notice, held open.
    Held(OwnedFd),
}

impl Notice {
    /// Takes the handle a client sent as its notice: a memfd word sealed against shrinking
    /// (mapped, then closed), or an eventfd (held). Anything else is dropped (`None`): the
    /// server never writes into a file a peer chose, and never maps one that could shrink
    /// under it.
    pub(crate) fn accept(fd: OwnedFd) -> Option<Notice> {
        use rustix::fs::{fcntl_get_seals, fstat, SealFlags};
        match fcntl_get_seals(&fd) {
            Ok(seals) => {
                if !seals.contains(SealFlags::SHRINK | SealFlags::SEAL) {
                    return None;
                }
                let st = fstat(&fd).ok()?;
                // A plain memfd (not huge pages), as long as a word at least.
                if (st.st_size as u64) < NOTICE_LEN
                    || st.st_blksize as usize != rustix::param::page_size()
                {
                    return None;
                }
                // Both words when the client made both.
                let len = if st.st_size as u64 >= NOTICE_MADE {
                    NOTICE_MADE
                } else {
                    NOTICE_LEN
                };
                let region = crate::sys::shm::Region::map(
                    &fd,
                    0,
                    len as usize,
                    crate::sys::shm::Protection::ReadWrite,
                )
                .ok()?;
                Some(Notice::Mapped(region))
            }
            Err(_) => accept_notice(fd).map(Notice::Held),
        }
    }

    /// Tells the client behind the notice that the server did not take the rings it offered
    /// (a notice of one word, or an eventfd, has no room to say it: that client keeps them).
    pub(crate) fn refuse_rings(&self) {
        if let Notice::Mapped(region) = self {
            if let Ok(word) = region.atomic_u64(NOTICE_LEN as usize) {
                word.store(1, std::sync::atomic::Ordering::Release);
            }
        }
    }

    /// Tells the client behind the notice that the server disconnected it.
    pub(crate) fn signal(&self) {
        match self {
            Notice::Mapped(region) => {
                if let Ok(word) = region.atomic_u64(0) {
                    word.store(1, std::sync::atomic::Ordering::Release);
                }
            }
            // Never blocks (the handle is nonblocking); a counter a peer filled up is its own
            // affair.
            Notice::Held(fd) => {
                let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
            }
        }
    }
}

/// The share of the open-file limit below which an end takes (or offers) shared-memory rings.
const RINGS_SHARE: u64 = 4;
/// Descriptors in use beyond which no end takes (or offers) rings, whatever the limit.
const RINGS_MOST_FDS: u64 = 1024;

/// Whether a connection whose socket is `socket` may take shared-memory rings: while the
/// process has fewer than 1,024 descriptors open and uses less than a quarter of its
/// open-file limit. A connection on rings holds several descriptors more than its socket
/// (socket duplicates for the two directions, the bells, their registrations with a runtime)
/// and, idle, a watch on its peer every 50 ms, and each of its waits costs a look at the
/// socket: a process with a few connections gains from them, one with thousands serves the
/// ones beyond on their sockets alone (one descriptor each), so it never runs out of
/// descriptors to accept with, nor spends its time watching idle peers. The socket's number
/// tells how many descriptors are in use: the kernel hands out the lowest free one.
///
/// The limit is read once and kept ([`LIMIT`]): a connection asks no system call. It is read
/// again only when the kept one would say no below the fixed cap (the limit may have been
/// raised since; one lowered since is seen once the descriptors pass the kept quarter).
pub(crate) fn rings_affordable(socket: BorrowedFd<'_>) -> bool {
    use std::sync::atomic::Ordering;
    let in_use = socket.as_raw_fd().max(0) as u64;
    if in_use >= RINGS_MOST_FDS {
        return false;
    }
    let kept = LIMIT.load(Ordering::Relaxed);
    if kept != 0 && in_use < kept / RINGS_SHARE {
        return true;
    }
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
        .max(1);
    LIMIT.store(limit, Ordering::Relaxed);
    in_use < limit / RINGS_SHARE
}

/// The open-file limit (`RLIMIT_NOFILE`'s soft limit) as [`rings_affordable`] last read it;
/// 0 before the first read.
static LIMIT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
    use std::os::fd::AsFd;

    #[test]
    fn notice_is_a_sealed_word_and_signals() {
        let mine = new_notice().unwrap();
        assert!(!notice_signalled(mine.as_fd()));
        let theirs = Notice::accept(mine.try_clone().unwrap()).unwrap();
        assert!(matches!(theirs, Notice::Mapped(_)));
        theirs.signal();
        assert!(notice_signalled(mine.as_fd()));
        // The server holds no descriptor for it.
        drop(theirs);
        assert!(notice_signalled(mine.as_fd()));
    }

    #[test]
    fn a_refusal_of_the_rings_is_no_disconnect() {
        let mine = new_notice().unwrap();
        assert!(!rings_refused(mine.as_fd()));
        let theirs = Notice::accept(mine.try_clone().unwrap()).unwrap();
        theirs.refuse_rings();
        assert!(rings_refused(mine.as_fd()));
        assert!(!notice_signalled(mine.as_fd()));
        theirs.signal();
        assert!(notice_signalled(mine.as_fd()));
    }

    #[test]
    fn a_one_word_notice_is_taken_and_has_no_refusal() {
        use rustix::fs::{fcntl_add_seals, ftruncate, memfd_create, MemfdFlags, SealFlags};
        let mine = memfd_create("x", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
        ftruncate(&mine, NOTICE_LEN).unwrap();
        fcntl_add_seals(&mine, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL).unwrap();
        let theirs = Notice::accept(mine.try_clone().unwrap()).unwrap();
        theirs.refuse_rings();
        assert!(!rings_refused(mine.as_fd()));
        theirs.signal();
        assert!(notice_signalled(mine.as_fd()));
    }

    #[test]
    fn an_eventfd_notice_is_still_taken() {
        use rustix::event::{eventfd, EventfdFlags};
        let mine = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).unwrap();
        assert!(!notice_signalled(mine.as_fd()));
        let theirs = Notice::accept(mine.try_clone().unwrap()).unwrap();
        assert!(matches!(theirs, Notice::Held(_)));
        theirs.signal();
        assert!(notice_signalled(mine.as_fd()));
    }

    #[test]
    fn other_notices_are_refused() {
        use rustix::fs::{fcntl_add_seals, ftruncate, memfd_create, MemfdFlags, SealFlags};
        let (r, _w) = rustix::pipe::pipe().unwrap();
        assert!(Notice::accept(r).is_none());
        assert!(accept_notice(new_notice().unwrap()).is_none());
        // A memfd that could shrink under the mapping, and one too short for the word.
        let unsealed = memfd_create("x", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
        ftruncate(&unsealed, 8).unwrap();
        assert!(Notice::accept(unsealed).is_none());
        let short = memfd_create("x", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
        ftruncate(&short, 4).unwrap();
        fcntl_add_seals(
            &short,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        )
        .unwrap();
        assert!(Notice::accept(short).is_none());
    }
}
