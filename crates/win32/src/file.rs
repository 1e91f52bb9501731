//! `CreatePipe`, `CreateFile`, `ReadFile`, `WriteFile`, `PeekNamedPipe`, `FlushFileBuffers`
//! and the overlapped outcome functions, on [`pipework::pipe`] and the other modules' ends.

use std::ffi::c_char;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileExt, FileTypeExt};

use pipework::mailslot::MailslotClient;
use pipework::pipe::PipeOptions;

use crate::error::{
    self, Fail, Op, Win32, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_BROKEN_PIPE,
    ERROR_INVALID_FUNCTION, ERROR_INVALID_HANDLE, ERROR_INVALID_NAME, ERROR_INVALID_PARAMETER,
    ERROR_SUCCESS,
};
use crate::table::{self, inherit_of, Object};
use crate::text::{ansi, server_of, wide};
use crate::types::*;

const GENERIC_READ: u32 = 0x8000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const GENERIC_ALL: u32 = 0x1000_0000;
const FILE_READ_DATA: u32 = 1;
const FILE_WRITE_DATA: u32 = 2;
const FILE_APPEND_DATA: u32 = 4;
const CREATE_NEW: u32 = 1;
const CREATE_ALWAYS: u32 = 2;
const OPEN_EXISTING: u32 = 3;
const OPEN_ALWAYS: u32 = 4;
const TRUNCATE_EXISTING: u32 = 5;
const FILE_TYPE_UNKNOWN: u32 = 0;
const FILE_TYPE_DISK: u32 = 1;
const FILE_TYPE_CHAR: u32 = 2;
const FILE_TYPE_PIPE: u32 = 3;
const FILE_FLAG_OVERLAPPED: u32 = 0x4000_0000;

/// Whether an access mask asks to read / to write.
pub(crate) fn wants(access: DWORD) -> (bool, bool) {
    (
        access & (GENERIC_READ | GENERIC_ALL | FILE_READ_DATA) != 0,
        access & (GENERIC_WRITE | GENERIC_ALL | FILE_WRITE_DATA | FILE_APPEND_DATA) != 0,
    )
}

/// A plain descriptor: a file, a standard handle, an inherited descriptor.
#[derive(Debug)]
pub(crate) struct FileObject {
    file: File,
    kind: u32,
}

impl FileObject {
    pub(crate) fn new(fd: OwnedFd) -> FileObject {
        let file = File::from(fd);
        let kind = match file.metadata().map(|m| m.file_type()) {
            Ok(t) if t.is_fifo() || t.is_socket() => FILE_TYPE_PIPE,
            Ok(t) if t.is_char_device() => FILE_TYPE_CHAR,
            Ok(t) if t.is_file() => FILE_TYPE_DISK,
            _ => FILE_TYPE_UNKNOWN,
        };
        FileObject { file, kind }
    }

    /// A second descriptor for the same open file.
    pub(crate) fn dup(&self) -> std::io::Result<OwnedFd> {
        self.file.as_fd().try_clone_to_owned()
    }
}

/// The outcome of a read or write: the bytes moved, or the code and the bytes moved anyway
/// (`ERROR_MORE_DATA` moves some).
pub(crate) type Io = Result<usize, (Fail, usize)>;

fn plain(r: std::io::Result<usize>, op: Op) -> Io {
    r.map_err(|e| (error::code(&e, op), 0))
}

fn read(object: &Object, buf: &mut [u8], offset: Option<u64>) -> Io {
    match object {
        Object::PipeRead(p) => match (&*p).read(buf) {
            Ok(0) if !buf.is_empty() => Err((ERROR_BROKEN_PIPE, 0)),
            r => plain(r, Op::Read),
        },
        Object::File(f) => {
            let r = match offset {
                Some(at) if f.kind == FILE_TYPE_DISK => f.file.read_at(buf, at),
                _ => (&f.file).read(buf),
            };
            match r {
                Ok(0) if !buf.is_empty() && f.kind == FILE_TYPE_PIPE => Err((ERROR_BROKEN_PIPE, 0)),
                r => plain(r, Op::Read),
            }
        }
        Object::NamedPipe(p) => p.read(buf),
        Object::Mailslot(m) => crate::mailslot::read(m, buf),
        Object::PipeWrite(_) | Object::MailslotClient(..) => Err((ERROR_ACCESS_DENIED, 0)),
        _ => Err((ERROR_INVALID_HANDLE, 0)),
    }
}

