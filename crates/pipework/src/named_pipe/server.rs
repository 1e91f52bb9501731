//! The server side: [`ServerOptions`] (`CreateNamedPipe`) and [`NamedPipeServer`], one instance.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{
    acceptfrom_with, bind, listen, socket_with, sockopt, AddressFamily, RecvFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

use super::conn::Conn;
use super::handshake::{self, Status};
use super::registry::{self, Info};
use super::ring::Rings;
use super::{Access, Credentials, MessageRead, PeekInfo, PipeMode, ReadMode};
use crate::name::lease::{self, still_linked, Lease};
use crate::name::place::{self, PipeFile};
use crate::name::{Namespace, PipeName};
use crate::sys::Lock;

/// Who may connect to a pipe, besides its owner (the server's user) and root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Allow {
    #[default]
    Owner,
    Users(Vec<u32>),
    Everyone,
}

/// How to create a named-pipe instance (`CreateNamedPipe`'s parameters).
///
/// ```
/// use std::io::{Read, Write};
/// use pipework::named_pipe::{NamedPipeClient, PipeMode, ServerOptions};
///
/// let name = format!(r"\\.\pipe\doc-options-{}", std::process::id());
/// let mut server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
/// let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
///     let mut client = NamedPipeClient::open(&name)?;
///     client.write_all(b"hi")?;
///     let mut reply = Vec::new();
///     client.read_message_to_end(&mut reply)?;
///     Ok(reply)
/// });
/// server.connect()?;
/// let mut buf = [0u8; 16];
/// let n = server.read(&mut buf)?;
/// server.write_all(&buf[..n])?;
/// assert_eq!(client.join().unwrap()?, b"hi");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServerOptions {
    inbound: bool,
    outbound: bool,
    reject_remote_clients: bool,
    pipe_mode: PipeMode,
    read_mode: Option<ReadMode>,
    max_instances: Option<usize>,
    in_buffer: Option<u32>,
    out_buffer: Option<u32>,
    default_timeout: Duration,
    first_pipe_instance: bool,
    allow: Allow,
    namespace: Namespace,
    nonblocking: bool,
    accept_handles: usize,
    shared_memory: super::ring::SharedMemory,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            inbound: true,
            outbound: true,
            reject_remote_clients: true,
            pipe_mode: PipeMode::Byte,
            read_mode: None,
            max_instances: None,
            in_buffer: None,
            out_buffer: None,
            default_timeout: Duration::ZERO,
            first_pipe_instance: false,
            allow: Allow::Owner,
            namespace: Namespace::Local,
            nonblocking: false,
            accept_handles: 0,
            shared_memory: super::ring::SharedMemory::default(),
        }
    }
}

impl ServerOptions {
    /// Duplex byte pipe, unlimited instances, the owner (and root) may connect, the user's own
    /// namespace, blocking.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether data flows from clients to the server (`PIPE_ACCESS_INBOUND`; default `true`).
    /// With [`access_outbound`](Self::access_outbound) both make `PIPE_ACCESS_DUPLEX`; turning
    /// both off makes `create` fail with `InvalidInput`.
    pub fn access_inbound(&mut self, allowed: bool) -> &mut Self {
        self.inbound = allowed;
        self
    }

    /// Whether data flows from the server to clients (`PIPE_ACCESS_OUTBOUND`; default `true`).
    pub fn access_outbound(&mut self, allowed: bool) -> &mut Self {
        self.outbound = allowed;
        self
    }

    /// Refuse clients on other machines (`PIPE_REJECT_REMOTE_CLIENTS`; default `true`). A pipe
    /// is never reachable from another machine on Linux, so either value gives a local pipe.
    pub fn reject_remote_clients(&mut self, reject: bool) -> &mut Self {
        self.reject_remote_clients = reject;
        self
    }

    /// Byte or message pipe (`PIPE_TYPE_BYTE` / `PIPE_TYPE_MESSAGE`). The server end starts in
    /// the same read mode unless [`read_mode`](Self::read_mode) says otherwise.
    pub fn pipe_mode(&mut self, pipe_mode: PipeMode) -> &mut Self {
        self.pipe_mode = pipe_mode;
        self
    }

    /// The server end's read mode (`PIPE_READMODE_*`); message-read mode on a byte pipe makes
    /// `create` fail with `InvalidInput`.
    pub fn read_mode(&mut self, mode: ReadMode) -> &mut Self {
        self.read_mode = Some(mode);
        self
    }

