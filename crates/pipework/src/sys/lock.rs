//! Byte-range locks owned by an open file description (`F_OFD_SETLK`, `F_OFD_GETLK`).
//!
//! The kernel drops them when the last descriptor of the description closes, including when the
//! process is killed: they mark what is alive without leaving anything behind.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// What to do with a byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lock {
    /// A shared lock.
    Read,
    /// An exclusive lock.
    Write,
    /// Releases this description's lock on the range.
    Unlock,
}

fn flock_for(lock: Lock, start: u64, len: u64) -> libc::flock {
    // SAFETY: `flock` is plain old data; all-zero is a valid value (and l_pid must be 0 for OFD).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = match lock {
        Lock::Read => libc::F_RDLCK,
        Lock::Write => libc::F_WRLCK,
        Lock::Unlock => libc::F_UNLCK,
    } as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = start as _;
    fl.l_len = len as _;
    fl
}

/// Sets `lock` on `[start, start + len)`. Without `wait`, returns `Ok(false)` when another
/// description holds a conflicting lock; with `wait`, blocks until it can be taken.
pub(crate) fn set_lock(
    fd: impl AsFd,
    lock: Lock,
    start: u64,
    len: u64,
    wait: bool,
) -> io::Result<bool> {
    let fl = flock_for(lock, start, len);
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: `fl` is a valid, initialised `flock` that outlives the call; the descriptor is
        // borrowed for the call's duration.
        let rc = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), cmd, &fl) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EACCES) if !wait => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// The start of the first range within `[start, start + len)` on which another description holds
/// a lock that would conflict with a write lock, if any.
pub(crate) fn first_holder(fd: impl AsFd, start: u64, len: u64) -> io::Result<Option<(u64, u64)>> {
    let mut fl = flock_for(Lock::Write, start, len);
    // SAFETY: `fl` is a valid `flock` the kernel overwrites in place; it outlives the call.
    let rc = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if fl.l_type == libc::F_UNLCK as _ {
        Ok(None)
    } else {
        Ok(Some((fl.l_start as u64, fl.l_len as u64)))
    }
}

/// Bytes written to the socket `fd` that its peer has not read yet (`SIOCOUTQ`).
pub(crate) fn unread_by_peer(fd: impl AsFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one `int` through the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}

/// Takes an exclusive lock on byte `offset` of `fd` if no other open file holds one: `Ok(false)`
/// when another holds a conflicting lock.
pub(crate) fn try_lock_byte(fd: impl AsFd, offset: u64) -> io::Result<bool> {
    set_lock(fd, Lock::Write, offset, 1, false)
}

/// Takes an exclusive lock on byte `offset` of `fd`, waiting while another open file holds it.
pub(crate) fn lock_byte(fd: impl AsFd, offset: u64) -> io::Result<()> {
    set_lock(fd, Lock::Write, offset, 1, true).map(drop)
}

/// Releases this open file's lock on byte `offset` of `fd`.
pub(crate) fn unlock_byte(fd: impl AsFd, offset: u64) -> io::Result<()> {
    set_lock(fd, Lock::Unlock, offset, 1, false).map(drop)
}

/// Whether another open file holds a lock on byte `offset` of `fd` (takes nothing).
pub(crate) fn byte_is_locked(fd: impl AsFd, offset: u64) -> io::Result<bool> {
    Ok(first_holder(fd, offset, 1)?.is_some())
}