fn write(object: &Object, buf: &[u8], offset: Option<u64>) -> Io {
    match object {
        Object::PipeWrite(p) => plain((&*p).write_all(buf).map(|()| buf.len()), Op::Write),
        Object::File(f) => {
            let r = match offset {
                Some(at) if f.kind == FILE_TYPE_DISK => f.file.write_all_at(buf, at),
                _ => (&f.file).write_all(buf),
            };
            plain(r.map(|()| buf.len()), Op::Write)
        }
        Object::NamedPipe(p) => p.write(buf),
        Object::MailslotClient(c, _) => plain(c.write_message(buf).map(|()| buf.len()), Op::Write),
        Object::PipeRead(_) | Object::Mailslot(_) => Err((ERROR_ACCESS_DENIED, 0)),
        _ => Err((ERROR_INVALID_HANDLE, 0)),
    }
}

/// Records a finished operation in the caller's `OVERLAPPED` (status and bytes) and sets its
/// event: every operation here completes before its call returns.
///
/// # Safety
/// `ov` is NULL or points to an `OVERLAPPED`.
pub(crate) unsafe fn complete(ov: *mut OVERLAPPED, status: u32, bytes: usize) {
    if ov.is_null() {
        return;
    }
    // SAFETY: not NULL; the caller passes its OVERLAPPED.
    let ov = unsafe { &mut *ov };
    ov.Internal = crate::overlapped::status_of(status);
    ov.InternalHigh = bytes;
    if !ov.hEvent.is_null() {
        // The low bit of hEvent only asks to skip a completion port: it is still the event.
        let event = (ov.hEvent as usize & !1) as HANDLE;
        let _ = crate::sync::SetEvent(event);
    }
}

/// The file offset an `OVERLAPPED` names.
///
/// # Safety
/// `ov` is NULL or points to an `OVERLAPPED`.
unsafe fn offset_of(ov: *const OVERLAPPED) -> Option<u64> {
    // SAFETY: NULL or the caller's OVERLAPPED.
    unsafe { ov.as_ref() }.map(|ov| (u64::from(ov.OffsetHigh) << 32) | u64::from(ov.Offset))
}

/// Ends a read or write: the count, the OVERLAPPED, the last error.
///
/// # Safety
/// `done` is NULL or points to a `DWORD`; `ov` is NULL or points to an `OVERLAPPED`.
pub(crate) unsafe fn io_end(r: Io, done: *mut DWORD, ov: *mut OVERLAPPED) -> BOOL {
    let (status, n) = match r {
        Ok(n) => (ERROR_SUCCESS, n),
        Err((code, n)) => (code, n),
    };
    if !done.is_null() {
        // SAFETY: not NULL; the caller passes a writable DWORD.
        unsafe { *done = n as DWORD };
    }
    // SAFETY: the caller's OVERLAPPED, or NULL.
    unsafe { complete(ov, status, n) };
    if status == ERROR_SUCCESS {
        TRUE
    } else {
        error::SetLastError(status);
        FALSE
    }
}

/// `ReadFile`: pipes (anonymous and named), mailslots, files, standard handles.
///
/// # Safety
/// `buf` holds `len` writable bytes; `done` and `ov` are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ReadFile(
    h: HANDLE,
    buf: *mut core::ffi::c_void,
    len: DWORD,
    done: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = match table::get(h) {
            Err(e) => Err((e, 0)),
            Ok(_) if buf.is_null() && len > 0 => Err((crate::error::ERROR_NOACCESS, 0)),
            Ok(object) if !ov.is_null() && is_overlapped(&object) => {
                let kind = crate::overlapped::Kind::Read(buf.cast::<u8>(), len as usize);
                // SAFETY: the caller keeps the buffer and OVERLAPPED valid until completion.
                return unsafe { crate::overlapped::start(h, object, kind, ov, done, None) };
            }
            Ok(object) => {
                let buf: &mut [u8] = if len == 0 {
                    &mut []
                } else {
                    // SAFETY: the caller passes `len` writable bytes at `buf`.
                    unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len as usize) }
                };
                // SAFETY: the caller's OVERLAPPED, or NULL.
                read(&object, buf, unsafe { offset_of(ov) })
            }
        };
        // SAFETY: the caller's pointers.
        unsafe { io_end(r, done, ov) }
    })
}

