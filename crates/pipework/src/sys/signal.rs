//! Writes that can never deliver `SIGPIPE`.
//!
//! A write into a pipe whose readers are gone (or into a stream socket whose peer is gone, unless
//! the send says `MSG_NOSIGNAL`) raises `SIGPIPE` on the writing thread; with the default
//! disposition that kills the process, with a handler installed the handler runs. Rust programs
//! ignore `SIGPIPE` from `main`, but a program may restore the default, install a handler, or
//! host pipework from C, at any time. Win32 semantics are an error return, so every pipework
//! write into a descriptor that a peer controls is one of:
//!
//! * a send on a socket with `MSG_NOSIGNAL` (named pipes, mailslots, handle passing), or
//! * a system call made through [`without_sigpipe`] or one of its wrappers here ([`write`],
//!   [`writev`], [`splice`], [`tee`]).
//!
//! [`without_sigpipe`] depends on no cached knowledge of the disposition: it blocks `SIGPIPE` for
//! the calling thread around the one system call (a signal raised meanwhile stays pending instead
//! of being delivered), consumes a `SIGPIPE` the call raised with a zero-timeout `sigtimedwait`,
//! and restores the thread's mask. The cost is two `rt_sigprocmask` calls per write, plus one
//! `sigtimedwait` only when the write stopped short or failed with `EPIPE` (the only outcomes
//! that can come with a `SIGPIPE`).

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::BorrowedFd;
use std::ptr;

use rustix::io::{Errno, Result};
use rustix::pipe::SpliceFlags;

/// Makes `call`, exactly one system call that may raise `SIGPIPE` on this thread, so that a
/// `SIGPIPE` it raises is neither delivered nor left pending, whatever the process's disposition
/// and this thread's signal mask. The call's own result (`EPIPE` included) is returned untouched.
///
/// `complete(&n)` tells whether an `Ok(n)` did everything that was asked: the kernel raises
/// `SIGPIPE` only with `EPIPE` or with a count that stopped short (a pipe write that had written
/// some bytes when the last reader went), so only those outcomes pay for a look at the pending
/// signals.
///
/// A `SIGPIPE` that was already pending for a thread that blocks it is left alone (a standard
/// signal is pending at most once: one raised by this call merges into it).
pub(crate) fn without_sigpipe<T>(
    call: impl FnOnce() -> Result<T>,
    complete: impl FnOnce(&T) -> bool,
) -> Result<T> {
    let pipe_only = sigpipe_set();
    let mut old = empty_set();
    // SAFETY: both pointers refer to live, initialised sigset_t values; this changes the mask of
    // the calling thread only, and it is restored below before returning.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_only, &mut old) };
    // SAFETY: sigismember reads an initialised set.
    let was_blocked = unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
    // A thread that does not block SIGPIPE cannot have one pending for it (it would have been
    // delivered or discarded); one that blocks it may, and that one is not ours to take.
    let was_pending = was_blocked && sigpipe_pending();

    let result = call();

    let may_have_raised = match &result {
        Ok(done) => !complete(done),
        Err(e) => *e == Errno::PIPE,
    };
    if may_have_raised && !was_pending {
        consume_sigpipe(&pipe_only);
    }
    if !was_blocked {
        // SAFETY: restores the mask saved above; `old` is initialised.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
    }
    result
}

/// `write(2)` that never delivers `SIGPIPE`.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize> {
    without_sigpipe(|| rustix::io::write(fd, buf), |&n| n == buf.len())
}

/// `writev(2)` that never delivers `SIGPIPE`.
pub(crate) fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Result<usize> {
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    without_sigpipe(|| rustix::io::writev(fd, bufs), |&n| n == total)
}

/// `splice(2)` between the current offsets of `from` and `to`, never delivering `SIGPIPE`.
pub(crate) fn splice(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    len: usize,
    flags: SpliceFlags,
) -> Result<usize> {
    without_sigpipe(
        || rustix::pipe::splice(from, None, to, None, len, flags),
        |&n| n == len,
    )
}

/// `tee(2)` that never delivers `SIGPIPE`.
pub(crate) fn tee(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    len: usize,
    flags: SpliceFlags,
) -> Result<usize> {
    without_sigpipe(|| rustix::pipe::tee(from, to, len, flags), |&n| n == len)
}

/// Takes a pending `SIGPIPE` of this thread (where `SIGPIPE` is blocked), if there is one.
fn consume_sigpipe(pipe_only: &libc::sigset_t) {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        // SAFETY: valid set and timeout pointers; a null siginfo pointer is allowed. The signal
        // is blocked in this thread, so sigtimedwait only dequeues it (thread-directed first,
        // which is where a write's SIGPIPE is queued).
        let rc = unsafe { libc::sigtimedwait(pipe_only, ptr::null_mut(), &zero) };
        // EINTR: another signal's handler ran first; look again. EAGAIN: none pending.
        if rc != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

fn sigpipe_pending() -> bool {
    let mut pending = empty_set();
    // SAFETY: `pending` is a valid sigset_t to fill.
    unsafe { libc::sigpending(&mut pending) };
    // SAFETY: sigismember reads an initialised set.
    unsafe { libc::sigismember(&pending, libc::SIGPIPE) == 1 }
}

fn sigpipe_set() -> libc::sigset_t {
    let mut set = empty_set();
    // SAFETY: `set` is a valid, initialised sigset_t and SIGPIPE a valid signal number.
    unsafe { libc::sigaddset(&mut set, libc::SIGPIPE) };
    set
}

fn empty_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole set.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}
