//! Named pipes: `CreateNamedPipe`, `ConnectNamedPipe`, the client's `CreateFile`, `CallNamedPipe`,
//! ..., on [`pipework::named_pipe`]. The handle's read and wait modes are kept beside the end,
//! as Win32 keeps them per handle.

use std::ffi::c_char;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pipework::named_pipe::{
    self, ClientOptions, Connected, MessageRead, NamedPipeClient, NamedPipeServer, PipeMode,
    ReadMode, ServerOptions, WaitTimeout,
};

use crate::error::{
    self, Fail, Op, Win32, ERROR_ALREADY_EXISTS, ERROR_BAD_PIPE, ERROR_BROKEN_PIPE,
    ERROR_INVALID_FUNCTION, ERROR_INVALID_HANDLE, ERROR_INVALID_NAME, ERROR_INVALID_PARAMETER,
    ERROR_MORE_DATA, ERROR_NO_DATA, ERROR_PIPE_CONNECTED, ERROR_PIPE_LISTENING,
    ERROR_PIPE_NOT_CONNECTED, ERROR_SUCCESS,
};
use crate::file::{io_end, Io};
use crate::table::{self, inherit_of, Object};
use crate::text::{ansi, server_of, wide};
use crate::types::*;

const PIPE_ACCESS_INBOUND: u32 = 1;
const PIPE_ACCESS_OUTBOUND: u32 = 2;
const FILE_FLAG_FIRST_PIPE_INSTANCE: u32 = 0x0008_0000;
const FILE_FLAG_WRITE_THROUGH: u32 = 0x8000_0000;
const FILE_FLAG_OVERLAPPED: u32 = 0x4000_0000;
const WRITE_DAC: u32 = 0x0004_0000;
const WRITE_OWNER: u32 = 0x0008_0000;
const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
const PIPE_NOWAIT: u32 = 1;
const PIPE_READMODE_MESSAGE: u32 = 2;
const PIPE_TYPE_MESSAGE: u32 = 4;
const PIPE_REJECT_REMOTE_CLIENTS: u32 = 8;
const PIPE_SERVER_END: u32 = 1;
const PIPE_UNLIMITED_INSTANCES: u32 = 255;
const NMPWAIT_WAIT_FOREVER: u32 = 0xFFFF_FFFF;
const NMPWAIT_USE_DEFAULT_WAIT: u32 = 0;

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per handle, boxed in the table's Arc already
enum End {
    Server(NamedPipeServer),
    Client(NamedPipeClient),
}

/// Where a server end stands (what Win32 reports to I/O without a client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Listening,
    Connected,
    Disconnected,
}

#[derive(Debug)]
struct Inner {
    end: End,
    message_pipe: bool,
    message_read: bool,
    nowait: bool,
    state: State,
}

/// A named pipe's server or client end, with its handle's modes.
#[derive(Debug)]
pub(crate) struct PipeEnd {
    inner: Mutex<Inner>,
    /// Opened with `FILE_FLAG_OVERLAPPED`: calls with an `OVERLAPPED` may be left pending.
    pub(crate) overlapped: bool,
}

fn message(r: std::io::Result<MessageRead>) -> Io {
    match r {
        Ok(MessageRead::Complete(n)) => Ok(n),
        Ok(MessageRead::MoreData { read, .. }) => Err((ERROR_MORE_DATA, read)),
        Ok(MessageRead::End) => Err((ERROR_BROKEN_PIPE, 0)),
        Err(e) => Err((error::code(&e, Op::Read), 0)),
    }
}

