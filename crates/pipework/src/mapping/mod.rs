//! File mappings: memory shared between processes, backed by memory (named or unnamed) or by a
//! file, seen through views that copy in and out, never through a `&mut [u8]` another process
//! could change under Rust's feet.
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreateFileMapping(INVALID_HANDLE_VALUE, .., size, NULL)` | [`FileMapping::anonymous`] |
//! | `CreateFileMapping(INVALID_HANDLE_VALUE, .., size, name)` | [`FileMapping::create`] |
//! | `CreateFileMapping(hFile, .., protect, size, NULL)` | [`FileMapping::from_file`] |
//! | `GetLastError() == ERROR_ALREADY_EXISTS` after create | [`FileMapping::already_existed`] |
//! | `OpenFileMapping(access, .., name)` | [`FileMapping::open`] |
//! | `MapViewOfFile(h, access, offset, length)` | [`FileMapping::map_view`] |
//! | `FILE_MAP_READ` / `FILE_MAP_WRITE` / `FILE_MAP_COPY` | [`Access::Read`] / [`Access::Write`] / [`Access::Copy`] |
//! | `PAGE_READONLY` / `PAGE_READWRITE` / `PAGE_WRITECOPY` | [`Protect`] |
//! | `GetSystemInfo().dwAllocationGranularity` | [`allocation_granularity`] |
//! | `FlushViewOfFile` | [`View::flush`], [`View::flush_range`] |
//! | `UnmapViewOfFile` | drop the [`View`] |
//! | `CloseHandle` | drop the [`FileMapping`] |
//! | reading and writing through the view's pointer | [`View::read`], [`View::write`], [`View::read_pod`], [`View::write_pod`], [`View::atomic_u32`], [`View::atomic_u64`], [`View::as_ptr`] |
//!
//! The documentation's named shared memory, both halves:
//!
//! ```
//! use pipework::mapping::{Access, FileMapping};
//!
//! // First process.
//! let mapping = FileMapping::create("Local\\doc-sample", 256)?;
//! let view = mapping.map_view(Access::Write, 0, 0)?;
//! view.write(0, b"Message from first process.")?;
//!
//! // Second process.
//! let other = FileMapping::open("Local\\doc-sample", Access::Read)?;
//! let seen = other.map_view(Access::Read, 0, 0)?;
//! let mut text = [0u8; 27];
//! seen.read(0, &mut text)?;
//! assert_eq!(&text, b"Message from first process.");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Names and lifetime
//! Named mappings share one namespace with [`crate::sync`]'s objects: `Local\x` (this user; also
//! plain `x`), `Global\x` (every user), and `/x` for a POSIX shared-memory name made by another
//! program. Each is a file in `/dev/shm` ([`FileMapping::os_name`]), so Python's
//! `multiprocessing.shared_memory.SharedMemory(name=...)` attaches to it, and pipework opens
//! Python's as `/name`. A mapping lives until its last handle and view are gone, in any order;
//! after every holder died (even by `kill -9`) its name is reclaimed by the next create, open
//! or [`list`], so the same name can be created afresh. Only pipework processes count as holders
//! (by a shared `flock` on the file): a Python process attached to a pipework mapping keeps its
//! memory but not the name, and pipework never removes a segment another program created
//! (only [`FileMapping::remove`] does). Named mappings are memory-backed; a file-backed mapping
//! is shared by handing its handle (or the file itself) to the other process. A child that
//! another thread is starting holds copies of every handle for the moment between its `fork` and
//! its `exec` (they are close-on-exec): a name whose last handle is dropped in that moment lives
//! on until the child has started its program.
//!
//! # From Python
//! `multiprocessing.shared_memory.SharedMemory(name=...)`, given [`FileMapping::os_name`],
//! attaches to a named mapping, but up to Python 3.12 it also hands the segment to its resource
//! tracker, which *removes the name* when the Python process exits, as if the Python side had
//! created it: pipework processes keep their memory, but opening the mapping by name fails from
//! then on. Attach so that the tracker keeps out of it, and never call `unlink()`:
//!
//! ```text
//! # Python 3.13 and later
//! from multiprocessing.shared_memory import SharedMemory
//! shm = SharedMemory(name=os_name, track=False)
//! # Python 3.8 to 3.12
//! from multiprocessing import shared_memory, resource_tracker
//! shm = shared_memory.SharedMemory(name=os_name)
//! resource_tracker.unregister(shm._name, "shared_memory")
//! ```
//!
//! `pipework mapping info NAME` prints these lines with the mapping's own name filled in.
//!
//! # Safety of shared memory
//! A view never lends out Rust references to its bytes, because another process may change them
//! at any moment: it copies in and out at offsets, reads and writes plain-old-data values
//! ([`Pod`]) by copy, and lends atomics, which are made for sharing. Every offset is checked
//! against the view. [`View::as_ptr`] gives the raw pointer to code that takes on the contract
//! itself. A process that shrinks the file under a view makes accesses beyond the new end raise
//! `SIGBUS`, as for any `mmap`; unnamed mappings are sealed memfds, which cannot shrink.

