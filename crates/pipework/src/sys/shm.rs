//! A page of a file mapped shared between processes, reached only through atomics and copies.
//!
//! Another process can change the page at any moment, so no Rust reference to its bytes is ever
//! handed out: 64-bit words are read and written as atomics, other bytes are copied in and out.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicU64;

/// `len` bytes at the start of a file, mapped shared and writable.
pub(crate) struct SharedPage {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory accessed only through atomics and copies; it can be used and
// unmapped from any thread.
unsafe impl Send for SharedPage {}
// SAFETY: as above: shared access goes through atomics or byte copies, never through references.
unsafe impl Sync for SharedPage {}

impl SharedPage {
    /// Maps the first `len` bytes of `fd`, which must be at least that long (else accesses would
    /// fault: the caller checks the file's size first and never shrinks it below `len`).
    pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> io::Result<SharedPage> {
        // SAFETY: a fresh shared mapping of an open file chosen by the kernel; no existing memory
        // is touched.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(addr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap: null"))?;
        Ok(SharedPage { base, len })
    }

    /// The 64-bit word at `offset` (a multiple of 8 inside the page; a constant of the caller's
    /// layout, so a bad one is a programming error).
    pub(crate) fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset.is_multiple_of(8) && offset + 8 <= self.len,
            "bad word offset {offset}"
        );
        // SAFETY: in bounds and 8-aligned (the mapping is page-aligned); the memory lives as long
        // as `self`, and AtomicU64 tolerates concurrent access from other processes.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) }
    }

    /// Copies bytes out of the page starting at `offset` (clamped to the page).
    pub(crate) fn read(&self, offset: usize, out: &mut [u8]) {
        let n = out.len().min(self.len.saturating_sub(offset));
        // SAFETY: `offset..offset+n` lies inside the mapping; `out` is a distinct local buffer.
        // The bytes may be changing under a writer in another process: they are only copied, and
        // every value taken from them is checked by the caller.
        unsafe { ptr::copy_nonoverlapping(self.base.as_ptr().add(offset), out.as_mut_ptr(), n) }
    }

    /// Copies `data` into the page at `offset`; fails if it does not fit.
    pub(crate) fn write(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        if offset
            .checked_add(data.len())
            .is_none_or(|end| end > self.len)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "does not fit in the page",
            ));
        }
        // SAFETY: in bounds (checked above); `data` is a distinct buffer.
        unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(offset), data.len())
        }
        Ok(())
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, which nothing references any more.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
