//! The name lease: the one piece of code that removes a name.
//!
//! Every named object holds a [`Lease`] on its name. Letting go of the lease removes the name
//! when this holder was the last: [`Lease::release`] returns what went wrong, and a lease simply
//! dropped does the same without blocking and keeps a failure for [`release_errors`] instead of
//! losing it. How "the last holder" is told depends on the kind:
//!
//! * file mappings and sync objects: holders keep a shared `flock` on the object's file; the
//!   name goes once an exclusive one can be taken;
//! * named pipes: instances hold byte-range locks on the pipe's lock file; the pipe's directory
//!   goes once no instance holds its byte 0;
//! * mailslots and shared-memory pipes: one holder (the server, the listener) owns the name's
//!   files alone; they go if they are still the ones it made.
//!
//! A process killed with `kill -9` releases nothing, but the kernel drops its locks and
//! sockets; the next create, open or list that meets the name calls the `reclaim_*` function
//! of its kind, which is the same removal run by someone else.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, ErrorKind};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::{flock, fstat, unlinkat, AtFlags, FlockOperation, CWD};
use rustix::io::Errno;

use super::object::{self, ObjectName};
use super::place::{self, PipeFile};
use super::Kind;
use crate::named_pipe::registry::{self, Shared};
use crate::sys::error::{error, named};
use crate::sys::{set_lock, Lock};

/// A hold on an object's name: while it lives the name is the object's; releasing the last
/// holder's lease removes the name. Anchor: iceoryx2's `NamedConcept` (one concept for every
/// named object: its name, where it lives, its removal).
#[derive(Debug)]
pub struct Lease(Box<Inner>);

/// A lease's state, boxed: objects that hold a lease stay small.
#[derive(Debug)]
struct Inner {
    kind: Kind,
    name: String,
    path: PathBuf,
    hold: Option<Hold>,
}

#[derive(Debug)]
enum Hold {
    /// A file in `/dev/shm` whose holders keep a shared `flock` on it.
    Object(ObjectName),
    /// A pipe instance's slot (byte `1 + slot` of the pipe's lock file) and its share of the
    /// process's hold on the pipe (byte 0, held while any instance of the process lives).
    Pipe { shared: Arc<Shared>, slot: u64 },
    /// Files this holder alone owns: `path` (whose identity is `anchor`) and `others`.
    Sole {
        anchor: (u64, u64),
        others: Vec<PathBuf>,
    },
}

impl Lease {
    /// The lease of a holder of the object `name` (its file and views closed before release).
    pub(crate) fn object(name: &ObjectName, kind: Kind) -> Lease {
        Lease(Box::new(Inner {
            kind,
            name: name.display.clone(),
            path: name.path(),
            hold: Some(Hold::Object(name.clone())),
        }))
    }

    /// The lease of the pipe instance that holds slot `slot` of the pipe in `dir`, through
    /// this process's hold on the pipe.
    pub(crate) fn pipe(name: String, dir: PathBuf, shared: Arc<Shared>, slot: u64) -> Lease {
        Lease(Box::new(Inner {
            kind: Kind::Pipe,
            name,
            path: dir,
            hold: Some(Hold::Pipe { shared, slot }),
        }))
    }

    /// The lease of the sole owner of `path` (the file whose identity, device and inode, is
    /// `anchor`) and of `others` beside it.
    pub(crate) fn sole(
        kind: Kind,
        name: String,
        path: PathBuf,
        anchor: (u64, u64),
        others: Vec<PathBuf>,
    ) -> Lease {
        Lease(Box::new(Inner {
            kind,
            name,
            path,
            hold: Some(Hold::Sole { anchor, others }),
        }))
    }

    /// What kind of object holds the name.
    pub fn kind(&self) -> Kind {
        self.0.kind
    }

    /// The name, as its holder gave it.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Where the name lives: the object's file or directory.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The process's hold on the pipe, of a pipe instance's lease.
    pub(crate) fn pipe_hold(&self) -> Option<&Shared> {
        match &self.0.hold {
            Some(Hold::Pipe { shared, .. }) => Some(shared),
            _ => None,
        }
    }

    /// Lets go of the name: removes it if this was its last holder. Never waits for another
    /// process. The error says what could not be removed (the name is then reclaimed later).
    pub fn release(mut self) -> io::Result<()> {
        let inner = &mut self.0;
        match inner.hold.take() {
            Some(hold) => release(inner.kind, &inner.name, &inner.path, hold),
            None => Ok(()),
        }
    }

