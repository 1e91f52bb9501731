//! Message-only windows and their messages, on [`pipework::window`]: `RegisterClassEx`,
//! `CreateWindowEx`, `FindWindow`, `SendMessage` (with `WM_COPYDATA`), `PostMessage`,
//! `GetMessage`, `PeekMessage`, `DispatchMessage`, ...
//!
//! An `HWND` is the pipework window handle's number (64 random bits, never 0): the same value
//! in every process, so `FindWindow` in another process returns a handle that works there.
//!
//! Each window of this process is a [`pipework::window::Window`] whose messages a thread of
//! the library takes and hands to the queue of the thread that created the window. That
//! thread's `GetMessage` / `PeekMessage` calls the window procedure for sent messages (the
//! sender waits for its result) and returns posted ones, as Windows does. Messages between
//! windows of this process go straight to the owning thread's queue; a message sent from the
//! owning thread itself calls the window procedure directly.

use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, c_void};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use pipework::window::{self as pw, Hwnd, Outgoing, SendOptions, WindowOptions, WindowThread};

use crate::error::{
    self, Fail, ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, ERROR_NOT_ENOUGH_MEMORY,
};
use crate::text::{ansi, wide};
use crate::types::*;

pub(crate) const ERROR_INVALID_WINDOW_HANDLE: u32 = 1400;
pub(crate) const ERROR_CANNOT_FIND_WND_CLASS: u32 = 1407;
pub(crate) const ERROR_CLASS_ALREADY_EXISTS: u32 = 1410;
pub(crate) const ERROR_CLASS_DOES_NOT_EXIST: u32 = 1411;
pub(crate) const ERROR_MESSAGE_SYNC_ONLY: u32 = 1159;
pub(crate) const ERROR_TIMEOUT: u32 = 1460;
pub(crate) const ERROR_NOT_ENOUGH_QUOTA: u32 = 1816;

const WM_NCCREATE: u32 = 0x0081;
const WM_CREATE: u32 = 0x0001;
const WM_DESTROY: u32 = 0x0002;
const WM_NCDESTROY: u32 = 0x0082;
const WM_CLOSE: u32 = 0x0010;
const WM_QUIT: u32 = 0x0012;
const WM_NULL: u32 = 0x0000;
const WM_RENDERALLFORMATS: u32 = 0x0306;
pub(crate) const WM_RENDERFORMAT: u32 = 0x0305;
/// `HWND_BROADCAST`.
const HWND_BROADCAST: HWND = 0xffff as HWND;
const WM_COPYDATA: u32 = 0x004A;
const PM_REMOVE: u32 = 1;
const SMTO_ABORTIFHUNG: u32 = 2;

/// `HWND`.
pub type HWND = *mut c_void;
/// `WNDPROC`.
pub type WNDPROC = Option<unsafe extern "C" fn(HWND, u32, usize, isize) -> isize>;

/// `WNDCLASSEXA` / `WNDCLASSEXW` (the class name pointer's type differs only).
#[repr(C)]
#[derive(Debug)]
pub struct WNDCLASSEX {
    /// `cbSize`.
    pub cbSize: u32,
    /// `style`.
    pub style: u32,
    /// `lpfnWndProc`.
    pub lpfnWndProc: WNDPROC,
    /// `cbClsExtra`.
    pub cbClsExtra: i32,
    /// `cbWndExtra`.
    pub cbWndExtra: i32,
    /// `hInstance`.
    pub hInstance: HANDLE,
    /// `hIcon`.
    pub hIcon: HANDLE,
    /// `hCursor`.
    pub hCursor: HANDLE,
    /// `hbrBackground`.
    pub hbrBackground: HANDLE,
    /// `lpszMenuName`.
    pub lpszMenuName: *const c_void,
    /// `lpszClassName`.
    pub lpszClassName: *const c_void,
    /// `hIconSm`.
    pub hIconSm: HANDLE,
}

/// `WNDCLASSA` / `WNDCLASSW`.
#[repr(C)]
#[derive(Debug)]
pub struct WNDCLASS {
    /// `style`.
    pub style: u32,
    /// `lpfnWndProc`.
    pub lpfnWndProc: WNDPROC,
    /// `cbClsExtra`.
    pub cbClsExtra: i32,
    /// `cbWndExtra`.
    pub cbWndExtra: i32,
    /// `hInstance`.
    pub hInstance: HANDLE,
    /// `hIcon`.
    pub hIcon: HANDLE,
    /// `hCursor`.
    pub hCursor: HANDLE,
    /// `hbrBackground`.
    pub hbrBackground: HANDLE,
    /// `lpszMenuName`.
    pub lpszMenuName: *const c_void,
    /// `lpszClassName`.
    pub lpszClassName: *const c_void,
}

/// `POINT`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct POINT {
    /// `x`.
    pub x: i32,
    /// `y`.
    pub y: i32,
}

/// `MSG`.
#[repr(C)]
#[derive(Debug)]
pub struct MSG {
    /// `hwnd`.
    pub hwnd: HWND,
    /// `message`.
    pub message: u32,
    /// `wParam`.
    pub wParam: usize,
    /// `lParam`.
    pub lParam: isize,
    /// `time`.
    pub time: DWORD,
    /// `pt`.
    pub pt: POINT,
}

/// `COPYDATASTRUCT`.
#[repr(C)]
#[derive(Debug)]
pub struct COPYDATASTRUCT {
    /// `dwData`.
    pub dwData: usize,
    /// `cbData`.
    pub cbData: DWORD,
    /// `lpData`.
    pub lpData: *mut c_void,
}

/// `CREATESTRUCTA` / `CREATESTRUCTW`.
#[repr(C)]
#[derive(Debug)]
pub struct CREATESTRUCT {
    /// `lpCreateParams`.
    pub lpCreateParams: *mut c_void,
    /// `hInstance`.
    pub hInstance: HANDLE,
    /// `hMenu`.
    pub hMenu: HANDLE,
    /// `hwndParent`.
    pub hwndParent: HWND,
    /// `cy`.
    pub cy: i32,
    /// `cx`.
    pub cx: i32,
    /// `y`.
    pub y: i32,
    /// `x`.
    pub x: i32,
    /// `style`.
    pub style: i32,
    /// `lpszName`.
    pub lpszName: *const c_void,
    /// `lpszClass`.
    pub lpszClass: *const c_void,
    /// `dwExStyle`.
    pub dwExStyle: DWORD,
}

