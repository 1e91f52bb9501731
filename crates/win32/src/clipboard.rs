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

use std::collections::HashMap;

use pipework::clipboard::{Clipboard, Renderer, Session};

use crate::error::{
    self, Fail, ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_SUCCESS,
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

/// Delayed rendering: each window of this process that opened the clipboard has a pipework
/// [`Renderer`], whose thread asks the window for a format with `WM_RENDERFORMAT` (sent, so
/// the window's thread answers it in its message loop). Renderers live as long as the process
/// (a few per program); a destroyed window's renderer answers nothing.
fn renderer_of(hwnd: HWND) -> Result<&'static Renderer, Fail> {
    static RENDERERS: Mutex<Vec<(usize, &'static Renderer)>> = Mutex::new(Vec::new());
    let mut all = RENDERERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, r)) = all.iter().find(|(h, _)| *h == hwnd as usize) {
        return Ok(r);
    }
    let raw = hwnd as usize;
    let renderer = session()?
        .renderer(move |format| render(raw, format))
        .map_err(|e| code(&e))?;
    let renderer: &'static Renderer = Box::leak(Box::new(renderer));
    all.push((raw, renderer));
    Ok(renderer)
}

/// Formats being rendered now, by (window, format): what the window's `SetClipboardData` gave.
type Rendering = HashMap<(usize, u32), Option<Vec<u8>>>;

fn rendering() -> std::sync::MutexGuard<'static, Rendering> {
    static R: OnceLock<Mutex<Rendering>> = OnceLock::new();
    R.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The renderer thread's work: `WM_RENDERFORMAT` to the owner window, whose procedure calls
/// `SetClipboardData(format, data)` without opening the clipboard.
fn render(hwnd: usize, format: u32) -> Option<Vec<u8>> {
    if !crate::window::is_own(hwnd as HWND) {
        return None;
    }
    rendering().insert((hwnd, format), None);
    let sent = crate::window::send_timeout(
        hwnd as HWND,
        crate::window::WM_RENDERFORMAT,
        format as usize,
        0,
        pipework::clipboard::RENDER_TIMEOUT,
    );
    let data = rendering().remove(&(hwnd, format)).flatten();
    let data = sent.ok().and(data);
    if data.is_some() {
        for (h, formats) in delayed().iter_mut() {
            if *h == hwnd {
                formats.retain(|f| *f != format);
            }
        }
    }
    data
}

/// Whether `hwnd` owns the clipboard with formats announced for delayed rendering (it gets
/// `WM_RENDERALLFORMATS` before it is destroyed).
pub(crate) fn owes_rendering(hwnd: HWND) -> bool {
    let owner = *OWNER.lock().unwrap_or_else(|e| e.into_inner());
    owner.is_some_and(|(h, _)| h == hwnd as usize)
        && delayed()
            .iter()
            .any(|(h, formats)| *h == hwnd as usize && !formats.is_empty())
        && session()
            .ok()
            .and_then(|s| s.owner().ok().flatten())
            .is_some_and(|pid| pid == std::process::id())
}

/// `hwnd` is going: it announces no more formats.
pub(crate) fn forget_window(hwnd: HWND) {
    delayed().retain(|(h, _)| *h != hwnd as usize);
}

/// The windows of this process that announced delayed formats since they last emptied the
/// clipboard, and those formats not rendered yet.
static DELAYED: Mutex<Vec<(usize, Vec<u32>)>> = Mutex::new(Vec::new());

fn delayed() -> std::sync::MutexGuard<'static, Vec<(usize, Vec<u32>)>> {
    DELAYED.lock().unwrap_or_else(|e| e.into_inner())
}

/// A delayed `format` announced by a window of this thread: rendered here, through the
/// window's procedure, before this thread reads the clipboard (the renderer thread could not
/// reach the window while this thread waits for the read).
fn render_own(format: u32) -> Option<Vec<u8>> {
    let me = crate::process::GetCurrentThreadId();
    let hwnd = delayed()
        .iter()
        .find(|(h, formats)| {
            formats.contains(&format) && crate::window::thread_of(*h as HWND) == Some(me)
        })
        .map(|(h, _)| *h)?;
    render(hwnd, format)
}

/// `OpenClipboard`: fails at once with `ERROR_ACCESS_DENIED` while another thread or process
/// has it open; the same thread may open it again.
#[no_mangle]
pub extern "C" fn OpenClipboard(hwnd: HWND) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = OPEN.with(|o| {
            let mut o = o.borrow_mut();
            if let Some(open) = o.as_mut() {
                open.hwnd = hwnd as usize;
                return Ok(());
            }
            // A window of this process opens through its renderer: it may announce
            // formats for delayed rendering.
            let clipboard = if crate::window::is_own(hwnd) {
                renderer_of(hwnd)?.open(Duration::ZERO)
            } else {
                session()?.open(Duration::ZERO)
            }
            .map_err(|e| code(&e))?;
            *o = Some(Open {
                clipboard,
                blocks: Vec::new(),
                hwnd: hwnd as usize,
            });
            Ok(())
        });
        error::boolean(r)
    })
}

/// `CloseClipboard`: `ERROR_CLIPBOARD_NOT_OPEN` when this thread does not have it open.
#[no_mangle]
pub extern "C" fn CloseClipboard() -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let open = OPEN.with(|o| o.borrow_mut().take());
        error::boolean(open.map(drop).ok_or(ERROR_CLIPBOARD_NOT_OPEN))
    })
}

