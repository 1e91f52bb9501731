//! Named pipes: a server creates a pipe with a well-known name, unrelated clients open it by name
//! (Win32 `CreateNamedPipe`, `ConnectNamedPipe`, `CreateFile`, `CallNamedPipe`, ...).
//!
//! ```
//! use std::io::{Read, Write};
//! use pipework::named_pipe::{NamedPipeClient, ServerOptions};
//!
//! let name = format!(r"\\.\pipe\doc-echo-{}", std::process::id());
//! let mut server = ServerOptions::new().create(&name)?;
//! let client = std::thread::spawn(move || -> std::io::Result<String> {
//!     let mut client = NamedPipeClient::open(&name)?;
//!     client.write_all(b"ping")?;
//!     let mut reply = [0u8; 4];
//!     client.read_exact(&mut reply)?;
//!     Ok(String::from_utf8_lossy(&reply).into_owned())
//! });
//! server.connect()?; // ConnectNamedPipe
//! let mut request = [0u8; 4];
//! server.read_exact(&mut request)?;
//! server.write_all(&request)?;
//! assert_eq!(client.join().unwrap()?, "ping");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreateNamedPipe(name, openMode, pipeMode, max, out, in, timeout, sa)` | [`ServerOptions`] → [`NamedPipeServer`] |
//! | `nOutBufferSize` / `nInBufferSize` | [`ServerOptions::out_buffer_size`] / [`ServerOptions::in_buffer_size`]: each direction's quota, its socket buffer and, between two pipework ends, its shared-memory ring (1 MiB when not set) |
//! | `PIPE_ACCESS_INBOUND` / `OUTBOUND` / `DUPLEX` | [`ServerOptions::access_inbound`], [`ServerOptions::access_outbound`] ([`Access`] in [`list`]) |
//! | `PIPE_REJECT_REMOTE_CLIENTS` | [`ServerOptions::reject_remote_clients`] (the default; `false` serves other machines through Samba: [`NamedPipeServer::remote_client`], [`RemoteClient`]) |
//! | `PIPE_TYPE_*`, `PIPE_READMODE_*`, `PIPE_NOWAIT` | [`ServerOptions::pipe_mode`] ([`PipeMode`]), [`ReadMode`], [`ClientOptions::pipe_mode`], `nonblocking` |
//! | `FILE_FLAG_FIRST_PIPE_INSTANCE` | [`ServerOptions::first_pipe_instance`] |
//! | security attributes (who may connect) | [`ServerOptions::allow_user`], [`ServerOptions::allow_everyone`], [`ServerOptions::global`] |
//! | `ConnectNamedPipe` | [`NamedPipeServer::connect`] ([`Connected`]) |
//! | `ERROR_PIPE_CONNECTED` | [`Connected::AlreadyConnected`] (a success, as in Win32) |
//! | `ERROR_NO_DATA` from `ConnectNamedPipe` | [`std::io::ErrorKind::BrokenPipe`] ("came and went") |
//! | `DisconnectNamedPipe` | [`NamedPipeServer::disconnect`] |
//! | `FlushFileBuffers` | [`std::io::Write::flush`] |
//! | `CreateFile(name)` | [`NamedPipeClient::open`], [`ClientOptions`] |
//! | `CreateFile(r"\\HOST\pipe\NAME")` (another machine, over SMB) | the same, with [`ClientOptions::remote_user`], [`ClientOptions::remote_port`], ... ([`NamedPipeClient::remote_session`]) |
//! | `WaitNamedPipe` | [`wait`], [`ClientOptions::wait`] |
//! | `ReadFile` / `WriteFile` | [`std::io::Read`] / [`std::io::Write`], `read_message` ([`MessageRead`]), `write_message` |
//! | `ERROR_MORE_DATA` | [`MessageRead::MoreData`] |
//! | `PeekNamedPipe` | `peek` ([`PeekInfo`]) |
//! | `TransactNamedPipe` | [`NamedPipeClient::transact`], [`NamedPipeServer::transact`] |
//! | `CallNamedPipe` | [`call`], [`call_into`] |
//! | `SetNamedPipeHandleState` | `set_read_mode`, `set_nonblocking` |
//! | `GetNamedPipeInfo` | `info` ([`PipeInfo`]) |
//! | `GetNamedPipeClientProcessId` / `ImpersonateNamedPipeClient` | [`NamedPipeServer::client`] |
//! | `GetNamedPipeServerProcessId` | [`NamedPipeClient::server`] |
//! | `ERROR_PIPE_BUSY` | [`std::io::ErrorKind::ResourceBusy`], [`is_busy`] |
//! | `ERROR_PIPE_NOT_CONNECTED` | [`std::io::ErrorKind::NotConnected`], [`is_not_connected`] |
//! | `DuplicateHandle` to the peer | `send_handle` / `recv_handle` |
//! | PipeList | [`list`] |
//! | overlapped I/O (`FILE_FLAG_OVERLAPPED`) | feature `tokio`: `AsyncNamedPipeServer`, `AsyncNamedPipeClient` |
//!
//! # How it maps to Linux
//!
//! A pipe is a directory in the user's own namespace (or the global one, see [`crate::name`]);
//! each instance listens on its own Unix-domain socket there, with room for one waiting client.
//! A client's open completes as soon as its connection is queued on a listening instance, before
//! the server's `connect`, as Win32's `CreateFile` does; the server's `connect` takes it (and
//! finds it already there). A client that finds no listening instance with room gets
//! `ResourceBusy`. A client tries the instances in the order they started listening, the one
//! that has waited longest first, as Win32 hands them out. Instances hold byte-range locks on
//! the pipe's lock file, so the pipe is gone the moment its last instance is (even after
//! `kill -9`), and instance limits hold across processes.
//!
//! A pipework client tells the server what access it wants through its socket's abstract
//! address, and checks at its open what the server would refuse (the access against the
//! pipe's direction, its user against who the pipe admits, from the pipe's description and the
//! listener's credentials); the server checks again when it connects the client. The client's
//! first byte carries the handle of its disconnect notice (an eventfd), which the server signals
//! in `disconnect`: that is how the client tells a disconnect (`NotConnected`) from a server
//! that closed or died (the end of data, `BrokenPipe`). A foreign client (socat, Python) binds
//! no address and sends no notice: a byte pipe carries exactly the bytes written, both ways.
//!
//! Message pipes frame each message with a 4-byte length; readers never allocate from a length
//! a peer sent. A peer that dies in the middle of a message gives `BrokenPipe`, never a
//! truncated message. The buffer sizes asked ([`ServerOptions::in_buffer_size`],
//! [`ServerOptions::out_buffer_size`]) are the sending sockets' buffers: in nonblocking mode a
//! byte write takes what fits and a message write all or nothing, as Win32's quotas do.
//! Between two pipework ends they also size each direction's shared-memory ring (the client,
//! which makes the rings, takes the pipe's sizes): rounded up to a power of two, at least
//! 4 KiB and at most 1 GiB; a direction with no size set gets 1 MiB. A smaller ring holds less
//! in flight and keeps a writer's copies in its core's cache (a reader in place, which never
//! touches the bytes, moves them fastest through a ring of a few hundred KiB); a larger one
//! lets a slow reader fall further behind before the writer waits.
//!
//! Where this differs from Win32 (what Linux cannot do, and why):
//!
//! * data the server wrote before `disconnect` and the client has not read yet is still
//!   delivered to the client, then its reads fail with `NotConnected` (Win32 discards it and
//!   fails at once). Those bytes sit in the client's own socket, which the server cannot take
//!   back from; the client would have to look at its notice before every read, a system call
//!   on each, to refuse them. Flushing before `disconnect`, as Win32 advises, leaves none;
//! * a foreign client (not through pipework) is not told of a `disconnect`: it sees its socket
//!   end, as after a close. A plain socket has no word for it, and its data must stay exactly
//!   the bytes written;
//! * buffer sizes are the kernel's socket buffers, which it rounds and clamps to its limits
//!   (`/proc/sys/net/core/wmem_max`) and which count the kernel's own bookkeeping per chunk
//!   sent: a pipe holds about the size asked, not to the byte. `info` reports what was granted;
//! * an instance whose client's open completed but whom the server has not connected yet still
//!   looks listening to [`wait`] (its socket stays bound until `connect` takes the client): a
//!   waiting open retries it, with pauses up to 100 ms, until an instance is free. Win32's
//!   `WaitNamedPipe` reserves nothing either, so callers already handle the busy open after it;
//! * by default only the server's user (and root) may open a pipe, where Win32 lets everyone
//!   read: on Linux every user shares `/tmp` and the global namespace, and a pipe open to all
//!   by default would expose every server to every local user. Other users need
//!   [`ServerOptions::global`] and [`ServerOptions::allow_user`] or
//!   [`ServerOptions::allow_everyone`];
//! * [`std::io::Read::read`] in message-read mode returns `Ok(0)` both for a 0-byte message and
//!   at the end of the pipe (Win32: a 0-byte success, then `ERROR_BROKEN_PIPE`): `Read` has only
//!   `Ok(0)` for the end, and code such as `read_to_end` relies on it. `read_message` tells the
//!   two apart ([`MessageRead::Complete`]`(0)` for the message, [`MessageRead::End`] for the end);
//! * handles travel only to an end that asked for them ([`ServerOptions::accept_handles`],
//!   [`ClientOptions::accept_handles`], `recv_handle`): a peer could otherwise fill the
//!   receiver's descriptor table, which Win32's handle duplication cannot do.
//!
//! Not differences: all instances share the first instance's type, access, limit, default
//! timeout, buffer sizes and who may connect, as in Win32 (a later instance asking otherwise is
//! created, and the first's values stick; only another access mode,
//! [`ServerOptions::first_pipe_instance`] and the instance limit refuse). Instances may live in
//! different processes; a pipe left by a killed server is removed the next time a client or
//! [`list`] comes across it. After `connect` reported a client that came and went, the
//! `disconnect` a Win32 server calls next succeeds (and the next `connect` listens again, with
//! or without it). A client reaches only servers it trusts (below).
//!
//! # Whose server a client reaches
//!
//! A name is looked up in the user's own namespace first, then in the global one, where any
//! user may have created it first. So a client that names no server identity reaches a pipe
//! only when the pipe belongs to **root or to the caller's own user**, and only when the process
//! listening on the instance runs as one of them; anything else is `PermissionDenied`, naming the
//! pipe and its owner, before a byte is exchanged. To reach another user's pipe, a client opts
//! in: [`ClientOptions::server_uid`] names the one user it takes (any other server is refused as
//! soon as the connection is made, from the socket's credentials, before the handshake), and
//! [`ClientOptions::any_server_owner`] takes whoever owns the name.
//!
//! # Handles
//!
//! `send_handle` passes a handle beside one byte of data. A receiving end keeps handles only
//! when it asked for them: `recv_handle` asks for one, and
//! [`ServerOptions::accept_handles`] / [`ClientOptions::accept_handles`] let an end keep up to
//! `n` that arrive during ordinary reads, until `recv_handle` takes them. Handles beyond that are
//! never installed in the receiving process (so a peer cannot fill its descriptor table); the
//! bytes they rode on are delivered as usual.

