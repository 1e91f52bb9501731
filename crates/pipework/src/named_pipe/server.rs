//! The server side: [`ServerOptions`] (`CreateNamedPipe`) and [`NamedPipeServer`], one instance.

use std::fs::{self, File};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{
    acceptfrom_with, bind, listen, sockopt, RecvFlags, Shutdown, SocketAddrUnix, SocketFlags,
};

use super::conn::Conn;
use super::handshake::{self, Tag};
use super::registry::{self, Allow, Info};
use super::state;
use super::{Access, Credentials, MessageRead, PeekInfo, PipeInfo, PipeMode, ReadMode};
use crate::name::lease::{self, still_linked, Lease};
use crate::name::place::{self, PipeFile};
use crate::name::{Namespace, PipeName};
use crate::sys::Lock;

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
    /// Remote clients through Samba (named_pipe/smb).
    pub(super) smb: super::smb::Options,
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
            smb: Default::default(),
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

    /// Refuse clients on other machines (`PIPE_REJECT_REMOTE_CLIENTS`; default `true`). With
    /// `false` the pipe is served to other machines through Samba too (see
    /// [`remote_socket_dir`](Self::remote_socket_dir) and
    /// [`NamedPipeServer::remote_client`]); `create` then fails if smbd's socket directory is
    /// not usable.
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

    /// Buffer for data flowing to the server (`nInBufferSize`): the quota of what clients may
    /// have written and the server not yet read. The kernel grants it within its limits
    /// ([`NamedPipeServer::info`] tells what it gave); a blocking write waits for room, a
    /// nonblocking one ([`ServerOptions::nonblocking`], [`ClientOptions::nonblocking`]) writes
    /// what fits of a byte stream and nothing of a message that does not fit. The first
    /// instance's sizes stick for the pipe. Between two pipework ends the size is also that
    /// direction's shared-memory ring (rounded up to a power of two, 4 KiB to 1 GiB; 1 MiB
    /// when not set): see [the module's notes](super#how-it-maps-to-linux).
    ///
    /// [`ClientOptions::nonblocking`]: super::ClientOptions::nonblocking
    pub fn in_buffer_size(&mut self, bytes: u32) -> &mut Self {
        self.in_buffer = Some(bytes);
        self
    }

    /// Buffer for data flowing to clients (`nOutBufferSize`): as
    /// [`in_buffer_size`](Self::in_buffer_size), the other way.
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

    /// Whether this instance takes the shared-memory rings a pipework client offers (default
    /// `true`): each direction of the connection then moves from the socket to its ring once
    /// its reader reads through pipework's API, and the socket stays open beside them as the
    /// liveness signal. Foreign clients and clients through Samba always keep the socket. An
    /// instance whose socket is handed to another program and never read or written through
    /// the API (`pipework pipe serve --exec`) keeps the socket by itself; turn them off for one
    /// that mixes direct reads or writes on the socket with the API's.
    pub fn shared_memory(&mut self, on: bool) -> &mut Self {
        self.shared_memory.on = on;
        self
    }

    /// How long this end spins for its peer on a ring before it sleeps (default 50 µs;
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

    /// Admits the user `uid` too. The owner and root are always admitted. Who may connect is
    /// the pipe's, set by its first instance (a later instance's choice is ignored, as Win32
    /// keeps the first instance's security); a client the pipe does not admit is refused at
    /// its open.
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

    /// Nonblocking mode (`PIPE_NOWAIT`): `connect` and reads return `WouldBlock` instead of
    /// waiting; a write takes what fits in the pipe's buffer (a byte stream: the bytes that fit,
    /// a message: all of it or, with `WouldBlock`, nothing).
    pub fn nonblocking(&mut self, nonblocking: bool) -> &mut Self {
        self.nonblocking = nonblocking;
        self
    }

    /// Creates one instance of the pipe `name` (`CreateNamedPipe`); the pipe is created with its
    /// first instance. The instance listens at once: a client's open completes from now on,
    /// and [`NamedPipeServer::connect`] takes that client (or waits for one).
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
        let named = |e: io::Error| io::Error::new(e.kind(), format!("named pipe {name}: {e}"));
        // This process's instances of a pipe share one hold on it (registry::Shared): a pipe it
        // holds already is joined without touching the disk.
        let (shared, first) = match registry::held(self.namespace, &name) {
            Some(shared) => (shared, false),
            None => {
                let dir = place::pipe_dir(self.namespace, &name)?;
                let (lock, info, first) = loop {
                    if let Some(found) = self
                        .join_or_found(&name, &dir, access, max_instances)
                        .map_err(named)?
                    {
                        break found;
                    }
                };
                (
                    registry::share(self.namespace, &name, dir, lock, info),
                    first,
                )
            }
        };
        let dir = shared.dir.clone();
        let info = shared.info.clone();
        if !first {
            if self.first_pipe_instance {
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!("named pipe {name} exists already (first instance only was asked)"),
                ));
            }
            // As Win32: only the access mode must match; another type, instance limit, buffer
            // sizes or default timeout is accepted, and the first instance's values stick.
            if info.access != access {
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
        let Some(slot) = shared.take_slot().map_err(named)? else {
            return Err(io::Error::new(
                ErrorKind::ResourceBusy,
                format!(
                    "named pipe {name}: all {} instances exist already",
                    info.slots()
                ),
            ));
        };
        let lease = Lease::pipe(name.to_string(), dir.clone(), shared, slot);
        let mut server = NamedPipeServer {
            what: name.to_string(),
            name,
            dir,
            lease: Some(lease),
            slot,
            listener: None,
            conn: None,
            peer: None,
            notice: Notice::None,
            info,
            read_mode,
            nonblocking: self.nonblocking,
            nowait: self.nonblocking,
            accept_handles: self.accept_handles,
            shared_memory: self.shared_memory,
            first,
            since: None,
            closing: false,
            smb: Default::default(),
        };
        server.listen()?;
        // Remote clients through Samba (named_pipe/smb).
        server.smb =
            super::smb::Instance::start(&self.smb, self.reject_remote_clients, &server.name)?;
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
                in_buffer: self.in_buffer.unwrap_or(0),
                out_buffer: self.out_buffer.unwrap_or(0),
                allow: self.allow.clone(),
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
// In this order (`repr(C)`): what every read and write looks at comes first, next to each
// other, so that a server with thousands of clients brings in a few lines of memory per
// request, not a line here and a line there across the whole instance.
#[repr(C)]
pub struct NamedPipeServer {
    conn: Option<Conn>,
    /// The connected pipework client's disconnect notice.
    notice: Notice,
    /// `PIPE_NOWAIT` asked by the user: writes take only what fits.
    nowait: bool,
    /// The sockets are nonblocking (`PIPE_NOWAIT`, or an async front-end's).
    nonblocking: bool,
    name: PipeName,
    what: String,
    dir: PathBuf,
    /// The hold on the pipe's name: this instance's locks on the lock file.
    lease: Option<Lease>,
    slot: u64,
    listener: Option<OwnedFd>,
    peer: Option<Credentials>,
    info: Info,
    read_mode: ReadMode,
    accept_handles: usize,
    shared_memory: super::ring::SharedMemory,
    first: bool,
    /// When this instance started listening (its socket file's time), for the listener made
    /// anew after a refused client: it keeps its place in the queue.
    since: Option<rustix::fs::Timestamps>,
    /// `connect` found a client that came and went (Win32's closing state): the `disconnect`
    /// a Win32 server calls next succeeds.
    closing: bool,
    /// Remote clients through Samba (named_pipe/smb).
    pub(super) smb: super::smb::Instance,
}

/// What a server knows of its client's disconnect notice ([`state`]).
#[derive(Debug)]
enum Notice {
    /// A foreign client, or none: nothing to tell.
    None,
    /// A pipework client whose tag has not been taken yet.
    Pending,
    /// The client's notice (mapped: no descriptor).
    Held(state::Notice),
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
        self.hold().instances()
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

    fn hold(&self) -> &registry::Shared {
        self.lease
            .as_ref()
            .and_then(Lease::pipe_hold)
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
        let fd = state::nonblocking_stream()?;
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
        match bind(&fd, &addr) {
            Err(Errno::ADDRINUSE) => {
                // A dead instance's, in our own slot (the slot is ours: nobody else binds here).
                lease::remove_part(&path)?;
                bind(&fd, &addr)?;
            }
            other => other?,
        }
        let mode = if self.info.allow == Allow::Owner {
            0o600
        } else {
            0o666
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        // The buffer sizes a client will get, granted here so `info` can tell them before one
        // comes.
        state::ask(fd.as_fd(), self.info.out_buffer, self.info.in_buffer);
        // A listener made anew after a refused client keeps the time its instance started
        // listening: the order in which instances are handed out goes by it.
        if let Some(since) = self.since.take() {
            let _ =
                rustix::fs::utimensat(rustix::fs::CWD, &path, &since, rustix::fs::AtFlags::empty());
        }
        // A backlog of 0 lets exactly one client wait: others find the instance busy. That
        // client's open has completed (Win32: `CreateFile` succeeds on a listening instance).
        listen(&fd, 0)?;
        self.listener = Some(fd);
        Ok(())
    }

    /// Whether a client waits on the listener, waiting for one up to `wait` (`None`: for ever).
    fn knocked(&self, wait: Option<Duration>) -> io::Result<bool> {
        use rustix::event::{poll, PollFd, PollFlags};
        let listener = self.listener.as_ref().expect("listening");
        let ts = wait.map(crate::sys::time::timespec);
        let mut fds = [PollFd::new(listener, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(n) => Ok(n > 0),
            Err(Errno::INTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits for a client and connects it (`ConnectNamedPipe`).
    ///
    /// A client's open completes as soon as this instance listens, before `connect` is called
    /// (as in Win32), and what it writes waits in the pipe. `connect` then returns
    /// [`Connected::AlreadyConnected`] at once (Win32's `ERROR_PIPE_CONNECTED`, which is a
    /// success): a server tells whether it waited from the value it gets, and
    /// [`is_connected`](Self::is_connected) says a client is there. A client that came, wrote
    /// and closed before `connect` is connected all the same: the server reads what it wrote,
    /// then the end of data.
    ///
    /// Fails with `BrokenPipe` when a client came and went without writing before it was
    /// admitted (`ERROR_NO_DATA`; the instance listens again at the next call, with or without
    /// a [`disconnect`](Self::disconnect) between, which then succeeds), and in
    /// nonblocking mode with `WouldBlock` while no client is there (`ERROR_PIPE_LISTENING`).
    /// Clients the pipe does not admit are refused at their open; one that connects anyway
    /// (not through pipework) is turned away here, and `connect` goes on waiting.
    pub fn connect(&mut self) -> io::Result<Connected> {
        if self.conn.is_some() {
            return Ok(Connected::AlreadyConnected);
        }
        self.closing = false;
        if self.listener.is_none() {
            self.listen()?;
        }
        let mut already = self.knocked(Some(Duration::ZERO))?;
        let mut knocked = already;
        loop {
            if !knocked && self.smb.serving() {
                // A client on another machine, through Samba, may come first (named_pipe/smb).
                let local = self.listener.as_ref().expect("listening").as_fd();
                let mode = self.info.pipe_mode;
                let allow = &self.info.allow;
                let admits = |who: &super::RemoteClient| allow.admits_remote(who);
                let next = self
                    .smb
                    .next_client(local, self.nonblocking, mode, admits)?;
                if let Some((fd, who)) = next {
                    return self.admit_remote(fd, who);
                }
                knocked = self.knocked(Some(Duration::ZERO))?;
            }
            if !knocked {
                if self.nonblocking {
                    return Err(io::Error::new(
                        ErrorKind::WouldBlock,
                        format!("named pipe {}: no client yet", self.what),
                    ));
                }
                knocked = self.knocked(None)?;
                continue;
            }
            if self.admit()? {
                return Ok(if already {
                    Connected::AlreadyConnected
                } else {
                    Connected::Connected
                });
            }
            // Refused (or gone before it was taken): listen again.
            already = false;
            knocked = self.knocked(Some(Duration::ZERO))?;
        }
    }

    /// Takes the client waiting on the listener: `Ok(true)` once it is connected, `Ok(false)`
    /// when it was refused and the instance listens again.
    fn admit(&mut self) -> io::Result<bool> {
        let listener = self.listener.take().expect("listening");
        // Close the door before taking the client: a listener shut for reading refuses new
        // connections (they go on to other instances) but still hands out the one queued, so
        // no client is ever left queued on a listener about to close, its open completed for
        // nothing.
        let _ = rustix::net::shutdown(&listener, Shutdown::Read);
        // A nonblocking instance's connection is nonblocking from birth (no call to make it so).
        let flags = if self.nonblocking {
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK
        } else {
            SocketFlags::CLOEXEC
        };
        let accepted = loop {
            match acceptfrom_with(&listener, flags) {
                Ok(x) => break Some(x),
                Err(Errno::INTR) | Err(Errno::CONNABORTED) => continue,
                Err(Errno::AGAIN) => break None,
                Err(e) => return Err(e.into()),
            }
        };
        let Some((fd, addr)) = accepted else {
            // Listen again, in the same place in the queue (the name is made anew in place).
            self.since = listening_time(&self.socket_path());
            drop(listener);
            self.listen()?;
            return Ok(false);
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
        let me = rustix::process::geteuid().as_raw();
        let fits = request.is_none_or(|(r, w)| handshake::access_fits(self.info.access, r, w));
        if !self.info.allow.admits(credentials.uid, me) || !fits {
            // A pipework client checks both before its open completes: this one came round it.
            drop(fd);
            self.since = listening_time(&self.socket_path());
            drop(listener);
            self.listen()?;
            return Ok(false);
        }
        // Out of the pipe's directory: the connected socket keeps its name alive (registry::GONE).
        if let Err(e) = registry::retire_socket(&self.dir, self.slot) {
            lease::keep(e);
        }
        drop(listener);
        self.notice = if request.is_some() {
            Notice::Pending
        } else {
            Notice::None
        };
        let mut conn = Conn::new(fd, self.info.pipe_mode, self.what.clone());
        conn.read_mode = self.read_mode;
        conn.can_read = self.info.access.server_reads();
        conn.can_write = self.info.access.server_writes();
        conn.accept_handles = self.accept_handles;
        state::ask(conn.fd.as_fd(), self.info.out_buffer, self.info.in_buffer);
        self.conn = Some(conn);
        self.peer = Some(credentials);
        // A pipework client sends its tag right after connecting: take it now, so that the
        // stream holds only the client's data once `connect` returns (the socket may be handed
        // to another program as it is). One caught between its connect and its tag is waited
        // for, briefly; a client that never sends it has its tag looked for again before each
        // read. An async instance (nonblocking sockets without `PIPE_NOWAIT`) never waits
        // here: its thread serves other clients meanwhile, and its reads look for the tag
        // first (they wait for the socket's readiness, not in a system call).
        let async_front_end = self.nonblocking && !self.nowait;
        if self.take_notice(false).is_err()
            && matches!(self.notice, Notice::Pending)
            && !async_front_end
        {
            use rustix::event::{poll, PollFd, PollFlags};
            let conn = self.conn.as_ref().expect("connected");
            let ts = crate::sys::time::timespec(TAG_WAIT);
            let mut fds = [PollFd::new(&conn.fd, PollFlags::IN)];
            if matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0) {
                let _ = self.take_notice(false);
            }
        }
        let gone = {
            let pending = matches!(self.notice, Notice::Pending);
            let conn = self.conn.as_mut().expect("connected");
            !pending && state::at_end(conn)?
        };
        if gone {
            self.conn = None;
            self.peer = None;
            self.notice = Notice::None;
            self.closing = true;
            return Err(io::Error::new(
                ErrorKind::BrokenPipe,
                format!("named pipe {}: the client came and went", self.what),
            ));
        }
        if self.nonblocking {
            // Accepted nonblocking.
            self.conn.as_mut().expect("connected").nonblocking = true;
        }
        Ok(true)
    }

    /// Takes a pipework client's notice tag if it is still to come (waiting for it when
    /// `wait` and this end blocks: it comes before any data). `WouldBlock` while it has not
    /// come; `InvalidData` when the client sent something else (it is then forgotten).
    fn take_notice(&mut self, wait: bool) -> io::Result<()> {
        if !matches!(self.notice, Notice::Pending) {
            return Ok(());
        }
        let Some(conn) = self.conn.as_ref() else {
            return Ok(());
        };
        let flags = if wait && !self.nonblocking {
            RecvFlags::empty()
        } else {
            RecvFlags::DONTWAIT
        };
        let mut byte = [0u8; 1];
        let got = crate::sys::fdpass::recv(
            conn.fd.as_fd(),
            &mut [std::io::IoSliceMut::new(&mut byte)],
            handshake::RINGS_HANDLES,
            flags,
        );
        let got = match got {
            Ok(got) => got,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Err(e),
            Err(e) if e.raw_os_error() == Some(Errno::CONNRESET.raw_os_error()) => {
                self.notice = Notice::None;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let handles = got.handles.len();
        self.notice = match handshake::tag(got.bytes, byte[0], handles) {
            Tag::Notice => match got
                .handles
                .into_iter()
                .next()
                .and_then(state::Notice::accept)
            {
                Some(fd) => Notice::Held(fd),
                None => Notice::None,
            },
            Tag::Rings => {
                let mut handles = got.handles;
                let rest = handles.split_off(1);
                let notice = handles.pop().and_then(state::Notice::accept);
                // Rings cost descriptors: none beyond a share of the limit (state::rings_affordable).
                let affordable = self
                    .conn
                    .as_ref()
                    .is_some_and(|c| state::rings_affordable(c.fd.as_fd()));
                let mut taken = false;
                if self.shared_memory.on && affordable {
                    let what = format!("named pipe {}", self.what);
                    let spin = self.shared_memory.spin;
                    if let Some(conn) = self.conn.as_mut() {
                        // Refused rings (not what a pipework client makes): the socket serves.
                        conn.rings = super::ring::Rings::accept(rest, conn.fd.as_fd(), spin, &what)
                            .ok()
                            .map(Box::new);
                        taken = conn.rings.is_some();
                    }
                }
                match notice {
                    Some(fd) => {
                        if !taken {
                            // Before any byte of this server's reaches the client: it looks
                            // at its first read, and drops the rings.
                            fd.refuse_rings();
                        }
                        Notice::Held(fd)
                    }
                    None => Notice::None,
                }
            }
            Tag::Gone => Notice::None,
            Tag::Bad => {
                self.notice = Notice::None;
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!(
                        "named pipe {}: the client broke the pipework protocol",
                        self.what
                    ),
                ));
            }
        };
        Ok(())
    }

    /// Disconnects the client (`DisconnectNamedPipe`). A pipework client's further reads and
    /// writes fail with `NotConnected` ([`is_not_connected`](super::is_not_connected),
    /// `ERROR_PIPE_NOT_CONNECTED`) once it has read what the server wrote before; a foreign
    /// client sees the end of its socket. Data the client sent that the server has not read is
    /// discarded. New clients find this instance busy until the next
    /// [`connect`](Self::connect). Use [`flush`](Write::flush) first to wait until the client
    /// has read everything.
    ///
    /// An instance with no client fails with `NotConnected` (`ERROR_PIPE_NOT_CONNECTED`, see
    /// [`is_not_connected`](super::is_not_connected)), as a second `disconnect` does; after a
    /// `connect` that found a client come and gone, it succeeds once (as Win32's does on a
    /// pipe in its closing state).
    pub fn disconnect(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.closing) && self.conn.is_none() {
            return Ok(());
        }
        let _ = self.take_notice(false);
        let notice = std::mem::replace(&mut self.notice, Notice::None);
        let conn = self.conn.take();
        self.peer = None;
        self.smb.peer = None;
        match conn {
            Some(mut conn) => {
                // The notice first: the client looks at it once it sees its stream end.
                if let Notice::Held(notice) = notice {
                    notice.signal();
                }
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

    /// The connection's rings, for the async front-end.
    #[cfg(feature = "tokio")]
    pub(crate) fn rings_mut(&mut self) -> Option<&mut super::ring::Rings> {
        self.conn.as_mut().and_then(|c| c.rings.as_deref_mut())
    }

    /// Whether a read has something to return besides what the ring holds: bytes read ahead,
    /// or no connection (for the async front-end).
    #[cfg(feature = "tokio")]
    pub(crate) fn read_pending(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.framer.has_buffered())
    }

    /// Whether data of the connected client goes through shared-memory rings now (in either
    /// direction; see [`ServerOptions::shared_memory`]).
    pub fn shared_memory_in_use(&self) -> bool {
        self.conn
            .as_ref()
            .and_then(|c| c.rings.as_ref())
            .is_some_and(|r| r.in_use())
    }

    /// Whether a client is connected.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The connected client's process id, user and group (`GetNamedPipeClientProcessId`; the
    /// identity `ImpersonateNamedPipeClient` would take). `None` for a client on another
    /// machine: see [`remote_client`](Self::remote_client).
    pub fn client(&self) -> Option<Credentials> {
        self.peer
    }

    /// The pipe's description as this end sees it (`GetNamedPipeInfo`): a server end, the
    /// pipe's type, the buffer sizes the kernel granted (in bytes of data: what was asked, within
    /// the system's limits) and the instance limit.
    pub fn info(&self) -> io::Result<PipeInfo> {
        let granted = match (&self.conn, &self.listener) {
            (Some(conn), _) => state::granted(conn.fd.as_fd())?,
            (None, Some(l)) => state::granted(l.as_fd())?,
            (None, None) => {
                let probe = state::nonblocking_stream()?;
                state::ask(probe.as_fd(), self.info.out_buffer, self.info.in_buffer);
                state::granted(probe.as_fd())?
            }
        };
        Ok(PipeInfo {
            server_end: true,
            pipe_mode: self.info.pipe_mode,
            out_buffer: granted.0,
            in_buffer: granted.1,
            max_instances: self.info.max_instances,
        })
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

    /// The connection, for a read: the client's notice tag taken first (it comes before its data).
    fn reading(&mut self) -> io::Result<&mut Conn> {
        self.conn()?;
        self.take_notice(true)?;
        self.conn()
    }

    /// The connection, for a write: the client's notice tag taken if it came (so that the
    /// client's `flush` does not wait for it to be read).
    fn writing(&mut self) -> io::Result<&mut Conn> {
        self.conn()?;
        match self.take_notice(false) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => other?,
        }
        self.conn()
    }

    /// In `PIPE_NOWAIT` mode, a message that does not fit in the pipe's buffer now is written
    /// not at all: `WouldBlock`.
    fn check_quota(&mut self, len: usize) -> io::Result<()> {
        if !self.nowait || self.info.pipe_mode != PipeMode::Message {
            return Ok(());
        }
        let what = self.what.clone();
        let conn = self.writing()?;
        if conn.can_write && !conn.message_fits(len)? {
            return Err(io::Error::new(
                ErrorKind::WouldBlock,
                format!("named pipe {what}: the message does not fit in the pipe's buffer now"),
            ));
        }
        Ok(())
    }

    /// Reads one message (`ReadFile` in message-read mode): see [`MessageRead`].
    pub fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        self.reading()?.read_message(buf)
    }

    /// Reads one whole message into `out` (appending), however long.
    pub fn read_message_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<MessageRead> {
        self.reading()?.read_message_to_end(out)
    }

    /// Writes one message (on a byte pipe: the bytes). In nonblocking mode a message that does
    /// not fit in the pipe's buffer is not written (`WouldBlock`).
    pub fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        self.check_quota(message.len())?;
        self.writing()?.write_message(message)
    }

    /// Looks at what can be read without consuming it (`PeekNamedPipe`). Fails with
    /// `BrokenPipe` once the client has closed and everything was read, and with `NotConnected`
    /// without a client.
    pub fn peek(&mut self, buf: &mut [u8]) -> io::Result<PeekInfo> {
        self.conn()?;
        match self.take_notice(false) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => other?,
        }
        if matches!(self.notice, Notice::Pending) {
            // Not even the client's tag has come: nothing to see.
            return Ok(PeekInfo {
                read: 0,
                available: 0,
                left_in_message: 0,
            });
        }
        let what = self.what.clone();
        let conn = self.conn()?;
        let seen = conn.peek(buf)?;
        if seen.available == 0 && seen.read == 0 && state::at_end(conn)? {
            return Err(io::Error::new(
                ErrorKind::BrokenPipe,
                format!("named pipe {what}: the client closed the pipe"),
            ));
        }
        Ok(seen)
    }

    /// Waits like a read until there are bytes to read, then lends them where they lie instead of
    /// copying them out: the zero-copy read. When both ends are pipework and the bytes come
    /// through the shared-memory ring, the slice is the ring itself; on the socket path (a
    /// foreign client, or rings off) the bytes are received into this end's own buffer and
    /// lent from there, so the same code serves both. The slice holds what a read could take
    /// now, up to the ring's end (the rest comes with the next call); it is empty only at the
    /// end of data. Nothing is read until [`consume`](Self::consume) says how much was used.
    ///
    /// On a message pipe the slice never runs past the end of the current message, whatever
    /// the read mode (the rest of the message comes with the next calls, as with
    /// `ERROR_MORE_DATA`), and empty messages are passed over; to see message boundaries, use
    /// [`read_message_in_place`](Self::read_message_in_place). Reads, `peek` and message reads
    /// may be mixed with in-place reads: they carry on from what was consumed.
    ///
    /// # Safety
    /// The slice may be shared memory that the client's process can write, and a `&[u8]`
    /// promises Rust that nothing changes it while it is borrowed. pipework's writing end never
    /// writes bytes it has published until the reader consumes them, so with a pipework client
    /// at the other end (in any process) the promise holds. Call this only when the client's
    /// process is trusted to be such a writer; when it might be hostile or buggy, use
    /// [`Read::read`](std::io::Read::read), which copies the bytes out. (The ring's positions
    /// are checked either way: a lying peer cannot make the slice leave the ring, and a
    /// position out of bounds is `InvalidData` naming the pipe.)
    pub unsafe fn fill_buf_in_place(&mut self) -> io::Result<&[u8]> {
        self.lend_in_place(false)?;
        // SAFETY: the caller vouches for the client (this function's contract).
        Ok(unsafe { self.lent_in_place() })
    }

    /// [`fill_buf_in_place`](Self::fill_buf_in_place) on a message pipe, telling where the
    /// current message stands: [`MessageRead::Complete`]`(n)` when the `n` lent bytes end it (0:
    /// an empty message, already read: nothing to consume), [`MessageRead::MoreData`] when
    /// `left` more bytes of it follow the lent ones (the ring wrapped, or they have not all
    /// come yet), [`MessageRead::End`] at the end of data (with an empty slice). The message
    /// is read once all of its bytes were consumed. `InvalidInput` on a byte pipe.
    ///
    /// # Safety
    /// As [`fill_buf_in_place`](Self::fill_buf_in_place).
    pub unsafe fn read_message_in_place(&mut self) -> io::Result<(&[u8], MessageRead)> {
        let got = self.lend_in_place(true)?;
        // SAFETY: the caller vouches for the client (this function's contract).
        Ok((unsafe { self.lent_in_place() }, got))
    }

    /// Prepares an in-place read (`messages`: telling empty messages and message ends; on a
    /// byte pipe `InvalidInput`), for the blocking and the async ends.
    pub(crate) fn lend_in_place(&mut self, messages: bool) -> io::Result<MessageRead> {
        if messages && self.info.pipe_mode == PipeMode::Byte {
            return Err(self.no_messages());
        }
        let conn = self.reading()?;
        loop {
            match conn.lend()? {
                MessageRead::Complete(0) if !messages => {}
                other => return Ok(other),
            }
        }
    }

    /// The bytes the last [`lend_in_place`](Self::lend_in_place) found.
    ///
    /// # Safety
    /// As [`fill_buf_in_place`](Self::fill_buf_in_place).
    pub(crate) unsafe fn lent_in_place(&self) -> &[u8] {
        match &self.conn {
            // SAFETY: passed on to the caller (this function's contract).
            Some(conn) => unsafe { conn.lent() },
            None => &[],
        }
    }

    /// Marks `n` bytes lent by the last in-place read as read, giving their room back to the
    /// client. `n` is capped at the bytes that read lent; with no in-place read before it (or a
    /// read, peek or message read in between) it does nothing.
    pub fn consume(&mut self, n: usize) {
        if let Some(conn) = &mut self.conn {
            conn.consume(n);
        }
    }

    /// Waits like a write until there is room, then lends that room in place for bytes produced
    /// straight into it (read from a file, serialized, computed) instead of copied in: the
    /// zero-copy write, the mirror of [`fill_buf_in_place`](Self::fill_buf_in_place). When both
    /// ends are pipework and this direction runs through the shared-memory ring, the slice is
    /// the ring's free room up to its end (at least 1 byte); on the socket path (a foreign
    /// client, or rings off) it is this end's own 64 KiB buffer, sent at the commit, so the same
    /// code serves both. What the slice held before is unspecified. Nothing reaches the client
    /// until [`commit`](Self::commit) says how many bytes were filled; a plain write in between
    /// drops the reservation.
    ///
    /// Byte pipes only: on a message pipe (a message is one write, whose length its header
    /// gives first) and on a nonblocking end (`PIPE_NOWAIT`) it is `Unsupported`, naming the
    /// pipe. A client gone is `BrokenPipe`.
    ///
    /// # Safety
    /// The slice may be shared memory that the client's process can write, and a `&mut [u8]`
    /// promises Rust that nothing else touches it while it is borrowed. pipework's reading end
    /// never writes into the ring's data, so with a pipework client at the other end (in any
    /// process) the promise holds. Call this only when the client's process is trusted to be
    /// such a reader; otherwise use [`Write::write`](std::io::Write::write). (The ring's
    /// positions are checked either way: a lying peer cannot make the slice leave the ring.)
    pub unsafe fn reserve_in_place(&mut self) -> io::Result<&mut [u8]> {
        let conn = self.writing()?;
        conn.reserve()?;
        // SAFETY: the caller vouches for the client (this function's contract).
        Ok(unsafe { conn.reserved() })
    }

    /// Publishes the first `n` bytes of the room the last
    /// [`reserve_in_place`](Self::reserve_in_place) lent, as a write of them would (waking a
    /// waiting client; on the socket path, sending them). `n` may be less than the room (0
    /// publishes nothing); more than was reserved, or a commit with no reservation before it,
    /// is `InvalidInput` naming the pipe.
    pub fn commit(&mut self, n: usize) -> io::Result<()> {
        self.writing()?.commit(n)
    }

    fn no_messages(&self) -> io::Error {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "named pipe {} is a byte pipe: it has no messages",
                self.what
            ),
        )
    }

    /// Writes `request` as one message to the client and reads one reply message into `reply`
    /// (`TransactNamedPipe` on a server handle, as Win32 allows). Needs message-read mode;
    /// fails with `ResourceBusy` if unread data is waiting, and with `NotConnected` without a
    /// client.
    pub fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<MessageRead> {
        self.check_quota(request.len())?;
        self.reading()?.transact(request, reply)
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

    /// Nonblocking mode (`PIPE_NOWAIT`) for `connect` and I/O: see
    /// [`ServerOptions::nonblocking`].
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.nowait = nonblocking;
        self.set_io_nonblocking(nonblocking)
    }

    /// Nonblocking sockets without `PIPE_NOWAIT`'s write rules (for an async front-end, which
    /// waits for room itself).
    pub(crate) fn set_io_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking = nonblocking;
        if let Some(conn) = &mut self.conn {
            conn.set_nonblocking(nonblocking)?;
        }
        Ok(())
    }

    /// Sends a handle to the client, which takes it with
    /// [`NamedPipeClient::recv_handle`](super::NamedPipeClient::recv_handle).
    pub fn send_handle(&mut self, handle: impl AsFd) -> io::Result<()> {
        self.writing()?.send_handle(handle.as_fd())
    }

    /// Receives a handle the client sent.
    pub fn recv_handle(&mut self) -> io::Result<OwnedFd> {
        self.reading()?.recv_handle()
    }
}

/// How long `connect` waits for a pipework client's tag that had not come when it took the
/// client (it is sent right after the connection is made).
const TAG_WAIT: Duration = Duration::from_secs(1);

/// The time the socket file at `path` was made (when its instance started listening).
fn listening_time(path: &Path) -> Option<rustix::fs::Timestamps> {
    let st = rustix::fs::stat(path).ok()?;
    let t = rustix::fs::Timespec {
        tv_sec: st.st_mtime as _,
        tv_nsec: st.st_mtime_nsec as _,
    };
    Some(rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    })
}

impl Read for NamedPipeServer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reading()?.read(buf)
    }
}

impl Write for NamedPipeServer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_quota(buf.len())?;
        self.writing()?.write(buf)
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
            (None, None) => self.hold().lock.as_fd(),
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

// ---- Remote clients through Samba (named_pipe/smb) ----
impl NamedPipeServer {
    /// Admits a client that came through Samba: as a local one, with its identity from smbd.
    fn admit_remote(
        &mut self,
        fd: OwnedFd,
        who: super::smb::RemoteClient,
    ) -> io::Result<Connected> {
        // This instance stops listening locally, as when it admits a local client.
        self.listener = None;
        if let Err(e) = lease::remove_part(&self.socket_path()) {
            lease::keep(e);
        }
        let mut conn = super::smb::conn(fd, self.info.pipe_mode, &self.what);
        conn.read_mode = self.read_mode;
        conn.can_read = self.info.access.server_reads();
        conn.can_write = self.info.access.server_writes();
        if self.nonblocking {
            conn.set_nonblocking(true)?;
        }
        self.conn = Some(conn);
        self.peer = None;
        self.notice = Notice::None;
        self.smb.peer = Some(Box::new(who));
        Ok(Connected::Connected)
    }
}
