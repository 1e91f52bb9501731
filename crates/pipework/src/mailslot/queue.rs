//! What the server takes in before a read: the slot's socket (its address, and the direct
//! datagram `[sequence: u64 LE][message]` a writer sends there), and the in-memory queue of
//! checked records `[length: u32 LE][sequence: u64 LE][message]` that reads take from.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::net::{bind, socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::spool::RECORD_HEADER;

/// Messages up to this size travel as one datagram on the slot's socket while its queue has
/// room; larger ones, and any that find the queue full, go through the spool.
pub(super) const DIRECT_MAX: usize = 2048;
/// A direct datagram: `[sequence: u64 LE][after: u64 LE][message]`. `after` (0: none) names the
/// writer's last spooled record when the server may not have read it yet, as
/// [`encode_after`] packs it: the server reads the spool at least that far before it queues the
/// datagram.
pub(super) const DIRECT_HEADER: usize = 16;

/// Bits of the spool offset in an `after` word; the rest hold the low bits of the spool's
/// rewind count.
const AFTER_OFFSET_BITS: u32 = 40;
const AFTER_OFFSET_MASK: u64 = (1 << AFTER_OFFSET_BITS) - 1;

/// Packs "after the record ending at `end` of the spool's round `round`" into an `after` word;
/// `None` when the offset does not fit (the writer then spools instead).
pub(super) fn encode_after(round: u64, end: u64) -> Option<u64> {
    (end != 0 && end <= AFTER_OFFSET_MASK).then_some((round << AFTER_OFFSET_BITS) | end)
}

/// The record end an `after` word names, if it names one in the spool's round `round` (a word
/// of another round names a record that a rewind has read already).
pub(super) fn decode_after(word: u64, round: u64) -> Option<u64> {
    let end = word & AFTER_OFFSET_MASK;
    (end != 0 && word >> AFTER_OFFSET_BITS == round & (u64::MAX >> AFTER_OFFSET_BITS))
        .then_some(end)
}

/// The server's socket: blocking, so that a read waiting forever sleeps in `recv` itself;
/// every other receive passes `MSG_DONTWAIT`.
pub(super) fn bind_wakeup(path: &Path) -> io::Result<OwnedFd> {
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    at_socket_path(path, |addr| Ok(bind(&fd, addr)?))?;
    Ok(fd)
}

/// Runs `f` with a socket address for `path`. A path too long for a socket address (108 bytes,
/// which a long runtime directory can exceed) is reached through `/proc/self/fd/N/` of its
/// directory, opened for the call.
pub(super) fn at_socket_path<T>(
    path: &Path,
    f: impl FnOnce(&SocketAddrUnix) -> io::Result<T>,
) -> io::Result<T> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().len() < 108 {
        return f(&SocketAddrUnix::new(path)?);
    }
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
        return f(&SocketAddrUnix::new(path)?);
    };
    let dir = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let mut short = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    short.extend_from_slice(file.as_bytes());
    f(&SocketAddrUnix::new(short)?)
}

/// Merges the whole records `[len][seq][message]` of two runs into one run ordered by sequence
/// number (stable: equal numbers keep their order). Malformed tails are left out.
pub(super) fn merge_by_sequence(first: &[u8], second: &[u8]) -> Vec<u8> {
    let mut records: Vec<(u64, &[u8])> = Vec::new();
    for run in [first, second] {
        let mut pos = 0;
        while let Some(size) = record_size(&run[pos..]) {
            let record = &run[pos..pos + size];
            let seq = u64::from_le_bytes(record[4..12].try_into().expect("8 bytes"));
            records.push((seq, record));
            pos += size;
        }
    }
    records.sort_by_key(|&(seq, _)| seq);
    let mut merged = Vec::with_capacity(first.len() + second.len());
    for (_, record) in records {
        merged.extend_from_slice(record);
    }
    merged
}

/// The message length a record header at the start of `bytes` states.
pub(super) fn record_len(bytes: &[u8]) -> Option<usize> {
    let len = bytes.get(..4)?;
    Some(u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize)
}

/// The size of the whole record at the start of `bytes`, if one is there whole.
pub(super) fn record_size(bytes: &[u8]) -> Option<usize> {
    let len = record_len(bytes)?;
    let size = RECORD_HEADER.checked_add(len)?;
    (bytes.len() >= size).then_some(size)
}

/// Messages taken out of the spool, waiting for the server's reads.
#[derive(Default)]
pub(super) struct Queue {
    batches: VecDeque<Batch>,
    pub(super) count: usize,
    /// Bytes of the front message already read (a message read in parts: `MoreData`).
    front_read: usize,
    /// Buffers of batches read to their end, kept for the next batches: a reader taking one
    /// datagram at a time allocates nothing, and a backlog's batches reuse pages already
    /// faulted in instead of new ones from the allocator.
    spare: Vec<Vec<u8>>,
}

