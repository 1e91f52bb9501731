//! The ring's shared header: where each word lives in the first page of the mapping, and the
//! checks a side makes before it trusts a header another process wrote.
//!
//! | offset | word | written by |
//! |---|---|---|
//! | 0 | magic `PWSHMPIP` (u64) | the creator, last |
//! | 8 | version (u32) | the creator |
//! | 16 | capacity in bytes (u64, a power of two) | the creator |
//! | 64 | write position: total bytes written (u64) | the writer |
//! | 128 | read position: total bytes read (u64) | the reader |
//! | 192 | the reader's waiting word (u32 futex) | both |
//! | 256 | the writer's waiting word (u32 futex) | both |
//! | 264 | the read position at which the writer, asleep on a full ring, wants waking (u64; 0: at once) | the writer |
//! | 320 / 324 | writer closed / reader closed flags (u32) | the closing side |
//! | 384 / 448 | the reader's / writer's CPU hint (u32) | each side |
//! | 512 | named pipes: the reader takes data from the ring (u32, 0 or 1) | the reader |
//! | 640 | named pipes: handles the writer sent on the socket after its switch (u64) | the writer |
//! | 576 | named pipes: the writer's switch point, data bytes it sent on the socket plus one (u64, 0: not switched) | the writer |
//!
//! The positions and waiting words sit on cache lines of their own; the data, `capacity` bytes,
//! starts at [`HEADER`].

use std::io::{self, ErrorKind};
use std::sync::atomic::Ordering;

use crate::mapping::View;
use crate::sys::error::error;

pub(super) const MAGIC: u64 = u64::from_le_bytes(*b"PWSHMPIP");
pub(super) const VERSION: u32 = 2;
pub(super) const HEADER: usize = 4096;
pub(super) const OFF_MAGIC: usize = 0;
pub(super) const OFF_VERSION: usize = 8;
pub(super) const OFF_CAPACITY: usize = 16;
pub(super) const OFF_WRITE_POS: usize = 64;
pub(super) const OFF_READ_POS: usize = 128;
pub(super) const OFF_READER_WAITING: usize = 192;
pub(super) const OFF_WRITER_WAITING: usize = 256;
pub(super) const OFF_WRITER_CLOSED: usize = 320;
pub(super) const OFF_READER_CLOSED: usize = 324;
/// The CPU each side last waited on, plus one (0: not known yet). A hint for the other side's
/// spin, nothing more: any value a peer leaves there is harmless.
pub(super) const OFF_READER_CPU: usize = 384;
pub(super) const OFF_WRITER_CPU: usize = 448;
/// Named pipes (see `named_pipe::ring`): the reader is ready to take data from the ring.
pub(super) const OFF_NP_READER_READY: usize = 512;
/// Named pipes: where the writer's data left the socket for the ring (bytes sent on the socket
/// plus one; 0 while it still writes on the socket).
pub(super) const OFF_NP_SWITCH_AT: usize = 576;
/// Named pipes: how many handles the writer sent on the socket after its switch.
pub(super) const OFF_NP_HANDLES_SENT: usize = 640;
/// The read position at which a writer that sleeps on a full ring wants waking (half the ring
/// free), written before it marks itself sleeping; the reader wakes it no sooner. A hint: a
/// value a peer leaves there only delays that peer's own wake-up (it still wakes every sleep
/// slice), and an older writer that never writes it is woken at once. On the waiting word's
/// cache line: the reader that finds the writer asleep reads both in one go.
pub(super) const OFF_WRITER_WAKE_AT: usize = 264;

pub(super) const MIN_CAPACITY: usize = 4096;
pub(super) const MAX_CAPACITY: usize = 1 << 30;
pub(super) const DEFAULT_CAPACITY: usize = 1 << 20;

/// Writes a fresh header for a ring of `capacity` bytes into `view` (the magic last, so a side
/// that sees it sees the rest).
pub(super) fn write_header(view: &View, capacity: usize) -> io::Result<()> {
    view.atomic_u32(OFF_VERSION)?
        .store(VERSION, Ordering::Relaxed);
    view.atomic_u64(OFF_CAPACITY)?
        .store(capacity as u64, Ordering::Relaxed);
    view.atomic_u64(OFF_MAGIC)?.store(MAGIC, Ordering::Release);
    Ok(())
}

/// Checks the header that another process may have written, and returns the ring's capacity:
/// `InvalidData` (about `what`) unless the magic, version and capacity fit the mapping.
pub(super) fn checked_capacity(view: &View, what: &str) -> io::Result<u64> {
    let bad = |why: &str| {
        error(
            ErrorKind::InvalidData,
            what,
            format_args!("the ring's header is corrupt ({why})"),
        )
    };
    if view.len() < HEADER + MIN_CAPACITY || view.len() > HEADER + MAX_CAPACITY {
        return Err(bad("the mapping has no ring's size"));
    }
    if view.atomic_u64(OFF_MAGIC)?.load(Ordering::Acquire) != MAGIC {
        return Err(bad("bad magic"));
    }
    if view.atomic_u32(OFF_VERSION)?.load(Ordering::Relaxed) != VERSION {
        return Err(bad("unknown version"));
    }
    let capacity = view.atomic_u64(OFF_CAPACITY)?.load(Ordering::Relaxed);
    if !capacity.is_power_of_two() || capacity != (view.len() - HEADER) as u64 {
        return Err(bad("capacity does not match the mapping"));
    }
    Ok(capacity)
}