/// A registered window class.
#[derive(Debug, Clone)]
struct Class {
    name: String,
    atom: u16,
    proc_: WNDPROC,
}

/// A window of this process.
#[derive(Debug)]
struct Own {
    class: Class,
    tid: u32,
    queue: Arc<Queue>,
    thread: Mutex<Option<WindowThread>>,
    /// Set (under the queue's lock) by `DestroyWindow`: no more messages are queued for it.
    destroyed: Arc<AtomicBool>,
}

/// One message waiting in a thread's queue.
#[derive(Debug)]
struct Item {
    hwnd: u64,
    msg: u32,
    wparam: usize,
    lparam: isize,
    data: Option<Vec<u8>>,
    /// For a sent message: where its result goes (the sender waits).
    reply: Option<mpsc::Sender<isize>>,
    time: u32,
}

/// Work another thread hands to this thread, run where sent messages are handled (DDEML's
/// callbacks run this way on the thread that called `DdeInitialize`).
struct Task(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Task")
    }
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Item>,
    quit: Option<i32>,
    tasks: VecDeque<Task>,
}

impl QueueState {
    /// Whether something waits that `handle_sent` handles.
    fn sent_waiting(&self) -> bool {
        !self.tasks.is_empty() || self.items.iter().any(|i| i.reply.is_some())
    }
}

/// A thread's message queue.
#[derive(Debug, Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, item: Item) {
        self.lock().items.push_back(item);
        self.ready.notify_all();
    }
}

#[derive(Debug, Default)]
struct Registry {
    classes: HashMap<String, Class>,
    windows: HashMap<u64, Arc<Own>>,
    queues: HashMap<u32, Arc<Queue>>,
    /// Windows of this process that were destroyed (handles are never reused).
    destroyed: std::collections::HashSet<u64>,
}

fn registry() -> MutexGuard<'static, Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn tid() -> u32 {
    crate::process::GetCurrentThreadId()
}

fn tick() -> u32 {
    crate::sync::GetTickCount()
}

fn queue_of(tid: u32) -> Arc<Queue> {
    registry().queues.entry(tid).or_default().clone()
}

fn key(name: &str) -> String {
    pipework::name::fold(name)
}

fn was_destroyed(hwnd: HWND) -> bool {
    registry().destroyed.contains(&(hwnd as u64))
}

/// The thread that owns `hwnd`, a window of this process.
pub(crate) fn thread_of(hwnd: HWND) -> Option<u32> {
    own(hwnd).map(|w| w.tid)
}

/// Whether `hwnd` is a live window of this process.
pub(crate) fn is_own(hwnd: HWND) -> bool {
    own(hwnd).is_some()
}

/// `SendMessageTimeout` from any thread of this process (what the clipboard's renderer thread
/// uses to ask an owner window for a format).
pub(crate) fn send_timeout(
    hwnd: HWND,
    msg: u32,
    wparam: usize,
    lparam: isize,
    timeout: Duration,
) -> Result<isize, Fail> {
    send_impl(hwnd, msg, wparam, lparam, Some(timeout), false)
}

fn own(hwnd: HWND) -> Option<Arc<Own>> {
    registry().windows.get(&(hwnd as u64)).cloned()
}

fn hwnd_of(raw: u64) -> HWND {
    raw as usize as HWND
}

/// The Win32 code of a window call's error.
fn code(e: &std::io::Error) -> Fail {
    match e.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionAborted | ErrorKind::ConnectionRefused => {
            ERROR_INVALID_WINDOW_HANDLE
        }
        ErrorKind::TimedOut => ERROR_TIMEOUT,
        ErrorKind::QuotaExceeded => ERROR_NOT_ENOUGH_QUOTA,
        _ => error::code(e, error::Op::Other),
    }
}

// ---- classes ----

static NEXT_ATOM: AtomicU16 = AtomicU16::new(0xC000);

