//! The spool: the file in which a local mailslot's messages wait until the server drains them,
//! and the slot's shared state (the words every writer and the server update).
//!
//! The spool file holds one header page, written once by the server that creates it, then
//! records `[length: u32 LE][sequence: u64 LE][message]` from [`DATA`] up to the committed end.
//! Nothing maps the file: it is read and written with `pread`/`pwrite` only, so whoever cuts it
//! short (`truncate`) makes reads come back short, never a `SIGBUS`. Byte locks on the file
//! (open-file-description locks, released by the kernel when the holder dies):
//! * byte [`ALIVE_BYTE`]: held by the server for its whole life. A spool without it is stale.
//! * byte [`APPEND_BYTE`]: the append lock, held by a writer while it adds a record and by the
//!   server while it rewinds the spool.
//! * byte [`GC_BYTE`]: held while a stale spool is removed ([`collect_stale`]) or taken over by
//!   a new server of its name, so that neither removes what the other just put in place.
//!
//! The shared words (committed end, flags, counters, the sequence counter) live in [`Shared`]: a
//! sealed memfd the server creates (it can neither shrink nor grow, so mapping it is safe from
//! `SIGBUS` whatever another process does), which other processes of the user open through the
//! server's `/proc/<pid>/fd/<n>`, as the header tells, after checking its identity and seals.
//!
//! A writer appends its record past the committed end and only then moves the end, so a writer
//! that dies mid-append leaves nothing the server can see (the next writer overwrites it).
//! Committed records never change, so the server reads them without the lock; it takes the lock
//! only to rewind the spool to empty once it has read everything (before it sleeps, or when the
//! spool has grown past a megabyte).
//!
//! Everything read back from the file or the shared words is checked: a header that lies, a
//! committed end past the file's end, a record that does not fit are `InvalidData`. The parsers
//! ([`parse_header`], [`next_step`] and the record functions of `queue.rs`) are I/O-free.

use std::fs;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{
    fcntl_add_seals, fcntl_get_seals, fstat, ftruncate, memfd_create, open, MemfdFlags, Mode,
    OFlags, SealFlags,
};
use rustix::io::{pread, pwrite};

use crate::name::{lease, place, MailslotName as SlotName};
use crate::sys::error::error;
use crate::sys::lock;
use crate::sys::retry::retry;
use crate::sys::shm::{Protection, Region};

/// Where the records start (the header is one page).
pub(crate) const DATA: u64 = 4096;
/// Locked by the living server.
pub(crate) const ALIVE_BYTE: u64 = 0;
/// Locked while a record is appended or the records are taken out.
pub(crate) const APPEND_BYTE: u64 = 1;
/// Locked while a stale spool is removed, by the collector or by a server taking the name over.
pub(crate) const GC_BYTE: u64 = 2;

// The header page of the spool file (little-endian words).
// Version 5: the header states how many writers' rings follow the shared words.
const MAGIC: u64 = u64::from_le_bytes(*b"PWMSLOT5");
const OFF_MAGIC: usize = 0;
const OFF_MAX_SIZE: usize = 8;
const OFF_TOKEN: usize = 16;
const OFF_PID: usize = 24;
const OFF_STATE_FD: usize = 32;
const OFF_STATE_DEV: usize = 40;
const OFF_STATE_INO: usize = 48;
const OFF_RINGS: usize = 56;
const OFF_NAME_LEN: usize = 64;
const OFF_NAME: usize = 72;

// The shared state (atomic words in the sealed memfd), in three cache lines by who updates them
// on every message, so that a writer's counters and the server's do not share a line that
// would move between CPUs at each message: the first line changes rarely (a spooled record,
// a rewind, the server's sleep), the second is the writers' (a sequence number and a count per
// message), the third the server's (a count per read, a read position per round).
// With writers' rings (`ring.rs`), the words take the first page and each ring's two positions
// lie in it too (the written position on a line of its own, the read position on another), and
// the rings' data follow the page.
const STATE_LEN: usize = 192;
const S_END: usize = 0;
const S_FLAGS: usize = 8;
const S_REWINDS: usize = 16;
const S_LISTEN: usize = 24;
const S_CLAIMED: usize = 32;
const S_SEQ: usize = 64;
const S_PRODUCED: usize = 72;
const S_RING_PRODUCED: usize = 80;
const S_CONSUMED: usize = 128;
const S_READ: usize = 136;

