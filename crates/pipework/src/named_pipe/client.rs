//! The client side: [`ClientOptions`] (`CreateFile` on a pipe name) and [`NamedPipeClient`].

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{bind, connect, sockopt, SocketAddrUnix};

use super::conn::Conn;
use super::handshake::{self, NOTICE_TAG, RINGS_TAG, TOKEN_LEN};
use super::registry;
use super::smb::client::RemotePipe;
use super::state;
use super::{
    busy_error, Credentials, MessageRead, PeekInfo, PipeInfo, PipeMode, ReadMode, WaitTimeout,
};
use crate::name::PipeName;
use crate::sys::error::error;
use crate::sys::time::{deadline, left};

/// How long an open may take when its caller set no time limit of its own (no
/// [`ClientOptions::wait`], or [`WaitTimeout::Default`]) and the pipe's server set no default
/// timeout: finding an instance and connecting to it. (The open never waits for the server's
/// `connect`: it completes as soon as an instance listens, as in Win32.)
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How many fresh random addresses a client tries when the one it drew is taken.
const BIND_TRIES: usize = 16;

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
///
/// Whose pipe a client reaches is the trust rule of the [module docs](super#whose-server-a-client-reaches):
/// by default a server of root or of the caller's own user; [`server_uid`](Self::server_uid) and
/// [`any_server_owner`](Self::any_server_owner) widen it.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    read: bool,
    write: bool,
    wait: Option<WaitTimeout>,
    server_uid: Option<u32>,
    any_owner: bool,
    accept_handles: usize,
    nonblocking: bool,
    read_mode: Option<ReadMode>,
    shared_memory: super::ring::SharedMemory,
    /// Credentials and port for a pipe on another machine (named_pipe/smb/client).
    pub(crate) remote: super::smb::client::RemoteOptions,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            read: true,
            write: true,
            wait: None,
            server_uid: None,
            any_owner: false,
            accept_handles: 0,
            nonblocking: false,
            read_mode: None,
            shared_memory: super::ring::SharedMemory::default(),
            remote: Default::default(),
        }
    }
}

/// Whose server a client takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trust {
    /// Root or the caller's own user (the default).
    RootOrSelf,
    /// Exactly this user ([`ClientOptions::server_uid`]).
    Uid(u32),
    /// Anyone ([`ClientOptions::any_server_owner`]).
    Anyone,
}

impl Trust {
    /// Whether a pipe or server of user `uid` is trusted by a client running as `me`.
    pub(crate) fn admits(self, uid: u32, me: u32) -> bool {
        match self {
            Trust::RootOrSelf => uid == 0 || uid == me,
            Trust::Uid(expected) => uid == expected,
            Trust::Anyone => true,
        }
    }
}

impl ClientOptions {
    /// Read and write access, no waiting, a server of root or of this user, blocking, no
    /// handles accepted but those asked for with `recv_handle`.
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
    ///
    /// With [`WaitTimeout::After`] the whole open, every step of it, ends within that time
    /// (`Duration::MAX` is no limit); with [`WaitTimeout::Forever`] it has no limit; otherwise
    /// the open ends within the pipe's default timeout if its server set one, else within
    /// [`OPEN_TIMEOUT`].
    pub fn wait(&mut self, timeout: WaitTimeout) -> &mut Self {
        self.wait = Some(timeout);
        self
    }

    /// Accept only a server that runs as user `uid`; another is `PermissionDenied`, found by
    /// the server's socket credentials as soon as the connection is made, before any byte of
    /// the handshake. This also opts in to pipes that user owns in the global namespace.
    pub fn server_uid(&mut self, uid: u32) -> &mut Self {
        self.server_uid = Some(uid);
        self
    }

    /// Accept a server of any user: opts in to global pipes that neither root nor this user
    /// owns (the default refuses them with `PermissionDenied`). Such a server is whoever
    /// created the name first.
    pub fn any_server_owner(&mut self) -> &mut Self {
        self.any_owner = true;
        self
    }

    /// Keep up to `n` handles that the server sends beside data until
    /// [`NamedPipeClient::recv_handle`] takes them (default 0). Handles beyond that are refused
    /// (never installed in this process); the data they rode on still arrives.
    /// `recv_handle` itself always accepts the one handle it asks for.
    pub fn accept_handles(&mut self, n: usize) -> &mut Self {
        self.accept_handles = n;
        self
    }

    /// The read mode the client end starts in (`PIPE_READMODE_BYTE` / `PIPE_READMODE_MESSAGE`,
    /// set with `SetNamedPipeHandleState` right after the open); without this call it starts in
    /// byte-read mode. [`PipeMode::Message`] on a byte pipe makes the open fail with
    /// `InvalidInput`.
    pub fn pipe_mode(&mut self, mode: PipeMode) -> &mut Self {
        self.read_mode = Some(match mode {
            PipeMode::Byte => ReadMode::Byte,
            PipeMode::Message => ReadMode::Message,
        });
        self
    }

    /// Sets the asked read mode on a freshly opened end.
    pub(crate) fn apply_read_mode(&self, client: &mut NamedPipeClient) -> io::Result<()> {
        match self.read_mode {
            Some(mode) => client.set_read_mode(mode),
            None => Ok(()),
        }
    }