impl PipeEnd {
    fn new(end: End, message_pipe: bool, message_read: bool, nowait: bool) -> PipeEnd {
        PipeEnd {
            overlapped: false,
            inner: Mutex::new(Inner {
                end,
                message_pipe,
                message_read,
                nowait,
                state: State::Listening,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The code for I/O on a server end without a client.
    fn unconnected(inner: &Inner) -> Option<Fail> {
        match (&inner.end, inner.state) {
            (End::Server(s), _) if s.is_connected() => None,
            (End::Server(_), State::Listening) => Some(ERROR_PIPE_LISTENING),
            (End::Server(_), _) => Some(ERROR_PIPE_NOT_CONNECTED),
            (End::Client(_), _) => None,
        }
    }

    pub(crate) fn read(&self, buf: &mut [u8]) -> Io {
        let mut inner = self.lock();
        if let Some(code) = Self::unconnected(&inner) {
            return Err((code, 0));
        }
        if inner.message_read {
            return message(match &mut inner.end {
                End::Server(s) => s.read_message(buf),
                End::Client(c) => c.read_message(buf),
            });
        }
        let r = match &mut inner.end {
            End::Server(s) => s.read(buf),
            End::Client(c) => c.read(buf),
        };
        match r {
            Ok(0) if !buf.is_empty() => Err((ERROR_BROKEN_PIPE, 0)),
            Ok(n) => Ok(n),
            Err(e) => Err((error::code(&e, Op::Read), 0)),
        }
    }

    pub(crate) fn write(&self, buf: &[u8]) -> Io {
        let mut inner = self.lock();
        if let Some(code) = Self::unconnected(&inner) {
            return Err((code, 0));
        }
        let r = match &mut inner.end {
            End::Server(s) => s.write_message(buf),
            End::Client(c) => c.write_message(buf),
        };
        match r {
            Ok(()) => Ok(buf.len()),
            Err(e) => Err((error::code(&e, Op::Write), 0)),
        }
    }

    pub(crate) fn peek(&self, buf: &mut [u8]) -> Result<(usize, u64, u64), Fail> {
        let mut inner = self.lock();
        if let Some(code) = Self::unconnected(&inner) {
            return Err(code);
        }
        let info = match &mut inner.end {
            End::Server(s) => s.peek(buf),
            End::Client(c) => c.peek(buf),
        }
        .win32(Op::Read)?;
        Ok((info.read, info.available, info.left_in_message))
    }

    pub(crate) fn flush(&self) -> Result<(), Fail> {
        let mut inner = self.lock();
        if let Some(code) = Self::unconnected(&inner) {
            return Err(code);
        }
        match &mut inner.end {
            End::Server(s) => s.flush(),
            End::Client(c) => c.flush(),
        }
        .win32(Op::Write)
    }

    pub(crate) fn fd(&self) -> Option<std::io::Result<OwnedFd>> {
        let inner = self.lock();
        Some(match &inner.end {
            End::Server(s) if s.is_connected() => s.as_fd().try_clone_to_owned(),
            End::Server(_) => return None,
            End::Client(c) => c.as_fd().try_clone_to_owned(),
        })
    }

    /// `ConnectNamedPipe` on a server end: waits for a client unless in `PIPE_NOWAIT` mode.
    pub(crate) fn connect(&self) -> Result<(), Fail> {
        let mut inner = self.lock();
        Self::connect_locked(&mut inner)
    }

    fn connect_locked(inner: &mut Inner) -> Result<(), Fail> {
        let End::Server(server) = &mut inner.end else {
            return Err(ERROR_INVALID_FUNCTION);
        };
        let r = server.connect();
        inner.state = match r {
            Ok(_) => State::Connected,
            Err(_) => State::Listening,
        };
        match r {
            Ok(Connected::Connected) => Ok(()),
            Ok(Connected::AlreadyConnected) => Err(ERROR_PIPE_CONNECTED),
            Err(e) => Err(match e.kind() {
                ErrorKind::WouldBlock => ERROR_PIPE_LISTENING,
                ErrorKind::BrokenPipe => ERROR_NO_DATA,
                _ => error::code(&e, Op::Other),
            }),
        }
    }

    /// A connect that does not wait: `None` when no client is there yet (the instance then
    /// listens, and [`poll_fd`](Self::poll_fd) is its listening socket).
    pub(crate) fn try_connect(&self) -> Option<Result<(), Fail>> {
        let mut inner = self.lock();
        let nowait = inner.nowait;
        if let End::Server(s) = &mut inner.end {
            if !nowait {
                if let Err(e) = s.set_nonblocking(true) {
                    return Some(Err(error::code(&e, Op::Other)));
                }
            }
        }
        let r = Self::connect_locked(&mut inner);
        if let End::Server(s) = &mut inner.end {
            if !nowait {
                if let Err(e) = s.set_nonblocking(false) {
                    return Some(Err(error::code(&e, Op::Other)));
                }
            }
        }
        match r {
            Err(ERROR_PIPE_LISTENING) if !nowait => None,
            r => Some(r),
        }
    }

    /// Whether a read would return without waiting for the peer (data, the end, an error).
    pub(crate) fn read_ready(&self) -> bool {
        let mut inner = self.lock();
        if inner.nowait || Self::unconnected(&inner).is_some() {
            return true;
        }
        let fd = match &inner.end {
            End::Server(s) => s.as_fd(),
            End::Client(c) => c.as_fd(),
        };
        if crate::overlapped::poll_now(fd, libc::POLLIN) {
            return true;
        }
        // The end may hold read-ahead data the socket no longer shows.
        let peeked = match &mut inner.end {
            End::Server(s) => s.peek(&mut []),
            End::Client(c) => c.peek(&mut []),
        };
        match peeked {
            Ok(info) => info.available > 0,
            Err(_) => true,
        }
    }

    /// Whether a write of `len` bytes would return without waiting for the peer to read: with
    /// `room`, when the pipe's buffer has room for all of it now; without, when it has room
    /// for some (a worker then waits in the write for the rest).
    pub(crate) fn write_ready(&self, len: usize, room: bool) -> bool {
        let inner = self.lock();
        if inner.nowait || Self::unconnected(&inner).is_some() {
            return true;
        }
        let fd = match &inner.end {
            End::Server(s) => s.as_fd(),
            End::Client(c) => c.as_fd(),
        };
        if !crate::overlapped::poll_now(fd, libc::POLLOUT) {
            return false;
        }
        !room || crate::overlapped::has_room(fd, len)
    }

    /// A descriptor to wait on for this end's next event (the connection, or the listening
    /// socket of a server end without a client).
    pub(crate) fn poll_fd(&self) -> Option<OwnedFd> {
        let inner = self.lock();
        match &inner.end {
            End::Server(s) => s.as_fd().try_clone_to_owned().ok(),
            End::Client(c) => c.as_fd().try_clone_to_owned().ok(),
        }
    }

    /// Whether this end is a message pipe in message-read mode (what a transaction needs).
    pub(crate) fn transact_check(&self) -> Result<(), Fail> {
        let inner = self.lock();
        if let Some(code) = Self::unconnected(&inner) {
            return Err(code);
        }
        if !inner.message_read {
            return Err(ERROR_BAD_PIPE);
        }
        Ok(())
    }

    fn transact(&self, request: &[u8], reply: &mut [u8]) -> Io {
        let mut inner = self.lock();
        if let Some(code) = Self::unconnected(&inner) {
            return Err((code, 0));
        }
        if !inner.message_read {
            return Err((ERROR_BAD_PIPE, 0));
        }
        let r = match &mut inner.end {
            End::Server(s) => s.transact(request, reply),
            End::Client(c) => c.transact(request, reply),
        };
        match r {
            Err(e) if e.kind() == ErrorKind::InvalidInput => Err((ERROR_BAD_PIPE, 0)),
            r => message(r),
        }
    }
}

/// Opens the client end of `name` (`CreateFile` on `\\.\pipe\name`).
pub(crate) fn open_client(
    name: &str,
    read: bool,
    write: bool,
    overlapped: bool,
) -> Result<PipeEnd, Fail> {
    let client = ClientOptions::new()
        .read(read)
        .write(write)
        .open(name)
        .win32(Op::Open)?;
    let message_pipe = client.pipe_mode() == PipeMode::Message;
    let mut end = PipeEnd::new(End::Client(client), message_pipe, false, false);
    end.overlapped = overlapped;
    Ok(end)
}

/// A local pipe name as `CreateNamedPipe` takes it: `\\.\pipe\name`.
fn local_name(name: Option<String>) -> Result<String, Fail> {
    let name = name.ok_or(ERROR_INVALID_PARAMETER)?;
    match server_of(&name, "pipe") {
        Some(".") => Ok(name),
        _ => Err(ERROR_INVALID_NAME),
    }
}

/// A pipe name as the client functions take it: `\\server\pipe\name`. Plain names (which the
/// Rust API and the CLI accept as a convenience) are refused, as Windows does.
fn any_name(name: Option<String>) -> Result<String, Fail> {
    let name = name.ok_or(ERROR_INVALID_PARAMETER)?;
    match server_of(&name, "pipe") {
        Some(_) => Ok(name),
        None => Err(ERROR_INVALID_NAME),
    }
}

#[allow(clippy::too_many_arguments)]
fn create_named_pipe(
    name: Option<String>,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out_size: DWORD,
    in_size: DWORD,
    timeout: DWORD,
    inherit: bool,
) -> Result<HANDLE, Fail> {
    let name = local_name(name)?;
    let access = open_mode & (PIPE_ACCESS_INBOUND | PIPE_ACCESS_OUTBOUND);
    let known_open = PIPE_ACCESS_INBOUND
        | PIPE_ACCESS_OUTBOUND
        | FILE_FLAG_FIRST_PIPE_INSTANCE
        | FILE_FLAG_WRITE_THROUGH
        | FILE_FLAG_OVERLAPPED
        | WRITE_DAC
        | WRITE_OWNER
        | ACCESS_SYSTEM_SECURITY;
    let known_pipe =
        PIPE_NOWAIT | PIPE_READMODE_MESSAGE | PIPE_TYPE_MESSAGE | PIPE_REJECT_REMOTE_CLIENTS;
    if access == 0 || open_mode & !known_open != 0 || pipe_mode & !known_pipe != 0 {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let message_pipe = pipe_mode & PIPE_TYPE_MESSAGE != 0;
    let message_read = pipe_mode & PIPE_READMODE_MESSAGE != 0;
    if message_read && !message_pipe {
        return Err(ERROR_INVALID_PARAMETER);
    }
    if max == 0 || max > PIPE_UNLIMITED_INSTANCES {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let nowait = pipe_mode & PIPE_NOWAIT != 0;
    let mut options = ServerOptions::new();
    options
        .access_inbound(access & PIPE_ACCESS_INBOUND != 0)
        .access_outbound(access & PIPE_ACCESS_OUTBOUND != 0)
        .pipe_mode(if message_pipe {
            PipeMode::Message
        } else {
            PipeMode::Byte
        })
        .read_mode(if message_read {
            ReadMode::Message
        } else {
            ReadMode::Byte
        })
        .first_pipe_instance(open_mode & FILE_FLAG_FIRST_PIPE_INSTANCE != 0)
        .default_timeout(Duration::from_millis(timeout.into()))
        .nonblocking(nowait);
    if max == PIPE_UNLIMITED_INSTANCES {
        options.unlimited_instances();
    } else {
        options.max_instances(max as usize);
    }
    if in_size > 0 {
        options.in_buffer_size(in_size);
    }
    if out_size > 0 {
        options.out_buffer_size(out_size);
    }
    let server = options.create(&name).win32(Op::Other)?;
    let existed = !server.created_pipe();
    let mut end = PipeEnd::new(End::Server(server), message_pipe, message_read, nowait);
    end.overlapped = open_mode & FILE_FLAG_OVERLAPPED != 0;
    let h = table::insert(Object::NamedPipe(end), inherit);
    error::SetLastError(if existed {
        ERROR_ALREADY_EXISTS
    } else {
        ERROR_SUCCESS
    });
    Ok(h)
}

/// `CreateNamedPipeA`: `\\.\pipe\name` only (`ERROR_INVALID_NAME` otherwise).
///
/// # Safety
/// `name` is a NUL-terminated string; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateNamedPipeA(
    name: *const c_char,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out_size: DWORD,
    in_size: DWORD,
    timeout: DWORD,
    sa: *const SECURITY_ATTRIBUTES,
) -> HANDLE {
    crate::boundary::guard(INVALID_HANDLE_VALUE, move || {
        // SAFETY: the caller passes NULL or a valid SECURITY_ATTRIBUTES.
        let inherit = unsafe { inherit_of(sa) };
        // SAFETY: the caller's string.
        let r = unsafe { ansi(name) }.and_then(|n| {
            create_named_pipe(
                n, open_mode, pipe_mode, max, out_size, in_size, timeout, inherit,
            )
        });
        error::handle(r, INVALID_HANDLE_VALUE)
    })
}

/// `CreateNamedPipeW`.
///
/// # Safety
/// `name` is a NUL-terminated wide string; `sa` is NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn CreateNamedPipeW(
    name: *const WCHAR,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out_size: DWORD,
    in_size: DWORD,
    timeout: DWORD,
    sa: *const SECURITY_ATTRIBUTES,
) -> HANDLE {
    crate::boundary::guard(INVALID_HANDLE_VALUE, move || {
        // SAFETY: the caller passes NULL or a valid SECURITY_ATTRIBUTES.
        let inherit = unsafe { inherit_of(sa) };
        // SAFETY: the caller's string.
        let r = unsafe { wide(name) }.and_then(|n| {
            create_named_pipe(
                n, open_mode, pipe_mode, max, out_size, in_size, timeout, inherit,
            )
        });
        error::handle(r, INVALID_HANDLE_VALUE)
    })
}

fn pipe_end(h: HANDLE) -> Result<std::sync::Arc<Object>, Fail> {
    let object = table::get(h)?;
    match &*object {
        Object::NamedPipe(_) => Ok(object),
        Object::PipeRead(_) | Object::PipeWrite(_) => Err(ERROR_INVALID_FUNCTION),
        _ => Err(ERROR_INVALID_HANDLE),
    }
}

fn end_of(object: &Object) -> &PipeEnd {
    match object {
        Object::NamedPipe(p) => p,
        _ => unreachable!("checked by pipe_end"),
    }
}

/// `ConnectNamedPipe`: TRUE once a client connected; FALSE with `ERROR_PIPE_CONNECTED` when one
/// was there already, `ERROR_NO_DATA` when it came and went, `ERROR_PIPE_LISTENING` in
/// nonblocking mode with none; `ERROR_INVALID_FUNCTION` on a client end.
///
/// # Safety
/// `ov` is NULL or points to an `OVERLAPPED`.
#[no_mangle]
pub unsafe extern "C" fn ConnectNamedPipe(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let object = match pipe_end(h) {
            Ok(o) => o,
            Err(c) => return error::boolean(Err(c)),
        };
        if !ov.is_null() && end_of(&object).overlapped {
            // SAFETY: the caller's OVERLAPPED, valid until the operation completes.
            return unsafe {
                crate::overlapped::start(
                    h,
                    object,
                    crate::overlapped::Kind::Connect,
                    ov,
                    std::ptr::null_mut(),
                    None,
                )
            };
        }
        let r = end_of(&object).connect();
        // SAFETY: the caller's OVERLAPPED, or NULL.
        unsafe { io_end(r.map(|()| 0).map_err(|c| (c, 0)), std::ptr::null_mut(), ov) }
    })
}

/// `DisconnectNamedPipe`: `ERROR_PIPE_NOT_CONNECTED` with no client.
#[no_mangle]
pub extern "C" fn DisconnectNamedPipe(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = pipe_end(h).and_then(|o| {
            let mut inner = end_of(&o).lock();
            let End::Server(server) = &mut inner.end else {
                return Err(ERROR_INVALID_FUNCTION);
            };
            let r = server.disconnect().win32(Op::Other);
            inner.state = State::Disconnected;
            r
        });
        error::boolean(r)
    })
}

