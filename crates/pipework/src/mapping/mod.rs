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
//! Python's as `/name`.
//!
//! As in Win32, a mapping's **name goes with its last handle** and its **memory with its last
//! handle or view**:
//!
//! * Once every handle ([`FileMapping`], its clones, and copies passed to other processes) is
//!   closed, the name is free even while views are still mapped: [`FileMapping::open`] fails with
//!   `NotFound` (`ERROR_FILE_NOT_FOUND`) and [`FileMapping::create`] makes a fresh object
//!   (not [`already_existed`](FileMapping::already_existed)).
//! * A [`View`] keeps the memory it shows alive and coherent with every other view of the same
//!   object, after its handle and the name are gone, until it is dropped.
//! * After every holder died (even by `kill -9`) the name is reclaimed by the next create, open or
//!   [`list`].
//!
//! Only pipework handles count as holders: a Python process attached to a pipework mapping keeps
//! its memory but not the name, and pipework never removes a segment another program created
//! (only [`FileMapping::remove`] does). Named mappings are memory-backed; a file-backed mapping
//! is shared by handing its handle (or the file itself) to the other process. A child that
//! another thread is starting holds copies of every handle for the moment between its `fork` and
//! its `exec` (they are close-on-exec): a name whose last handle is dropped in that moment may
//! live on until the child has started its program. (A child forked to run on without `exec`
//! shares its parent's handles' open files and their holds: the parent's last handle, closing,
//! may take the name with it.)
//!
//! # Size
//! A mapping **keeps the size it was made with**, which [`FileMapping::size`] reports, and no
//! view may reach past it (`InvalidInput`; Win32 says `ERROR_ACCESS_DENIED`, from
//! `STATUS_INVALID_VIEW_SIZE`). A view of length 0 runs to that size.
//!
//! * Memory-backed mappings ([`FileMapping::create`], [`FileMapping::anonymous`]) have the size
//!   given at creation; opening an existing one gives its size. The size must be more than 0 and
//!   at most this machine's memory and swap together (else `OutOfMemory`, as Win32's
//!   `ERROR_NOT_ENOUGH_MEMORY`).
//! * A named mapping's memory is **reserved when it is created**: the whole size is allocated in
//!   `/dev/shm` at once, and a `/dev/shm` without that much room makes the create fail with
//!   `StorageFull`, leaving nothing under the name. So no access to a view can later find its
//!   page missing. An unnamed mapping (a memfd) has no such limit: its pages come from memory when
//!   first touched, as any memory does.
//! * A file-backed mapping ([`FileMapping::from_file`]) has the size given, or the file's length
//!   when 0 is given. A file shorter than that is grown to it at once, with the new bytes
//!   allocated on disk (`StorageFull` when the disk has no room); a file is never shrunk. The
//!   file growing or shrinking later does not change the mapping's size.
//!
//! # Access
//! Access is checked where Win32 checks it:
//!
//! * [`FileMapping::from_file`] refuses at once (`PermissionDenied`) a protection the file's open
//!   mode cannot give: every protection needs a file opened for reading, [`Protect::ReadWrite`]
//!   one opened for reading and writing. A file opened for writing only cannot be mapped at all.
//! * A handle opened with [`Access::Read`] maps read and copy-on-write views; one opened with
//!   [`Access::Write`] (Win32's `FILE_MAP_WRITE` alone) maps only writable views: a read view of
//!   it is `PermissionDenied`, as `ERROR_ACCESS_DENIED` on Windows. (On Linux every mapping needs a
//!   file open for reading, so the file under such a handle is open for reading and writing: a
//!   copy of it passed to another process as an `OwnedFd` arrives as a read-write handle.)
//!   Handles from a create, from [`FileMapping::anonymous`] and from [`FileMapping::from_file`]
//!   have all access, bounded by the mapping's [`Protect`].
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
//! itself.
//!
//! # When the file shrinks
//! Windows refuses to truncate a file while it is mapped; Linux lets any process that may write
//! the file cut it short, and then touching a page past its new end raises `SIGBUS`, which kills
//! the process. No lease or seal can forbid that for a shared file (a lease can't be taken on a
//! file others have open for writing, and only memfds take seals), so pipework's copies
//! ([`View::read`], [`View::write`], [`View::read_pod`], [`View::write_pod`]) are made so that
//! no one this user does not trust can kill the process through them:
//!
//! * Views of a file-backed mapping, of a `Global\` or `/x` name, or of a handle received from
//!   another process copy through the kernel, which reports a page that is gone as an error: the
//!   copy fails with `UnexpectedEof` and the process lives. That costs a system call per copy
//!   (a few microseconds for a small one, against nanoseconds).
//! * Views of an unnamed mapping copy directly: it is a memfd sealed against shrinking.
//! * Views of a `Local\` name copy directly too, when its file is this user's and no one else
//!   may write it (as pipework makes them): only this user's own processes could cut it short,
//!   and those can as well end this one. Its memory was reserved at create, so a full `/dev/shm`
//!   cannot take its pages away either.
//!
//! Atomics and [`View::as_ptr`] always touch the memory directly, so a page cut away under them
//! raises `SIGBUS`: keep them to unnamed and `Local\` mappings, or to files no one untrusted
//! can write.