    /// Gives the hold away with the handle that carries it (the name is not released here).
    pub(crate) fn disarm(mut self) {
        self.0.hold = None;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let inner = &mut self.0;
        if let Some(hold) = inner.hold.take() {
            if let Err(e) = release(inner.kind, &inner.name, &inner.path, hold) {
                keep(e);
            }
        }
    }
}

fn release(kind: Kind, name: &str, path: &Path, hold: Hold) -> io::Result<()> {
    let what = format_args!("{kind} {name}");
    match hold {
        Hold::Object(object) => {
            let Some(fd) = object::open_file(&object, false)? else {
                return Ok(());
            };
            let ours = object::check_file(&fd, &object)
                .is_ok_and(|st| object::kind_of(&fd, st.st_mode).is_ok_and(|(_, ours)| ours));
            if !ours {
                // Not a pipework object of this user's (any more): not ours to remove.
                return Ok(());
            }
            reclaim_object(&object, &fd).map(drop)
        }
        Hold::Pipe { shared, slot } => {
            let freed = shared.free_slot(slot);
            // The process's last instance lets go of the pipe, and removes it if it was the
            // last anywhere.
            let last = match registry::release(shared) {
                Some(last) => last.let_go_last(),
                None => Ok(()),
            };
            freed.and(last).map_err(|e| named(what, e))
        }
        Hold::Sole { anchor, others } => {
            remove_sole(anchor, path, &others).map_err(|e| named(what, e))
        }
    }
}

/// Failures of leases dropped without [`Lease::release`], kept for the caller.
static FAILED: Mutex<VecDeque<io::Error>> = Mutex::new(VecDeque::new());
/// Failures that found the store busy or full.
static LOST: AtomicU64 = AtomicU64::new(0);
/// At most this many failures are kept.
const KEEP: usize = 32;