fn wait_timeout(ms: DWORD) -> WaitTimeout {
    match ms {
        NMPWAIT_USE_DEFAULT_WAIT => WaitTimeout::Default,
        NMPWAIT_WAIT_FOREVER => WaitTimeout::Forever,
        ms => WaitTimeout::After(Duration::from_millis(ms.into())),
    }
}

fn wait_named_pipe(name: Option<String>, ms: DWORD) -> Result<(), Fail> {
    let name = any_name(name)?;
    named_pipe::wait(&name, wait_timeout(ms)).win32(Op::Other)
}

/// `WaitNamedPipeA`: `ERROR_SEM_TIMEOUT` when the time runs out, `ERROR_FILE_NOT_FOUND` at once
/// for a pipe that does not exist.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn WaitNamedPipeA(name: *const c_char, ms: DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: the caller's string.
        error::boolean(unsafe { ansi(name) }.and_then(|n| wait_named_pipe(n, ms)))
    })
}

/// `WaitNamedPipeW`.
///
/// # Safety
/// `name` is a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn WaitNamedPipeW(name: *const WCHAR, ms: DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: the caller's string.
        error::boolean(unsafe { wide(name) }.and_then(|n| wait_named_pipe(n, ms)))
    })
}

/// The caller's buffers for a transaction.
///
/// # Safety
/// `input` holds `in_len` readable bytes and `output` `out_len` writable ones (or are NULL when
/// their length is 0).
unsafe fn buffers<'a>(
    input: *const core::ffi::c_void,
    in_len: DWORD,
    output: *mut core::ffi::c_void,
    out_len: DWORD,
) -> (&'a [u8], &'a mut [u8]) {
    let request: &[u8] = if input.is_null() || in_len == 0 {
        &[]
    } else {
        // SAFETY: the caller passes `in_len` readable bytes.
        unsafe { std::slice::from_raw_parts(input.cast::<u8>(), in_len as usize) }
    };
    let reply: &mut [u8] = if output.is_null() || out_len == 0 {
        &mut []
    } else {
        // SAFETY: the caller passes `out_len` writable bytes.
        unsafe { std::slice::from_raw_parts_mut(output.cast::<u8>(), out_len as usize) }
    };
    (request, reply)
}

