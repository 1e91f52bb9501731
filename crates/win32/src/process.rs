//! `CreateProcess`, the standard handles and process handles, on [`pipework::process`] and
//! [`std::process::Command`].

use std::ffi::c_char;
use std::os::unix::process::{CommandExt as _, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use pipework::process::{CommandExt, Process};

use crate::error::{
    self, Fail, Op, Win32, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_INVALID_HANDLE,
    ERROR_INVALID_PARAMETER, ERROR_NOT_SUPPORTED,
};
use crate::table::{self, Object, CURRENT_PROCESS, INHERIT_ENV};
use crate::text::{ansi, wide};
use crate::types::*;

const STARTF_USESTDHANDLES: u32 = 0x100;
const CREATE_UNICODE_ENVIRONMENT: u32 = 0x400;
const STILL_ACTIVE: u32 = 259;
const STD_INPUT_HANDLE: u32 = -10i32 as u32;
const STD_OUTPUT_HANDLE: u32 = -11i32 as u32;
const STD_ERROR_HANDLE: u32 = -12i32 as u32;

/// A process handle's object: the process, and for a child this process started, the child
/// (whose exit code only a parent can learn).
#[derive(Debug)]
pub(crate) struct ProcessObject {
    pub(crate) process: Process,
    child: Option<Mutex<Child>>,
}

/// The codes `TerminateProcess` gave, by process id (any handle to the process may ask).
fn terminated() -> std::sync::MutexGuard<'static, std::collections::HashMap<u32, u32>> {
    static CODES: std::sync::OnceLock<Mutex<std::collections::HashMap<u32, u32>>> =
        std::sync::OnceLock::new();
    CODES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl ProcessObject {
    pub(crate) fn current() -> Result<ProcessObject, Fail> {
        Ok(ProcessObject {
            process: Process::open(std::process::id()).win32(Op::Other)?,
            child: None,
        })
    }
}

/// `STARTUPINFOA` / `STARTUPINFOW` (same layout: only the string pointers' types differ).
#[repr(C)]
#[derive(Debug)]
#[allow(clippy::upper_case_acronyms)] // Win32's name
pub struct STARTUPINFO {
    cb: DWORD,
    reserved: *mut core::ffi::c_void,
    desktop: *mut core::ffi::c_void,
    title: *mut core::ffi::c_void,
    x: DWORD,
    y: DWORD,
    x_size: DWORD,
    y_size: DWORD,
    x_chars: DWORD,
    y_chars: DWORD,
    fill: DWORD,
    flags: DWORD,
    show: u16,
    reserved2_len: u16,
    reserved2: *mut u8,
    std_input: HANDLE,
    std_output: HANDLE,
    std_error: HANDLE,
}

/// `PROCESS_INFORMATION`.
#[repr(C)]
#[derive(Debug)]
pub struct PROCESS_INFORMATION {
    /// `hProcess`.
    pub hProcess: HANDLE,
    /// `hThread`.
    pub hThread: HANDLE,
    /// `dwProcessId`.
    pub dwProcessId: DWORD,
    /// `dwThreadId`.
    pub dwThreadId: DWORD,
}

/// Splits a command line the way the Microsoft C runtime does (`CommandLineToArgvW`'s rules):
/// whitespace separates, quotes group, `2n` backslashes before a quote are `n` and the quote
/// counts, `2n+1` are `n` and a literal quote.
fn split_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        if chars.peek().is_none() {
            return args;
        }
        let mut arg = String::new();
        let mut quoted = false;
        let mut slashes = 0usize;
        while let Some(&c) = chars.peek() {
            match c {
                '\\' => {
                    slashes += 1;
                    chars.next();
                }
                '"' => {
                    arg.extend(std::iter::repeat_n('\\', slashes / 2));
                    chars.next();
                    if slashes % 2 == 1 {
                        arg.push('"');
                    } else if quoted && chars.peek() == Some(&'"') {
                        arg.push('"');
                        chars.next();
                    } else {
                        quoted = !quoted;
                    }
                    slashes = 0;
                }
                ' ' | '\t' if !quoted => break,
                c => {
                    arg.extend(std::iter::repeat_n('\\', slashes));
                    slashes = 0;
                    arg.push(c);
                    chars.next();
                }
            }
        }
        arg.extend(std::iter::repeat_n('\\', slashes));
        args.push(arg);
    }
}