    /// At most `n` instances (1 to 255); `create` fails with `InvalidInput` for others. Without
    /// this call the number is unlimited (`PIPE_UNLIMITED_INSTANCES`).
    pub fn max_instances(&mut self, n: usize) -> &mut Self {
        self.max_instances = Some(n);
        self
    }

    /// No limit on instances (the default).
    pub fn unlimited_instances(&mut self) -> &mut Self {
        self.max_instances = None;
        self
    }

    /// Receive buffer to ask of the kernel (`nInBufferSize`; advisory).
    pub fn in_buffer_size(&mut self, bytes: u32) -> &mut Self {
        self.in_buffer = Some(bytes);
        self
    }

    /// Send buffer to ask of the kernel (`nOutBufferSize`; advisory).
    pub fn out_buffer_size(&mut self, bytes: u32) -> &mut Self {
        self.out_buffer = Some(bytes);
        self
    }

    /// What [`super::wait`] with [`super::WaitTimeout::Default`] waits (`nDefaultTimeOut`; zero
    /// means 50 ms).
    pub fn default_timeout(&mut self, timeout: Duration) -> &mut Self {
        // Kept in whole milliseconds on disk: larger is no limit all the same.
        self.default_timeout = timeout.min(Duration::from_millis(u64::MAX));
        self
    }

    /// Keep up to `n` handles a client sends beside data until
    /// [`NamedPipeServer::recv_handle`] takes them (default 0); more are never installed in this
    /// process, and the data still arrives. `recv_handle` always accepts the one it asks for.
    pub fn accept_handles(&mut self, n: usize) -> &mut Self {
        self.accept_handles = n;
        self
    }

    /// Whether a pipework client on this machine that asks for it gets its data through
    /// shared-memory rings instead of the socket (the socket stays open beside them, the
    /// peer's liveness signal). Foreign clients always keep the socket. Off by default; turn
    /// it off for an instance whose handle is given to another process or polled for
    /// readiness: on the ring path the socket carries no data.
    pub fn shared_memory(&mut self, on: bool) -> &mut Self {
        self.shared_memory.on = on;
        self
    }

    /// How long this side spins for its peer on the ring path before it sleeps (default 50 µs;
    /// `Duration::ZERO`: never spins).
    pub fn shared_memory_spin(&mut self, spin: Duration) -> &mut Self {
        self.shared_memory.spin = spin;
        self
    }

    /// Fail with `PermissionDenied` if the pipe exists already (`FILE_FLAG_FIRST_PIPE_INSTANCE`).
    pub fn first_pipe_instance(&mut self, first: bool) -> &mut Self {
        self.first_pipe_instance = first;
        self
    }

    /// Admits the user `uid` too. The owner and root are always admitted.
    pub fn allow_user(&mut self, uid: u32) -> &mut Self {
        match &mut self.allow {
            Allow::Users(users) => users.push(uid),
            Allow::Owner => self.allow = Allow::Users(vec![uid]),
            Allow::Everyone => {}
        }
        self
    }

    /// Admits every user.
    pub fn allow_everyone(&mut self) -> &mut Self {
        self.allow = Allow::Everyone;
        self
    }

    /// Creates the pipe in the global namespace, where other users can find it (they still need
    /// [`allow_user`](Self::allow_user) or [`allow_everyone`](Self::allow_everyone) to connect).
    /// By default a pipe lives in its user's own namespace, out of other users' reach.
    pub fn global(&mut self, global: bool) -> &mut Self {
        self.namespace = if global {
            Namespace::Global
        } else {
            Namespace::Local
        };
        self
    }

    /// Nonblocking mode (`PIPE_NOWAIT`): `connect` and reads return `WouldBlock` instead of waiting.
    pub fn nonblocking(&mut self, nonblocking: bool) -> &mut Self {
        self.nonblocking = nonblocking;
        self
    }

