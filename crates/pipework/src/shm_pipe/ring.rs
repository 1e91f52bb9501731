//! The ring: one side's view of the data behind the header, bytes copied in and out at
//! logical positions (wrapping around the end), positions a peer wrote checked before use, and
//! the ring's bytes lent in place to a trusted caller.
//!
//! Positions are totals (bytes written, bytes read) that only grow; a position's place in the
//! data is the position modulo the capacity, a power of two. A side keeps its own position to
//! itself and reads only the peer's from shared memory, and a count computed from the peer's
//! position is checked against the capacity this side validated when it attached.

use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;

use super::ends::End;
use super::layout::{self, HEADER};
use super::{ShmReader, ShmWriter};
use crate::mapping::{Access, View};
use crate::sys::error::error;

/// One side's view of the ring, with the capacity it validated when it attached.
pub(super) struct Ring {
    pub(super) view: View,
    pub(super) capacity: u64,
    /// The pipe, as errors name it (`shared-memory pipe` or `shared-memory pipe NAME`).
    pub(super) what: Arc<str>,
}

impl Ring {
    /// Attaches to the ring in `view`, checking its header first; `what` names the pipe.
    ///
    /// Every ring is a memfd sealed against shrinking (made so here, or checked so before it
    /// was mapped) in a view mapped for writing (checked here), at least [`HEADER`] plus the
    /// capacity long (checked with the header): after this, the header's words and the data
    /// are touched through the view's pointer directly, with no check on each access (the
    /// words a side waits and publishes on are read at every message).
    pub(super) fn validate(view: View, what: Arc<str>) -> io::Result<Ring> {
        if view.access() != Access::Write {
            return Err(error(
                ErrorKind::InvalidInput,
                &*what,
                "a ring must be mapped for writing",
            ));
        }
        let capacity = layout::checked_capacity(&view, &what)?;
        Ok(Ring {
            view,
            capacity,
            what,
        })
    }

    /// The header's 32-bit word at `offset` (a constant of [`layout`]).
    #[inline]
    pub(super) fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= HEADER);
        // SAFETY: `offset` is 4-aligned and inside the header (asserted), which lies inside the
        // page-aligned view (at least `HEADER` + the capacity long, checked at attach); the view
        // is mapped for writing (checked at attach) and stays mapped while `self` is borrowed;
        // the memfd is sealed against shrinking, so the page cannot vanish under it; atomics
        // tolerate the peer's concurrent access.
        unsafe { AtomicU32::from_ptr(self.view.as_ptr().add(offset).cast()) }
    }

    /// The header's 64-bit word at `offset` (a constant of [`layout`]).
    #[inline]
    pub(super) fn position(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= HEADER);
        // SAFETY: as in `word`, with 8-byte alignment (asserted; the view is page-aligned).
        unsafe { AtomicU64::from_ptr(self.view.as_ptr().add(offset).cast()) }
    }

    /// Copies ring bytes from logical position `pos` into `buf` (wrapping around the end).
    #[inline]
    pub(super) fn copy_out(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        let (start, first) = self.spans(pos, buf.len())?;
        let (a, b) = buf.split_at_mut(first);
        // SAFETY: `start + first` and `buf.len() - first` never pass the capacity (`spans`), so
        // both source ranges lie in the data, inside the view (`HEADER` + the capacity, checked
        // at attach), mapped while `self` is borrowed, on a memfd sealed against shrinking;
        // `buf` is this process's own memory and cannot overlap the mapping. Bytes the peer
        // changes meanwhile are read torn: plain bytes, any value is valid.
        unsafe {
            let data = self.view.as_ptr().add(HEADER);
            std::ptr::copy_nonoverlapping(data.add(start), a.as_mut_ptr(), a.len());
            std::ptr::copy_nonoverlapping(data, b.as_mut_ptr(), b.len());
        }
        Ok(())
    }

    /// Copies `data` into the ring at logical position `pos` (wrapping around the end).
    #[inline]
    pub(super) fn copy_in(&self, pos: u64, data: &[u8]) -> io::Result<()> {
        let (start, first) = self.spans(pos, data.len())?;
        let (a, b) = data.split_at(first);
        // SAFETY: as in `copy_out`; the view is mapped for writing (checked at attach). The
        // bytes written are the ring's free room: no Rust reference covers them (a reader lends
        // published bytes only, and a writer's in-place room borrows that writer mutably, so it
        // is not alive during one of its copies).
        unsafe {
            let ring = self.view.as_ptr().add(HEADER);
            std::ptr::copy_nonoverlapping(a.as_ptr(), ring.add(start), a.len());
            std::ptr::copy_nonoverlapping(b.as_ptr(), ring, b.len());
        }
        Ok(())
    }

    #[inline]
    fn spans(&self, pos: u64, len: usize) -> io::Result<(usize, usize)> {
        spans(self.capacity, pos, len).ok_or_else(|| {
            error(
                ErrorKind::InvalidInput,
                &*self.what,
                format_args!("{len} bytes do not fit in a {}-byte ring", self.capacity),
            )
        })
    }

    /// Checks a count of bytes in the ring computed from a position the peer wrote.
    pub(super) fn checked_fill(&self, fill: u64) -> io::Result<u64> {
        if fill > self.capacity {
            return Err(error(
                ErrorKind::InvalidData,
                &*self.what,
                format_args!(
                    "the peer's position is corrupt ({fill} bytes in a {}-byte ring)",
                    self.capacity
                ),
            ));
        }
        Ok(fill)
    }
}