/// `WriteFile`: returns once every byte is written (or the pipe's nonblocking rule applied).
///
/// # Safety
/// `buf` holds `len` readable bytes; `done` and `ov` are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn WriteFile(
    h: HANDLE,
    buf: *const core::ffi::c_void,
    len: DWORD,
    done: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = match table::get(h) {
            Err(e) => Err((e, 0)),
            Ok(_) if buf.is_null() && len > 0 => Err((crate::error::ERROR_NOACCESS, 0)),
            Ok(object) if !ov.is_null() && is_overlapped(&object) => {
                let kind = crate::overlapped::Kind::Write(buf.cast::<u8>(), len as usize);
                // SAFETY: the caller keeps the buffer and OVERLAPPED valid until completion.
                return unsafe { crate::overlapped::start(h, object, kind, ov, done, None) };
            }
            Ok(object) => {
                let buf: &[u8] = if len == 0 {
                    &[]
                } else {
                    // SAFETY: the caller passes `len` readable bytes at `buf`.
                    unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len as usize) }
                };
                // SAFETY: the caller's OVERLAPPED, or NULL.
                write(&object, buf, unsafe { offset_of(ov) })
            }
        };
        // SAFETY: the caller's pointers.
        unsafe { io_end(r, done, ov) }
    })
}

/// Whether `object` is a named pipe end opened with `FILE_FLAG_OVERLAPPED`.
pub(crate) fn is_overlapped(object: &Object) -> bool {
    matches!(object, Object::NamedPipe(p) if p.overlapped)
}

/// `ReadFileEx` / `WriteFileEx`: a named pipe end opened with `FILE_FLAG_OVERLAPPED` only
/// (`ERROR_INVALID_PARAMETER` otherwise).
///
/// # Safety
/// As for [`ReadFileEx`].
unsafe fn io_ex(
    h: HANDLE,
    kind: crate::overlapped::Kind,
    ov: *mut OVERLAPPED,
    routine: Option<crate::overlapped::Routine>,
) -> BOOL {
    let object = match table::get(h) {
        Ok(o) => o,
        Err(c) => return error::boolean(Err(c)),
    };
    if ov.is_null() || routine.is_none() || !is_overlapped(&object) {
        return error::boolean(Err(ERROR_INVALID_PARAMETER));
    }
    // SAFETY: the caller keeps the buffer and OVERLAPPED valid until the routine ran.
    unsafe { crate::overlapped::start(h, object, kind, ov, std::ptr::null_mut(), routine) }
}

/// `ReadFileEx`: starts a read whose completion routine runs, on this thread, during one of its
/// alertable waits (`SleepEx`, `WaitForSingleObjectEx`, `WaitForMultipleObjectsEx`).
///
/// # Safety
/// `buf` holds `len` writable bytes and `ov` is an `OVERLAPPED`, both valid until the routine
/// ran.
#[no_mangle]
pub unsafe extern "C" fn ReadFileEx(
    h: HANDLE,
    buf: *mut core::ffi::c_void,
    len: DWORD,
    ov: *mut OVERLAPPED,
    routine: Option<crate::overlapped::Routine>,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let kind = crate::overlapped::Kind::Read(buf.cast::<u8>(), len as usize);
        // SAFETY: the caller's promise passes on.
        unsafe { io_ex(h, kind, ov, routine) }
    })
}

/// `WriteFileEx`: as [`ReadFileEx`], writing.
///
/// # Safety
/// `buf` holds `len` readable bytes and `ov` is an `OVERLAPPED`, both valid until the routine
/// ran.
#[no_mangle]
pub unsafe extern "C" fn WriteFileEx(
    h: HANDLE,
    buf: *const core::ffi::c_void,
    len: DWORD,
    ov: *mut OVERLAPPED,
    routine: Option<crate::overlapped::Routine>,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let kind = crate::overlapped::Kind::Write(buf.cast::<u8>(), len as usize);
        // SAFETY: the caller's promise passes on.
        unsafe { io_ex(h, kind, ov, routine) }
    })
}

