//! Shared-memory pipes: the anonymous pipe's contract over a ring in a file mapping, faster than
//! the kernel's pipe because a transfer is two plain memory copies and, while both sides are busy,
//! no system call at all.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let (mut reader, mut writer) = pipework::shm_pipe::create()?;
//! writer.write_all(b"through shared memory")?;
//! drop(writer); // a clean close: the reader sees the end after the data
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert_eq!(text, "through shared memory");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Win32 has no shared-memory pipe; this one keeps the anonymous pipe's contract
//! ([`crate::pipe`]), with one reader and one writer (ends cannot be cloned). How it works, and
//! why: `docs/design/shm_pipe.md`.
//!
//! | Win32 (pipes) | pipework |
//! |---|---|
//! | `CreatePipe` | [`create`], [`ShmPipeOptions`] |
//! | `ReadFile` / `WriteFile` | [`Read`](std::io::Read) / [`Write`](std::io::Write) on [`ShmReader`] / [`ShmWriter`] |
//! | `PeekNamedPipe` (bytes available) | [`ShmReader::bytes_available`] |
//! | `CloseHandle` | `drop` (the reader sees the end after the data; a writer, `BrokenPipe`) |
//! | `CreateNamedPipe` + `ConnectNamedPipe` | [`ShmPipeOptions::listen`], [`ShmPipeListener::accept`] |
//! | `CreateFile` on a pipe name (`WaitNamedPipe` for a bound) | [`ShmWriter::connect`] ([`ShmWriter::connect_timeout`]) |
//! | PipeList | [`list`] |
//! | `PIPE_TYPE_MESSAGE`: `WriteFile` / `ReadFile` of a message | [`ShmMessageWriter::write_message`], [`ShmMessageReader::read_message`] |
//! | `ERROR_MORE_DATA` | [`MessageRead::MoreData`](crate::named_pipe::MessageRead::MoreData) |
//! | inheritance, `DuplicateHandle` | `OwnedFd::from(end)` / `TryFrom<OwnedFd>`, [`crate::process::CommandExt::inherit_handle`], [`crate::handle::send`] |
//! | (no counterpart) zero-copy | [`ShmReader::fill_buf_in_place`], [`ShmWriter::reserve_in_place`] |
//! | overlapped I/O | feature `tokio`: `ShmReader::into_async`, `ShmWriter::into_async` |

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};

use crate::mapping::{Access, FileMapping, View};

#[cfg(feature = "tokio")]
mod async_io;
mod ends;
mod handover;
mod layout;
mod listener;
mod message;
#[cfg(test)]
mod proptests;
mod ring;
mod wait;
pub(crate) use wait::WAKE_BYTE;

#[cfg(feature = "tokio")]
pub use async_io::{AsyncShmReader, AsyncShmWriter};
pub use ends::{ShmReader, ShmWriter};
pub use listener::{list, ShmPipeListener};
pub use message::{ShmMessageReader, ShmMessageWriter};

use ends::End;
use handover::{map_ring, Queued, ANONYMOUS};
use layout::{DEFAULT_CAPACITY, HEADER, MAX_CAPACITY, MIN_CAPACITY};
use ring::Ring;
use wait::DEFAULT_SPIN;

/// How long a writer connecting by name has to finish setting its pipe up, by default.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Creates a shared-memory pipe with the default options: `(reader, writer)`.
pub fn create() -> io::Result<(ShmReader, ShmWriter)> {
    ShmPipeOptions::new().create()
}

/// How to create a shared-memory pipe: ring capacity and spinning.
///
/// ```
/// use std::time::Duration;
///
/// // A 256 KiB ring whose ends never spin: they sleep on a futex at once (lowest CPU use).
/// let (reader, writer) = pipework::shm_pipe::ShmPipeOptions::new()
///     .capacity(256 * 1024)
///     .spin(Duration::ZERO)
///     .create()?;
/// assert_eq!(reader.capacity(), 256 * 1024);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ShmPipeOptions {
    capacity: usize,
    spin: Duration,
    handshake_timeout: Duration,
}

