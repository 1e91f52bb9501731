//! `shared_memory` + `raw_sync`, as a typical user writes it: one shared mapping holding a
//! single-slot mailbox each way, each slot guarded by two auto-reset `raw_sync` events ("full"
//! and "empty", process-shared mutex and condition variable). The sender waits for "empty",
//! copies its data into the slot and sets "full"; the receiver waits for "full", copies the data
//! out and sets "empty". The parent creates the mapping and passes its name to the child.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use pipework_cli::workload::{Link, Session, Workload, CHUNK};
use raw_sync::events::{Event, EventImpl, EventInit, EventState};
use raw_sync::Timeout;
use shared_memory::{Shmem, ShmemConf};

use super::{missing, other, spawn_child, Implementation};

/// `shared_memory` + `raw_sync`.
pub const IMPLEMENTATION: Implementation = Implementation {
    id: "shared-memory",
    label: "shared_memory + raw_sync",
    pipework: false,
    how: "a `shared_memory` mapping with a single 64 KiB slot each way, handed over with two \
          auto-reset `raw_sync` events per slot (process-shared pthread mutex + condvar)",
    start,
    child,
};

/// Bytes before a slot's data: the two events and the length.
const HEADER: usize = 1024;
/// Offset of the "empty" event in a slot (the "full" event is at 0).
const EMPTY_AT: usize = 384;
/// Offset of the length of the data in a slot.
const LEN_AT: usize = 768;
/// Bytes of one slot.
const SLOT: usize = HEADER + CHUNK;
/// The length that means the end of data.
const END: u64 = u64::MAX;

/// One direction's slot in the mapping.
struct Slot {
    full: Box<dyn EventImpl>,
    empty: Box<dyn EventImpl>,
    len: *const AtomicU64,
    data: *mut u8,
}

impl Slot {
    /// The slot at `base`, initialised (`create`) or as the other process made it.
    ///
    /// # Safety
    /// `base` points to [`SLOT`] bytes of a shared mapping that stays mapped as long as the slot
    /// lives, aligned to 8 bytes, and initialised by `create` in exactly one process.
    unsafe fn at(base: *mut u8, create: bool) -> io::Result<Slot> {
        // The events must fit below the next field.
        let room =
            Event::size_of(Some(base)).max(Event::size_of(Some(base.wrapping_add(EMPTY_AT))));
        if room > EMPTY_AT || room > LEN_AT - EMPTY_AT {
            return Err(io::Error::other("raw_sync event larger than its room"));
        }
        let event = |at: *mut u8| {
            let made = if create {
                // SAFETY: `at` is inside the slot, with room for an event (checked above); the
                // mapping outlives the event (the caller's promise).
                unsafe { Event::new(at, true) }
            } else {
                // SAFETY: as above; the creating process initialised this event.
                unsafe { Event::from_existing(at) }
            };
            made.map(|(event, _)| event)
                .map_err(|e| other("raw_sync event", e))
        };
        // SAFETY: both offsets are inside the slot (the caller's promise on its size).
        let (full_at, empty_at, len_at, data_at) =
            unsafe { (base, base.add(EMPTY_AT), base.add(LEN_AT), base.add(HEADER)) };
        let slot = Slot {
            full: event(full_at)?,
            empty: event(empty_at)?,
            len: len_at as *const AtomicU64,
            data: data_at,
        };
        if create {
            // The slot starts free.
            slot.empty
                .set(EventState::Signaled)
                .map_err(|e| other("raw_sync event", e))?;
        }
        Ok(slot)
    }

    fn len(&self) -> &AtomicU64 {
        // SAFETY: `len` is 8-aligned inside the mapping (base is 8-aligned, LEN_AT a multiple of
        // 8), which outlives the slot, and is only ever accessed atomically.
        unsafe { &*self.len }
    }

    fn put(&self, data: &[u8], len: u64) -> io::Result<()> {
        self.empty
            .wait(Timeout::Infinite)
            .map_err(|e| other("raw_sync wait", e))?;
        // SAFETY: `data` is at most CHUNK bytes (checked by the caller), the slot's data area holds
        // CHUNK bytes, and the receiver does not touch it until "full" is set below.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.data, data.len()) };
        self.len().store(len, Ordering::Release);
        self.full
            .set(EventState::Signaled)
            .map_err(|e| other("raw_sync set", e))
    }

    fn take(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        self.full
            .wait(Timeout::Infinite)
            .map_err(|e| other("raw_sync wait", e))?;
        let len = self.len().load(Ordering::Acquire);
        let got = if len == END {
            None
        } else {
            // Never trust the other process's length.
            let n = usize::try_from(len)
                .ok()
                .filter(|&n| n <= CHUNK.min(buf.len()))
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad slot length"))?;
            // SAFETY: n <= CHUNK bytes of the slot's data area, which the sender does not touch
            // until "empty" is set below; `buf` holds at least n bytes.
            unsafe { std::ptr::copy_nonoverlapping(self.data, buf.as_mut_ptr(), n) };
            Some(n)
        };
        self.empty
            .set(EventState::Signaled)
            .map_err(|e| other("raw_sync set", e))?;
        Ok(got)
    }
}

/// Both slots and the mapping they live in (dropped after them: fields drop in order).
struct Mailboxes {
    outgoing: Slot,
    incoming: Slot,
    buf: Vec<u8>,
    _mapping: Shmem,
}

impl Mailboxes {
    fn new(mapping: Shmem, parent: bool) -> io::Result<Mailboxes> {
        if mapping.len() < 2 * SLOT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "shared mapping too small",
            ));
        }
        let base = mapping.as_ptr();
        // SAFETY: the mapping holds two slots (checked above), is page-aligned, stays mapped
        // as long as `Mailboxes` (it is its last field), and the parent alone initialises it.
        let (to_child, to_parent) =
            unsafe { (Slot::at(base, parent)?, Slot::at(base.add(SLOT), parent)?) };
        let (outgoing, incoming) = if parent {
            (to_child, to_parent)
        } else {
            (to_parent, to_child)
        };
        Ok(Mailboxes {
            outgoing,
            incoming,
            buf: vec![0; CHUNK],
            _mapping: mapping,
        })
    }
}

impl Link for Mailboxes {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        for piece in data.chunks(CHUNK) {
            self.outgoing.put(piece, piece.len() as u64)?;
        }
        Ok(())
    }

    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        match self.incoming.take(&mut self.buf)? {
            Some(n) => {
                f(&self.buf[..n]);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn close(&mut self) -> io::Result<()> {
        self.outgoing.put(&[], END)
    }
}

fn start(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let mapping = ShmemConf::new()
        .size(2 * SLOT)
        .create()
        .map_err(|e| other("shared_memory create", e))?;
    let id = mapping.get_os_id().to_owned();
    let link = Mailboxes::new(mapping, true)?;
    let child = spawn_child(me.id, workload, &[id], vec![])?;
    Ok(Session::new(me.label, Box::new(link), child))
}

fn child(args: &[String]) -> io::Result<Box<dyn Link>> {
    let id = args.first().ok_or_else(|| missing("shared memory name"))?;
    let mapping = ShmemConf::new()
        .os_id(id)
        .open()
        .map_err(|e| other("shared_memory open", e))?;
    Ok(Box::new(Mailboxes::new(mapping, false)?))
}