/// `FlushFileBuffers`: on a pipe, waits until the peer has read everything.
#[no_mangle]
pub extern "C" fn FlushFileBuffers(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = table::get(h).and_then(|o| match &*o {
            Object::PipeWrite(p) => (&*p).flush().win32(Op::Write),
            Object::File(f) => match f.kind {
                FILE_TYPE_DISK => f.file.sync_all().win32(Op::Write),
                _ => Ok(()),
            },
            Object::NamedPipe(p) => p.flush(),
            Object::MailslotClient(c, _) => (&*c).flush().win32(Op::Write),
            Object::PipeRead(_) | Object::Mailslot(_) => Err(ERROR_ACCESS_DENIED),
            _ => Err(ERROR_INVALID_HANDLE),
        });
        error::boolean(r)
    })
}

/// `GetFileType`.
#[no_mangle]
pub extern "C" fn GetFileType(h: HANDLE) -> DWORD {
    crate::boundary::guard(0, move || match table::get(h) {
        Ok(o) => match &*o {
            Object::File(f) => f.kind,
            Object::PipeRead(_) | Object::PipeWrite(_) | Object::NamedPipe(_) => FILE_TYPE_PIPE,
            _ => FILE_TYPE_UNKNOWN,
        },
        Err(code) => {
            error::SetLastError(code);
            FILE_TYPE_UNKNOWN
        }
    })
}

/// `CreatePipe`: an anonymous pipe; `size` 0 is the system default.
///
/// # Safety
/// `read` and `write` point to `HANDLE`s; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreatePipe(
    read: *mut HANDLE,
    write: *mut HANDLE,
    sa: *const SECURITY_ATTRIBUTES,
    size: DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = (|| {
            if read.is_null() || write.is_null() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            let mut options = PipeOptions::new();
            if size > 0 {
                options.buffer_size(size as usize);
            }
            let (r, w) = options.create().win32(Op::Other)?;
            // SAFETY: the caller passes NULL or a SECURITY_ATTRIBUTES.
            let inherit = unsafe { inherit_of(sa) };
            let hr = table::insert(Object::PipeRead(r), inherit);
            let hw = table::insert(Object::PipeWrite(w), inherit);
            // SAFETY: both checked not NULL; the caller passes writable HANDLEs.
            unsafe {
                *read = hr;
                *write = hw;
            }
            Ok(())
        })();
        error::boolean(r)
    })
}

/// `PeekNamedPipe`: anonymous and named pipes; never consumes.
///
/// # Safety
/// `buf` holds `len` writable bytes (or is NULL); the counts are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn PeekNamedPipe(
    h: HANDLE,
    buf: *mut core::ffi::c_void,
    len: DWORD,
    read: *mut DWORD,
    total: *mut DWORD,
    left: *mut DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = (|| {
            let object = table::get(h)?;
            let buf: &mut [u8] = if buf.is_null() || len == 0 {
                &mut []
            } else {
                // SAFETY: the caller passes `len` writable bytes at `buf`.
                unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len as usize) }
            };
            let (n, available, rest) = match &*object {
                Object::PipeRead(p) => {
                    let available = p.bytes_available().win32(Op::Read)?;
                    let n = p.peek(buf).win32(Op::Read)?;
                    (n, available as u64, 0)
                }
                Object::NamedPipe(p) => p.peek(buf)?,
                Object::PipeWrite(_) => return Err(ERROR_ACCESS_DENIED),
                Object::File(_) => return Err(ERROR_INVALID_FUNCTION),
                _ => return Err(ERROR_INVALID_HANDLE),
            };
            for (p, v) in [(read, n as u64), (total, available), (left, rest)] {
                if !p.is_null() {
                    // SAFETY: not NULL; the caller passes writable DWORDs.
                    unsafe { *p = v.min(u32::MAX.into()) as DWORD };
                }
            }
            Ok(())
        })();
        error::boolean(r)
    })
}