fn call(name: Option<String>, request: &[u8], reply: &mut [u8], ms: DWORD) -> Io {
    let name = any_name(name).map_err(|c| (c, 0))?;
    message(named_pipe::call_into(
        &name,
        request,
        reply,
        wait_timeout(ms),
    ))
}

/// `CallNamedPipeA`: open (waiting once if busy), write, read one message, close.
///
/// # Safety
/// Buffers and `read` as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CallNamedPipeA(
    name: *const c_char,
    input: *mut core::ffi::c_void,
    in_len: DWORD,
    output: *mut core::ffi::c_void,
    out_len: DWORD,
    read: *mut DWORD,
    ms: DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: the caller's buffers.
        let (request, reply) = unsafe { buffers(input, in_len, output, out_len) };
        // SAFETY: the caller's string.
        let r = match unsafe { ansi(name) } {
            Ok(n) => call(n, request, reply, ms),
            Err(c) => Err((c, 0)),
        };
        // SAFETY: the caller's pointer.
        unsafe { io_end(r, read, std::ptr::null_mut()) }
    })
}

/// `CallNamedPipeW`.
///
/// # Safety
/// Buffers and `read` as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn CallNamedPipeW(
    name: *const WCHAR,
    input: *mut core::ffi::c_void,
    in_len: DWORD,
    output: *mut core::ffi::c_void,
    out_len: DWORD,
    read: *mut DWORD,
    ms: DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        // SAFETY: the caller's buffers.
        let (request, reply) = unsafe { buffers(input, in_len, output, out_len) };
        // SAFETY: the caller's string.
        let r = match unsafe { wide(name) } {
            Ok(n) => call(n, request, reply, ms),
            Err(c) => Err((c, 0)),
        };
        // SAFETY: the caller's pointer.
        unsafe { io_end(r, read, std::ptr::null_mut()) }
    })
}

