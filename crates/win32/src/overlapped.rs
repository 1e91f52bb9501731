//! Overlapped I/O on named pipe handles opened with `FILE_FLAG_OVERLAPPED`: `ConnectNamedPipe`,
//! `ReadFile`, `WriteFile`, `TransactNamedPipe` with an `OVERLAPPED`, `ReadFileEx` /
//! `WriteFileEx`, `GetOverlappedResult`, `CancelIo` / `CancelIoEx`, and the per-thread queue of
//! completion routines that alertable waits run.
//!
//! An operation that can complete at once does, in the calling thread (TRUE, or FALSE with its
//! error, the `OVERLAPPED` filled and its event set, as Windows does). One that cannot returns
//! FALSE with `ERROR_IO_PENDING` and is driven by a worker thread of its own: the worker polls
//! the pipe end's descriptor (and a cancel socket) and performs the pipework call once the end
//! is ready, then fills `Internal` (an NTSTATUS, `STATUS_PENDING` meanwhile) and `InternalHigh`
//! (the bytes moved), and sets `hEvent` or queues the completion routine to the issuing
//! thread. No IPC logic lives here: the worker only calls the pipe end's own read, write and
//! connect.
//!
//! The caller's contract is Win32's: the buffer and the `OVERLAPPED` stay valid, and are not
//! touched, until the operation completed (or was cancelled and completed with
//! `ERROR_OPERATION_ABORTED`).

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use pipework::sync::Event;

use crate::error::{
    self, ERROR_BROKEN_PIPE, ERROR_INVALID_HANDLE, ERROR_INVALID_PARAMETER, ERROR_MORE_DATA,
    ERROR_NO_DATA, ERROR_PIPE_CONNECTED, ERROR_PIPE_LISTENING, ERROR_PIPE_NOT_CONNECTED,
    ERROR_SUCCESS,
};
use crate::file::Io;
use crate::named_pipe::PipeEnd;
use crate::table::{self, Object};
use crate::types::*;

pub(crate) const ERROR_OPERATION_ABORTED: u32 = 995;
pub(crate) const ERROR_IO_INCOMPLETE: u32 = 996;
pub(crate) const ERROR_IO_PENDING: u32 = 997;
pub(crate) const ERROR_NOT_FOUND: u32 = 1168;
/// `WAIT_IO_COMPLETION`: an alertable wait ended because completion routines ran.
pub(crate) const WAIT_IO_COMPLETION: u32 = 0xC0;

/// `STATUS_PENDING`, what `Internal` holds while an operation is under way.
pub(crate) const STATUS_PENDING: usize = 0x103;

/// The NTSTATUS Windows leaves in `Internal` for a Win32 outcome.
const STATUSES: [(u32, u32); 9] = [
    (ERROR_SUCCESS, 0),
    (ERROR_MORE_DATA, 0x8000_0005),
    (ERROR_INVALID_HANDLE, 0xC000_0008),
    (ERROR_PIPE_NOT_CONNECTED, 0xC000_00B0),
    (ERROR_NO_DATA, 0xC000_00B1),
    (ERROR_PIPE_CONNECTED, 0xC000_00B2),
    (ERROR_PIPE_LISTENING, 0xC000_00B3),
    (ERROR_BROKEN_PIPE, 0xC000_014B),
    (ERROR_OPERATION_ABORTED, 0xC000_0120),
];

/// The NTSTATUS for a Win32 code (codes without a known status are kept with the customer bit).
pub(crate) fn status_of(code: u32) -> usize {
    STATUSES
        .iter()
        .find(|s| s.0 == code)
        .map_or(0xE000_0000 | code, |s| s.1) as usize
}

/// The Win32 code for the NTSTATUS in `Internal`.
pub(crate) fn code_of(status: usize) -> u32 {
    let status = status as u32;
    STATUSES
        .iter()
        .find(|s| s.1 == status)
        .map_or(status & !0xE000_0000, |s| s.0)
}

/// A completion routine (`LPOVERLAPPED_COMPLETION_ROUTINE`).
pub(crate) type Routine = unsafe extern "C" fn(DWORD, DWORD, *mut OVERLAPPED);

// ---------------------------------------------------------------------------------------------
// Completion routines: one queue per thread, run by its alertable waits.

type Apc = Box<dyn FnOnce() + Send>;