/// An environment block: `NAME=value` strings, each NUL-terminated, then a NUL.
fn environment(block: *const core::ffi::c_void, unicode: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if block.is_null() {
        return out;
    }
    let mut at = 0usize;
    loop {
        let entry = if unicode {
            // SAFETY: the caller's environment block: wide strings ending in an empty one.
            match unsafe { wide(block.cast::<u16>().add(at)) } {
                Ok(Some(s)) => {
                    at += s.encode_utf16().count() + 1;
                    s
                }
                _ => break,
            }
        } else {
            // SAFETY: the caller's environment block: strings ending in an empty one.
            match unsafe { ansi(block.cast::<c_char>().add(at)) } {
                Ok(Some(s)) => {
                    at += s.len() + 1;
                    s
                }
                _ => break,
            }
        };
        if entry.is_empty() {
            break;
        }
        // Entries such as "=C:=C:\" (per-drive directories) have no name: skip them.
        if let Some((k, v)) = entry.split_once('=').filter(|(k, _)| !k.is_empty()) {
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

/// What a child's standard handle is: a handle of this process, or nothing.
fn stdio_of(h: HANDLE) -> Result<Stdio, Fail> {
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        return Ok(Stdio::null());
    }
    let object = table::get(h)?;
    match crate::file::fd_of(&object) {
        Some(fd) => Ok(Stdio::from(fd.win32(Op::Other)?)),
        None => Err(ERROR_INVALID_HANDLE),
    }
}

struct Request {
    application: Option<String>,
    command_line: Option<String>,
    inherit: bool,
    flags: DWORD,
    environment: *const core::ffi::c_void,
    directory: Option<String>,
    std: Option<[HANDLE; 3]>,
}

fn create_process(req: Request) -> Result<PROCESS_INFORMATION, Fail> {
    let mut argv = req
        .command_line
        .as_deref()
        .map(split_command_line)
        .unwrap_or_default();
    let program = match &req.application {
        Some(app) => {
            if argv.is_empty() {
                argv.push(app.clone());
            }
            app.clone()
        }
        None => argv.first().cloned().ok_or(ERROR_INVALID_PARAMETER)?,
    };
    let mut command = Command::new(&program);
    command.arg0(&argv[0]).args(&argv[1..]);
    command.env_remove(INHERIT_ENV);
    if let Some(dir) = &req.directory {
        command.current_dir(dir);
    }
    if !req.environment.is_null() {
        command.env_clear();
        command.envs(environment(
            req.environment,
            req.flags & CREATE_UNICODE_ENVIRONMENT != 0,
        ));
    }
    let std = match req.std {
        Some(handles) => Some(handles),
        // Without STARTF_USESTDHANDLES a child gets this process's standard handles: those
        // SetStdHandle replaced, or else its descriptors 0-2.
        None => {
            let std = std_handles();
            std.iter()
                .any(|h| h.is_some())
                .then(|| [0, 1, 2].map(|i| std[i].map_or(std::ptr::null_mut(), |h| h as HANDLE)))
        }
    };
    if let Some([input, output, err]) = std {
        let inherit_original = |h: HANDLE, i: usize| {
            if h.is_null() && req.std.is_none() {
                // Not replaced: the child inherits the descriptor itself.
                Ok(None)
            } else {
                stdio_of(h).map(Some)
            }
            .map(|s| (s, i))
        };
        for (s, i) in [
            inherit_original(input, 0)?,
            inherit_original(output, 1)?,
            inherit_original(err, 2)?,
        ] {
            if let Some(s) = s {
                match i {
                    0 => command.stdin(s),
                    1 => command.stdout(s),
                    _ => command.stderr(s),
                };
            }
        }
    }
    if req.inherit {
        let mut spec = String::new();
        for (h, kind, fd) in table::for_child() {
            // The child adopts the descriptor only if it is this very object.
            let Some((dev, ino)) = table::identity(&fd) else {
                continue;
            };
            let number = command.inherit_handle(fd);
            spec.push_str(&format!("{h:x}:{kind}:{number}:{dev:x}:{ino:x};"));
        }
        spec.push_str(&table::named_for_child());
        if !spec.is_empty() {
            command.env(INHERIT_ENV, spec);
        }
    }
    let child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ERROR_FILE_NOT_FOUND,
        _ => error::code(&e, Op::Other),
    })?;
    // The command holds the inherited descriptors' copies: they go now.
    drop(command);
    let pid = child.id();
    let process = Process::from_child(&child).win32(Op::Other)?;
    let thread = Process::open(pid).win32(Op::Other)?;
    let h_process = table::insert(
        Object::Process(ProcessObject {
            process,
            child: Some(Mutex::new(child)),
        }),
        false,
    );
    let h_thread = table::insert(
        Object::Process(ProcessObject {
            process: thread,
            child: None,
        }),
        false,
    );
    Ok(PROCESS_INFORMATION {
        hProcess: h_process,
        hThread: h_thread,
        dwProcessId: pid,
        dwThreadId: pid,
    })
}

