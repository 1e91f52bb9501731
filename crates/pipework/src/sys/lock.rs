//! Byte-range locks that belong to an open file description (`F_OFD_SETLK`, `F_OFD_SETLKW`,
//! `F_OFD_GETLK`), one byte at a time.
//!
//! Unlike `flock`, one file can carry several independent locks (one per byte), and unlike classic
//! POSIX record locks they belong to the open file, not to the process: closing another descriptor
//! of the same file does not drop them, and the kernel releases them when the last descriptor of
//! the open file closes, including when the process is killed.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

fn request(kind: libc::c_short, offset: u64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers, for which all-zero bytes are valid.
    let mut lock: libc::flock = unsafe { MaybeUninit::zeroed().assume_init() };
    lock.l_type = kind;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = offset as libc::off_t;
    lock.l_len = 1;
    lock.l_pid = 0; // required by the OFD commands
    lock
}

fn fcntl_lock(fd: BorrowedFd<'_>, command: libc::c_int, lock: &mut libc::flock) -> io::Result<()> {
    loop {
        // SAFETY: `lock` is a valid, initialised flock the call may read and (for GETLK) write.
        let rc = unsafe { libc::fcntl(fd.as_raw_fd(), command, lock as *mut libc::flock) };
        if rc != -1 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Takes an exclusive lock on byte `offset` of `fd` if nobody else holds one: `Ok(false)` when
/// another open file holds a conflicting lock.
pub(crate) fn try_lock_byte(fd: BorrowedFd<'_>, offset: u64) -> io::Result<bool> {
    let mut lock = request(libc::F_WRLCK as libc::c_short, offset);
    match fcntl_lock(fd, libc::F_OFD_SETLK, &mut lock) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes an exclusive lock on byte `offset` of `fd`, waiting while another open file holds it.
pub(crate) fn lock_byte(fd: BorrowedFd<'_>, offset: u64) -> io::Result<()> {
    let mut lock = request(libc::F_WRLCK as libc::c_short, offset);
    fcntl_lock(fd, libc::F_OFD_SETLKW, &mut lock)
}

/// Releases this open file's lock on byte `offset` of `fd`.
pub(crate) fn unlock_byte(fd: BorrowedFd<'_>, offset: u64) -> io::Result<()> {
    let mut lock = request(libc::F_UNLCK as libc::c_short, offset);
    fcntl_lock(fd, libc::F_OFD_SETLK, &mut lock)
}

/// Whether another open file holds a lock on byte `offset` of `fd` (takes nothing).
pub(crate) fn byte_is_locked(fd: BorrowedFd<'_>, offset: u64) -> io::Result<bool> {
    let mut lock = request(libc::F_WRLCK as libc::c_short, offset);
    fcntl_lock(fd, libc::F_OFD_GETLK, &mut lock)?;
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}