/// A record's header: `[length: u32 LE][sequence: u64 LE]`, then the message.
pub(crate) const RECORD_HEADER: usize = 12;

/// Flag: the server closed the slot.
pub(crate) const FLAG_CLOSED: u64 = 1;
/// Flag: the server takes messages from the network (others on its port forward to it).
pub(crate) const FLAG_NETWORK: u64 = 4;
/// Flag: the server holds this machine's network listener for the key in its listen word
/// (other serving slots with that key follow it).
pub(crate) const FLAG_LISTENER: u64 = 16;
/// Flag: the server is about to sleep, or sleeps, until its socket turns readable; a writer
/// that spooled a record must then wake it.
pub(crate) const FLAG_SLEEPING: u64 = 8;
/// Flag: the server is about to sleep, or sleeps, until its socket turns readable; a writer that
/// put a message in its ring must then wake it. Set apart from [`FLAG_SLEEPING`]: a reader that
/// spins on the writers' counts before it sleeps keeps spool writers' wake-ups (rare) but not
/// ring writers' (one per message).
pub(crate) const FLAG_RING_BELL: u64 = 32;

/// A spool larger than this may not grow: a corrupt end offset is rejected, not followed.
const MAX_END: u64 = 1 << 40;
/// After draining more than this many bytes, the server gives the file's pages back.
const SHRINK_ABOVE: u64 = 1 << 20;
/// A server that keeps reading without ever finding the spool empty rewinds it once it has read
/// past this offset, so the file does not grow without end.
pub(crate) const REWIND_ABOVE: u64 = DATA + (1 << 20);
/// The most a server reads from its spool in one go (unless one record is larger): a backlog
/// is taken in this much at a time, as reads need it.
pub(crate) const DRAIN_CHUNK: u64 = 16 << 20;

/// An open spool file and what its header says. Never mapped: `pread`/`pwrite` only.
pub(crate) struct Spool {
    pub(crate) fd: OwnedFd,
    header: Header,
}

/// What the header says about the slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) max_size: u64,
    pub(crate) token: u64,
    /// The server's process, and the descriptor there of the slot's shared state.
    pub(crate) pid: u32,
    pub(crate) state_fd: u32,
    /// The shared state's identity (`st_dev`, `st_ino`), checked when it is opened.
    pub(crate) state_dev: u64,
    pub(crate) state_ino: u64,
    /// How many writers' rings follow the shared words (0: none, writers use the socket).
    pub(crate) rings: usize,
    pub(crate) name: String,
}

fn word_at(bytes: &[u8], offset: usize) -> Option<u64> {
    let word = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(word.try_into().ok()?))
}

/// Parses a spool's header page (I/O-free): every field another process could have spoiled is
/// checked; the error says which.
pub(crate) fn parse_header(page: &[u8]) -> Result<Header, &'static str> {
    if page.len() < DATA as usize {
        return Err("the spool is cut short: its header page is not whole");
    }
    let word = |offset| word_at(page, offset).ok_or("the spool's header is cut short");
    if word(OFF_MAGIC)? != MAGIC {
        return Err("not a mailslot spool");
    }
    let name_len = word(OFF_NAME_LEN)?;
    if name_len > DATA - OFF_NAME as u64 {
        return Err("the spool's header states a name longer than the header");
    }
    let name = page
        .get(OFF_NAME..OFF_NAME + name_len as usize)
        .ok_or("the spool's header is cut short")?;
    let name = std::str::from_utf8(name)
        .map_err(|_| "the spool's header holds a name that is not UTF-8")?;
    let pid = u32::try_from(word(OFF_PID)?)
        .ok()
        .filter(|&p| p != 0 && p <= i32::MAX as u32)
        .ok_or("the spool's header names no valid process")?;
    let state_fd = u32::try_from(word(OFF_STATE_FD)?)
        .ok()
        .filter(|&fd| fd <= i32::MAX as u32)
        .ok_or("the spool's header names no valid descriptor")?;
    let rings = usize::try_from(word(OFF_RINGS)?)
        .ok()
        .filter(|&n| n <= super::ring::RINGS)
        .ok_or("the spool's header states more rings than a slot has")?;
    Ok(Header {
        rings,
        max_size: word(OFF_MAX_SIZE)?,
        token: word(OFF_TOKEN)?,
        pid,
        state_fd,
        state_dev: word(OFF_STATE_DEV)?,
        state_ino: word(OFF_STATE_INO)?,
        name: name.to_string(),
    })
}

