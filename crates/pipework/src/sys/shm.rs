//! Shared memory: mapping a file into this process, and the raw accesses to memory that other
//! processes may change at any moment.
//!
//! A [`Region`] owns one `mmap`; it never hands out `&[u8]` or `&mut [u8]` over shared bytes.
//! Every access checks its bounds first, then copies or uses atomics, so a peer writing garbage can
//! change the values read but never make this process read outside the mapping.

use std::io;
use std::os::fd::AsFd;

use rustix::mm::{mmap, msync, munmap, MapFlags, MsyncFlags, ProtFlags};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// How a region is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protection {
    /// `PROT_READ`, `MAP_SHARED`.
    Read,
    /// `PROT_READ | PROT_WRITE`, `MAP_SHARED`.
    ReadWrite,
    /// `PROT_READ | PROT_WRITE`, `MAP_PRIVATE`: writes go to private copies of the pages.
    Copy,
}

/// One `mmap` of a file: unmapped on drop.
#[derive(Debug)]
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
    protection: Protection,
}

// SAFETY: the region is plain memory owned by this value; all access goes through atomics or
// copies that tolerate concurrent writers, so it may be used from any thread.
unsafe impl Send for Region {}
// SAFETY: as above: no method hands out a non-atomic reference to the shared bytes.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` bytes of `fd` from `offset` (a multiple of the page size).
    pub(crate) fn map(
        fd: impl AsFd,
        offset: u64,
        len: usize,
        protection: Protection,
    ) -> io::Result<Region> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot map an empty view",
            ));
        }
        let (prot, flags) = match protection {
            Protection::Read => (ProtFlags::READ, MapFlags::SHARED),
            Protection::ReadWrite => (ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED),
            Protection::Copy => (ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE),
        };
        // SAFETY: a fresh mapping at an address the kernel picks (null hint, no MAP_FIXED); it
        // aliases no Rust object.
        let ptr = unsafe { mmap(ptr::null_mut(), len, prot, flags, fd.as_fd(), offset) }?;
        Ok(Region {
            ptr: NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?,
            len,
            protection,
        })
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first byte.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn check(&self, offset: usize, len: usize, align: usize) -> io::Result<()> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{len} byte(s) at offset {offset} do not fit in a view of {} bytes",
                    self.len
                ),
            ));
        }
        if !(self.ptr.as_ptr() as usize + offset).is_multiple_of(align) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("offset {offset} is not aligned to {align} bytes"),
            ));
        }
        Ok(())
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.protection == Protection::Read {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the view is read-only",
            ));
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`.
    pub(crate) fn read_at(&self, offset: usize, buf: &mut [u8]) -> io::Result<()> {
        self.check(offset, buf.len(), 1)?;
        // SAFETY: the source range lies inside the mapping (checked above) and cannot overlap
        // `buf`, which is ordinary process memory. Bytes changed concurrently by another process
        // may be read torn; they are plain bytes, every value is valid.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(offset), buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Copies `data` to `offset`.
    pub(crate) fn write_at(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        self.check_writable()?;
        self.check(offset, data.len(), 1)?;
        // SAFETY: the destination range lies inside a writable mapping (checked above), and no
        // Rust reference to those bytes exists (the region never hands one out).
        unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(offset), data.len())
        };
        Ok(())
    }

    /// An atomic 32-bit word at `offset` (4-byte aligned), living as long as the region.
    pub(crate) fn atomic_u32(&self, offset: usize) -> io::Result<&AtomicU32> {
        self.check_writable()?;
        self.check(offset, 4, 4)?;
        // SAFETY: in bounds and aligned (checked); the memory is writable and mapped for the
        // lifetime of `&self`; AtomicU32 tolerates concurrent access from other processes.
        Ok(unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(offset).cast()) })
    }

    /// An atomic 64-bit word at `offset` (8-byte aligned), living as long as the region.
    pub(crate) fn atomic_u64(&self, offset: usize) -> io::Result<&AtomicU64> {
        self.check_writable()?;
        self.check(offset, 8, 8)?;
        // SAFETY: as for `atomic_u32`, with 8 bytes and 8-byte alignment checked.
        Ok(unsafe { AtomicU64::from_ptr(self.ptr.as_ptr().add(offset).cast()) })
    }

    /// Writes changed pages in `offset..offset + len` back to the file (`msync(MS_SYNC)`).
    pub(crate) fn flush(&self, offset: usize, len: usize) -> io::Result<()> {
        self.check(offset, len, 1)?;
        let page = page_size();
        let start = offset - offset % page;
        let len = (offset + len - start).max(1);
        // SAFETY: the range lies inside this mapping (checked, start rounded down to its page,
        // which the mapping's page-aligned start contains).
        unsafe { msync(self.ptr.as_ptr().add(start).cast(), len, MsyncFlags::SYNC) }?;
        Ok(())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly one mapping made in `map`, unmapped only here; nothing
        // borrowed from the region outlives it (references are tied to `&self`).
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The page size, which is also the allocation granularity of views.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}
