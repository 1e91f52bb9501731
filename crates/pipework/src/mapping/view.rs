//! Views of a file mapping (`MapViewOfFile`): bounds-checked copies, plain-old-data values and
//! atomics at offsets.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;

use super::{Access, Pod};
use crate::sys::error::named;
use crate::sys::shm::{Copies, Protection, Region};

/// A view of a [`super::FileMapping`], unmapped on drop (`UnmapViewOfFile`). It keeps the
/// mapping's memory alive on its own, but not its name: once the last handle is closed the
/// name is free even while views remain (see [the module docs](super#names-and-lifetime)).
///
/// Offsets below are from the start of the view. Every access is bounds-checked: an offset or
/// length that does not fit is `InvalidInput`, a write to a read-only view `PermissionDenied`.
/// A copy that finds its memory gone, because another process cut the file short, is
/// `UnexpectedEof`, not `SIGBUS`, wherever someone this user does not trust could do that (see
/// [the module docs](super#when-the-file-shrinks)).
#[derive(Debug)]
pub struct View {
    region: Region,
    offset: u64,
    access: Access,
    label: Arc<str>,
    /// Tells the handle's last drop that this view may still map its file.
    _maps: Arc<()>,
}

impl View {
    pub(super) fn map(
        (memory, maps): (BorrowedFd<'_>, Arc<()>),
        access: Access,
        offset: u64,
        len: usize,
        copies: Copies,
        label: Arc<str>,
    ) -> io::Result<View> {
        let protection = match access {
            Access::Read => Protection::Read,
            Access::Write => Protection::ReadWrite,
            Access::Copy => Protection::Copy,
        };
        let region = Region::map_with(memory, offset, len, protection, copies)
            .map_err(|e| named(&label, e))?;
        Ok(View {
            region,
            offset,
            access,
            label,
            _maps: maps,
        })
    }

    fn named<T>(&self, result: io::Result<T>) -> io::Result<T> {
        result.map_err(|e| named(&self.label, e))
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Never true: views are at least one byte.
    pub fn is_empty(&self) -> bool {
        self.region.len() == 0
    }

    /// Where in the mapping it starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The access it was mapped with.
    pub fn access(&self) -> Access {
        self.access
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> io::Result<()> {
        self.named(self.region.read_at(offset, buf))
    }

    /// Copies `data` into the view at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> io::Result<()> {
        self.named(self.region.write_at(offset, data))
    }

    /// Reads a plain-old-data value at `offset` (any alignment), by copy.
    pub fn read_pod<T: Pod>(&self, offset: usize) -> io::Result<T> {
        let mut value = T::zeroed();
        self.named(
            self.region
                .read_at(offset, bytemuck::bytes_of_mut(&mut value)),
        )?;
        Ok(value)
    }

    /// Writes a plain-old-data value at `offset` (any alignment), by copy.
    pub fn write_pod<T: Pod>(&self, offset: usize, value: &T) -> io::Result<()> {
        self.named(self.region.write_at(offset, bytemuck::bytes_of(value)))
    }

    /// The 32-bit atomic at `offset` (4-byte aligned), shared with every process that maps the
    /// same bytes (for [`Access::Copy`], until the page is copied). Writable views only.
    ///
    /// Atomics touch the memory directly: if another process cuts the file short under them,
    /// using one raises `SIGBUS` (unnamed mappings cannot shrink, and only this user can shrink
    /// a `Local\` one; see [the module docs](super#when-the-file-shrinks)).
    pub fn atomic_u32(&self, offset: usize) -> io::Result<&AtomicU32> {
        self.named(self.region.atomic_u32(offset))
    }

    /// The 64-bit atomic at `offset` (8-byte aligned). Writable views only. As for
    /// [`View::atomic_u32`], a file cut short under it makes it raise `SIGBUS`.
    pub fn atomic_u64(&self, offset: usize) -> io::Result<&AtomicU64> {
        self.named(self.region.atomic_u64(offset))
    }

    /// Writes the view's changed pages to the file and waits until they are written
    /// (`FlushViewOfFile` followed by `FlushFileBuffers`'s wait, for this range).
    pub fn flush(&self) -> io::Result<()> {
        self.named(self.region.flush(0, self.region.len()))
    }

    /// Like [`View::flush`], for `len` bytes from `offset`.
    pub fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
        self.named(self.region.flush(offset, len))
    }

    /// The address of the view's first byte, for code that must hand memory to something that
    /// only takes a pointer.
    ///
    /// # Safety
    /// The pointer is valid for [`View::len`] bytes while the view lives. Other processes may
    /// read and write those bytes at any time, so the caller must never create a Rust reference
    /// (`&T`, `&mut T`, `&[u8]`) to them except to types built for sharing (atomics), must never
    /// write through it for an [`Access::Read`] view, and must treat every value it reads as
    /// untrusted (check indices and lengths before using them). Unlike the copies, accesses
    /// through the pointer raise `SIGBUS` where another process cut the file short.
    pub unsafe fn as_ptr(&self) -> *mut u8 {
        self.region.as_ptr()
    }
}
