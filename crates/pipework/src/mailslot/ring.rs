//! Local writers' rings: a pipework writer on this machine puts its messages in a ring of its
//! own in the slot's shared memory (the sealed memfd of `spool.rs`), and the server copies
//! them out in its reads: no system call per message on either side.
//!
//! The shared state holds [`RINGS`] rings after its first page. Ring `i` is claimed by a
//! writer holding an open-file-description lock on byte [`LOCK_BYTE`]` + i` of the spool file
//! (the kernel drops it when the writer's last descriptor of that open file closes, its death
//! included). A ring has one producer, the claiming writer, and one consumer, the server:
//! * its written position (bytes ever written), on a cache line of its own, moved by the
//!   writer after a record is whole (`Release`); a writer that dies mid-record leaves nothing
//!   the server can see, and the next writer to claim the ring writes from that position on,
//!   after whatever the dead one committed (the server reads those first);
//! * its read position, on another line, moved by the server only (it keeps its own copy and
//!   never reads it back), which the writer reads to know its room.
//!
//! Records are the spool's, `[length: u32 LE][sequence: u64 LE][message]`, wrapping around the
//! ring's end, so the server appends a ring's bytes to a round's records as they are and checks
//! them with the same walk. Positions and lengths another process may have written are checked
//! before use: a written position more than a ring ahead of the read one, or a record reaching
//! past the written position, is `InvalidData`, after which the server skips what that ring
//! holds. Every access goes through the shared region's bounds-checked copies and atomics.

use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicU64, Ordering};

use super::spool::{Shared, RECORD_HEADER};

/// Rings in a slot's shared state (writers beyond these use the socket).
pub(crate) const RINGS: usize = 16;
/// Bytes of each ring's data (a power of two).
pub(crate) const CAPACITY: u64 = 64 * 1024;
/// Where ring 0's data starts in the shared state (after the words' page).
pub(crate) const DATA_AT: usize = 4096;
/// Where ring 0's positions lie in the words' page; each ring's take [`POSITIONS`] bytes.
const POSITIONS_AT: usize = 256;
const POSITIONS: usize = 128;
/// The read position lies this far after the written one (its own cache line).
const READ_AFTER: usize = 64;
/// Spool byte whose lock claims ring 0 (ring `i`: this plus `i`).
pub(crate) const LOCK_BYTE: u64 = 16;
/// Messages up to this size go through a writer's ring; larger ones through the spool (as
/// for the socket).
pub(crate) const MESSAGE_MAX: usize = super::queue::DIRECT_MAX;

fn invalid_data(what: &str) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what.to_string())
}

/// Ring `index`'s written position.
fn written(shared: &Shared, index: usize) -> io::Result<&AtomicU64> {
    shared.region().atomic_u64(POSITIONS_AT + index * POSITIONS)
}

/// Ring `index`'s read position.
fn read(shared: &Shared, index: usize) -> io::Result<&AtomicU64> {
    shared
        .region()
        .atomic_u64(POSITIONS_AT + index * POSITIONS + READ_AFTER)
}

/// Copies `data` into ring `index` at logical position `pos`, wrapping around its end.
fn copy_in(shared: &Shared, index: usize, pos: u64, data: &[u8]) -> io::Result<()> {
    let (start, first) = spans(pos, data.len());
    let base = DATA_AT + index * CAPACITY as usize;
    let region = shared.region();
    region.write_at(base + start, &data[..first])?;
    region.write_at(base, &data[first..])
}

/// Copies ring `index`'s bytes from logical position `pos` into `buf`, wrapping around its end.
fn copy_out(shared: &Shared, index: usize, pos: u64, buf: &mut [u8]) -> io::Result<()> {
    let (start, first) = spans(pos, buf.len());
    let base = DATA_AT + index * CAPACITY as usize;
    let region = shared.region();
    let (a, b) = buf.split_at_mut(first);
    region.read_at(base + start, a)?;
    region.read_at(base, b)
}

/// Where `len` bytes (at most [`CAPACITY`]) at `pos` lie: the offset of the first in the data,
/// and how many lie before the ring's end.
fn spans(pos: u64, len: usize) -> (usize, usize) {
    let start = (pos & (CAPACITY - 1)) as usize;
    (start, len.min(CAPACITY as usize - start))
}

/// A writer's hold on its ring: which one, and where it writes next (its own count; the shared
/// word is only ever stored from it).
pub(crate) struct WriterRing {
    pub(crate) index: usize,
    pub(crate) head: u64,
}