#[cfg(feature = "tokio")]
mod async_io;
mod client;
mod conn;
pub(crate) mod framing;
mod handshake;
pub(crate) mod registry;
mod ring;
mod server;
mod state;
// Remote clients through Samba (named-pipe auth).
mod smb;

#[cfg(feature = "tokio")]
pub use async_io::{wait_async, AsyncNamedPipeClient, AsyncNamedPipeServer};
pub use client::{call, call_into, ClientOptions, NamedPipeClient, OPEN_TIMEOUT};
pub use server::{Connected, NamedPipeServer, ServerOptions};
#[cfg(feature = "tokio")]
pub use smb::client::RemotePipeStream;
pub use smb::client::{RemoteSession, SMB_PORT};
pub use smb::{RemoteClient, Sid, SAMBA_SOCKET_DIR};

use std::io::{self, ErrorKind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::name::{Namespace, PipeName};

/// The direction data flows, seen from the server (`PIPE_ACCESS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Clients write, the server reads (`PIPE_ACCESS_INBOUND`).
    Inbound,
    /// The server writes, clients read (`PIPE_ACCESS_OUTBOUND`).
    Outbound,
    /// Both ways (`PIPE_ACCESS_DUPLEX`).
    Duplex,
}

impl Access {
    fn server_reads(self) -> bool {
        self != Access::Outbound
    }

