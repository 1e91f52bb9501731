//! The spool: the file in which a local mailslot's messages wait until the server drains them.
//!
//! Layout: one header page, then records `[length: u32 LE][sequence: u64 LE][message]` from
//! [`DATA`] up to the committed end. Byte locks on the file (open-file-description locks, released by the kernel
//! when the holder dies):
//! * byte [`ALIVE_BYTE`]: held by the server for its whole life. A spool without it is stale.
//! * byte [`APPEND_BYTE`]: the append lock, held by a writer while it adds a record and by the
//!   server while it rewinds the spool.
//! * byte [`GC_BYTE`]: held while a stale spool is removed ([`collect_stale`]) or taken over by
//!   a new server of its name, so that neither removes what the other just put in place.
//!
//! A writer appends its record past the committed end and only then moves the end, so a writer
//! that dies mid-append leaves nothing the server can see (the next writer overwrites it).
//! Committed records never change, so the server reads them without the lock; it takes the lock
//! only to rewind the spool to empty once it has read everything (before it sleeps, or when the
//! spool has grown past a megabyte).

use std::fs;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rustix::fs::{fstat, ftruncate, open, Mode, OFlags};
use rustix::io::{pread, pwrite, Errno};

use crate::name::{lease, place, MailslotName as SlotName};
use crate::sys::lock;
use crate::sys::shm::{Protection, Region};

/// Where the records start (the header is one page).
pub(crate) const DATA: u64 = 4096;
/// Locked by the living server.
pub(crate) const ALIVE_BYTE: u64 = 0;
/// Locked while a record is appended or the records are taken out.
pub(crate) const APPEND_BYTE: u64 = 1;
/// Locked while a stale spool is removed, by the collector or by a server taking the name over.
pub(crate) const GC_BYTE: u64 = 2;

const MAGIC: u64 = u64::from_le_bytes(*b"PWMSLOT2");
const OFF_MAGIC: usize = 0;
const OFF_MAX_SIZE: usize = 8;
const OFF_END: usize = 16;
const OFF_FLAGS: usize = 24;
const OFF_PRODUCED: usize = 32;
const OFF_CONSUMED: usize = 40;
const OFF_TOKEN: usize = 48;
const OFF_NAME_LEN: usize = 56;
const OFF_SEQ: usize = 64;
const OFF_REWINDS: usize = 72;
const OFF_NAME: usize = 80;

/// A record's header: `[length: u32 LE][sequence: u64 LE]`, then the message.
pub(crate) const RECORD_HEADER: usize = 12;

/// Flag: the server closed the slot.
pub(crate) const FLAG_CLOSED: u64 = 1;
/// Flag: the server takes messages from the network (others on its port forward to it).
pub(crate) const FLAG_NETWORK: u64 = 4;
/// Flag: the server is about to sleep, or sleeps, until its socket turns readable; a writer
/// that spooled a record must then wake it.
pub(crate) const FLAG_SLEEPING: u64 = 8;

/// A spool larger than this may not grow: a corrupt end offset is rejected, not followed.
const MAX_END: u64 = 1 << 40;
/// After draining more than this many bytes, the server gives the file's pages back.
const SHRINK_ABOVE: u64 = 1 << 20;
/// A server that keeps reading without ever finding the spool empty rewinds it once it has read
/// past this offset, so the file does not grow without end.
pub(crate) const REWIND_ABOVE: u64 = DATA + (1 << 20);

/// An open spool file and its mapped header.
pub(crate) struct Spool {
    pub(crate) fd: OwnedFd,
    header: Region,
}

/// What the header says about the slot.
pub(crate) struct Header {
    pub(crate) max_size: u64,
    pub(crate) token: u64,
    pub(crate) name: String,
}