    /// Creates one instance of the pipe `name` (`CreateNamedPipe`); the pipe is created with its
    /// first instance. The instance is connectable at once; [`NamedPipeServer::connect`] admits
    /// a client.
    ///
    /// Errors: `InvalidInput` for a bad name or parameter; `ResourceBusy` when the pipe already
    /// has its maximum number of instances; `PermissionDenied` when
    /// [`first_pipe_instance`](Self::first_pipe_instance) was asked and the pipe exists, when the
    /// existing pipe has another access mode, or when the name belongs to another user. Another
    /// type, instance limit, buffer sizes or default timeout than the existing pipe's is accepted
    /// (as in Win32): the first instance's values stick, and [`NamedPipeServer::pipe_mode`] tells
    /// the type in force.
    pub fn create(&self, name: &str) -> io::Result<NamedPipeServer> {
        let name = PipeName::parse(name)?;
        name.require_local()?;
        let access = match (self.inbound, self.outbound) {
            (true, true) => Access::Duplex,
            (true, false) => Access::Inbound,
            (false, true) => Access::Outbound,
            (false, false) => {
                return Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    format!("named pipe {name}: neither inbound nor outbound access was asked"),
                ))
            }
        };
        let _ = self.reject_remote_clients; // every pipe is local on Linux
        let max_instances = self
            .max_instances
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        if let Some(n) = max_instances {
            if !(1..=255).contains(&n) {
                return Err(io::Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "named pipe {name}: max instances must be 1 to 255 (or unlimited), not {n}"
                    ),
                ));
            }
        }
        let read_mode = self.read_mode.unwrap_or(match self.pipe_mode {
            PipeMode::Byte => ReadMode::Byte,
            PipeMode::Message => ReadMode::Message,
        });
        if read_mode == ReadMode::Message && self.pipe_mode == PipeMode::Byte {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("named pipe {name}: message-read mode needs a message pipe"),
            ));
        }
        let dir = place::pipe_dir(self.namespace, &name)?;
        let named = |e: io::Error| io::Error::new(e.kind(), format!("named pipe {name}: {e}"));
        let (lock, info, first) = loop {
            if let Some(found) = self
                .join_or_found(&name, &dir, access, max_instances)
                .map_err(named)?
            {
                break found;
            }
        };
        if !first {
            if self.first_pipe_instance {
                registry::let_go(lock);
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!("named pipe {name} exists already (first instance only was asked)"),
                ));
            }
            // As Win32: only the access mode must match; another type, instance limit, buffer
            // sizes or default timeout is accepted, and the first instance's values stick.
            if info.access != access {
                registry::let_go(lock);
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "named pipe {name} exists with another access mode ({:?})",
                        info.access
                    ),
                ));
            }
        }
        // The pipe's type is the first instance's: the read mode follows it unless one was
        // asked, and message-read mode on what is a byte pipe falls back to byte-read mode.
        let read_mode = match (self.read_mode, info.pipe_mode) {
            (_, PipeMode::Byte) => ReadMode::Byte,
            (Some(mode), PipeMode::Message) => mode,
            (None, PipeMode::Message) => ReadMode::Message,
        };
        let slot = match registry::take_slot(&lock, info.slots()) {
            Ok(slot) => slot,
            Err(e) => {
                registry::let_go(lock);
                return Err(named(e));
            }
        };
        let Some(slot) = slot else {
            registry::let_go(lock);
            return Err(io::Error::new(
                ErrorKind::ResourceBusy,
                format!(
                    "named pipe {name}: all {} instances exist already",
                    info.slots()
                ),
            ));
        };
        let lease = Lease::pipe(name.to_string(), dir.clone(), lock, slot);
        let mut server = NamedPipeServer {
            what: name.to_string(),
            name,
            dir,
            lease: Some(lease),
            slot,
            listener: None,
            conn: None,
            peer: None,
            info,
            allow: self.allow.clone(),
            read_mode,
            buffers: (self.in_buffer, self.out_buffer),
            nonblocking: self.nonblocking,
            accept_handles: self.accept_handles,
            first,
            shared_memory: self.shared_memory,
        };
        server.listen()?;
        Ok(server)
    }

    /// One attempt to create or join the pipe's directory; `None` when it changed under us.
    fn join_or_found(
        &self,
        name: &PipeName,
        dir: &Path,
        access: Access,
        max_instances: Option<u32>,
    ) -> io::Result<Option<(File, Info, bool)>> {
        let dir_mode = if self.allow == Allow::Owner {
            0o700
        } else {
            0o755
        };
        let made = match fs::DirBuilder::new().mode(dir_mode).create(dir) {
            Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(dir_mode)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(e) => return Err(e),
        };
        // NotFound: the last instance of a pipe that was here removed the directory meanwhile.
        let meta = match made.and_then(|()| fs::symlink_metadata(dir)) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let me = rustix::process::geteuid().as_raw();
        if !meta.is_dir() || meta.uid() != me {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!("the name belongs to uid {}", meta.uid()),
            ));
        }
        let lock = match registry::open_lock(dir, true) {
            Ok(lock) => lock,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None), // removed meanwhile
            Err(e) => return Err(e),
        };
        match self.join_locked(name, dir, dir_mode, access, max_instances, &lock) {
            Ok(Some((info, first))) => Ok(Some((lock, info, first))),
            other => {
                registry::let_go(lock);
                other.map(|_| None)
            }
        }
    }

    /// [`join_or_found`](Self::join_or_found) once the lock file is open: the pipe's info and
    /// whether this is its first instance, or `None` when the pipe changed under us. The
    /// caller lets go of the lock unless this returns the pipe.
    fn join_locked(
        &self,
        name: &PipeName,
        dir: &Path,
        dir_mode: u32,
        access: Access,
        max_instances: Option<u32>,
        lock: &File,
    ) -> io::Result<Option<(Info, bool)>> {
        let lock_path = place::pipe_file(dir, PipeFile::Lock);
        if registry::lock_alive(lock, Lock::Write, false)? {
            if !still_linked(lock, &lock_path)? {
                return Ok(None);
            }
            // No instance is alive: whatever is here was left by a dead server (of this name,
            // or of another whose key this is).
            lease::clear_pipe_leftovers(dir)?;
            // The owner's alone: whoever could open it could lock it and pin the pipe.
            lock.set_permissions(fs::Permissions::from_mode(0o600))?;
            let info = Info {
                pipe_mode: self.pipe_mode,
                access,
                max_instances,
                default_timeout: self.default_timeout,
                name: name.name().to_string(),
            };
            registry::write_info(dir, &info)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(dir_mode))?;
            registry::lock_alive(lock, Lock::Read, true)?; // downgrade: others may join
            Ok(Some((info, true)))
        } else {
            // Live instances hold it shared; a creator or remover holds it only briefly.
            registry::lock_alive(lock, Lock::Read, true)?;
            if !still_linked(lock, &lock_path)? {
                return Ok(None);
            }
            let info = registry::read_info(dir)?;
            if crate::name::fold(&info.name) != name.folded() {
                // Another pipe's directory under this name's key (the key of a long name is a
                // hash): never join it as more instances of this one.
                return Err(io::Error::new(
                    ErrorKind::AlreadyExists,
                    format!(
                        "its place ({}) is held by another pipe, {:?}",
                        dir.display(),
                        info.name
                    ),
                ));
            }
            Ok(Some((info, false)))
        }
    }
}