/// A thread's queue of completion routines, and the event that wakes its alertable waits.
pub(crate) struct ApcQueue {
    queue: Mutex<VecDeque<Apc>>,
    /// Set when a routine is queued (auto-reset).
    pub(crate) bell: Event,
}

impl std::fmt::Debug for ApcQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApcQueue")
    }
}

impl ApcQueue {
    fn push(&self, apc: Apc) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(apc);
        let _ = self.bell.set();
    }
}

thread_local! {
    static QUEUE: OnceLock<Option<Arc<ApcQueue>>> = const { OnceLock::new() };
}

/// The calling thread's queue (made at its first use; `None` only if no event could be made).
pub(crate) fn this_thread() -> Option<Arc<ApcQueue>> {
    QUEUE.with(|q| {
        q.get_or_init(|| {
            Event::new(false, false).ok().map(|bell| {
                Arc::new(ApcQueue {
                    queue: Mutex::new(VecDeque::new()),
                    bell,
                })
            })
        })
        .clone()
    })
}

/// Runs the calling thread's queued completion routines, oldest first, including any they
/// queue; how many ran.
pub(crate) fn run_queued() -> usize {
    let Some(q) = this_thread() else { return 0 };
    let mut ran = 0;
    loop {
        let next = q
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        match next {
            Some(apc) => {
                apc();
                ran += 1;
            }
            None => return ran,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pending operations.

/// What an operation does.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// `ConnectNamedPipe`.
    Connect,
    /// `ReadFile` (and a transaction's reply).
    Read(*mut u8, usize),
    /// `WriteFile`.
    Write(*const u8, usize),
}

/// The caller's pointers (buffer, `OVERLAPPED`), carried to the worker.
#[derive(Clone, Copy, Debug)]
struct Raw {
    kind: Kind,
    ov: *mut OVERLAPPED,
}

// SAFETY: Win32's contract for overlapped I/O: the caller keeps the buffer and the OVERLAPPED
// valid and untouched until the operation completes, so the worker may use them from its
// thread.
unsafe impl Send for Raw {}

#[derive(Debug)]
struct Pending {
    handle: usize,
    ov: usize,
    thread: ThreadId,
    cancelled: AtomicBool,
    cancel: UnixStream,
    done: Mutex<bool>,
    finished: Condvar,
}

fn registry() -> &'static Mutex<Vec<Arc<Pending>>> {
    static PENDING: OnceLock<Mutex<Vec<Arc<Pending>>>> = OnceLock::new();
    PENDING.get_or_init(Default::default)
}

fn pending() -> std::sync::MutexGuard<'static, Vec<Arc<Pending>>> {
    registry().lock().unwrap_or_else(|e| e.into_inner())
}

/// Performs `kind` on `end` if it can be done now without waiting for the peer; `None` when it
/// would wait.
///
/// # Safety
/// The buffer in `kind` is valid for its length (the caller's overlapped contract).
unsafe fn attempt(end: &PipeEnd, kind: Kind, pending: bool) -> Option<Io> {
    match kind {
        Kind::Connect => end.try_connect().map(|r| match r {
            // A client that came while the connect was pending is a success.
            Err(ERROR_PIPE_CONNECTED) if pending => Ok(0),
            r => r.map(|()| 0).map_err(|c| (c, 0)),
        }),
        Kind::Read(p, len) => {
            if !end.read_ready() {
                return None;
            }
            let buf: &mut [u8] = if len == 0 {
                &mut []
            } else {
                // SAFETY: the caller's buffer of `len` writable bytes.
                unsafe { std::slice::from_raw_parts_mut(p, len) }
            };
            Some(end.read(buf))
        }
        Kind::Write(p, len) => {
            if !end.write_ready(len, !pending) {
                return None;
            }
            let buf: &[u8] = if len == 0 {
                &[]
            } else {
                // SAFETY: the caller's buffer of `len` readable bytes.
                unsafe { std::slice::from_raw_parts(p, len) }
            };
            Some(end.write(buf))
        }
    }
}

/// Fills the caller's `OVERLAPPED` with an outcome.
///
/// # Safety
/// `ov` points to the caller's `OVERLAPPED`.
unsafe fn fill(ov: *mut OVERLAPPED, code: u32, bytes: usize) {
    // SAFETY: the caller's OVERLAPPED; the bytes first, the status last (a poller of
    // HasOverlappedIoCompleted then reads a complete outcome).
    unsafe {
        std::ptr::addr_of_mut!((*ov).InternalHigh).write_volatile(bytes);
        std::sync::atomic::fence(Ordering::Release);
        std::ptr::addr_of_mut!((*ov).Internal).write_volatile(status_of(code));
    }
}

