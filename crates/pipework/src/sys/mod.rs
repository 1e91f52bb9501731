//! The operating-system layer: the only place in pipework that holds `unsafe` or calls `libc`
//! directly. Everything else goes through `rustix`'s safe wrappers or through this module.
//!
//! Each function here is one small, documented step; the modules above compose them:
//!
//! | block | file |
//! |---|---|
//! | an `io::Error` that names its object | [`error`] |
//! | retry on `EINTR` | [`retry`] |
//! | handles over a Unix socket (`SCM_RIGHTS`) | [`fdpass`] |
//! | futex wait / wake on shared words | [`futex`] |
//! | memory mapping and shared-memory access | [`shm`] |
//! | file locks | [`lock`] |
//! | several datagrams in one receive | [`mmsg`] |
//! | deadlines and timeouts that saturate | [`time`] |
//! | the IPv4 addresses of the interfaces | [`ifaddr`] |
//! | writes that never raise `SIGPIPE` | `signal` |
//! | a detached keeper process (the Wayland clipboard's data after its owner) | `keeper` |

pub(crate) mod error;
pub(crate) mod fdpass;
pub(crate) mod futex;
pub(crate) mod ifaddr;
#[cfg(feature = "wayland")]
pub(crate) mod keeper;
pub(crate) mod lock;
pub(crate) mod mmsg;
pub(crate) mod retry;
pub(crate) mod shm;
mod signal;
pub(crate) mod time;

pub(crate) use lock::{first_holder, set_lock, unread_by_peer, Lock};
pub(crate) use retry::{retry, retry_io};
pub(crate) use signal::{
    splice as splice_no_sigpipe, tee as tee_no_sigpipe, write as write_no_sigpipe,
    writev as writev_no_sigpipe,
};

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use rustix::io::{fcntl_getfd, fcntl_setfd, FdFlags};

/// Takes ownership of the descriptor number `raw`, after checking that it is open.
///
/// # Safety
/// Nothing else in this process may own `raw`: it must be a descriptor this process inherited or
/// was told about, not one held by a `File`, a socket or another `OwnedFd`.
pub(crate) unsafe fn own_raw_fd(raw: RawFd) -> io::Result<OwnedFd> {
    if raw < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("handle {raw} is not a valid handle number"),
        ));
    }
    // SAFETY: F_GETFD only inspects the descriptor table entry; on a closed number it fails with
    // EBADF and touches nothing.
    if unsafe { libc::fcntl(raw, libc::F_GETFD) } == -1 {
        let err = io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::EBADF) {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("handle {raw} is not open in this process"),
            )
        } else {
            err
        });
    }
    // SAFETY: `raw` is open (checked above) and the caller guarantees nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Arranges for `fd`, close-on-exec in this process, to survive into the program that `command`
/// executes, under the same number. The command owns `fd` until the command is dropped.
///
/// The flag is cleared only in the forked child, between `fork` and `exec`, so no other child
/// started at the same moment by another thread can see the descriptor.
pub(crate) fn keep_across_exec(command: &mut Command, fd: OwnedFd) {
    let clear = move || -> io::Result<()> {
        // In the child after fork: only async-signal-safe calls (fcntl) are made here. The
        // descriptor table is the parent's copy, so `fd` names the same open pipe or socket.
        let flags = fcntl_getfd(&fd)?;
        fcntl_setfd(&fd, flags - FdFlags::CLOEXEC)?;
        Ok(())
    };
    // SAFETY: the closure only calls fcntl(2), which is async-signal-safe, allocates nothing and
    // takes no lock, as `pre_exec` requires.
    unsafe {
        command.pre_exec(clear);
    }
}

/// Registers a pipework handle with the current tokio reactor.
#[cfg(feature = "tokio")]
pub(crate) fn register_async<T: std::os::fd::AsRawFd>(
    inner: T,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: `T` is one of pipework's handle types, which own their descriptor for their whole
    // life and always report the same number; the AsyncFd owns `inner` from here on.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(inner, interest) }
        .map_err(io::Error::from)
}

/// Runs `handler` in the child after every `fork` of this process (`pthread_atfork`), so state
/// cached per thread (such as a thread id) can be forgotten there.
pub(crate) fn at_fork_in_child(handler: unsafe extern "C" fn()) {
    // SAFETY: registers a handler with no prepare or parent part; `handler` is a plain function
    // that lives for the whole program.
    unsafe { libc::pthread_atfork(None, None, Some(handler)) };
}