/// How many read batches' buffers a queue keeps for reuse.
const SPARE_BUFFERS: usize = 4;
/// A buffer larger than this (a large spool read) goes back to the allocator.
const SPARE_CAPACITY: usize = 256 * 1024;

/// A run of records `[len u32 LE][seq u64 LE][message]`, all checked, read from `pos` on.
struct Batch {
    bytes: Vec<u8>,
    pos: usize,
}

/// What [`scan_records`] found at the start of a run of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Scan {
    /// Bytes the whole records span (a tail that is not a whole record is not part of it).
    pub(super) span: usize,
    /// Whole records the slot's maximum admits.
    pub(super) count: usize,
    /// Whether some whole record exceeds the maximum.
    pub(super) oversized: bool,
}

/// Walks the records `[len][seq][message]` at the start of `bytes` (I/O-free; every length is
/// checked against what is there): how far the whole ones reach, and how many `max` (0: any)
/// admits.
pub(super) fn scan_records(bytes: &[u8], max: usize) -> Scan {
    let mut scan = Scan {
        span: 0,
        count: 0,
        oversized: false,
    };
    while let Some(size) = record_size(&bytes[scan.span..]) {
        if max != 0 && size - RECORD_HEADER > max {
            scan.oversized = true;
        } else {
            scan.count += 1;
        }
        scan.span += size;
    }
    scan
}

/// The whole records of `bytes` that `max` admits, in order (a copy without the others).
pub(super) fn admitted_records(bytes: &[u8], max: usize) -> Vec<u8> {
    let mut kept = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(size) = record_size(&bytes[at..]) {
        if max == 0 || size - RECORD_HEADER <= max {
            kept.extend_from_slice(&bytes[at..at + size]);
        }
        at += size;
    }
    kept
}

impl Queue {
    /// An empty buffer to take the next batch's records in, one used before when there is one.
    pub(super) fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Keeps `bytes`' buffer for a later batch (see [`Queue::buffer`]).
    pub(super) fn recycle(&mut self, mut bytes: Vec<u8>) {
        if bytes.capacity() != 0
            && bytes.capacity() <= SPARE_CAPACITY
            && self.spare.len() < SPARE_BUFFERS
        {
            bytes.clear();
            self.spare.push(bytes);
        }
    }

    /// Checks `bytes` record by record and queues the whole records: a record longer than `max`
    /// (when not 0) is dropped, and a tail that is not a whole record is left out.
    pub(super) fn push_batch(&mut self, mut bytes: Vec<u8>, max: usize) {
        let scan = scan_records(&bytes, max);
        bytes.truncate(scan.span);
        if scan.oversized {
            // Only a writer that ignored the slot's maximum sends these: drop them, keep the rest.
            bytes = admitted_records(&bytes, max);
        }
        if scan.count > 0 {
            self.batches.push_back(Batch { bytes, pos: 0 });
            self.count += scan.count;
        } else {
            self.recycle(bytes);
        }
    }

    /// Queues one message that came whole from elsewhere (the network).
    pub(super) fn push_message(&mut self, message: &[u8]) {
        let mut bytes = Vec::with_capacity(RECORD_HEADER + message.len());
        bytes.extend_from_slice(&(message.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(message);
        self.batches.push_back(Batch { bytes, pos: 0 });
        self.count += 1;
    }

    /// The size of what is left of the front message.
    pub(super) fn front_size(&self) -> Option<usize> {
        let batch = self.batches.front()?;
        let size = record_len(batch.bytes.get(batch.pos..)?)?;
        Some(size - self.front_read)
    }

    /// Copies (the rest of) the front message into `buf`, as much as fits; returns the bytes
    /// copied and those of the message still left. A message read to its end is removed.
    pub(super) fn read_front(&mut self, buf: &mut [u8]) -> Option<(usize, usize)> {
        let left = self.front_size()?;
        let batch = self.batches.front_mut()?;
        let start = batch.pos + RECORD_HEADER + self.front_read;
        let n = left.min(buf.len());
        buf[..n].copy_from_slice(&batch.bytes[start..start + n]);
        if n < left {
            self.front_read += n;
            return Some((n, left - n));
        }
        batch.pos = start + n;
        self.front_read = 0;
        if batch.pos >= batch.bytes.len() {
            if let Some(done) = self.batches.pop_front() {
                self.recycle(done.bytes);
            }
        }
        self.count -= 1;
        Some((n, 0))
    }
}
