//! The clipboard, on [`pipework::clipboard`]: `OpenClipboard`, `EmptyClipboard`,
//! `SetClipboardData`, `GetClipboardData`, ... with `HGLOBAL` data ([`crate::global`]).
//!
//! The clipboard is the session's ([`Session::system`]: X11's when there is a display and
//! pipework is built with `x11`, else the headless clipboard `default`), or the headless
//! clipboard named by `PIPEWORK_WIN32_CLIPBOARD` when that is set (tests use their own).

use std::cell::RefCell;
use std::io::ErrorKind;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use pipework::clipboard::{Clipboard, Session};

use crate::error::{
    self, Fail, ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER,
    ERROR_NOT_SUPPORTED, ERROR_SUCCESS,
};
use crate::types::*;
use crate::window::HWND;

const ERROR_CLIPBOARD_NOT_OPEN: u32 = 1418;

/// The environment variable naming a headless clipboard to use instead of the session's.
const CLIPBOARD_ENV: &str = "PIPEWORK_WIN32_CLIPBOARD";

fn session() -> Result<&'static Session, Fail> {
    static S: OnceLock<Session> = OnceLock::new();
    if let Some(s) = S.get() {
        return Ok(s);
    }
    let s = match std::env::var(CLIPBOARD_ENV) {
        Ok(name) if !name.is_empty() => Session::headless(&name),
        _ => Session::system(),
    }
    .map_err(|e| code(&e))?;
    Ok(S.get_or_init(|| s))
}

fn code(e: &std::io::Error) -> Fail {
    match e.kind() {
        ErrorKind::ResourceBusy => ERROR_ACCESS_DENIED,
        ErrorKind::InvalidInput => ERROR_INVALID_PARAMETER,
        _ => error::code(e, error::Op::Other),
    }
}

/// This thread's open clipboard.
struct Open {
    clipboard: Clipboard<'static>,
    /// The `HGLOBAL`s handed out or taken in while open: freed when it closes or empties.
    blocks: Vec<HANDLE>,
    hwnd: usize,
}

