//! Mutexes, semaphores, events and the wait functions, on [`pipework::sync`].

use std::ffi::c_char;
use std::time::Duration;

use pipework::sync::{self, Event, Semaphore, WaitResult, WaitStatus, Waitable};

use crate::error::{
    self, Fail, Op, Win32, ERROR_ALREADY_EXISTS, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER,
    ERROR_NOT_OWNER, ERROR_SUCCESS, ERROR_TOO_MANY_POSTS,
};
use crate::table::{self, inherit_of, Object};
use crate::text::{ansi, wide};
use crate::types::*;

const WAIT_OBJECT_0: u32 = 0;
const WAIT_ABANDONED_0: u32 = 0x80;
const WAIT_TIMEOUT: u32 = 258;
const WAIT_FAILED: u32 = 0xFFFF_FFFF;
const INFINITE: u32 = 0xFFFF_FFFF;
const CREATE_MUTEX_INITIAL_OWNER: u32 = 1;
const CREATE_EVENT_MANUAL_RESET: u32 = 1;
const CREATE_EVENT_INITIAL_SET: u32 = 2;

/// `None` for `INFINITE`, else the milliseconds.
pub(crate) fn timeout(ms: DWORD) -> Option<Duration> {
    (ms != INFINITE).then(|| Duration::from_millis(ms.into()))
}

/// Ends a create: the new handle, last error `ERROR_ALREADY_EXISTS` when the name existed, else
/// 0, as Windows sets it.
fn created(object: Object, existed: bool, inherit: bool) -> HANDLE {
    let h = table::insert(object, inherit);
    error::SetLastError(if existed {
        ERROR_ALREADY_EXISTS
    } else {
        ERROR_SUCCESS
    });
    h
}

fn create_mutex(name: Option<String>, owner: bool, inherit: bool) -> Result<HANDLE, Fail> {
    let mutex = match &name {
        None => pipework::sync::Mutex::new(owner),
        Some(n) => pipework::sync::Mutex::create(n, owner),
    }
    .win32(Op::CreateObject)?;
    let existed = mutex.already_existed();
    Ok(created(Object::Mutex(mutex), existed, inherit))
}

/// `CreateMutexA`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateMutexA(
    sa: *const SECURITY_ATTRIBUTES,
    owner: BOOL,
    name: *const c_char,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller passes NULL or valid pointers.
        let r = unsafe { ansi(name) }
            .and_then(|n| create_mutex(n, owner != 0, unsafe { inherit_of(sa) }));
        error::handle(r, std::ptr::null_mut())
    })
}

/// `CreateMutexW`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateMutexW(
    sa: *const SECURITY_ATTRIBUTES,
    owner: BOOL,
    name: *const WCHAR,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller passes NULL or valid pointers.
        let r = unsafe { wide(name) }
            .and_then(|n| create_mutex(n, owner != 0, unsafe { inherit_of(sa) }));
        error::handle(r, std::ptr::null_mut())
    })
}

/// `CreateMutexExA`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateMutexExA(
    sa: *const SECURITY_ATTRIBUTES,
    name: *const c_char,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as for CreateMutexA.
        unsafe { CreateMutexA(sa, (flags & CREATE_MUTEX_INITIAL_OWNER != 0).into(), name) }
    })
}

/// `CreateMutexExW`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateMutexExW(
    sa: *const SECURITY_ATTRIBUTES,
    name: *const WCHAR,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as for CreateMutexW.
        unsafe { CreateMutexW(sa, (flags & CREATE_MUTEX_INITIAL_OWNER != 0).into(), name) }
    })
}

fn open_object(kind: char, name: Option<String>, inherit: bool) -> Result<HANDLE, Fail> {
    let name = name.ok_or(ERROR_INVALID_PARAMETER)?;
    let object = match kind {
        'm' => Object::Mutex(pipework::sync::Mutex::open(&name).win32(Op::OpenObject)?),
        's' => Object::Semaphore(Semaphore::open(&name).win32(Op::OpenObject)?),
        _ => Object::Event(Event::open(&name).win32(Op::OpenObject)?),
    };
    Ok(table::insert(object, inherit))
}