fn register(name: Option<String>, proc_: WNDPROC) -> Result<u16, Fail> {
    let name = name.ok_or(ERROR_INVALID_PARAMETER)?;
    if name.is_empty() || proc_.is_none() {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let mut r = registry();
    let k = key(&name);
    if r.classes.contains_key(&k) {
        return Err(ERROR_CLASS_ALREADY_EXISTS);
    }
    let atom = NEXT_ATOM.fetch_add(1, Ordering::Relaxed);
    r.classes.insert(k, Class { name, atom, proc_ });
    Ok(atom)
}

fn atom_result(r: Result<u16, Fail>) -> u16 {
    r.unwrap_or_else(|c| {
        error::SetLastError(c);
        0
    })
}

/// A class name argument: a string, or an atom (`MAKEINTATOM`) in the pointer's low word.
unsafe fn class_arg(p: *const c_void, is_wide: bool) -> Result<ClassArg, Fail> {
    let v = p as usize;
    if v != 0 && v < 0x10000 {
        return Ok(ClassArg::Atom(v as u16));
    }
    // SAFETY: the caller passes NULL or a NUL-terminated string of the form's width.
    let s = unsafe {
        if is_wide {
            wide(p.cast())
        } else {
            ansi(p.cast())
        }
    }?;
    Ok(s.map_or(ClassArg::None, ClassArg::Name))
}

enum ClassArg {
    None,
    Atom(u16),
    Name(String),
}

fn find_class(arg: &ClassArg) -> Option<Class> {
    let r = registry();
    match arg {
        ClassArg::None => None,
        ClassArg::Atom(a) => r.classes.values().find(|c| c.atom == *a).cloned(),
        ClassArg::Name(n) => r.classes.get(&key(n)).cloned(),
    }
}

/// `RegisterClassExA`.
///
/// # Safety
/// `wc` points to a `WNDCLASSEXA`.
#[no_mangle]
pub unsafe extern "C" fn RegisterClassExA(wc: *const WNDCLASSEX) -> u16 {
    crate::boundary::guard(0, move || {
        if wc.is_null() {
            return atom_result(Err(ERROR_INVALID_PARAMETER));
        }
        // SAFETY: the caller passes a valid structure with a string class name.
        let r = unsafe { ansi((*wc).lpszClassName.cast()) }
            .and_then(|n| register(n, unsafe { (*wc).lpfnWndProc }));
        atom_result(r)
    })
}

/// `RegisterClassExW`.
///
/// # Safety
/// `wc` points to a `WNDCLASSEXW`.
#[no_mangle]
pub unsafe extern "C" fn RegisterClassExW(wc: *const WNDCLASSEX) -> u16 {
    crate::boundary::guard(0, move || {
        if wc.is_null() {
            return atom_result(Err(ERROR_INVALID_PARAMETER));
        }
        // SAFETY: as for RegisterClassExA.
        let r = unsafe { wide((*wc).lpszClassName.cast()) }
            .and_then(|n| register(n, unsafe { (*wc).lpfnWndProc }));
        atom_result(r)
    })
}

/// `RegisterClassA`.
///
/// # Safety
/// `wc` points to a `WNDCLASSA`.
#[no_mangle]
pub unsafe extern "C" fn RegisterClassA(wc: *const WNDCLASS) -> u16 {
    crate::boundary::guard(0, move || {
        if wc.is_null() {
            return atom_result(Err(ERROR_INVALID_PARAMETER));
        }
        // SAFETY: the caller passes a valid structure.
        let r = unsafe { ansi((*wc).lpszClassName.cast()) }
            .and_then(|n| register(n, unsafe { (*wc).lpfnWndProc }));
        atom_result(r)
    })
}

/// `RegisterClassW`.
///
/// # Safety
/// `wc` points to a `WNDCLASSW`.
#[no_mangle]
pub unsafe extern "C" fn RegisterClassW(wc: *const WNDCLASS) -> u16 {
    crate::boundary::guard(0, move || {
        if wc.is_null() {
            return atom_result(Err(ERROR_INVALID_PARAMETER));
        }
        // SAFETY: the caller passes a valid structure.
        let r = unsafe { wide((*wc).lpszClassName.cast()) }
            .and_then(|n| register(n, unsafe { (*wc).lpfnWndProc }));
        atom_result(r)
    })
}

fn unregister(arg: ClassArg) -> Result<(), Fail> {
    let class = find_class(&arg).ok_or(ERROR_CLASS_DOES_NOT_EXIST)?;
    let mut r = registry();
    if r.windows.values().any(|w| w.class.atom == class.atom) {
        return Err(crate::window::ERROR_CLASS_HAS_WINDOWS);
    }
    r.classes.remove(&key(&class.name));
    Ok(())
}

pub(crate) const ERROR_CLASS_HAS_WINDOWS: u32 = 1412;

/// `UnregisterClassA`.
///
/// # Safety
/// `class` is an atom or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn UnregisterClassA(class: *const c_char, _instance: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: as the caller promises.
        error::boolean(unsafe { class_arg(class.cast(), false) }.and_then(unregister))
    })
}

/// `UnregisterClassW`.
///
/// # Safety
/// `class` is an atom or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn UnregisterClassW(class: *const WCHAR, _instance: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: as the caller promises.
        error::boolean(unsafe { class_arg(class.cast(), true) }.and_then(unregister))
    })
}

// ---- windows ----

/// Runs on the library's thread for each message pipework delivers to the window: hands it to
/// the owning thread's queue and, for a sent message, waits for its result.
fn forward(queue: &Arc<Queue>, destroyed: &AtomicBool, hwnd: u64, m: &pw::Message) -> isize {
    let data = (m.msg() == WM_COPYDATA).then(|| m.data().to_vec());
    let (reply, result) = if m.is_sent() {
        let (tx, rx) = mpsc::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    {
        let mut st = queue.lock();
        if destroyed.load(Ordering::Acquire) {
            return 0;
        }
        st.items.push_back(Item {
            hwnd,
            msg: m.msg(),
            wparam: m.wparam(),
            lparam: m.lparam(),
            data,
            reply,
            time: tick(),
        });
    }
    queue.ready.notify_all();
    result.and_then(|rx| rx.recv().ok()).unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
unsafe fn create_window(
    ex_style: DWORD,
    class_ptr: *const c_void,
    title_ptr: *const c_void,
    style: DWORD,
    parent: HWND,
    menu: HANDLE,
    instance: HANDLE,
    param: *mut c_void,
    is_wide: bool,
) -> Result<HWND, Fail> {
    // SAFETY: the caller passes an atom or a string.
    let arg = unsafe { class_arg(class_ptr, is_wide) }?;
    let class = find_class(&arg).ok_or(ERROR_CANNOT_FIND_WND_CLASS)?;
    // SAFETY: NULL or a string of the form's width.
    let title = unsafe {
        if is_wide {
            wide(title_ptr.cast())
        } else {
            ansi(title_ptr.cast())
        }
    }?
    .unwrap_or_default();
    // No parent: a top-level window, which HWND_BROADCAST reaches; HWND_MESSAGE (or any
    // other parent): a message-only window, which it does not, as on Windows.
    let window = WindowOptions::new(&class.name)
        .title(&title)
        .top_level(parent.is_null())
        .create()
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidInput => ERROR_INVALID_PARAMETER,
            ErrorKind::OutOfMemory => ERROR_NOT_ENOUGH_MEMORY,
            _ => code(&e),
        })?;
    let raw = window.hwnd().as_raw();
    let hwnd = hwnd_of(raw);
    let me = tid();
    let queue = queue_of(me);
    let own = Arc::new(Own {
        class: class.clone(),
        tid: me,
        queue: queue.clone(),
        thread: Mutex::new(None),
        destroyed: Arc::new(AtomicBool::new(false)),
    });
    registry().windows.insert(raw, own.clone());
    let mut cs = CREATESTRUCT {
        lpCreateParams: param,
        hInstance: instance,
        hMenu: menu,
        hwndParent: parent,
        cy: 0,
        cx: 0,
        y: 0,
        x: 0,
        style: style as i32,
        lpszName: title_ptr,
        lpszClass: class_ptr,
        dwExStyle: ex_style,
    };
    let cs_ptr = &mut cs as *mut CREATESTRUCT as isize;
    // SAFETY: the class's window procedure, called as Windows calls it while creating.
    let refused = unsafe {
        call(class.proc_, hwnd, WM_NCCREATE, 0, cs_ptr) == 0
            || call(class.proc_, hwnd, WM_CREATE, 0, cs_ptr) == -1
    };
    if refused {
        registry().windows.remove(&raw);
        return Err(ERROR_INVALID_PARAMETER);
    }
    let destroyed = own.destroyed.clone();
    let thread = window.spawn(move |m| forward(&queue, &destroyed, raw, m));
    *own.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
    Ok(hwnd)
}