/// What [`NamedPipeServer::connect`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connected {
    /// A client connected while `connect` waited.
    Connected,
    /// A client was connected already when `connect` was called (`ERROR_PIPE_CONNECTED`, a success).
    AlreadyConnected,
}

/// One instance of a named pipe, server side (the handle `CreateNamedPipe` returns).
///
/// Reads and writes go to the connected client ([`Read`], [`Write`],
/// [`read_message`](Self::read_message), ...); without a client they fail with `NotConnected`.
/// Dropping the last instance removes the name.
pub struct NamedPipeServer {
    name: PipeName,
    what: String,
    dir: PathBuf,
    /// The hold on the pipe's name: this instance's locks on the lock file.
    lease: Option<Lease>,
    slot: u64,
    listener: Option<OwnedFd>,
    conn: Option<Conn>,
    peer: Option<Credentials>,
    info: Info,
    allow: Allow,
    read_mode: ReadMode,
    buffers: (Option<u32>, Option<u32>),
    nonblocking: bool,
    accept_handles: usize,
    first: bool,
    shared_memory: super::ring::SharedMemory,
}

impl NamedPipeServer {
    /// The pipe's name.
    pub fn name(&self) -> &PipeName {
        &self.name
    }

    /// Whether this instance created the pipe (Win32 reports `ERROR_ALREADY_EXISTS` otherwise).
    pub fn created_pipe(&self) -> bool {
        self.first
    }

    /// The pipe's type: the first instance's.
    pub fn pipe_mode(&self) -> PipeMode {
        self.info.pipe_mode
    }