/// `TransactNamedPipe`: one message out, one in; message-read mode (`ERROR_BAD_PIPE`
/// otherwise); `ERROR_MORE_DATA` when the reply does not fit.
///
/// # Safety
/// Buffers, `read` and `ov` as Win32 requires.
#[no_mangle]
pub unsafe extern "C" fn TransactNamedPipe(
    h: HANDLE,
    input: *mut core::ffi::c_void,
    in_len: DWORD,
    output: *mut core::ffi::c_void,
    out_len: DWORD,
    read: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        if !ov.is_null() {
            if let Ok(object) = table::get(h) {
                if crate::file::is_overlapped(&object) {
                    let end = end_of(&object);
                    // SAFETY: the caller's request buffer.
                    let (request, _) = unsafe { buffers(input, in_len, std::ptr::null_mut(), 0) };
                    if let Err(c) = end
                        .transact_check()
                        .map_err(|c| (c, 0))
                        .and_then(|()| end.write(request))
                    {
                        // SAFETY: the caller's pointers.
                        return unsafe { io_end(Err(c), read, ov) };
                    }
                    let kind = crate::overlapped::Kind::Read(output.cast::<u8>(), out_len as usize);
                    // SAFETY: the caller keeps the reply buffer and OVERLAPPED valid until
                    // completion.
                    return unsafe { crate::overlapped::start(h, object, kind, ov, read, None) };
                }
            }
        }
        // SAFETY: the caller's buffers.
        let (request, reply) = unsafe { buffers(input, in_len, output, out_len) };
        let r = match table::get(h) {
            Ok(o) => match &*o {
                Object::NamedPipe(p) => p.transact(request, reply),
                Object::PipeRead(_) | Object::PipeWrite(_) => Err((ERROR_BAD_PIPE, 0)),
                _ => Err((ERROR_INVALID_HANDLE, 0)),
            },
            Err(c) => Err((c, 0)),
        };
        // SAFETY: the caller's pointers.
        unsafe { io_end(r, read, ov) }
    })
}