/// Calls a window procedure (0 when there is none).
unsafe fn call(proc_: WNDPROC, hwnd: HWND, msg: u32, wparam: usize, lparam: isize) -> isize {
    match proc_ {
        // SAFETY: the class registered this procedure for its windows.
        Some(f) => unsafe { f(hwnd, msg, wparam, lparam) },
        None => 0,
    }
}

/// `CreateWindowExA`: a message-only window (any parent is taken as `HWND_MESSAGE`).
///
/// # Safety
/// Strings are NULL, atoms or NUL-terminated, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateWindowExA(
    ex_style: DWORD,
    class: *const c_char,
    title: *const c_char,
    style: DWORD,
    _x: i32,
    _y: i32,
    _w: i32,
    _h: i32,
    parent: HWND,
    menu: HANDLE,
    instance: HANDLE,
    param: *mut c_void,
) -> HWND {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as the caller promises.
        let r = unsafe {
            create_window(
                ex_style,
                class.cast(),
                title.cast(),
                style,
                parent,
                menu,
                instance,
                param,
                false,
            )
        };
        error::handle(r, std::ptr::null_mut())
    })
}

/// `CreateWindowExW`: a message-only window (any parent is taken as `HWND_MESSAGE`).
///
/// # Safety
/// Strings are NULL, atoms or NUL-terminated, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateWindowExW(
    ex_style: DWORD,
    class: *const WCHAR,
    title: *const WCHAR,
    style: DWORD,
    _x: i32,
    _y: i32,
    _w: i32,
    _h: i32,
    parent: HWND,
    menu: HANDLE,
    instance: HANDLE,
    param: *mut c_void,
) -> HWND {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as the caller promises.
        let r = unsafe {
            create_window(
                ex_style,
                class.cast(),
                title.cast(),
                style,
                parent,
                menu,
                instance,
                param,
                true,
            )
        };
        error::handle(r, std::ptr::null_mut())
    })
}

/// `DestroyWindow`: only the creating thread may destroy a window (`ERROR_ACCESS_DENIED`
/// otherwise, as Windows).
#[no_mangle]
pub extern "C" fn DestroyWindow(hwnd: HWND) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = (|| {
            let w = match own(hwnd) {
                Some(w) => w,
                None if exists(hwnd) => return Err(ERROR_ACCESS_DENIED),
                None => return Err(ERROR_INVALID_WINDOW_HANDLE),
            };
            if w.tid != tid() {
                return Err(ERROR_ACCESS_DENIED);
            }
            // A clipboard owner with formats still to render is asked for them first
            // (WM_RENDERALLFORMATS), as Windows asks.
            if crate::clipboard::owes_rendering(hwnd) {
                // SAFETY: the class's procedure, called as Windows calls it.
                unsafe {
                    call(
                        w.class.proc_,
                        hwnd_of(hwnd as u64),
                        WM_RENDERALLFORMATS,
                        0,
                        0,
                    );
                }
            }
            crate::clipboard::forget_window(hwnd);
            // SAFETY: the class's procedure, told the window is going as Windows tells it.
            unsafe {
                let me = hwnd_of(hwnd as u64);
                call(w.class.proc_, me, WM_DESTROY, 0, 0);
                call(w.class.proc_, me, WM_NCDESTROY, 0, 0);
            }
            registry().windows.remove(&(hwnd as u64));
            // Messages still queued for it: their senders get 0; none are queued from now on.
            {
                let mut st = w.queue.lock();
                w.destroyed.store(true, Ordering::Release);
                st.items.retain(|i| i.hwnd != hwnd as u64);
            }
            // Gone for this process at once; other processes see it go as soon as the library's
            // thread lets go of it (not waited for here: this may run inside that thread's
            // message, when a WM_CLOSE from another process reaches DefWindowProc).
            registry().destroyed.insert(hwnd as u64);
            let thread = w.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
            drop(thread);
            Ok(())
        })();
        error::boolean(r)
    })
}

/// Whether `hwnd` names a live window of this user's session.
fn exists(hwnd: HWND) -> bool {
    if own(hwnd).is_some() {
        return true;
    }
    if was_destroyed(hwnd) {
        return false;
    }
    pw::list().is_ok_and(|l| l.iter().any(|w| w.hwnd.as_raw() == hwnd as u64))
}

/// `IsWindow`.
#[no_mangle]
pub extern "C" fn IsWindow(hwnd: HWND) -> BOOL {
    crate::boundary::guard(FALSE, move || (!hwnd.is_null() && exists(hwnd)).into())
}

/// `GetWindowThreadProcessId`: for another process's window the thread reported is that
/// process's main thread (its id equals the process id on Linux).
///
/// # Safety
/// `pid` is NULL or points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn GetWindowThreadProcessId(hwnd: HWND, pid: *mut DWORD) -> DWORD {
    crate::boundary::guard(0, move || {
        let (p, t) = if let Some(w) = own(hwnd) {
            (std::process::id(), w.tid)
        } else {
            match pw::list()
                .ok()
                .filter(|_| !was_destroyed(hwnd))
                .and_then(|l| l.into_iter().find(|w| w.hwnd.as_raw() == hwnd as u64))
            {
                Some(w) => (w.pid, w.pid),
                None => {
                    error::SetLastError(ERROR_INVALID_WINDOW_HANDLE);
                    return 0;
                }
            }
        };
        if !pid.is_null() {
            // SAFETY: not NULL, a writable DWORD as the caller promises.
            unsafe { *pid = p };
        }
        t
    })
}