/// Shared by the A and W forms once their strings are read.
///
/// # Safety
/// `si` is NULL or valid; `pi` points to a `PROCESS_INFORMATION`.
unsafe fn finish(
    req: Result<Request, Fail>,
    si: *const STARTUPINFO,
    pi: *mut PROCESS_INFORMATION,
) -> BOOL {
    let r = req.and_then(|mut req| {
        if pi.is_null() {
            return Err(ERROR_INVALID_PARAMETER);
        }
        // SAFETY: NULL or the caller's STARTUPINFO.
        if let Some(si) = unsafe { si.as_ref() } {
            if si.flags & STARTF_USESTDHANDLES != 0 {
                req.std = Some([si.std_input, si.std_output, si.std_error]);
            }
        }
        let info = create_process(req)?;
        // SAFETY: checked not NULL; the caller's PROCESS_INFORMATION.
        unsafe { pi.write(info) };
        Ok(())
    });
    error::boolean(r)
}

/// `CreateProcessA`: runs `lpApplicationName` (or the command line's first word, searched in
/// `PATH`) with the command line split as the C runtime splits it; `STARTF_USESTDHANDLES`
/// gives the child its standard handles; with `bInheritHandles` the inheritable handles go to
/// the child under the same values.
///
/// # Safety
/// Pointers as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateProcessA(
    application: *const c_char,
    command_line: *mut c_char,
    _process_sa: *const SECURITY_ATTRIBUTES,
    _thread_sa: *const SECURITY_ATTRIBUTES,
    inherit: BOOL,
    flags: DWORD,
    environment: *mut core::ffi::c_void,
    directory: *const c_char,
    si: *const STARTUPINFO,
    pi: *mut PROCESS_INFORMATION,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: the caller's strings.
        let req = (|| unsafe {
            Ok(Request {
                application: ansi(application)?,
                command_line: ansi(command_line)?,
                inherit: inherit != 0,
                flags,
                environment,
                directory: ansi(directory)?,
                std: None,
            })
        })();
        // SAFETY: the caller's structures.
        unsafe { finish(req, si, pi) }
    })
}

/// `CreateProcessW`.
///
/// # Safety
/// Pointers as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateProcessW(
    application: *const WCHAR,
    command_line: *mut WCHAR,
    _process_sa: *const SECURITY_ATTRIBUTES,
    _thread_sa: *const SECURITY_ATTRIBUTES,
    inherit: BOOL,
    flags: DWORD,
    environment: *mut core::ffi::c_void,
    directory: *const WCHAR,
    si: *const STARTUPINFO,
    pi: *mut PROCESS_INFORMATION,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: the caller's strings.
        let req = (|| unsafe {
            Ok(Request {
                application: wide(application)?,
                command_line: wide(command_line)?,
                inherit: inherit != 0,
                flags,
                environment,
                directory: wide(directory)?,
                std: None,
            })
        })();
        // SAFETY: the caller's structures.
        unsafe { finish(req, si, pi) }
    })
}

/// The standard handles: `None` until asked for or set.
fn std_slots() -> std::sync::MutexGuard<'static, [Option<usize>; 3]> {
    static STD: Mutex<[Option<usize>; 3]> = Mutex::new([None; 3]);
    STD.lock().unwrap_or_else(|e| e.into_inner())
}

fn std_handles() -> [Option<usize>; 3] {
    *std_slots()
}

fn std_index(n: DWORD) -> Option<usize> {
    match n {
        STD_INPUT_HANDLE => Some(0),
        STD_OUTPUT_HANDLE => Some(1),
        STD_ERROR_HANDLE => Some(2),
        _ => None,
    }
}

/// `GetStdHandle`: a handle to descriptor 0, 1 or 2 (made at the first call), or the handle
/// `SetStdHandle` put there.
#[no_mangle]
pub extern "C" fn GetStdHandle(n: DWORD) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let Some(i) = std_index(n) else {
            error::SetLastError(ERROR_INVALID_HANDLE);
            return INVALID_HANDLE_VALUE;
        };
        let mut slots = std_slots();
        if let Some(h) = slots[i] {
            return h as HANDLE;
        }
        // SAFETY: descriptors 0-2 are borrowed only long enough to duplicate them.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(i as i32) };
        match crate::file::std_object(fd) {
            Some(object) => {
                let h = table::insert(object, true);
                slots[i] = Some(h as usize);
                h
            }
            // No such descriptor: a process without that standard handle gets NULL, as on Windows.
            None => std::ptr::null_mut(),
        }
    })
}

