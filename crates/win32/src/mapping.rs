//! File mappings: `CreateFileMapping`, `OpenFileMapping`, `MapViewOfFile(Ex)`,
//! `UnmapViewOfFile`, `FlushViewOfFile`, on [`pipework::mapping`]. A view is known by its
//! address, as Win32 knows it.

use std::collections::BTreeMap;
use std::ffi::c_char;
use std::os::fd::AsFd;
use std::sync::{Mutex, MutexGuard};

use pipework::mapping::{Access, FileMapping, Protect, View};

use crate::error::{
    self, Fail, Op, Win32, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_INVALID_ADDRESS,
    ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_NOT_SUPPORTED, ERROR_SUCCESS,
};
use crate::table::{self, inherit_of, Object};
use crate::text::{ansi, wide};
use crate::types::*;

const FILE_MAP_COPY: u32 = 1;
const FILE_MAP_WRITE: u32 = 2;
const FILE_MAP_READ: u32 = 4;
const PAGE_READONLY: u32 = 0x02;
const PAGE_READWRITE: u32 = 0x04;
const PAGE_WRITECOPY: u32 = 0x08;
const PAGE_EXECUTE_READ: u32 = 0x20;
const PAGE_EXECUTE_READWRITE: u32 = 0x40;
const PAGE_EXECUTE_WRITECOPY: u32 = 0x80;

/// A mapping handle: the object, and for a handle opened for reading and writing, a second
/// handle for the read and copy-on-write views (pipework's write handles map writable views
/// only, as `FILE_MAP_WRITE` alone does).
#[derive(Debug)]
pub(crate) struct MappingObject {
    pub(crate) main: FileMapping,
    read: Option<FileMapping>,
}

impl MappingObject {
    pub(crate) fn new(main: FileMapping) -> MappingObject {
        MappingObject { main, read: None }
    }
}

fn views() -> MutexGuard<'static, BTreeMap<usize, View>> {
    static VIEWS: Mutex<BTreeMap<usize, View>> = Mutex::new(BTreeMap::new());
    VIEWS.lock().unwrap_or_else(|e| e.into_inner())
}

fn protect_of(page: DWORD) -> Result<Protect, Fail> {
    Ok(match page & 0xFF {
        PAGE_READONLY | PAGE_EXECUTE_READ => Protect::ReadOnly,
        PAGE_READWRITE | PAGE_EXECUTE_READWRITE => Protect::ReadWrite,
        PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY => Protect::WriteCopy,
        _ => return Err(ERROR_INVALID_PARAMETER),
    })
}

fn create(
    file: HANDLE,
    page: DWORD,
    high: DWORD,
    low: DWORD,
    name: Option<String>,
    inherit: bool,
) -> Result<HANDLE, Fail> {
    let protect = protect_of(page)?;
    let size = (u64::from(high) << 32) | u64::from(low);
    let mapping = if file == INVALID_HANDLE_VALUE {
        if size == 0 {
            return Err(ERROR_INVALID_PARAMETER);
        }
        match &name {
            Some(n) => FileMapping::create(n, size),
            None => FileMapping::anonymous(size),
        }
        .win32(Op::CreateObject)?
    } else {
        if name.is_some() {
            // A named mapping of a file: pipework names memory-backed mappings only.
            return Err(ERROR_NOT_SUPPORTED);
        }
        let object = table::get(file)?;
        let Object::File(f) = &*object else {
            return Err(ERROR_INVALID_HANDLE);
        };
        let fd = f.dup().win32(Op::Other)?;
        FileMapping::from_file(fd.as_fd(), protect, size).win32(Op::Other)?
    };
    let existed = mapping.already_existed();
    let h = table::insert(Object::Mapping(MappingObject::new(mapping)), inherit);
    error::SetLastError(if existed {
        ERROR_ALREADY_EXISTS
    } else {
        ERROR_SUCCESS
    });
    Ok(h)
}

/// `CreateFileMappingA`: `INVALID_HANDLE_VALUE` for memory (named or not), or a file handle.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateFileMappingA(
    file: HANDLE,
    sa: *const SECURITY_ATTRIBUTES,
    page: DWORD,
    high: DWORD,
    low: DWORD,
    name: *const c_char,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller's pointers.
        let r = unsafe { ansi(name) }
            .and_then(|n| create(file, page, high, low, n, unsafe { inherit_of(sa) }));
        error::handle(r, std::ptr::null_mut())
    })
}

/// `CreateFileMappingW`.
///
/// # Safety
/// `name` is NULL or a NUL-terminated wide string; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateFileMappingW(
    file: HANDLE,
    sa: *const SECURITY_ATTRIBUTES,
    page: DWORD,
    high: DWORD,
    low: DWORD,
    name: *const WCHAR,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller's pointers.
        let r = unsafe { wide(name) }
            .and_then(|n| create(file, page, high, low, n, unsafe { inherit_of(sa) }));
        error::handle(r, std::ptr::null_mut())
    })
}