const HWND_MESSAGE: usize = -3isize as usize;

fn find(
    parent: HWND,
    after: HWND,
    class: Option<String>,
    title: Option<String>,
) -> Result<HWND, Fail> {
    if !parent.is_null() && parent as usize != HWND_MESSAGE {
        // Message-only windows have no children.
        return Err(ERROR_INVALID_WINDOW_HANDLE);
    }
    let found = pw::find_windows(class.as_deref(), title.as_deref()).map_err(|e| code(&e))?;
    let gone = registry().destroyed.clone();
    let mut iter = found
        .iter()
        .map(|w| w.hwnd.as_raw())
        .filter(|h| !gone.contains(h));
    let next = if after.is_null() {
        iter.next()
    } else {
        iter.by_ref().find(|h| *h == after as u64);
        iter.next()
    };
    match next {
        Some(h) => Ok(hwnd_of(h)),
        None => Err(crate::error::ERROR_FILE_NOT_FOUND),
    }
}

/// Class names given as atoms: the registered name (a class of this process).
fn class_name(arg: ClassArg) -> Option<String> {
    match arg {
        ClassArg::None => None,
        ClassArg::Name(n) => Some(n),
        ClassArg::Atom(a) => Some(
            find_class(&ClassArg::Atom(a))
                .map(|c| c.name)
                .unwrap_or_else(|| format!("#{a}")),
        ),
    }
}

fn found(r: Result<HWND, Fail>) -> HWND {
    match r {
        Ok(h) => h,
        Err(c) => {
            error::SetLastError(c);
            std::ptr::null_mut()
        }
    }
}

/// `FindWindowA`: NULL when no window matches (last error `ERROR_FILE_NOT_FOUND`).
///
/// # Safety
/// Strings are NULL, atoms or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn FindWindowA(class: *const c_char, title: *const c_char) -> HWND {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as the caller promises.
        unsafe { FindWindowExA(std::ptr::null_mut(), std::ptr::null_mut(), class, title) }
    })
}

/// `FindWindowW`.
///
/// # Safety
/// Strings are NULL, atoms or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn FindWindowW(class: *const WCHAR, title: *const WCHAR) -> HWND {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as the caller promises.
        unsafe { FindWindowExW(std::ptr::null_mut(), std::ptr::null_mut(), class, title) }
    })
}

/// `FindWindowExA`: `hwndParent` NULL or `HWND_MESSAGE` (both search the message windows).
///
/// # Safety
/// Strings are NULL, atoms or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn FindWindowExA(
    parent: HWND,
    after: HWND,
    class: *const c_char,
    title: *const c_char,
) -> HWND {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as the caller promises.
        let r = unsafe { class_arg(class.cast(), false) }.and_then(|c| {
            // SAFETY: NULL or a NUL-terminated string, as the caller promises.
            let t = unsafe { ansi(title) }?;
            find(parent, after, class_name(c), t)
        });
        found(r)
    })
}

/// `FindWindowExW`.
///
/// # Safety
/// Strings are NULL, atoms or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn FindWindowExW(
    parent: HWND,
    after: HWND,
    class: *const WCHAR,
    title: *const WCHAR,
) -> HWND {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as the caller promises.
        let r = unsafe { class_arg(class.cast(), true) }.and_then(|c| {
            // SAFETY: NULL or a NUL-terminated wide string, as the caller promises.
            let t = unsafe { wide(title) }?;
            find(parent, after, class_name(c), t)
        });
        found(r)
    })
}

// ---- sending and posting ----

