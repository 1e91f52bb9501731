//! pipework: the Windows interprocess-communication model on Linux, behaviour for behaviour.
//!
//! Each Win32 mechanism is one module whose types read like the Win32 vocabulary, and whose
//! behaviour (what blocks, what is kept, what is lost, what fails) follows Win32, while errors are
//! `std::io::Error`s of the kind a Rust programmer expects and handles fit `std` (`Read`, `Write`,
//! `OwnedFd`, `std::process::Stdio`) and tokio.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let (mut reader, mut writer) = pipework::pipe::create()?;
//! writer.write_all(b"across")?;
//! drop(writer);
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert_eq!(text, "across");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Mechanisms
//!
//! | Mechanism | Module | Status |
//! |---|---|---|
//! | Anonymous pipes | [`pipe`] | done |
//! | Handle inheritance, duplication, passing | [`handle`], [`process`] | done |
//! | Named pipes | [`named_pipe`], names in [`name`] | done |
//! | Mailslots (local and over UDP) | [`mailslot`] | done |
//! | File mappings (shared memory) | [`mapping`] | done |
//! | Mutexes, semaphores, events, multiple-object waits | [`sync`] | done |
//! | Shared-memory pipe (beyond Win32) | [`shm_pipe`] | done |
//! | Zero-copy pipe paths (`splice`, `tee`) | [`pipe`] | done |
//! | RPC: DCE/RPC (`ncacn_np`, `ncacn_ip_tcp`), gRPC over named pipes | [`rpc`] | done |
//! | Message windows, data copy (`WM_COPYDATA`) | [`window`] | done |
//! | DDE (the DDEML model) | [`dde`] | done |
//! | Clipboard (Wayland's selection, X11's `CLIPBOARD` selection, or headless) | [`clipboard`] | done |
//! | Global atom table | [`atom`] | done |
//!
//! # Win32 → pipework
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreatePipe` | [`pipe::create`], [`pipe::PipeOptions`] |
//! | `ReadFile` / `WriteFile` on a pipe | [`std::io::Read`] / [`std::io::Write`] on [`pipe::PipeReader`] / [`pipe::PipeWriter`] |
//! | `PeekNamedPipe` | [`pipe::PipeReader::peek`], [`pipe::PipeReader::bytes_available`] |
//! | `CloseHandle` | `drop` |
//! | `SetHandleInformation(HANDLE_FLAG_INHERIT)` | [`handle::set_inheritable`] |
//! | `DuplicateHandle` | `try_clone`, [`handle::duplicate`], [`handle::send`] / [`handle::recv`], [`process::Process::duplicate_handle`] |
//! | `CreateProcess` with inherited handles | [`process::CommandExt::inherit_handle`] |
//! | `OpenProcess` / `WaitForSingleObject(process)` | [`process::Process`] |
//! | `CreateFileMapping` / `OpenFileMapping` | [`mapping::FileMapping`] |
//! | `MapViewOfFile` / `FlushViewOfFile` / `UnmapViewOfFile` | [`mapping::FileMapping::map_view`], [`mapping::View::flush`], drop the [`mapping::View`] |
//! | `CreateMutex` / `ReleaseMutex` | [`sync::Mutex`] |
//! | `CreateSemaphore` / `ReleaseSemaphore` | [`sync::Semaphore`] |
//! | `CreateEvent` / `SetEvent` / `ResetEvent` | [`sync::Event`] |
//! | `WaitForMultipleObjects` | [`sync::wait_any`], [`sync::wait_all`] |
//! | `CreateMailslot` / `GetMailslotInfo` / `SetMailslotInfo` | [`mailslot::Mailslot`] |
//! | `CreateFile` + `WriteFile` on a mailslot | [`mailslot::MailslotClient`] |
//! | `CreateNamedPipe` / `ConnectNamedPipe` / `DisconnectNamedPipe` | [`named_pipe::ServerOptions`], [`named_pipe::NamedPipeServer`] |
//! | `CreateFile` on a pipe name / `WaitNamedPipe` / `CallNamedPipe` | [`named_pipe::NamedPipeClient`], [`named_pipe::wait`], [`named_pipe::call`] |
//! | `TransactNamedPipe` / `PeekNamedPipe` (named) | [`named_pipe::NamedPipeClient::transact`], `peek` |
//! | `GlobalAddAtom` / `GlobalFindAtom` / `GlobalGetAtomName` / `GlobalDeleteAtom` | [`atom::add`], [`atom::find`], [`atom::name`], [`atom::delete`] |
//! | `OpenClipboard` / `EmptyClipboard` / `SetClipboardData` / `GetClipboardData` | [`clipboard::Session::open`], [`clipboard::Clipboard::empty`], [`clipboard::Clipboard::set`], [`clipboard::Clipboard::get`] |
//! | `RegisterClipboardFormat` / `GetClipboardSequenceNumber` / `AddClipboardFormatListener` | [`clipboard::register_format`], [`clipboard::Session::sequence_number`], [`clipboard::Session::listen`] |
//!
//! # Platform
//!
//! Linux only, on any architecture Rust and `rustix` support
//! ([`process::Process::duplicate_handle`] needs kernel 5.6 or later, for `pidfd_getfd`).
//! pipework builds each Win32 object out of Linux facilities: futexes, pidfds, memfds,
//! `/dev/shm`, abstract Unix-domain sockets, `splice`. On any other target the crate stops at one
//! `compile_error!` that says so, rather than at a wall of unresolved Linux calls.
//!
//! # From other languages
//!
//! Named objects are plain Linux objects that other programs reach: a named mapping is a file in
//! `/dev/shm` that Python's `multiprocessing.shared_memory` attaches to (up to Python 3.12 only
//! with the resource tracker told to keep out, or Python removes the name when it exits: see
//! [`mapping`]); a named pipe's instance is a Unix-domain socket (`pipework pipe path NAME`),
//! which carries a byte pipe's bytes as they are and a message pipe's messages framed as a
//! 4-byte little-endian length and that many bytes. The repository's
//! `python/pipework_pipe.py` speaks that framing with Python's standard library.
//!
//! # Cargo features
//!
//! * `tokio`: async front-ends: `pipe::AsyncPipeReader`, `pipe::AsyncPipeWriter`,
//!   `named_pipe::AsyncNamedPipeServer`, `named_pipe::AsyncNamedPipeClient`,
//!   `mailslot::AsyncMailslot`, `shm_pipe::AsyncShmReader`, `shm_pipe::AsyncShmWriter`.
//! * `rpc`: gRPC over named pipes (tonic, prost): `rpc::grpc`. DCE/RPC (`rpc::dce`) needs no
//!   feature.
//!   `mailslot::AsyncMailslot`, `shm_pipe::AsyncShmReader`, `shm_pipe::AsyncShmWriter`,
//!   `clipboard::AsyncListener` (a `futures_core::Stream` of clipboard changes).
//! * `x11`: the clipboard on X11 displays (`clipboard::Session::x11`, chosen by
//!   [`clipboard::Session::system`] when `DISPLAY` is set), on `x11rb`'s pure-Rust connection.
//! * `wayland`: the clipboard on Wayland compositors with the data-control protocol
//!   (`clipboard::Session::wayland`, chosen first by [`clipboard::Session::system`] when
//!   `WAYLAND_DISPLAY` is set), on `wayland-client`'s pure-Rust connection.
//! * `interop`: builds the interop suite among the tests (foreign programs, root); the library
//!   does not change.

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "pipework supports Linux only: it builds the Windows IPC model out of Linux facilities \
     (futexes, pidfds, memfds, /dev/shm, abstract Unix-domain sockets), which this target lacks"
);

// Every module is Linux-only, so that another target sees the one error above and nothing else.
#[cfg(target_os = "linux")]
pub mod atom;
#[cfg(target_os = "linux")]
pub mod clipboard;
#[cfg(target_os = "linux")]
pub mod dde;
#[cfg(target_os = "linux")]
pub mod handle;
#[cfg(target_os = "linux")]
pub mod mailslot;
#[cfg(target_os = "linux")]
pub mod mapping;
#[cfg(target_os = "linux")]
pub mod name;
#[cfg(target_os = "linux")]
pub mod named_pipe;
#[cfg(target_os = "linux")]
pub mod pipe;
#[cfg(target_os = "linux")]
pub mod process;
#[cfg(target_os = "linux")]
pub mod rpc;
#[cfg(target_os = "linux")]
pub mod shm_pipe;
#[cfg(target_os = "linux")]
pub mod sync;
#[cfg(target_os = "linux")]
pub mod window;

#[cfg(target_os = "linux")]
mod sys;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