fn open(access: DWORD, inherit: bool, name: Option<String>) -> Result<HANDLE, Fail> {
    let name = name.ok_or(ERROR_INVALID_PARAMETER)?;
    let object = if access & FILE_MAP_WRITE != 0 {
        let main = FileMapping::open(&name, Access::Write).win32(Op::OpenObject)?;
        let read = if access & (FILE_MAP_READ | FILE_MAP_COPY) != 0 {
            Some(FileMapping::open(&name, Access::Read).win32(Op::OpenObject)?)
        } else {
            None
        };
        MappingObject { main, read }
    } else {
        MappingObject::new(FileMapping::open(&name, Access::Read).win32(Op::OpenObject)?)
    };
    Ok(table::insert(Object::Mapping(object), inherit))
}

/// `OpenFileMappingA`: `ERROR_FILE_NOT_FOUND` when no mapping has the name.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn OpenFileMappingA(
    access: DWORD,
    inherit: BOOL,
    name: *const c_char,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller's string.
        let r = unsafe { ansi(name) }.and_then(|n| open(access, inherit != 0, n));
        error::handle(r, std::ptr::null_mut())
    })
}

/// `OpenFileMappingW`.
///
/// # Safety
/// `name` is a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn OpenFileMappingW(
    access: DWORD,
    inherit: BOOL,
    name: *const WCHAR,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller's string.
        let r = unsafe { wide(name) }.and_then(|n| open(access, inherit != 0, n));
        error::handle(r, std::ptr::null_mut())
    })
}

fn map(h: HANDLE, access: DWORD, high: DWORD, low: DWORD, len: usize) -> Result<usize, Fail> {
    let object = table::get(h)?;
    let Object::Mapping(m) = &*object else {
        return Err(ERROR_INVALID_HANDLE);
    };
    let access = if access & FILE_MAP_WRITE != 0 {
        Access::Write
    } else if access & FILE_MAP_COPY != 0 {
        Access::Copy
    } else if access & FILE_MAP_READ != 0 {
        Access::Read
    } else {
        return Err(ERROR_INVALID_PARAMETER);
    };
    let offset = (u64::from(high) << 32) | u64::from(low);
    let mapping = match (&m.read, access) {
        (Some(read), Access::Read | Access::Copy) => read,
        _ => &m.main,
    };
    let view = mapping.map_view(access, offset, len).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            ERROR_ACCESS_DENIED
        } else {
            error::code(&e, Op::Other)
        }
    })?;
    // SAFETY: the address is handed to C, which the Win32 contract makes responsible for
    // staying inside the view and for what other processes do to the bytes.
    let address = unsafe { view.as_ptr() } as usize;
    views().insert(address, view);
    Ok(address)
}

/// `MapViewOfFile`: NULL and the error when the view cannot be made.
#[no_mangle]
pub extern "C" fn MapViewOfFile(
    h: HANDLE,
    access: DWORD,
    high: DWORD,
    low: DWORD,
    len: usize,
) -> *mut core::ffi::c_void {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        match map(h, access, high, low, len) {
            Ok(address) => address as *mut core::ffi::c_void,
            Err(code) => {
                error::SetLastError(code);
                std::ptr::null_mut()
            }
        }
    })
}

/// `MapViewOfFileEx`: a base address must be NULL (`ERROR_INVALID_ADDRESS` otherwise: the
/// system chooses where views go).
#[no_mangle]
pub extern "C" fn MapViewOfFileEx(
    h: HANDLE,
    access: DWORD,
    high: DWORD,
    low: DWORD,
    len: usize,
    base: *mut core::ffi::c_void,
) -> *mut core::ffi::c_void {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        if !base.is_null() {
            error::SetLastError(ERROR_INVALID_ADDRESS);
            return std::ptr::null_mut();
        }
        MapViewOfFile(h, access, high, low, len)
    })
}

/// `UnmapViewOfFile`: the address a `MapViewOfFile` returned.
#[no_mangle]
pub extern "C" fn UnmapViewOfFile(address: *const core::ffi::c_void) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let view = views().remove(&(address as usize));
        error::boolean(view.map(drop).ok_or(ERROR_INVALID_ADDRESS))
    })
}

/// `FlushViewOfFile`: `len` bytes from `address` (0: to the end of its view).
#[no_mangle]
pub extern "C" fn FlushViewOfFile(address: *const core::ffi::c_void, len: usize) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let address = address as usize;
        let views = views();
        let r = views
            .range(..=address)
            .next_back()
            .filter(|(&base, view)| address < base + view.len())
            .ok_or(ERROR_INVALID_ADDRESS)
            .and_then(|(&base, view)| {
                let at = address - base;
                let len = if len == 0 { view.len() - at } else { len };
                view.flush_range(at, len.min(view.len() - at))
                    .win32(Op::Other)
            });
        drop(views);
        error::boolean(r)
    })
}
