//! The two ends, [`ShmReader`] and [`ShmWriter`]: what each side holds, the `Read` and `Write`
//! contract of the anonymous pipe over the ring, closing on drop, and conversion to and from the
//! one handle that carries an end to another process.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Duration;

use super::layout::{OFF_READER_CLOSED, OFF_READ_POS, OFF_WRITER_CLOSED, OFF_WRITE_POS};
use super::ring::Ring;
use super::wait::{Woken, MAX_SPIN};
use crate::sys::error::error;

/// What one side holds: the ring, its lifeline socket, and its spin budget.
pub(super) struct End {
    pub(super) ring: Ring,
    pub(super) lifeline: Option<OwnedFd>,
    /// This side's position (total bytes it has read or written): its own copy, never re-read
    /// from shared memory after attaching.
    pub(super) pos: u64,
    /// A writer's view of the reader's position as last loaded (never ahead of it, so the
    /// room it implies is never more than there is): a write that fits in that room does not
    /// touch the cache line the reader writes at every read.
    pub(super) peer_pos: u64,
    pub(super) max_spin: Duration,
    pub(super) spin: Duration,
    /// Sleeps since the spin budget fell to nothing: every `wait::PROBE_EVERY` of
    /// them, a short spin is tried again.
    pub(super) sleeps: u32,
    /// The peer's bell, taken from the lifeline the first time the peer waits under an async
    /// runtime.
    pub(super) peer_bell: OnceLock<OwnedFd>,
    /// The peer is gone only once its lifeline hangs up entirely (a named pipe's writer, whose
    /// reader may shut its own writing half and still read); otherwise a half-shut lifeline
    /// counts too. Set only on named pipes' writers, which also send wake-up bytes on it.
    pub(super) hup_only: bool,
    /// The peer's bell is an eventfd (checked so by the named pipe that handed it over, or
    /// made by this process): ringing it cannot raise `SIGPIPE`, so it is a plain `write`.
    pub(super) bell_is_eventfd: bool,
}

impl End {
    pub(super) fn new(ring: Ring, lifeline: OwnedFd, spin: Duration) -> End {
        let spin = spin.min(MAX_SPIN);
        End {
            peer_pos: 0u64.wrapping_sub(ring.capacity),
            ring,
            lifeline: Some(lifeline),
            pos: 0,
            max_spin: spin,
            spin,
            sleeps: 0,
            peer_bell: OnceLock::new(),
            hup_only: false,
            bell_is_eventfd: false,
        }
    }

    /// The socket that is this end's handle.
    pub(super) fn lifeline(&self) -> BorrowedFd<'_> {
        match &self.lifeline {
            Some(fd) => fd.as_fd(),
            None => unreachable!("an end holds its lifeline until it is dropped or converted"),
        }
    }

    pub(super) fn set_spin(&mut self, spin: Duration) {
        let spin = spin.min(MAX_SPIN);
        self.max_spin = spin;
        self.spin = spin;
    }
}

/// The read end of a shared-memory pipe.
pub struct ShmReader {
    pub(super) end: End,
}

/// The write end of a shared-memory pipe.
pub struct ShmWriter {
    pub(super) end: End,
}

impl ShmReader {
    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity as usize
    }

    /// Bytes that a read could take now without waiting.
    pub fn bytes_available(&self) -> io::Result<usize> {
        let written = self
            .end
            .ring
            .position(OFF_WRITE_POS)
            .load(Ordering::Acquire);
        Ok(self
            .end
            .ring
            .checked_fill(written.wrapping_sub(self.end.pos))? as usize)
    }

    /// Sets how long this end spins before it sleeps (see
    /// [`ShmPipeOptions::spin`](super::ShmPipeOptions::spin)).
    pub fn set_spin(&mut self, spin: Duration) {
        self.end.set_spin(spin);
    }

    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.wait_readable()?.min(buf.len());
        if n > 0 {
            self.end.ring.copy_out(self.end.pos, &mut buf[..n])?;
            self.advance(n);
        }
        Ok(n)
    }

    /// Reads what is there without waiting: `None` when the ring is empty and the writer is
    /// still open, `Some(0)` at the end of data.
    #[cfg(feature = "tokio")]
    pub(super) fn try_read_now(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut available = self.bytes_available()?;
        // The writer sets its flag after publishing its last bytes: look again after seeing it.
        if available == 0 && self.writer_closed() {
            available = self.bytes_available()?;
            if available == 0 {
                return Ok(Some(0));
            }
        }
        if available == 0 {
            return Ok(None);
        }
        let n = available.min(buf.len());
        if n > 0 {
            self.end.ring.copy_out(self.end.pos, &mut buf[..n])?;
            self.advance(n);
        }
        Ok(Some(n))
    }

    /// Waits until the ring holds bytes, and returns how many (0: the writer closed and every
    /// byte has been read).
    pub(super) fn wait_readable(&mut self) -> io::Result<usize> {
        loop {
            let available = self.bytes_available()?;
            if available > 0 {
                return Ok(available);
            }
            // The writer sets its flag after publishing its last bytes: seeing the flag, look at
            // the position once more before calling it the end.
            if self.writer_closed() {
                if self.bytes_available()? > 0 {
                    continue;
                }
                return Ok(0);
            }
            if let Woken::PeerGone = self.end.wait_for_writer()? {
                if self.bytes_available()? > 0 || self.writer_closed() {
                    continue;
                }
                return Err(self.vanished());
            }
        }
    }

    /// The error of a reader whose writer vanished without closing.
    pub(super) fn vanished(&self) -> io::Error {
        error(
            ErrorKind::UnexpectedEof,
            &*self.end.ring.what,
            "the writer vanished without closing (killed?)",
        )
    }

    pub(super) fn writer_closed(&self) -> bool {
        self.end
            .ring
            .word(OFF_WRITER_CLOSED)
            .load(Ordering::Acquire)
            != 0
    }

    /// Hands `n` read bytes back to the writer.
    pub(super) fn advance(&mut self, n: usize) {
        self.end.pos = self.end.pos.wrapping_add(n as u64);
        self.end
            .ring
            .position(OFF_READ_POS)
            // Release: the fence in `wake` orders this store before the look at the waiting
            // word (a waiter stores its word, then loads this position, both `SeqCst`).
            .store(self.end.pos, Ordering::Release);
        self.end.wake_writer_for_room(self.end.pos);
    }
}