/// Writes `v` to `p` unless `p` is NULL.
///
/// # Safety
/// `p` is NULL or points to a `DWORD`.
unsafe fn put(p: *mut DWORD, v: u32) {
    if !p.is_null() {
        // SAFETY: not NULL; the caller passes a writable DWORD.
        unsafe { *p = v };
    }
}

/// `GetNamedPipeInfo`: which end, the type, the buffer sizes the system granted (as Windows,
/// which may round what `CreateNamedPipe` asked for; both ends report the same pipe), the
/// instance limit (anonymous pipes too: the read end is the server end).
///
/// # Safety
/// Each pointer is NULL or points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeInfo(
    h: HANDLE,
    flags: *mut DWORD,
    out_size: *mut DWORD,
    in_size: *mut DWORD,
    max: *mut DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = table::get(h).and_then(|o| {
            let info = match &*o {
                Object::PipeRead(p) => {
                    let n = p.buffer_size().win32(Op::Other)? as u32;
                    (PIPE_SERVER_END, n, n, 1)
                }
                Object::PipeWrite(p) => {
                    let n = p.buffer_size().win32(Op::Other)? as u32;
                    (0, n, n, 1)
                }
                Object::NamedPipe(p) => {
                    let inner = p.lock();
                    let info = match &inner.end {
                        End::Server(s) => s.info(),
                        End::Client(c) => c.info(),
                    }
                    .win32(Op::Other)?;
                    let kind = match info.pipe_mode {
                        PipeMode::Message => PIPE_TYPE_MESSAGE,
                        PipeMode::Byte => 0,
                    };
                    let end = if info.server_end { PIPE_SERVER_END } else { 0 };
                    let size = |n: usize| n.min(u32::MAX as usize) as u32;
                    (
                        end | kind,
                        size(info.out_buffer),
                        size(info.in_buffer),
                        info.max_instances.unwrap_or(PIPE_UNLIMITED_INSTANCES),
                    )
                }
                _ => return Err(ERROR_INVALID_HANDLE),
            };
            // SAFETY: the caller's pointers, each NULL or a DWORD.
            unsafe {
                put(flags, info.0);
                put(out_size, info.1);
                put(in_size, info.2);
                put(max, info.3);
            }
            Ok(())
        });
        error::boolean(r)
    })
}