mod view;

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{
    fcntl_add_seals, fcntl_getfl, fstat, ftruncate, memfd_create, MemfdFlags, OFlags, SealFlags,
};

pub use bytemuck::Pod;
pub use view::View;

use crate::sync::namespace::{self, Entry, Kind, Name};

/// How a mapping object may be viewed (`PAGE_READONLY`, `PAGE_READWRITE`, `PAGE_WRITECOPY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protect {
    /// Views may read ([`Access::Read`]) or copy on write ([`Access::Copy`]).
    ReadOnly,
    /// Views may also write through to the object ([`Access::Write`]).
    ReadWrite,
    /// Like `ReadOnly`: every writing view is a private copy.
    WriteCopy,
}

/// The access a handle or a view asks for (`FILE_MAP_READ`, `FILE_MAP_WRITE`, `FILE_MAP_COPY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write, seen by every other view of the object.
    Write,
    /// Read and write, but written pages become private copies no one else sees.
    Copy,
}

/// The granularity view offsets must be multiples of (the page size).
pub fn allocation_granularity() -> u64 {
    crate::sys::shm::page_size() as u64
}

/// The open file behind a mapping and its views; lets go of the name when the last one goes.
#[derive(Debug)]
struct Backing {
    /// `Some` until dropped.
    file: Option<OwnedFd>,
    name: Option<Name>,
}

impl Backing {
    fn fd(&self) -> BorrowedFd<'_> {
        match &self.file {
            Some(fd) => fd.as_fd(),
            None => unreachable!("a mapping owns its file until dropped"),
        }
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        // Close first: the namespace must see this process's hold gone.
        drop(self.file.take());
        if let Some(name) = &self.name {
            namespace::release(name);
        }
    }
}

/// A file-mapping object: memory (named or unnamed) or a file, shared by every process that holds
/// it, seen through [`View`]s.
#[derive(Debug)]
pub struct FileMapping {
    backing: Arc<Backing>,
    protect: Protect,
    existed: bool,
}

