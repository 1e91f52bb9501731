//! The client side: [`ClientOptions`] (`CreateFile` on a pipe name) and [`NamedPipeClient`].

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Instant;

use rustix::io::Errno;
use rustix::net::{
    bind, connect, socket_with, sockopt, AddressFamily, SocketAddrUnix, SocketFlags, SocketType,
};

use super::conn::{recv_into, Conn};
use super::handshake::{self, Status, REPLY_LEN};
use super::registry;
use super::{busy_error, Credentials, MessageRead, PeekInfo, PipeType, ReadMode, WaitTimeout};
use crate::name::PipeName;

/// How to open a pipe by name (`CreateFile`'s access and `WaitNamedPipe` around it).
///
/// ```no_run
/// use pipework::named_pipe::{ClientOptions, WaitTimeout};
///
/// let client = ClientOptions::new()
///     .write(false) // read only
///     .wait(WaitTimeout::Forever) // wait while every instance is busy
///     .server_uid(0) // only a server running as root will do
///     .open(r"\\.\pipe\status")?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientOptions {
    read: bool,
    write: bool,
    wait: Option<WaitTimeout>,
    server_uid: Option<u32>,
    nonblocking: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            read: true,
            write: true,
            wait: None,
            server_uid: None,
            nonblocking: false,
        }
    }
}

impl ClientOptions {
    /// Read and write access, no waiting, any server, blocking.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read access (`GENERIC_READ`): the server must write (outbound or duplex pipe).
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Write access (`GENERIC_WRITE`): the server must read (inbound or duplex pipe).
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// While every instance is busy, wait (`WaitNamedPipe`) up to `timeout` for one, and retry.
    pub fn wait(&mut self, timeout: WaitTimeout) -> &mut Self {
        self.wait = Some(timeout);
        self
    }

    /// Accept only a server that runs as user `uid`; another is `PermissionDenied`. In the
    /// global namespace this guards against a pipe created by someone else under the name.
    pub fn server_uid(&mut self, uid: u32) -> &mut Self {
        self.server_uid = Some(uid);
        self
    }

    /// Opens the client end in nonblocking mode (`PIPE_NOWAIT`).
    pub fn nonblocking(&mut self, nonblocking: bool) -> &mut Self {
        self.nonblocking = nonblocking;
        self
    }

    /// Opens the pipe `name`.
    ///
    /// Errors: `NotFound` when no such pipe exists; `ResourceBusy` when every instance is busy
    /// (`ERROR_PIPE_BUSY`; see [`super::is_busy`]); `PermissionDenied` when the access asked for
    /// does not fit the pipe's direction, when the server does not admit this user, or when the
    /// server is not the user named by [`server_uid`](Self::server_uid); `TimedOut` when a
    /// [`wait`](Self::wait) ran out.
    ///
    /// The open completes once the server has admitted the client in
    /// [`NamedPipeServer::connect`](super::NamedPipeServer::connect).
    pub fn open(&self, name: &str) -> io::Result<NamedPipeClient> {
        let parsed = PipeName::parse(name)?;
        let started = Instant::now();
        loop {
            match self.try_open(&parsed) {
                Err(e) if super::is_busy(&e) && self.wait.is_some() => {
                    let timeout = match self.wait.expect("wait") {
                        WaitTimeout::After(d) => {
                            let left = d.saturating_sub(started.elapsed());
                            if left.is_zero() {
                                return Err(e);
                            }
                            WaitTimeout::After(left)
                        }
                        other => other,
                    };
                    super::wait(name, timeout)?;
                }
                other => return other,
            }
        }
    }

    /// The wait asked for with [`wait`](Self::wait).
    #[cfg(feature = "tokio")]
    pub(crate) fn wait_timeout(&self) -> Option<WaitTimeout> {
        self.wait
    }

    fn try_open(&self, name: &PipeName) -> io::Result<NamedPipeClient> {
        let mut opening = Opening::new(self.clone(), name, false)?;
        loop {
            let Some(fd) = opening.next_socket()? else {
                return Err(opening.exhausted());
            };
            let reply = read_reply(&fd)?;
            if let Some(client) = opening.finish(fd, reply)? {
                return Ok(client);
            }
        }
    }
}

/// Reads the server's handshake reply, blocking; `None` when the connection ended first.
fn read_reply(fd: &OwnedFd) -> io::Result<Option<[u8; REPLY_LEN]>> {
    let mut reply = [0u8; REPLY_LEN];
    let mut got = 0;
    let mut none = Vec::new();
    while got < REPLY_LEN {
        match recv_into(fd.as_fd(), &mut reply[got..], &mut none)? {
            0 => return Ok(None),
            n => got += n,
        }
    }
    Ok(Some(reply))
}