macro_rules! open_fns {
    ($a:ident, $w:ident, $kind:literal, $what:literal) => {
        #[doc = concat!("`", stringify!($a), "`: opens the named ", $what, ".")]
        ///
        /// # Safety
        /// `name` is NULL or a NUL-terminated string.
        #[no_mangle]
        pub unsafe extern "C" fn $a(_access: DWORD, inherit: BOOL, name: *const c_char) -> HANDLE {
            // SAFETY: the caller passes NULL or a string.
            let r = unsafe { ansi(name) }.and_then(|n| open_object($kind, n, inherit != 0));
            error::handle(r, std::ptr::null_mut())
        }

        #[doc = concat!("`", stringify!($w), "`: opens the named ", $what, ".")]
        ///
        /// # Safety
        /// `name` is NULL or a NUL-terminated wide string.
        #[no_mangle]
        pub unsafe extern "C" fn $w(_access: DWORD, inherit: BOOL, name: *const WCHAR) -> HANDLE {
            // SAFETY: the caller passes NULL or a string.
            let r = unsafe { wide(name) }.and_then(|n| open_object($kind, n, inherit != 0));
            error::handle(r, std::ptr::null_mut())
        }
    };
}

open_fns!(OpenMutexA, OpenMutexW, 'm', "mutex");
open_fns!(OpenSemaphoreA, OpenSemaphoreW, 's', "semaphore");
open_fns!(OpenEventA, OpenEventW, 'e', "event");

/// `ReleaseMutex`: `ERROR_NOT_OWNER` when this thread does not own it.
#[no_mangle]
pub extern "C" fn ReleaseMutex(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = table::get(h).and_then(|o| match &*o {
            Object::Mutex(m) => m.release().map_err(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => ERROR_NOT_OWNER,
                _ => error::code(&e, Op::Other),
            }),
            _ => Err(ERROR_INVALID_HANDLE),
        });
        error::boolean(r)
    })
}

fn create_semaphore(
    name: Option<String>,
    initial: i32,
    max: i32,
    inherit: bool,
) -> Result<HANDLE, Fail> {
    if max <= 0 || initial < 0 || initial > max {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let sem = match &name {
        None => Semaphore::new(initial as u32, max as u32),
        Some(n) => Semaphore::create(n, initial as u32, max as u32),
    }
    .win32(Op::CreateObject)?;
    let existed = sem.already_existed();
    Ok(created(Object::Semaphore(sem), existed, inherit))
}

/// `CreateSemaphoreA`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateSemaphoreA(
    sa: *const SECURITY_ATTRIBUTES,
    initial: i32,
    max: i32,
    name: *const c_char,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller passes NULL or valid pointers.
        let r = unsafe { ansi(name) }
            .and_then(|n| create_semaphore(n, initial, max, unsafe { inherit_of(sa) }));
        error::handle(r, std::ptr::null_mut())
    })
}

/// `CreateSemaphoreW`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateSemaphoreW(
    sa: *const SECURITY_ATTRIBUTES,
    initial: i32,
    max: i32,
    name: *const WCHAR,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller passes NULL or valid pointers.
        let r = unsafe { wide(name) }
            .and_then(|n| create_semaphore(n, initial, max, unsafe { inherit_of(sa) }));
        error::handle(r, std::ptr::null_mut())
    })
}

/// `ReleaseSemaphore`: `ERROR_TOO_MANY_POSTS` when the count would pass the maximum.
///
/// # Safety
/// `previous` is NULL or points to a `LONG`.
#[no_mangle]
pub unsafe extern "C" fn ReleaseSemaphore(h: HANDLE, count: i32, previous: *mut i32) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = table::get(h).and_then(|o| match &*o {
            Object::Semaphore(_) if count <= 0 => Err(ERROR_INVALID_PARAMETER),
            Object::Semaphore(s) => {
                let before = s.release(count as u32).map_err(|e| match e.kind() {
                    std::io::ErrorKind::InvalidInput => ERROR_TOO_MANY_POSTS,
                    _ => error::code(&e, Op::Other),
                })?;
                if !previous.is_null() {
                    // SAFETY: not NULL, and the caller passes a writable LONG.
                    unsafe { *previous = before as i32 };
                }
                Ok(())
            }
            _ => Err(ERROR_INVALID_HANDLE),
        });
        error::boolean(r)
    })
}