    fn server_writes(self) -> bool {
        self != Access::Inbound
    }
}

/// Whether a pipe carries a stream of bytes or separate messages (`PIPE_TYPE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeMode {
    /// A byte stream.
    Byte,
    /// Messages that keep their boundaries.
    Message,
}

/// How a handle reads a message pipe (`PIPE_READMODE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Reads run across message boundaries.
    Byte,
    /// Each read returns (part of) one message.
    Message,
}

/// What a message read got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageRead {
    /// A whole message (or its last part) of this many bytes.
    Complete(usize),
    /// The buffer was too small (`ERROR_MORE_DATA`): `read` bytes were read and `left` more of
    /// this message wait for the next reads.
    MoreData {
        /// Bytes placed in the buffer.
        read: usize,
        /// Bytes of the message still to be read.
        left: u64,
    },
    /// The peer closed the pipe; no message follows.
    End,
}

/// What `peek` saw (`PeekNamedPipe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeekInfo {
    /// Bytes copied into the buffer (in message mode, from the next message only).
    pub read: usize,
    /// Bytes available to read now, all messages together (`lpTotalBytesAvail`).
    pub available: u64,
    /// Bytes of the next message beyond those copied (`lpBytesLeftThisMessage`; 0 on byte pipes).
    pub left_in_message: u64,
}