/// The bytes of a `WM_COPYDATA`'s `COPYDATASTRUCT`: `(dwData, data)`.
unsafe fn copydata<'a>(lparam: isize) -> Result<(usize, &'a [u8]), Fail> {
    let cds = lparam as *const COPYDATASTRUCT;
    if cds.is_null() {
        return Err(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: the caller's lParam points to a COPYDATASTRUCT whose lpData holds cbData bytes.
    unsafe {
        let c = &*cds;
        let data = if c.cbData == 0 || c.lpData.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(c.lpData as *const u8, c.cbData as usize)
        };
        Ok((c.dwData, data))
    }
}

/// Delivers one message to its window procedure on this (the owning) thread; for
/// `WM_COPYDATA` from a queue, `lParam` points to a `COPYDATASTRUCT` over the received bytes.
fn deliver(item: &Item) -> isize {
    let hwnd = hwnd_of(item.hwnd);
    let Some(w) = own(hwnd) else { return 0 };
    match &item.data {
        Some(data) => {
            let mut cds = COPYDATASTRUCT {
                dwData: item.lparam as usize,
                cbData: data.len() as u32,
                lpData: data.as_ptr() as *mut c_void,
            };
            // SAFETY: the window's procedure, with a COPYDATASTRUCT valid during the call.
            unsafe {
                call(
                    w.class.proc_,
                    hwnd,
                    item.msg,
                    item.wparam,
                    &mut cds as *mut COPYDATASTRUCT as isize,
                )
            }
        }
        // SAFETY: the window's procedure.
        None => unsafe { call(w.class.proc_, hwnd, item.msg, item.wparam, item.lparam) },
    }
}

/// Handles the sent messages waiting in this thread's queue. The queue's lock is given back
/// before each procedure runs.
/// Whether a task ran (DDEML's transactions stand for posted messages on Windows: the
/// `GetMessage` that ran one returns, as if it had dispatched that message).
fn handle_sent(queue: &Queue) -> bool {
    let mut ran = false;
    loop {
        let item = {
            let mut st = queue.lock();
            if let Some(task) = st.tasks.pop_front() {
                drop(st);
                (task.0)();
                ran = true;
                continue;
            }
            let Some(i) = st.items.iter().position(|i| i.reply.is_some()) else {
                return ran;
            };
            st.items.remove(i)
        };
        if let Some(item) = item {
            let result = deliver(&item);
            if let Some(reply) = item.reply {
                let _ = reply.send(result);
            }
        }
    }
}

fn send_impl(
    hwnd: HWND,
    msg: u32,
    wparam: usize,
    lparam: isize,
    timeout: Option<Duration>,
    abort_if_hung: bool,
) -> Result<isize, Fail> {
    if hwnd == HWND_BROADCAST {
        // Every top-level window of the session, this process's own too, each with the
        // caller's timeout; the outcome of each is not reported (as Windows).
        for w in pw::list()
            .map_err(|e| code(&e))?
            .into_iter()
            .filter(|w| w.top_level)
        {
            let _ = send_impl(
                hwnd_of(w.hwnd.as_raw()),
                msg,
                wparam,
                lparam,
                timeout,
                abort_if_hung,
            );
        }
        return Ok(0);
    }
    if hwnd.is_null() || was_destroyed(hwnd) {
        return Err(ERROR_INVALID_WINDOW_HANDLE);
    }
    if let Some(w) = own(hwnd) {
        if w.tid == tid() {
            // SAFETY: the window's procedure, called directly as Windows does for the same
            // thread.
            return Ok(unsafe { call(w.class.proc_, hwnd, msg, wparam, lparam) });
        }
        // Another thread of this process owns it: through its queue.
        let data = if msg == WM_COPYDATA {
            // SAFETY: a WM_COPYDATA's lParam points to a COPYDATASTRUCT.
            let (kind, bytes) = unsafe { copydata(lparam) }?;
            return local_send(
                &w,
                hwnd,
                msg,
                wparam,
                kind as isize,
                Some(bytes.to_vec()),
                timeout,
            );
        } else {
            None
        };
        return local_send(&w, hwnd, msg, wparam, lparam, data, timeout);
    }
    let target = Hwnd::from_raw(hwnd as u64);
    let options = SendOptions {
        timeout,
        abort_if_hung,
    };
    let out = if msg == WM_COPYDATA {
        // SAFETY: a WM_COPYDATA's lParam points to a COPYDATASTRUCT.
        let (kind, bytes) = unsafe { copydata(lparam) }?;
        let mut out = Outgoing::new(msg, wparam, kind as isize).with_data(bytes);
        if wparam != 0 {
            out = out.from_window(Hwnd::from_raw(wparam as u64));
        }
        out
    } else {
        Outgoing::new(msg, wparam, lparam)
    };
    let queue = registry().queues.get(&tid()).cloned();
    let r = match queue {
        None => pw::send(target, &out, options),
        Some(queue) => send_pumping(&queue, target, &out, options),
    };
    r.map_err(|e| code(&e))
}

/// Sends to another process's window while this thread handles the messages sent to its own
/// windows meanwhile, as Windows does (the receiver may send back before it answers).
fn send_pumping(
    queue: &Queue,
    target: Hwnd,
    out: &Outgoing<'_>,
    options: SendOptions,
) -> std::io::Result<isize> {
    pumping_on(queue, || pw::send(target, out, options))?
}

/// Runs `f` on a helper thread while this thread handles what is sent to it (messages to its
/// windows, DDEML callbacks) until `f` returns: a call that waits on another process which may
/// call back into this thread meanwhile.
pub(crate) fn pumping<R: Send>(f: impl FnOnce() -> R + Send) -> std::io::Result<R> {
    pumping_on(&queue_of(tid()), f)
}

fn pumping_on<R: Send>(queue: &Queue, f: impl FnOnce() -> R + Send) -> std::io::Result<R> {
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let working = std::thread::Builder::new()
            .name("pipework-win32-call".into())
            .spawn_scoped(scope, || {
                let r = f();
                // Under the queue's lock, so the waiting thread cannot miss it.
                let st = queue.lock();
                let _ = tx.send(r);
                drop(st);
                queue.ready.notify_all();
            });
        working?;
        loop {
            handle_sent(queue);
            let st = queue.lock();
            if let Ok(r) = rx.try_recv() {
                return Ok(r);
            }
            if st.sent_waiting() {
                continue;
            }
            drop(queue.ready.wait(st).unwrap_or_else(|e| e.into_inner()));
        }
    })
}

/// Runs `f` on thread `thread` (by `GetCurrentThreadId`), where that thread handles sent
/// messages: in its `GetMessage` / `PeekMessage`, or a call that pumps meanwhile
/// ([`pumping`]); at once when `thread` is this one. Waits for its result; `None` if the
/// task was dropped unrun or `cancelled` says to stop waiting.
pub(crate) fn run_on<R: Send + 'static>(
    thread: u32,
    f: impl FnOnce() -> R + Send + 'static,
    cancelled: &dyn Fn() -> bool,
) -> Option<R> {
    if thread == tid() {
        return Some(f());
    }
    let (tx, rx) = mpsc::channel();
    let queue = queue_of(thread);
    queue.lock().tasks.push_back(Task(Box::new(move || {
        let _ = tx.send(f());
    })));
    queue.ready.notify_all();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => return Some(r),
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(mpsc::RecvTimeoutError::Timeout) if cancelled() => return None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

fn local_send(
    w: &Own,
    hwnd: HWND,
    msg: u32,
    wparam: usize,
    lparam: isize,
    data: Option<Vec<u8>>,
    timeout: Option<Duration>,
) -> Result<isize, Fail> {
    let (tx, rx) = mpsc::channel();
    w.queue.push(Item {
        hwnd: hwnd as u64,
        msg,
        wparam,
        lparam,
        data,
        reply: Some(tx),
        time: tick(),
    });
    match timeout {
        None => rx.recv().map_err(|_| ERROR_INVALID_WINDOW_HANDLE),
        Some(t) => rx.recv_timeout(t).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => ERROR_TIMEOUT,
            mpsc::RecvTimeoutError::Disconnected => ERROR_INVALID_WINDOW_HANDLE,
        }),
    }
}