mod handle;
mod space;
mod view;

use std::fmt::Display;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{
    fcntl_add_seals, fcntl_getfl, fstat, ftruncate, memfd_create, FileType, MemfdFlags, OFlags,
    SealFlags,
};

pub use bytemuck::Pod;
pub use view::View;

use crate::name::lease;
use crate::name::object::{self as namespace, ObjectEntry as Entry, ObjectName as Name};
use crate::name::Kind;
use crate::sys::error::{error, invalid, named};
use handle::Handle;

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
///
/// For a view: what it may do. For a handle ([`FileMapping::open`]): which views it may map, as
/// the [module docs](self#access) tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only. A handle opened so maps read and copy-on-write views.
    Read,
    /// Read and write, seen by every other view of the object. A handle opened so maps writable
    /// views only, as Win32's `FILE_MAP_WRITE` alone does.
    Write,
    /// Read and write, but written pages become private copies no one else sees. A handle opened
    /// so maps read and copy-on-write views.
    Copy,
}

/// The granularity view offsets must be multiples of (the page size).
pub fn allocation_granularity() -> u64 {
    crate::sys::shm::page_size() as u64
}

/// Which views a handle may map (Win32's `SECTION_MAP_READ` and `SECTION_MAP_WRITE` rights).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rights {
    read: bool,
    write: bool,
}

impl Rights {
    const ALL: Rights = Rights {
        read: true,
        write: true,
    };
}

/// A file-mapping object: memory (named or unnamed) or a file, shared by every process that holds
/// it, seen through [`View`]s.
#[derive(Debug)]
pub struct FileMapping {
    handle: Arc<Handle>,
    size: u64,
    protect: Protect,
    rights: Rights,
    existed: bool,
}

impl FileMapping {
    /// An unnamed memory-backed mapping of `size` zeroed bytes, shared by handing its handle to
    /// another process (inheritance, [`crate::handle::send`]). It can neither grow nor shrink (a
    /// sealed memfd).
    pub fn anonymous(size: u64) -> io::Result<FileMapping> {
        let label = "unnamed file mapping";
        space::check_memory_size(size, label)?;
        let fd = memfd_create(
            "pipework-mapping",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| named(label, e))?;
        ftruncate(&fd, size).map_err(|e| named(label, e))?;
        fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
            .map_err(|e| named(label, e))?;
        Ok(FileMapping {
            // A memfd made here carries no lock: views map it directly.
            handle: Arc::new(Handle::new(fd, false)),
            size,
            protect: Protect::ReadWrite,
            rights: Rights::ALL,
            existed: false,
        })
    }

    /// Creates the named memory-backed mapping `name` of `size` zeroed bytes, or opens the
    /// existing one (then [`FileMapping::already_existed`] is true and its own size stands).
    ///
    /// The whole size is reserved in `/dev/shm` before the name appears: `StorageFull` when
    /// there is no room for it, `OutOfMemory` when it is more than memory and swap could ever
    /// hold; nothing is left under the name then. `AlreadyExists` when the name belongs to a
    /// mutex, semaphore or event.
    pub fn create(name: &str, size: u64) -> io::Result<FileMapping> {
        let parsed = Name::parse(name)?;
        let label = format!("file mapping {name}");
        space::check_memory_size(size, &label)?;
        let created = namespace::create(&parsed, Kind::Mapping, |fd| {
            space::reserve(fd.as_fd(), 0, size, &label, "/dev/shm")
        })?;
        let size = if created.existed {
            created.stat.st_size as u64
        } else {
            size
        };
        let handle = Handle::named(created.fd, parsed, &created.stat);
        let handle = if created.existed {
            handle
        } else {
            handle.made_here()
        };
        Ok(FileMapping {
            handle: Arc::new(handle),
            size,
            protect: Protect::ReadWrite,
            rights: Rights::ALL,
            existed: created.existed,
        })
    }

