//! The process-wide handle table: `HANDLE` values, `CloseHandle`, `DuplicateHandle`,
//! `Get/SetHandleInformation`, and the handles a child inherits.

use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use pipework::mailslot::{Mailslot, MailslotClient};
use pipework::mapping::FileMapping;
use pipework::pipe::{PipeReader, PipeWriter};
use pipework::sync::{Event, Semaphore};

use crate::error::{
    self, Fail, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_NOT_SUPPORTED,
};
use crate::file::FileObject;
use crate::named_pipe::PipeEnd;
use crate::process::ProcessObject;
use crate::types::*;

/// `HANDLE_FLAG_INHERIT`.
pub(crate) const HANDLE_FLAG_INHERIT: u32 = 1;
/// `HANDLE_FLAG_PROTECT_FROM_CLOSE`.
pub(crate) const HANDLE_FLAG_PROTECT_FROM_CLOSE: u32 = 2;
const DUPLICATE_CLOSE_SOURCE: u32 = 1;
const DUPLICATE_SAME_ACCESS: u32 = 2;

/// The environment variable that tells a child started by `CreateProcess` which of its
/// descriptors are which inherited handles: `HANDLE:KIND:FD` entries separated by `;`.
pub(crate) const INHERIT_ENV: &str = "PIPEWORK_WIN32_HANDLES";

/// What a handle refers to: one pipework object.
#[derive(Debug)]
pub(crate) enum Object {
    /// A plain descriptor: a file, a standard handle, an inherited descriptor of unknown kind.
    File(FileObject),
    /// An anonymous pipe's read end.
    PipeRead(PipeReader),
    /// An anonymous pipe's write end.
    PipeWrite(PipeWriter),
    /// A named pipe's server or client end.
    NamedPipe(PipeEnd),
    /// A mailslot's server end.
    Mailslot(Mutex<Mailslot>),
    /// A mailslot's client end, and the name it was opened by (a child inheriting it opens
    /// the same name).
    MailslotClient(MailslotClient, String),
    /// A file mapping.
    Mapping(crate::mapping::MappingObject),
    /// A mutex.
    Mutex(pipework::sync::Mutex),
    /// A semaphore.
    Semaphore(Semaphore),
    /// An event.
    Event(Event),
    /// A process (also what `PROCESS_INFORMATION.hThread` refers to).
    Process(ProcessObject),
    /// A thread `CreateThread` started.
    Thread(crate::process::ThreadObject),
}

impl Object {
    /// The kind letter and a descriptor for a child to inherit; `None` for objects that do not
    /// travel this way.
    fn for_child(&self) -> Option<(char, io::Result<OwnedFd>)> {
        Some(match self {
            Object::File(f) => ('f', f.dup()),
            Object::PipeRead(p) => ('r', p.as_fd().try_clone_to_owned()),
            Object::PipeWrite(p) => ('w', p.as_fd().try_clone_to_owned()),
            Object::Mapping(m) => ('p', m.main.try_clone().and_then(OwnedFd::try_from)),
            Object::Mutex(m) => ('m', m.try_clone().map(OwnedFd::from)),
            Object::Semaphore(s) => ('s', s.try_clone().map(OwnedFd::from)),
            Object::Event(e) => ('e', e.try_clone().map(OwnedFd::from)),
            _ => return None,
        })
    }

    /// The object a child's inherited descriptor stands for.
    fn inherited(kind: char, fd: OwnedFd) -> io::Result<Object> {
        Ok(match kind {
            'r' => Object::PipeRead(PipeReader::try_from(fd)?),
            'w' => Object::PipeWrite(PipeWriter::try_from(fd)?),
            'p' => Object::Mapping(crate::mapping::MappingObject::new(FileMapping::try_from(
                fd,
            )?)),
            'm' => Object::Mutex(pipework::sync::Mutex::try_from(fd)?),
            's' => Object::Semaphore(Semaphore::try_from(fd)?),
            'e' => Object::Event(Event::try_from(fd)?),
            _ => Object::File(FileObject::new(fd)),
        })
    }
}