/// Opening a pipe by name, as a state machine both front-ends drive: it hands out connected
/// sockets to try, one instance after the other, and turns a server's reply into a client.
pub(crate) struct Opening {
    options: ClientOptions,
    what: String,
    found: registry::Found,
    slots: Vec<u64>,
    next: usize,
    denied: bool,
    nonblocking_sockets: bool,
}

impl Opening {
    /// Finds the pipe and checks the access asked for. `nonblocking_sockets`: leave the sockets
    /// handed out nonblocking (for an async front-end).
    pub(crate) fn new(
        options: ClientOptions,
        name: &PipeName,
        nonblocking_sockets: bool,
    ) -> io::Result<Opening> {
        let found = registry::find(name)?;
        let what = name.to_string();
        if !handshake::access_fits(found.info.access, options.read, options.write) {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "named pipe {what} is {:?}: it cannot be opened for {}",
                    found.info.access,
                    match (options.read, options.write) {
                        (true, true) => "reading and writing",
                        (true, false) => "reading",
                        _ => "writing",
                    }
                ),
            ));
        }
        let slots = registry::listening_slots(&found.dir)?;
        Ok(Opening {
            options,
            what,
            found,
            slots,
            next: 0,
            denied: false,
            nonblocking_sockets,
        })
    }

    /// A socket connected to the next instance that had room, or `None` when none is left.
    pub(crate) fn next_socket(&mut self) -> io::Result<Option<OwnedFd>> {
        while let Some(&slot) = self.slots.get(self.next) {
            self.next += 1;
            let path = registry::socket_path(&self.found.dir, slot);
            if let Some(fd) = self.attempt(&path)? {
                return Ok(Some(fd));
            }
        }
        Ok(None)
    }

    /// The error once every instance was tried: denied, or busy.
    pub(crate) fn exhausted(&self) -> io::Error {
        if self.denied {
            io::Error::new(
                ErrorKind::PermissionDenied,
                format!("named pipe {}: access denied to this user", self.what),
            )
        } else {
            busy_error(&self.what, self.found.info.max_instances)
        }
    }

    /// The client, once the server's `reply` on `fd` came; `None` when the connection ended
    /// before a reply (the instance went, or admitted another client first): try the next.
    pub(crate) fn finish(
        &self,
        fd: OwnedFd,
        reply: Option<[u8; REPLY_LEN]>,
    ) -> io::Result<Option<NamedPipeClient>> {
        let Some(reply) = reply else { return Ok(None) };
        let what = &self.what;
        let (status, pipe_type) = handshake::parse_reply(&reply, what)?;
        match status {
            Status::Accepted => {}
            Status::Denied => {
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!("named pipe {what}: the server does not admit this user"),
                ))
            }
            Status::AccessDenied => {
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!("named pipe {what}: the access asked for does not fit the pipe"),
                ))
            }
        }
        let creds = sockopt::socket_peercred(&fd)?;
        let server = Credentials {
            pid: creds.pid.as_raw_nonzero().get() as u32,
            uid: creds.uid.as_raw(),
            gid: creds.gid.as_raw(),
        };
        if let Some(uid) = self.options.server_uid {
            if server.uid != uid {
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "named pipe {what}: the server runs as uid {}, not the expected {uid}",
                        server.uid
                    ),
                ));
            }
        }
        let mut conn = Conn::new(fd, pipe_type, what.clone());
        conn.can_read = self.options.read;
        conn.can_write = self.options.write;
        conn.nonblocking = self.nonblocking_sockets;
        if self.options.nonblocking {
            conn.set_nonblocking(true)?;
        }
        Ok(Some(NamedPipeClient { conn, server }))
    }

    /// Connects to one instance's socket; `None` when it is gone or already has a client waiting.
    fn attempt(&mut self, path: &std::path::Path) -> io::Result<Option<OwnedFd>> {
        let fd = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        let mut tries = 0;
        loop {
            let me = SocketAddrUnix::new_abstract_name(&handshake::client_address(
                self.options.read,
                self.options.write,
            ))?;
            match bind(&fd, &me) {
                Ok(()) => break,
                Err(Errno::ADDRINUSE) if tries < 8 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
        let addr = SocketAddrUnix::new(path)?;
        match crate::sys::retry(|| connect(&fd, &addr)) {
            Ok(()) => {}
            Err(Errno::AGAIN) | Err(Errno::CONNREFUSED) | Err(Errno::NOENT) => return Ok(None),
            Err(Errno::ACCESS) | Err(Errno::PERM) => {
                self.denied = true;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        if !self.nonblocking_sockets {
            rustix::io::ioctl_fionbio(&fd, false)?;
        }
        Ok(Some(fd))
    }
}

/// The client end of a named pipe (the handle `CreateFile` returns for a pipe name).
///
/// It starts in byte-read mode and blocking, as in Win32; on a message pipe,
/// [`set_read_mode`](Self::set_read_mode) switches to message-read mode.
pub struct NamedPipeClient {
    conn: Conn,
    server: Credentials,
}

impl NamedPipeClient {
    /// Opens `name` for reading and writing, without waiting: see [`ClientOptions::open`].
    pub fn open(name: &str) -> io::Result<NamedPipeClient> {
        ClientOptions::new().open(name)
    }

    /// The server's process id, user and group (`GetNamedPipeServerProcessId`).
    pub fn server(&self) -> Credentials {
        self.server
    }

    /// The pipe's type, as the server told it.
    pub fn pipe_type(&self) -> PipeType {
        self.conn.pipe_type
    }

    /// Sets the read mode (`SetNamedPipeHandleState(PIPE_READMODE_*)`); message-read mode on a
    /// byte pipe is `InvalidInput`.
    pub fn set_read_mode(&mut self, mode: ReadMode) -> io::Result<()> {
        self.conn.set_read_mode(mode)
    }

    /// Nonblocking mode (`PIPE_NOWAIT`): reads with nothing to read return `WouldBlock`.
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.conn.set_nonblocking(nonblocking)
    }

    /// Reads one message (`ReadFile` in message-read mode, whatever the handle's read mode).
    pub fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        self.conn.read_message(buf)
    }

    /// Reads one whole message into `out` (appending), however long.
    pub fn read_message_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<MessageRead> {
        self.conn.read_message_to_end(out)
    }

    /// Writes one message (on a byte pipe: the bytes).
    pub fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        self.conn.write_message(message)
    }

    /// Looks at what can be read without consuming it (`PeekNamedPipe`).
    pub fn peek(&mut self, buf: &mut [u8]) -> io::Result<PeekInfo> {
        self.conn.peek(buf)
    }

    /// Writes `request` as one message and reads one reply message into `reply`
    /// (`TransactNamedPipe`). Needs message-read mode; fails with `ResourceBusy` if unread data
    /// is waiting.
    pub fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<MessageRead> {
        self.conn.transact(request, reply)
    }

    /// Sends a handle to the server.
    pub fn send_handle(&mut self, handle: impl AsFd) -> io::Result<()> {
        self.conn.send_handle(handle.as_fd())
    }

    /// Receives a handle the server sent with
    /// [`NamedPipeServer::send_handle`](super::NamedPipeServer::send_handle).
    pub fn recv_handle(&mut self) -> io::Result<OwnedFd> {
        self.conn.recv_handle()
    }
}