impl Open {
    fn release(&mut self) {
        for h in self.blocks.drain(..) {
            crate::global::free(h);
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.release();
    }
}

thread_local! {
    static OPEN: RefCell<Option<Open>> = const { RefCell::new(None) };
}

/// The window that emptied the clipboard last in this process, and the sequence number then.
static OWNER: Mutex<Option<(usize, u64)>> = Mutex::new(None);

fn with_open<T>(f: impl FnOnce(&mut Open) -> Result<T, Fail>) -> Result<T, Fail> {
    OPEN.with(|o| match o.borrow_mut().as_mut() {
        Some(open) => f(open),
        None => Err(ERROR_CLIPBOARD_NOT_OPEN),
    })
}

fn fail<T: Default>(c: Fail) -> T {
    error::SetLastError(c);
    T::default()
}

/// `OpenClipboard`: fails at once with `ERROR_ACCESS_DENIED` while another thread or process
/// has it open; the same thread may open it again.
#[no_mangle]
pub extern "C" fn OpenClipboard(hwnd: HWND) -> BOOL {
    let r = OPEN.with(|o| {
        let mut o = o.borrow_mut();
        if let Some(open) = o.as_mut() {
            open.hwnd = hwnd as usize;
            return Ok(());
        }
        let clipboard = session()?.open(Duration::ZERO).map_err(|e| code(&e))?;
        *o = Some(Open {
            clipboard,
            blocks: Vec::new(),
            hwnd: hwnd as usize,
        });
        Ok(())
    });
    error::boolean(r)
}

/// `CloseClipboard`: `ERROR_CLIPBOARD_NOT_OPEN` when this thread does not have it open.
#[no_mangle]
pub extern "C" fn CloseClipboard() -> BOOL {
    let open = OPEN.with(|o| o.borrow_mut().take());
    error::boolean(open.map(drop).ok_or(ERROR_CLIPBOARD_NOT_OPEN))
}

/// `EmptyClipboard`: the opener's window becomes the owner.
#[no_mangle]
pub extern "C" fn EmptyClipboard() -> BOOL {
    let r = with_open(|open| {
        open.clipboard.empty().map_err(|e| code(&e))?;
        open.release();
        let seq = session()?.sequence_number().unwrap_or(0);
        *OWNER.lock().unwrap_or_else(|e| e.into_inner()) = Some((open.hwnd, seq));
        Ok(())
    });
    error::boolean(r)
}

/// `SetClipboardData`: copies the `HGLOBAL`'s bytes onto the clipboard; the block then
/// belongs to the clipboard (freed when this thread closes it). A NULL handle (delayed
/// rendering) is `ERROR_NOT_SUPPORTED`.
#[no_mangle]
pub extern "C" fn SetClipboardData(format: u32, mem: HANDLE) -> HANDLE {
    let r = with_open(|open| {
        if mem.is_null() {
            return Err(ERROR_NOT_SUPPORTED);
        }
        let bytes = crate::global::bytes_of(mem).ok_or(ERROR_INVALID_HANDLE)?;
        open.clipboard.set(format, &bytes).map_err(|e| code(&e))?;
        open.blocks.push(mem);
        Ok(mem)
    });
    error::handle(r, std::ptr::null_mut())
}

/// `GetClipboardData`: an `HGLOBAL` holding the format's bytes (synthesized text formats
/// included), valid until this thread closes or empties the clipboard; NULL when the format
/// is not there.
#[no_mangle]
pub extern "C" fn GetClipboardData(format: u32) -> HANDLE {
    let r = with_open(|open| {
        let data = open.clipboard.get(format).map_err(|e| code(&e))?;
        Ok(match data {
            Some(bytes) => {
                let h = crate::global::alloc_with(&bytes);
                open.blocks.push(h);
                h
            }
            None => std::ptr::null_mut(),
        })
    });
    error::handle(r, std::ptr::null_mut())
}

/// `IsClipboardFormatAvailable` (the clipboard need not be open).
#[no_mangle]
pub extern "C" fn IsClipboardFormatAvailable(format: u32) -> BOOL {
    match session().and_then(|s| s.is_format_available(format).map_err(|e| code(&e))) {
        Ok(true) => TRUE,
        Ok(false) => {
            error::SetLastError(ERROR_SUCCESS);
            FALSE
        }
        Err(c) => fail(c),
    }
}

/// `CountClipboardFormats`: formats placed on the clipboard (synthesized ones not counted).
#[no_mangle]
pub extern "C" fn CountClipboardFormats() -> i32 {
    match session().and_then(|s| s.count_formats().map_err(|e| code(&e))) {
        Ok(n) => n as i32,
        Err(c) => fail(c),
    }
}

/// `EnumClipboardFormats`: the format after `format` (0: the first); 0 with `NO_ERROR` after
/// the last, 0 with `ERROR_CLIPBOARD_NOT_OPEN` when this thread has not opened it.
#[no_mangle]
pub extern "C" fn EnumClipboardFormats(format: u32) -> u32 {
    let r = with_open(|open| {
        let formats = open.clipboard.formats().map_err(|e| code(&e))?;
        let next = if format == 0 {
            formats.first().copied()
        } else {
            formats
                .iter()
                .position(|&f| f == format)
                .and_then(|i| formats.get(i + 1).copied())
        };
        Ok(next.unwrap_or(0))
    });
    match r {
        Ok(0) => fail(ERROR_SUCCESS),
        Ok(f) => f,
        Err(c) => fail(c),
    }
}

/// `GetClipboardSequenceNumber`.
#[no_mangle]
pub extern "C" fn GetClipboardSequenceNumber() -> DWORD {
    session()
        .ok()
        .and_then(|s| s.sequence_number().ok())
        .unwrap_or(0) as DWORD
}

/// `GetClipboardOwner`: the window that emptied the clipboard last. For another process's
/// ownership it is that process's first window (NULL when it has none).
#[no_mangle]
pub extern "C" fn GetClipboardOwner() -> HWND {
    let r = (|| {
        let s = session()?;
        let Some(pid) = s.owner().map_err(|e| code(&e))? else {
            return Ok(0);
        };
        if pid == std::process::id() {
            let owner = *OWNER.lock().unwrap_or_else(|e| e.into_inner());
            return Ok(owner.map_or(0, |(h, _)| h));
        }
        let windows = pipework::window::list().map_err(|e| code(&e))?;
        Ok(windows
            .iter()
            .find(|w| w.pid == pid)
            .map_or(0, |w| w.hwnd.as_raw() as usize))
    })();
    match r {
        Ok(h) => h as HWND,
        Err(c) => fail::<usize>(c) as HWND,
    }
}