#[derive(Debug)]
struct Entry {
    object: Arc<Object>,
    flags: u32,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
}

impl Table {
    fn put(&mut self, entry: Entry) -> HANDLE {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        self.slots[index] = Some(entry);
        value(index)
    }

    fn put_at(&mut self, index: usize, entry: Entry) {
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some(entry);
    }

    fn entry(&self, h: HANDLE) -> Result<&Entry, Fail> {
        index(h)
            .and_then(|i| self.slots.get(i))
            .and_then(Option::as_ref)
            .ok_or(ERROR_INVALID_HANDLE)
    }

    fn entry_mut(&mut self, h: HANDLE) -> Result<&mut Entry, Fail> {
        index(h)
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(ERROR_INVALID_HANDLE)
    }

    /// The table a process starts with: the handles its parent passed down, at their values.
    ///
    /// The variable is not trusted: anyone who sets a process's environment can write it. An
    /// entry is taken only when its handle value is in range and not taken yet, and its
    /// descriptor is open, was inherited (not close-on-exec), is the object the parent named
    /// (device and inode), is named once, and is of the kind stated; a descriptor of the kind
    /// it claims is adopted through a duplicate, so a refused entry never closes or changes a
    /// descriptor this process holds for something else. Anything else is skipped.
    fn inherited() -> Table {
        let mut table = Table::default();
        let Ok(spec) = std::env::var(INHERIT_ENV) else {
            return table;
        };
        // The variable is for this process only: a grandchild must not take
        // descriptors it does not have for handles.
        std::env::remove_var(INHERIT_ENV);
        let mut seen_fds = std::collections::HashSet::new();
        for item in spec
            .split(';')
            .filter(|s| !s.is_empty())
            .take(MAX_INHERITED)
        {
            let mut parts = item.split(':');
            let (Some(h), Some(kind), Some(fd)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let (Ok(h), Some(kind)) = (usize::from_str_radix(h, 16), single_char(kind)) else {
                continue;
            };
            let Some(index) = index(h as HANDLE).filter(|&i| i < MAX_INHERITED) else {
                continue;
            };
            if table.slots.get(index).is_some_and(Option::is_some) {
                continue;
            }
            if kind == MAILSLOT_CLIENT {
                // A mailslot client travels by name: this process opens the same slot.
                if let Some(object) = unhex(fd).and_then(|name| {
                    let client = MailslotClient::open(&name).ok()?;
                    Some(Object::MailslotClient(client, name))
                }) {
                    table.put_at(
                        index,
                        Entry {
                            object: Arc::new(object),
                            flags: HANDLE_FLAG_INHERIT,
                        },
                    );
                }
                continue;
            }
            let (Ok(fd), Some(Ok(dev)), Some(Ok(ino))) = (
                fd.parse::<RawFd>(),
                parts.next().map(|d| u64::from_str_radix(d, 16)),
                parts.next().map(|i| u64::from_str_radix(i, 16)),
            ) else {
                continue;
            };
            if parts.next().is_some() || fd < 3 || !seen_fds.insert(fd) {
                continue;
            }
            let Some(copy) = adoptable(fd, dev, ino) else {
                continue;
            };
            if let Ok(object) = Object::inherited(kind, copy) {
                // SAFETY: `fd` is the descriptor the parent passed for this handle (open, not
                // close-on-exec, the device and inode it named, named by no other entry);
                // nothing else in this process owns it. Its duplicate is the handle now.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                table.put_at(
                    index,
                    Entry {
                        object: Arc::new(object),
                        flags: HANDLE_FLAG_INHERIT,
                    },
                );
            }
        }
        table.free = (0..table.slots.len())
            .rev()
            .filter(|&i| table.slots[i].is_none())
            .collect();
        table
    }
}

/// The most entries, and the highest handle index, taken from [`INHERIT_ENV`].
const MAX_INHERITED: usize = 1 << 16;

