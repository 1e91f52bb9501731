//! A mapping handle's open files: the one that holds the object's name, and a second, lock-free
//! one of the same object that views are mapped from.
//!
//! A named object's holders each keep a shared `flock` on their open file (see the namespace),
//! and an `mmap` keeps its open file alive until it is unmapped. Were views mapped from the
//! handle's own file, a view would keep the lock, and so the name, after the last handle closed.
//! Views are therefore mapped from a file opened anew on the same object (`/proc/self/fd/N`,
//! checked to be the same device and inode), which never takes a lock: the name goes with the
//! last handle, the memory with the last view.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{fcntl_getfl, fstat, openat, Mode, OFlags, CWD};

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
}

impl Handle {
    /// Wraps `file`. With `separate`, views get a lock-free file of their own (for any file
    /// that may carry a name's lock: one opened by name, received, or handed in by a caller;
    /// never a file without a link, such as a memfd, which no name leads to).
    pub(super) fn new(file: OwnedFd, name: Option<Name>, separate: bool) -> Handle {
        let label: Arc<str> = match &name {
            Some(name) => format!("file mapping {}", name.display).into(),
            None => "file mapping".into(),
        };
        // A file with no link (a memfd) has no name whose lock views could keep: it serves as
        // it is.
        let memory = if separate && fstat(&file).is_ok_and(|st| st.st_nlink != 0) {
            reopen(&file)
        } else {
            None
        };
        let copies = if private_local(&file, name.as_ref()) {
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
        }
    }

    /// The handle's own open file.
    pub(super) fn file(&self) -> BorrowedFd<'_> {
        match &self.file {
            Some(fd) => fd.as_fd(),
            None => unreachable!("a mapping owns its file until dropped"),
        }
    }

    /// The open file views are mapped from.
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
        drop(self.file.take());
        drop(self.lease.take());
    }
}

/// The same object as `file`, opened anew with the same access: a new open file description,
/// which holds no lock. `None` when that cannot be done (no `/proc`, or the file's permissions
/// no longer let this process open it: then views pin the handle's file, and a name lives on
/// while they do).
fn reopen(file: &OwnedFd) -> Option<OwnedFd> {
    let access = fcntl_getfl(file).ok()? & OFlags::RWMODE;
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let fresh = openat(
        CWD,
        path.as_str(),
        access | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )
    .ok()?;
    let (was, is) = (fstat(file).ok()?, fstat(&fresh).ok()?);
    (was.st_dev == is.st_dev && was.st_ino == is.st_ino).then_some(fresh)
}

/// Whether `file` is a `Local\` named object that no one but this user can write, and so
/// shrink: its views may copy directly, as only this user's own processes could cut it short
/// (and they could as well kill this one). Everything else another user or program may shrink.
fn private_local(file: &OwnedFd, name: Option<&Name>) -> bool {
    let Some(name) = name else { return false };
    if name.display.starts_with("Global\\") || name.display.starts_with('/') {
        return false;
    }
    fstat(file)
        .is_ok_and(|st| st.st_uid == rustix::process::geteuid().as_raw() && st.st_mode & 0o022 == 0)
}