fn create_event(
    name: Option<String>,
    manual: bool,
    initial: bool,
    inherit: bool,
) -> Result<HANDLE, Fail> {
    let event = match &name {
        None => Event::new(manual, initial),
        Some(n) => Event::create(n, manual, initial),
    }
    .win32(Op::CreateObject)?;
    let existed = event.already_existed();
    Ok(created(Object::Event(event), existed, inherit))
}

/// `CreateEventA`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateEventA(
    sa: *const SECURITY_ATTRIBUTES,
    manual: BOOL,
    initial: BOOL,
    name: *const c_char,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller passes NULL or valid pointers.
        let r = unsafe { ansi(name) }
            .and_then(|n| create_event(n, manual != 0, initial != 0, unsafe { inherit_of(sa) }));
        error::handle(r, std::ptr::null_mut())
    })
}

/// `CreateEventW`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateEventW(
    sa: *const SECURITY_ATTRIBUTES,
    manual: BOOL,
    initial: BOOL,
    name: *const WCHAR,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: the caller passes NULL or valid pointers.
        let r = unsafe { wide(name) }
            .and_then(|n| create_event(n, manual != 0, initial != 0, unsafe { inherit_of(sa) }));
        error::handle(r, std::ptr::null_mut())
    })
}

/// `CreateEventExA`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateEventExA(
    sa: *const SECURITY_ATTRIBUTES,
    name: *const c_char,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let manual = (flags & CREATE_EVENT_MANUAL_RESET != 0).into();
        let initial = (flags & CREATE_EVENT_INITIAL_SET != 0).into();
        // SAFETY: as for CreateEventA.
        unsafe { CreateEventA(sa, manual, initial, name) }
    })
}

/// `CreateEventExW`.
///
/// # Safety
/// Pointers are NULL or valid, as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CreateEventExW(
    sa: *const SECURITY_ATTRIBUTES,
    name: *const WCHAR,
    flags: DWORD,
    _access: DWORD,
) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let manual = (flags & CREATE_EVENT_MANUAL_RESET != 0).into();
        let initial = (flags & CREATE_EVENT_INITIAL_SET != 0).into();
        // SAFETY: as for CreateEventW.
        unsafe { CreateEventW(sa, manual, initial, name) }
    })
}

fn with_event(h: HANDLE, f: impl FnOnce(&Event) -> std::io::Result<()>) -> BOOL {
    let r = table::get(h).and_then(|o| match &*o {
        Object::Event(e) => f(e).win32(Op::Other),
        _ => Err(ERROR_INVALID_HANDLE),
    });
    error::boolean(r)
}

/// `SetEvent`.
#[no_mangle]
pub extern "C" fn SetEvent(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || with_event(h, Event::set))
}

/// `ResetEvent`.
#[no_mangle]
pub extern "C" fn ResetEvent(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || with_event(h, Event::reset))
}

/// `PulseEvent`: sets the event and resets it (a waiter may miss it, as Windows warns).
#[no_mangle]
pub extern "C" fn PulseEvent(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        with_event(h, |e| {
            e.set()?;
            e.reset()
        })
    })
}

/// The waitable object behind an entry.
fn waitable(o: &Object) -> Result<&dyn Waitable, Fail> {
    Ok(match o {
        Object::Mutex(m) => m,
        Object::Semaphore(s) => s,
        Object::Event(e) => e,
        Object::Process(p) => &p.process,
        Object::Thread(t) => &t.done,
        _ => return Err(ERROR_INVALID_HANDLE),
    })
}

