//! A named pipe's data through shared memory, when both ends are pipework.
//!
//! **The offer.** A pipework client that has rings on (the default) makes two rings
//! ([`crate::shm_pipe`]'s, one per direction) and two bells (eventfds, one per side) when it
//! opens the pipe, and hands their handles to the server with its first byte, the tag
//! ([`super::handshake::RINGS_TAG`], the disconnect notice beside them). Nothing comes back: the
//! open completes at once, as without rings. A server with rings on maps them when it takes the
//! tag (checked as any ring from another process); one with rings off drops them. Foreign
//! clients send no tag and keep the plain socket.
//!
//! **The switch, per direction.** Each direction starts on the socket and moves to its ring at
//! most once, without a round trip:
//!
//! 1. The reader announces, in the ring's header, that it takes data from the ring (it does so
//!    at its first read, peek or transaction through pipework's API: an end whose socket is
//!    handed to another program never does, and its peer keeps writing on the socket).
//! 2. The writer looks for that announcement before each write while it still writes on the
//!    socket (one load from shared memory). Once it sees it, it publishes in the header how
//!    many data bytes it sent on the socket (the switch point), sends one wake-up byte on the
//!    socket (a reader blocked there returns), and writes on the ring from then on.
//! 3. The reader takes bytes from the socket until it has taken the switch point's count, then
//!    from the ring. Bytes the socket holds beyond the switch point are not data: the wake-up
//!    byte, and after it one byte per handle sent (`H`, the handle riding on it).
//!
//! So no byte is lost or reordered: everything written on the socket is read before anything
//! written on the ring, and a side that never switches (a server with rings off, an end that
//! never reads through the API) leaves its peer on the socket for good.
//!
//! **Liveness.** The socket stays open beside the rings as the peer's liveness signal: a peer
//! killed with `kill -9` hangs it up, which a side waiting on a ring notices within one sleep
//! slice (50 ms); a read then finds the end of data, as on the socket, and a write fails with
//! `BrokenPipe`. A writer that does not wait looks at the socket about once per millisecond
//! (the kernel's coarse clock: a read of it costs no more than a memory load).
//!
//! **Waiting without a thread.** A task (tokio) or another poller cannot sleep on the ring's
//! futex: it marks the waiting word "awaiting the bell" and waits for this side's bell, which
//! the peer rings instead of waking a futex (see [`crate::shm_pipe`]'s waits).

use std::io::{self, ErrorKind, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::net::{RecvFlags, SendFlags};

use crate::shm_pipe::shared;
use crate::shm_pipe::{ShmReader, ShmWriter};

/// Whether an end takes rings, and how long it spins on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SharedMemory {
    pub(crate) on: bool,
    pub(crate) spin: Duration,
}

impl Default for SharedMemory {
    fn default() -> Self {
        SharedMemory {
            on: true,
            spin: crate::shm_pipe::ShmPipeOptions::default_spin(),
        }
    }
}

/// Bytes of a direction's ring when the pipe set no buffer size for it (pages are only backed
/// once written).
pub(crate) const DEFAULT_RING: usize = 1 << 20;

/// The ring's size for a direction whose buffer size is `buffer` (0: none set): the buffer
/// size is the quota, as on the socket (a power of two, 4 KiB at least).
pub(crate) fn capacity_for(buffer: u32) -> usize {
    if buffer == 0 {
        DEFAULT_RING
    } else {
        (buffer as usize).clamp(4096, 1 << 30).next_power_of_two()
    }
}

/// The wake-up byte a writer sends on the socket when it moves to its ring (and when a poller
/// of the reader's socket waits for data).
const WAKE: u8 = crate::shm_pipe::WAKE_BYTE;
/// The byte a handle rides on, on the socket, once its sender writes on its ring.
pub(crate) const HANDLE: u8 = b'H';
/// How many handles never asked for may wait on the socket before a read takes them off it.
const PILE: u64 = 32;
/// How often a writer that does not wait looks at the socket for a vanished peer, in
/// nanoseconds of the coarse clock (see [`coarse_now`]).
const LOOK_EVERY: u64 = 1_000_000;

/// The monotonic clock at the kernel's tick (1-4 ms), in nanoseconds: a read is a load from the
/// vDSO's page, no time-stamp counter read, cheap enough for every write on the ring.
fn coarse_now() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(t.tv_nsec).unwrap_or(0))
}