    /// Opens the existing named mapping `name` (`OpenFileMapping`) for the views `access` allows
    /// (see [`Access`]). `NotFound` when there is none: no mapping was made by that name, or
    /// every handle to it was closed (even if views of it remain).
    pub fn open(name: &str, access: Access) -> io::Result<FileMapping> {
        let parsed = Name::parse(name)?;
        let write = access == Access::Write;
        let (fd, stat) = namespace::open_seen(&parsed, Kind::Mapping, write)?;
        let size = stat.st_size as u64;
        let (protect, rights) = if write {
            (
                Protect::ReadWrite,
                Rights {
                    read: false,
                    write: true,
                },
            )
        } else {
            (
                Protect::ReadOnly,
                Rights {
                    read: true,
                    write: false,
                },
            )
        };
        Ok(FileMapping {
            handle: Arc::new(Handle::named(fd, parsed, &stat)),
            size,
            protect,
            rights,
            existed: true,
        })
    }

    /// A mapping of the open file `file` (`CreateFileMapping(hFile, ..)`) of `size` bytes, or of
    /// the file's current length when `size` is 0. The mapping keeps that size whatever later
    /// happens to the file.
    ///
    /// A size beyond the file's end grows the file to it at once, with the new bytes allocated
    /// (`StorageFull` when the filesystem has no room); that needs [`Protect::ReadWrite`].
    /// `PermissionDenied` at once when the file's open mode cannot give `protect`: every
    /// protection needs a file opened for reading, `ReadWrite` one opened for reading and
    /// writing.
    pub fn from_file(file: impl AsFd, protect: Protect, size: u64) -> io::Result<FileMapping> {
        let label = "file mapping";
        let fd = file
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| named(label, e))?;
        let writable = writable_if_readable(
            &fd,
            label,
            format_args!("a {protect:?} mapping needs a file opened for reading (this one is not)"),
        )?;
        if protect == Protect::ReadWrite && !writable {
            return Err(error(
                ErrorKind::PermissionDenied,
                label,
                "a read-write mapping needs a file opened for reading and writing",
            ));
        }
        let st = fstat(&fd).map_err(|e| named(label, e))?;
        if !FileType::from_raw_mode(st.st_mode).is_file() {
            return Err(invalid(label, "only a regular file can be mapped"));
        }
        let len = st.st_size as u64;
        if size == 0 && len == 0 {
            return Err(invalid(label, "cannot map an empty file without a size"));
        }
        space::check_file_size(size, label)?;
        if size > len {
            if protect != Protect::ReadWrite {
                return Err(error(
                    ErrorKind::PermissionDenied,
                    label,
                    format_args!(
                        "a {size}-byte mapping would grow a {len}-byte file, which a \
                         {protect:?} mapping cannot"
                    ),
                ));
            }
            space::reserve(fd.as_fd(), len, size, label, "the file's filesystem")?;
        }
        Ok(FileMapping {
            handle: Arc::new(Handle::new(fd, true)),
            size: if size == 0 { len } else { size },
            protect,
            rights: Rights::ALL,
            existed: false,
        })
    }

    /// Whether [`FileMapping::create`] found the name already there (`ERROR_ALREADY_EXISTS`).
    pub fn already_existed(&self) -> bool {
        self.existed
    }

    /// The name it was created or opened by, if any.
    pub fn name(&self) -> Option<&str> {
        self.handle.name().map(|n| n.display.as_str())
    }

    /// The name other programs know it by: its file in `/dev/shm` (what Python's
    /// `SharedMemory(name=...)` takes), for a named mapping.
    pub fn os_name(&self) -> Option<&str> {
        self.handle.name().map(|n| n.file.as_str())
    }

    /// The mapping's protection.
    pub fn protect(&self) -> Protect {
        self.protect
    }

    /// Its size in bytes: the size it was created with (or found with, when opened), whatever
    /// has happened to its file since. Views reach no further. (It never fails; the `Result`
    /// stays for callers written when it read the file's length.)
    pub fn size(&self) -> io::Result<u64> {
        Ok(self.size)
    }

    /// Maps a view of `len` bytes from `offset` (`MapViewOfFile`); `len` 0 means to the end of
    /// the mapping. `offset` must be a multiple of [`allocation_granularity`], and the view must
    /// end within [`FileMapping::size`] (`InvalidInput` otherwise, Win32's invalid view size).
    /// `PermissionDenied` when the handle or the mapping's protection does not allow `access`.
    pub fn map_view(&self, access: Access, offset: u64, len: usize) -> io::Result<View> {
        let label = self.handle.label();
        let granularity = allocation_granularity();
        if !offset.is_multiple_of(granularity) {
            return Err(invalid(
                label,
                format_args!(
                    "view offset {offset} is not a multiple of the allocation granularity \
                     {granularity}"
                ),
            ));
        }
        self.check_access(access)?;
        let size = self.size;
        if offset >= size {
            return Err(invalid(
                label,
                format_args!("view offset {offset} is not inside the {size}-byte mapping"),
            ));
        }
        let available = usize::try_from(size - offset).unwrap_or(usize::MAX);
        let len = if len == 0 { available } else { len };
        if len > available {
            return Err(invalid(
                label,
                format_args!(
                    "invalid view size: a {len}-byte view at offset {offset} passes the end of \
                     the {size}-byte mapping"
                ),
            ));
        }
        View::map(
            self.handle.memory(),
            access,
            offset,
            len,
            self.handle.copies(),
            label.clone(),
        )
    }

    fn check_access(&self, access: Access) -> io::Result<()> {
        let label = self.handle.label();
        let denied = |why: &str| error(ErrorKind::PermissionDenied, label, why);
        match access {
            Access::Write if !self.rights.write => {
                Err(denied("a writable view needs a handle opened for writing"))
            }
            Access::Write if self.protect != Protect::ReadWrite => {
                Err(denied("a writable view needs a read-write mapping"))
            }
            Access::Read | Access::Copy if !self.rights.read => Err(denied(
                "the handle was opened for writing only (FILE_MAP_WRITE): it maps writable \
                 views, not read or copy-on-write ones",
            )),
            _ => Ok(()),
        }
    }

    /// A second handle to the same mapping (`DuplicateHandle`), with the same access. The name
    /// lives while either does.
    pub fn try_clone(&self) -> io::Result<FileMapping> {
        Ok(FileMapping {
            handle: self.handle.clone(),
            size: self.size,
            protect: self.protect,
            rights: self.rights,
            existed: true,
        })
    }

    /// Removes the name `name` at once (the objects' holders keep working; the name is free).
    pub fn remove(name: &str) -> io::Result<()> {
        lease::remove_object(&Name::parse(name)?)
    }
}