    /// Opens the client end in nonblocking mode (`PIPE_NOWAIT`): reads with nothing to read
    /// return `WouldBlock`; a write takes what fits in the pipe's buffer (a byte stream: the
    /// bytes that fit; a message: all of it, or nothing and `WouldBlock`).
    pub fn nonblocking(&mut self, nonblocking: bool) -> &mut Self {
        self.nonblocking = nonblocking;
        self
    }

    /// Whether this client offers a pipework server shared-memory rings to carry the data
    /// instead of the socket (default `true`). The server takes them unless it turned them off;
    /// each direction then moves to its ring once its reader reads through pipework's API, and
    /// the socket stays open beside them as the liveness signal. Turn them off for an end whose
    /// socket is read directly (its handle given to another program while pipework also reads
    /// it), or that mixes direct writes on the socket with the API's writes: once a direction
    /// is on its ring, its data no longer passes through the socket.
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

    /// Whose server this client takes.
    pub(crate) fn trust(&self) -> Trust {
        match (self.server_uid, self.any_owner) {
            (Some(uid), _) => Trust::Uid(uid),
            (None, true) => Trust::Anyone,
            (None, false) => Trust::RootOrSelf,
        }
    }

    /// Opens the pipe `name`.
    ///
    /// Errors: `NotFound` when no such pipe exists; `ResourceBusy` when every instance is busy
    /// (`ERROR_PIPE_BUSY`; see [`super::is_busy`]); `PermissionDenied` when the access asked for
    /// does not fit the pipe's direction, when the server does not admit this user, when the
    /// pipe or its server is not one this client trusts (the server named by
    /// [`server_uid`](Self::server_uid), or else root or this user, unless
    /// [`any_server_owner`](Self::any_server_owner)); `TimedOut` when the open's time ran out
    /// (see [`wait`](Self::wait)).
    ///
    /// The open completes as soon as an instance listens, before its server calls
    /// [`NamedPipeServer::connect`](super::NamedPipeServer::connect) (as Win32's `CreateFile`
    /// does): what the client writes waits in the pipe, and its reads wait for the server's
    /// data. Who may connect and with which access is checked here, from the pipe's
    /// description and the listening server's credentials, before the open completes; the
    /// server checks again when it connects the client.
    pub fn open(&self, name: &str) -> io::Result<NamedPipeClient> {
        let parsed = PipeName::parse(name)?;
        if parsed.server().is_some() {
            return self.open_remote(&parsed);
        }
        let mut limit = self.first_limit();
        let mut pause = Backoff::default();
        loop {
            match self.try_open(&parsed, &mut limit) {
                Err(e) if super::is_busy(&e) && self.wait_asked() => {
                    let timeout = match self.next_wait(&limit) {
                        Some(timeout) => timeout,
                        None => return Err(e),
                    };
                    if let Some(d) = pause.next(&limit) {
                        std::thread::sleep(d);
                    }
                    super::wait(name, timeout)?;
                }
                Ok(mut client) => {
                    self.apply_read_mode(&mut client)?;
                    return Ok(client);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the caller asked to wait for a busy pipe.
    pub(crate) fn wait_asked(&self) -> bool {
        self.wait.is_some()
    }

    /// The open's deadline as far as it is known before the pipe is found: `None` when it
    /// depends on the pipe's default timeout.
    pub(crate) fn first_limit(&self) -> Option<Option<Instant>> {
        match self.wait {
            Some(WaitTimeout::After(d)) => Some(deadline(d)),
            Some(WaitTimeout::Forever) => Some(None),
            Some(WaitTimeout::Default) | None => None,
        }
    }

    /// How long the next `WaitNamedPipe` may wait; `None` when the open's time is up.
    pub(crate) fn next_wait(&self, limit: &Option<Option<Instant>>) -> Option<WaitTimeout> {
        let left = limit.and_then(left);
        if left.is_some_and(|l| l.is_zero()) {
            return None;
        }
        Some(match (self.wait, left) {
            (Some(WaitTimeout::Default), _) => WaitTimeout::Default,
            (_, Some(l)) => WaitTimeout::After(l),
            (_, None) => WaitTimeout::Forever,
        })
    }

    /// Opens a pipe on another machine, over SMB (named_pipe/smb/client).
    fn open_remote(&self, name: &PipeName) -> io::Result<NamedPipeClient> {
        let limit = self.first_limit().unwrap_or_else(|| deadline(OPEN_TIMEOUT));
        let access = (self.read, self.write);
        let remote = &self.remote;
        let pipe = RemotePipe::open(name, remote, access, self.wait_asked(), limit)?;
        let mut client = NamedPipeClient::from_remote(pipe)?;
        if self.nonblocking {
            client.set_nonblocking(true)?;
        }
        self.apply_read_mode(&mut client)?;
        Ok(client)
    }

    fn try_open(
        &self,
        name: &PipeName,
        limit: &mut Option<Option<Instant>>,
    ) -> io::Result<NamedPipeClient> {
        let mut opening = Opening::new(self.clone(), name, false, limit)?;
        match opening.next_socket()? {
            Some((fd, server)) => opening.finish(fd, server),
            None => Err(opening.exhausted()),
        }
    }
}

/// Pauses between knocks on instances that listen but turn the client away (their one waiting
/// place taken): none before the first retry, then 1 ms doubling to 100 ms.
#[derive(Default)]
pub(crate) struct Backoff {
    rounds: u32,
}

impl Backoff {
    pub(crate) fn next(&mut self, limit: &Option<Option<Instant>>) -> Option<Duration> {
        self.rounds += 1;
        if self.rounds == 1 {
            return None;
        }
        let d =
            Duration::from_millis(1 << (self.rounds - 2).min(7)).min(Duration::from_millis(100));
        Some(match limit.and_then(left) {
            Some(l) => d.min(l),
            None => d,
        })
    }
}

/// The error of an open whose time ran out.
pub(crate) fn timed_out(what: &str) -> io::Error {
    error(
        ErrorKind::TimedOut,
        format_args!("named pipe {what}"),
        "the open's time ran out before an instance was free",
    )
}

/// 128 bits no other process can predict.
fn random_token() -> io::Result<[u8; TOKEN_LEN]> {
    use rustix::rand::{getrandom, GetRandomFlags};
    let mut token = [0u8; TOKEN_LEN];
    let mut got = 0;
    while got < TOKEN_LEN {
        got += crate::sys::retry(|| getrandom(&mut token[got..], GetRandomFlags::empty()))?;
    }
    Ok(token)
}

/// Opening a pipe by name, as a state machine both front-ends drive: it hands out connected
/// sockets to try, one instance after the other, and turns one into a client.
pub(crate) struct Opening {
    options: ClientOptions,
    pub(crate) what: String,
    found: registry::Found,
    slots: Vec<u64>,
    next: usize,
    denied: bool,
    nonblocking_sockets: bool,
    me: u32,
    /// When the open gives up (`None`: never).
    pub(crate) deadline: Option<Instant>,
    /// The bound socket of an attempt that found its instance gone or taken, for the next:
    /// a connect that fails leaves a socket unconnected, and clients racing for the same
    /// instances lose several attempts per open.
    spare: Option<OwnedFd>,
}

impl Opening {
    /// Finds the pipe and checks that its owner is trusted and the access asked for fits.
    /// `limit` is the open's deadline, set here from the pipe's default timeout if it was not
    /// known yet. The sockets handed out are nonblocking; `finish` makes the client's blocking
    /// unless `nonblocking_sockets` (for an async front-end).
    pub(crate) fn new(
        options: ClientOptions,
        name: &PipeName,
        nonblocking_sockets: bool,
        limit: &mut Option<Option<Instant>>,
    ) -> io::Result<Opening> {
        let found = registry::find(name)?;
        let what = name.to_string();
        let deadline = *limit.get_or_insert_with(|| {
            deadline(if found.info.default_timeout.is_zero() {
                OPEN_TIMEOUT
            } else {
                found.info.default_timeout
            })
        });
        let me = rustix::process::geteuid().as_raw();
        // Read at an earlier open of this same live pipe, or now when they are checked or
        // the pipe is to be remembered.
        let owners = match found.owners {
            Some(owners) => Some(owners),
            None if options.trust() == Trust::RootOrSelf || found.rememberable() => {
                let dir_owner = std::fs::symlink_metadata(&found.dir)?.uid();
                let lock_owner = match &found.live {
                    registry::Liveness::Lock(lock) => lock.metadata()?.uid(),
                    registry::Liveness::Table { .. } => {
                        std::fs::symlink_metadata(crate::name::place::pipe_file(
                            &found.dir,
                            crate::name::place::PipeFile::Lock,
                        ))?
                        .uid()
                    }
                };
                Some((dir_owner, lock_owner))
            }
            None => None,
        };
        if let Some((dir_owner, lock_owner)) = owners {
            if options.trust() == Trust::RootOrSelf {
                for owner in [dir_owner, lock_owner] {
                    if !Trust::RootOrSelf.admits(owner, me) {
                        return Err(untrusted_owner(&what, owner));
                    }
                }
            }
            registry::remember(name, &found, (dir_owner, lock_owner));
        }
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
            me,
            deadline,
            spare: None,
        })
    }

    /// A socket connected to the next instance that had room, and its server, or `None` when
    /// none is left. Its server's identity, and that it admits this client, are checked before
    /// it is handed out.
    pub(crate) fn next_socket(&mut self) -> io::Result<Option<(OwnedFd, Credentials)>> {
        while let Some(&slot) = self.slots.get(self.next) {
            if left(self.deadline).is_some_and(|l| l.is_zero()) {
                return Err(timed_out(&self.what));
            }
            self.next += 1;
            let path = crate::name::place::pipe_file(
                &self.found.dir,
                crate::name::place::PipeFile::Socket(slot),
            );
            if let Some(found) = self.attempt(&path)? {
                return Ok(Some(found));
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

    /// The client on the connected `fd`: its notice handed to the server (the tag goes before
    /// any data), its buffer sizes asked for.
    pub(crate) fn finish(&self, fd: OwnedFd, server: Credentials) -> io::Result<NamedPipeClient> {
        let info = &self.found.info;
        // This end's sends are the pipe's inbound data, its receives the outbound.
        state::ask(fd.as_fd(), info.in_buffer, info.out_buffer);
        let notice = state::new_notice()?;
        // The rings go with the tag when this client offers them (no memory for them: the
        // socket serves).
        let offer = if self.options.shared_memory.on && state::rings_affordable(fd.as_fd()) {
            super::ring::Rings::offer(
                fd.as_fd(),
                super::ring::capacity_for(info.in_buffer),
                super::ring::capacity_for(info.out_buffer),
                self.options.shared_memory.spin,
                &format!("named pipe {}", self.what),
            )
            .ok()
        } else {
            None
        };
        let tagged = match &offer {
            Some((_, [a, b, c, d])) => super::conn::send_all(
                fd.as_fd(),
                &[&[RINGS_TAG]],
                &[notice.as_fd(), a.as_fd(), b.as_fd(), c.as_fd(), d.as_fd()],
            ),
            None => super::conn::send_all(fd.as_fd(), &[&[NOTICE_TAG]], &[notice.as_fd()]),
        };
        let mut rings = offer.map(|(rings, _)| Box::new(rings));
        match tagged {
            Ok(()) => {}
            // The server closed its instance already (it may have written and gone): the
            // client is open all the same, as in Win32, and reads what came, then the end.
            Err(e) if state::peer_gone(&e) || e.kind() == ErrorKind::NotConnected => rings = None,
            Err(e) => return Err(e),
        }
        if !self.nonblocking_sockets {
            rustix::io::ioctl_fionbio(&fd, false)?;
        }
        let mut conn = Conn::new(fd, info.pipe_mode, self.what.clone());
        conn.can_read = self.options.read;
        conn.can_write = self.options.write;
        conn.nonblocking = self.nonblocking_sockets;
        conn.accept_handles = self.options.accept_handles;
        conn.rings = rings;
        let mut client = NamedPipeClient {
            offer_open: conn.rings.is_some(),
            conn,
            server,
            notice,
            disconnected: false,
            nowait: false,
            max_instances: info.max_instances,
            remote: None,
        };
        if self.options.nonblocking {
            client.set_nonblocking(true)?;
        }
        Ok(client)
    }

    /// Whether this client takes a server running as `uid`; the error says why not.
    fn check_server(&self, uid: u32) -> io::Result<()> {
        let trust = self.options.trust();
        if trust.admits(uid, self.me) {
            return Ok(());
        }
        let what = &self.what;
        let why = match trust {
            Trust::Uid(expected) => {
                format!("the server runs as uid {uid}, not the expected {expected}")
            }
            _ => format!(
                "its server runs as uid {uid}, neither root nor this user: name that user with \
                 ClientOptions::server_uid to trust it"
            ),
        };
        Err(error(
            ErrorKind::PermissionDenied,
            format_args!("named pipe {what}"),
            why,
        ))
    }

    /// Connects to one instance's socket, from an address no one else can hold, and checks
    /// who listens there and that it admits this user; `None` when it is gone or already has a
    /// client waiting.
    fn attempt(&mut self, path: &std::path::Path) -> io::Result<Option<(OwnedFd, Credentials)>> {
        let addr = SocketAddrUnix::new(path)?;
        let fd = match self.spare.take() {
            Some(fd) => fd,
            None => self.bound_socket()?,
        };
        match crate::sys::retry(|| connect(&fd, &addr)) {
            Ok(()) => {}
            // The socket is still unconnected (and bound): the next attempt takes it.
            Err(Errno::AGAIN) | Err(Errno::CONNREFUSED) | Err(Errno::NOENT) => {
                self.spare = Some(fd);
                return Ok(None);
            }
            Err(Errno::ACCESS) | Err(Errno::PERM) => {
                self.denied = true;
                self.spare = Some(fd);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
        // The listener's credentials, known from connect(2) on: a stranger's socket is refused
        // before this client sends a byte to it.
        let server = peer_credentials(&fd)?;
        self.check_server(server.uid)?;
        // Whom the server admits is the pipe's (its first instance's choice): a client it would
        // turn away is refused here, at its open, as in Win32.
        if !self.found.info.allow.admits(self.me, server.uid) {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "named pipe {}: the server does not admit this user",
                    self.what
                ),
            ));
        }
        Ok(Some((fd, server)))
    }

    /// A fresh nonblocking socket bound to an address no one else can hold (it carries the
    /// access asked for and a random token).
    fn bound_socket(&self) -> io::Result<OwnedFd> {
        let fd = state::nonblocking_stream()?;
        let mut tries = 0;
        loop {
            let address =
                handshake::client_address(self.options.read, self.options.write, &random_token()?);
            let me = SocketAddrUnix::new_abstract_name(&address)?;
            match bind(&fd, &me) {
                Ok(()) => break,
                Err(Errno::ADDRINUSE) if tries + 1 < BIND_TRIES => tries += 1,
                Err(e) => {
                    return Err(crate::sys::error::named(
                        format!("named pipe {}: binding the client's address", self.what),
                        e,
                    ))
                }
            }
        }
        Ok(fd)
    }
}

/// The error for a pipe whose owner the client does not trust by default.
fn untrusted_owner(what: &str, owner: u32) -> io::Error {
    error(
        ErrorKind::PermissionDenied,
        format_args!("named pipe {what} belongs to uid {owner}"),
        format_args!(
            "neither root nor this user: open it with ClientOptions::server_uid({owner}) or \
             ClientOptions::any_server_owner() to trust that user"
        ),
    )
}

/// The process at the other end of the connected socket `fd`.
fn peer_credentials(fd: &OwnedFd) -> io::Result<Credentials> {
    let creds = sockopt::socket_peercred(fd)?;
    Ok(Credentials {
        pid: creds.pid.as_raw_nonzero().get() as u32,
        uid: creds.uid.as_raw(),
        gid: creds.gid.as_raw(),
    })
}

/// The client end of a named pipe (the handle `CreateFile` returns for a pipe name).
///
/// It starts in byte-read mode and blocking, as in Win32; on a message pipe,
/// [`set_read_mode`](Self::set_read_mode) switches to message-read mode.
///
/// After the server's [`disconnect`](super::NamedPipeServer::disconnect), reads (once what the
/// server wrote before is read), writes and `peek` fail with `NotConnected`
/// ([`is_not_connected`](super::is_not_connected), `ERROR_PIPE_NOT_CONNECTED`); when the server
/// closed its instance or died instead, reads find the end of data (`Ok(0)`,
/// [`MessageRead::End`]) and writes fail with `BrokenPipe`.
// In this order (`repr(C)`): what every read and write looks at first, next to each other.
#[repr(C)]
pub struct NamedPipeClient {
    conn: Conn,
    /// A pipe on another machine, reached over SMB: every operation goes there.
    pub(crate) remote: Option<Box<RemotePipe>>,
    /// The server disconnected this client: every operation fails with `NotConnected`.
    disconnected: bool,
    /// `PIPE_NOWAIT` asked: writes take only what fits.
    nowait: bool,
    /// This client offered rings and has not yet read from the server: its first read looks
    /// whether the server refused them ([`settle_offer`](Self::settle_offer)).
    offer_open: bool,
    /// The disconnect notice this client handed to its server ([`state`]).
    notice: OwnedFd,
    server: Credentials,
    max_instances: Option<u32>,
}

impl NamedPipeClient {
    /// Opens `name` for reading and writing, without waiting: see [`ClientOptions::open`].
    pub fn open(name: &str) -> io::Result<NamedPipeClient> {
        ClientOptions::new().open(name)
    }

    /// A client of a pipe on another machine (named_pipe/smb/client): `conn` holds the SMB
    /// connection's socket (for `AsFd`), `notice` an eventfd never signalled.
    pub(crate) fn from_remote(pipe: RemotePipe) -> io::Result<NamedPipeClient> {
        let fd = rustix::io::fcntl_dupfd_cloexec(pipe.socket(), 0)?;
        let notice = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC)?;
        Ok(NamedPipeClient {
            conn: Conn::new(fd, pipe.pipe_mode(), pipe.what().to_string()),
            server: Credentials {
                pid: 0,
                uid: 0,
                gid: 0,
            },
            offer_open: false,
            notice,
            disconnected: false,
            nowait: false,
            max_instances: None,
            remote: Some(Box::new(pipe)),
        })
    }

    /// The server's process id, user and group (`GetNamedPipeServerProcessId`); all zero for a
    /// pipe on another machine.
    pub fn server(&self) -> Credentials {
        self.server
    }

    /// The pipe's type.
    pub fn pipe_mode(&self) -> PipeMode {
        if let Some(remote) = self.remote.as_deref() {
            return remote.pipe_mode();
        }
        self.conn.pipe_mode
    }

    /// The connection's rings, for the async front-end.
    #[cfg(feature = "tokio")]
    pub(crate) fn rings_mut(&mut self) -> Option<&mut super::ring::Rings> {
        self.conn.rings.as_deref_mut()
    }

    /// Whether a read has something to return besides what the ring holds: bytes read ahead,
    /// or the server's disconnect to report (for the async front-end).
    #[cfg(feature = "tokio")]
    pub(crate) fn read_pending(&self) -> bool {
        self.disconnected || self.remote.is_some() || self.conn.framer.has_buffered()
    }

    /// Shuts the writing half (the server reads the end of data after what was sent).
    #[cfg(feature = "tokio")]
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.shutdown_write()
    }

    /// Whether data of this connection goes through shared-memory rings now (in either
    /// direction; see [`ClientOptions::shared_memory`]). A direction moves to its ring at the
    /// first write after its reader's first read, so this is `false` right after the open.
    pub fn shared_memory_in_use(&self) -> bool {
        self.conn.rings.as_ref().is_some_and(|r| r.in_use())
    }

    /// The pipe's description as this end sees it (`GetNamedPipeInfo`): see
    /// [`NamedPipeServer::info`](super::NamedPipeServer::info).
    pub fn info(&self) -> io::Result<PipeInfo> {
        // This end sends the pipe's inbound data and receives its outbound data.
        let (send, recv) = state::granted(self.conn.fd.as_fd())?;
        Ok(PipeInfo {
            server_end: false,
            pipe_mode: self.conn.pipe_mode,
            out_buffer: recv,
            in_buffer: send,
            max_instances: self.max_instances,
        })
    }

    /// Sets the read mode (`SetNamedPipeHandleState(PIPE_READMODE_*)`); message-read mode on a
    /// byte pipe is `InvalidInput`.
    pub fn set_read_mode(&mut self, mode: ReadMode) -> io::Result<()> {
        if let Some(remote) = self.remote.as_deref_mut() {
            return remote.set_read_mode(mode);
        }
        self.conn.set_read_mode(mode)
    }

    /// Nonblocking mode (`PIPE_NOWAIT`): see [`ClientOptions::nonblocking`].
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        if self.remote.is_some() && nonblocking {
            return Err(super::smb::client::unsupported(
                &self.conn.what,
                "nonblocking mode",
            ));
        }
        self.conn.set_nonblocking(nonblocking)?;
        self.nowait = nonblocking;
        Ok(())
    }

    /// `NotConnected` once the server disconnected this client.
    fn check(&self) -> io::Result<()> {
        if self.disconnected {
            Err(state::disconnected(&self.conn.what))
        } else {
            Ok(())
        }
    }

    /// Whether the server disconnected this client (looked at when the stream ended).
    fn was_disconnected(&mut self) -> bool {
        if !self.disconnected && state::notice_signalled(self.notice.as_fd()) {
            self.disconnected = true;
        }
        self.disconnected
    }

    /// An operation's result, with the end of the stream (`ended`) or a peer gone turned into
    /// `NotConnected` when the server disconnected this client.
    /// At the first read that brought the server's data, when this client offered rings: a
    /// server that refused them said so in the notice before it wrote anything (it decides at
    /// the client's first byte, which it takes before reading, so a server that replies has
    /// decided), and the client drops them: its reads and writes stop looking at rings that
    /// will never serve. A server that wrote before reading may not have decided yet: the
    /// client keeps its rings then, as it did before servers said so.
    fn settle_offer(&mut self) {
        if !std::mem::take(&mut self.offer_open) {
            return;
        }
        if self.conn.rings.as_ref().is_some_and(|r| !r.in_use())
            && state::rings_refused(self.notice.as_fd())
        {
            self.conn.rings = None;
        }
    }

    fn seen<T>(&mut self, result: io::Result<T>, ended: impl Fn(&T) -> bool) -> io::Result<T> {
        let end = match &result {
            Ok(value) => ended(value),
            Err(e) => state::peer_gone(e),
        };
        if end && self.was_disconnected() {
            return Err(state::disconnected(&self.conn.what));
        }
        result
    }

    /// In `PIPE_NOWAIT` mode, a message that does not fit in the pipe's buffer now is written
    /// not at all: `WouldBlock`.
    fn check_quota(&mut self, len: usize) -> io::Result<()> {
        if self.nowait
            && self.conn.can_write
            && self.conn.pipe_mode == PipeMode::Message
            && !self.conn.message_fits(len)?
        {
            return Err(io::Error::new(
                ErrorKind::WouldBlock,
                format!(
                    "named pipe {}: the message does not fit in the pipe's buffer now",
                    self.conn.what
                ),
            ));
        }
        Ok(())
    }

    /// Reads one message (`ReadFile` in message-read mode, whatever the handle's read mode).
    pub fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        if let Some(remote) = self.remote.as_deref_mut() {
            return remote.read_message(buf);
        }
        self.check()?;
        let got = self.conn.read_message(buf);
        if self.offer_open
            && matches!(
                got,
                Ok(MessageRead::Complete(_) | MessageRead::MoreData { .. })
            )
        {
            self.settle_offer();
        }
        self.seen(got, |r| *r == MessageRead::End)
    }