    /// How many instances of this pipe exist now, in all processes (`GetNamedPipeHandleState`'s
    /// `lpCurInstances`).
    pub fn instances(&self) -> io::Result<u64> {
        let lock = self.lock();
        // This instance's own lock is no conflict for its own file description: add it.
        Ok(registry::count_instances(lock, self.info.slots())? + 1)
    }

    /// The pipe's maximum number of instances (`None`: unlimited): the first instance's.
    pub fn max_instances(&self) -> Option<u32> {
        self.info.max_instances
    }

    /// This instance's listening socket, while it waits for a client: a foreign program can
    /// connect to it as to any Unix-domain socket (`pipework pipe path`).
    pub fn socket_path(&self) -> PathBuf {
        place::pipe_file(&self.dir, PipeFile::Socket(self.slot))
    }

    fn lock(&self) -> &File {
        self.lease
            .as_ref()
            .and_then(Lease::pipe_lock)
            .expect("an instance holds its lease until dropped")
    }

    /// Closes this instance (`CloseHandle`), as dropping it does, but returns what went wrong
    /// removing the pipe's name when this was its last instance (a name left behind is
    /// reclaimed by the next server, client or list that meets it).
    pub fn close(mut self) -> io::Result<()> {
        self.conn = None;
        let socket = match self.listener.take() {
            Some(_) => lease::remove_part(&self.socket_path()),
            None => Ok(()),
        };
        let released = match self.lease.take() {
            Some(lease) => lease.release(),
            None => Ok(()),
        };
        socket.and(released)
    }

