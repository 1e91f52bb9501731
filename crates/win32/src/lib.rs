//! The Win32 IPC functions as a C library on pipework: `CreatePipe`, `CreateNamedPipe`,
//! `CreateMailslot`, `CreateFileMapping`, `CreateMutex`, `WaitForMultipleObjects`,
//! `CreateProcess`, ... by their own names and signatures, so that C written for Windows compiles
//! with `gcc -I crates/win32/include` and links against `libpipework_win32` without edits.
//!
//! ```c
//! #include <windows.h>
//!
//! HANDLE r, w;
//! DWORD n;
//! CreatePipe(&r, &w, NULL, 0);
//! WriteFile(w, "hi", 2, &n, NULL);
//! CloseHandle(w);
//! char buf[8];
//! ReadFile(r, buf, sizeof buf, &n, NULL);         /* TRUE, n == 2 */
//! ReadFile(r, buf, sizeof buf, &n, NULL);         /* FALSE, GetLastError() == ERROR_BROKEN_PIPE */
//! ```
//!
//! Every function maps onto pipework's Rust API ([`pipework::pipe`], [`pipework::named_pipe`],
//! [`pipework::mailslot`], [`pipework::mapping`], [`pipework::sync`], [`pipework::process`],
//! [`pipework::window`], [`pipework::dde`], [`pipework::clipboard`]);
//! this crate holds no IPC logic of its own. What it adds is what C needs and Rust does not:
//!
//! * a process-wide handle table: `HANDLE` values are multiples of 4 as on Windows,
//!   `INVALID_HANDLE_VALUE` is -1 (and `GetCurrentProcess()`'s pseudo-handle, as on Windows);
//!   `DuplicateHandle` makes a second handle to the same object, `CloseHandle` drops one, the
//!   object goes with its last handle;
//! * `GetLastError` per thread, with the Win32 codes of `shared/spec/win32-ipc.md` (the
//!   io::Error kind of each pipework call, read in the context of the function that failed);
//! * inheritance across `CreateProcess`: the handles marked inheritable travel to the child with
//!   the same `HANDLE` values (the child's table is rebuilt from `PIPEWORK_WIN32_HANDLES`).
//!
//! # Overlapped I/O
//!
//! On a named pipe handle opened with `FILE_FLAG_OVERLAPPED`, a call with an `OVERLAPPED` that
//! can complete at once does (TRUE, or FALSE with its error such as `ERROR_MORE_DATA`; the
//! event set; `ConnectNamedPipe` with a client already there is FALSE with
//! `ERROR_PIPE_CONNECTED`); one that would wait for the peer returns FALSE with
//! `ERROR_IO_PENDING` and completes later: `Internal` holds `STATUS_PENDING` meanwhile and the
//! NTSTATUS of the outcome after, `InternalHigh` the bytes moved, and `hEvent` is set (it is
//! reset as the call starts). `GetOverlappedResult` reports the outcome, waits for it with
//! `bWait`, or says `ERROR_IO_INCOMPLETE`; `HasOverlappedIoCompleted` works on `Internal`.
//! `CancelIo` (this thread's operations on the handle), `CancelIoEx` (one `OVERLAPPED`, or
//! all) and closing the handle end pending operations with `ERROR_OPERATION_ABORTED`.
//! `ReadFileEx` / `WriteFileEx` queue their completion routine to the calling thread, which
//! runs it in an alertable `SleepEx`, `WaitForSingleObjectEx` or `WaitForMultipleObjectsEx`
//! (returning `WAIT_IO_COMPLETION`).
//!
//! As on Windows, the caller keeps the buffer and the `OVERLAPPED` valid, and does not touch
//! them, until the operation completed: the library writes into them from another thread.
//!
//! # Where this differs from Windows
//!
//! * Named pipe ends and mailslot servers are not inherited by `CreateProcess` (pipework
//!   cannot rebuild such an end from a descriptor: it holds state beside its socket). Anonymous
//!   pipe ends, files, mappings, mutexes, semaphores, events and processes are; so are mailslot
//!   clients, which the child opens again by the same name under the same handle value (a slot
//!   whose server has gone by then leaves that handle out).
//! * Overlapped I/O is real on named pipe handles opened with `FILE_FLAG_OVERLAPPED`
//!   (`ConnectNamedPipe`, `ReadFile`, `WriteFile`, `TransactNamedPipe`, `ReadFileEx`,
//!   `WriteFileEx`): see below. On every other handle `lpOverlapped` is accepted and the
//!   operation completes before the call returns (TRUE, the `OVERLAPPED` filled and its event
//!   set, as Windows allows); `ReadFileEx` / `WriteFileEx` there are `ERROR_INVALID_PARAMETER`.
//! * A pending operation is driven by a thread of its own (no completion ports); a cancel
//!   reaches it while it waits for its peer, not once the pipework call is under way (a large
//!   write then completes). `TransactNamedPipe` writes its request before it returns; the reply
//!   is what is pending.
//! * `WaitForMultipleObjectsEx` with `bWaitAll` runs only the completion routines queued before
//!   it was called; `SignalObjectAndWait`'s `bAlertable` is ignored.
//! * Two threads using one named pipe handle take turns: a blocked `ReadFile` holds the handle
//!   until it returns.
//! * `GetExitCodeProcess` knows the exit code of the children this process started; for
//!   another process that has exited it fails with `ERROR_NOT_SUPPORTED` (Linux tells only a
//!   parent).
//! * `PulseEvent` sets and resets at once: a waiter may miss it (as Windows warns).
//! * `CreateThread` runs the function on a Rust thread whose handle is signaled when it returns
//!   (no `ExitThread`, `SuspendThread` or `QueueUserAPC`: the only APCs are completion routines).
//! * Data a server wrote and its client had not read when the server called
//!   `DisconnectNamedPipe` is still delivered to the client before `ERROR_PIPE_NOT_CONNECTED`
//!   (Windows discards it).
//! * `DuplicateHandle` works within this process (another process's handles are numbers in a
//!   table this process cannot read): `ERROR_NOT_SUPPORTED` otherwise.
//! * Windows are message-only windows (`HWND_MESSAGE`; any other parent is taken as
//!   `HWND_MESSAGE`, and no window has children): an `HWND` is the pipework window's 64-bit
//!   handle, the same number in every process of the session. A thread sending to another
//!   process handles the messages sent to its own windows meanwhile (as Windows), on a helper
//!   thread's send; `TranslateMessage` translates nothing; `SMTO_ABORTIFHUNG` applies to
//!   windows of other processes. `HWND_BROADCAST` reaches the session's top-level windows:
//!   those made by `CreateWindowEx` with no parent (a message-only window, `HWND_MESSAGE`, is
//!   left out, as on Windows; pipework's `window::broadcast` reaches every window).
//!   `GetWindowThreadProcessId` of another process's window reports that process's main thread.
//! * DDEML (`ddeml.h`): callbacks run on the `DdeInitialize` thread, inside its `GetMessage` /
//!   `PeekMessage` (which then returns a `WM_NULL`, standing for the DDE message Windows would
//!   have dispatched) or inside a DDEML call of that thread that waits. Not offered:
//!   `APPCLASS_MONITOR` (`DMLERR_DLL_USAGE`), `DdeConnectList`, `DdeQueryConvInfo`,
//!   `DdeEnableCallback`, `CBR_BLOCK`; no `XTYP_WILDCONNECT` (a connect with no topic gets the
//!   `SYSTEM` topic) or `XTYP_REGISTER` / `XTYP_UNREGISTER`; a client gets `XTYP_DISCONNECT`
//!   when the server ends the conversation (`DdeDisconnect`, `DdeNameService(DNS_UNREGISTER)`,
//!   `DdeUninitialize`), not when the server process just dies (the next transaction then
//!   fails with `DMLERR_NO_CONV_ESTABLISHED`);
//!   `CBF_FAIL_SELFCONNECTIONS` is not applied, and `XTYP_CONNECT`'s `dwData2` says "same
//!   process", not "same instance". String handles are process-wide. An `XTYP_ADVREQ` serves
//!   every link on the item at once (`hConv` NULL, count 0). `DdeGetLastError` of an unknown
//!   instance is `DMLERR_DLL_NOT_INITIALIZED`.
//! * The clipboard is the session's (`PIPEWORK_WIN32_CLIPBOARD` names a headless one to use
//!   instead). `SetClipboardData` copies the `HGLOBAL`'s bytes and works after
//!   `OpenClipboard(NULL)` too; with a NULL handle (delayed rendering) it returns NULL with last
//!   error 0, and the owner window answers `WM_RENDERFORMAT` on its own thread, in its message
//!   loop (a paste by that thread itself renders at once, through the procedure);
//!   `WM_RENDERALLFORMATS` comes just before `WM_DESTROY`. `GetClipboardData`'s handle lasts
//!   until this thread closes or empties the clipboard. `GetClipboardOwner` of another process's clipboard is that
//!   process's first window. `GlobalAlloc` memory never moves; `GMEM_DISCARDABLE` and
//!   `GlobalReAlloc` are not offered. The atom table lives while a process that used it runs.
//!
//! # Safety
//!
//! This crate is the C boundary: its functions take raw pointers from C, so `unsafe` is allowed
//! here (and only here, besides pipework's own `sys/`), each block with a `// SAFETY:` comment
//! saying what the caller promised. A null or bad handle is an error, never a crash; a bad
//! pointer is the caller's fault, as on Windows.

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
// The exported functions keep Win32's names.
#![allow(non_snake_case, clippy::missing_safety_doc)]