/// `SetStdHandle`.
#[no_mangle]
pub extern "C" fn SetStdHandle(n: DWORD, h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = match std_index(n) {
            Some(i) => {
                std_slots()[i] = Some(h as usize);
                Ok(())
            }
            None => Err(ERROR_INVALID_HANDLE),
        };
        error::boolean(r)
    })
}

/// `GetCurrentProcess`: the pseudo-handle -1.
#[no_mangle]
pub extern "C" fn GetCurrentProcess() -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || CURRENT_PROCESS)
}

/// `GetCurrentProcessId`.
#[no_mangle]
pub extern "C" fn GetCurrentProcessId() -> DWORD {
    crate::boundary::guard(0, std::process::id)
}

/// `GetCurrentThreadId`: the thread's kernel id.
#[no_mangle]
pub extern "C" fn GetCurrentThreadId() -> DWORD {
    crate::boundary::guard(0, move || {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() as DWORD }
    })
}

fn with_process<T>(
    h: HANDLE,
    f: impl FnOnce(&ProcessObject) -> Result<T, Fail>,
) -> Result<T, Fail> {
    if h == CURRENT_PROCESS {
        return f(&ProcessObject::current()?);
    }
    match &*table::get(h)? {
        Object::Process(p) => f(p),
        _ => Err(ERROR_INVALID_HANDLE),
    }
}

/// `GetProcessId`.
#[no_mangle]
pub extern "C" fn GetProcessId(h: HANDLE) -> DWORD {
    crate::boundary::guard(0, move || match with_process(h, |p| Ok(p.process.id())) {
        Ok(pid) => pid,
        Err(code) => {
            error::SetLastError(code);
            0
        }
    })
}

/// `OpenProcess`: `ERROR_INVALID_PARAMETER` when no process has the id, as on Windows.
#[no_mangle]
pub extern "C" fn OpenProcess(_access: DWORD, inherit: BOOL, pid: DWORD) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let r = Process::open(pid)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput => {
                    ERROR_INVALID_PARAMETER
                }
                _ => error::code(&e, Op::Other),
            })
            .map(|process| {
                table::insert(
                    Object::Process(ProcessObject {
                        process,
                        child: None,
                    }),
                    inherit != 0,
                )
            });
        error::handle(r, std::ptr::null_mut())
    })
}

/// `GetExitCodeProcess`: `STILL_ACTIVE` while it runs; the exit code of a child this process
/// started, or the code `TerminateProcess` gave.
///
/// # Safety
/// `code` points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn GetExitCodeProcess(h: HANDLE, code: *mut DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = with_process(h, |p| {
            if code.is_null() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            let value = if !p.process.has_exited().win32(Op::Other)? {
                STILL_ACTIVE
            } else if let Some(child) = &p.child {
                let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
                let status = child.wait().win32(Op::Other)?;
                match (status.code(), status.signal()) {
                    (Some(c), _) => c as u32,
                    (None, Some(libc::SIGKILL)) if terminated().contains_key(&p.process.id()) => {
                        terminated()[&p.process.id()]
                    }
                    (None, Some(sig)) => 128 + sig as u32,
                    _ => 1,
                }
            } else if let Some(&c) = terminated().get(&p.process.id()) {
                c
            } else {
                return Err(ERROR_NOT_SUPPORTED);
            };
            // SAFETY: checked not NULL; the caller's DWORD.
            unsafe { *code = value };
            Ok(())
        });
        error::boolean(r)
    })
}

/// `TerminateProcess`: ends it at once; `GetExitCodeProcess` then reports `code`. A process
/// that has exited already: `ERROR_ACCESS_DENIED`, as on Windows.
#[no_mangle]
pub extern "C" fn TerminateProcess(h: HANDLE, code: u32) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        if h == CURRENT_PROCESS {
            std::process::exit(code as i32);
        }
        let r = with_process(h, |p| {
            if p.process.has_exited().win32(Op::Other)? {
                return Err(ERROR_ACCESS_DENIED);
            }
            terminated().insert(p.process.id(), code);
            p.process.kill().win32(Op::Other)
        });
        error::boolean(r)
    })
}

/// `ExitProcess`.
#[no_mangle]
pub extern "C" fn ExitProcess(code: u32) -> ! {
    std::process::exit(code as i32)
}

#[cfg(test)]
mod tests {
    use super::split_command_line;