/// `EmptyClipboard`: the opener's window becomes the owner.
#[no_mangle]
pub extern "C" fn EmptyClipboard() -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = with_open(|open| {
            open.clipboard.empty().map_err(|e| code(&e))?;
            open.release();
            let seq = session()?.sequence_number().unwrap_or(0);
            *OWNER.lock().unwrap_or_else(|e| e.into_inner()) = Some((open.hwnd, seq));
            forget_window(open.hwnd as HWND);
            Ok(())
        });
        error::boolean(r)
    })
}

/// `SetClipboardData`: copies the `HGLOBAL`'s bytes onto the clipboard; the block then
/// belongs to the clipboard (freed when this thread closes it). A NULL handle announces the
/// format for delayed rendering (the owner window gets `WM_RENDERFORMAT` when someone first
/// asks for it, `WM_RENDERALLFORMATS` when it is destroyed still owning the clipboard): it
/// needs the clipboard opened by a window of this process that emptied it
/// (`ERROR_ACCESS_DENIED` otherwise), and returns NULL with last error 0. Inside
/// `WM_RENDERFORMAT` the window calls it without opening the clipboard, as on Windows.
#[no_mangle]
pub extern "C" fn SetClipboardData(format: u32, mem: HANDLE) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        if !mem.is_null() {
            // Rendering a delayed format (WM_RENDERFORMAT)?
            let mut r = rendering();
            let me = crate::process::GetCurrentThreadId();
            let pending = r.iter_mut().find(|((h, f), data)| {
                *f == format && data.is_none() && crate::window::thread_of(*h as HWND) == Some(me)
            });
            if let Some((_, slot)) = pending {
                let Some(bytes) = crate::global::bytes_of(mem) else {
                    drop(r);
                    return error::handle(Err(ERROR_INVALID_HANDLE), std::ptr::null_mut());
                };
                *slot = Some(bytes);
                drop(r);
                // The clipboard has the bytes: the block is the system's, freed now.
                crate::global::free(mem);
                return mem;
            }
        }
        let r = with_open(|open| {
            if mem.is_null() {
                open.clipboard
                    .set_delayed(format)
                    .map_err(|e| match e.kind() {
                        ErrorKind::PermissionDenied => ERROR_ACCESS_DENIED,
                        _ => code(&e),
                    })?;
                let mut delayed = delayed();
                match delayed.iter_mut().find(|(h, _)| *h == open.hwnd) {
                    Some((_, formats)) => {
                        if !formats.contains(&format) {
                            formats.push(format);
                        }
                    }
                    None => delayed.push((open.hwnd, vec![format])),
                }
                return Err(ERROR_SUCCESS);
            }
            let bytes = crate::global::bytes_of(mem).ok_or(ERROR_INVALID_HANDLE)?;
            open.clipboard.set(format, &bytes).map_err(|e| code(&e))?;
            open.blocks.push(mem);
            Ok(mem)
        });
        error::handle(r, std::ptr::null_mut())
    })
}

/// `GetClipboardData`: an `HGLOBAL` holding the format's bytes (synthesized text formats
/// included), valid until this thread closes or empties the clipboard; NULL when the format
/// is not there.
#[no_mangle]
pub extern "C" fn GetClipboardData(format: u32) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let own = OPEN
            .with(|o| o.borrow().is_some())
            .then(|| render_own(format))
            .flatten();
        let r = with_open(|open| {
            if let Some(data) = own {
                open.clipboard.set(format, &data).map_err(|e| code(&e))?;
            }
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
    })
}

/// `IsClipboardFormatAvailable` (the clipboard need not be open).
#[no_mangle]
pub extern "C" fn IsClipboardFormatAvailable(format: u32) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        match session().and_then(|s| s.is_format_available(format).map_err(|e| code(&e))) {
            Ok(true) => TRUE,
            Ok(false) => {
                error::SetLastError(ERROR_SUCCESS);
                FALSE
            }
            Err(c) => fail(c),
        }
    })
}

/// `CountClipboardFormats`: formats placed on the clipboard (synthesized ones not counted).
#[no_mangle]
pub extern "C" fn CountClipboardFormats() -> i32 {
    crate::boundary::guard(0, move || {
        match session().and_then(|s| s.count_formats().map_err(|e| code(&e))) {
            Ok(n) => n as i32,
            Err(c) => fail(c),
        }
    })
}

/// `EnumClipboardFormats`: the format after `format` (0: the first); 0 with `NO_ERROR` after
/// the last, 0 with `ERROR_CLIPBOARD_NOT_OPEN` when this thread has not opened it.
#[no_mangle]
pub extern "C" fn EnumClipboardFormats(format: u32) -> u32 {
    crate::boundary::guard(0, move || {
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
    })
}

/// `GetClipboardSequenceNumber`.
#[no_mangle]
pub extern "C" fn GetClipboardSequenceNumber() -> DWORD {
    crate::boundary::guard(0, move || {
        session()
            .ok()
            .and_then(|s| s.sequence_number().ok())
            .unwrap_or(0) as DWORD
    })
}

/// `GetClipboardOwner`: the window that emptied the clipboard last. For another process's
/// ownership it is that process's first window (NULL when it has none).
#[no_mangle]
pub extern "C" fn GetClipboardOwner() -> HWND {
    crate::boundary::guard(std::ptr::null_mut(), move || {
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
    })
}