/// A pipe's description, as `info` reports it on either end (`GetNamedPipeInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipeInfo {
    /// Whether this is the server's end (`PIPE_SERVER_END`).
    pub server_end: bool,
    /// Byte or message pipe.
    pub pipe_mode: PipeMode,
    /// Bytes of data the pipe holds on their way to the client (`lpOutBufferSize`), as the
    /// kernel granted them.
    pub out_buffer: usize,
    /// Bytes of data the pipe holds on their way to the server (`lpInBufferSize`), as granted.
    pub in_buffer: usize,
    /// The instance limit (`None`: unlimited).
    pub max_instances: Option<u32>,
}

/// The process at the other end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Its process id.
    pub pid: u32,
    /// Its user.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
}

/// How long [`wait`] waits (`WaitNamedPipe`'s `nTimeOut`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitTimeout {
    /// The pipe's default timeout, set by its server (`NMPWAIT_USE_DEFAULT_WAIT`; 50 ms if zero).
    Default,
    /// No limit (`NMPWAIT_WAIT_FOREVER`).
    Forever,
    /// At most this long.
    After(Duration),
}

/// Whether `err` says every instance of a pipe was busy (`ERROR_PIPE_BUSY`): its kind is
/// [`ErrorKind::ResourceBusy`].
pub fn is_busy(err: &io::Error) -> bool {
    err.kind() == ErrorKind::ResourceBusy
}

/// Whether `err` says the pipe end has no peer any more because the server disconnected it, or
/// never had one (`ERROR_PIPE_NOT_CONNECTED`): its kind is [`ErrorKind::NotConnected`].
pub fn is_not_connected(err: &io::Error) -> bool {
    err.kind() == ErrorKind::NotConnected
}

fn busy_error(name: &impl std::fmt::Display, max: Option<u32>) -> io::Error {
    let text = match max {
        Some(1) => format!("named pipe {name}: its instance is busy"),
        Some(n) => format!("named pipe {name}: all {n} instances are busy"),
        None => format!("named pipe {name}: every instance is busy"),
    };
    io::Error::new(ErrorKind::ResourceBusy, text)
}