fn single_char(s: &str) -> Option<char> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// The device and inode of `fd`'s object, for a child to check the descriptor it inherits.
pub(crate) fn identity(fd: &impl AsFd) -> Option<(u64, u64)> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into `st`, a valid stat; the descriptor is borrowed and open.
    if unsafe { libc::fstat(fd.as_fd().as_raw_fd(), &mut st) } < 0 {
        return None;
    }
    Some((st.st_dev, st.st_ino))
}

/// A close-on-exec duplicate of descriptor `fd` if it is an inherited descriptor (open, not
/// close-on-exec) of the object with device `dev` and inode `ino`; `fd` itself is not touched.
fn adoptable(fd: RawFd, dev: u64, ino: u64) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only reads the descriptor's flags; an unused number gives EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 || flags & libc::FD_CLOEXEC != 0 {
        return None;
    }
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor and leaves `fd` as it is.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return None;
    }
    // SAFETY: `copy` was just made by this call and belongs to no one else.
    let copy = unsafe { OwnedFd::from_raw_fd(copy) };
    (identity(&copy)? == (dev, ino)).then_some(copy)
}

/// The kind letter of a mailslot client in [`INHERIT_ENV`]: `HANDLE:c:NAME`, the name in hex.
const MAILSLOT_CLIENT: char = 'c';

fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// The inheritable handles that travel by name, as `HANDLE:KIND:HEXNAME;` entries for
/// [`INHERIT_ENV`].
pub(crate) fn named_for_child() -> String {
    let table = table().read().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    for (i, slot) in table.slots.iter().enumerate() {
        let Some(entry) = slot else { continue };
        if entry.flags & HANDLE_FLAG_INHERIT == 0 {
            continue;
        }
        if let Object::MailslotClient(_, name) = &*entry.object {
            out.push_str(&format!(
                "{:x}:{MAILSLOT_CLIENT}:{};",
                value(i) as usize,
                hex(name)
            ));
        }
    }
    out
}

fn value(index: usize) -> HANDLE {
    ((index + 1) * 4) as HANDLE
}

fn index(h: HANDLE) -> Option<usize> {
    let v = h as usize;
    (v != 0 && v.is_multiple_of(4) && v < (1 << 40)).then(|| v / 4 - 1)
}

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(|| RwLock::new(Table::inherited()))
}

/// Puts `object` in the table and returns its new handle.
pub(crate) fn insert(object: Object, inherit: bool) -> HANDLE {
    let flags = if inherit { HANDLE_FLAG_INHERIT } else { 0 };
    write().put(Entry {
        object: Arc::new(object),
        flags,
    })
}

/// The object behind `h`.
pub(crate) fn get(h: HANDLE) -> Result<Arc<Object>, Fail> {
    let table = table().read().unwrap_or_else(|e| e.into_inner());
    table.entry(h).map(|e| e.object.clone())
}

fn write() -> std::sync::RwLockWriteGuard<'static, Table> {
    table().write().unwrap_or_else(|e| e.into_inner())
}

/// Whether the handle `SECURITY_ATTRIBUTES` asks for is inheritable.
///
/// # Safety
/// `sa` is NULL or points to a `SECURITY_ATTRIBUTES`.
pub(crate) unsafe fn inherit_of(sa: *const SECURITY_ATTRIBUTES) -> bool {
    // SAFETY: the caller passes NULL or a valid structure.
    !sa.is_null() && unsafe { (*sa).bInheritHandle } != 0
}

/// The inheritable handles, for a child: `(handle, kind, descriptor)`.
pub(crate) fn for_child() -> Vec<(usize, char, OwnedFd)> {
    let table = table().read().unwrap_or_else(|e| e.into_inner());
    let mut out = Vec::new();
    for (i, slot) in table.slots.iter().enumerate() {
        let Some(entry) = slot else { continue };
        if entry.flags & HANDLE_FLAG_INHERIT == 0 {
            continue;
        }
        if let Some((kind, Ok(fd))) = entry.object.for_child() {
            out.push((value(i) as usize, kind, fd));
        }
    }
    out
}

/// The pseudo-handle `GetCurrentProcess` returns.
pub(crate) const CURRENT_PROCESS: HANDLE = usize::MAX as HANDLE;

