//! C strings (ANSI `A` forms, taken as UTF-8) and wide strings (`W` forms, UTF-16).

use std::ffi::{c_char, CStr};

use crate::error::{Fail, ERROR_INVALID_NAME};

/// The ANSI string at `p`, `None` for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
pub(crate) unsafe fn ansi(p: *const c_char) -> Result<Option<String>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller passes a NUL-terminated string.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map(|s| Some(s.to_owned()))
        .map_err(|_| ERROR_INVALID_NAME)
}

/// The wide string at `p`, `None` for NULL.
///
/// # Safety
/// `p` is NULL or a NUL-terminated UTF-16 string.
pub(crate) unsafe fn wide(p: *const u16) -> Result<Option<String>, Fail> {
    if p.is_null() {
        return Ok(None);
    }
    let mut len = 0;
    // SAFETY: the string is NUL-terminated, so every unit up to the NUL is readable.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    let units = unsafe { std::slice::from_raw_parts(p, len) };
    String::from_utf16(units)
        .map(Some)
        .map_err(|_| ERROR_INVALID_NAME)
}

/// Whether `name` starts with `prefix`, ignoring ASCII case.
pub(crate) fn starts_with_ci(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The `\\server\kind\` form Win32 requires of a pipe or mailslot name (`kind` is `pipe` or
/// `mailslot`): the server, or `None` when `name` is not of that form.
pub(crate) fn server_of<'a>(name: &'a str, kind: &str) -> Option<&'a str> {
    let rest = name.strip_prefix(r"\\")?;
    let (server, tail) = rest.split_once('\\')?;
    let after = tail.get(kind.len()..)?;
    if server.is_empty()
        || !starts_with_ci(tail, kind)
        || !after.starts_with('\\')
        || after.len() < 2
    {
        return None;
    }
    Some(server)
}
