//! Global atoms and `RegisterClipboardFormat`, on [`pipework::atom`]: the session's atom
//! table, shared by every process of this user.

use std::ffi::c_char;
use std::io::ErrorKind;

use pipework::atom::{self, Atom};

use crate::error::{
    self, Fail, ERROR_FILE_NOT_FOUND, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER,
    ERROR_MORE_DATA,
};
use crate::text::{ansi, wide};
use crate::types::*;

/// The Win32 code of an atom call's error.
fn code(e: &std::io::Error) -> Fail {
    match e.kind() {
        ErrorKind::InvalidInput => ERROR_INVALID_PARAMETER,
        ErrorKind::NotFound => ERROR_INVALID_HANDLE,
        _ => error::code(e, error::Op::Other),
    }
}

/// A name argument: `MAKEINTATOM(n)` (a pointer below 0x10000) reads as `#n`.
///
/// # Safety
/// `p` is an integer atom or a NUL-terminated string of the form's width.
unsafe fn name_arg(p: *const u8, is_wide: bool) -> Result<String, Fail> {
    let v = p as usize;
    if v < 0x10000 {
        if v == 0 || v >= 0xC000 {
            return Err(ERROR_INVALID_PARAMETER);
        }
        return Ok(format!("#{v}"));
    }
    // SAFETY: a NUL-terminated string, as the caller promises.
    let s = unsafe {
        if is_wide {
            wide(p.cast())
        } else {
            ansi(p.cast())
        }
    };
    s.map_err(|_| ERROR_INVALID_PARAMETER)?
        .ok_or(ERROR_INVALID_PARAMETER)
}

fn atom_of(r: Result<u16, Fail>) -> u16 {
    r.unwrap_or_else(|c| {
        error::SetLastError(c);
        0
    })
}

fn add(name: Result<String, Fail>) -> u16 {
    atom_of(name.and_then(|n| atom::add(&n).map(u16::from).map_err(|e| code(&e))))
}

fn find(name: Result<String, Fail>) -> u16 {
    atom_of(name.and_then(|n| match atom::find(&n) {
        Ok(Some(a)) => Ok(a.get()),
        Ok(None) => Err(ERROR_FILE_NOT_FOUND),
        Err(e) => Err(code(&e)),
    }))
}

/// `GlobalAddAtomA`: the atom, counted once more; 0 and `ERROR_INVALID_PARAMETER` for a name
/// longer than 255 characters or `#0`.
///
/// # Safety
/// `name` is `MAKEINTATOM(n)` or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn GlobalAddAtomA(name: *const c_char) -> u16 {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        add(unsafe { name_arg(name.cast(), false) })
    })
}

/// `GlobalAddAtomW`.
///
/// # Safety
/// `name` is `MAKEINTATOM(n)` or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn GlobalAddAtomW(name: *const WCHAR) -> u16 {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        add(unsafe { name_arg(name.cast(), true) })
    })
}

/// `GlobalFindAtomA`: 0 and `ERROR_FILE_NOT_FOUND` when the table has no such name.
///
/// # Safety
/// `name` is `MAKEINTATOM(n)` or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn GlobalFindAtomA(name: *const c_char) -> u16 {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        find(unsafe { name_arg(name.cast(), false) })
    })
}

/// `GlobalFindAtomW`.
///
/// # Safety
/// `name` is `MAKEINTATOM(n)` or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn GlobalFindAtomW(name: *const WCHAR) -> u16 {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        find(unsafe { name_arg(name.cast(), true) })
    })
}

/// `GlobalDeleteAtom`: 0 on success; the atom itself and `ERROR_INVALID_HANDLE` when the
/// table does not hold it.
#[no_mangle]
pub extern "C" fn GlobalDeleteAtom(a: u16) -> u16 {
    crate::boundary::guard(0, move || {
        let r = Atom::new(a)
            .ok_or(ERROR_INVALID_HANDLE)
            .and_then(|atom| atom::delete(atom).map_err(|e| code(&e)));
        match r {
            Ok(()) => 0,
            Err(c) => {
                error::SetLastError(c);
                a
            }
        }
    })
}

fn name_of(a: u16) -> Result<Vec<u16>, Fail> {
    let atom = Atom::new(a).ok_or(ERROR_INVALID_PARAMETER)?;
    let name = atom::name(atom).map_err(|e| code(&e))?;
    Ok(name.encode_utf16().collect())
}

/// `GlobalGetAtomNameA`: the name's length copied (without its NUL); 0 and `ERROR_MORE_DATA`
/// when it does not fit, `ERROR_INVALID_HANDLE` for an atom the table does not hold.
///
/// # Safety
/// `buf` holds `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn GlobalGetAtomNameA(a: u16, buf: *mut c_char, size: i32) -> u32 {
    crate::boundary::guard(0, move || {
        let r = (|| {
            if size <= 0 || buf.is_null() {
                return Err(ERROR_MORE_DATA);
            }
            let atom = Atom::new(a).ok_or(ERROR_INVALID_PARAMETER)?;
            let name = atom::name(atom).map_err(|e| code(&e))?;
            let bytes = name.as_bytes();
            if bytes.len() >= size as usize {
                return Err(ERROR_MORE_DATA);
            }
            // SAFETY: `buf` holds `size` bytes, more than the name and its NUL.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
                *buf.add(bytes.len()) = 0;
            }
            Ok(bytes.len() as u32)
        })();
        r.unwrap_or_else(|c| {
            error::SetLastError(c);
            0
        })
    })
}