    fn listen(&mut self) -> io::Result<()> {
        let path = self.socket_path();
        lease::remove_part(&path)?; // a dead instance's, in our own slot
        let fd = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let addr = SocketAddrUnix::new(&path).map_err(|e| {
            io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "named pipe {}: socket path {}: {e}",
                    self.what,
                    path.display()
                ),
            )
        })?;
        bind(&fd, &addr)?;
        let mode = if self.allow == Allow::Owner {
            0o600
        } else {
            0o666
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        // A backlog of 0 lets exactly one client wait: others find the instance busy.
        listen(&fd, 0)?;
        if self.nonblocking {
            rustix::io::ioctl_fionbio(&fd, true)?;
        }
        self.listener = Some(fd);
        Ok(())
    }

    fn admits(&self, uid: u32) -> bool {
        let me = rustix::process::geteuid().as_raw();
        uid == me
            || uid == 0
            || match &self.allow {
                Allow::Owner => false,
                Allow::Users(users) => users.contains(&uid),
                Allow::Everyone => true,
            }
    }

    /// Waits for a client and connects it (`ConnectNamedPipe`).
    ///
    /// Returns [`Connected::AlreadyConnected`] when a client was there already. Fails with
    /// `BrokenPipe` when a foreign client came and went before it was admitted (`ERROR_NO_DATA`;
    /// the instance listens again at the next call; a pipework client that went is connected and
    /// at its end of data), and in nonblocking mode with `WouldBlock` while
    /// no client is there (`ERROR_PIPE_LISTENING`). Clients the server does not admit are turned
    /// away here, and `connect` goes on waiting.
    pub fn connect(&mut self) -> io::Result<Connected> {
        if self.conn.is_some() {
            return Ok(Connected::AlreadyConnected);
        }
        if self.listener.is_none() {
            self.listen()?;
        }
        let waiting = {
            let listener = self.listener.as_ref().expect("listening");
            use rustix::event::{poll, PollFd, PollFlags, Timespec};
            let mut fds = [PollFd::new(listener, PollFlags::IN)];
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            poll(&mut fds, Some(&zero)).unwrap_or(0) > 0
        };
        loop {
            let listener = self.listener.as_ref().expect("listening");
            let (fd, addr) = match acceptfrom_with(listener, SocketFlags::CLOEXEC) {
                Ok(x) => x,
                Err(Errno::INTR) | Err(Errno::CONNABORTED) => continue,
                Err(e) => return Err(e.into()),
            };
            let creds = sockopt::socket_peercred(&fd)?;
            let credentials = Credentials {
                pid: creds.pid.as_raw_nonzero().get() as u32,
                uid: creds.uid.as_raw(),
                gid: creds.gid.as_raw(),
            };
            let abstract_name = addr
                .and_then(|a| SocketAddrUnix::try_from(a).ok())
                .and_then(|a| a.abstract_name().map(<[u8]>::to_vec));
            let request = handshake::parse_client_address(abstract_name.as_deref());
            let pipe_mode = self.info.pipe_mode;
            if !self.admits(credentials.uid) {
                if request.is_some() {
                    let _ = send_reply(&fd, handshake::reply(Status::Denied, pipe_mode));
                }
                continue;
            }
            if let Some((r, w)) = request {
                if !handshake::access_fits(self.info.access, r, w) {
                    let _ = send_reply(&fd, handshake::reply(Status::AccessDenied, pipe_mode));
                    continue;
                }
            }
            // Admitted: this instance stops listening.
            self.listener = None;
            if let Err(e) = lease::remove_part(&self.socket_path()) {
                lease::keep(e);
            }
            let mut rings = None;
            let came_and_went = match request {
                // A pipework client gone before this reply (it may have refused this server's
                // identity) is admitted all the same: it reads as a client that closed at once.
                Some(_) => {
                    let reply = handshake::reply(Status::Accepted, pipe_mode);
                    if self.shared_memory.on && handshake::asks_for_rings(abstract_name.as_deref())
                    {
                        let what = format!("named pipe {}", self.what);
                        match Rings::create(fd.as_fd(), self.shared_memory.spin, &what) {
                            Ok((r, handles)) => {
                                let [a, b] = &handles;
                                // A client gone before the reply reads as one that closed at
                                // once, on the socket.
                                if super::conn::send_all(
                                    fd.as_fd(),
                                    &[&handshake::with_rings(reply)],
                                    &[a.as_fd(), b.as_fd()],
                                )
                                .is_ok()
                                {
                                    rings = Some(r);
                                }
                            }
                            // No rings to be had (no memory for them): the socket serves.
                            Err(_) => {
                                let _ = send_reply(&fd, reply);
                            }
                        }
                    } else {
                        let _ = send_reply(&fd, reply);
                    }
                    false
                }
                None => {
                    let mut probe = [0u8; 1];
                    matches!(
                        rustix::net::recv(&fd, &mut probe, RecvFlags::PEEK | RecvFlags::DONTWAIT),
                        Ok((0, _))
                    )
                }
            };
            if came_and_went {
                return Err(io::Error::new(
                    ErrorKind::BrokenPipe,
                    format!("named pipe {}: the client came and went", self.what),
                ));
            }
            if let Some(n) = self.buffers.0 {
                let _ = sockopt::set_socket_recv_buffer_size(&fd, n as usize);
            }
            if let Some(n) = self.buffers.1 {
                let _ = sockopt::set_socket_send_buffer_size(&fd, n as usize);
            }
            let mut conn = Conn::new(fd, pipe_mode, self.what.clone());
            conn.read_mode = self.read_mode;
            conn.can_read = self.info.access.server_reads();
            conn.can_write = self.info.access.server_writes();
            conn.accept_handles = self.accept_handles;
            conn.rings = rings;
            if self.nonblocking {
                conn.set_nonblocking(true)?;
            }
            self.conn = Some(conn);
            self.peer = Some(credentials);
            return Ok(if waiting {
                Connected::AlreadyConnected
            } else {
                Connected::Connected
            });
        }
    }

    /// Disconnects the client (`DisconnectNamedPipe`): the client's further reads find the end
    /// of data (after what it had received already) and its writes fail with `BrokenPipe`; data
    /// it sent that the server has not read is discarded. New clients find this instance busy
    /// until the next [`connect`](Self::connect). Use [`flush`](Write::flush) first to wait until
    /// the client has read everything.
    ///
    /// An instance with no client fails with `NotConnected` (`ERROR_PIPE_NOT_CONNECTED`, see
    /// [`is_not_connected`](super::is_not_connected)), as a second `disconnect` does.
    pub fn disconnect(&mut self) -> io::Result<()> {
        let conn = self.conn.take();
        self.peer = None;
        match conn {
            Some(mut conn) => {
                conn.hang_up();
                Ok(())
            }
            None => Err(io::Error::new(
                ErrorKind::NotConnected,
                format!(
                    "named pipe {}: no client is connected to this instance",
                    self.what
                ),
            )),
        }
    }

    /// Whether the connected client's data goes through shared-memory rings (see
    /// [`ServerOptions::shared_memory`]) rather than the socket.
    pub fn shared_memory_in_use(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.rings.is_some())
    }

    /// Whether a client is connected.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The connected client's process id, user and group (`GetNamedPipeClientProcessId`; the
    /// identity `ImpersonateNamedPipeClient` would take).
    pub fn client(&self) -> Option<Credentials> {
        self.peer
    }

    fn conn(&mut self) -> io::Result<&mut Conn> {
        let what = &self.what;
        self.conn.as_mut().ok_or_else(|| {
            io::Error::new(
                ErrorKind::NotConnected,
                format!("named pipe {what}: no client is connected to this instance"),
            )
        })
    }

    /// Reads one message (`ReadFile` in message-read mode): see [`MessageRead`].
    pub fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        self.conn()?.read_message(buf)
    }

    /// Reads one whole message into `out` (appending), however long.
    pub fn read_message_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<MessageRead> {
        self.conn()?.read_message_to_end(out)
    }

    /// Writes one message (on a byte pipe: the bytes).
    pub fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        self.conn()?.write_message(message)
    }

    /// Looks at what can be read without consuming it (`PeekNamedPipe`).
    pub fn peek(&mut self, buf: &mut [u8]) -> io::Result<PeekInfo> {
        self.conn()?.peek(buf)
    }

    /// Writes `request` as one message to the client and reads one reply message into `reply`
    /// (`TransactNamedPipe` on a server handle, as Win32 allows). Needs message-read mode;
    /// fails with `ResourceBusy` if unread data is waiting, and with `NotConnected` without a
    /// client.
    pub fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<MessageRead> {
        self.conn()?.transact(request, reply)
    }

    /// Sets the read mode (`SetNamedPipeHandleState`).
    pub fn set_read_mode(&mut self, mode: ReadMode) -> io::Result<()> {
        if mode == ReadMode::Message && self.info.pipe_mode == PipeMode::Byte {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "named pipe {} is a byte pipe: no message-read mode",
                    self.what
                ),
            ));
        }
        self.read_mode = mode;
        if let Some(conn) = &mut self.conn {
            conn.set_read_mode(mode)?;
        }
        Ok(())
    }

    /// Nonblocking mode (`PIPE_NOWAIT`) for `connect` and I/O.
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking = nonblocking;
        if let Some(l) = &self.listener {
            rustix::io::ioctl_fionbio(l, nonblocking)?;
        }
        if let Some(conn) = &mut self.conn {
            conn.set_nonblocking(nonblocking)?;
        }
        Ok(())
    }

    /// Sends a handle to the client, which takes it with
    /// [`NamedPipeClient::recv_handle`](super::NamedPipeClient::recv_handle).
    pub fn send_handle(&mut self, handle: impl AsFd) -> io::Result<()> {
        self.conn()?.send_handle(handle.as_fd())
    }

    /// Receives a handle the client sent.
    pub fn recv_handle(&mut self) -> io::Result<OwnedFd> {
        self.conn()?.recv_handle()
    }
}