fn wait_one(h: HANDLE, ms: DWORD) -> Result<u32, Fail> {
    let object = if h == table::CURRENT_PROCESS {
        // Waiting on oneself never ends (or ends at the timeout).
        std::sync::Arc::new(Object::Process(crate::process::ProcessObject::current()?))
    } else {
        table::get(h)?
    };
    let status = match &*object {
        Object::Mutex(m) => m.wait(timeout(ms)),
        Object::Semaphore(s) => s.wait(timeout(ms)),
        Object::Event(e) => e.wait(timeout(ms)),
        Object::Thread(t) => t.done.wait(timeout(ms)),
        Object::Process(p) => {
            return match p.process.wait_timeout(timeout(ms).unwrap_or(Duration::MAX)) {
                Ok(true) => Ok(WAIT_OBJECT_0),
                Ok(false) => Ok(WAIT_TIMEOUT),
                Err(e) => Err(error::code(&e, Op::Other)),
            }
        }
        _ => return Err(ERROR_INVALID_HANDLE),
    }
    .win32(Op::Other)?;
    Ok(match status {
        WaitStatus::Signaled => WAIT_OBJECT_0,
        WaitStatus::Abandoned => WAIT_ABANDONED_0,
        WaitStatus::TimedOut => WAIT_TIMEOUT,
    })
}

fn wait_end(r: Result<u32, Fail>) -> DWORD {
    r.unwrap_or_else(|code| {
        error::SetLastError(code);
        WAIT_FAILED
    })
}

/// `WaitForSingleObject`: mutexes, semaphores, events, processes.
#[no_mangle]
pub extern "C" fn WaitForSingleObject(h: HANDLE, ms: DWORD) -> DWORD {
    crate::boundary::guard(0xFFFF_FFFF, move || wait_end(wait_one(h, ms)))
}

/// An alertable wait for any of `members`: completion routines queued to this thread run and
/// end it with `WAIT_IO_COMPLETION`.
fn alertable_any(members: &[&dyn Waitable], ms: DWORD) -> Result<u32, Fail> {
    use crate::overlapped::{run_queued, this_thread, WAIT_IO_COMPLETION};
    if run_queued() > 0 {
        return Ok(WAIT_IO_COMPLETION);
    }
    let queue = this_thread();
    let mut all: Vec<&dyn Waitable> = members.to_vec();
    if let Some(q) = &queue {
        all.push(&q.bell);
    }
    let deadline = timeout(ms).map(|t| std::time::Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        match sync::wait_any(&all, left).win32(Op::Other)? {
            WaitResult::Signaled(i) if i == members.len() => {
                if run_queued() > 0 {
                    return Ok(WAIT_IO_COMPLETION);
                }
            }
            WaitResult::Signaled(i) => return Ok(WAIT_OBJECT_0 + i as u32),
            WaitResult::Abandoned(i) => return Ok(WAIT_ABANDONED_0 + i as u32),
            WaitResult::TimedOut => return Ok(WAIT_TIMEOUT),
        }
    }
}

/// `WaitForSingleObjectEx`: alertable, completion routines queued to this thread run and the
/// wait returns `WAIT_IO_COMPLETION`.
#[no_mangle]
pub extern "C" fn WaitForSingleObjectEx(h: HANDLE, ms: DWORD, alertable: BOOL) -> DWORD {
    crate::boundary::guard(0xFFFF_FFFF, move || {
        if alertable == 0 || h == table::CURRENT_PROCESS {
            return WaitForSingleObject(h, ms);
        }
        let r = table::get(h).and_then(|o| alertable_any(&[waitable(&o)?], ms));
        wait_end(r)
    })
}

/// `WaitForMultipleObjects`: the lowest signaled index, `WAIT_ABANDONED_0 + i`, `WAIT_TIMEOUT`.
///
/// # Safety
/// `handles` points to `count` handles.
#[no_mangle]
pub unsafe extern "C" fn WaitForMultipleObjects(
    count: DWORD,
    handles: *const HANDLE,
    wait_all: BOOL,
    ms: DWORD,
) -> DWORD {
    crate::boundary::guard(0xFFFF_FFFF, move || {
        let r = (|| {
            if count == 0 || count > 64 || handles.is_null() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            // SAFETY: the caller passes `count` handles at `handles`.
            let handles = unsafe { std::slice::from_raw_parts(handles, count as usize) };
            let objects = handles
                .iter()
                .map(|&h| table::get(h))
                .collect::<Result<Vec<_>, _>>()?;
            let members = objects
                .iter()
                .map(|o| waitable(o))
                .collect::<Result<Vec<_>, _>>()?;
            let result = if wait_all != 0 {
                sync::wait_all(&members, timeout(ms))
            } else {
                sync::wait_any(&members, timeout(ms))
            }
            .win32(Op::Other)?;
            Ok(match result {
                WaitResult::Signaled(i) => WAIT_OBJECT_0 + i as u32,
                WaitResult::Abandoned(i) => WAIT_ABANDONED_0 + i as u32,
                WaitResult::TimedOut => WAIT_TIMEOUT,
            })
        })();
        wait_end(r)
    })
}