impl ShmWriter {
    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity as usize
    }

    /// Sets how long this end spins before it sleeps (see
    /// [`ShmPipeOptions::spin`](super::ShmPipeOptions::spin)).
    pub fn set_spin(&mut self, spin: Duration) {
        self.end.set_spin(spin);
    }

    pub(super) fn broken(&self) -> io::Error {
        error(
            ErrorKind::BrokenPipe,
            &*self.end.ring.what,
            "the reader is gone",
        )
    }

    fn write_all_or_some(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < data.len() {
            // The room known from the reader's position seen last, when it takes the rest; else
            // the position is looked up afresh (and waited for).
            let known = self.known_free();
            let free = if known >= data.len() - done && !self.reader_closed() {
                known
            } else {
                match self.wait_writable() {
                    Ok(free) => free,
                    Err(e) if done > 0 && e.kind() == ErrorKind::BrokenPipe => return Ok(done),
                    Err(e) => return Err(e),
                }
            };
            let n = free.min(data.len() - done);
            self.end.ring.copy_in(self.end.pos, &data[done..done + n])?;
            self.publish(n);
            done += n;
        }
        Ok(done)
    }

    /// Writes all of `parts` one after the other; when they fit in the room there is now, as
    /// one publication (one look at the reader's waiting word, one wake-up at most), else part
    /// by part as [`Write::write_all`] would.
    pub(super) fn write_all_parts(&mut self, parts: &[&[u8]]) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let fits =
            !self.reader_closed() && (total <= self.known_free() || total <= self.fresh_free()?);
        if !fits {
            for part in parts {
                self.write_all(part)?;
            }
            return Ok(());
        }
        let mut pos = self.end.pos;
        for part in parts {
            self.end.ring.copy_in(pos, part)?;
            pos = pos.wrapping_add(part.len() as u64);
        }
        if total > 0 {
            self.publish(total);
        }
        Ok(())
    }

    /// Writes what fits without waiting: `None` when the ring is full; `BrokenPipe` once the
    /// reader is gone.
    #[cfg(feature = "tokio")]
    pub(super) fn try_write_now(&mut self, data: &[u8]) -> io::Result<Option<usize>> {
        if self.reader_closed() {
            return Err(self.broken());
        }
        let free = self.free()?;
        if free == 0 && !data.is_empty() {
            return Ok(None);
        }
        let n = free.min(data.len());
        if n > 0 {
            self.end.ring.copy_in(self.end.pos, &data[..n])?;
            self.publish(n);
        }
        Ok(Some(n))
    }

    /// Marks the write end closed for the reader (its end of data after what is in the ring),
    /// as dropping it does.
    pub(super) fn close(&mut self) {
        self.end
            .ring
            .word(OFF_WRITER_CLOSED)
            .store(1, Ordering::SeqCst);
        self.end.wake_reader();
    }

    /// Waits until the ring has room, and returns how much; `BrokenPipe` once the reader is
    /// gone.
    pub(super) fn wait_writable(&mut self) -> io::Result<usize> {
        loop {
            if self.reader_closed() {
                return Err(self.broken());
            }
            let free = self.fresh_free()?;
            if free > 0 {
                return Ok(free);
            }
            if let Woken::PeerGone = self.end.wait_for_reader()? {
                return Err(self.broken());
            }
        }
    }

    pub(super) fn reader_closed(&self) -> bool {
        self.end
            .ring
            .word(OFF_READER_CLOSED)
            .load(Ordering::Acquire)
            != 0
    }

    /// Room in the ring now, from the reader's position (checked).
    pub(super) fn free(&self) -> io::Result<usize> {
        let read = self.end.ring.position(OFF_READ_POS).load(Ordering::Acquire);
        let fill = self
            .end
            .ring
            .checked_fill(self.end.pos.wrapping_sub(read))?;
        Ok((self.end.ring.capacity - fill) as usize)
    }

    /// Room in the ring from the reader's position as loaded last (a lower bound: the reader
    /// only moves on). No shared memory is touched.
    fn known_free(&self) -> usize {
        let fill = self.end.pos.wrapping_sub(self.end.peer_pos);
        self.end.ring.capacity.saturating_sub(fill) as usize
    }

    /// [`free`](Self::free), keeping the reader's position it loaded for
    /// [`known_free`](Self::known_free).
    fn fresh_free(&mut self) -> io::Result<usize> {
        let read = self.end.ring.position(OFF_READ_POS).load(Ordering::Acquire);
        let fill = self
            .end
            .ring
            .checked_fill(self.end.pos.wrapping_sub(read))?;
        self.end.peer_pos = read;
        Ok((self.end.ring.capacity - fill) as usize)
    }

    /// Publishes `n` more bytes to the reader.
    pub(super) fn publish(&mut self, n: usize) {
        self.end.pos = self.end.pos.wrapping_add(n as u64);
        self.end
            .ring
            .position(OFF_WRITE_POS)
            // Release: the fence in `wake` orders this store before the look at the waiting
            // word (a waiter stores its word, then loads this position, both `SeqCst`).
            .store(self.end.pos, Ordering::Release);
        self.end.wake_reader();
    }
}