fn send_reply(fd: &OwnedFd, reply: [u8; handshake::REPLY_LEN]) -> io::Result<()> {
    super::conn::send_all(fd.as_fd(), &[&reply], &[])
}

impl Read for NamedPipeServer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.conn()?.read(buf)
    }
}

impl Write for NamedPipeServer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn()?.write(buf)
    }

    /// Waits until the client has read everything written (`FlushFileBuffers`).
    fn flush(&mut self) -> io::Result<()> {
        match &self.conn {
            Some(conn) => conn.flush_to_peer(),
            None => Ok(()),
        }
    }
}

impl AsFd for NamedPipeServer {
    /// The connected socket, or while none, the listening one (to wait for readiness).
    fn as_fd(&self) -> BorrowedFd<'_> {
        match (&self.conn, &self.listener) {
            (Some(conn), _) => conn.fd.as_fd(),
            (None, Some(l)) => l.as_fd(),
            (None, None) => self.lock().as_fd(),
        }
    }
}

impl AsRawFd for NamedPipeServer {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl std::fmt::Debug for NamedPipeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedPipeServer")
            .field("name", &self.what)
            .field("slot", &self.slot)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Drop for NamedPipeServer {
    fn drop(&mut self) {
        self.conn = None;
        if self.listener.take().is_some() {
            if let Err(e) = lease::remove_part(&self.socket_path()) {
                lease::keep(e);
            }
        }
        // The last instance removes the name (without waiting: if another holds it, it lives
        // on); a failure is kept for `name::release_errors`.
        drop(self.lease.take());
    }
}