fn create_file(
    name: Option<String>,
    access: DWORD,
    disposition: DWORD,
    flags: DWORD,
    inherit: bool,
) -> Result<HANDLE, Fail> {
    let name = name.ok_or(ERROR_INVALID_PARAMETER)?;
    let (r, w) = wants(access);
    let object = if server_of(&name, "pipe").is_some() {
        let overlapped = flags & FILE_FLAG_OVERLAPPED != 0;
        Object::NamedPipe(crate::named_pipe::open_client(&name, r, w, overlapped)?)
    } else if server_of(&name, "mailslot").is_some() {
        Object::MailslotClient(MailslotClient::open(&name).win32(Op::Open)?, name.clone())
    } else if name.starts_with(r"\\") || name.is_empty() {
        return Err(ERROR_INVALID_NAME);
    } else {
        let mut options = std::fs::OpenOptions::new();
        options.read(r).write(w);
        let existed = std::path::Path::new(&name).exists();
        match disposition {
            CREATE_NEW => options.write(true).create_new(true),
            CREATE_ALWAYS => options.write(true).create(true).truncate(true),
            OPEN_EXISTING => &mut options,
            OPEN_ALWAYS => options.write(w).create(w),
            TRUNCATE_EXISTING => options.write(true).truncate(true),
            _ => return Err(ERROR_INVALID_PARAMETER),
        };
        let file = options.open(&name).win32(Op::Open)?;
        let h = table::insert(Object::File(FileObject::new(OwnedFd::from(file))), inherit);
        let code = if existed && matches!(disposition, CREATE_ALWAYS | OPEN_ALWAYS) {
            ERROR_ALREADY_EXISTS
        } else {
            ERROR_SUCCESS
        };
        error::SetLastError(code);
        return Ok(h);
    };
    let h = table::insert(object, inherit);
    error::SetLastError(ERROR_SUCCESS);
    Ok(h)
}

/// `CreateFileA`: `\\.\pipe\name` opens a named pipe's client end, `\\.\mailslot\name` a
/// mailslot's; any other name is a file.
///
/// # Safety
/// `name` is a NUL-terminated string; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateFileA(
    name: *const c_char,
    access: DWORD,
    _share: DWORD,
    sa: *const SECURITY_ATTRIBUTES,
    disposition: DWORD,
    flags: DWORD,
    _template: HANDLE,
) -> HANDLE {
    crate::boundary::guard(INVALID_HANDLE_VALUE, move || {
        // SAFETY: the caller's pointers.
        let r = unsafe { ansi(name) }
            .and_then(|n| create_file(n, access, disposition, flags, unsafe { inherit_of(sa) }));
        error::handle(r, INVALID_HANDLE_VALUE)
    })
}

/// `CreateFileW`.
///
/// # Safety
/// `name` is a NUL-terminated wide string; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateFileW(
    name: *const WCHAR,
    access: DWORD,
    _share: DWORD,
    sa: *const SECURITY_ATTRIBUTES,
    disposition: DWORD,
    flags: DWORD,
    _template: HANDLE,
) -> HANDLE {
    crate::boundary::guard(INVALID_HANDLE_VALUE, move || {
        // SAFETY: the caller's pointers.
        let r = unsafe { wide(name) }
            .and_then(|n| create_file(n, access, disposition, flags, unsafe { inherit_of(sa) }));
        error::handle(r, INVALID_HANDLE_VALUE)
    })
}

fn delete_file(name: Option<String>) -> Result<(), Fail> {
    let name = name.ok_or(ERROR_INVALID_PARAMETER)?;
    std::fs::remove_file(name).win32(Op::Open)
}

/// `DeleteFileA`.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn DeleteFileA(name: *const c_char) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: the caller's string.
        error::boolean(unsafe { ansi(name) }.and_then(delete_file))
    })
}

/// `DeleteFileW`.
///
/// # Safety
/// `name` is a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn DeleteFileW(name: *const WCHAR) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: the caller's string.
        error::boolean(unsafe { wide(name) }.and_then(delete_file))
    })
}

/// A standard handle's object: the descriptor `fd` of this process, duplicated.
pub(crate) fn std_object(fd: std::os::fd::BorrowedFd<'_>) -> Option<Object> {
    fd.try_clone_to_owned()
        .ok()
        .map(|fd| Object::File(FileObject::new(fd)))
}

/// A descriptor for a child's standard handle.
pub(crate) fn fd_of(object: &Object) -> Option<std::io::Result<OwnedFd>> {
    Some(match object {
        Object::File(f) => f.dup(),
        Object::PipeRead(p) => p.as_fd().try_clone_to_owned(),
        Object::PipeWrite(p) => p.as_fd().try_clone_to_owned(),
        Object::NamedPipe(p) => p.fd()?,
        _ => return None,
    })
}