/// The event handle an `OVERLAPPED` names (its low bit only asks to skip a completion port).
///
/// # Safety
/// `ov` points to the caller's `OVERLAPPED`.
unsafe fn event_of(ov: *mut OVERLAPPED) -> HANDLE {
    // SAFETY: the caller's OVERLAPPED.
    let h = unsafe { std::ptr::addr_of!((*ov).hEvent).read_volatile() };
    (h as usize & !1) as HANDLE
}

/// Ends an operation: the `OVERLAPPED` filled, then the event set or the routine queued.
///
/// # Safety
/// `ov` points to the caller's `OVERLAPPED`.
unsafe fn finish(ov: *mut OVERLAPPED, r: Io, routine: Option<(Routine, Arc<ApcQueue>)>) {
    let (code, bytes) = match r {
        Ok(n) => (ERROR_SUCCESS, n),
        Err((c, n)) => (c, n),
    };
    // SAFETY: the caller's OVERLAPPED.
    unsafe { fill(ov, code, bytes) };
    match routine {
        Some((f, queue)) => {
            let raw = Raw {
                kind: Kind::Connect,
                ov,
            };
            queue.push(Box::new(move || {
                let raw = raw;
                // SAFETY: the routine is the caller's, called as Win32 calls it, on the
                // thread that issued the operation, with its OVERLAPPED.
                unsafe { f(code, bytes as DWORD, raw.ov) };
            }));
        }
        None => {
            // SAFETY: the caller's OVERLAPPED.
            let event = unsafe { event_of(ov) };
            if !event.is_null() {
                let _ = crate::sync::SetEvent(event);
            }
        }
    }
}

/// Starts an overlapped operation on an end opened for overlapped I/O. Returns the call's BOOL
/// (with the last error set): TRUE when it completed at once, FALSE with its error, or FALSE
/// with `ERROR_IO_PENDING`. With a completion routine the call returns TRUE once the operation
/// is under way (or done), and the routine runs in an alertable wait of this thread.
///
/// # Safety
/// `ov` points to the caller's `OVERLAPPED`; the buffer in `kind` is valid until completion.
pub(crate) unsafe fn start(
    h: HANDLE,
    object: Arc<Object>,
    kind: Kind,
    ov: *mut OVERLAPPED,
    done: *mut DWORD,
    routine: Option<Routine>,
) -> BOOL {
    let Object::NamedPipe(end) = &*object else {
        error::SetLastError(ERROR_INVALID_HANDLE);
        return FALSE;
    };
    let queue = match routine {
        Some(f) => match this_thread() {
            Some(q) => Some((f, q)),
            None => {
                error::SetLastError(crate::error::ERROR_NOT_ENOUGH_MEMORY);
                return FALSE;
            }
        },
        None => None,
    };
    // Windows resets the event as the operation starts.
    if routine.is_none() {
        // SAFETY: the caller's OVERLAPPED.
        let event = unsafe { event_of(ov) };
        if !event.is_null() {
            let _ = crate::sync::ResetEvent(event);
        }
    }
    // SAFETY: the caller's OVERLAPPED.
    unsafe { std::ptr::addr_of_mut!((*ov).Internal).write_volatile(STATUS_PENDING) };
    // SAFETY: the caller's buffer, valid for the call.
    if let Some(r) = unsafe { attempt(end, kind, false) } {
        if !done.is_null() {
            let n = match r {
                Ok(n) | Err((_, n)) => n,
            };
            // SAFETY: not NULL; the caller's DWORD.
            unsafe { *done = n as DWORD };
        }
        let failed = match r {
            Ok(_) => None,
            Err((c, _)) => Some(c),
        };
        if routine.is_some() && failed.is_some() {
            // An Ex call that fails at once queues nothing.
            // SAFETY: the caller's OVERLAPPED.
            unsafe { fill(ov, failed.unwrap_or(0), 0) };
        } else if failed == Some(ERROR_PIPE_CONNECTED) {
            // A client that came before the call: Windows fails the call and leaves the
            // event alone.
            // SAFETY: the caller's OVERLAPPED.
            unsafe { fill(ov, ERROR_PIPE_CONNECTED, 0) };
        } else {
            // SAFETY: the caller's OVERLAPPED.
            unsafe { finish(ov, r, queue) };
        }
        return match failed {
            None => TRUE,
            Some(c) => {
                error::SetLastError(c);
                FALSE
            }
        };
    }
    let (wake, cancel) = match UnixStream::pair() {
        Ok(p) => p,
        Err(e) => {
            // SAFETY: the caller's OVERLAPPED.
            unsafe { fill(ov, error::code(&e, error::Op::Other), 0) };
            error::SetLastError(error::code(&e, error::Op::Other));
            return FALSE;
        }
    };
    let _ = cancel.set_nonblocking(true);
    let op = Arc::new(Pending {
        handle: h as usize,
        ov: ov as usize,
        thread: std::thread::current().id(),
        cancelled: AtomicBool::new(false),
        cancel: wake,
        done: Mutex::new(false),
        finished: Condvar::new(),
    });
    pending().push(op.clone());
    let raw = Raw { kind, ov };
    let worker = std::thread::Builder::new()
        .name("pipework-win32-io".into())
        .spawn(move || {
            let raw = raw;
            let r = drive(&object, raw.kind, &op, &cancel);
            // The end goes before the completion is seen: a handle closed meanwhile lets its
            // pipe instance go as the close returns.
            drop(object);
            // SAFETY: the caller's OVERLAPPED, valid until this completion.
            unsafe { finish(raw.ov, r, queue) };
            *op.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
            op.finished.notify_all();
            pending().retain(|p| !Arc::ptr_eq(p, &op));
        });
    if worker.is_err() {
        // SAFETY: the caller's OVERLAPPED.
        unsafe { fill(ov, crate::error::ERROR_NOT_ENOUGH_MEMORY, 0) };
        error::SetLastError(crate::error::ERROR_NOT_ENOUGH_MEMORY);
        return FALSE;
    }
    if routine.is_some() {
        return TRUE;
    }
    error::SetLastError(ERROR_IO_PENDING);
    FALSE
}