impl Read for ShmReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_some(buf)
    }
}

impl Write for ShmWriter {
    /// Returns once all of `buf` is in the ring (a partial count only when the reader went away
    /// after part of it was accepted; the next write then fails with `BrokenPipe`).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all_or_some(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ShmReader {
    fn drop(&mut self) {
        if self.end.lifeline.is_some() {
            self.end
                .ring
                .word(OFF_READER_CLOSED)
                .store(1, Ordering::SeqCst);
            self.end.wake_writer();
        }
    }
}

impl Drop for ShmWriter {
    fn drop(&mut self) {
        if self.end.lifeline.is_some() {
            self.close();
        }
    }
}

impl From<ShmReader> for OwnedFd {
    /// The end's handle, to hand to another process, which adopts it with `TryFrom<OwnedFd>`.
    /// The end is not closed: whoever adopts the handle carries on from where this one stopped.
    fn from(mut end: ShmReader) -> OwnedFd {
        end.end.lifeline.take().expect("an end holds its lifeline")
    }
}

impl From<ShmWriter> for OwnedFd {
    /// The end's handle, to hand to another process, which adopts it with `TryFrom<OwnedFd>`.
    fn from(mut end: ShmWriter) -> OwnedFd {
        end.end.lifeline.take().expect("an end holds its lifeline")
    }
}

impl TryFrom<OwnedFd> for ShmReader {
    type Error = io::Error;

    /// Adopts a reader handle made with `OwnedFd::from(reader)` in this or another process.
    fn try_from(handle: OwnedFd) -> io::Result<ShmReader> {
        Ok(ShmReader {
            end: End::adopt(handle, OFF_READ_POS)?,
        })
    }
}

impl TryFrom<OwnedFd> for ShmWriter {
    type Error = io::Error;

    /// Adopts a writer handle made with `OwnedFd::from(writer)` in this or another process.
    fn try_from(handle: OwnedFd) -> io::Result<ShmWriter> {
        Ok(ShmWriter {
            end: End::adopt(handle, OFF_WRITE_POS)?,
        })
    }
}

impl AsFd for ShmReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.lifeline()
    }
}

impl AsFd for ShmWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.lifeline()
    }
}

impl AsRawFd for ShmReader {
    fn as_raw_fd(&self) -> RawFd {
        self.end.lifeline().as_raw_fd()
    }
}

impl AsRawFd for ShmWriter {
    fn as_raw_fd(&self) -> RawFd {
        self.end.lifeline().as_raw_fd()
    }
}

impl fmt::Debug for ShmReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmReader")
            .field("capacity", &self.end.ring.capacity)
            .field("position", &self.end.pos)
            .finish()
    }
}

impl fmt::Debug for ShmWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmWriter")
            .field("capacity", &self.end.ring.capacity)
            .field("position", &self.end.pos)
            .finish()
    }
}