fn lresult(r: Result<isize, Fail>) -> isize {
    r.unwrap_or_else(|c| {
        error::SetLastError(c);
        0
    })
}

/// `SendMessageA`: waits for the window procedure's result (0 and the last error when the
/// window does not exist).
#[no_mangle]
pub extern "C" fn SendMessageA(hwnd: HWND, msg: u32, wparam: usize, lparam: isize) -> isize {
    crate::boundary::guard(0, move || {
        lresult(send_impl(hwnd, msg, wparam, lparam, None, false))
    })
}

/// `SendMessageW`.
#[no_mangle]
pub extern "C" fn SendMessageW(hwnd: HWND, msg: u32, wparam: usize, lparam: isize) -> isize {
    crate::boundary::guard(0, move || SendMessageA(hwnd, msg, wparam, lparam))
}

/// `SendMessageTimeoutA`: 0 and `ERROR_TIMEOUT` when the procedure did not answer in time
/// (or, with `SMTO_ABORTIFHUNG`, the window is hung); `SMTO_BLOCK` is how every send waits.
///
/// # Safety
/// `result` is NULL or points to a `DWORD_PTR`.
#[no_mangle]
pub unsafe extern "C" fn SendMessageTimeoutA(
    hwnd: HWND,
    msg: u32,
    wparam: usize,
    lparam: isize,
    flags: u32,
    timeout_ms: u32,
    result: *mut usize,
) -> isize {
    crate::boundary::guard(0, move || {
        match send_impl(
            hwnd,
            msg,
            wparam,
            lparam,
            Some(Duration::from_millis(timeout_ms.into())),
            flags & SMTO_ABORTIFHUNG != 0,
        ) {
            Ok(v) => {
                if !result.is_null() {
                    // SAFETY: not NULL, writable as the caller promises.
                    unsafe { *result = v as usize };
                }
                1
            }
            Err(c) => {
                error::SetLastError(c);
                0
            }
        }
    })
}

/// `SendMessageTimeoutW`.
///
/// # Safety
/// `result` is NULL or points to a `DWORD_PTR`.
#[no_mangle]
pub unsafe extern "C" fn SendMessageTimeoutW(
    hwnd: HWND,
    msg: u32,
    wparam: usize,
    lparam: isize,
    flags: u32,
    timeout_ms: u32,
    result: *mut usize,
) -> isize {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        unsafe { SendMessageTimeoutA(hwnd, msg, wparam, lparam, flags, timeout_ms, result) }
    })
}

fn post_impl(hwnd: HWND, msg: u32, wparam: usize, lparam: isize) -> Result<(), Fail> {
    if msg == WM_COPYDATA {
        return Err(ERROR_MESSAGE_SYNC_ONLY);
    }
    if hwnd == HWND_BROADCAST {
        // Every top-level window of the session; a full queue or a window gone meanwhile is
        // skipped.
        for w in pw::list()
            .map_err(|e| code(&e))?
            .into_iter()
            .filter(|w| w.top_level)
        {
            let _ = post_impl(hwnd_of(w.hwnd.as_raw()), msg, wparam, lparam);
        }
        return Ok(());
    }
    if hwnd.is_null() {
        // A thread message to the caller's own queue.
        queue_of(tid()).push(Item {
            hwnd: 0,
            msg,
            wparam,
            lparam,
            data: None,
            reply: None,
            time: tick(),
        });
        return Ok(());
    }
    if let Some(w) = own(hwnd) {
        w.queue.push(Item {
            hwnd: hwnd as u64,
            msg,
            wparam,
            lparam,
            data: None,
            reply: None,
            time: tick(),
        });
        return Ok(());
    }
    if was_destroyed(hwnd) {
        return Err(ERROR_INVALID_WINDOW_HANDLE);
    }
    pw::post_message(Hwnd::from_raw(hwnd as u64), msg, wparam, lparam).map_err(|e| code(&e))
}

/// `PostMessageA`: queues the message and returns (`ERROR_MESSAGE_SYNC_ONLY` for
/// `WM_COPYDATA`, `ERROR_NOT_ENOUGH_QUOTA` when the target's queue is full).
#[no_mangle]
pub extern "C" fn PostMessageA(hwnd: HWND, msg: u32, wparam: usize, lparam: isize) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        error::boolean(post_impl(hwnd, msg, wparam, lparam))
    })
}

/// `PostMessageW`.
#[no_mangle]
pub extern "C" fn PostMessageW(hwnd: HWND, msg: u32, wparam: usize, lparam: isize) -> BOOL {
    crate::boundary::guard(FALSE, move || PostMessageA(hwnd, msg, wparam, lparam))
}

/// `PostQuitMessage`: the thread's next `GetMessage` with nothing else posted returns
/// `WM_QUIT` (FALSE).
#[no_mangle]
pub extern "C" fn PostQuitMessage(exit_code: i32) {
    crate::boundary::guard((), move || {
        let q = queue_of(tid());
        q.lock().quit = Some(exit_code);
        q.ready.notify_all();
    })
}

fn matches(item: &Item, hwnd: HWND, min: u32, max: u32) -> bool {
    let hwnd_ok =
        hwnd.is_null() || (hwnd as isize == -1 && item.hwnd == 0) || item.hwnd == hwnd as u64;
    let range_ok = (min == 0 && max == 0) || (item.msg >= min && item.msg <= max);
    hwnd_ok && range_ok
}

