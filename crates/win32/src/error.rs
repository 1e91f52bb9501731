//! `GetLastError` / `SetLastError`, and the Win32 code of each pipework error.

use std::cell::Cell;
use std::io::{self, ErrorKind};

use crate::types::*;

pub(crate) const ERROR_SUCCESS: u32 = 0;
pub(crate) const ERROR_INVALID_FUNCTION: u32 = 1;
pub(crate) const ERROR_FILE_NOT_FOUND: u32 = 2;
pub(crate) const ERROR_ACCESS_DENIED: u32 = 5;
pub(crate) const ERROR_INVALID_HANDLE: u32 = 6;
pub(crate) const ERROR_NOT_ENOUGH_MEMORY: u32 = 8;
pub(crate) const ERROR_GEN_FAILURE: u32 = 31;
pub(crate) const ERROR_NOT_SUPPORTED: u32 = 50;
pub(crate) const ERROR_FILE_EXISTS: u32 = 80;
pub(crate) const ERROR_INVALID_PARAMETER: u32 = 87;
pub(crate) const ERROR_BROKEN_PIPE: u32 = 109;
pub(crate) const ERROR_DISK_FULL: u32 = 112;
pub(crate) const ERROR_SEM_TIMEOUT: u32 = 121;
pub(crate) const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
pub(crate) const ERROR_INVALID_NAME: u32 = 123;
pub(crate) const ERROR_ALREADY_EXISTS: u32 = 183;
pub(crate) const ERROR_BAD_PIPE: u32 = 230;
pub(crate) const ERROR_PIPE_BUSY: u32 = 231;
pub(crate) const ERROR_NO_DATA: u32 = 232;
pub(crate) const ERROR_PIPE_NOT_CONNECTED: u32 = 233;
pub(crate) const ERROR_MORE_DATA: u32 = 234;
pub(crate) const ERROR_NOT_OWNER: u32 = 288;
pub(crate) const ERROR_TOO_MANY_POSTS: u32 = 298;
pub(crate) const ERROR_PIPE_CONNECTED: u32 = 535;
pub(crate) const ERROR_PIPE_LISTENING: u32 = 536;
pub(crate) const ERROR_INVALID_ADDRESS: u32 = 487;
pub(crate) const ERROR_NOACCESS: u32 = 998;

thread_local! {
    static LAST: Cell<u32> = const { Cell::new(0) };
}

/// `GetLastError`: the calling thread's last error code.
#[no_mangle]
pub extern "C" fn GetLastError() -> DWORD {
    LAST.with(Cell::get)
}

/// `SetLastError`.
#[no_mangle]
pub extern "C" fn SetLastError(code: DWORD) {
    LAST.with(|c| c.set(code));
}

/// What a call was doing when pipework failed: the same io::Error kind means different Win32
/// codes in different calls (a broken pipe is `ERROR_BROKEN_PIPE` to a reader and
/// `ERROR_NO_DATA` to a writer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Any call with no special reading.
    Other,
    /// A read (`ReadFile`, `PeekNamedPipe`, `TransactNamedPipe`'s reply).
    Read,
    /// A write.
    Write,
    /// Creating a named kernel object (a name of another kind: `ERROR_INVALID_HANDLE`).
    CreateObject,
    /// Opening a named kernel object.
    OpenObject,
    /// Opening a file, pipe or mailslot by name.
    Open,
}

/// The Win32 code for `e`, raised by a call doing `op`.
pub(crate) fn code(e: &io::Error, op: Op) -> u32 {
    use ErrorKind::*;
    match (e.kind(), op) {
        (NotFound, _) => ERROR_FILE_NOT_FOUND,
        (PermissionDenied, _) => ERROR_ACCESS_DENIED,
        (AlreadyExists, Op::CreateObject) => ERROR_INVALID_HANDLE,
        (AlreadyExists, Op::Open) => ERROR_FILE_EXISTS,
        (AlreadyExists, _) => ERROR_ALREADY_EXISTS,
        (InvalidInput, Op::OpenObject) if e.to_string().contains(", not a ") => {
            ERROR_INVALID_HANDLE
        }
        (InvalidInput, Op::OpenObject | Op::CreateObject | Op::Open) => ERROR_INVALID_NAME,
        (InvalidInput, _) => ERROR_INVALID_PARAMETER,
        (InvalidFilename, _) => ERROR_INVALID_NAME,
        (ResourceBusy, _) => ERROR_PIPE_BUSY,
        (NotConnected, _) => ERROR_PIPE_NOT_CONNECTED,
        (BrokenPipe, Op::Write) => ERROR_NO_DATA,
        (BrokenPipe, _) => ERROR_BROKEN_PIPE,
        (UnexpectedEof, _) => ERROR_BROKEN_PIPE,
        (TimedOut, _) => ERROR_SEM_TIMEOUT,
        (WouldBlock, _) => ERROR_NO_DATA,
        (Unsupported, _) => ERROR_NOT_SUPPORTED,
        (OutOfMemory, _) => ERROR_NOT_ENOUGH_MEMORY,
        (StorageFull, _) => ERROR_DISK_FULL,
        _ => match e.raw_os_error() {
            Some(libc::EBADF) => ERROR_INVALID_HANDLE,
            Some(libc::EINVAL) => ERROR_INVALID_PARAMETER,
            _ => ERROR_GEN_FAILURE,
        },
    }
}

/// A failed call's outcome: the Win32 code to set.
pub(crate) type Fail = u32;

/// Converts a pipework result, reading its error in the context `op`.
pub(crate) trait Win32<T> {
    /// The value, or the Win32 code of the error.
    fn win32(self, op: Op) -> Result<T, Fail>;
}

impl<T> Win32<T> for io::Result<T> {
    fn win32(self, op: Op) -> Result<T, Fail> {
        self.map_err(|e| code(&e, op))
    }
}

/// Ends a `BOOL` function: TRUE and last error untouched on success, FALSE and the code on
/// failure.
pub(crate) fn boolean(result: Result<(), Fail>) -> BOOL {
    match result {
        Ok(()) => TRUE,
        Err(code) => {
            SetLastError(code);
            FALSE
        }
    }
}

/// Ends a function returning a handle: `failed` (NULL or `INVALID_HANDLE_VALUE`, as the Win32
/// function does) and the code on failure.
pub(crate) fn handle(result: Result<HANDLE, Fail>, failed: HANDLE) -> HANDLE {
    match result {
        Ok(h) => h,
        Err(code) => {
            SetLastError(code);
            failed
        }
    }
}