    #[test]
    fn command_lines_split_as_the_c_runtime_splits_them() {
        assert_eq!(split_command_line(r#"a "b c" d"#), ["a", "b c", "d"]);
        assert_eq!(
            split_command_line(r#"a\\\"b "c\\" d\e"#),
            [r#"a\"b"#, r"c\", r"d\e"]
        );
        assert_eq!(split_command_line("  x\t y  "), ["x", "y"]);
        assert_eq!(split_command_line(r#""a ""b""#), [r#"a "b"#]);
        assert!(split_command_line("").is_empty());
    }
}

/// A thread `CreateThread` started: signaled (a manual-reset event) when its function returns.
#[derive(Debug)]
pub(crate) struct ThreadObject {
    pub(crate) done: pipework::sync::Event,
    code: std::sync::Arc<std::sync::atomic::AtomicU32>,
    id: u32,
}

/// `LPTHREAD_START_ROUTINE`.
pub type ThreadStart = unsafe extern "C" fn(*mut core::ffi::c_void) -> DWORD;

/// Lets a C parameter pointer travel to the new thread: C decides what it may touch there.
struct SendPtr(*mut core::ffi::c_void);
// SAFETY: the pointer is only handed back to the C function that asked for it to be passed to
// another thread (CreateThread's contract).
unsafe impl Send for SendPtr {}

/// `CreateThread`: runs `start(param)` on a new thread; the handle is signaled when it returns,
/// and `GetExitCodeThread` gives what it returned.
///
/// # Safety
/// `start` is a function C can call with `param` on another thread; `id` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateThread(
    sa: *const SECURITY_ATTRIBUTES,
    stack: usize,
    start: Option<ThreadStart>,
    param: *mut core::ffi::c_void,
    _flags: DWORD,
    id: *mut DWORD,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let r = (|| {
            let start = start.ok_or(ERROR_INVALID_PARAMETER)?;
            let done = pipework::sync::Event::new(true, false).win32(Op::Other)?;
            let signal = done.try_clone().win32(Op::Other)?;
            let code = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(STILL_ACTIVE));
            let result = code.clone();
            let param = SendPtr(param);
            let (tx, rx) = std::sync::mpsc::channel();
            let mut builder = std::thread::Builder::new();
            if stack > 0 {
                builder = builder.stack_size(stack);
            }
            builder
                .spawn(move || {
                    let param = param;
                    let _ = tx.send(GetCurrentThreadId());
                    // SAFETY: CreateThread's caller passed a function to call with `param` here.
                    let value = unsafe { start(param.0) };
                    result.store(value, std::sync::atomic::Ordering::SeqCst);
                    let _ = signal.set();
                })
                .map_err(|e| error::code(&e, Op::Other))?;
            let tid = rx.recv().unwrap_or(0);
            if !id.is_null() {
                // SAFETY: not NULL; the caller's DWORD.
                unsafe { *id = tid };
            }
            // SAFETY: the caller's SECURITY_ATTRIBUTES or NULL.
            let inherit = unsafe { crate::table::inherit_of(sa) };
            Ok(table::insert(
                Object::Thread(ThreadObject {
                    done,
                    code,
                    id: tid,
                }),
                inherit,
            ))
        })();
        error::handle(r, std::ptr::null_mut())
    })
}

/// `GetExitCodeThread`: `STILL_ACTIVE` while it runs.
///
/// # Safety
/// `code` points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn GetExitCodeThread(h: HANDLE, code: *mut DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = table::get(h).and_then(|o| match &*o {
            Object::Thread(t) if !code.is_null() => {
                // SAFETY: not NULL; the caller's DWORD.
                unsafe { *code = t.code.load(std::sync::atomic::Ordering::SeqCst) };
                Ok(())
            }
            Object::Thread(_) => Err(ERROR_INVALID_PARAMETER),
            _ => Err(ERROR_INVALID_HANDLE),
        });
        error::boolean(r)
    })
}

/// `GetThreadId`.
#[no_mangle]
pub extern "C" fn GetThreadId(h: HANDLE) -> DWORD {
    crate::boundary::guard(0, move || {
        // A handle of another kind is ERROR_INVALID_HANDLE, as on Windows.
        match table::get(h).and_then(|o| match &*o {
            Object::Thread(t) => Ok(t.id),
            Object::Process(p) => Ok(p.process.id()),
            _ => Err(crate::error::ERROR_INVALID_HANDLE),
        }) {
            Ok(id) => id,
            Err(code) => {
                error::SetLastError(code);
                0
            }
        }
    })
}