/// `WaitForMultipleObjectsEx`: alertable, completion routines queued to this thread run and the
/// wait returns `WAIT_IO_COMPLETION` (with `bWaitAll`, only those queued before the call).
///
/// # Safety
/// As for [`WaitForMultipleObjects`].
#[no_mangle]
pub unsafe extern "C" fn WaitForMultipleObjectsEx(
    count: DWORD,
    handles: *const HANDLE,
    wait_all: BOOL,
    ms: DWORD,
    alertable: BOOL,
) -> DWORD {
    crate::boundary::guard(0xFFFF_FFFF, move || {
        if alertable != 0 && crate::overlapped::run_queued() > 0 {
            return crate::overlapped::WAIT_IO_COMPLETION;
        }
        if alertable == 0 || wait_all != 0 {
            // SAFETY: the caller's promise passes on.
            return unsafe { WaitForMultipleObjects(count, handles, wait_all, ms) };
        }
        let r = (|| {
            if count == 0 || count > 64 || handles.is_null() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            // SAFETY: the caller passes `count` handles at `handles`.
            let handles = unsafe { std::slice::from_raw_parts(handles, count as usize) };
            let objects = handles
                .iter()
                .map(|&h| table::get(h))
                .collect::<Result<Vec<_>, _>>()?;
            let members = objects
                .iter()
                .map(|o| waitable(o))
                .collect::<Result<Vec<_>, _>>()?;
            alertable_any(&members, ms)
        })();
        wait_end(r)
    })
}

/// `SignalObjectAndWait`: signals an event, releases a mutex or a semaphore, then waits.
#[no_mangle]
pub extern "C" fn SignalObjectAndWait(
    signal: HANDLE,
    wait: HANDLE,
    ms: DWORD,
    _alertable: BOOL,
) -> DWORD {
    crate::boundary::guard(0xFFFF_FFFF, move || {
        let signaled = table::get(signal).and_then(|o| match &*o {
            Object::Event(e) => e.set().win32(Op::Other),
            Object::Semaphore(s) => s.release(1).map(drop).map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidInput => ERROR_TOO_MANY_POSTS,
                _ => error::code(&e, Op::Other),
            }),
            Object::Mutex(m) => m.release().map_err(|_| ERROR_NOT_OWNER),
            _ => Err(ERROR_INVALID_HANDLE),
        });
        wait_end(signaled.and_then(|()| wait_one(wait, ms)))
    })
}

/// `Sleep`.
#[no_mangle]
pub extern "C" fn Sleep(ms: DWORD) {
    crate::boundary::guard((), move || match timeout(ms) {
        Some(d) => std::thread::sleep(d),
        None => loop {
            std::thread::park();
        },
    })
}

/// `SleepEx`: 0 when the time is up; alertable, `WAIT_IO_COMPLETION` as soon as completion
/// routines queued to this thread ran.
#[no_mangle]
pub extern "C" fn SleepEx(ms: DWORD, alertable: BOOL) -> DWORD {
    crate::boundary::guard(0, move || {
        if alertable == 0 {
            Sleep(ms);
            return 0;
        }
        if crate::overlapped::alertable_sleep(timeout(ms)) {
            crate::overlapped::WAIT_IO_COMPLETION
        } else {
            0
        }
    })
}

/// `GetTickCount64`: milliseconds since the system started.
#[no_mangle]
pub extern "C" fn GetTickCount64() -> u64 {
    crate::boundary::guard(0, move || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec, which `ts` is.
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
        ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
    })
}

/// `GetTickCount`: milliseconds since the system started, wrapping every 49.7 days.
#[no_mangle]
pub extern "C" fn GetTickCount() -> DWORD {
    crate::boundary::guard(0, move || GetTickCount64() as u32)
}
