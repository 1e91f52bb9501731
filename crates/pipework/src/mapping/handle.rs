//! A mapping handle's open files: the one that holds the object's name, and a second, lock-free
//! one of the same object that views are mapped from.
//!
//! A named object's holders each keep a shared `flock` on their open file (see the namespace),
//! and an `mmap` keeps its open file alive until it is unmapped. Were views mapped from the
//! handle's own file, a view would keep the lock, and so the name, after the last handle closed.
//! Views are therefore mapped from a file opened anew on the same object (by its name, else
//! through `/proc/self/fd/N`; checked to be the same device and inode), which never takes a
//! lock: the name goes with the last handle, the memory with the last view.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::fs::{fcntl_getfl, fstat, openat, Mode, OFlags, Stat, CWD};

use crate::name::object::ObjectName as Name;
use crate::name::{Kind, Lease};
use crate::sys::shm::Copies;

/// One mapping object as this process holds it: shared by a handle and its clones.
#[derive(Debug)]
pub(super) struct Handle {
    /// The handle's open file (for a named object, the one holding the name). `Some` until
    /// dropped.
    file: Option<OwnedFd>,
    /// A lock-free open file of the same object, for views; `None` when `file` serves (it holds
    /// no lock, or no second file could be opened).
    memory: Option<OwnedFd>,
    name: Option<Name>,
    /// This process's hold on the name, released once the handle's own file is closed.
    lease: Option<Lease>,
    /// How errors name the object.
    label: Arc<str>,
    /// How views copy (see the module docs' "When the file shrinks").
    copies: Copies,
    /// Made the object (see [`Handle::made_here`]).
    created: bool,
    /// The device and inode of its file.
    identity: (u64, u64),
    /// Its file was lent out ([`Handle::lend`]): a copy of it may hold the object elsewhere.
    lent: AtomicBool,
}

impl Handle {
    /// Wraps `file`, which no name leads to here. With `separate`, views get a lock-free file
    /// of their own (for any file that may carry a name's lock: one received or handed in by a
    /// caller; never a file without a link, such as a memfd, which no name leads to).
    pub(super) fn new(file: OwnedFd, separate: bool) -> Handle {
        // One look at the file serves every question below.
        let st = fstat(&file).ok();
        // A file with no link (a memfd) has no name whose lock views could keep: it serves as
        // it is.
        let memory = match &st {
            Some(st) if separate && st.st_nlink != 0 => reopen(&file, st),
            _ => None,
        };
        Handle::with(file, None, memory, st)
    }

    /// Wraps `file`, opened (read-write when `write`) at the named object `name` and holding
    /// it; `st` is what the namespace saw of it (its size aside). Views get a lock-free file
    /// of their own, opened at the name, which most likely still leads to it (one path
    /// lookup); else (removed or replaced meanwhile) through the descriptor.
    pub(super) fn named(file: OwnedFd, name: Name, write: bool, st: &Stat) -> Handle {
        let memory = reopen_by_name(&name, write, st).or_else(|| reopen(&file, st));
        Handle::with(file, Some(name), memory, Some(*st))
    }

    fn with(
        file: OwnedFd,
        name: Option<Name>,
        memory: Option<OwnedFd>,
        st: Option<Stat>,
    ) -> Handle {
        let label: Arc<str> = match &name {
            Some(name) => format!("file mapping {}", name.display).into(),
            None => "file mapping".into(),
        };
        let identity = st.as_ref().map_or((0, 0), |st| (st.st_dev, st.st_ino));
        let copies = if st.is_some_and(|st| private_local(&st, name.as_ref())) {
            Copies::Direct
        } else {
            Copies::Safe
        };
        Handle {
            file: Some(file),
            memory,
            lease: name.as_ref().map(|n| Lease::object(n, Kind::Mapping)),
            name,
            label,
            copies,
            created: false,
            identity,
            lent: AtomicBool::new(false),
        }
    }

    /// Marks the handle as the one that made its named object (a create that found none): its
    /// drop may then remove the name through its own file, when no one else holds it.
    pub(super) fn made_here(mut self) -> Handle {
        self.created = true;
        self
    }

