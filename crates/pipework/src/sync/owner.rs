//! Who owns a mutex, and whether that owner still lives: each thread's identity (thread id,
//! process id, start time), found once per thread, and liveness read from `/proc`.
//!
//! A waiter that finds a mutex owned checks, while it waits, whether the owning thread still
//! lives; if not, it takes the mutex as abandoned. The start time tells a live thread from a
//! later one that reused its id. The check reads `/proc`, so every process sharing a mutex must
//! live in the same pid namespace; without `/proc`, no owner is ever declared dead.

use std::fs;
use std::sync::atomic::Ordering::SeqCst;

use super::object::Header;
use super::state::VALUE;

/// The calling thread's identity: thread id, process id, and the thread's start time (which
/// tells a live thread from a later one that reused its id).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Me {
    pub(crate) tid: u32,
    pub(crate) pid: u32,
    pub(crate) start: u64,
}

thread_local! {
    /// This thread's identity once found; a thread id of 0 (which no thread has): not yet.
    static ME: std::cell::Cell<Me> = const {
        std::cell::Cell::new(Me {
            tid: 0,
            pid: 0,
            start: 0,
        })
    };
}

/// This thread's identity, found once per thread (and again in a child made by `fork`).
///
/// Inlined into every lock and release: loads from a thread-local; the first call of a thread
/// goes through the out-of-line [`find_me`].
#[inline]
pub(crate) fn me() -> Me {
    if ME.with(|cell| cell.get().tid) == 0 {
        find_me();
    }
    ME.with(std::cell::Cell::get)
}

/// This thread's id (never 0, never with bit 31 set), as [`me`] finds it.
#[inline]
pub(crate) fn tid() -> u32 {
    me().tid
}

/// The first [`me`] of a thread: asks the kernel and `/proc`, and caches the answer.
#[cold]
#[inline(never)]
fn find_me() {
    static FORGET_AFTER_FORK: std::sync::Once = std::sync::Once::new();
    FORGET_AFTER_FORK.call_once(|| crate::sys::at_fork_in_child(forget_me));
    // A positive `pid_t`: bit 31, the state word's guard, is never set in a thread id.
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let start = start_time(pid, tid).unwrap_or(0);
    ME.with(|cell| cell.set(Me { tid, pid, start }));
}

/// In a child just made by `fork`: its one thread is a new thread with its own id.
extern "C" fn forget_me() {
    // A plain write to a constant-initialised thread-local without destructor: allowed here.
    let _ = ME.try_with(|cell| {
        cell.set(Me {
            tid: 0,
            pid: 0,
            start: 0,
        })
    });
}

/// Whether `/proc` can tell which threads live; without it no owner is ever declared dead.
fn proc_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| std::path::Path::new("/proc/self/stat").exists())
}

/// A thread's start time (clock ticks since boot), from `/proc/PID/task/TID/stat`.
fn start_time(pid: u32, tid: u32) -> Option<u64> {
    let stat = fs::read(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: fields after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After ')': field 3 (state) is the first; start time is field 22.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Whether the thread `tid` (which is on record as of process `pid`, started at `start`) is gone.
pub(crate) fn thread_is_dead(tid: u32, pid: u32, start: u64) -> bool {
    if tid == 0 || tid > VALUE {
        return true;
    }
    if !proc_available() {
        return false;
    }
    if !std::path::Path::new(&format!("/proc/{tid}")).exists() {
        return true;
    }
    if pid == 0 || start == 0 {
        return false;
    }
    match start_time(pid, tid) {
        Some(now) => now != start,
        None => !std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists(),
    }
}

/// Whether a mutex owned by `owner` (a state value) has lost its owner.
pub(crate) fn owner_is_dead(h: &Header, owner: u32) -> bool {
    if h.owner_tid.load(SeqCst) == owner {
        let pid = h.owner_pid.load(SeqCst);
        let start = h.owner_start.load(SeqCst);
        // Re-check that the record is still this owner's after reading it.
        if h.owner_tid.load(SeqCst) == owner {
            return thread_is_dead(owner, pid, start);
        }
    }
    // The owner has not written its record yet (or is mid-change): dead only if its thread is.
    thread_is_dead(owner, 0, 0)
}