/// `GlobalGetAtomNameW`.
///
/// # Safety
/// `buf` holds `size` wide characters.
#[no_mangle]
pub unsafe extern "C" fn GlobalGetAtomNameW(a: u16, buf: *mut WCHAR, size: i32) -> u32 {
    crate::boundary::guard(0, move || {
        let r = (|| {
            if size <= 0 || buf.is_null() {
                return Err(ERROR_MORE_DATA);
            }
            let units = name_of(a)?;
            if units.len() >= size as usize {
                return Err(ERROR_MORE_DATA);
            }
            // SAFETY: `buf` holds `size` units, more than the name and its NUL.
            unsafe {
                std::ptr::copy_nonoverlapping(units.as_ptr(), buf, units.len());
                *buf.add(units.len()) = 0;
            }
            Ok(units.len() as u32)
        })();
        r.unwrap_or_else(|c| {
            error::SetLastError(c);
            0
        })
    })
}

fn register(name: Result<Option<String>, Fail>) -> u32 {
    let r = name
        .map_err(|_| ERROR_INVALID_PARAMETER)
        .and_then(|n| n.ok_or(ERROR_INVALID_PARAMETER))
        .and_then(|n| atom::register_clipboard_format(&n).map_err(|e| code(&e)));
    r.unwrap_or_else(|c| {
        error::SetLastError(c);
        0
    })
}

/// `RegisterClipboardFormatA`: the format number (`0xC000..=0xFFFF`), the same in every
/// process of the session.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn RegisterClipboardFormatA(name: *const c_char) -> u32 {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        register(unsafe { ansi(name) })
    })
}

/// `RegisterClipboardFormatW`.
///
/// # Safety
/// `name` is a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn RegisterClipboardFormatW(name: *const WCHAR) -> u32 {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        register(unsafe { wide(name) })
    })
}

/// `RegisterWindowMessageA`: a message number (0xC000-0xFFFF) for `name`, the same in every
/// process of the session, for `HWND_BROADCAST`; Windows draws it from the table registered
/// clipboard formats come from, and so does this.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn RegisterWindowMessageA(name: *const c_char) -> u32 {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        register(unsafe { ansi(name) })
    })
}

/// `RegisterWindowMessageW`.
///
/// # Safety
/// `name` is a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn RegisterWindowMessageW(name: *const WCHAR) -> u32 {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        register(unsafe { wide(name) })
    })
}

/// The name of registered format `format`, cut to `size - 1` units; 0 when it is not one.
fn format_name_units(format: u32, size: i32, utf16: bool) -> Result<Vec<u16>, Fail> {
    if size <= 0 {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let name = atom::clipboard_format_name(format).map_err(|e| code(&e))?;
    let mut units: Vec<u16> = if utf16 {
        name.encode_utf16().collect()
    } else {
        name.bytes().map(u16::from).collect()
    };
    units.truncate(size as usize - 1);
    Ok(units)
}

/// `GetClipboardFormatNameA`: the registered format's name, cut to fit; its length, or 0
/// for a format that is not registered (the standard ones included).
///
/// # Safety
/// `buf` holds `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn GetClipboardFormatNameA(format: u32, buf: *mut c_char, size: i32) -> i32 {
    crate::boundary::guard(0, move || {
        match format_name_units(format, size, false) {
            Ok(units) if !buf.is_null() => {
                for (i, u) in units.iter().enumerate() {
                    // SAFETY: `buf` holds `size` bytes and `units` has fewer.
                    unsafe { *buf.add(i) = *u as u8 as c_char };
                }
                // SAFETY: as above.
                unsafe { *buf.add(units.len()) = 0 };
                units.len() as i32
            }
            Ok(_) => atom_of(Err(ERROR_INVALID_PARAMETER)) as i32,
            Err(c) => atom_of(Err(c)) as i32,
        }
    })
}

/// `GetClipboardFormatNameW`.
///
/// # Safety
/// `buf` holds `size` wide characters.
#[no_mangle]
pub unsafe extern "C" fn GetClipboardFormatNameW(format: u32, buf: *mut WCHAR, size: i32) -> i32 {
    crate::boundary::guard(0, move || {
        match format_name_units(format, size, true) {
            Ok(units) if !buf.is_null() => {
                // SAFETY: `buf` holds `size` units and `units` has fewer.
                unsafe {
                    std::ptr::copy_nonoverlapping(units.as_ptr(), buf, units.len());
                    *buf.add(units.len()) = 0;
                }
                units.len() as i32
            }
            Ok(_) => atom_of(Err(ERROR_INVALID_PARAMETER)) as i32,
            Err(c) => atom_of(Err(c)) as i32,
        }
    })
}