#[cfg(target_os = "linux")]
mod atom;
#[cfg(target_os = "linux")]
pub mod boundary;
#[cfg(target_os = "linux")]
mod clipboard;
#[cfg(target_os = "linux")]
mod dde;
#[cfg(target_os = "linux")]
mod error;
#[cfg(target_os = "linux")]
mod file;
#[cfg(target_os = "linux")]
mod global;
#[cfg(target_os = "linux")]
mod mailslot;
#[cfg(target_os = "linux")]
mod mapping;
#[cfg(target_os = "linux")]
mod named_pipe;
#[cfg(target_os = "linux")]
mod overlapped;
#[cfg(target_os = "linux")]
mod process;
#[cfg(target_os = "linux")]
mod sync;
#[cfg(target_os = "linux")]
mod table;
#[cfg(target_os = "linux")]
mod text;
#[cfg(target_os = "linux")]
mod window;

#[cfg(target_os = "linux")]
pub use exports::*;

/// Every function the headers declare, for Rust callers (tests, the benchmark).
#[cfg(target_os = "linux")]
pub mod exports {
    pub use crate::atom::{
        GetClipboardFormatNameA, GetClipboardFormatNameW, GlobalAddAtomA, GlobalAddAtomW,
        GlobalDeleteAtom, GlobalFindAtomA, GlobalFindAtomW, GlobalGetAtomNameA, GlobalGetAtomNameW,
        RegisterClipboardFormatA, RegisterClipboardFormatW, RegisterWindowMessageA,
        RegisterWindowMessageW,
    };
    pub use crate::clipboard::{
        CloseClipboard, CountClipboardFormats, EmptyClipboard, EnumClipboardFormats,
        GetClipboardData, GetClipboardOwner, GetClipboardSequenceNumber,
        IsClipboardFormatAvailable, OpenClipboard, SetClipboardData,
    };
    pub use crate::dde::*;
    pub use crate::error::{GetLastError, SetLastError};
    pub use crate::file::{
        CreateFileA, CreateFileW, CreatePipe, DeleteFileA, DeleteFileW, FlushFileBuffers,
        GetFileType, PeekNamedPipe, ReadFile, ReadFileEx, WriteFile, WriteFileEx,
    };
    pub use crate::global::{GlobalAlloc, GlobalFree, GlobalLock, GlobalSize, GlobalUnlock};
    pub use crate::mailslot::{CreateMailslotA, CreateMailslotW, GetMailslotInfo, SetMailslotInfo};
    pub use crate::mapping::{
        CreateFileMappingA, CreateFileMappingW, FlushViewOfFile, MapViewOfFile, MapViewOfFileEx,
        OpenFileMappingA, OpenFileMappingW, UnmapViewOfFile,
    };
    pub use crate::named_pipe::{
        CallNamedPipeA, CallNamedPipeW, ConnectNamedPipe, CreateNamedPipeA, CreateNamedPipeW,
        DisconnectNamedPipe, GetNamedPipeClientProcessId, GetNamedPipeHandleStateA,
        GetNamedPipeHandleStateW, GetNamedPipeInfo, GetNamedPipeServerProcessId,
        SetNamedPipeHandleState, TransactNamedPipe, WaitNamedPipeA, WaitNamedPipeW,
    };
    pub use crate::overlapped::{CancelIo, CancelIoEx, GetOverlappedResult};
    pub use crate::process::{
        CreateProcessA, CreateProcessW, CreateThread, ExitProcess, GetCurrentProcess,
        GetCurrentProcessId, GetCurrentThreadId, GetExitCodeProcess, GetExitCodeThread,
        GetProcessId, GetStdHandle, GetThreadId, OpenProcess, SetStdHandle, TerminateProcess,
    };
    pub use crate::sync::{
        CreateEventA, CreateEventExA, CreateEventExW, CreateEventW, CreateMutexA, CreateMutexExA,
        CreateMutexExW, CreateMutexW, CreateSemaphoreA, CreateSemaphoreW, GetTickCount,
        GetTickCount64, OpenEventA, OpenEventW, OpenMutexA, OpenMutexW, OpenSemaphoreA,
        OpenSemaphoreW, PulseEvent, ReleaseMutex, ReleaseSemaphore, ResetEvent, SetEvent,
        SignalObjectAndWait, Sleep, SleepEx, WaitForMultipleObjects, WaitForMultipleObjectsEx,
        WaitForSingleObject, WaitForSingleObjectEx,
    };
    pub use crate::table::{
        CloseHandle, DuplicateHandle, GetHandleInformation, SetHandleInformation,
    };
    pub use crate::types::*;
    pub use crate::window::*;
}