fn handle_state(
    h: HANDLE,
    state: *mut DWORD,
    instances: *mut DWORD,
    collection: *mut DWORD,
    timeout: *mut DWORD,
) -> Result<(), Fail> {
    let o = table::get(h)?;
    let (mode, count) = match &*o {
        Object::PipeRead(_) | Object::PipeWrite(_) => (0, 1),
        Object::NamedPipe(p) => {
            let inner = p.lock();
            let mode = (u32::from(inner.nowait) * PIPE_NOWAIT)
                | (u32::from(inner.message_read) * PIPE_READMODE_MESSAGE);
            let count = match &inner.end {
                End::Server(s) => s.instances().unwrap_or(1) as u32,
                End::Client(_) => 1,
            };
            (mode, count)
        }
        _ => return Err(ERROR_INVALID_HANDLE),
    };
    if !collection.is_null() || !timeout.is_null() {
        // Collection settings exist only for a remote pipe's client end.
        return Err(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: the caller's pointers, each NULL or a DWORD.
    unsafe {
        put(state, mode);
        put(instances, count);
    }
    Ok(())
}

/// `GetNamedPipeHandleStateA`: wait and read mode, current instances (the user name is left
/// empty).
///
/// # Safety
/// Each pointer is NULL or valid; `user` holds `user_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeHandleStateA(
    h: HANDLE,
    state: *mut DWORD,
    instances: *mut DWORD,
    collection: *mut DWORD,
    timeout: *mut DWORD,
    user: *mut c_char,
    user_len: DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = handle_state(h, state, instances, collection, timeout);
        if r.is_ok() && !user.is_null() && user_len > 0 {
            // SAFETY: the caller passes `user_len` writable bytes.
            unsafe { *user = 0 };
        }
        error::boolean(r)
    })
}

