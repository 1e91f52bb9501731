//! Retrying a system call that a signal interrupted (`EINTR`): the one loop pipework has.

use std::io;

use rustix::io::Errno;

/// Runs `call` until it returns anything but `EINTR`.
///
/// ```text
/// let n = retry(|| rustix::io::read(&fd, &mut buf))?;
/// ```
pub(crate) fn retry<T>(mut call: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match call() {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}

/// [`retry`] for calls that report `std::io::Error` (`ErrorKind::Interrupted`).
pub(crate) fn retry_io<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