/// The header page for `header` (the inverse of [`parse_header`]).
pub(crate) fn encode_header(header: &Header) -> Vec<u8> {
    let mut page = vec![0u8; DATA as usize];
    let mut put = |offset: usize, value: u64| {
        page[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    };
    put(OFF_MAGIC, MAGIC);
    put(OFF_MAX_SIZE, header.max_size);
    put(OFF_TOKEN, header.token);
    put(OFF_PID, header.pid.into());
    put(OFF_STATE_FD, header.state_fd.into());
    put(OFF_STATE_DEV, header.state_dev);
    put(OFF_STATE_INO, header.state_ino);
    put(OFF_RINGS, header.rings as u64);
    put(OFF_NAME_LEN, header.name.len() as u64);
    page[OFF_NAME..OFF_NAME + header.name.len()].copy_from_slice(header.name.as_bytes());
    page
}

fn invalid_data(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what.to_string())
}

impl Spool {
    /// Opens an existing spool file (for a writer, a server taking over a stale one, or `list`)
    /// and reads its header. A file that is not a regular file, is cut short or whose header
    /// does not parse is `InvalidData`.
    pub(crate) fn open(path: &Path) -> io::Result<Spool> {
        let fd = open(
            path,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        let stat = fstat(&fd)?;
        if (stat.st_mode & libc::S_IFMT) != libc::S_IFREG {
            return Err(invalid_data("not a mailslot spool"));
        }
        let mut page = vec![0u8; DATA as usize];
        let n = read_at(&fd, &mut page, 0)?;
        let header = parse_header(&page[..n]).map_err(invalid_data)?;
        Ok(Spool { fd, header })
    }

    /// Creates a new spool file at `path` (which must not exist), header written, alive lock
    /// held, for the slot `name` whose shared state is `shared`.
    pub(crate) fn create_new(
        path: &Path,
        name: &SlotName,
        max: u64,
        token: u64,
        shared: &Shared,
    ) -> io::Result<Spool> {
        if name.path.len() > DATA as usize - OFF_NAME {
            return Err(error(
                ErrorKind::InvalidInput,
                format_args!(r"mailslot \\.\mailslot\{}", name.path),
                "the name is too long for the spool's header",
            ));
        }
        let fd = open(
            path,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| {
            crate::sys::error::named(format_args!("cannot create {}", path.display()), e)
        })?;
        ftruncate(&fd, DATA)?;
        if !lock::try_lock_byte(fd.as_fd(), ALIVE_BYTE)? {
            return Err(io::Error::other(
                "a fresh spool file is locked by someone else",
            ));
        }
        let state = fstat(&shared.fd)?;
        let header = Header {
            max_size: max,
            token,
            pid: std::process::id(),
            state_fd: std::os::fd::AsRawFd::as_raw_fd(&shared.fd) as u32,
            state_dev: state.st_dev as u64,
            state_ino: state.st_ino as u64,
            rings: shared.rings,
            name: name.path.clone(),
        };
        write_all_at(&fd, &[&encode_header(&header)], 0)?;
        Ok(Spool { fd, header })
    }

    /// The header, as read when the spool was opened.
    pub(crate) fn header(&self) -> io::Result<Header> {
        Ok(self.header.clone())
    }

    /// Whether a server holds this spool.
    pub(crate) fn is_alive(&self) -> io::Result<bool> {
        lock::byte_is_locked(self.fd.as_fd(), ALIVE_BYTE)
    }

    /// Opens the slot's shared state, where the header says it is.
    pub(crate) fn shared(&self) -> io::Result<Shared> {
        Shared::attach(&self.header)
    }

    /// Holds the append lock for the life of the guard.
    pub(crate) fn lock_append<'a>(&'a self, shared: &'a Shared) -> io::Result<AppendGuard<'a>> {
        lock::lock_byte(self.fd.as_fd(), APPEND_BYTE)?;
        Ok(AppendGuard {
            spool: self,
            shared,
        })
    }

    /// Reads the committed records in `from..to` (both committed ends seen by the caller, `to -
    /// from` bounded by the caller). No lock is needed: writers only write past the committed
    /// end, and only the server rewinds. A file cut short gives fewer bytes.
    /// Appends them to `out` (a buffer used before keeps its pages).
    pub(crate) fn read_committed_into(
        &self,
        from: u64,
        to: u64,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        let len = usize::try_from(to.saturating_sub(from))
            .map_err(|_| invalid_data("a spool read too large for memory"))?;
        let at = out.len();
        out.resize(at + len, 0);
        match read_at(&self.fd, &mut out[at..], from) {
            Ok(n) => {
                out.truncate(at + n);
                Ok(())
            }
            Err(e) => {
                out.truncate(at);
                Err(e)
            }
        }
    }

    /// The spool file's size.
    pub(crate) fn file_len(&self) -> io::Result<u64> {
        Ok(fstat(&self.fd)?.st_size as u64)
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read.
fn read_at(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match retry(|| pread(fd, &mut buf[filled..], offset + filled as u64))? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The slot's shared words: a sealed memfd of the server's, mapped by it and by every writer.
pub(crate) struct Shared {
    fd: OwnedFd,
    region: Region,
    /// How many writers' rings follow the words (see `ring.rs`).
    pub(crate) rings: usize,
}

impl Shared {
    /// A new, sealed shared state (the server's), spool empty, with `rings` writers' rings (at
    /// most [`RINGS`](super::ring::RINGS); their pages are touched only once used).
    pub(crate) fn create(rings: usize) -> io::Result<Shared> {
        let fd = memfd_create(
            "pipework-mailslot",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        let len = state_len(rings);
        ftruncate(&fd, len as u64)?;
        fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let region = Region::map(fd.as_fd(), 0, len, Protection::ReadWrite)?;
        let shared = Shared { fd, region, rings };
        shared.word(S_END).store(DATA, Ordering::Release);
        shared.word(S_READ).store(DATA, Ordering::Release);
        Ok(shared)
    }

    /// Opens the shared state of the server `header` names, through its `/proc/<pid>/fd/<n>`,
    /// and maps it only once it is the very object the header records (device and inode), is
    /// sealed against shrinking and growing, and is large enough.
    fn attach(header: &Header) -> io::Result<Shared> {
        let path = format!("/proc/{}/fd/{}", header.pid, header.state_fd);
        let fd =
            open(path.as_str(), OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).map_err(|e| {
                crate::sys::error::named(
                    format_args!("cannot reach the slot's shared state ({path})"),
                    e,
                )
            })?;
        let stat = fstat(&fd)?;
        if stat.st_dev as u64 != header.state_dev || stat.st_ino as u64 != header.state_ino {
            return Err(invalid_data(
                "the slot's shared state is not the object its spool names",
            ));
        }
        let seals = fcntl_get_seals(&fd)?;
        let len = state_len(header.rings);
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW)
            || (stat.st_size as u64) < len as u64
        {
            return Err(invalid_data(
                "the slot's shared state is not sealed at its size",
            ));
        }
        let region = Region::map(fd.as_fd(), 0, len, Protection::ReadWrite)?;
        Ok(Shared {
            fd,
            region,
            rings: header.rings,
        })
    }

    /// The shared words' region, for the writers' rings that follow them (`ring.rs`).
    pub(crate) fn region(&self) -> &Region {
        &self.region
    }

    /// The bits of the rings a writer has ever claimed (the server reads only those).
    pub(crate) fn claimed(&self) -> &AtomicU64 {
        self.word(S_CLAIMED)
    }

    /// Messages writers have put in their rings so far (counted after each is in).
    pub(crate) fn ring_produced(&self) -> &AtomicU64 {
        self.word(S_RING_PRODUCED)
    }

    /// The 64-bit word at `offset` (one of this module's constants: in bounds, aligned).
    fn word(&self, offset: usize) -> &AtomicU64 {
        self.region
            .atomic_u64(offset)
            .expect("state offsets are in bounds and aligned")
    }

    /// Messages written and not yet read by the server.
    pub(crate) fn queued(&self) -> u64 {
        let produced = self
            .word(S_PRODUCED)
            .load(Ordering::Acquire)
            .wrapping_add(self.word(S_RING_PRODUCED).load(Ordering::Acquire));
        let consumed = self.word(S_CONSUMED).load(Ordering::Acquire);
        produced.saturating_sub(consumed)
    }

    pub(crate) fn flags(&self) -> &AtomicU64 {
        self.word(S_FLAGS)
    }

    /// The first of `n` sequence numbers taken for a writer's next messages: they order one
    /// writer's messages that took different ways (socket or spool) to the server.
    pub(crate) fn take_seqs(&self, n: u64) -> u64 {
        self.word(S_SEQ).fetch_add(n, Ordering::Relaxed)
    }

    /// How many times the server has rewound the spool.
    pub(crate) fn rewinds(&self) -> u64 {
        self.word(S_REWINDS).load(Ordering::Acquire)
    }

    /// How far into the spool the server has read (taken into its queue) since its last rewind:
    /// a writer whose last spooled record ends there or before may send directly again, since
    /// a datagram it sends now reaches the server's queue after that record.
    pub(crate) fn read_pos(&self) -> u64 {
        self.word(S_READ).load(Ordering::Acquire)
    }

    /// Publishes how far the server has read (after the round that read it emptied the socket).
    pub(crate) fn set_read_pos(&self, pos: u64) {
        self.word(S_READ).store(pos, Ordering::Release);
    }

    /// What the server serves on the network (`net::listen_key`), when `FLAG_NETWORK` is set.
    pub(crate) fn listen_key(&self) -> u64 {
        self.word(S_LISTEN).load(Ordering::Acquire)
    }

    /// Records what the server serves on the network.
    pub(crate) fn set_listen_key(&self, key: u64) {
        self.word(S_LISTEN).store(key, Ordering::Release);
    }

    /// Counts one message that reached the server another way than the spool.
    pub(crate) fn count_produced(&self) {
        self.word(S_PRODUCED).fetch_add(1, Ordering::Release);
    }

    /// Messages writers have delivered so far, by the socket or the spool (counted once each
    /// is in): a server waiting for one watches this word move before it sleeps.
    pub(crate) fn produced(&self) -> u64 {
        self.word(S_PRODUCED).load(Ordering::Acquire)
    }

    /// Messages the server has read so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.word(S_CONSUMED).load(Ordering::Relaxed)
    }

    /// Counts one message read by the server. The server alone writes this word (its reads are
    /// `&mut self`), so a load and a store do, without a locked instruction.
    pub(crate) fn count_consumed(&self) {
        let word = self.word(S_CONSUMED);
        word.store(
            word.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Release,
        );
    }

    /// Where the committed records end.
    pub(crate) fn committed_end(&self) -> io::Result<u64> {
        let end = self.word(S_END).load(Ordering::Acquire);
        if !(DATA..=MAX_END).contains(&end) {
            return Err(invalid_data(format_args!(
                "the spool's committed end {end} is outside {DATA}..={MAX_END}"
            )));
        }
        Ok(end)
    }
}

/// The length of the shared state with `rings` writers' rings.
fn state_len(rings: usize) -> usize {
    if rings == 0 {
        STATE_LEN
    } else {
        super::ring::DATA_AT + rings * super::ring::CAPACITY as usize
    }
}

/// What the server does next with its spool, decided without I/O by [`next_step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Everything committed is read.
    Nothing,
    /// Read the records in `from..to` (whole records, at most [`DRAIN_CHUNK`] bytes unless the
    /// first record alone is larger; the file holds them).
    Read { to: u64 },
    /// Skip the first record, of this many bytes in all: larger than the slot takes.
    Skip { to: u64 },
    /// The spool lies: what it states is not in the file. Carry on from `end`.
    Corrupt(&'static str),
}

/// What to read next from `from`, the committed records ending at `end`, the file `file_len`
/// bytes long, the record at `from` stating `first_len` (when at least a record header is
/// committed), in a slot of maximum `max` (0: any).
pub(crate) fn next_step(
    from: u64,
    end: u64,
    file_len: u64,
    first_len: Option<u32>,
    max: u64,
) -> Step {
    if end <= from {
        return Step::Nothing;
    }
    if file_len < end {
        return Step::Corrupt("the spool was cut short: its records end past the file's end");
    }
    let committed = end - from;
    let Some(first_len) = first_len else {
        return Step::Corrupt("the spool ends in a partial record header");
    };
    let first = RECORD_HEADER as u64 + u64::from(first_len);
    if first > committed {
        return Step::Corrupt("a spool record states a length past the committed end");
    }
    if max != 0 && u64::from(first_len) > max {
        return Step::Skip { to: from + first };
    }
    Step::Read {
        to: from + committed.min(DRAIN_CHUNK.max(first)),
    }
}

/// The append lock, released on drop.
pub(crate) struct AppendGuard<'a> {
    spool: &'a Spool,
    shared: &'a Shared,
}

impl AppendGuard<'_> {
    /// How many times the server has rewound the spool (read everything in it); read under the
    /// lock, it tells a writer when the server has read past the record it just appended.
    pub(crate) fn rewinds(&self) -> u64 {
        self.shared.rewinds()
    }

    /// Appends one record; on failure nothing is committed. Returns the flags seen while the lock
    /// was held and where the record ends (0 when nothing was appended: the slot is closed). A
    /// spool cut short under its committed records is `InvalidData`.
    pub(crate) fn append(&self, seq: u64, message: &[u8]) -> io::Result<(u64, u64)> {
        let shared = self.shared;
        let flags = shared.flags().load(Ordering::Acquire);
        if flags & FLAG_CLOSED != 0 {
            return Ok((flags, 0));
        }
        let end = shared.committed_end()?;
        if self.spool.file_len()? < end {
            return Err(invalid_data(
                "the spool was cut short: its records end past the file's end",
            ));
        }
        let record = (RECORD_HEADER + message.len()) as u64;
        if end + record > MAX_END {
            return Err(io::Error::new(
                ErrorKind::StorageFull,
                "the mailslot spool is full",
            ));
        }
        let mut header = [0u8; RECORD_HEADER];
        header[..4].copy_from_slice(&(message.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&seq.to_le_bytes());
        write_all_at(&self.spool.fd, &[&header[..], message], end)?;
        shared.word(S_END).store(end + record, Ordering::Release);
        shared.word(S_PRODUCED).fetch_add(1, Ordering::Release);
        Ok((flags, end + record))
    }

    /// Starts the spool again from empty whatever it holds, and writes the header page back:
    /// the server's way out of a spool or shared state that another process spoiled.
    pub(crate) fn reset(&self) -> io::Result<()> {
        let shared = self.shared;
        shared.word(S_END).store(DATA, Ordering::Release);
        shared.word(S_READ).store(DATA, Ordering::Release);
        shared.word(S_REWINDS).fetch_add(1, Ordering::AcqRel);
        write_all_at(&self.spool.fd, &[&encode_header(&self.spool.header)], 0)
    }

    /// Starts the spool again from empty if nothing was committed past `read_to` (everything
    /// the server has read); `false` when writers added more meanwhile.
    pub(crate) fn rewind_if_read(&self, read_to: u64) -> io::Result<bool> {
        let shared = self.shared;
        let end = shared.committed_end()?;
        if end != read_to {
            return Ok(false);
        }
        if end != DATA {
            shared.word(S_END).store(DATA, Ordering::Release);
            // Before the count moves: a writer that appends after this rewind never sees a
            // read position of the spool's earlier round.
            shared.word(S_READ).store(DATA, Ordering::Release);
            shared.word(S_REWINDS).fetch_add(1, Ordering::AcqRel);
            if end > SHRINK_ABOVE {
                ftruncate(&self.spool.fd, DATA)?;
            }
        }
        Ok(true)
    }
}

impl Drop for AppendGuard<'_> {
    fn drop(&mut self) {
        let _ = lock::unlock_byte(self.spool.fd.as_fd(), APPEND_BYTE);
    }
}

fn write_all_at(fd: &OwnedFd, parts: &[&[u8]], mut offset: u64) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= 4096 {
        // Small records: one pwrite from a stack-built copy.
        let mut buf = [0u8; 4096];
        let mut n = 0;
        for p in parts {
            buf[n..n + p.len()].copy_from_slice(p);
            n += p.len();
        }
        return pwrite_all(fd, &buf[..n], offset);
    }
    for p in parts {
        pwrite_all(fd, p, offset)?;
        offset += p.len() as u64;
    }
    Ok(())
}