/// One end's two rings, its bell, and where each direction stands in its switch.
pub(crate) struct Rings {
    // The reader before the writer: dropped in this order, an end that closes marks its
    // reading end closed before its writing end (see `check_peer_open`).
    reader: ShmReader,
    writer: ShmWriter,
    /// This side's bell, which the peer rings when a task of this side awaits it.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    bell: OwnedFd,
    /// Reading: the reader's announcement was made.
    ready: bool,
    /// Reading: raw bytes taken from the socket so far.
    consumed: u64,
    /// Reading: data comes from the ring now.
    reads_ring: bool,
    /// Reading: the writer's wake-up byte is still to be taken off the socket.
    marker_owed: bool,
    /// Reading: wake-up bytes were asked for on the socket (a poller watches it); they are
    /// taken off it at the next read.
    socket_armed: bool,
    /// Reading: handle bytes taken off the socket after the writer's switch.
    handles_taken: u64,
    /// Writing: data bytes sent on the socket so far.
    sent: u64,
    /// Writing: data goes to the ring now.
    writes_ring: bool,
    /// Writing: this side shut its writing half (`AsyncWrite::poll_shutdown`).
    write_shut: bool,
    /// Writing: when the socket was last looked at for a vanished peer ([`coarse_now`]).
    last_look: u64,
    /// Writing: the next write looks at the socket, whenever it was looked at last.
    look_now: bool,
    /// The pipe, as errors name it.
    what: String,
}

impl Rings {
    /// The client's side: two fresh rings (`to_server` and `to_client` bytes) and the two bells,
    /// for the connection `socket`; the handles to send with the tag: the ring to the server,
    /// the ring to the client, the server's bell, the client's bell.
    pub(crate) fn offer(
        socket: BorrowedFd<'_>,
        to_server: usize,
        to_client: usize,
        spin: Duration,
        what: &str,
    ) -> io::Result<(Rings, [OwnedFd; 4])> {
        let c2s = shared::new_ring(to_server)?;
        let s2c = shared::new_ring(to_client)?;
        let server_bell = shared::new_bell()?;
        let client_bell = shared::new_bell()?;
        let writer = shared::writer(
            c2s.try_clone()?,
            socket.try_clone_to_owned()?,
            spin,
            what,
            server_bell.try_clone()?,
        )?;
        let reader = shared::reader(
            s2c.try_clone()?,
            socket.try_clone_to_owned()?,
            spin,
            what,
            server_bell.try_clone()?,
        )?;
        let rings = Rings::new(reader, writer, client_bell.try_clone()?, what);
        Ok((rings, [c2s, s2c, server_bell, client_bell]))
    }

