//! Mailslots: `CreateMailslot`, `GetMailslotInfo`, `SetMailslotInfo` and the server's reads, on
//! [`pipework::mailslot`] (the client's `CreateFile` and `WriteFile` are in `file`).

use std::ffi::c_char;
use std::sync::Mutex;
use std::time::Duration;

use pipework::mailslot::{self, Mailslot, MailslotOptions};

use crate::error::{
    self, Fail, Op, Win32, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_HANDLE, ERROR_INVALID_NAME,
    ERROR_INVALID_PARAMETER, ERROR_SUCCESS,
};
use crate::file::Io;
use crate::table::{self, inherit_of, Object};
use crate::text::{ansi, server_of, wide};
use crate::types::*;

const MAILSLOT_WAIT_FOREVER: u32 = 0xFFFF_FFFF;
const MAILSLOT_NO_MESSAGE: u32 = 0xFFFF_FFFF;

fn read_timeout(ms: DWORD) -> Option<Duration> {
    (ms != MAILSLOT_WAIT_FOREVER).then(|| Duration::from_millis(ms.into()))
}

/// `ReadFile` on a mailslot: one whole message; `ERROR_INSUFFICIENT_BUFFER` (the message stays)
/// when it does not fit, `ERROR_SEM_TIMEOUT` when none came in the read timeout.
pub(crate) fn read(slot: &Mutex<Mailslot>, buf: &mut [u8]) -> Io {
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    slot.read(buf).map_err(|e| {
        if mailslot::required_size(&e).is_some() {
            (ERROR_INSUFFICIENT_BUFFER, 0)
        } else {
            (error::code(&e, Op::Read), 0)
        }
    })
}

fn create(name: Option<String>, max: DWORD, ms: DWORD, inherit: bool) -> Result<HANDLE, Fail> {
    let name = name.ok_or(ERROR_INVALID_PARAMETER)?;
    if server_of(&name, "mailslot") != Some(".") {
        return Err(ERROR_INVALID_NAME);
    }
    let slot = MailslotOptions::new()
        .max_message_size(max as usize)
        .read_timeout(read_timeout(ms))
        .create(&name)
        .win32(Op::Other)?;
    let h = table::insert(Object::Mailslot(Mutex::new(slot)), inherit);
    error::SetLastError(ERROR_SUCCESS);
    Ok(h)
}

/// `CreateMailslotA`: `\\.\mailslot\[path\]name`; `ERROR_ALREADY_EXISTS` when a server holds it.
///
/// # Safety
/// `name` is a NUL-terminated string; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateMailslotA(
    name: *const c_char,
    max: DWORD,
    ms: DWORD,
    sa: *const SECURITY_ATTRIBUTES,
) -> HANDLE {
    crate::boundary::guard(INVALID_HANDLE_VALUE, move || {
        // SAFETY: the caller's pointers.
        let r = unsafe { ansi(name) }.and_then(|n| create(n, max, ms, unsafe { inherit_of(sa) }));
        error::handle(r, INVALID_HANDLE_VALUE)
    })
}

/// `CreateMailslotW`.
///
/// # Safety
/// `name` is a NUL-terminated wide string; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateMailslotW(
    name: *const WCHAR,
    max: DWORD,
    ms: DWORD,
    sa: *const SECURITY_ATTRIBUTES,
) -> HANDLE {
    crate::boundary::guard(INVALID_HANDLE_VALUE, move || {
        // SAFETY: the caller's pointers.
        let r = unsafe { wide(name) }.and_then(|n| create(n, max, ms, unsafe { inherit_of(sa) }));
        error::handle(r, INVALID_HANDLE_VALUE)
    })
}

/// `GetMailslotInfo`: `MAILSLOT_NO_MESSAGE` as the next size when the slot is empty.
///
/// # Safety
/// Each pointer is NULL or points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn GetMailslotInfo(
    h: HANDLE,
    max: *mut DWORD,
    next: *mut DWORD,
    count: *mut DWORD,
    timeout: *mut DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = table::get(h).and_then(|o| {
            let Object::Mailslot(slot) = &*o else {
                return Err(ERROR_INVALID_HANDLE);
            };
            let info = slot
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .info()
                .win32(Op::Other)?;
            let values = [
                (max, info.max_message_size as u32),
                (
                    next,
                    info.next_message_size
                        .map_or(MAILSLOT_NO_MESSAGE, |n| n as u32),
                ),
                (count, info.message_count as u32),
                (
                    timeout,
                    info.read_timeout.map_or(MAILSLOT_WAIT_FOREVER, |d| {
                        d.as_millis().min(u128::from(u32::MAX - 1)) as u32
                    }),
                ),
            ];
            for (p, v) in values {
                if !p.is_null() {
                    // SAFETY: not NULL; the caller passes writable DWORDs.
                    unsafe { *p = v };
                }
            }
            Ok(())
        });
        error::boolean(r)
    })
}

/// `SetMailslotInfo`: the read timeout (`MAILSLOT_WAIT_FOREVER`, 0 = do not wait).
#[no_mangle]
pub extern "C" fn SetMailslotInfo(h: HANDLE, ms: DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = table::get(h).and_then(|o| match &*o {
            Object::Mailslot(slot) => {
                slot.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .set_read_timeout(read_timeout(ms));
                Ok(())
            }
            _ => Err(ERROR_INVALID_HANDLE),
        });
        error::boolean(r)
    })
}