/// Where `len` bytes at logical position `pos` lie in a ring of `capacity` bytes (a power of
/// two): the offset of the first byte in the data and how many bytes lie before the ring's end
/// (the rest, `len - first`, continue at the data's start). `None` when `len` passes the
/// capacity, which no count checked against the capacity can.
pub(super) fn spans(capacity: u64, pos: u64, len: usize) -> Option<(usize, usize)> {
    if !capacity.is_power_of_two() || len as u64 > capacity {
        return None;
    }
    let start = (pos & (capacity - 1)) as usize;
    Some((start, len.min(capacity as usize - start)))
}

impl End {
    /// Where this side's position falls in the ring's data, and how many of `n` bytes from
    /// there lie before the ring's end (what one slice can lend).
    pub(super) fn contiguous(&self, n: usize) -> (usize, usize) {
        let start = (self.pos & (self.ring.capacity - 1)) as usize;
        (start, n.min(self.ring.capacity as usize - start))
    }
}

impl ShmReader {
    /// Waits like [`Read::read`](std::io::Read::read) until there are bytes to read, then lends
    /// them where they lie in the ring instead of copying them out: the zero-copy read. The slice
    /// holds what a read could take now, up to the ring's end (the rest, after a wrap, comes with
    /// the next call); it is empty once the writer has closed and everything has been read. Nothing
    /// is consumed until [`ShmReader::consume`] says how much was used; until then the writer
    /// cannot reuse those bytes.
    ///
    /// ```
    /// use std::io::Write;
    ///
    /// let (mut reader, mut writer) = pipework::shm_pipe::create()?;
    /// writer.write_all(b"in place")?;
    /// drop(writer);
    /// let mut total = 0;
    /// loop {
    ///     // SAFETY: the writer is this program's own ShmWriter, which never touches bytes it
    ///     // has published.
    ///     let data = unsafe { reader.fill_buf_in_place()? };
    ///     if data.is_empty() {
    ///         break;
    ///     }
    ///     assert_eq!(data, b"in place");
    ///     let n = data.len();
    ///     total += n;
    ///     reader.consume(n);
    /// }
    /// assert_eq!(total, 8);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Safety
    /// The slice is shared memory that the writing process can write, and a `&[u8]` promises Rust
    /// that nothing changes it while it is borrowed. A [`ShmWriter`] never writes bytes it has
    /// published until the reader consumes them, so with a pipework writer (in any process) at the
    /// other end the promise holds. Call this only when the process holding the write end is
    /// trusted to be such a writer; when it might be hostile or buggy, use
    /// [`Read::read`](std::io::Read::read), which copies the bytes out and checks nothing it reads
    /// twice. (Positions are checked either way: a lying peer cannot make the slice leave the
    /// ring.)
    pub unsafe fn fill_buf_in_place(&mut self) -> io::Result<&[u8]> {
        let available = self.wait_readable()?;
        let (start, len) = self.end.contiguous(available);
        // SAFETY: `HEADER + start + len` is within the view (`start + len` never passes the
        // capacity, and the view is `HEADER + capacity` bytes, checked when attaching); the
        // borrow of `self` keeps the view mapped; the caller vouches, per this function's
        // contract, that the writer leaves these published bytes alone until `consume`.
        Ok(unsafe {
            std::slice::from_raw_parts(self.end.ring.view.as_ptr().add(HEADER + start), len)
        })
    }