impl FileMapping {
    /// An unnamed memory-backed mapping of `size` zeroed bytes, shared by handing its handle to
    /// another process (inheritance, [`crate::handle::send`]).
    pub fn anonymous(size: u64) -> io::Result<FileMapping> {
        check_size(size, "unnamed mapping")?;
        let fd = memfd_create(
            "pipework-mapping",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        ftruncate(&fd, size)?;
        fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        Ok(FileMapping::from_parts(fd, None, Protect::ReadWrite, false))
    }

    /// Creates the named memory-backed mapping `name` of `size` zeroed bytes, or opens the
    /// existing one (then [`FileMapping::already_existed`] is true and its own size stands).
    ///
    /// `AlreadyExists` when the name belongs to a mutex, semaphore or event.
    pub fn create(name: &str, size: u64) -> io::Result<FileMapping> {
        let parsed = Name::parse(name)?;
        check_size(size, name)?;
        let created = namespace::create(&parsed, Kind::Mapping, |fd| Ok(ftruncate(fd, size)?))?;
        Ok(FileMapping::from_parts(
            created.fd,
            Some(parsed),
            Protect::ReadWrite,
            created.existed,
        ))
    }

    /// Opens the existing named mapping `name` with `access` (`OpenFileMapping`). `NotFound`
    /// when there is none.
    pub fn open(name: &str, access: Access) -> io::Result<FileMapping> {
        let parsed = Name::parse(name)?;
        let write = access == Access::Write;
        let fd = namespace::open(&parsed, Kind::Mapping, write)?;
        let protect = if write {
            Protect::ReadWrite
        } else {
            Protect::ReadOnly
        };
        Ok(FileMapping::from_parts(fd, Some(parsed), protect, true))
    }

    /// A mapping of the open file `file` (`CreateFileMapping(hFile, ..)`): `size` bytes, 0 for
    /// the file's current size. A size beyond the end grows the file (which needs `protect`
    /// [`Protect::ReadWrite`] and a file opened for writing).
    pub fn from_file(file: impl AsFd, protect: Protect, size: u64) -> io::Result<FileMapping> {
        let fd = file.as_fd().try_clone_to_owned()?;
        let len = fstat(&fd)?.st_size as u64;
        if size == 0 && len == 0 {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "cannot map an empty file without a size",
            ));
        }
        if size > len {
            if protect != Protect::ReadWrite {
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!("a {size}-byte mapping would grow a {len}-byte file, which a read-only mapping cannot"),
                ));
            }
            ftruncate(&fd, size)?;
        }
        if protect == Protect::ReadWrite && !fcntl_getfl(&fd)?.contains(OFlags::RDWR) {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                "a read-write mapping needs a file opened for reading and writing",
            ));
        }
        Ok(FileMapping::from_parts(fd, None, protect, false))
    }

    fn from_parts(fd: OwnedFd, name: Option<Name>, protect: Protect, existed: bool) -> FileMapping {
        FileMapping {
            backing: Arc::new(Backing {
                file: Some(fd),
                name,
            }),
            protect,
            existed,
        }
    }

    /// Whether [`FileMapping::create`] found the name already there (`ERROR_ALREADY_EXISTS`).
    pub fn already_existed(&self) -> bool {
        self.existed
    }

    /// The name it was created or opened by, if any.
    pub fn name(&self) -> Option<&str> {
        self.backing.name.as_ref().map(|n| n.display.as_str())
    }

    /// The name other programs know it by: its file in `/dev/shm` (what Python's
    /// `SharedMemory(name=...)` takes), for a named mapping.
    pub fn os_name(&self) -> Option<&str> {
        self.backing.name.as_ref().map(|n| n.file.as_str())
    }

    /// The mapping's protection.
    pub fn protect(&self) -> Protect {
        self.protect
    }

    /// Its size in bytes, now (a file-backed mapping follows its file).
    pub fn size(&self) -> io::Result<u64> {
        Ok(fstat(self.backing.fd())?.st_size as u64)
    }

    /// Maps a view of `len` bytes from `offset` (`MapViewOfFile`); `len` 0 means to the end.
    /// `offset` must be a multiple of [`allocation_granularity`].
    pub fn map_view(&self, access: Access, offset: u64, len: usize) -> io::Result<View> {
        let label = self.label();
        let granularity = allocation_granularity();
        if !offset.is_multiple_of(granularity) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("{label}: view offset {offset} is not a multiple of the allocation granularity {granularity}"),
            ));
        }
        if access == Access::Write && self.protect != Protect::ReadWrite {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!("{label}: a writable view needs a read-write mapping"),
            ));
        }
        let size = self.size()?;
        if offset >= size {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("{label}: view offset {offset} is not inside the {size}-byte mapping"),
            ));
        }
        let available = usize::try_from(size - offset).unwrap_or(usize::MAX);
        let len = if len == 0 { available } else { len };
        if len > available {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("{label}: a {len}-byte view at offset {offset} passes the end of the {size}-byte mapping"),
            ));
        }
        View::map(self.backing.clone(), access, offset, len)
    }

    fn label(&self) -> String {
        match &self.backing.name {
            Some(name) => format!("file mapping {}", name.display),
            None => "file mapping".to_string(),
        }
    }

    /// A second handle to the same mapping (`DuplicateHandle`).
    pub fn try_clone(&self) -> io::Result<FileMapping> {
        Ok(FileMapping {
            backing: self.backing.clone(),
            protect: self.protect,
            existed: true,
        })
    }

    /// Removes the name `name` at once (the objects' holders keep working; the name is free).
    pub fn remove(name: &str) -> io::Result<()> {
        namespace::remove(&Name::parse(name)?)
    }
}

fn check_size(size: u64, what: &str) -> io::Result<()> {
    if size == 0 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("{what}: a memory-backed mapping needs a size"),
        ));
    }
    if i64::try_from(size).is_err() {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("{what}: size {size} is too large"),
        ));
    }
    Ok(())
}

impl AsFd for FileMapping {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.backing.fd()
    }
}

impl TryFrom<FileMapping> for OwnedFd {
    type Error = io::Error;

    /// A handle to the mapping's object, to pass to another process.
    fn try_from(mapping: FileMapping) -> io::Result<OwnedFd> {
        mapping.backing.fd().try_clone_to_owned()
    }
}

impl TryFrom<OwnedFd> for FileMapping {
    type Error = io::Error;

    /// Adopts a mapping handle received from another process; its access follows the handle's.
    fn try_from(fd: OwnedFd) -> io::Result<FileMapping> {
        let flags = fcntl_getfl(&fd)?;
        let protect = if flags.contains(OFlags::RDWR) {
            Protect::ReadWrite
        } else {
            Protect::ReadOnly
        };
        if fstat(&fd)?.st_size == 0 {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "an empty file is not a mapping",
            ));
        }
        Ok(FileMapping::from_parts(fd, None, protect, true))
    }
}

/// Every named mapping this user can see, with its size (stale names are reclaimed on the way).
pub fn list() -> io::Result<Vec<Entry>> {
    namespace::list(&[Kind::Mapping])
}