/// Claims a free ring of the slot for a writer whose spool descriptor is `spool_fd` (an open
/// file of its own): the first whose lock byte no other open file holds and whose positions
/// make sense. `None` when every ring is taken (the writer uses the socket).
pub(crate) fn claim(
    shared: &Shared,
    spool_fd: std::os::fd::BorrowedFd<'_>,
) -> io::Result<Option<WriterRing>> {
    for index in 0..shared.rings {
        if !crate::sys::lock::try_lock_byte(spool_fd, LOCK_BYTE + index as u64)? {
            continue;
        }
        // A ring a writer left (it closed the slot, or died): carry on after what it wrote.
        let head = written(shared, index)?.load(Ordering::Acquire);
        let tail = read(shared, index)?.load(Ordering::Acquire);
        if head.wrapping_sub(tail) > CAPACITY {
            // Spoiled by another process: leave it to the server, which skips it.
            crate::sys::lock::unlock_byte(spool_fd, LOCK_BYTE + index as u64)?;
            continue;
        }
        shared.claimed().fetch_or(1 << index, Ordering::AcqRel);
        return Ok(Some(WriterRing { index, head }));
    }
    Ok(None)
}

impl WriterRing {
    /// Puts one record in the ring if it has room: `Ok(true)` once it is in and counted,
    /// `Ok(false)` when the ring is full (nothing written). A read position that is not one of
    /// this ring's (another process wrote it) is `InvalidData`.
    pub(crate) fn put(&mut self, shared: &Shared, seq: u64, message: &[u8]) -> io::Result<bool> {
        let tail = read(shared, self.index)?.load(Ordering::Acquire);
        let used = self.head.wrapping_sub(tail);
        if used > CAPACITY {
            return Err(invalid_data(
                "the read position of this writer's ring is corrupt",
            ));
        }
        let need = (RECORD_HEADER + message.len()) as u64;
        if need > CAPACITY - used {
            return Ok(false);
        }
        let mut header = [0u8; RECORD_HEADER];
        header[..4].copy_from_slice(&(message.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&seq.to_le_bytes());
        copy_in(shared, self.index, self.head, &header)?;
        copy_in(
            shared,
            self.index,
            self.head.wrapping_add(RECORD_HEADER as u64),
            message,
        )?;
        self.head = self.head.wrapping_add(need);
        written(shared, self.index)?.store(self.head, Ordering::Release);
        // Sequentially consistent with the server's announcement of its sleep: one of the two
        // sees the other (the writer's look at the flags follows).
        shared.ring_produced().fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }
}

/// The server's side of the rings: its own copy of each read position.
#[derive(Default)]
pub(crate) struct Rings {
    tails: [u64; RINGS],
    /// The writers' ring count ([`Shared::ring_produced`]) just before the last drain: anything
    /// counted up to it was in the rings that drain read.
    pub(crate) seen: u64,
}

impl Rings {
    /// Whether a writer may have put something in a ring since the last drain.
    pub(crate) fn maybe_more(&self, shared: &Shared) -> bool {
        shared.rings != 0 && shared.ring_produced().load(Ordering::SeqCst) != self.seen
    }

    /// Appends every ring's committed records to `records` (whole records only, oldest first per
    /// ring) and gives their room back. A ring whose written position or records another
    /// process spoiled is skipped to its written position; the first such fault is returned
    /// after every ring was read.
    pub(crate) fn drain(&mut self, shared: &Shared, records: &mut Vec<u8>) -> Option<io::Error> {
        if shared.rings == 0 {
            return None;
        }
        self.seen = shared.ring_produced().load(Ordering::SeqCst);
        let claimed = shared.claimed().load(Ordering::Acquire);
        let mut fault = None;
        for index in 0..shared.rings {
            if claimed & (1 << index) == 0 {
                continue;
            }
            if let Err(e) = self.drain_one(shared, index, records) {
                fault.get_or_insert(e);
            }
        }
        fault
    }

    fn drain_one(
        &mut self,
        shared: &Shared,
        index: usize,
        records: &mut Vec<u8>,
    ) -> io::Result<()> {
        let head = written(shared, index)?.load(Ordering::Acquire);
        let tail = self.tails[index];
        let fill = head.wrapping_sub(tail);
        if fill == 0 {
            return Ok(());
        }
        let skip = |rings: &mut Rings| -> io::Result<()> {
            rings.tails[index] = head;
            read(shared, index)?.store(head, Ordering::Release);
            Ok(())
        };
        if fill > CAPACITY {
            skip(self)?;
            return Err(invalid_data(
                "a writer's ring states a written position past its room",
            ));
        }
        let at = records.len();
        records.resize(at + fill as usize, 0);
        copy_out(shared, index, tail, &mut records[at..])?;
        let whole = super::queue::scan_records(&records[at..], 0).span;
        skip(self)?;
        if whole as u64 != fill {
            records.truncate(at + whole);
            return Err(invalid_data(
                "a record in a writer's ring reaches past its written position",
            ));
        }
        Ok(())
    }
}