    /// Reads one whole message into `out` (appending), however long.
    pub fn read_message_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<MessageRead> {
        if let Some(remote) = self.remote.as_deref_mut() {
            return remote.read_message_to_end(out);
        }
        self.check()?;
        let got = self.conn.read_message_to_end(out);
        self.seen(got, |r| *r == MessageRead::End)
    }

    /// Writes one message (on a byte pipe: the bytes). In nonblocking mode a message that does
    /// not fit in the pipe's buffer is not written (`WouldBlock`).
    pub fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        if let Some(remote) = self.remote.as_deref_mut() {
            return remote.write_message(message);
        }
        self.check()?;
        self.check_quota(message.len())?;
        let done = self.conn.write_message(message);
        self.seen(done, |_| false)
    }

    /// Looks at what can be read without consuming it (`PeekNamedPipe`). Fails with
    /// `NotConnected` once the server disconnected this client, and with `BrokenPipe` once the
    /// server closed and everything was read.
    pub fn peek(&mut self, buf: &mut [u8]) -> io::Result<PeekInfo> {
        if let Some(remote) = self.remote.as_deref_mut() {
            return remote.peek(buf);
        }
        self.check()?;
        if self.was_disconnected() {
            return Err(state::disconnected(&self.conn.what));
        }
        let seen = self.conn.peek(buf)?;
        if seen.available == 0 && seen.read == 0 && state::at_end(&mut self.conn)? {
            if self.was_disconnected() {
                return Err(state::disconnected(&self.conn.what));
            }
            return Err(io::Error::new(
                ErrorKind::BrokenPipe,
                format!("named pipe {}: the server closed the pipe", self.conn.what),
            ));
        }
        Ok(seen)
    }

    /// Waits like a read until there are bytes to read, then lends them where they lie instead of
    /// copying them out: the zero-copy read. When both ends are pipework and the bytes come
    /// through the shared-memory ring, the slice is the ring itself; on the socket path (rings
    /// off on either end) the bytes are received into this end's own buffer and lent from
    /// there, so the same code serves both. The slice holds what a read could take now, up to
    /// the ring's end (the rest comes with the next call); it is empty only at the end of
    /// data. Nothing is read until [`consume`](Self::consume) says how much was used.
    ///
    /// On a message pipe the slice never runs past the end of the current message, whatever
    /// the read mode (the rest of the message comes with the next calls, as with
    /// `ERROR_MORE_DATA`), and empty messages are passed over; to see message boundaries, use
    /// [`read_message_in_place`](Self::read_message_in_place). Reads, `peek` and message reads
    /// may be mixed with in-place reads: they carry on from what was consumed.
    ///
    /// # Safety
    /// The slice may be shared memory that the server's process can write, and a `&[u8]`
    /// promises Rust that nothing changes it while it is borrowed. pipework's writing end never
    /// writes bytes it has published until the reader consumes them, so with a pipework server
    /// at the other end (in any process) the promise holds. Call this only when the server's
    /// process is trusted to be such a writer; when it might be hostile or buggy, use
    /// [`Read::read`](std::io::Read::read), which copies the bytes out. (The ring's positions
    /// are checked either way: a lying peer cannot make the slice leave the ring, and a
    /// position out of bounds is `InvalidData` naming the pipe.)
    ///
    /// A client of a pipe on another machine (through Samba) has no in-place reads:
    /// `Unsupported`.
    pub unsafe fn fill_buf_in_place(&mut self) -> io::Result<&[u8]> {
        self.lend_in_place(false)?;
        // SAFETY: the caller vouches for the server (this function's contract).
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
        // SAFETY: the caller vouches for the server (this function's contract).
        Ok((unsafe { self.lent_in_place() }, got))
    }

    /// The bytes the last [`lend_in_place`](Self::lend_in_place) found.
    ///
    /// # Safety
    /// As [`fill_buf_in_place`](Self::fill_buf_in_place).
    pub(crate) unsafe fn lent_in_place(&self) -> &[u8] {
        // SAFETY: passed on to the caller (this function's contract).
        unsafe { self.conn.lent() }
    }

    /// An in-place read prepared (`messages`: telling empty messages and message ends; on a
    /// byte pipe `InvalidInput`), with this client's checks: a disconnect is `NotConnected`.
    /// For the blocking and the async ends.
    pub(crate) fn lend_in_place(&mut self, messages: bool) -> io::Result<MessageRead> {
        if messages && self.conn.pipe_mode == PipeMode::Byte && self.remote.is_none() {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "named pipe {} is a byte pipe: it has no messages",
                    self.conn.what
                ),
            ));
        }
        if self.remote.is_some() {
            return Err(super::smb::client::unsupported(
                &self.conn.what,
                "in-place reads",
            ));
        }
        self.check()?;
        let got = loop {
            match self.conn.lend() {
                Ok(MessageRead::Complete(0)) if !messages => {}
                other => break other,
            }
        };
        self.seen(got, |r| *r == MessageRead::End)
    }

    /// Marks `n` bytes lent by the last in-place read as read, giving their room back to the
    /// server. `n` is capped at the bytes that read lent; with no in-place read before it (or a
    /// read, peek or message read in between) it does nothing.
    pub fn consume(&mut self, n: usize) {
        self.conn.consume(n);
    }

    /// Waits like a write until there is room, then lends that room in place for bytes produced
    /// straight into it (read from a file, serialized, computed) instead of copied in: the
    /// zero-copy write, the mirror of [`fill_buf_in_place`](Self::fill_buf_in_place). When both
    /// ends are pipework and this direction runs through the shared-memory ring, the slice is
    /// the ring's free room up to its end (at least 1 byte); on the socket path (a foreign
    /// server, or rings off) it is this end's own 64 KiB buffer, sent at the commit, so the same
    /// code serves both. What the slice held before is unspecified. Nothing reaches the server
    /// until [`commit`](Self::commit) says how many bytes were filled; a plain write in between
    /// drops the reservation.
    ///
    /// Byte pipes only: on a message pipe (a message is one write, whose length its header
    /// gives first) and on a nonblocking end (`PIPE_NOWAIT`) it is `Unsupported`, naming the
    /// pipe. A server gone is `BrokenPipe`.
    ///
    /// # Safety
    /// The slice may be shared memory that the server's process can write, and a `&mut [u8]`
    /// promises Rust that nothing else touches it while it is borrowed. pipework's reading end
    /// never writes into the ring's data, so with a pipework server at the other end (in any
    /// process) the promise holds. Call this only when the server's process is trusted to be
    /// such a reader; otherwise use [`Write::write`](std::io::Write::write). (The ring's
    /// positions are checked either way: a lying peer cannot make the slice leave the ring.)
    ///
    /// A client of a pipe on another machine (through Samba) has no in-place writes:
    /// `Unsupported`.
    pub unsafe fn reserve_in_place(&mut self) -> io::Result<&mut [u8]> {
        if self.remote.is_some() {
            return Err(super::smb::client::unsupported(
                &self.conn.what,
                "in-place writes",
            ));
        }
        self.check()?;
        let got = self.conn.reserve();
        self.seen(got, |_| false)?;
        // SAFETY: the caller vouches for the server (this function's contract).
        Ok(unsafe { self.conn.reserved() })
    }

    /// Publishes the first `n` bytes of the room the last
    /// [`reserve_in_place`](Self::reserve_in_place) lent, as a write of them would (waking a
    /// waiting server; on the socket path, sending them). `n` may be less than the room (0
    /// publishes nothing); more than was reserved, or a commit with no reservation before it,
    /// is `InvalidInput` naming the pipe.
    pub fn commit(&mut self, n: usize) -> io::Result<()> {
        if self.remote.is_some() {
            return Err(super::smb::client::unsupported(
                &self.conn.what,
                "in-place writes",
            ));
        }
        self.check()?;
        let got = self.conn.commit(n);
        self.seen(got, |_| false)
    }

    /// Writes `request` as one message and reads one reply message into `reply`
    /// (`TransactNamedPipe`). Needs message-read mode; fails with `ResourceBusy` if unread data
    /// is waiting.
    pub fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<MessageRead> {
        if let Some(remote) = self.remote.as_deref_mut() {
            return remote.transact(request, reply);
        }
        self.check()?;
        self.check_quota(request.len())?;
        let got = self.conn.transact(request, reply);
        self.seen(got, |r| *r == MessageRead::End)
    }

    /// Sends a handle to the server.
    pub fn send_handle(&mut self, handle: impl AsFd) -> io::Result<()> {
        if self.remote.is_some() {
            return Err(super::smb::client::unsupported(&self.conn.what, "handles"));
        }
        self.check()?;
        let done = self.conn.send_handle(handle.as_fd());
        self.seen(done, |_| false)
    }

    /// Receives a handle the server sent with
    /// [`NamedPipeServer::send_handle`](super::NamedPipeServer::send_handle).
    pub fn recv_handle(&mut self) -> io::Result<OwnedFd> {
        if self.remote.is_some() {
            return Err(super::smb::client::unsupported(&self.conn.what, "handles"));
        }
        self.check()?;
        let got = self.conn.recv_handle();
        self.seen(got, |_| false)
    }
}

