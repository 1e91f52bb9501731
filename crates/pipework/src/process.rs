//! Processes: starting children with exactly the chosen handles, and process handles (pidfd).
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreateProcess(.., bInheritHandles, .., STARTUPINFO.hStd*)` | [`std::process::Command`] with [`CommandExt::inherit_handle`] and [`std::process::Stdio`] |
//! | `OpenProcess(pid)` | [`Process::open`] |
//! | `DuplicateHandle(hProcess, h, GetCurrentProcess(), ..)` | [`Process::duplicate_handle`] |
//! | `WaitForSingleObject(hProcess, ms)` | [`Process::wait`], [`Process::wait_timeout`] |
//! | `TerminateProcess` | [`Process::kill`] |
//!
//! Handing a pipe end to a child, which finds it by the number passed on its command line:
//!
//! ```no_run
//! use std::process::Command;
//! use pipework::process::CommandExt;
//!
//! let (reader, writer) = pipework::pipe::create()?;
//! let mut command = Command::new("child-program");
//! let number = command.inherit_handle(writer);
//! command.arg(number.to_string());
//! let child = command.spawn()?;
//! drop(command); // closes the parent's copy of the write end: the reader will see the end
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{
    pidfd_getfd, pidfd_open, pidfd_send_signal, Pid, PidfdFlags, PidfdGetfdFlags, Signal,
};

use crate::sys::error::{error, invalid, named};
use crate::sys::{retry, time};

/// Extends [`std::process::Command`] with explicit handle inheritance.
pub trait CommandExt {
    /// Hands `handle` to the child this command starts, and returns the handle number the child
    /// will see it under, for the parent to pass on (an argument, an environment variable).
    ///
    /// Only the handles named this way (and the child's stdio) reach the child, even while other
    /// threads create pipes and start children: the handle stays close-on-exec in this process and
    /// becomes inheritable only inside the new child, between `fork` and `exec`.
    ///
    /// The command owns the handle until it is dropped: drop the command after spawning so the
    /// parent does not keep a write end open (the classic reason a reader never sees the end).
    fn inherit_handle(&mut self, handle: impl Into<OwnedFd>) -> RawFd;
}

impl CommandExt for Command {
    fn inherit_handle(&mut self, handle: impl Into<OwnedFd>) -> RawFd {
        let mut fd: OwnedFd = handle.into();
        if fd.as_raw_fd() < 3 {
            // Numbers 0-2 are the child's stdio and would be overwritten: move the handle up.
            if let Ok(moved) = rustix::io::fcntl_dupfd_cloexec(&fd, 3) {
                fd = moved;
            }
        }
        let raw = fd.as_raw_fd();
        crate::sys::keep_across_exec(self, fd);
        raw
    }
}

/// A handle to a running (or exited) process, by pidfd: it names exactly one process, even after
/// its pid is reused.
#[derive(Debug)]
pub struct Process {
    pidfd: OwnedFd,
    pid: u32,
}

impl Process {
    /// Opens a handle to the process `pid` (`OpenProcess`). `NotFound` when there is none.
    pub fn open(pid: u32) -> io::Result<Process> {
        let raw = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| invalid(format!("process {pid}"), "not a process id"))?;
        match pidfd_open(raw, PidfdFlags::empty()) {
            Ok(pidfd) => Ok(Process { pidfd, pid }),
            Err(Errno::SRCH) => Err(error(
                ErrorKind::NotFound,
                format!("process {pid}"),
                format!("no process with id {pid}"),
            )),
            Err(e) => Err(named(format!("process {pid}: cannot open it"), e)),
        }
    }

    /// A handle to a child started with [`std::process::Command`].
    pub fn from_child(child: &std::process::Child) -> io::Result<Process> {
        Process::open(child.id())
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Copies the handle that is number `raw` in this process's table into the calling process
    /// (`DuplicateHandle` from another process, by `pidfd_getfd`). The copy is close-on-exec.
    ///
    /// Fails with `PermissionDenied` when the system forbids it (another user's process, or
    /// `ptrace` restrictions such as Yama's `ptrace_scope`), and `NotFound` when the process has
    /// no such handle or has exited.
    pub fn duplicate_handle(&self, raw: RawFd) -> io::Result<OwnedFd> {
        let pid = self.pid;
        let object = format!("process {pid}");
        pidfd_getfd(&self.pidfd, raw, PidfdGetfdFlags::empty()).map_err(|e| match e {
            Errno::PERM | Errno::ACCESS => error(
                ErrorKind::PermissionDenied,
                &object,
                format!("not allowed to duplicate its handle {raw} (the system's ptrace rules forbid it)"),
            ),
            Errno::BADF => error(ErrorKind::NotFound, &object, format!("has no handle {raw}")),
            Errno::SRCH => error(ErrorKind::NotFound, &object, "has exited"),
            e => named(format!("process {pid}: cannot duplicate handle {raw}"), e),
        })
    }

    /// Whether the process has exited, without waiting.
    pub fn has_exited(&self) -> io::Result<bool> {
        self.wait_timeout(Duration::ZERO)
    }

    /// Blocks until the process exits (`WaitForSingleObject(hProcess, INFINITE)`).
    pub fn wait(&self) -> io::Result<()> {
        self.wait_deadline(None).map(|_| ())
    }

    /// Waits at most `timeout` for the process to exit; `Ok(false)` when it is still running.
    /// A timeout too large for the clock (`Duration::MAX`) waits without limit.
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        self.wait_deadline(time::deadline(timeout))
    }

    fn wait_deadline(&self, deadline: Option<Instant>) -> io::Result<bool> {
        // After a signal, the poll starts again with what is left of the time.
        let ready = retry(|| {
            let timeout = time::left(deadline).map(time::timespec);
            let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
            poll(&mut fds, timeout.as_ref())
        })
        .map_err(|e| named(format!("process {}", self.pid), e))?;
        Ok(ready > 0)
    }

    /// Ends the process at once (`TerminateProcess`; `SIGKILL`).
    pub fn kill(&self) -> io::Result<()> {
        match pidfd_send_signal(&self.pidfd, Signal::KILL) {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(e) => Err(named(format!("process {}", self.pid), e)),
        }
    }
}

impl AsFd for Process {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }
}