fn pwrite_all(fd: &OwnedFd, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    while !data.is_empty() {
        match retry(|| pwrite(fd, data, offset))? {
            0 => return Err(ErrorKind::WriteZero.into()),
            n => {
                data = &data[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Spool files in `dir` (not sockets or files being created).
pub(crate) fn spool_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().into_vec();
        if name.len() == 32 && name.iter().all(u8::is_ascii_hexdigit) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a living slot of this user in `dir` holds the network listener for `key`.
pub(crate) fn listener_lives(dir: &Path, key: u64) -> bool {
    let Ok(files) = spool_files(dir) else {
        return false;
    };
    files.iter().any(|path| {
        let Ok(spool) = Spool::open(path) else {
            return false;
        };
        if !spool.is_alive().unwrap_or(false) {
            return false;
        }
        spool.shared().is_ok_and(|shared| {
            shared.flags().load(Ordering::Acquire) & FLAG_LISTENER != 0
                && shared.listen_key() == key
        })
    })
}

/// Files of dead creators (or a spool published just now) are left alone this long.
const DEBRIS_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes what servers killed outright left in `dir`: spools whose server is gone (with their
/// unread messages and sockets), and, after a minute, sockets without a living spool and files of
/// creators that died mid-way. `keep` is never touched. Errors only skip an entry.
pub(crate) fn collect_stale(dir: &Path, keep: Option<&Path>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if Some(path.as_path()) == keep {
            continue;
        }
        let name = entry.file_name().into_vec();
        if name.len() == 32 && name.iter().all(u8::is_ascii_hexdigit) {
            let _ = collect_spool(&path);
        } else if name.len() > 33 && name[..32].iter().all(u8::is_ascii_hexdigit) {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > DEBRIS_AGE);
            if old && !belongs_to_living_spool(dir, &name) {
                let _ = lease::remove_part(&path);
            }
        }
    }
}

fn collect_spool(path: &Path) -> io::Result<()> {
    let spool = Spool::open(path)?;
    if !lock::try_lock_byte(spool.fd.as_fd(), GC_BYTE)? || spool.is_alive()? {
        return Ok(());
    }
    let socket = spool
        .header()
        .ok()
        .map(|header| place::mailslot_socket(path, header.token));
    lease::reclaim_sole(lease::identity(&spool.fd)?, path, socket.as_slice())?;
    Ok(())
}

/// Whether `name` (`<hash>.<token>.sock` or `<hash>.<token>.new`) belongs to a spool whose
/// server lives: the socket of that server, or a spool being created.
fn belongs_to_living_spool(dir: &Path, name: &[u8]) -> bool {
    let hash = String::from_utf8_lossy(&name[..32]).into_owned();
    if name.ends_with(b".new") {
        return Spool::open(&dir.join(std::ffi::OsStr::from_bytes(name)))
            .and_then(|s| s.is_alive())
            .unwrap_or(false);
    }
    let spool_path = dir.join(&hash);
    let Ok(spool) = Spool::open(&spool_path) else {
        return false;
    };
    let Ok(header) = spool.header() else {
        return false;
    };
    let own = place::mailslot_socket(&spool_path, header.token);
    own.file_name().map(|f| f.as_bytes()) == Some(name) && spool.is_alive().unwrap_or(false)
}