impl Default for ShmPipeOptions {
    fn default() -> Self {
        ShmPipeOptions {
            capacity: DEFAULT_CAPACITY,
            spin: DEFAULT_SPIN,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl ShmPipeOptions {
    /// Default options: a 1 MiB ring, spinning up to 50 µs before sleeping.
    pub fn new() -> Self {
        Self::default()
    }

    /// The spin budget ends start with (50 µs).
    pub fn default_spin() -> Duration {
        DEFAULT_SPIN
    }

    /// The ring's capacity in bytes, rounded up to a power of two, at least 4 KiB. `create` fails
    /// with `InvalidInput` above 1 GiB.
    pub fn capacity(&mut self, bytes: usize) -> &mut Self {
        self.capacity = bytes;
        self
    }

    /// The longest a side spins waiting for its peer before it sleeps (it adapts below this when
    /// spinning keeps failing). `Duration::ZERO` never spins: every wait sleeps on a futex; a
    /// spin above 50 ms is taken as 50 ms.
    /// This setting belongs to each end in its own process; an end adopted elsewhere uses the
    /// default unless [`ShmReader::set_spin`] / [`ShmWriter::set_spin`] is called.
    pub fn spin(&mut self, spin: Duration) -> &mut Self {
        self.spin = spin;
        self
    }

    /// For a listener ([`ShmPipeOptions::listen`]): how long a writer that connected has to
    /// finish setting its pipe up (5 s by default); one that takes longer is dropped.
    /// `Duration::MAX` never drops one (an [`accept`](ShmPipeListener::accept) still never
    /// waits on a single writer).
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Creates the pipe: `(reader, writer)`, both in this process.
    pub fn create(&self) -> io::Result<(ShmReader, ShmWriter)> {
        let (mapping, view) = self.new_ring()?;
        self.pair(mapping, view)
    }

    /// The ring capacity these options make: `InvalidInput` above the maximum.
    fn checked_capacity(&self) -> io::Result<usize> {
        if self.capacity > MAX_CAPACITY {
            return Err(crate::sys::error::invalid(
                ANONYMOUS,
                format_args!("capacity {} is above the 1 GiB maximum", self.capacity),
            ));
        }
        Ok(self.capacity.max(MIN_CAPACITY).next_power_of_two())
    }

    /// A fresh ring: its mapping (a memfd sealed against resizing) and a view of it with the
    /// header written.
    fn new_ring(&self) -> io::Result<(FileMapping, View)> {
        let capacity = self.checked_capacity()?;
        let mapping = FileMapping::anonymous((HEADER + capacity) as u64)?;
        let view = mapping.map_view(Access::Write, 0, 0)?;
        layout::write_header(&view, capacity)?;
        Ok((mapping, view))
    }

    fn pair(&self, mapping: FileMapping, view: View) -> io::Result<(ShmReader, ShmWriter)> {
        let (reader_sock, writer_sock) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        // Queue the ring's handles in each socket's receive queue, for adopters of either end.
        let handles = Queued::new(mapping)?;
        handles.queue(writer_sock.as_fd())?;
        handles.queue(reader_sock.as_fd())?;
        drop(handles);

        // The reader maps the ring from the handle queued on its socket, which proves the queue
        // holds what adopters of the handle will look for (sealed, as adopters check).
        let queued = Queued::peek(reader_sock.as_fd(), ANONYMOUS)?;
        let reader_ring = Ring::validate(map_ring(queued.ring, ANONYMOUS)?, ANONYMOUS.into())?;
        let writer_ring = Ring::validate(view, ANONYMOUS.into())?;
        let reader = ShmReader {
            end: End::new(reader_ring, reader_sock, self.spin),
        };
        let writer = ShmWriter {
            end: End::new(writer_ring, writer_sock, self.spin),
        };
        Ok((reader, writer))
    }
}

/// What named pipes between two pipework ends use of this module: fresh rings, ends made on a
/// ring with the pipe's connection as lifeline and the peer's bell given, and the few looks at
/// an end that a named pipe's behaviours need (bytes waiting unread, reading, writing and
/// peeking without waiting, the switch from the socket to the ring). One ring, one set of
/// waits, for both mechanisms.
pub(crate) mod shared {
    use std::io::{self, ErrorKind};
    use std::os::fd::OwnedFd;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::ends::End;
    use super::handover::{checked_bell, map_ring};
    use super::layout::{OFF_NP_HANDLES_SENT, OFF_NP_READER_READY, OFF_NP_SWITCH_AT};
    use super::ring::Ring;
    use super::wait::{Woken, SLEEP_SLICE};
    use super::{ShmPipeOptions, ShmReader, ShmWriter};

    /// A fresh ring of `capacity` bytes: its memfd, sealed against resizing, header written.
    pub(crate) fn new_ring(capacity: usize) -> io::Result<OwnedFd> {
        let (mapping, view) = ShmPipeOptions::new().capacity(capacity).new_ring()?;
        drop(view);
        OwnedFd::try_from(mapping)
    }

    /// A fresh bell (a nonblocking eventfd).
    pub(crate) fn new_bell() -> io::Result<OwnedFd> {
        use rustix::event::{eventfd, EventfdFlags};
        Ok(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?)
    }

    /// An end on the ring `ring` (checked as any ring from another process: sealed, sized as
    /// its header says), its peer's liveness `lifeline` (for a writer, its full hang-up: a
    /// reader may shut its own writing half and still read; for a reader, the writer's half
    /// shut too), `peer_bell` the handle rung when the peer awaits it (checked to be
    /// nonblocking; an eventfd: the named pipe checks the bells a peer offers, and makes its
    /// own with [`new_bell`]).
    fn end(
        ring: OwnedFd,
        lifeline: OwnedFd,
        spin: Duration,
        what: &str,
        peer_bell: OwnedFd,
        writer: bool,
    ) -> io::Result<End> {
        let ring = Ring::validate(map_ring(ring, what)?, Arc::from(what))?;
        let mut end = End::new(ring, lifeline, spin);
        end.hup_only = writer;
        end.bell_is_eventfd = true;
        let _ = end.peer_bell.set(checked_bell(peer_bell, what)?);
        Ok(end)
    }

    /// The reading end of the ring `ring`: see [`end`].
    pub(crate) fn reader(
        ring: OwnedFd,
        lifeline: OwnedFd,
        spin: Duration,
        what: &str,
        peer_bell: OwnedFd,
    ) -> io::Result<ShmReader> {
        Ok(ShmReader {
            end: end(ring, lifeline, spin, what, peer_bell, false)?,
        })
    }

    /// The writing end of the ring `ring`: see [`end`].
    pub(crate) fn writer(
        ring: OwnedFd,
        lifeline: OwnedFd,
        spin: Duration,
        what: &str,
        peer_bell: OwnedFd,
    ) -> io::Result<ShmWriter> {
        Ok(ShmWriter {
            end: end(ring, lifeline, spin, what, peer_bell, true)?,
        })
    }

    /// Copies what waits in the ring into `buf` without consuming it: how many bytes.
    pub(crate) fn peek(reader: &ShmReader, buf: &mut [u8]) -> io::Result<usize> {
        let n = reader.bytes_available()?.min(buf.len());
        reader.end.ring.copy_out(reader.end.pos, &mut buf[..n])?;
        Ok(n)
    }

    /// Reads what is there without waiting: `WouldBlock` while the ring is empty and its writer
    /// lives, `Ok(0)` at the end of data, `UnexpectedEof` once the writer vanished without
    /// closing.
    pub(crate) fn read_now(reader: &mut ShmReader, buf: &mut [u8]) -> io::Result<usize> {
        let mut available = reader.bytes_available()?;
        if available == 0 {
            // The writer sets its flag after publishing its last bytes: look again after it.
            let closed = reader.writer_closed();
            available = reader.bytes_available()?;
            if available == 0 {
                if closed {
                    return Ok(0);
                }
                if reader.end.peer_gone()? {
                    return Err(reader.vanished());
                }
                return Err(ErrorKind::WouldBlock.into());
            }
        }
        let n = available.min(buf.len());
        if n > 0 {
            reader.end.ring.copy_out(reader.end.pos, &mut buf[..n])?;
            reader.advance(n);
        }
        Ok(n)
    }

    /// A blocking read that waits with no system call first: while the ring is empty it spins
    /// (the budget of the reader's spin); only once the spin found nothing does it ask `limit`
    /// for a time limit (a socket's `SO_RCVTIMEO`: a system call the fast path never makes),
    /// look at the lifeline once, and sleep on the futex in slices bounded by the limit and by
    /// [`super::wait::SLEEP_SLICE`]. `Ok(Some(n))`: `n` bytes read, 0 at the end of data;
    /// `Ok(None)`: the time limit ran out with nothing to read; `UnexpectedEof` once the writer
    /// vanished without closing.
    pub(crate) fn read_wait(
        reader: &mut ShmReader,
        buf: &mut [u8],
        limit: impl FnOnce() -> Option<Duration>,
    ) -> io::Result<Option<usize>> {
        wait_with(reader, limit, |reader| read_ready(reader, buf))
    }

    /// The wait of [`read_wait`], with `take` looking at the ring each time (`None`: nothing
    /// there yet).
    fn wait_with(
        reader: &mut ShmReader,
        limit: impl FnOnce() -> Option<Duration>,
        mut take: impl FnMut(&mut ShmReader) -> io::Result<Option<usize>>,
    ) -> io::Result<Option<usize>> {
        if let Some(n) = take(reader)? {
            return Ok(Some(n));
        }
        let start = Instant::now();
        if reader.end.spin_for_writer(start) {
            if let Some(n) = take(reader)? {
                return Ok(Some(n));
            }
        }
        let deadline = limit().map(|limit| start + limit);
        if reader.end.peer_gone()? {
            return match take(reader)? {
                Some(n) => Ok(Some(n)),
                None => Err(reader.vanished()),
            };
        }
        loop {
            let slice = match deadline {
                None => SLEEP_SLICE,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    left
                }
            };
            let woken = reader.end.sleep_for_writer(start, slice)?;
            if let Some(n) = take(reader)? {
                return Ok(Some(n));
            }
            if let Woken::PeerGone = woken {
                return Err(reader.vanished());
            }
        }
    }

    /// What the ring holds now: `None` while it is empty and its writer open, `Some(0)` at the
    /// end of data (no system call either way).
    fn ready(reader: &ShmReader) -> io::Result<Option<usize>> {
        let available = reader.bytes_available()?;
        if available > 0 {
            return Ok(Some(available));
        }
        // The writer sets its flag after publishing its last bytes: look again after it.
        if !reader.writer_closed() {
            return Ok(None);
        }
        Ok(Some(reader.bytes_available()?))
    }

    /// Reads what the ring holds now: `None` while it is empty and its writer open, `Some(0)`
    /// at the end of data (no system call either way).
    fn read_ready(reader: &mut ShmReader, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut available = reader.bytes_available()?;
        if available == 0 {
            // The writer sets its flag after publishing its last bytes: look again after it.
            if !reader.writer_closed() {
                return Ok(None);
            }
            available = reader.bytes_available()?;
        }
        let n = available.min(buf.len());
        if n > 0 {
            reader.end.ring.copy_out(reader.end.pos, &mut buf[..n])?;
            reader.advance(n);
        }
        Ok(Some(n))
    }

    /// What a read could take now without waiting, as [`read_now`] tells it: the count
    /// (0 at the end of data), `WouldBlock` while the ring is empty and its writer lives,
    /// `UnexpectedEof` once the writer vanished without closing. Nothing is consumed.
    pub(crate) fn ready_now(reader: &ShmReader) -> io::Result<usize> {
        let available = reader.bytes_available()?;
        if available > 0 {
            return Ok(available);
        }
        // The writer sets its flag after publishing its last bytes: look again after it.
        let closed = reader.writer_closed();
        let available = reader.bytes_available()?;
        if available > 0 || closed {
            return Ok(available);
        }
        if reader.end.peer_gone()? {
            return Err(reader.vanished());
        }
        Err(ErrorKind::WouldBlock.into())
    }

    /// Waits as [`read_wait`] does until the ring holds bytes, and tells how many, consuming
    /// nothing: `Ok(Some(n))`, 0 at the end of data; `Ok(None)` once the time limit ran out.
    pub(crate) fn wait_ready(
        reader: &mut ShmReader,
        limit: impl FnOnce() -> Option<Duration>,
    ) -> io::Result<Option<usize>> {
        wait_with(reader, limit, |reader| ready(reader))
    }

    /// The `n` bytes at the reader's position where they lie in the ring, up to the ring's end
    /// (`n` a count the reader was told is there: [`ready_now`], [`wait_ready`]).
    ///
    /// # Safety
    /// As [`ShmReader::fill_buf_in_place`]: the writing process must leave published bytes
    /// alone until they are consumed.
    pub(crate) unsafe fn lend(reader: &ShmReader, n: usize) -> &[u8] {
        let (start, len) = reader.end.contiguous(n.min(reader.capacity()));
        // SAFETY: `HEADER + start + len` lies within the view (`start + len` never passes the
        // capacity, and the view is `HEADER + capacity` bytes, checked when attaching); the
        // borrow of `reader` keeps the view mapped; the caller vouches that the writer leaves
        // these published bytes alone until they are consumed.
        unsafe {
            std::slice::from_raw_parts(
                reader
                    .end
                    .ring
                    .view
                    .as_ptr()
                    .add(super::layout::HEADER + start),
                len,
            )
        }
    }

    /// How many of `n` bytes at the reader's position one slice can lend (those before the
    /// ring's end).
    pub(crate) fn lendable(reader: &ShmReader, n: usize) -> usize {
        reader.end.contiguous(n.min(reader.capacity())).1
    }

    /// Gives the room of `n` bytes lent by [`lend`] back to the writer (`n` capped at what
    /// there is to read).
    pub(crate) fn consume(reader: &mut ShmReader, n: usize) {
        reader.consume(n);
    }

    /// Writes what fits without waiting: `WouldBlock` when the ring is full, `BrokenPipe` once
    /// the reader closed.
    pub(crate) fn write_now(writer: &mut ShmWriter, data: &[u8]) -> io::Result<usize> {
        if writer.reader_closed() {
            return Err(writer.broken());
        }
        let n = writer.free()?.min(data.len());
        if n == 0 && !data.is_empty() {
            return Err(ErrorKind::WouldBlock.into());
        }
        if n > 0 {
            writer.end.ring.copy_in(writer.end.pos, &data[..n])?;
            writer.publish(n);
        }
        Ok(n)
    }

    /// Writes all of `parts` (a message's header and payload) one after the other, as one
    /// publication when they fit in the room there is now; waits for room otherwise.
    pub(crate) fn write_parts(writer: &mut ShmWriter, parts: &[&[u8]]) -> io::Result<()> {
        writer.write_all_parts(parts)
    }

    /// Bytes the writer may write now without waiting, looking only at the ring (a reader that
    /// closed its end is `BrokenPipe`; a vanished peer is left to the caller's periodic look).
    pub(crate) fn free_now(writer: &ShmWriter) -> io::Result<usize> {
        if writer.reader_closed() {
            return Err(writer.broken());
        }
        writer.free()
    }

    /// The free room at the writer's position where it lies in the ring, up to the ring's end
    /// and to `n` (a count the writer was told is free: [`free_now`], `wait_writable`).
    ///
    /// # Safety
    /// As [`ShmWriter::reserve_in_place`]: the reading process must never write ring data.
    pub(crate) unsafe fn room(writer: &mut ShmWriter, n: usize) -> &mut [u8] {
        let (start, len) = writer.end.contiguous(n.min(writer.capacity()));
        // SAFETY: `HEADER + start + len` lies within the view (`start + len` never passes the
        // capacity, and the view is `HEADER + capacity` bytes, checked when attaching); the
        // borrow of `writer` keeps the view mapped; these bytes are free room the reader has
        // handed back, and the caller vouches that the reading process never writes ring data.
        unsafe {
            std::slice::from_raw_parts_mut(
                writer
                    .end
                    .ring
                    .view
                    .as_ptr()
                    .add(super::layout::HEADER + start),
                len,
            )
        }
    }

    /// Waits until the ring has room and tells how much (`BrokenPipe` once the reader is gone).
    pub(crate) fn wait_room(writer: &mut ShmWriter) -> io::Result<usize> {
        writer.wait_writable()
    }

    /// Publishes `n` bytes filled in the room lent by [`room`] (`n` within it), waking the
    /// reader as a write does.
    pub(crate) fn commit(writer: &mut ShmWriter, n: usize) -> io::Result<()> {
        writer.commit(n)
    }

    /// Bytes written to the ring so far.
    pub(crate) fn written(writer: &ShmWriter) -> u64 {
        writer.end.pos
    }

    /// Bytes written and not yet read by the reader.
    pub(crate) fn unread(writer: &ShmWriter) -> io::Result<usize> {
        Ok(writer.capacity() - writer.free()?)
    }

    /// Whether the reader has closed its end (or vanished).
    pub(crate) fn reader_gone(writer: &ShmWriter) -> io::Result<bool> {
        Ok(writer.reader_closed() || writer.end.peer_gone()?)
    }

    /// Whether the writer closed its end.
    pub(crate) fn writer_closed(reader: &ShmReader) -> bool {
        reader.writer_closed()
    }

    /// Whether the reader closed its end (a load from the ring's header, no system call).
    pub(crate) fn reader_closed(writer: &ShmWriter) -> bool {
        writer.reader_closed()
    }

    /// Whether the writer's side is gone (its lifeline hung up).
    pub(crate) fn writer_gone(reader: &ShmReader) -> io::Result<bool> {
        reader.end.peer_gone()
    }

    /// Marks the write end closed (the reader's end of data after what the ring holds).
    #[cfg(feature = "tokio")]
    pub(crate) fn close_writer(writer: &mut ShmWriter) {
        writer.close();
    }

    /// The reader announces that it takes data from the ring from now on.
    pub(crate) fn set_reader_ready(reader: &ShmReader) {
        reader
            .end
            .ring
            .word(OFF_NP_READER_READY)
            .store(1, Ordering::SeqCst);
    }

    /// Whether the reader announced that it takes data from the ring.
    pub(crate) fn reader_ready(writer: &ShmWriter) -> bool {
        writer
            .end
            .ring
            .word(OFF_NP_READER_READY)
            .load(Ordering::Acquire)
            != 0
    }

    /// The writer publishes that `sent` data bytes went on the socket before its data moved to
    /// the ring.
    pub(crate) fn publish_switch(writer: &ShmWriter, sent: u64) {
        writer
            .end
            .ring
            .position(OFF_NP_SWITCH_AT)
            .store(sent.saturating_add(1), Ordering::SeqCst);
    }

    /// How many data bytes the writer sent on the socket before moving to the ring, once it
    /// has (`None`: it still writes on the socket). A peer's value is only a count: a wrong
    /// one misplaces that peer's own bytes, nothing else.
    pub(crate) fn switch_at(reader: &ShmReader) -> Option<u64> {
        match reader
            .end
            .ring
            .position(OFF_NP_SWITCH_AT)
            .load(Ordering::Acquire)
        {
            0 => None,
            at => Some(at - 1),
        }
    }

    /// The writer counts one more handle sent on the socket (before the byte that announces it
    /// goes on the ring).
    pub(crate) fn count_handle(writer: &ShmWriter) {
        writer
            .end
            .ring
            .position(OFF_NP_HANDLES_SENT)
            .fetch_add(1, Ordering::SeqCst);
    }

    /// How many handles the writer sent on the socket after its switch (a peer's count: only
    /// how eagerly this side takes them off the socket depends on it).
    pub(crate) fn handles_sent(reader: &ShmReader) -> u64 {
        reader
            .end
            .ring
            .position(OFF_NP_HANDLES_SENT)
            .load(Ordering::Acquire)
    }

    /// For a reader whose socket is watched by a poller: the writer sends a wake-up byte on the
    /// connection at its next publication. `false` when there is something to read already.
    pub(crate) fn arm_read_socket(reader: &ShmReader) -> bool {
        reader.end.arm_reader_lifeline()
    }

    /// For a task about to await this side's bell as the reader: `false` when there is
    /// something to read already (look again instead).
    #[cfg(feature = "tokio")]
    pub(crate) fn arm_read(reader: &ShmReader) -> bool {
        reader.end.arm_reader_bell()
    }

    /// For a task about to await this side's bell as the writer facing a full ring: `false`
    /// when there is room already.
    #[cfg(feature = "tokio")]
    pub(crate) fn arm_write(writer: &ShmWriter) -> bool {
        writer.end.arm_writer_bell()
    }
}