impl Read for NamedPipeClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(remote) = self.remote.as_deref_mut() {
            return remote.read(buf);
        }
        self.check()?;
        let got = self.conn.read(buf);
        if self.offer_open && matches!(got, Ok(n) if n > 0) {
            self.settle_offer();
        }
        let asked = !buf.is_empty();
        self.seen(got, |&n| n == 0 && asked)
    }
}

impl Write for NamedPipeClient {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(remote) = self.remote.as_deref_mut() {
            return remote.write(buf);
        }
        self.check()?;
        self.check_quota(buf.len())?;
        let done = self.conn.write(buf);
        self.seen(done, |_| false)
    }

    /// Waits until the server has read everything written.
    fn flush(&mut self) -> io::Result<()> {
        if self.remote.is_some() {
            // Every write was answered: the server has the data.
            return Ok(());
        }
        self.check()?;
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
///
/// Errors as Windows gives them: `NotFound` when no such pipe exists (`ERROR_FILE_NOT_FOUND`),
/// `ResourceBusy` when every instance is still busy after `timeout` (`ERROR_PIPE_BUSY`, see
/// [`is_busy`](super::is_busy)), `BrokenPipe` when the server closes without replying.
/// [`call_into`] reads the reply into a buffer, and reports one too small for it
/// (`ERROR_MORE_DATA`).
pub fn call(name: &str, request: &[u8], timeout: WaitTimeout) -> io::Result<Vec<u8>> {
    let mut client = call_open(name, timeout)?;
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

/// Opens `name` for a `CallNamedPipe`, in message-read mode; busy after the wait stays busy.
fn call_open(name: &str, timeout: WaitTimeout) -> io::Result<NamedPipeClient> {
    let mut client = match NamedPipeClient::open(name) {
        Err(e) if super::is_busy(&e) => {
            match super::wait(name, timeout) {
                Ok(()) => {}
                // Win32's CallNamedPipe reports the pipe busy when its wait ran out.
                Err(w) if w.kind() == ErrorKind::TimedOut => return Err(e),
                Err(w) => return Err(w),
            }
            NamedPipeClient::open(name)?
        }
        other => other?,
    };
    client.set_read_mode(ReadMode::Message)?;
    Ok(client)
}

/// `CallNamedPipe` with the caller's reply buffer (`lpOutBuffer`, `nOutBufferSize`): as
/// [`call`], but the reply is read into `reply`. A reply longer than `reply` gives
/// [`MessageRead::MoreData`] (`ERROR_MORE_DATA`: the buffer holds its first part, the rest is
/// discarded as the pipe closes); a whole reply gives [`MessageRead::Complete`].
pub fn call_into(
    name: &str,
    request: &[u8],
    reply: &mut [u8],
    timeout: WaitTimeout,
) -> io::Result<MessageRead> {
    let mut client = call_open(name, timeout)?;
    client.write_message(request)?;
    match client.read_message(reply)? {
        MessageRead::End => Err(io::Error::new(
            ErrorKind::BrokenPipe,
            format!(
                "named pipe {}: the server closed without replying",
                client.conn.what
            ),
        )),
        got => Ok(got),
    }
}