/// For Rust programs that mix the C ABI with pipework's Rust types (tests, the benchmark):
/// putting a pipework object into the handle table. Not part of the headers.
#[cfg(target_os = "linux")]
pub mod adopt {
    use crate::table::{self, Object};
    use crate::types::HANDLE;

    /// A new (not inheritable) handle to an anonymous pipe's read end, as `CreatePipe` makes.
    pub fn pipe_reader(reader: pipework::pipe::PipeReader) -> HANDLE {
        table::insert(Object::PipeRead(reader), false)
    }

    /// A new (not inheritable) handle to an anonymous pipe's write end, as `CreatePipe` makes.
    pub fn pipe_writer(writer: pipework::pipe::PipeWriter) -> HANDLE {
        table::insert(Object::PipeWrite(writer), false)
    }
}

/// The C types of the headers, as Rust sees them.
#[cfg(target_os = "linux")]
pub mod types {
    /// `BOOL`: 0 is FALSE.
    pub type BOOL = i32;
    /// `DWORD`: 32 bits, as on Windows.
    pub type DWORD = u32;
    /// `HANDLE`.
    pub type HANDLE = *mut core::ffi::c_void;
    /// `WCHAR`: 16 bits (UTF-16), as on Windows.
    pub type WCHAR = u16;
    /// `TRUE`.
    pub const TRUE: BOOL = 1;
    /// `FALSE`.
    pub const FALSE: BOOL = 0;
    /// `INVALID_HANDLE_VALUE`.
    pub const INVALID_HANDLE_VALUE: HANDLE = usize::MAX as HANDLE;
    /// `SECURITY_ATTRIBUTES`.
    #[repr(C)]
    #[derive(Debug)]
    pub struct SECURITY_ATTRIBUTES {
        /// `nLength`.
        pub nLength: DWORD,
        /// `lpSecurityDescriptor` (ignored).
        pub lpSecurityDescriptor: *mut core::ffi::c_void,
        /// `bInheritHandle`.
        pub bInheritHandle: BOOL,
    }
    /// `OVERLAPPED`.
    #[repr(C)]
    #[derive(Debug)]
    pub struct OVERLAPPED {
        /// `Internal`: the status (0 once complete).
        pub Internal: usize,
        /// `InternalHigh`: the bytes transferred.
        pub InternalHigh: usize,
        /// `Offset`.
        pub Offset: DWORD,
        /// `OffsetHigh`.
        pub OffsetHigh: DWORD,
        /// `hEvent`: set when the operation completes.
        pub hEvent: HANDLE,
    }
}