/// The worker's loop: waits for the end (or a cancel), then performs the operation.
fn drive(object: &Object, kind: Kind, op: &Pending, cancel: &UnixStream) -> Io {
    let Object::NamedPipe(end) = object else {
        return Err((ERROR_INVALID_HANDLE, 0));
    };
    loop {
        if op.cancelled.load(Ordering::Acquire) {
            return Err((ERROR_OPERATION_ABORTED, 0));
        }
        // SAFETY: the caller's buffer, valid until completion (the overlapped contract).
        if let Some(r) = unsafe { attempt(end, kind, true) } {
            return r;
        }
        let events = match kind {
            Kind::Write(..) => libc::POLLOUT,
            _ => libc::POLLIN,
        };
        match end.poll_fd() {
            Some(fd) => wait2(fd.as_fd(), events, cancel.as_fd()),
            None => wait2(cancel.as_fd(), libc::POLLIN, cancel.as_fd()),
        }
    }
}

/// Waits until `fd` has `events` or `cancel` is readable, at most a quarter second (the end's
/// state is then looked at again: a disconnect notice travels outside the socket).
fn wait2(fd: BorrowedFd<'_>, events: libc::c_short, cancel: BorrowedFd<'_>) {
    let mut fds = [
        libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        },
        libc::pollfd {
            fd: cancel.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two pollfd structures this function owns, and their count.
    unsafe { libc::poll(fds.as_mut_ptr(), 2, 250) };
}

/// Whether `fd` has any of `events` now.
pub(crate) fn poll_now(fd: BorrowedFd<'_>, events: libc::c_short) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one pollfd this function owns.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents != 0
}

/// Whether the socket `fd` has room in its send buffer for `len` bytes and a message header
/// now (counting what its peer has not read yet), with a margin.
pub(crate) fn has_room(fd: BorrowedFd<'_>, len: usize) -> bool {
    let mut limit: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_SNDBUF writes one int into `limit`, whose size `size` gives.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            std::ptr::addr_of_mut!(limit).cast(),
            &mut size,
        )
    };
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ's number) writes one int: the bytes not yet read by the peer.
    let q = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
    if r < 0 || q < 0 {
        return false;
    }
    // The kernel's figure counts its own bookkeeping too: half of it is data.
    let room = (limit as usize / 2).saturating_sub(queued.max(0) as usize);
    len + 256 <= room
}