/// Waits until an instance of `name` is listening (`WaitNamedPipe`). This reserves nothing:
/// an open right after can still find the pipe busy.
///
/// Fails at once with `NotFound` when no such pipe exists (or when it disappears while waiting),
/// and with `TimedOut` when the time runs out.
pub fn wait(name: &str, timeout: WaitTimeout) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags};

    let parsed = PipeName::parse(name)?;
    if parsed.server().is_some() {
        // A pipe on another machine: FSCTL_PIPE_WAIT over SMB (smb/client).
        return smb::client::wait(&parsed, timeout);
    }
    let mut waiter = Waiter::new(name, timeout)?;
    loop {
        let Some(step) = waiter.check()? else {
            return Ok(());
        };
        let ts = crate::sys::time::timespec(step);
        let mut fds = [PollFd::new(&waiter.watch, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// `WaitNamedPipe` as a state machine both front-ends drive: it watches the pipe's directory
/// (inotify) for a listening socket to appear, and says how long to wait for the next event.
pub(crate) struct Waiter {
    parsed: PipeName,
    found: registry::Found,
    deadline: Option<Instant>,
    /// Readable when the pipe's directory changed.
    pub(crate) watch: std::os::fd::OwnedFd,
}

impl Waiter {
    pub(crate) fn new(name: &str, timeout: WaitTimeout) -> io::Result<Waiter> {
        use rustix::fs::inotify;

        let parsed = PipeName::parse(name)?;
        let found = registry::find(&parsed)?;
        let limit = match timeout {
            WaitTimeout::Default if found.info.default_timeout.is_zero() => {
                Some(Duration::from_millis(50))
            }
            WaitTimeout::Default => Some(found.info.default_timeout),
            WaitTimeout::Forever => None,
            WaitTimeout::After(d) => Some(d),
        };
        let watch = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        inotify::add_watch(
            &watch,
            &found.dir,
            inotify::WatchFlags::CREATE
                | inotify::WatchFlags::MOVED_TO
                | inotify::WatchFlags::DELETE_SELF,
        )?;
        Ok(Waiter {
            parsed,
            found,
            deadline: limit.and_then(crate::sys::time::deadline),
            watch,
        })
    }

    /// `None` once an instance listens; else how long to wait for the watch before checking
    /// again. `NotFound` when the pipe is gone, `TimedOut` when the time ran out.
    pub(crate) fn check(&mut self) -> io::Result<Option<Duration>> {
        let mut drain = [0u8; 4096];
        while let Ok(n) = rustix::io::read(&self.watch, &mut drain) {
            if n == 0 {
                break;
            }
        }
        let gone = || {
            io::Error::new(
                ErrorKind::NotFound,
                format!("named pipe {} does not exist", self.parsed),
            )
        };
        if !self.found.live.alive()? {
            return Err(gone());
        }
        match registry::listening_slots(&self.found.dir) {
            Ok(slots) if !slots.is_empty() => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(gone()),
            Err(e) => return Err(e),
        }
        // A killed server sends no event: look again at least every 100 ms.
        let mut step = Duration::from_millis(100);
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    format!(
                        "named pipe {}: no instance became free in time",
                        self.parsed
                    ),
                ));
            }
            step = step.min(left);
        }
        Ok(Some(step))
    }
}

/// The socket of an instance of `name` that is listening now, for a foreign client (`socat`,
/// Python's `socket`) to connect to; on a byte pipe it carries exactly the bytes written.
/// `ResourceBusy` when no instance listens.
pub fn socket_path(name: &str) -> io::Result<PathBuf> {
    let parsed = PipeName::parse(name)?;
    let found = registry::find(&parsed)?;
    match registry::listening_slots(&found.dir)?.first() {
        Some(&slot) => Ok(crate::name::place::pipe_file(
            &found.dir,
            crate::name::place::PipeFile::Socket(slot),
        )),
        None => Err(busy_error(&parsed, found.info.max_instances)),
    }
}

/// A pipe that exists now, as [`list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeEntry {
    /// Its name, as its first instance gave it.
    pub name: String,
    /// Where it lives.
    pub namespace: Namespace,
    /// Byte or message pipe.
    pub pipe_mode: PipeMode,
    /// Its direction.
    pub access: Access,
    /// Instances that exist now.
    pub instances: u64,
    /// Of those, how many wait for a client.
    pub listening: usize,
    /// The maximum (`None`: unlimited).
    pub max_instances: Option<u32>,
}

/// The pipes that exist now and that this user can see: its own, and the global ones.
pub fn list() -> io::Result<Vec<PipeEntry>> {
    let mut out = Vec::new();
    for namespace in [Namespace::Local, Namespace::Global] {
        for (info, instances, listening) in registry::list_namespace(namespace)? {
            out.push(PipeEntry {
                name: info.name,
                namespace,
                pipe_mode: info.pipe_mode,
                access: info.access,
                instances,
                listening,
                max_instances: info.max_instances,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