impl Read for NamedPipeClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.conn.read(buf)
    }
}

impl Write for NamedPipeClient {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn.write(buf)
    }

    /// Waits until the server has read everything written.
    fn flush(&mut self) -> io::Result<()> {
        self.conn.flush_to_peer()
    }
}

impl AsFd for NamedPipeClient {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.fd.as_fd()
    }
}

impl AsRawFd for NamedPipeClient {
    fn as_raw_fd(&self) -> RawFd {
        self.conn.fd.as_raw_fd()
    }
}

impl std::fmt::Debug for NamedPipeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedPipeClient")
            .field("name", &self.conn.what)
            .field("server", &self.server)
            .finish()
    }
}

/// `CallNamedPipe`: opens `name` (waiting once, up to `timeout`, if every instance is busy),
/// sends `request` as one message, reads one whole reply message, and closes.
pub fn call(name: &str, request: &[u8], timeout: WaitTimeout) -> io::Result<Vec<u8>> {
    let mut client = match NamedPipeClient::open(name) {
        Err(e) if super::is_busy(&e) => {
            super::wait(name, timeout)?;
            NamedPipeClient::open(name)?
        }
        other => other?,
    };
    client.set_read_mode(ReadMode::Message)?;
    client.write_message(request)?;
    let mut reply = Vec::new();
    match client.read_message_to_end(&mut reply)? {
        MessageRead::End => Err(io::Error::new(
            ErrorKind::BrokenPipe,
            format!(
                "named pipe {}: the server closed without replying",
                client.conn.what
            ),
        )),
        _ => Ok(reply),
    }
}
