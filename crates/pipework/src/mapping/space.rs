//! A mapping's size: the bounds it must keep, and the room reserved for it when it is made, so
//! that no later access finds its page missing (which `mmap` reports with `SIGBUS`).

use std::io::{self, ErrorKind};
use std::os::fd::BorrowedFd;

use rustix::fs::{fallocate, fstat, fstatvfs, ftruncate, FallocateFlags};
use rustix::io::Errno;

use crate::sys::error::{error, invalid, named};
use crate::sys::shm::memory_and_swap;

/// Sizes up to this skip the checks that cost a system call and that the allocation makes
/// anyway: every machine has this much memory, and `fallocate` refuses it as fast when the room
/// is not there.
const SMALL: u64 = 16 << 20;

/// The largest size a file, and so a mapping, can have.
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// Checks the size of a new memory-backed mapping: not zero, a size a file can have, and no more
/// than this machine's memory and swap together (Win32 refuses a section its commit limit cannot
/// hold with `ERROR_NOT_ENOUGH_MEMORY`; here `OutOfMemory`).
pub(super) fn check_memory_size(size: u64, label: &str) -> io::Result<()> {
    if size == 0 {
        return Err(invalid(label, "a memory-backed mapping needs a size"));
    }
    check_file_size(size, label)?;
    if size <= SMALL {
        // No machine this runs on has less memory: spare the system call.
        return Ok(());
    }
    let total = memory_and_swap().map_err(|e| named(label, e))?;
    if size > total {
        return Err(error(
            ErrorKind::OutOfMemory,
            label,
            format_args!(
                "{size} bytes is more than this machine's memory and swap ({total} bytes) can hold"
            ),
        ));
    }
    Ok(())
}

/// Checks that `size` is a size a file can have.
pub(super) fn check_file_size(size: u64, label: &str) -> io::Result<()> {
    if size > MAX_FILE_SIZE {
        return Err(invalid(
            label,
            format_args!("size {size} is larger than any file can be ({MAX_FILE_SIZE} bytes)"),
        ));
    }
    Ok(())
}

/// Makes the file `fd` (`from` bytes long) `to` bytes long, with every byte from `from` on
/// allocated (`fallocate`), so that no access to them can fail later for want of room.
///
/// `StorageFull` naming `label` and `place` when the filesystem has no room (`ENOSPC`), and then
/// the file keeps its old length. A filesystem that cannot reserve (`EOPNOTSUPP`) only gets the
/// length (`ftruncate`): its pages are found, or not, when first written.
pub(super) fn reserve(
    fd: BorrowedFd<'_>,
    from: u64,
    to: u64,
    label: &str,
    place: &str,
) -> io::Result<()> {
    if to <= from {
        return Ok(());
    }
    let more = to - from;
    let full = || {
        error(
            ErrorKind::StorageFull,
            label,
            format_args!("no room for {more} more bytes in {place}"),
        )
    };
    // Fail at once, without allocating first, when the room is plainly not there (a small size
    // is as quickly refused by the allocation itself).
    if more > SMALL {
        if let Ok(fs) = fstatvfs(fd) {
            let free = fs.f_bfree.saturating_mul(fs.f_frsize);
            if fs.f_blocks != 0 && more > free {
                return Err(full());
            }
        }
    }
    match fallocate(fd, FallocateFlags::empty(), from, more) {
        Ok(()) => Ok(()),
        Err(Errno::OPNOTSUPP) | Err(Errno::NOSYS) => ftruncate(fd, to).map_err(|e| named(label, e)),
        Err(e) => {
            // Some filesystems keep what they allocated before running out: give it back.
            if fstat(fd).is_ok_and(|st| st.st_size as u64 != from) {
                let _ = ftruncate(fd, from);
            }
            Err(match e {
                Errno::NOSPC => full(),
                Errno::FBIG => error(
                    ErrorKind::FileTooLarge,
                    label,
                    format_args!("{place} cannot hold a file of {to} bytes"),
                ),
                e => named(label, e),
            })
        }
    }
}