    /// The server's side: the rings and bells a client offered with its tag (in the order
    /// [`offer`](Self::offer) gives), checked as anything from another process is.
    pub(crate) fn accept(
        handles: Vec<OwnedFd>,
        socket: BorrowedFd<'_>,
        spin: Duration,
        what: &str,
    ) -> io::Result<Rings> {
        let refused = |why: &str| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("{what}: the client's rings were refused: {why}"),
            )
        };
        let [c2s, s2c, server_bell, client_bell]: [OwnedFd; 4] = handles
            .try_into()
            .map_err(|_| refused("not two rings and two bells"))?;
        // Bells are written to and read: eventfds only, never a file a peer chose.
        let server_bell = super::state::accept_notice(server_bell)
            .ok_or_else(|| refused("a bell is no eventfd"))?;
        let client_bell = super::state::accept_notice(client_bell)
            .ok_or_else(|| refused("a bell is no eventfd"))?;
        let reader = shared::reader(
            c2s,
            socket.try_clone_to_owned()?,
            spin,
            what,
            client_bell.try_clone()?,
        )?;
        let writer = shared::writer(s2c, socket.try_clone_to_owned()?, spin, what, client_bell)?;
        Ok(Rings::new(reader, writer, server_bell, what))
    }

    fn new(reader: ShmReader, writer: ShmWriter, bell: OwnedFd, what: &str) -> Rings {
        Rings {
            reader,
            writer,
            bell,
            ready: false,
            consumed: 0,
            reads_ring: false,
            marker_owed: false,
            socket_armed: false,
            handles_taken: 0,
            sent: 0,
            writes_ring: false,
            write_shut: false,
            last_look: coarse_now(),
            look_now: false,
            what: what.to_owned(),
        }
    }

    /// Whether this end's reads come from the ring now.
    pub(crate) fn reads_ring(&mut self) -> bool {
        self.settle();
        self.reads_ring
    }

    /// Whether either direction moved to its ring.
    pub(crate) fn in_use(&self) -> bool {
        self.writes_ring || self.reads_ring || shared::switch_at(&self.reader).is_some()
    }

    /// Whether this end's writes go to the ring now.
    pub(crate) fn writes_ring(&self) -> bool {
        self.writes_ring
    }

    /// This side's bell (for a task or poller about to wait on it).
    #[cfg(feature = "tokio")]
    pub(crate) fn bell(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.bell)
    }

    // ---- Reading ----

    /// Announces (once) that this end takes data from the ring.
    fn announce(&mut self) {
        if !self.ready {
            shared::set_reader_ready(&self.reader);
            self.ready = true;
        }
    }

    /// Moves the reading side to the ring once the socket's data is all taken.
    fn settle(&mut self) {
        if !self.reads_ring {
            if let Some(at) = shared::switch_at(&self.reader) {
                if self.consumed >= at {
                    self.reads_ring = true;
                    // The byte at the switch point is the wake-up byte.
                    self.marker_owed = self.consumed == at;
                }
            }
        }
    }

    /// Receives into `buf` as a socket would: from the socket up to the writer's switch point,
    /// then from the ring. Waits for bytes unless `dontwait` (then `WouldBlock`); `Ok(0)` at
    /// the end of data (a writer that closed, or vanished). Handles riding on the socket's bytes
    /// go to `handles` while it holds fewer than `limit`.
    pub(crate) fn recv(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
        dontwait: bool,
        handles: &mut Vec<OwnedFd>,
        limit: usize,
    ) -> io::Result<usize> {
        self.announce();
        loop {
            self.settle();
            if self.reads_ring {
                return self.ring_recv(fd, buf, dontwait, handles, limit);
            }
            if buf.is_empty() {
                return Ok(0);
            }
            let at = shared::switch_at(&self.reader);
            let max = match at {
                Some(at) => usize::try_from(at - self.consumed)
                    .unwrap_or(usize::MAX)
                    .min(buf.len()),
                None => buf.len(),
            };
            let flags = if dontwait {
                RecvFlags::DONTWAIT
            } else {
                RecvFlags::empty()
            };
            let n = super::conn::recv_flags(fd, &mut buf[..max], handles, limit, flags)?;
            if n == 0 {
                self.look_at_next_write();
            }
            let start = self.consumed;
            self.consumed = start.saturating_add(n as u64);
            // The writer publishes its switch point before it sends its wake-up byte: bytes
            // received beyond the point are not data.
            match shared::switch_at(&self.reader) {
                None => return Ok(n),
                Some(at) => {
                    let data = at.saturating_sub(start).min(n as u64) as usize;
                    if n == 0 {
                        // The socket ended: what is left comes from the ring (or its end).
                        self.consumed = self.consumed.max(at);
                    }
                    if data > 0 {
                        return Ok(data);
                    }
                }
            }
        }
    }

    /// Reads from the ring; a writer that vanished without closing is the end of data, as a
    /// socket whose peer was killed.
    fn ring_recv(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
        dontwait: bool,
        handles: &mut Vec<OwnedFd>,
        limit: usize,
    ) -> io::Result<usize> {
        self.tidy_socket(fd, dontwait, handles, limit)?;
        let got = if dontwait {
            shared::read_now(&mut self.reader, buf)
        } else {
            self.wait_and_read(fd, buf)
        };
        match self.after_wait(got) {
            Some(done) => done,
            None => self.ring_recv(fd, buf, dontwait, handles, limit),
        }
    }

    /// What a read or an in-place read of the ring makes of its wait's outcome (`got`: bytes
    /// there): the end of data is 0 (and the next write looks at the peer at once); nothing
    /// there yet is `WouldBlock` once the socket is armed for a poller (the writer's next
    /// publication sends a wake-up byte there), or `None`: the ring must be looked at again
    /// (a publication came while arming).
    fn after_wait(&mut self, got: io::Result<usize>) -> Option<io::Result<usize>> {
        match got {
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                self.look_at_next_write();
                Some(Ok(0))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.arm_socket().then_some(Err(e)),
            other => Some(other),
        }
    }

    /// Whether this end reads from the ring now and has announced it (an in-place read then
    /// lends the ring's bytes; before, it reads through [`recv`](Self::recv)).
    pub(crate) fn lends(&mut self) -> bool {
        self.ready && self.reads_ring()
    }

    /// For an in-place read on an end that [`lends`](Self::lends): waits as a read does until
    /// the ring holds bytes and tells how many (0: the end of data), consuming nothing;
    /// [`lent`](Self::lent) then lends them.
    pub(crate) fn ring_ready(
        &mut self,
        fd: BorrowedFd<'_>,
        dontwait: bool,
        handles: &mut Vec<OwnedFd>,
        limit: usize,
    ) -> io::Result<usize> {
        self.tidy_socket(fd, dontwait, handles, limit)?;
        let got = if dontwait {
            shared::ready_now(&self.reader)
        } else {
            let limit = || {
                rustix::net::sockopt::socket_timeout(fd, rustix::net::sockopt::Timeout::Recv)
                    .ok()
                    .flatten()
            };
            match shared::wait_ready(&mut self.reader, limit) {
                Ok(Some(n)) => Ok(n),
                Ok(None) => Err(io::Error::new(
                    ErrorKind::WouldBlock,
                    format!("{}: the receive time limit ran out", self.what),
                )),
                Err(e) => Err(e),
            }
        };
        match self.after_wait(got) {
            Some(done) => done,
            None => self.ring_ready(fd, dontwait, handles, limit),
        }
    }

    /// The `n` bytes [`ring_ready`](Self::ring_ready) found, where they lie in the ring (up to
    /// its end).
    ///
    /// # Safety
    /// As [`ShmReader::fill_buf_in_place`]: the peer must leave published bytes alone until
    /// they are consumed.
    pub(crate) unsafe fn lent(&self, n: usize) -> &[u8] {
        // SAFETY: passed on to the caller (this function's contract).
        unsafe { shared::lend(&self.reader, n) }
    }

    /// How many of `n` bytes found by [`ring_ready`](Self::ring_ready) one slice lends.
    pub(crate) fn lendable(&self, n: usize) -> usize {
        shared::lendable(&self.reader, n)
    }

    /// Gives the room of `n` lent bytes back to the writer.
    pub(crate) fn consume(&mut self, n: usize) {
        shared::consume(&mut self.reader, n);
    }

    /// What a read from the ring takes off the socket first: wake-up bytes a poller asked for,
    /// handles piled up there, the writer's wake-up byte at its switch point.
    fn tidy_socket(
        &mut self,
        fd: BorrowedFd<'_>,
        dontwait: bool,
        handles: &mut Vec<OwnedFd>,
        limit: usize,
    ) -> io::Result<()> {
        if self.socket_armed {
            self.drain_wakes(fd)?;
        }
        if shared::handles_sent(&self.reader).saturating_sub(self.handles_taken) > PILE {
            self.drain_handles(fd, handles, limit)?;
        }
        if self.marker_owed {
            // Sent right after the switch point was published (a blocking reader waits for it:
            // nothing can hold the writer between the two). One byte, never more: a handle's
            // byte may follow it.
            let mut byte = [0u8; 1];
            let flags = if dontwait {
                RecvFlags::DONTWAIT
            } else {
                RecvFlags::empty()
            };
            if let Ok((n, _)) = crate::sys::retry(|| rustix::net::recv(fd, &mut byte, flags)) {
                self.marker_owed = false;
                self.consumed = self.consumed.saturating_add(n as u64);
            }
        }
        Ok(())
    }

    /// A blocking read: takes what the ring holds, else spins on it, and only then (the first
    /// system calls of the wait) reads the socket's receive time limit (`SO_RCVTIMEO`, as an
    /// RPC layer sets), looks at the peer, and sleeps on the ring's futex; once the time limit
    /// runs out it ends with `WouldBlock`, as the socket's `recv` would.
    fn wait_and_read(&mut self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let limit = || {
            rustix::net::sockopt::socket_timeout(fd, rustix::net::sockopt::Timeout::Recv)
                .ok()
                .flatten()
        };
        match shared::read_wait(&mut self.reader, buf, limit)? {
            Some(n) => Ok(n),
            None => Err(io::Error::new(
                ErrorKind::WouldBlock,
                format!("{}: the receive time limit ran out", self.what),
            )),
        }
    }

    /// Asks the writer for a wake-up byte on the socket at its next publication (a poller of
    /// the socket then sees this end readable); `false` when there is something to read now.
    pub(crate) fn arm_socket(&mut self) -> bool {
        if shared::arm_read_socket(&self.reader) {
            self.socket_armed = true;
            true
        } else {
            false
        }
    }

    /// Takes the wake-up bytes at the head of the socket off it (never a handle's byte).
    fn drain_wakes(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.socket_armed = false;
        let mut bytes = [0u8; 64];
        loop {
            let seen =
                match rustix::net::recv(fd, &mut bytes, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
                    Ok((n, _)) => n,
                    Err(_) => return Ok(()),
                };
            let wakes = bytes[..seen].iter().take_while(|&&b| b == WAKE).count();
            if wakes == 0 {
                return Ok(());
            }
            // Those bytes only: a recv stops at the count, before a handle's byte.
            let _ = crate::sys::retry(|| {
                rustix::net::recv(fd, &mut bytes[..wakes], RecvFlags::DONTWAIT)
            });
            self.marker_owed = false;
            if wakes < seen || seen < bytes.len() {
                return Ok(());
            }
        }
    }

    /// Handles sent on the socket and never asked for pile up there: past [`PILE`] of them,
    /// they are taken off it as a read on the socket would take them (kept while `handles`
    /// holds fewer than `limit`, refused beyond, never installed), so a sender never waits for
    /// room on the socket.
    fn drain_handles(
        &mut self,
        fd: BorrowedFd<'_>,
        handles: &mut Vec<OwnedFd>,
        limit: usize,
    ) -> io::Result<()> {
        let target = shared::handles_sent(&self.reader);
        let mut bytes = [0u8; 64];
        while self.handles_taken < target {
            match super::conn::recv_flags(fd, &mut bytes, handles, limit, RecvFlags::DONTWAIT) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    self.marker_owed = false;
                    let taken = bytes[..n].iter().filter(|&&b| b == HANDLE).count();
                    self.handles_taken = self.handles_taken.saturating_add(taken as u64);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Data bytes waiting to be read (those still on the socket, `on_socket` of them there in
    /// all, and those in the ring).
    pub(crate) fn pending(&mut self, on_socket: usize) -> io::Result<usize> {
        self.announce();
        self.settle();
        if self.reads_ring {
            return self.reader.bytes_available();
        }
        match shared::switch_at(&self.reader) {
            None => Ok(on_socket),
            Some(at) => {
                let left = usize::try_from(at - self.consumed).unwrap_or(usize::MAX);
                Ok(left.min(on_socket) + self.reader.bytes_available()?)
            }
        }
    }

    /// Copies what waits in the ring into `buf` without consuming it (reading from the ring).
    pub(crate) fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        shared::peek(&self.reader, buf)
    }

    /// How many of the socket's waiting bytes are data (for a peek on the socket).
    pub(crate) fn socket_data(&self, on_socket: usize) -> usize {
        match shared::switch_at(&self.reader) {
            None => on_socket,
            Some(at) => usize::try_from(at.saturating_sub(self.consumed))
                .unwrap_or(usize::MAX)
                .min(on_socket),
        }
    }

    /// Whether everything was read and the writer is gone (closed, or vanished); `None` while
    /// reading from the socket, which then tells.
    pub(crate) fn at_end(&mut self) -> io::Result<Option<bool>> {
        self.settle();
        if !self.reads_ring {
            return Ok(shared::switch_at(&self.reader).map(|_| false));
        }
        if self.reader.bytes_available()? > 0 {
            return Ok(Some(false));
        }
        Ok(Some(
            shared::writer_closed(&self.reader) || shared::writer_gone(&self.reader)?,
        ))
    }

    /// Takes a handle that rode on the socket after the writer moved to its ring: the bytes
    /// there are wake-up bytes and handle bytes only. `None` when none is waiting.
    pub(crate) fn recv_control_handle(
        &mut self,
        fd: BorrowedFd<'_>,
        handles: &mut Vec<OwnedFd>,
    ) -> io::Result<Option<OwnedFd>> {
        loop {
            if !handles.is_empty() {
                return Ok(Some(handles.remove(0)));
            }
            let mut byte = [0u8; 1];
            let want = handles.len() + 1;
            let n = super::conn::recv_flags(fd, &mut byte, handles, want, RecvFlags::DONTWAIT);
            match n {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.marker_owed = false;
                    self.consumed = self.consumed.saturating_add(1);
                    if byte[0] == HANDLE {
                        self.handles_taken = self.handles_taken.saturating_add(1);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    // ---- Writing ----

    /// Whether this end's data goes to the ring now: it moves there once the reader announced
    /// that it takes data from the ring (publishing its switch point, then waking a reader
    /// blocked on the socket).
    pub(crate) fn onto_ring(&mut self, fd: BorrowedFd<'_>) -> bool {
        if self.writes_ring {
            return true;
        }
        if !shared::reader_ready(&self.writer) {
            return false;
        }
        shared::publish_switch(&self.writer, self.sent);
        // Right at the switch point, before any handle's byte: the reader relies on it. A peer
        // gone is found on the ring.
        while let Err(rustix::io::Errno::AGAIN) =
            crate::sys::retry(|| rustix::net::send(fd, &[WAKE], SendFlags::NOSIGNAL))
        {
            // A full socket: the reader has data to take there, and makes room.
            let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
            let _ = poll(&mut fds, None);
        }
        self.writes_ring = true;
        true
    }

    /// Before a write on the socket (this direction has not moved to its ring): `BrokenPipe`
    /// once the peer closed its end, which marks both its rings closed as it goes (its reading
    /// end first). The peer's socket can outlive its end a moment (a process the peer's other
    /// thread is starting holds a copy of it until its `exec`) while a read here already finds
    /// the end of data on the ring: the write fails then, as the read's end says. A peer that
    /// only shut its writing half, or refused the rings, has not closed both.
    pub(crate) fn check_peer_open(&self) -> io::Result<()> {
        if shared::reader_closed(&self.writer) && shared::writer_closed(&self.reader) {
            return Err(io::Error::new(
                ErrorKind::BrokenPipe,
                format!("{}: the peer closed its end", self.what),
            ));
        }
        Ok(())
    }

    /// Counts `n` data bytes sent on the socket (before the switch).
    pub(crate) fn sent_on_socket(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n as u64);
    }

    /// After a read found the end of data: the next write looks at the peer at once instead of
    /// within [`LOOK_EVERY`], so a write after the peer's `kill -9` was read fails as on the
    /// socket (a peer that only finished writing still takes data).
    fn look_at_next_write(&mut self) {
        self.look_now = true;
    }

    /// `BrokenPipe` once this side shut its writing half or the peer is gone (looked at on the
    /// socket at most every [`LOOK_EVERY`]).
    fn check_writable(&mut self) -> io::Result<()> {
        if self.write_shut {
            return Err(io::Error::new(
                ErrorKind::BrokenPipe,
                format!("{}: this end shut its writing half", self.what),
            ));
        }
        let now = coarse_now();
        if self.look_now || now.wrapping_sub(self.last_look) >= LOOK_EVERY {
            self.look_now = false;
            self.last_look = now;
            if shared::reader_gone(&self.writer)? {
                return Err(io::Error::new(
                    ErrorKind::BrokenPipe,
                    format!("{}: the peer is gone", self.what),
                ));
            }
        }
        Ok(())
    }

    /// Writes all of `data` to the ring; with `nonblocking`, `WouldBlock` when the ring has no
    /// room at all (once some went, the rest waits for room, as on the socket).
    pub(crate) fn send(&mut self, data: &[u8], nonblocking: bool) -> io::Result<()> {
        self.send_parts(&[data], nonblocking)
    }

    /// [`send`](Self::send) of a message's header and payload: both go in one publication when
    /// the ring has room for them (no copy of the two into one buffer first).
    pub(crate) fn send_parts(&mut self, parts: &[&[u8]], nonblocking: bool) -> io::Result<()> {
        self.check_writable()?;
        // The peer was looked at just above (at most every `LOOK_EVERY`): only the ring here.
        if nonblocking
            && parts.iter().any(|p| !p.is_empty())
            && shared::free_now(&self.writer)? == 0
        {
            return Err(ErrorKind::WouldBlock.into());
        }
        shared::write_parts(&mut self.writer, parts)
    }

    /// `Write::write` on a byte pipe: as much as the ring takes (all of it, when blocking).
    pub(crate) fn send_some(&mut self, data: &[u8], nonblocking: bool) -> io::Result<usize> {
        self.check_writable()?;
        if nonblocking {
            return shared::write_now(&mut self.writer, data);
        }
        self.writer.write(data)
    }

    /// For an in-place write: waits as a write does until the ring has room (`BrokenPipe`
    /// once the peer is gone or this side shut its writing half) and tells how much one slice
    /// lends (the free room up to the ring's end, at least 1 byte);
    /// [`room`](Self::room) then lends it.
    pub(crate) fn reserve(&mut self) -> io::Result<usize> {
        self.check_writable()?;
        let free = shared::wait_room(&mut self.writer)?;
        // SAFETY: only the slice's length is taken; nothing is read or written through it.
        Ok(unsafe { shared::room(&mut self.writer, free) }.len())
    }

    /// The `n` bytes of room [`reserve`](Self::reserve) found, where they lie in the ring.
    ///
    /// # Safety
    /// As [`ShmWriter::reserve_in_place`](crate::shm_pipe::ShmWriter::reserve_in_place): the
    /// reading process must never write ring data.
    pub(crate) unsafe fn room(&mut self, n: usize) -> &mut [u8] {
        // SAFETY: passed on to the caller (this function's contract).
        unsafe { shared::room(&mut self.writer, n) }
    }

    /// Publishes `n` bytes filled in the room [`reserve`](Self::reserve) found, waking the
    /// reader as a write does.
    pub(crate) fn commit(&mut self, n: usize) -> io::Result<()> {
        shared::commit(&mut self.writer, n)
    }

    /// Whether `len` bytes fit in the ring now (a nonblocking message is all or nothing).
    pub(crate) fn fits(&self, len: usize) -> io::Result<bool> {
        // The write that follows looks at the peer (`check_writable`); only the ring here.
        Ok(shared::free_now(&self.writer)? >= len)
    }

    /// Sends `handle` on the socket riding on a [`HANDLE`] byte (the data that announces it goes
    /// on the ring after it).
    pub(crate) fn send_control_handle(
        &mut self,
        fd: BorrowedFd<'_>,
        handle: BorrowedFd<'_>,
    ) -> io::Result<()> {
        self.check_writable()?;
        super::conn::send_all(fd, &[&[HANDLE]], &[handle])?;
        shared::count_handle(&self.writer);
        Ok(())
    }

    /// For a task about to await this side's bell: `false` when there is something to read.
    #[cfg(feature = "tokio")]
    pub(crate) fn arm_read(&self) -> bool {
        shared::arm_read(&self.reader)
    }

    /// For a task facing a full ring: `false` when there is room.
    #[cfg(feature = "tokio")]
    pub(crate) fn arm_write(&self) -> bool {
        shared::arm_write(&self.writer)
    }

    /// Shuts this side's writing half: the reader finds the end of data after what the ring
    /// holds.
    #[cfg(feature = "tokio")]
    pub(crate) fn shut_write(&mut self) {
        self.write_shut = true;
        shared::close_writer(&mut self.writer);
    }

    /// Waits until the peer has read everything written to the ring, or is gone
    /// (`FlushFileBuffers`): `true` when that settles it (something went on the ring, and the
    /// reader takes the socket's data before the ring's), `false` when the socket's data is
    /// still to be waited for.
    pub(crate) fn flush_to_peer(&self) -> io::Result<bool> {
        let mut pause = Duration::from_micros(20);
        while shared::unread(&self.writer)? > 0 && !shared::reader_gone(&self.writer)? {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
        Ok(shared::written(&self.writer) > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{ftruncate, memfd_create, MemfdFlags};
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::os::fd::AsFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    fn accept(handles: Vec<OwnedFd>) -> io::Error {
        let (sock, _other) = pair();
        match Rings::accept(handles, sock.as_fd(), Duration::ZERO, "named pipe x") {
            Ok(_) => panic!("a hostile offer was accepted"),
            Err(e) => e,
        }
    }

    fn bell() -> OwnedFd {
        shared::new_bell().unwrap()
    }

    /// What a hostile client could offer is refused before it is used: too few handles, bells
    /// that are no eventfds, a memfd that is not sealed (it could shrink under the mapping), a
    /// sealed file whose header is not a ring's. Nothing panics.
    #[test]
    fn hostile_offers_are_refused() {
        assert_eq!(accept(Vec::new()).kind(), ErrorKind::InvalidData);
        let unsealed = || {
            let fd =
                memfd_create("hostile", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
            ftruncate(&fd, (4096 + DEFAULT_RING) as u64).unwrap();
            fd
        };
        let (r, _w) = rustix::pipe::pipe().unwrap();
        assert_eq!(
            accept(vec![unsealed(), unsealed(), r, bell()]).kind(),
            ErrorKind::InvalidData
        );
        assert_eq!(
            accept(vec![unsealed(), unsealed(), bell(), bell()]).kind(),
            ErrorKind::InvalidData
        );
        // Sealed as a ring, but the header was never written: no magic.
        let garbage = || {
            OwnedFd::try_from(
                crate::mapping::FileMapping::anonymous((4096 + DEFAULT_RING) as u64).unwrap(),
            )
            .unwrap()
        };
        let e = accept(vec![garbage(), garbage(), bell(), bell()]);
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        assert!(e.to_string().contains("named pipe x"), "{e}");
    }

    /// An offer taken: bytes written on the socket before the switch come first, then the
    /// ring's; the wake-up byte is no data; a peer position beyond the capacity is
    /// `InvalidData`, never an access outside the ring.
    #[test]
    fn switch_keeps_order_and_positions_are_checked() {
        let (a, b) = pair();
        let (mut client, handles) =
            Rings::offer(a.as_fd(), 4096, 4096, Duration::ZERO, "named pipe x").unwrap();
        let raw = handles[0].try_clone().unwrap();
        let mut server =
            Rings::accept(handles.into(), b.as_fd(), Duration::ZERO, "named pipe x").unwrap();
        let mut none = Vec::new();
        // Before the server announces itself, the client writes on the socket.
        assert!(!client.onto_ring(a.as_fd()));
        rustix::net::send(&a, b"abc", SendFlags::empty()).unwrap();
        client.sent_on_socket(3);
        let mut buf = [0u8; 8];
        assert_eq!(
            server
                .recv(b.as_fd(), &mut buf[..2], false, &mut none, 0)
                .unwrap(),
            2
        );
        // The server announced itself at its read: the client moves to the ring.
        assert!(client.onto_ring(a.as_fd()));
        client.send(b"defg", false).unwrap();
        assert_eq!(server.pending(2).unwrap(), 1 + 4);
        assert_eq!(
            server
                .recv(b.as_fd(), &mut buf, false, &mut none, 0)
                .unwrap(),
            1
        );
        assert_eq!(buf[0], b'c');
        assert_eq!(
            server
                .recv(b.as_fd(), &mut buf, false, &mut none, 0)
                .unwrap(),
            4
        );
        assert_eq!(&buf[..4], b"defg");
        assert!(server.reads_ring());
        assert_eq!(
            server
                .recv(b.as_fd(), &mut buf, true, &mut none, 0)
                .unwrap_err()
                .kind(),
            ErrorKind::WouldBlock
        );
        // A peer writes a write position far beyond what the ring can hold.
        let view = crate::mapping::FileMapping::try_from(raw)
            .unwrap()
            .map_view(crate::mapping::Access::Write, 0, 0)
            .unwrap();
        view.atomic_u64(64)
            .unwrap()
            .store(u64::MAX / 2, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(
            server
                .recv(b.as_fd(), &mut buf, false, &mut none, 0)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidData
        );
    }

    /// An end that closes marks its rings closed: the peer's next write on the socket fails
    /// with `BrokenPipe` even while the socket itself lives on (a copy held elsewhere). A peer
    /// that only shut its writing half still takes writes.
    #[test]
    fn a_closed_peer_fails_a_write_on_the_socket_that_lives_on() {
        let (a, b) = pair();
        let (client, handles) =
            Rings::offer(a.as_fd(), 4096, 4096, Duration::ZERO, "named pipe x").unwrap();
        #[cfg_attr(not(feature = "tokio"), allow(unused_mut))]
        let mut server =
            Rings::accept(handles.into(), b.as_fd(), Duration::ZERO, "named pipe x").unwrap();
        client.check_peer_open().unwrap();
        #[cfg(feature = "tokio")]
        {
            server.shut_write();
            client.check_peer_open().unwrap();
        }
        drop(server);
        let e = client.check_peer_open().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
        assert!(e.to_string().contains("named pipe x"), "{e}");
        // The server's socket is still open here.
        assert!(rustix::net::send(&a, b"x", SendFlags::empty()).is_ok());
        drop(b);
    }
}