/// Asks the pending operations `which` selects to end with `ERROR_OPERATION_ABORTED`; how many.
fn cancel(which: impl Fn(&Pending) -> bool) -> usize {
    let list = pending();
    let mut n = 0;
    let live = |p: &Pending| !*p.done.lock().unwrap_or_else(|e| e.into_inner());
    for op in list.iter().filter(|p| which(p) && live(p)) {
        op.cancelled.store(true, Ordering::Release);
        let _ = (&op.cancel).write(&[1]);
        n += 1;
    }
    n
}

/// Cancels every pending operation on `h` (the handle is closing) and waits for them to end
/// (at most two seconds: an operation already inside its pipework call finishes that first).
pub(crate) fn cancel_handle(h: HANDLE) {
    if cancel(|p| p.handle == h as usize) == 0 {
        return;
    }
    let ops: Vec<Arc<Pending>> = pending()
        .iter()
        .filter(|p| p.handle == h as usize)
        .cloned()
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    for op in ops {
        let mut finished = op.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*finished {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return;
            }
            finished = op
                .finished
                .wait_timeout(finished, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// `CancelIo`: the calling thread's pending operations on `h` end with
/// `ERROR_OPERATION_ABORTED`.
#[no_mangle]
pub extern "C" fn CancelIo(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let me = std::thread::current().id();
        error::boolean(table::get(h).map(|_| {
            cancel(|p| p.handle == h as usize && p.thread == me);
        }))
    })
}

/// `CancelIoEx`: the pending operation of `ov` on `h` (every one on `h` when `ov` is NULL),
/// whichever thread issued it; `ERROR_NOT_FOUND` when none is pending.
#[no_mangle]
pub extern "C" fn CancelIoEx(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = table::get(h).and_then(|_| {
            let n = cancel(|p| p.handle == h as usize && (ov.is_null() || p.ov == ov as usize));
            if n == 0 {
                Err(ERROR_NOT_FOUND)
            } else {
                Ok(())
            }
        });
        error::boolean(r)
    })
}

/// `GetOverlappedResult`: the outcome in the `OVERLAPPED`; while the operation is pending,
/// `ERROR_IO_INCOMPLETE` without `wait`, or waits for it.
///
/// # Safety
/// `ov` points to an `OVERLAPPED`; `done` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn GetOverlappedResult(
    h: HANDLE,
    ov: *mut OVERLAPPED,
    done: *mut DWORD,
    wait: BOOL,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = (|| {
            table::get(h)?;
            if ov.is_null() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            // SAFETY: the caller's OVERLAPPED.
            let status = || unsafe { std::ptr::addr_of!((*ov).Internal).read_volatile() };
            if status() == STATUS_PENDING {
                if wait == 0 {
                    return Err(ERROR_IO_INCOMPLETE);
                }
                // The newest operation on this OVERLAPPED (an older one that used the same
                // structure may not have left the list yet).
                let op = pending()
                    .iter()
                    .rev()
                    .find(|p| p.ov == ov as usize)
                    .cloned();
                if let Some(op) = op {
                    let mut finished = op.done.lock().unwrap_or_else(|e| e.into_inner());
                    while !*finished {
                        finished = op
                            .finished
                            .wait_timeout(finished, Duration::from_millis(250))
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
                if status() == STATUS_PENDING {
                    // Not an operation of this library (or never started): as Windows, this would
                    // wait for ever; say so instead.
                    return Err(ERROR_IO_INCOMPLETE);
                }
            }
            std::sync::atomic::fence(Ordering::Acquire);
            if !done.is_null() {
                // SAFETY: not NULL; the caller's DWORD, and its OVERLAPPED.
                unsafe { *done = std::ptr::addr_of!((*ov).InternalHigh).read_volatile() as DWORD };
            }
            match code_of(status()) {
                ERROR_SUCCESS => Ok(()),
                code => Err(code),
            }
        })();
        error::boolean(r)
    })
}

/// Waits up to `timeout` (None: no limit) for a completion routine queued to this thread,
/// runs them, and says whether any ran.
pub(crate) fn alertable_sleep(timeout: Option<Duration>) -> bool {
    if run_queued() > 0 {
        return true;
    }
    let Some(q) = this_thread() else {
        if let Some(t) = timeout {
            std::thread::sleep(t);
        }
        return false;
    };
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        match q.bell.wait(left) {
            Ok(pipework::sync::WaitStatus::Signaled) => {
                if run_queued() > 0 {
                    return true;
                }
            }
            _ => return false,
        }
        if left == Some(Duration::ZERO) {
            return false;
        }
    }
}