/// Takes (or reads) the next posted message for `GetMessage` / `PeekMessage`; `None` when
/// there is none and `wait` ran out.
unsafe fn next_message(
    out: *mut MSG,
    hwnd: HWND,
    min: u32,
    max: u32,
    remove: bool,
    wait: bool,
) -> Result<Option<bool>, Fail> {
    if out.is_null() {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let queue = queue_of(tid());
    let mut ran = false;
    loop {
        ran |= handle_sent(&queue);
        let mut st = queue.lock();
        if st.sent_waiting() {
            continue;
        }
        if ran && remove && hwnd.is_null() && min == 0 && max == 0 {
            // A DDEML callback ran: what Windows would have dispatched from a posted message.
            // An unfiltered loop gets a WM_NULL and looks at its conditions again.
            let m = MSG {
                hwnd: std::ptr::null_mut(),
                message: WM_NULL,
                wParam: 0,
                lParam: 0,
                time: tick(),
                pt: POINT::default(),
            };
            // SAFETY: not NULL, a writable MSG as the caller promises.
            unsafe { out.write(m) };
            return Ok(Some(true));
        }
        let pos = st.items.iter().position(|i| matches(i, hwnd, min, max));
        let msg = if let Some(p) = pos {
            let i = &st.items[p];
            let m = MSG {
                hwnd: hwnd_of(i.hwnd),
                message: i.msg,
                wParam: i.wparam,
                lParam: i.lparam,
                time: i.time,
                pt: POINT::default(),
            };
            if remove {
                st.items.remove(p);
            }
            Some(m)
        } else if let Some(code) = st.quit {
            if remove {
                st.quit = None;
            }
            Some(MSG {
                hwnd: std::ptr::null_mut(),
                message: WM_QUIT,
                wParam: code as usize,
                lParam: 0,
                time: tick(),
                pt: POINT::default(),
            })
        } else {
            None
        };
        if let Some(m) = msg {
            let quit = m.message == WM_QUIT;
            // SAFETY: not NULL, a writable MSG as the caller promises.
            unsafe { out.write(m) };
            return Ok(Some(!quit));
        }
        if !wait {
            return Ok(None);
        }
        let deadline = Instant::now() + Duration::from_secs(3600);
        let _unused = queue
            .ready
            .wait_timeout(st, deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| e.into_inner());
    }
}

/// `GetMessageA`: waits for a posted message of this thread (handling sent ones meanwhile);
/// FALSE for `WM_QUIT`, -1 on a bad argument.
///
/// # Safety
/// `msg` points to a `MSG`.
#[no_mangle]
pub unsafe extern "C" fn GetMessageA(msg: *mut MSG, hwnd: HWND, min: u32, max: u32) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: as the caller promises.
        match unsafe { next_message(msg, hwnd, min, max, true, true) } {
            Ok(Some(true)) => TRUE,
            Ok(_) => FALSE,
            Err(c) => {
                error::SetLastError(c);
                -1
            }
        }
    })
}

/// `GetMessageW`.
///
/// # Safety
/// `msg` points to a `MSG`.
#[no_mangle]
pub unsafe extern "C" fn GetMessageW(msg: *mut MSG, hwnd: HWND, min: u32, max: u32) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: as the caller promises.
        unsafe { GetMessageA(msg, hwnd, min, max) }
    })
}

/// `PeekMessageA`: `PM_REMOVE` or `PM_NOREMOVE`; handles waiting sent messages first.
///
/// # Safety
/// `msg` points to a `MSG`.
#[no_mangle]
pub unsafe extern "C" fn PeekMessageA(
    msg: *mut MSG,
    hwnd: HWND,
    min: u32,
    max: u32,
    remove: u32,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: as the caller promises.
        match unsafe { next_message(msg, hwnd, min, max, remove & PM_REMOVE != 0, false) } {
            Ok(Some(_)) => TRUE,
            Ok(None) => FALSE,
            Err(c) => {
                error::SetLastError(c);
                FALSE
            }
        }
    })
}

/// `PeekMessageW`.
///
/// # Safety
/// `msg` points to a `MSG`.
#[no_mangle]
pub unsafe extern "C" fn PeekMessageW(
    msg: *mut MSG,
    hwnd: HWND,
    min: u32,
    max: u32,
    remove: u32,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: as the caller promises.
        unsafe { PeekMessageA(msg, hwnd, min, max, remove) }
    })
}

/// `TranslateMessage`: message windows get no keyboard input; FALSE (nothing translated).
#[no_mangle]
pub extern "C" fn TranslateMessage(_msg: *const MSG) -> BOOL {
    crate::boundary::guard(FALSE, move || FALSE)
}

/// `DispatchMessageA`: calls the window procedure of the message's window; its result.
///
/// # Safety
/// `msg` points to a `MSG`.
#[no_mangle]
pub unsafe extern "C" fn DispatchMessageA(msg: *const MSG) -> isize {
    crate::boundary::guard(0, move || {
        if msg.is_null() {
            return lresult(Err(ERROR_INVALID_PARAMETER));
        }
        // SAFETY: a MSG as the caller promises.
        let m = unsafe { &*msg };
        match own(m.hwnd) {
            // SAFETY: the window's procedure.
            Some(w) => unsafe { call(w.class.proc_, m.hwnd, m.message, m.wParam, m.lParam) },
            None if m.hwnd.is_null() => 0,
            None => lresult(Err(ERROR_INVALID_WINDOW_HANDLE)),
        }
    })
}

/// `DispatchMessageW`.
///
/// # Safety
/// `msg` points to a `MSG`.
#[no_mangle]
pub unsafe extern "C" fn DispatchMessageW(msg: *const MSG) -> isize {
    crate::boundary::guard(0, move || {
        // SAFETY: as the caller promises.
        unsafe { DispatchMessageA(msg) }
    })
}

/// `DefWindowProcA`: `WM_NCCREATE` TRUE, `WM_CLOSE` destroys the window, everything else 0.
#[no_mangle]
pub extern "C" fn DefWindowProcA(hwnd: HWND, msg: u32, _wparam: usize, _lparam: isize) -> isize {
    crate::boundary::guard(0, move || match msg {
        WM_NCCREATE => 1,
        WM_CLOSE => {
            DestroyWindow(hwnd);
            0
        }
        _ => 0,
    })
}

/// `DefWindowProcW`.
#[no_mangle]
pub extern "C" fn DefWindowProcW(hwnd: HWND, msg: u32, wparam: usize, lparam: isize) -> isize {
    crate::boundary::guard(0, move || DefWindowProcA(hwnd, msg, wparam, lparam))
}