fn errno_io(e: Errno, what: impl std::fmt::Display) -> io::Error {
    let err = io::Error::from(e);
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

impl Spool {
    /// Opens an existing spool file (for a writer, a server taking over a stale one, or `list`).
    pub(crate) fn open(path: &Path) -> io::Result<Spool> {
        let fd = open(
            path,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        let stat = fstat(&fd)?;
        if (stat.st_mode & libc::S_IFMT) != libc::S_IFREG || (stat.st_size as u64) < DATA {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "not a mailslot spool",
            ));
        }
        let header = Region::map(fd.as_fd(), 0, DATA as usize, Protection::ReadWrite)?;
        let spool = Spool { fd, header };
        if spool.word(OFF_MAGIC).load(Ordering::Acquire) != MAGIC {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "not a mailslot spool",
            ));
        }
        Ok(spool)
    }

    /// Creates a new spool file at `path` (which must not exist), header written, alive lock
    /// held.
    pub(crate) fn create_new(
        path: &Path,
        name: &SlotName,
        max: u64,
        token: u64,
    ) -> io::Result<Spool> {
        let fd = open(
            path,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| errno_io(e, format!("cannot create {}", path.display())))?;
        ftruncate(&fd, DATA)?;
        if !lock::try_lock_byte(fd.as_fd(), ALIVE_BYTE)? {
            return Err(io::Error::other(
                "a fresh spool file is locked by someone else",
            ));
        }
        let header = Region::map(fd.as_fd(), 0, DATA as usize, Protection::ReadWrite)?;
        let spool = Spool { fd, header };
        let bytes = name.path.as_bytes();
        spool.header.write_at(OFF_NAME, bytes)?;
        spool
            .word(OFF_NAME_LEN)
            .store(bytes.len() as u64, Ordering::Relaxed);
        spool.word(OFF_MAX_SIZE).store(max, Ordering::Relaxed);
        spool.word(OFF_END).store(DATA, Ordering::Relaxed);
        spool.word(OFF_TOKEN).store(token, Ordering::Relaxed);
        spool.word(OFF_MAGIC).store(MAGIC, Ordering::Release);
        Ok(spool)
    }

    /// The 64-bit header word at `offset` (one of this module's constants: in bounds, aligned).
    fn word(&self, offset: usize) -> &std::sync::atomic::AtomicU64 {
        self.header
            .atomic_u64(offset)
            .expect("header offsets are in bounds and aligned")
    }

    /// Reads the fixed part of the header, checking what another process could have spoiled.
    pub(crate) fn header(&self) -> io::Result<Header> {
        let len = self.word(OFF_NAME_LEN).load(Ordering::Relaxed);
        if len > DATA - OFF_NAME as u64 {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "corrupt mailslot spool header",
            ));
        }
        let mut name = vec![0; len as usize];
        self.header.read_at(OFF_NAME, &mut name)?;
        let name = String::from_utf8(name)
            .map_err(|_| io::Error::new(ErrorKind::InvalidData, "corrupt mailslot spool header"))?;
        Ok(Header {
            max_size: self.word(OFF_MAX_SIZE).load(Ordering::Relaxed),
            token: self.word(OFF_TOKEN).load(Ordering::Relaxed),
            name,
        })
    }

    /// Whether a server holds this spool.
    pub(crate) fn is_alive(&self) -> io::Result<bool> {
        lock::byte_is_locked(self.fd.as_fd(), ALIVE_BYTE)
    }

    /// Messages written and not yet read by the server (for `list`).
    pub(crate) fn queued(&self) -> u64 {
        let produced = self.word(OFF_PRODUCED).load(Ordering::Acquire);
        let consumed = self.word(OFF_CONSUMED).load(Ordering::Acquire);
        produced.saturating_sub(consumed)
    }

    pub(crate) fn flags(&self) -> &std::sync::atomic::AtomicU64 {
        self.word(OFF_FLAGS)
    }

    /// The next message's sequence number: it orders one writer's messages that took different
    /// ways (socket or spool) to the server.
    pub(crate) fn next_seq(&self) -> u64 {
        self.word(OFF_SEQ).fetch_add(1, Ordering::Relaxed)
    }

    /// How many times the server has rewound the spool.
    pub(crate) fn rewinds(&self) -> u64 {
        self.word(OFF_REWINDS).load(Ordering::Acquire)
    }

    /// Counts one message that reached the server another way than the spool (the network).
    pub(crate) fn count_produced(&self) {
        self.word(OFF_PRODUCED).fetch_add(1, Ordering::Release);
    }

    /// Counts one message read by the server.
    pub(crate) fn count_consumed(&self) {
        self.word(OFF_CONSUMED).fetch_add(1, Ordering::Release);
    }

    /// Holds the append lock for the life of the guard.
    pub(crate) fn lock_append(&self) -> io::Result<AppendGuard<'_>> {
        lock::lock_byte(self.fd.as_fd(), APPEND_BYTE)?;
        Ok(AppendGuard { spool: self })
    }

    /// Reads the committed records in `from..to` (both committed ends seen by the caller). No
    /// lock is needed: writers only write past the committed end, and only the server rewinds.
    pub(crate) fn read_committed(&self, from: u64, to: u64) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; to.saturating_sub(from) as usize];
        let mut filled = 0;
        while filled < bytes.len() {
            match pread(&self.fd, &mut bytes[filled..], from + filled as u64) {
                Ok(0) => {
                    // Shorter than its header says: someone cut the file. Keep what is there.
                    bytes.truncate(filled);
                    break;
                }
                Ok(n) => filled += n,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(bytes)
    }

    /// The spool file's size.
    pub(crate) fn file_len(&self) -> io::Result<u64> {
        Ok(fstat(&self.fd)?.st_size as u64)
    }

    /// Where the committed records end.
    pub(crate) fn committed_end(&self) -> io::Result<u64> {
        let end = self.word(OFF_END).load(Ordering::Acquire);
        if !(DATA..=MAX_END).contains(&end) {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "corrupt mailslot spool end",
            ));
        }
        Ok(end)
    }
}

