//! Shared memory: mapping a file into this process, and the raw accesses to memory that other
//! processes may change at any moment.
//!
//! A [`Region`] owns one `mmap`; it never hands out `&[u8]` or `&mut [u8]` over shared bytes.
//! Every access checks its bounds first, then copies or uses atomics, so a peer writing garbage can
//! change the values read but never make this process read outside the mapping.
//!
//! # Files that shrink
//! A page of a shared mapping that lies past its file's end (another process truncated the file,
//! or a full tmpfs could not give the page) raises `SIGBUS` on access, which kills the process.
//! A region whose file cannot shrink (a memfd sealed with `F_SEAL_SHRINK`), or whose mapper
//! trusts everyone who could shrink it ([`Copies::Direct`]), copies directly. Any other region
//! copies through the kernel (`process_vm_readv` / `process_vm_writev` on this very
//! process), which reports such a page as `EFAULT`: the copy fails with `UnexpectedEof` and the
//! process lives. That costs one system call per copy. Atomics and the raw pointer are direct in
//! every region: their users take on the risk (or use sealed memory).

use std::io;
use std::os::fd::AsFd;

use rustix::fs::{fcntl_get_seals, SealFlags};
use rustix::mm::{mmap, msync, munmap, MapFlags, MsyncFlags, ProtFlags};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

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

/// How a region's copies reach its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Copies {
    /// Directly when the file cannot shrink (a memfd sealed against shrinking), else through the
    /// kernel, so that a page cut away is an error and not `SIGBUS`.
    Safe,
    /// Directly: the caller trusts every process that could shrink the file not to.
    Direct,
}

/// One `mmap` of a file: unmapped on drop.
#[derive(Debug)]
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
    protection: Protection,
    /// Whether the file may shrink under the mapping: copies then go through the kernel.
    guarded: bool,
}

// SAFETY: the region is plain memory owned by this value; all access goes through atomics or
// copies that tolerate concurrent writers, so it may be used from any thread.
unsafe impl Send for Region {}
// SAFETY: as above: no method hands out a non-atomic reference to the shared bytes.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` bytes of `fd` from `offset` (a multiple of the page size).
    ///
    /// Its copies go through the kernel when the file may shrink ([`Copies::Safe`]).
    pub(crate) fn map(
        fd: impl AsFd,
        offset: u64,
        len: usize,
        protection: Protection,
    ) -> io::Result<Region> {
        Region::map_with(fd, offset, len, protection, Copies::Safe)
    }

    /// Like [`Region::map`], with copies made as `copies` says.
    pub(crate) fn map_with(
        fd: impl AsFd,
        offset: u64,
        len: usize,
        protection: Protection,
        copies: Copies,
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
            guarded: copies == Copies::Safe && may_shrink(fd),
        })
    }

    /// Whether copies go through the kernel because the file could shrink under the mapping.
    pub(crate) fn is_guarded(&self) -> bool {
        self.guarded && kernel_copy_works()
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
        if self.is_guarded() {
            // The range lies inside the mapping (checked above).
            return self.kernel_copy(offset, buf.as_mut_ptr(), buf.len(), Direction::Out);
        }
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
        if self.is_guarded() {
            // The range lies inside a writable mapping (checked above); the kernel only reads
            // `data`.
            return self.kernel_copy(offset, data.as_ptr().cast_mut(), data.len(), Direction::In);
        }
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

    /// Copies `len` bytes between `local` and the region at `offset`, through the kernel: a page
    /// that is gone (its file shrank) fails the copy with `UnexpectedEof` instead of raising
    /// `SIGBUS`. The caller has checked that `offset..offset + len` lies inside the region and,
    /// for [`Direction::In`], that the region is writable; `local` is valid for `len` bytes
    /// (for writing, for [`Direction::Out`]).
    fn kernel_copy(
        &self,
        offset: usize,
        local: *mut u8,
        len: usize,
        direction: Direction,
    ) -> io::Result<()> {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let mut done = 0;
        while done < len {
            let local_iov = libc::iovec {
                // SAFETY: `done < len`, so this stays inside the caller's buffer.
                iov_base: unsafe { local.add(done) }.cast(),
                iov_len: len - done,
            };
            let region_iov = libc::iovec {
                // SAFETY: `offset + len` is inside the region (the caller checked it).
                iov_base: unsafe { self.ptr.as_ptr().add(offset + done) }.cast(),
                iov_len: len - done,
            };
            // SAFETY: both vectors describe memory of this process valid for their lengths (the
            // caller's buffer and the checked range of this mapping); the kernel copies between
            // them with fault handling, so a vanished page is an error, not a signal. No Rust
            // reference to the region's bytes exists.
            let n = unsafe {
                match direction {
                    Direction::Out => libc::process_vm_readv(me, &local_iov, 1, &region_iov, 1, 0),
                    Direction::In => libc::process_vm_writev(me, &local_iov, 1, &region_iov, 1, 0),
                }
            };
            match n {
                n if n > 0 => done += n as usize,
                0 => return Err(cut_short(offset + done)),
                _ => {
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EINTR) => {}
                        Some(libc::EFAULT) => return Err(cut_short(offset + done)),
                        _ => return Err(e),
                    }
                }
            }
        }
        Ok(())
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

/// Which way a kernel copy goes.
#[derive(Clone, Copy)]
enum Direction {
    /// From the region to the caller's buffer.
    Out,
    /// From the caller's buffer into the region.
    In,
}

fn cut_short(at: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "the memory at offset {at} of the view is gone: its file was cut short (or its \
             filesystem is full)"
        ),
    )
}

/// Whether the file behind `fd` can shrink: anything but a memfd sealed against shrinking.
fn may_shrink(fd: impl AsFd) -> bool {
    !fcntl_get_seals(fd).is_ok_and(|seals| seals.contains(SealFlags::SHRINK))
}

/// Whether `process_vm_readv` works on this process (a seccomp filter may refuse it): probed
/// once. Without it, copies are direct in every region.
fn kernel_copy_works() -> bool {
    // 0: not probed yet, 1: works, 2: refused.
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let source = [1u8; 8];
    let mut target = [0u8; 8];
    let local = libc::iovec {
        iov_base: target.as_mut_ptr().cast(),
        iov_len: target.len(),
    };
    let remote = libc::iovec {
        iov_base: source.as_ptr().cast_mut().cast(),
        iov_len: source.len(),
    };
    let me = rustix::process::getpid().as_raw_nonzero().get();
    // SAFETY: both vectors describe live local arrays of 8 bytes; the kernel writes only into
    // `target`.
    let n = unsafe { libc::process_vm_readv(me, &local, 1, &remote, 1, 0) };
    let works = n == 8 && target == source;
    STATE.store(if works { 1 } else { 2 }, Ordering::Relaxed);
    works
}

/// Bytes of memory and swap this machine has in all: no memory-backed object can be larger.
pub(crate) fn memory_and_swap() -> io::Result<u64> {
    // SAFETY: `sysinfo` is plain old data; all-zero is a valid value for the kernel to fill.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid, writable `sysinfo` that outlives the call.
    if unsafe { libc::sysinfo(&mut info) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let unit = u64::from(info.mem_unit.max(1));
    Ok((info.totalram as u64)
        .saturating_add(info.totalswap as u64)
        .saturating_mul(unit))
}

/// The page size, which is also the allocation granularity of views.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}
