//! A mapping handle's open files: the one that holds the object's name and that views are
//! mapped from, and the one lent out to other processes.
//!
//! A named object's holders each keep a shared `flock` on their open file (see the namespace),
//! and an `mmap` keeps its open file alive, lock and all, until it is unmapped. A handle that
//! this process created or opened by name maps its views from its own file and, should views
//! remain when it closes, lets go of the lock in place first (`LOCK_UN`): the name goes with the
//! last handle, the memory with the last view. That file is never handed out, so no one else's
//! hold rides on it: what [`Handle::lend`] gives (to copy into another process) is a second open
//! file of the object, holding it in the same way, made at the first lend.
//!
//! A file whose lock may be someone else's (one received from another process, or handed in by
//! a caller) is never let go of in place: its views are mapped from a file opened anew on the
//! same object (`/proc/self/fd/N`, checked to be the same device and inode), which never takes
//! a lock.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rustix::fs::{fcntl_getfl, flock, fstat, openat, FlockOperation, Mode, OFlags, Stat, CWD};

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
    /// no lock, it is this handle's own, or no second file could be opened).
    memory: Option<OwnedFd>,
    /// `file` is this process's own open file of a named object, created or opened here and
    /// never lent: its hold may be let go of in place.
    own: bool,
    /// What [`Handle::lend`] lends for an `own` file: a second open file holding the object.
    lent_file: OnceLock<OwnedFd>,
    /// Cloned into every view: more than one reference means a view may still map `file`.
    views: Arc<()>,
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
    /// `file` itself was lent out ([`Handle::lend`]): a copy of it may hold the object
    /// elsewhere.
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

    /// Wraps `file`, this process's own open file of the named object `name`, holding it; `st`
    /// is what the namespace saw of it (its size aside). Views map it.
    pub(super) fn named(file: OwnedFd, name: Name, st: &Stat) -> Handle {
        let mut handle = Handle::with(file, Some(name), None, Some(*st));
        handle.own = true;
        handle
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
            own: false,
            lent_file: OnceLock::new(),
            views: Arc::new(()),
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

    /// An open file of the object for the caller, who may copy it (to another process) and so
    /// hold the object as long as a copy lives. For an `own` file, a second one holding the
    /// object (see the module docs); else, or when none can be made, the handle's own file,
    /// whose drop then leaves the name to the namespace's own removal, which tells such copies
    /// apart.
    pub(super) fn lend(&self) -> BorrowedFd<'_> {
        if self.own {
            if self.lent_file.get().is_none() {
                if let Some(fd) = self.second_hold() {
                    // Another thread may have set one first: this one then closes.
                    let _ = self.lent_file.set(fd);
                }
            }
            if let Some(fd) = self.lent_file.get() {
                return fd.as_fd();
            }
        }
        self.lent.store(true, Ordering::Relaxed);
        self.file()
    }

    /// A second open file of this handle's object, holding it as the handle's does.
    fn second_hold(&self) -> Option<OwnedFd> {
        let file = self.file.as_ref()?;
        let st = fstat(file).ok()?;
        let fresh = reopen(file, &st)?;
        // The handle's own hold keeps any remover's exclusive one away: this cannot wait.
        flock(&fresh, FlockOperation::NonBlockingLockShared).ok()?;
        Some(fresh)
    }

    /// The open file views are mapped from, and the token each view keeps while it maps it.
    pub(super) fn memory(&self) -> (BorrowedFd<'_>, Arc<()>) {
        let fd = match &self.memory {
            Some(fd) => fd.as_fd(),
            None => self.file(),
        };
        (fd, self.views.clone())
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
        // The views' own file (received and caller-given files) holds no lock.
        drop(self.memory.take());
        // Copies of the lent file in other processes keep their hold; this one goes.
        drop(self.lent_file.take());
        let lent = *self.lent.get_mut();
        // Only while no copy of the file can exist: a copy shares the file's hold, which would
        // then turn exclusive in place with another holder still alive.
        if self.created && !lent {
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
        if self.own && !lent && Arc::strong_count(&self.views) > 1 {
            // Views still map the file, and would keep its hold (and so the name) with it: let
            // go of the hold in place. No one else's rides on this file.
            if let Some(file) = &self.file {
                let _ = flock(file, FlockOperation::Unlock);
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
    use rustix::fs::{statat, unlinkat, AtFlags};
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