/// `CloseHandle`.
#[no_mangle]
pub extern "C" fn CloseHandle(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let removed = {
            let mut table = write();
            match table.entry(h) {
                Err(e) => Err(e),
                Ok(entry) if entry.flags & HANDLE_FLAG_PROTECT_FROM_CLOSE != 0 => {
                    Err(ERROR_INVALID_HANDLE)
                }
                Ok(_) => {
                    let i = index(h).expect("a valid handle");
                    let entry = table.slots[i].take();
                    table.free.push(i);
                    Ok(entry)
                }
            }
        };
        // Operations pending on the handle end (ERROR_OPERATION_ABORTED), as on Windows.
        if removed.is_ok() {
            crate::overlapped::cancel_handle(h);
        }
        // The object (perhaps its last handle) is dropped outside the table's lock.
        error::boolean(removed.map(drop))
    })
}

/// `DuplicateHandle`, within this process (source and target process `GetCurrentProcess()` or
/// a handle to this process).
///
/// # Safety
/// `target` is NULL or points to a `HANDLE`.
#[no_mangle]
pub unsafe extern "C" fn DuplicateHandle(
    source_process: HANDLE,
    source: HANDLE,
    target_process: HANDLE,
    target: *mut HANDLE,
    _access: DWORD,
    inherit: BOOL,
    options: DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let result = (|| {
            if !is_this_process(source_process)? || !is_this_process(target_process)? {
                return Err(ERROR_NOT_SUPPORTED);
            }
            let flags = if inherit != 0 { HANDLE_FLAG_INHERIT } else { 0 };
            let _ = options & DUPLICATE_SAME_ACCESS;
            let object = if source == CURRENT_PROCESS {
                Arc::new(Object::Process(ProcessObject::current()?))
            } else {
                get(source)?
            };
            if options & DUPLICATE_CLOSE_SOURCE != 0 && source != CURRENT_PROCESS {
                let mut table = write();
                let i = index(source).ok_or(ERROR_INVALID_HANDLE)?;
                table.slots[i] = None;
                table.free.push(i);
            }
            if target.is_null() {
                // Win32 allows a NULL target with DUPLICATE_CLOSE_SOURCE: the source is closed.
                return if options & DUPLICATE_CLOSE_SOURCE != 0 {
                    Ok(())
                } else {
                    Err(ERROR_INVALID_PARAMETER)
                };
            }
            let h = write().put(Entry { object, flags });
            // SAFETY: `target` is not NULL and the caller passes a writable HANDLE.
            unsafe { *target = h };
            Ok(())
        })();
        error::boolean(result)
    })
}

/// Whether `h` is this process (its pseudo-handle or a process handle to it).
fn is_this_process(h: HANDLE) -> Result<bool, Fail> {
    if h == CURRENT_PROCESS {
        return Ok(true);
    }
    match &*get(h)? {
        Object::Process(p) => Ok(p.process.id() == std::process::id()),
        _ => Err(ERROR_INVALID_HANDLE),
    }
}

/// `GetHandleInformation`.
///
/// # Safety
/// `flags` is NULL or points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn GetHandleInformation(h: HANDLE, flags: *mut DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let result = (|| {
            let table = table().read().unwrap_or_else(|e| e.into_inner());
            let entry = table.entry(h)?;
            if flags.is_null() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            // SAFETY: not NULL, and the caller passes a writable DWORD.
            unsafe { *flags = entry.flags };
            Ok(())
        })();
        error::boolean(result)
    })
}

/// `SetHandleInformation`: `HANDLE_FLAG_INHERIT`, `HANDLE_FLAG_PROTECT_FROM_CLOSE`.
#[no_mangle]
pub extern "C" fn SetHandleInformation(h: HANDLE, mask: DWORD, flags: DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let result = (|| {
            let mut table = write();
            let entry = table.entry_mut(h)?;
            let known = HANDLE_FLAG_INHERIT | HANDLE_FLAG_PROTECT_FROM_CLOSE;
            let mask = mask & known;
            entry.flags = (entry.flags & !mask) | (flags & mask);
            Ok(())
        })();
        error::boolean(result)
    })
}