    pub(super) fn file(&self) -> BorrowedFd<'_> {
        match &self.file {
            Some(fd) => fd.as_fd(),
            None => unreachable!("a mapping owns its file until dropped"),
        }
    }

    /// The open file views are mapped from.
    /// Its file, lent to the caller, who may copy it (to another process): from then on the
    /// drop leaves the name to the namespace's own removal, which tells such copies apart.
    pub(super) fn lend(&self) -> BorrowedFd<'_> {
        self.lent.store(true, Ordering::Relaxed);
        self.file()
    }

    pub(super) fn memory(&self) -> BorrowedFd<'_> {
        match &self.memory {
            Some(fd) => fd.as_fd(),
            None => self.file(),
        }
    }

    pub(super) fn name(&self) -> Option<&Name> {
        self.name.as_ref()
    }

    pub(super) fn label(&self) -> &Arc<str> {
        &self.label
    }

    pub(super) fn copies(&self) -> Copies {
        self.copies
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Close first: the namespace must see this process's hold gone. Views hold no lock.
        drop(self.memory.take());
        // Only while no copy of the file can exist: a copy shares the file's hold, which would
        // then turn exclusive in place with another holder still alive.
        if self.created && !*self.lent.get_mut() {
            if let (Some(file), Some(name), Some(lease)) =
                (&self.file, &self.name, self.lease.take())
            {
                // The last holder's removal without opening the name again: on failure the
                // lease's own removal runs after the file is closed.
                match remove_if_last(file, name, self.identity) {
                    Ok(()) => lease.disarm(),
                    Err(_) => self.lease = Some(lease),
                }
            }
        }
        drop(self.file.take());
        drop(self.lease.take());
    }
}

/// Removes the name of the object this process made, if this handle's file (holding the object
/// shared, as every holder does) is its only holder: the hold turns exclusive in place, which
/// succeeds only when no other holder is left, and the name goes if it still leads to this file.
/// When another process holds it, nothing is done: the last holder to go removes it, as does
/// whoever meets it after every holder died. A failed conversion may leave the file with no hold
/// at all, which is what the close that follows does anyway.
fn remove_if_last(file: &OwnedFd, name: &Name, identity: (u64, u64)) -> std::io::Result<()> {
    use rustix::fs::{flock, statat, unlinkat, AtFlags, FlockOperation};
    use rustix::io::Errno;
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    // The name still leads to this file (`identity`, read when the handle was made: a file
    // keeps its device and inode), so it is linked.
    match statat(CWD, name.at.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(now) if (now.st_dev, now.st_ino) == identity => {}
        Ok(_) | Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    match unlinkat(CWD, name.at.as_str(), AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A second open file of the object at `name`, if the name still leads to the file `was` is of.
fn reopen_by_name(name: &Name, write: bool, was: &Stat) -> Option<OwnedFd> {
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let fresh = openat(
        CWD,
        name.at.as_str(),
        // NONBLOCK: whatever replaced the file at the name (a FIFO) must not hang the open.
        access | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
    .ok()?;
    let is = fstat(&fresh).ok()?;
    (was.st_dev == is.st_dev && was.st_ino == is.st_ino).then_some(fresh)
}

fn reopen(file: &OwnedFd, was: &Stat) -> Option<OwnedFd> {
    let access = fcntl_getfl(file).ok()? & OFlags::RWMODE;
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let fresh = openat(
        CWD,
        path.as_str(),
        access | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .ok()?;
    let is = fstat(&fresh).ok()?;
    (was.st_dev == is.st_dev && was.st_ino == is.st_ino).then_some(fresh)
}

fn private_local(st: &Stat, name: Option<&Name>) -> bool {
    let Some(name) = name else { return false };
    if name.display.starts_with("Global\\") || name.display.starts_with('/') {
        return false;
    }
    st.st_uid == rustix::process::geteuid().as_raw() && st.st_mode & 0o022 == 0
}