/// `GetNamedPipeHandleStateW`.
///
/// # Safety
/// Each pointer is NULL or valid; `user` holds `user_len` wide characters.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeHandleStateW(
    h: HANDLE,
    state: *mut DWORD,
    instances: *mut DWORD,
    collection: *mut DWORD,
    timeout: *mut DWORD,
    user: *mut WCHAR,
    user_len: DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = handle_state(h, state, instances, collection, timeout);
        if r.is_ok() && !user.is_null() && user_len > 0 {
            // SAFETY: the caller passes `user_len` writable characters.
            unsafe { *user = 0 };
        }
        error::boolean(r)
    })
}

/// `SetNamedPipeHandleState`: `PIPE_READMODE_MESSAGE` (`ERROR_INVALID_PARAMETER` on a byte
/// pipe) and `PIPE_NOWAIT`.
///
/// # Safety
/// Each pointer is NULL or points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn SetNamedPipeHandleState(
    h: HANDLE,
    mode: *mut DWORD,
    collection: *mut DWORD,
    timeout: *mut DWORD,
) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = (|| {
            let o = table::get(h)?;
            if !collection.is_null() || !timeout.is_null() {
                return Err(ERROR_INVALID_PARAMETER);
            }
            // SAFETY: NULL or the caller's DWORD.
            let Some(&mode) = (unsafe { mode.as_ref() }) else {
                return Ok(());
            };
            if mode & !(PIPE_NOWAIT | PIPE_READMODE_MESSAGE) != 0 {
                return Err(ERROR_INVALID_PARAMETER);
            }
            let message_read = mode & PIPE_READMODE_MESSAGE != 0;
            let nowait = mode & PIPE_NOWAIT != 0;
            match &*o {
                Object::PipeRead(_) | Object::PipeWrite(_) if message_read => {
                    Err(ERROR_INVALID_PARAMETER)
                }
                Object::PipeRead(p) => p.set_nonblocking(nowait).win32(Op::Other),
                Object::PipeWrite(p) => p.set_nonblocking(nowait).win32(Op::Other),
                Object::NamedPipe(p) => {
                    let mut inner = p.lock();
                    if message_read && !inner.message_pipe {
                        return Err(ERROR_INVALID_PARAMETER);
                    }
                    let read_mode = if message_read {
                        ReadMode::Message
                    } else {
                        ReadMode::Byte
                    };
                    match &mut inner.end {
                        End::Server(s) => {
                            s.set_read_mode(read_mode).win32(Op::Other)?;
                            s.set_nonblocking(nowait).win32(Op::Other)?;
                        }
                        End::Client(c) => {
                            c.set_read_mode(read_mode).win32(Op::Other)?;
                            c.set_nonblocking(nowait).win32(Op::Other)?;
                        }
                    }
                    inner.message_read = message_read;
                    inner.nowait = nowait;
                    Ok(())
                }
                _ => Err(ERROR_INVALID_HANDLE),
            }
        })();
        error::boolean(r)
    })
}

/// `GetNamedPipeClientProcessId`.
///
/// # Safety
/// `pid` points to a `ULONG`.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeClientProcessId(h: HANDLE, pid: *mut u32) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = pipe_end(h).and_then(|o| {
            let inner = end_of(&o).lock();
            let found = match &inner.end {
                End::Server(s) => s.client().map(|c| c.pid).ok_or(ERROR_PIPE_NOT_CONNECTED)?,
                End::Client(_) => std::process::id(),
            };
            // SAFETY: the caller's ULONG, or NULL.
            unsafe { put(pid, found) };
            Ok(())
        });
        error::boolean(r)
    })
}

/// `GetNamedPipeServerProcessId`.
///
/// # Safety
/// `pid` points to a `ULONG`.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeServerProcessId(h: HANDLE, pid: *mut u32) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let r = pipe_end(h).map(|o| {
            let inner = end_of(&o).lock();
            let found = match &inner.end {
                End::Server(_) => std::process::id(),
                End::Client(c) => c.server().pid,
            };
            // SAFETY: the caller's ULONG, or NULL.
            unsafe { put(pid, found) };
        });
        error::boolean(r)
    })
}