pub(crate) fn keep(e: io::Error) {
    match FAILED.try_lock() {
        Ok(mut failed) if failed.len() < KEEP => failed.push_back(e),
        _ => {
            LOST.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The failures of names released by dropping their objects (whose `Drop` cannot return them),
/// oldest first, taken out of the store: at most 32 are kept, and a final error counts those that
/// were not. A name that could not be removed is reclaimed by the next create, open or list
/// that meets it.
pub fn release_errors() -> Vec<io::Error> {
    let mut out: Vec<io::Error> = match FAILED.lock() {
        Ok(mut failed) => failed.drain(..).collect(),
        Err(poisoned) => poisoned.into_inner().drain(..).collect(),
    };
    let lost = LOST.swap(0, Ordering::Relaxed);
    if lost > 0 {
        out.push(io::Error::other(format!(
            "{lost} more names could not be released (not kept)"
        )));
    }
    out
}

// ---- the removals: by the last holder, or by whoever finds every holder gone ----

/// Removes the object `name` whose file `fd` (opened at the name) no process holds:
/// `Ok(true)` when it was removed, `Ok(false)` when a process holds it (or it is another user's,
/// whom `/dev/shm`'s sticky bit keeps it for). Holds the file exclusively meanwhile, so that an
/// opener waits and then sees the name gone.
pub(crate) fn reclaim_object(name: &ObjectName, fd: &OwnedFd) -> io::Result<bool> {
    match flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(false),
        Err(e) => return Err(named(&name.display, e)),
    }
    let result = if object::still_linked(name, fd).map_err(|e| named(&name.display, e))? {
        match unlinkat(CWD, name.at.as_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(true),
            // Another user's stale global object: taken over as it is.
            Err(Errno::PERM) | Err(Errno::ACCESS) => Ok(false),
            Err(e) => Err(named(&name.display, e)),
        }
    } else {
        Ok(true)
    };
    // Back to nothing: the caller holds it shared if it keeps it.
    let _ = flock(fd, FlockOperation::Unlock);
    result
}

/// Removes the name `name` at once, whoever holds it (they keep working; the name is free).
pub(crate) fn remove_object(name: &ObjectName) -> io::Result<()> {
    unlinkat(CWD, name.at.as_str(), AtFlags::empty()).map_err(|e| match e {
        Errno::NOENT => error(
            ErrorKind::NotFound,
            format_args!("no object named {}", name.display),
            "it does not exist",
        ),
        e => named(&name.display, e),
    })
}

/// Whether `file` is still the file at `path` (not unlinked and replaced meanwhile).
pub(crate) fn still_linked(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    Ok(match fs::symlink_metadata(path) {
        Ok(now) => held.nlink() > 0 && now.ino() == held.ino() && now.dev() == held.dev(),
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    })
}

/// Removes the pipe directory `dir` if no instance holds its lock file `lock` (byte 0), under
/// the exclusive lock a creator takes, so a server starting meanwhile is never disturbed.
pub(crate) fn remove_pipe_if_unheld(dir: &Path, lock: &File) -> io::Result<()> {
    let lock_path = place::pipe_file(dir, PipeFile::Lock);
    if !set_lock(lock, Lock::Write, 0, 1, false)? {
        return Ok(());
    }
    let removed = remove_unheld_pipe(dir, lock, &lock_path);
    // Let go at once: a process forked meanwhile shares this open file description, and would
    // keep the lock (and a server joining this pipe waiting) until it execs.
    let _ = set_lock(lock, Lock::Unlock, 0, 1, false);
    removed
}

/// The removal of [`remove_pipe_if_unheld`], under its exclusive lock on byte 0.
fn remove_unheld_pipe(dir: &Path, lock: &File, lock_path: &Path) -> io::Result<()> {
    if still_linked(lock, lock_path)? {
        clear_pipe_leftovers(dir)?;
        remove_part(lock_path)?;
        match fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes the pipe directory `dir` if no instance holds it (one left by a killed server).
/// Quietly does nothing where this user may not (another user's global pipe).
pub(crate) fn reclaim_pipe(dir: &Path) -> io::Result<()> {
    let lock_path = place::pipe_file(dir, PipeFile::Lock);
    let lock = match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
    {
        Ok(lock) => lock,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {
            return Ok(())
        }
        Err(e) => return Err(e),
    };
    remove_pipe_if_unheld(dir, &lock)
}

/// Removes everything in the pipe directory `dir` but its lock file: what instances that died
/// left. The caller holds the lock file's byte 0 exclusively.
pub(crate) fn clear_pipe_leftovers(dir: &Path) -> io::Result<()> {
    let lock = place::pipe_file(dir, PipeFile::Lock);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == crate::named_pipe::registry::GONE
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            // Where retired socket names go (a process killed between its two steps may
            // have left one).
            for gone in fs::read_dir(entry.path())? {
                remove_part(&gone?.path())?;
            }
            match fs::remove_dir(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(named(entry.path().display(), e)),
            }
        } else if entry.path() != lock {
            remove_part(&entry.path())?;
        }
    }
    Ok(())
}

/// The device and inode of the file at `path` (not following a link).
pub(crate) fn identity_of(path: &Path) -> io::Result<(u64, u64)> {
    let meta = fs::symlink_metadata(path)?;
    Ok((meta.dev(), meta.ino()))
}

/// The device and inode of `fd`'s file.
pub(crate) fn identity(fd: &OwnedFd) -> io::Result<(u64, u64)> {
    let st = fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Removes `others`, then `path`, if `path` is still the file whose identity is `anchor`: its
/// sole owner is gone, or lets go. `Ok(false)` when another file has taken the name meanwhile.
/// The caller makes sure no one replaces the file in between (the owner's own lock or socket).
pub(crate) fn reclaim_sole(
    anchor: (u64, u64),
    path: &Path,
    others: &[PathBuf],
) -> io::Result<bool> {
    match identity_of(path) {
        Ok(now) if now == anchor => {}
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    for other in others {
        remove_part(other)?;
    }
    remove_part(path)?;
    Ok(true)
}

fn remove_sole(anchor: (u64, u64), path: &Path, others: &[PathBuf]) -> io::Result<()> {
    reclaim_sole(anchor, path, others).map(drop)
}

/// Removes one file of a name: an instance's socket that stops listening, a file a creator
/// left half made, a leftover of a killed holder. A file already gone is fine.
pub(crate) fn remove_part(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(named(path.display(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sole_lease_removes_only_its_own_files() {
        let dir = std::env::temp_dir().join(format!("pipework-lease-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        let main = dir.join("main");
        let note = dir.join(".main");
        fs::write(&main, b"x").unwrap();
        fs::write(&note, b"x").unwrap();
        let anchor = identity_of(&main).unwrap();
        let lease = Lease::sole(
            Kind::ShmPipe,
            "main".into(),
            main.clone(),
            anchor,
            vec![note.clone()],
        );
        assert_eq!(lease.kind(), Kind::ShmPipe);
        assert_eq!(lease.path(), main);
        lease.release().unwrap();
        assert!(!main.exists() && !note.exists());
        // Replaced meanwhile: the other file stays.
        fs::write(&main, b"x").unwrap();
        let anchor = identity_of(&main).unwrap();
        let lease = Lease::sole(Kind::ShmPipe, "main".into(), main.clone(), anchor, vec![]);
        fs::write(dir.join("other"), b"y").unwrap();
        fs::rename(dir.join("other"), &main).unwrap();
        drop(lease);
        assert_eq!(fs::read(&main).unwrap(), b"y");
        fs::remove_dir_all(&dir).unwrap();
    }
}