    /// Marks `n` bytes lent by [`ShmReader::fill_buf_in_place`] as read, giving their room back to
    /// the writer. `n` is capped at the bytes there are to read.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.bytes_available().unwrap_or(0));
        if n > 0 {
            self.advance(n);
        }
    }
}

impl ShmWriter {
    /// Waits like [`Write::write`](std::io::Write::write) until the ring has room, then lends that
    /// room in place, for data produced straight into the ring (read from a file or socket,
    /// serialized, computed) instead of being copied in: the zero-copy write. The slice is the free
    /// room up to the ring's end, at least one byte; what it held before is unspecified. Nothing
    /// reaches the reader until [`ShmWriter::commit`] says how many bytes were filled.
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let (mut reader, mut writer) = pipework::shm_pipe::create()?;
    /// // SAFETY: the reader is this program's own ShmReader, which never writes ring bytes.
    /// let room = unsafe { writer.reserve_in_place()? };
    /// room[..5].copy_from_slice(b"hello");
    /// writer.commit(5);
    /// drop(writer);
    /// let mut text = String::new();
    /// reader.read_to_string(&mut text)?;
    /// assert_eq!(text, "hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Safety
    /// The slice is shared memory that the reading process can write, and a `&mut [u8]` promises
    /// Rust that nothing else touches it while it is borrowed. A [`ShmReader`] never writes into
    /// the ring's data, so with a pipework reader (in any process) at the other end the promise
    /// holds. Call this only when the process holding the read end is trusted to be such a reader;
    /// otherwise use [`Write::write`](std::io::Write::write). (Positions are checked either way: a
    /// lying peer cannot make the slice leave the ring.)
    pub unsafe fn reserve_in_place(&mut self) -> io::Result<&mut [u8]> {
        let free = self.wait_writable()?;
        let (start, len) = self.end.contiguous(free);
        // SAFETY: `HEADER + start + len` is within the view (`start + len` never passes the
        // capacity, and the view is `HEADER + capacity` bytes, checked when attaching); the
        // borrow of `self` keeps the view mapped; these bytes are free room the reader has
        // handed back, and the caller vouches, per this function's contract, that the reading
        // process never writes ring data.
        Ok(unsafe {
            std::slice::from_raw_parts_mut(self.end.ring.view.as_ptr().add(HEADER + start), len)
        })
    }

    /// Publishes `n` bytes filled in the room lent by [`ShmWriter::reserve_in_place`], waking
    /// the reader. `n` is capped at the room there is; with the reader gone it is `BrokenPipe`.
    pub fn commit(&mut self, n: usize) -> io::Result<()> {
        if self.reader_closed() {
            return Err(self.broken());
        }
        let free = self.free()?;
        let (_, n) = self.end.contiguous(n.min(free));
        if n > 0 {
            self.publish(n);
        }
        Ok(())
    }
}
