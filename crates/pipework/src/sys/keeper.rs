//! A detached keeper process: a forked copy of this process that keeps serving something after
//! this process exits (the Wayland clipboard's data, which the compositor does not keep).

use std::io;

/// Runs `keeper` in a detached grandchild of this process (forked twice, in a session of its
/// own, so it is nobody's child to wait for) and returns once the intermediate child has gone.
/// The keeper starts with every inherited descriptor closed and `/dev/null` as its standard
/// input, output and error, so it holds no lock, socket or pipe of this process's; it ends with
/// `_exit(keeper())`, running no destructor and no `atexit` handler of this process's.
///
/// `keeper` runs in a copy of a process that may have had other threads: it must take no lock
/// another thread could have held at the fork (it may allocate: glibc's `fork` leaves the
/// allocator usable in the child), and it must make its own descriptors.
pub(crate) fn fork_detached(keeper: impl FnOnce() -> i32) -> io::Result<()> {
    // SAFETY: fork has no memory-safety preconditions; the child runs only what the contract
    // above allows and leaves through _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: setsid and fork are async-signal-safe; _exit never returns.
        unsafe {
            libc::setsid();
            if libc::fork() != 0 {
                libc::_exit(0);
            }
        }
        // SAFETY: the grandchild owns every descriptor it inherited (nothing here refers to
        // them any more) and closes them all before it makes its own.
        unsafe {
            if libc::close_range(0, libc::c_uint::MAX, 0) != 0 {
                for fd in 0..65536 {
                    libc::close(fd);
                }
            }
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null == 0 {
                libc::dup2(0, 1);
                libc::dup2(0, 2);
            }
        }
        let code = keeper();
        // SAFETY: _exit ends the process at once, which is what the keeper wants.
        unsafe { libc::_exit(code) }
    }
    loop {
        let mut status = 0;
        // SAFETY: waits for the intermediate child made above, by its pid.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
