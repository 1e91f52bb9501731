//! Writes that can never be killed by `SIGPIPE`.
//!
//! A write to a pipe whose readers are gone raises `SIGPIPE`; with the default disposition that
//! kills the process. Rust programs ignore `SIGPIPE` from `main`, but a program may restore the
//! default and pipework may live inside a host that never ignored it. Win32 semantics are an error
//! return, so every pipework write that can meet a vanished reader runs through
//! [`without_sigpipe`].
//!
//! Asking the kernel for the disposition on every write would cost a system call per write (a
//! tenth of a small message's round trip), so the answer is cached: [`refresh_sigpipe_disposition`]
//! reads it again whenever pipework creates, clones or adopts a handle. A program that restores the
//! default disposition before it makes its pipe ends (at the start of `main`, as programs do) is
//! protected on every write.

use std::io;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `SIGPIPE` was ignored when pipework last looked. Starts false: guarded until known.
static IGNORED: AtomicBool = AtomicBool::new(false);

/// Reads this process's `SIGPIPE` disposition again (one `rt_sigaction` query).
pub(crate) fn refresh_sigpipe_disposition() {
    IGNORED.store(sigpipe_ignored(), Ordering::Relaxed);
}

/// Runs `write` so that a `SIGPIPE` it raises is neither delivered nor left pending, whatever the
/// process's disposition for `SIGPIPE` is. The write's own `EPIPE` result is returned untouched.
///
/// When `SIGPIPE` is ignored (the Rust default) the kernel discards the signal itself and this
/// costs nothing; otherwise the signal is blocked for this thread around the write and a
/// `SIGPIPE` that the write raised is consumed before unblocking.
pub(crate) fn without_sigpipe<T>(write: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    if IGNORED.load(Ordering::Relaxed) {
        return write();
    }
    let mut pipe_only = empty_set();
    // SAFETY: `pipe_only` is a valid, initialised sigset_t.
    unsafe { libc::sigaddset(&mut pipe_only, libc::SIGPIPE) };
    let mut old = empty_set();
    // SAFETY: both pointers refer to live sigset_t values; blocking a signal in this thread only.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_only, &mut old) };
    // SAFETY: sigismember reads an initialised set.
    let was_blocked = unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
    let was_pending = !was_blocked && sigpipe_pending();

    let result = write();

    let raised = matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EPIPE));
    if raised && !was_blocked && !was_pending {
        // Consume the SIGPIPE this write raised (thread-directed, so it is pending here).
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid set and timeout pointers; a null siginfo pointer is allowed.
        unsafe { libc::sigtimedwait(&pipe_only, ptr::null_mut(), &zero) };
    }
    if !was_blocked {
        // SAFETY: restores the mask saved above; `old` is initialised.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    }
    result
}

fn sigpipe_ignored() -> bool {
    let mut current = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new-action pointer only queries the disposition into `current`.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, ptr::null(), current.as_mut_ptr()) };
    // SAFETY: sigaction filled `current` on success; zeroed memory is a valid sigaction otherwise.
    rc == 0 && unsafe { current.assume_init() }.sa_sigaction == libc::SIG_IGN
}

fn sigpipe_pending() -> bool {
    let mut pending = empty_set();
    // SAFETY: `pending` is a valid sigset_t to fill.
    unsafe { libc::sigpending(&mut pending) };
    // SAFETY: sigismember reads an initialised set.
    unsafe { libc::sigismember(&pending, libc::SIGPIPE) == 1 }
}

fn empty_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}
