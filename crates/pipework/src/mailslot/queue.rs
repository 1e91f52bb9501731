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
/// A direct datagram: `[sequence: u64 LE][message]`.
pub(super) const DIRECT_HEADER: usize = 8;

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
}

/// A run of records `[len u32 LE][seq u64 LE][message]`, all checked, read from `pos` on.
struct Batch {
    bytes: Vec<u8>,
    pos: usize,
}

impl Queue {
    /// Checks `bytes` record by record and queues the whole records: a record longer than `max`
    /// (when not 0) is dropped, and a tail that is not a whole record is left out.
    pub(super) fn push_batch(&mut self, mut bytes: Vec<u8>, max: usize) {
        let mut pos = 0;
        let mut count = 0;
        let mut oversized = false;
        while let Some(size) = record_size(&bytes[pos..]) {
            if max != 0 && size - RECORD_HEADER > max {
                oversized = true;
            } else {
                count += 1;
            }
            pos += size;
        }
        bytes.truncate(pos);
        if oversized {
            // Only a writer that ignored the slot's maximum sends these: drop them, keep the rest.
            let mut kept = Vec::with_capacity(bytes.len());
            let mut at = 0;
            while let Some(size) = record_size(&bytes[at..]) {
                if size - RECORD_HEADER <= max {
                    kept.extend_from_slice(&bytes[at..at + size]);
                }
                at += size;
            }
            bytes = kept;
        }
        if count > 0 {
            self.batches.push_back(Batch { bytes, pos: 0 });
            self.count += count;
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

    pub(super) fn front_size(&self) -> Option<usize> {
        let batch = self.batches.front()?;
        let header = batch.bytes.get(batch.pos..batch.pos + 4)?;
        Some(u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize)
    }

    /// Copies the front message into `buf` (which must hold it) and removes it.
    pub(super) fn pop_into(&mut self, buf: &mut [u8]) -> usize {
        let size = self.front_size().expect("a message is queued");
        let batch = self.batches.front_mut().expect("a batch");
        let start = batch.pos + RECORD_HEADER;
        buf[..size].copy_from_slice(&batch.bytes[start..start + size]);
        batch.pos = start + size;
        if batch.pos >= batch.bytes.len() {
            self.batches.pop_front();
        }
        self.count -= 1;
        size
    }
}