/// The append lock, released on drop.
pub(crate) struct AppendGuard<'a> {
    spool: &'a Spool,
}

impl AppendGuard<'_> {
    /// How many times the server has rewound the spool (read everything in it); read under the
    /// lock, it tells a writer when the server has read past the record it just appended.
    pub(crate) fn rewinds(&self) -> u64 {
        self.spool.word(OFF_REWINDS).load(Ordering::Acquire)
    }

    /// Appends one record; on failure nothing is committed. Returns the flags seen while the lock
    /// was held.
    pub(crate) fn append(&self, seq: u64, message: &[u8]) -> io::Result<u64> {
        let spool = self.spool;
        let flags = spool.flags().load(Ordering::Acquire);
        if flags & FLAG_CLOSED != 0 {
            return Ok(flags);
        }
        let end = spool.committed_end()?;
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
        write_all_at(&spool.fd, &[&header[..], message], end)?;
        spool.word(OFF_END).store(end + record, Ordering::Release);
        spool.word(OFF_PRODUCED).fetch_add(1, Ordering::Release);
        Ok(flags)
    }

    /// Starts the spool again from empty if nothing was committed past `read_to` (everything
    /// the server has read); `false` when writers added more meanwhile.
    pub(crate) fn rewind_if_read(&self, read_to: u64) -> io::Result<bool> {
        let spool = self.spool;
        let end = spool.committed_end()?;
        if end != read_to {
            return Ok(false);
        }
        if end != DATA {
            spool.word(OFF_END).store(DATA, Ordering::Release);
            spool.word(OFF_REWINDS).fetch_add(1, Ordering::AcqRel);
            if end > SHRINK_ABOVE {
                ftruncate(&spool.fd, DATA)?;
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
        match pwrite(fd, data, offset) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                offset += n as u64;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
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