/// Whether an open file was opened for reading, and for writing.
fn open_mode(flags: OFlags) -> (bool, bool) {
    if flags.contains(OFlags::PATH) {
        return (false, false);
    }
    match flags & OFlags::RWMODE {
        OFlags::RDWR => (true, true),
        OFlags::WRONLY => (false, true),
        _ => (true, false),
    }
}

/// Whether `fd` was opened for writing too; `PermissionDenied` with `refusal` if it was not
/// opened for reading.
fn writable_if_readable(fd: &OwnedFd, label: &str, refusal: impl Display) -> io::Result<bool> {
    let flags = fcntl_getfl(fd).map_err(|e| named(label, e))?;
    let (readable, writable) = open_mode(flags);
    if !readable {
        return Err(error(ErrorKind::PermissionDenied, label, refusal));
    }
    Ok(writable)
}

impl AsFd for FileMapping {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.handle.lend()
    }
}

impl TryFrom<FileMapping> for OwnedFd {
    type Error = io::Error;

    /// A handle to the mapping's object, to pass to another process: it holds the name as long
    /// as the handle this came from would.
    fn try_from(mapping: FileMapping) -> io::Result<OwnedFd> {
        mapping
            .handle
            .lend()
            .try_clone_to_owned()
            .map_err(|e| named(mapping.handle.label(), e))
    }
}

impl TryFrom<OwnedFd> for FileMapping {
    type Error = io::Error;

    /// Adopts a mapping handle received from another process. Its access follows the handle's
    /// open file (read-write, or read only); its size is the object's size now.
    fn try_from(fd: OwnedFd) -> io::Result<FileMapping> {
        let label = "file mapping";
        let writable =
            writable_if_readable(&fd, label, "a handle that cannot read cannot be mapped")?;
        let st = fstat(&fd).map_err(|e| named(label, e))?;
        if !FileType::from_raw_mode(st.st_mode).is_file() || st.st_size == 0 {
            return Err(error(
                ErrorKind::InvalidData,
                label,
                "the handle is not a mapping (an empty or special file)",
            ));
        }
        let protect = if writable {
            Protect::ReadWrite
        } else {
            Protect::ReadOnly
        };
        Ok(FileMapping {
            handle: Arc::new(Handle::new(fd, true)),
            size: st.st_size as u64,
            protect,
            rights: Rights {
                read: true,
                write: writable,
            },
            existed: true,
        })
    }
}

/// Every named mapping this user can see, with its size (stale names are reclaimed on the way).
pub fn list() -> io::Result<Vec<Entry>> {
    namespace::list(&[Kind::Mapping])
}
