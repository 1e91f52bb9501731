//! Opening a pipe on another machine (`\\host\pipe\NAME`): a small blocking SMB2 client for
//! named pipes, to Windows, Samba (and so to pipework servers served through it), or any SMB2
//! server.
//!
//! One TCP connection per open pipe: NEGOTIATE (dialects 2.0.2 to 3.1.1, with 3.1.1's
//! pre-authentication integrity hash, SHA-512), SESSION_SETUP with
//! NTLMSSP (anonymous, or NTLMv2 with a user's password; a server may map a stranger to its
//! guest), TREE_CONNECT to `\\host\IPC$`, CREATE on the pipe's name, then READ, WRITE and the
//! pipe FSCTLs (TRANSCEIVE for `TransactNamedPipe`, PEEK, WAIT). An authenticated session signs
//! every request and checks every reply's signature (HMAC-SHA256, or AES-128-CMAC from 3.0 on,
//! its key derived from the pre-authentication hash in 3.1.1).
//! Closing the connection ends the session, the tree and the open on the server (nothing is sent
//! at drop).
//!
//! Why not the `smb` crate: its 0.12 keeps a pipe's plain read and write private, cannot say that
//! a message read stopped short ("more data", `STATUS_BUFFER_OVERFLOW`), and is async-only; a
//! pipe needs a handful of commands, written here with every length from the server checked
//! ([`wire`]).
//!
//! Credentials: [`ClientOptions::remote_user`](crate::named_pipe::ClientOptions::remote_user)
//! and its siblings, else the environment (`PIPEWORK_SMB_USER`, `PIPEWORK_SMB_PASSWORD`,
//! `PIPEWORK_SMB_DOMAIN`), else anonymous; the port likewise
//! ([`ClientOptions::remote_port`](crate::named_pipe::ClientOptions::remote_port), else
//! `PIPEWORK_SMB_PORT`, else 445). [`call`](crate::named_pipe::call) and
//! [`wait`](crate::named_pipe::wait) take them from the environment.

mod duplex;
mod ntlm;
#[cfg(test)]
mod proptests;
mod sign;
pub(crate) mod wire;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::super::{busy_error, MessageRead, PeekInfo, PipeMode, ReadMode, WaitTimeout};
use crate::name::PipeName;
use crate::named_pipe::NamedPipeClient;
#[cfg(feature = "tokio")]
pub use duplex::RemotePipeStream;
use ntlm::Identity;
use sign::Signer;
use wire::{status, Head};

/// SMB's TCP port.
pub const SMB_PORT: u16 = 445;

/// The most one READ, WRITE or TRANSCEIVE carries: 64 KiB, one credit each on every dialect.
const CHUNK: u32 = 65536;
/// The largest reply this client receives: a chunk and its headers. Anything longer is a
/// protocol error, never an allocation.
const MAX_FRAME: usize = CHUNK as usize + 4096;
/// Credits asked with each request.
const CREDITS_ASKED: u16 = 64;

/// Who a remote open logs on as, and where (part of `ClientOptions`).
#[derive(Clone, Default)]
pub(crate) struct RemoteOptions {
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) port: Option<u16>,
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "(hidden)"))
            .finish()
    }
}

impl RemoteOptions {
    /// The SMB server's port: the options', else `PIPEWORK_SMB_PORT`, else 445.
    fn port(&self) -> u16 {
        self.port
            .or_else(|| std::env::var("PIPEWORK_SMB_PORT").ok()?.parse().ok())
            .unwrap_or(SMB_PORT)
    }

    /// The identity to log on with: the options', else the environment's, else anonymous.
    fn identity(&self) -> Identity {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (user, password, domain) = match &self.user {
            Some(user) => (
                Some(user.clone()),
                self.password.clone(),
                self.domain.clone(),
            ),
            None => (
                env("PIPEWORK_SMB_USER"),
                self.password
                    .clone()
                    .or_else(|| env("PIPEWORK_SMB_PASSWORD")),
                self.domain.clone().or_else(|| env("PIPEWORK_SMB_DOMAIN")),
            ),
        };
        Identity {
            user,
            password: password.unwrap_or_default(),
            domain: domain.unwrap_or_default(),
        }
    }
}

/// The error of an NTSTATUS, with the kind a local pipe gives for the same thing.
pub(crate) fn status_error(what: &str, doing: &str, code: u32) -> io::Error {
    let kind = match code {
        status::OBJECT_NAME_NOT_FOUND
        | status::NO_SUCH_FILE
        | status::OBJECT_PATH_NOT_FOUND
        | status::NOT_FOUND
        | status::BAD_NETWORK_NAME => {
            return io::Error::new(
                ErrorKind::NotFound,
                format!("named pipe {what} does not exist (0x{code:08x} {doing})"),
            )
        }
        status::PIPE_NOT_AVAILABLE | status::INSTANCE_NOT_AVAILABLE | status::PIPE_BUSY => {
            return busy_error(&what, None)
        }
        status::ACCESS_DENIED
        | status::LOGON_FAILURE
        | status::ACCOUNT_RESTRICTION
        | status::ACCOUNT_DISABLED => ErrorKind::PermissionDenied,
        status::PIPE_BROKEN
        | status::PIPE_DISCONNECTED
        | status::PIPE_CLOSING
        | status::END_OF_FILE
        | status::CONNECTION_DISCONNECTED
        | status::CONNECTION_RESET
        | status::USER_SESSION_DELETED => ErrorKind::BrokenPipe,
        status::IO_TIMEOUT => ErrorKind::TimedOut,
        status::NOT_SUPPORTED | status::INVALID_DEVICE_REQUEST | status::FS_DRIVER_REQUIRED => {
            ErrorKind::Unsupported
        }
        status::PIPE_EMPTY => ErrorKind::WouldBlock,
        status::INVALID_PIPE_STATE => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    };
    io::Error::new(
        kind,
        format!("named pipe {what}: the server answered 0x{code:08x} to {doing}"),
    )
}

fn malformed(what: &str, e: wire::Malformed) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("named pipe {what}: {e}"))
}

/// Random bytes from the kernel.
fn random<const N: usize>() -> io::Result<[u8; N]> {
    use rustix::rand::{getrandom, GetRandomFlags};
    let mut out = [0u8; N];
    let mut got = 0;
    while got < N {
        got += crate::sys::retry(|| getrandom(&mut out[got..], GetRandomFlags::empty()))?;
    }
    Ok(out)
}

/// Now as a Windows FILETIME (100 ns since 1601).
fn filetime_now() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (since.as_secs() + 11_644_473_600) * 10_000_000 + u64::from(since.subsec_nanos() / 100)
}

/// One SMB2 connection with its session and IPC$ tree.
struct Session {
    stream: TcpStream,
    what: String,
    next_id: u64,
    credits: u32,
    session_id: u64,
    tree_id: u32,
    dialect: u16,
    signer: Option<Signer>,
    max_read: u32,
    max_write: u32,
    max_transact: u32,
    /// The last NEGOTIATE or SESSION_SETUP request, for 3.1.1's pre-authentication hash.
    last_sent: Vec<u8>,
}

/// The pre-authentication integrity hash `h` extended by message `m` (SHA-512).
fn preauth_update(h: &mut [u8; 64], m: &[u8]) {
    use sha2::{Digest, Sha512};
    let mut d = Sha512::new();
    d.update(&h[..]);
    d.update(m);
    h.copy_from_slice(&d.finalize());
}

/// A reply: its header's fields and the whole message.
struct Answer {
    head: wire::Reply,
    message: Vec<u8>,
}

impl Session {
    /// Connects to `host:port`, negotiates, logs on and connects IPC$, all before `deadline`.
    fn connect(
        host: &str,
        port: u16,
        identity: &Identity,
        what: &str,
        deadline: Option<Instant>,
    ) -> io::Result<Session> {
        let named = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("named pipe {what}: connecting to {host} port {port}: {e}"),
            )
        };
        let addrs: Vec<_> = (host, port).to_socket_addrs().map_err(named)?.collect();
        let mut last = io::Error::new(ErrorKind::NotFound, "the host has no address");
        let mut stream = None;
        for addr in addrs {
            let attempt = match left(deadline) {
                Some(t) => TcpStream::connect_timeout(&addr, t),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| named(last))?;
        stream.set_nodelay(true)?;
        // A server that vanishes without a word (power lost, cable pulled) must not leave a
        // reader waiting forever: the kernel probes an idle connection and fails it after about
        // two minutes of silence.
        keep_alive(&stream).map_err(|e| named(e.into()))?;
        let mut s = Session {
            stream,
            what: what.to_string(),
            next_id: 0,
            credits: 1,
            session_id: 0,
            tree_id: 0,
            dialect: 0,
            signer: None,
            max_read: CHUNK,
            max_write: CHUNK,
            max_transact: CHUNK,
            last_sent: Vec::new(),
        };
        s.set_deadline(deadline)?;
        s.negotiate_and_log_on(identity, host)?;
        Ok(s)
    }

    /// Bounds every socket read and write by `deadline` (none: no bound).
    fn set_deadline(&self, deadline: Option<Instant>) -> io::Result<()> {
        let t = left(deadline).map(|l| l.max(Duration::from_millis(1)));
        self.stream.set_read_timeout(t)?;
        self.stream.set_write_timeout(t)
    }

    fn negotiate_and_log_on(&mut self, identity: &Identity, host: &str) -> io::Result<()> {
        let what = self.what.clone();
        let guid = random::<16>()?;
        let request = wire::negotiate(&guid, false, &random::<32>()?);
        let id = self.send(wire::NEGOTIATE, &request)?;
        let sent = std::mem::take(&mut self.last_sent);
        let a = self.receive(id)?;
        let a = self.checked(a, wire::NEGOTIATE, "NEGOTIATE", &[])?;
        let n = wire::negotiated(&a.message).map_err(|e| malformed(&what, e))?;
        self.dialect = n.dialect;
        // 3.1.1: every message of the negotiation and of the session's setup, but the last
        // reply, goes into the hash its keys are derived from.
        let mut preauth = None;
        if n.dialect == wire::SMB311 {
            if !wire::preauth_sha512(&a.message).map_err(|e| malformed(&what, e))? {
                return Err(malformed(
                    &what,
                    wire::Malformed("3.1.1 without SHA-512 pre-authentication integrity"),
                ));
            }
            let mut h = [0u8; 64];
            preauth_update(&mut h, &sent);
            preauth_update(&mut h, &a.message);
            preauth = Some(h);
        }
        self.max_read = n.max_read.clamp(1, CHUNK);
        self.max_write = n.max_write.clamp(1, CHUNK);
        self.max_transact = n.max_transact.clamp(1, CHUNK);

        // NTLMSSP: NEGOTIATE, CHALLENGE, AUTHENTICATE.
        let id = self.send(
            wire::SESSION_SETUP,
            &wire::session_setup(&ntlm::negotiate(), false),
        )?;
        let sent = std::mem::take(&mut self.last_sent);
        let a = self.receive(id)?;
        let a = self.checked(
            a,
            wire::SESSION_SETUP,
            "SESSION_SETUP",
            &[status::MORE_PROCESSING_REQUIRED],
        )?;
        if let Some(h) = &mut preauth {
            preauth_update(h, &sent);
            preauth_update(h, &a.message);
        }
        self.session_id = a.head.session_id;
        let (_, token) = wire::session_reply(&a.message).map_err(|e| malformed(&what, e))?;
        let challenge = ntlm::challenge(token).map_err(|e| malformed(&what, e))?;
        let (auth, key) = ntlm::authenticate(identity, &challenge, random::<8>()?, filetime_now());
        let id = self.send(wire::SESSION_SETUP, &wire::session_setup(&auth, false))?;
        let sent = std::mem::take(&mut self.last_sent);
        if let Some(h) = &mut preauth {
            preauth_update(h, &sent);
        }
        let h = preauth.unwrap_or([0; 64]);
        // The final reply is checked with the key if the server signed it (3.1.1: it must).
        self.signer = key.map(|k| Signer::new(self.dialect, k, &h));
        let a = self
            .receive(id)
            .and_then(|a| self.checked(a, wire::SESSION_SETUP, "SESSION_SETUP", &[]));
        let a = match a {
            Ok(a) => a,
            Err(e) => {
                self.signer = None;
                return Err(e);
            }
        };
        let (flags, _) = wire::session_reply(&a.message).map_err(|e| malformed(&what, e))?;
        let keyless = flags & (wire::SESSION_GUEST | wire::SESSION_NULL) != 0;
        if let Some(signer) = &self.signer {
            // Before 3.1.1 the server may leave it unsigned; from 3.1.1 on it signs it.
            let signed = a.head.flags & wire::FLAG_SIGNED != 0;
            let must = self.dialect >= wire::SMB311 && !keyless;
            if (signed || must) && !keyless && !signer.verify(&a.message) {
                self.signer = None;
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("named pipe {what}: the log-on reply's signature is missing or wrong"),
                ));
            }
        }
        if flags & wire::SESSION_ENCRYPT != 0 {
            return Err(io::Error::new(
                ErrorKind::Unsupported,
                format!("named pipe {what}: the server requires encryption (not supported)"),
            ));
        }
        if keyless {
            // A guest or anonymous session has no key to sign with.
            if n.signing_required && identity.user.is_some() {
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "named pipe {what}: the server took this user as its guest and requires \
                         signing, which a guest session cannot do"
                    ),
                ));
            }
            self.signer = None;
        }
        let tree = format!(r"\\{host}\IPC$");
        let a = self.call(
            wire::TREE_CONNECT,
            &wire::tree_connect(&tree),
            "TREE_CONNECT",
        )?;
        let (_, share_flags) = wire::tree_reply(&a.message).map_err(|e| malformed(&what, e))?;
        if share_flags & wire::SHARE_ENCRYPT != 0 {
            return Err(io::Error::new(
                ErrorKind::Unsupported,
                format!("named pipe {what}: IPC$ requires encryption (not supported)"),
            ));
        }
        self.tree_id = a.head.tree_id;
        Ok(())
    }

    /// Sends a request and returns its reply if its status is success.
    fn call(&mut self, command: u16, body: &[u8], doing: &str) -> io::Result<Answer> {
        self.call_status(command, body, doing, &[])
    }

    /// Sends a request and returns its reply if its status is success or one of `also`; other
    /// statuses are errors ([`status_error`]).
    fn call_status(
        &mut self,
        command: u16,
        body: &[u8],
        doing: &str,
        also: &[u32],
    ) -> io::Result<Answer> {
        let id = self.send(command, body)?;
        let a = self.receive(id)?;
        self.checked(a, command, doing, also)
    }

    /// `a` if it answers `command` with success or one of `also`.
    fn checked(&self, a: Answer, command: u16, doing: &str, also: &[u32]) -> io::Result<Answer> {
        if a.head.command != command {
            return Err(malformed(
                &self.what,
                wire::Malformed("a reply to another command"),
            ));
        }
        if a.head.status == status::SUCCESS || also.contains(&a.head.status) {
            Ok(a)
        } else {
            Err(status_error(&self.what, doing, a.head.status))
        }
    }

    fn send(&mut self, command: u16, body: &[u8]) -> io::Result<u64> {
        if self.credits == 0 {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "named pipe {}: the server granted no credit to send with",
                    self.what
                ),
            ));
        }
        let id = self.next_id;
        let head = Head {
            command,
            // 2.0.2 has no credit charge; one credit covers up to 64 KiB.
            credit_charge: u16::from(self.dialect != 0x0202 && self.dialect != 0),
            credit_request: CREDITS_ASKED,
            message_id: id,
            tree_id: self.tree_id,
            session_id: self.session_id,
        };
        let mut m = wire::request(&head, body);
        if let Some(signer) = &self.signer {
            if command != wire::NEGOTIATE && command != wire::SESSION_SETUP {
                signer.sign(&mut m);
            }
        }
        if command == wire::NEGOTIATE || command == wire::SESSION_SETUP {
            self.last_sent = m.clone();
        }
        let len = m.len() as u32;
        let mut frame = Vec::with_capacity(4 + m.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&m);
        self.stream.write_all(&frame).map_err(|e| self.io(e))?;
        self.next_id += 1;
        self.credits -= 1;
        Ok(id)
    }

    fn io(&self, e: io::Error) -> io::Error {
        let kind = match e.kind() {
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset => ErrorKind::BrokenPipe,
            ErrorKind::WouldBlock => ErrorKind::TimedOut,
            k => k,
        };
        io::Error::new(
            kind,
            format!("named pipe {}: the SMB connection: {e}", self.what),
        )
    }

    /// One SMB2 message from the connection, at most [`MAX_FRAME`] bytes.
    fn frame(&mut self) -> io::Result<Vec<u8>> {
        let mut head = [0u8; 4];
        self.stream.read_exact(&mut head).map_err(|e| self.io(e))?;
        let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
        if head[0] != 0 || len > MAX_FRAME {
            return Err(malformed(
                &self.what,
                wire::Malformed("a frame longer than anything asked for"),
            ));
        }
        let mut m = vec![0u8; len];
        self.stream.read_exact(&mut m).map_err(|e| self.io(e))?;
        Ok(m)
    }

    /// The final reply to request `id` (interim "pending" replies and unsolicited messages
    /// passed over), its signature checked when the session signs.
    fn receive(&mut self, id: u64) -> io::Result<Answer> {
        loop {
            let m = self.frame()?;
            let head = wire::reply(&m).map_err(|e| malformed(&self.what, e))?;
            if head.message_id != id {
                // An oplock break or another unsolicited message: not ours to answer.
                continue;
            }
            self.credits = self
                .credits
                .saturating_add(u32::from(head.credits))
                .min(u32::from(u16::MAX));
            if head.status == status::PENDING && head.flags & wire::FLAG_ASYNC != 0 {
                continue;
            }
            if let Some(signer) = &self.signer {
                // SESSION_SETUP's last reply is checked by the log-on, which knows whether the
                // session turned out a guest's (no key).
                if head.command != wire::SESSION_SETUP && !signer.verify(&m) {
                    return Err(io::Error::new(
                        ErrorKind::InvalidData,
                        format!(
                            "named pipe {}: a reply's signature is missing or wrong",
                            self.what
                        ),
                    ));
                }
            }
            return Ok(Answer { head, message: m });
        }
    }
}

/// How long is left until `deadline` (`None`: no limit).
fn left(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// The name the SMB server knows the pipe by, and the host: `\\host\pipe\NAME`.
fn parts(name: &PipeName) -> io::Result<(&str, &str)> {
    match name.server() {
        Some(host) => Ok((host, name.name())),
        None => Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("named pipe {name} is not on another machine"),
        )),
    }
}

/// A pipe opened on another machine.
pub(crate) struct RemotePipe {
    session: Session,
    file: [u8; 16],
    pipe_mode: Option<PipeMode>,
    read_mode: ReadMode,
    /// A read or transaction stopped short: the pipe carries messages.
    seen_message: bool,
    /// What the last READ brought and the caller has not taken yet (`pending[taken..]`): a
    /// READ always asks for a whole chunk, so a message up to a chunk arrives whole and the
    /// caller's smaller buffer gets "more data" here (Samba never answers a READ with
    /// STATUS_BUFFER_OVERFLOW; Windows does, for messages beyond the chunk).
    pending: Vec<u8>,
    taken: usize,
    /// The server said the message goes on after `pending`.
    pending_more: bool,
}

impl std::fmt::Debug for RemotePipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemotePipe")
            .field("name", &self.session.what)
            .field("dialect", &format_args!("{:#06x}", self.session.dialect))
            .field("signed", &self.session.signer.is_some())
            .finish()
    }
}

impl RemotePipe {
    /// Opens `name` (`\\host\pipe\NAME`) for reading and/or writing; while every instance is busy
    /// and `wait` asks, waits (`FSCTL_PIPE_WAIT`) and tries again until `deadline`.
    pub(crate) fn open(
        name: &PipeName,
        options: &RemoteOptions,
        (read, write): (bool, bool),
        wait: bool,
        deadline: Option<Instant>,
    ) -> io::Result<RemotePipe> {
        let (host, pipe) = parts(name)?;
        let what = name.to_string();
        let port = options.port();
        let mut session = Session::connect(host, port, &options.identity(), &what, deadline)?;
        let mut access = 0;
        if read {
            access |= wire::GENERIC_READ;
        }
        if write {
            access |= wire::GENERIC_WRITE;
        }
        loop {
            match session.call(wire::CREATE, &wire::create(pipe, access), "CREATE") {
                Ok(a) => {
                    let file = wire::created(&a.message).map_err(|e| malformed(&what, e))?;
                    let mut p = RemotePipe {
                        session,
                        file,
                        pipe_mode: None,
                        read_mode: ReadMode::Byte,
                        seen_message: false,
                        pending: Vec::new(),
                        taken: 0,
                        pending_more: false,
                    };
                    // Windows tells the pipe's type; Samba does not (then the client's read mode says it).
                    p.pipe_mode = p.query_mode().ok();
                    p.session.set_deadline(None)?;
                    return Ok(p);
                }
                Err(e) if super::super::is_busy(&e) && wait => {
                    if left(deadline).is_some_and(|l| l.is_zero()) {
                        return Err(e);
                    }
                    match session.pipe_wait(pipe, deadline) {
                        Ok(()) => {}
                        Err(w) if w.kind() == ErrorKind::Unsupported => {
                            // No FSCTL_PIPE_WAIT on this server: try again in a moment.
                            let pause = Duration::from_millis(20);
                            std::thread::sleep(left(deadline).map_or(pause, |l| l.min(pause)));
                        }
                        Err(w) if w.kind() == ErrorKind::TimedOut => return Err(e),
                        Err(w) => return Err(w),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The pipe's type, as the server reports it (FilePipeLocalInformation).
    fn query_mode(&mut self) -> io::Result<PipeMode> {
        let max = 40;
        let a = self.session.call(
            wire::QUERY_INFO,
            &wire::query_info(&self.file, 24, max),
            "QUERY_INFO",
        )?;
        let info = wire::info_reply(&a.message, max as usize)
            .map_err(|e| malformed(&self.session.what, e))?;
        let message = wire::pipe_is_message(info).map_err(|e| malformed(&self.session.what, e))?;
        Ok(if message {
            PipeMode::Message
        } else {
            PipeMode::Byte
        })
    }

    /// The name, as `\\host\pipe\NAME`.
    pub(crate) fn what(&self) -> &str {
        &self.session.what
    }

    /// The pipe's type when the server told it (Windows does, Samba does not); otherwise a
    /// message pipe once message-read mode was asked or a read stopped short, else a byte pipe.
    pub(crate) fn pipe_mode(&self) -> PipeMode {
        match self.pipe_mode {
            Some(mode) => mode,
            None if self.read_mode == ReadMode::Message || self.seen_message => PipeMode::Message,
            None => PipeMode::Byte,
        }
    }

    /// The session's dialect and signing.
    fn session_info(&self) -> RemoteSession {
        RemoteSession {
            dialect: self.session.dialect,
            signed: self.session.signer.is_some(),
        }
    }

    pub(crate) fn set_read_mode(&mut self, mode: ReadMode) -> io::Result<()> {
        if mode == ReadMode::Message && self.pipe_mode == Some(PipeMode::Byte) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "named pipe {}: message-read mode on a byte pipe",
                    self.session.what
                ),
            ));
        }
        self.read_mode = mode;
        Ok(())
    }

    /// Fills `pending` with one READ of a whole chunk unless it holds something; `false` at the
    /// end of the pipe.
    fn fill(&mut self) -> io::Result<bool> {
        if self.taken < self.pending.len() {
            return Ok(true);
        }
        let len = self.session.max_read;
        let a = self.session.call_status(
            wire::READ,
            &wire::read(&self.file, len),
            "READ",
            &[
                status::BUFFER_OVERFLOW,
                status::END_OF_FILE,
                status::PIPE_BROKEN,
                status::PIPE_DISCONNECTED,
                status::PIPE_CLOSING,
                status::CONNECTION_DISCONNECTED,
            ],
        )?;
        let more = match a.head.status {
            status::SUCCESS => false,
            status::BUFFER_OVERFLOW => {
                self.seen_message = true;
                true
            }
            _ => return Ok(false),
        };
        let data = wire::read_reply(&a.message, len as usize)
            .map_err(|e| malformed(&self.session.what, e))?;
        self.pending.clear();
        self.pending.extend_from_slice(data);
        self.taken = 0;
        self.pending_more = more;
        Ok(true)
    }

    /// Up to `buf.len()` bytes of the current message: how many, and how many more of it are
    /// known to follow (`None`: the message ends here); `None` at the end of the pipe.
    fn take(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<u64>)>> {
        if !self.fill()? {
            return Ok(None);
        }
        let rest = &self.pending[self.taken..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.taken += n;
        let left = (self.pending.len() - self.taken) as u64;
        if left > 0 || self.pending_more {
            self.seen_message |= left > 0;
            Ok(Some((n, Some(left))))
        } else {
            Ok(Some((n, None)))
        }
    }

    /// `Read::read`: in byte-read mode a message's parts read as a stream; 0 at the end.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(self.take(buf)?.map_or(0, |(n, _)| n))
    }

    /// `ReadFile` in message-read mode. `left` of "more data" counts what this client holds
    /// of the message; beyond a chunk the server tells only that more follows (then it is a
    /// lower bound).
    pub(crate) fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        Ok(match self.take(buf)? {
            None => MessageRead::End,
            Some((n, None)) => MessageRead::Complete(n),
            Some((read, Some(left))) => MessageRead::MoreData { read, left },
        })
    }

    /// One whole message appended to `out`.
    pub(crate) fn read_message_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<MessageRead> {
        let start = out.len();
        loop {
            if !self.fill()? {
                if out.len() == start {
                    return Ok(MessageRead::End);
                }
                return Err(io::Error::new(
                    ErrorKind::BrokenPipe,
                    format!(
                        "named pipe {}: the pipe ended in the middle of a message",
                        self.session.what
                    ),
                ));
            }
            out.extend_from_slice(&self.pending[self.taken..]);
            self.taken = self.pending.len();
            if !self.pending_more {
                return Ok(MessageRead::Complete(out.len() - start));
            }
        }
    }

    fn message_too_long(&self, len: usize) -> io::Error {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "named pipe {}: a message of {len} bytes; one to a remote pipe holds at most {}",
                self.session.what, self.session.max_write
            ),
        )
    }

    /// One WRITE: how many bytes the server took.
    fn write_once(&mut self, data: &[u8]) -> io::Result<usize> {
        let a = self
            .session
            .call(wire::WRITE, &wire::write(&self.file, data), "WRITE")?;
        let n = wire::written(&a.message).map_err(|e| malformed(&self.session.what, e))? as usize;
        if n > data.len() {
            return Err(malformed(
                &self.session.what,
                wire::Malformed("more written than sent"),
            ));
        }
        Ok(n)
    }

    /// `Write::write`: up to a chunk.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(self.session.max_write as usize);
        self.write_once(&buf[..n])
    }

    /// One message (on a byte pipe: all the bytes).
    pub(crate) fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        if self.pipe_mode == Some(PipeMode::Byte) {
            let mut at = 0;
            while at < message.len() {
                at += self.write(&message[at..])?;
            }
            return Ok(());
        }
        if message.len() > self.session.max_write as usize {
            return Err(self.message_too_long(message.len()));
        }
        let n = self.write_once(message)?;
        if n != message.len() {
            return Err(io::Error::new(
                ErrorKind::WriteZero,
                format!(
                    "named pipe {}: the server took {n} of the message's {} bytes",
                    self.session.what,
                    message.len()
                ),
            ));
        }
        Ok(())
    }

    /// `TransactNamedPipe`: FSCTL_PIPE_TRANSCEIVE.
    pub(crate) fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<MessageRead> {
        if self.read_mode != ReadMode::Message {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "named pipe {}: a transaction needs message-read mode",
                    self.session.what
                ),
            ));
        }
        if request.len() > self.session.max_transact as usize {
            return Err(self.message_too_long(request.len()));
        }
        let max = (reply.len() as u64).min(u64::from(self.session.max_transact)) as u32;
        let a = self.session.call_status(
            wire::IOCTL,
            &wire::ioctl(&self.file, wire::FSCTL_PIPE_TRANSCEIVE, request, max),
            "FSCTL_PIPE_TRANSCEIVE",
            &[status::BUFFER_OVERFLOW],
        )?;
        let out = wire::ioctl_reply(&a.message, max as usize)
            .map_err(|e| malformed(&self.session.what, e))?;
        let n = out.len();
        reply[..n].copy_from_slice(out);
        if a.head.status == status::BUFFER_OVERFLOW {
            // The rest of the reply is read with READs: it is taken here, so that "left" is
            // exact for a reply up to a chunk.
            self.seen_message = true;
            self.pending.clear();
            self.taken = 0;
            self.pending_more = false;
            let left = match self.take(&mut [])? {
                Some((_, Some(left))) => left,
                _ => 0,
            };
            Ok(MessageRead::MoreData { read: n, left })
        } else {
            Ok(MessageRead::Complete(n))
        }
    }

    /// `PeekNamedPipe`: FSCTL_PIPE_PEEK.
    pub(crate) fn peek(&mut self, buf: &mut [u8]) -> io::Result<PeekInfo> {
        if self.taken < self.pending.len() {
            // Part of a message is here already: that is what a read gets next.
            let rest = &self.pending[self.taken..];
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            let message = self.pipe_mode() == PipeMode::Message;
            return Ok(PeekInfo {
                read: n,
                available: rest.len() as u64,
                left_in_message: if message { (rest.len() - n) as u64 } else { 0 },
            });
        }
        let room = buf
            .len()
            .min((self.session.max_transact as usize).saturating_sub(16));
        let max = (16 + room) as u32;
        let a = self.session.call_status(
            wire::IOCTL,
            &wire::ioctl(&self.file, wire::FSCTL_PIPE_PEEK, &[], max),
            "FSCTL_PIPE_PEEK",
            &[status::BUFFER_OVERFLOW],
        )?;
        let out = wire::ioctl_reply(&a.message, max as usize)
            .map_err(|e| malformed(&self.session.what, e))?;
        let p = wire::peeked(out).map_err(|e| malformed(&self.session.what, e))?;
        let n = p.data.len().min(buf.len());
        buf[..n].copy_from_slice(&p.data[..n]);
        let left_in_message = if self.pipe_mode() == PipeMode::Message {
            u64::from(p.message_len).saturating_sub(n as u64)
        } else {
            0
        };
        Ok(PeekInfo {
            read: n,
            available: u64::from(p.available),
            left_in_message,
        })
    }
}

impl Session {
    /// `WaitNamedPipe` on this connection's IPC$: FSCTL_PIPE_WAIT until `deadline`.
    fn pipe_wait(&mut self, pipe: &str, deadline: Option<Instant>) -> io::Result<()> {
        let timeout =
            left(deadline).map(|l| i64::try_from(l.as_nanos() / 100).unwrap_or(i64::MAX).max(1));
        // The server answers when the pipe is free or the time is up: the socket's own bound
        // must not end the wait first.
        self.set_deadline(deadline.map(|d| d + Duration::from_secs(5)))?;
        let result = self.call(
            wire::IOCTL,
            &wire::ioctl(
                &wire::NO_FILE,
                wire::FSCTL_PIPE_WAIT,
                &wire::pipe_wait(pipe, timeout),
                0,
            ),
            "FSCTL_PIPE_WAIT",
        );
        self.set_deadline(deadline)?;
        result.map(|_| ())
    }
}

/// `WaitNamedPipe` for a pipe on another machine: connects, logs on as the environment says
/// (see the module docs), and waits there.
pub(crate) fn wait(name: &PipeName, timeout: WaitTimeout) -> io::Result<()> {
    let (host, pipe) = parts(name)?;
    let deadline = match timeout {
        WaitTimeout::Forever => None,
        WaitTimeout::After(d) => crate::sys::time::deadline(d),
        WaitTimeout::Default => crate::sys::time::deadline(Duration::from_millis(50)),
    };
    let options = RemoteOptions::default();
    let what = name.to_string();
    let port = options.port();
    let connect_deadline =
        deadline.or_else(|| crate::sys::time::deadline(super::super::OPEN_TIMEOUT));
    let mut session = Session::connect(host, port, &options.identity(), &what, connect_deadline)?;
    match session.pipe_wait(pipe, deadline) {
        // Samba 4.17 has no FSCTL_PIPE_WAIT (STATUS_FS_DRIVER_REQUIRED): it cannot say
        // whether the pipe exists without opening it, and an open would be taken by the
        // server as a client. Its opens wait for a free instance anyway: nothing to wait for.
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(()),
        other => other,
    }
}

impl RemotePipe {
    /// Closes the pipe and logs off, telling the server (dropping only closes the connection,
    /// which the server takes the same way).
    fn close(mut self) -> io::Result<()> {
        self.session
            .set_deadline(crate::sys::time::deadline(Duration::from_secs(5)))?;
        self.session
            .call(wire::CLOSE, &wire::close(&self.file), "CLOSE")?;
        self.session.call(wire::LOGOFF, &wire::logoff(), "LOGOFF")?;
        Ok(())
    }
}

impl RemotePipe {
    /// The SMB connection's socket.
    pub(crate) fn socket(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.session.stream.as_fd()
    }
}

/// What a pipe on another machine cannot do.
pub(crate) fn unsupported(what: &str, thing: &str) -> io::Error {
    io::Error::new(
        ErrorKind::Unsupported,
        format!("named pipe {what}: {thing} do not travel over SMB"),
    )
}

impl crate::named_pipe::ClientOptions {
    /// The user to log on as when the pipe is on another machine (`\\host\pipe\NAME`), with
    /// NTLMv2; without it, `PIPEWORK_SMB_USER` from the environment, else anonymous. A server
    /// may take an unknown user as its guest.
    pub fn remote_user(&mut self, user: impl Into<String>) -> &mut Self {
        self.remote.user = Some(user.into());
        self
    }

    /// The password of [`remote_user`](Self::remote_user) (else `PIPEWORK_SMB_PASSWORD`).
    pub fn remote_password(&mut self, password: impl Into<String>) -> &mut Self {
        self.remote.password = Some(password.into());
        self
    }

    /// The domain (or workgroup) of [`remote_user`](Self::remote_user) (else
    /// `PIPEWORK_SMB_DOMAIN`, else none).
    pub fn remote_domain(&mut self, domain: impl Into<String>) -> &mut Self {
        self.remote.domain = Some(domain.into());
        self
    }

    /// The TCP port of the SMB server (default [`SMB_PORT`], 445).
    pub fn remote_port(&mut self, port: u16) -> &mut Self {
        self.remote.port = Some(port);
        self
    }
}

/// What [`NamedPipeClient::remote_session`] tells of the SMB session under a remote pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteSession {
    /// The SMB dialect negotiated: 0x0202, 0x0210, 0x0300 or 0x0302.
    pub dialect: u16,
    /// Whether every request is signed and every reply's signature checked (an authenticated
    /// session; anonymous and guest sessions have no key to sign with).
    pub signed: bool,
}

impl NamedPipeClient {
    /// The SMB session of a pipe on another machine; `None` for a local pipe.
    pub fn remote_session(&self) -> Option<RemoteSession> {
        self.remote.as_deref().map(RemotePipe::session_info)
    }

    /// Closes a pipe on another machine and logs off, waiting (at most 5 s) for the server to
    /// answer both; dropping the client only closes the connection, which a server takes the
    /// same way. A local pipe is simply closed.
    pub fn close_remote(mut self) -> io::Result<()> {
        match self.remote.take() {
            Some(remote) => remote.close(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server on loopback that reads the client's first frame and answers `answer`, then
    /// closes; what the client's connect gives.
    fn against(answer: Vec<u8>) -> io::Error {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = [0u8; 4];
            s.read_exact(&mut head).unwrap();
            let mut rest = vec![0u8; u32::from_be_bytes(head) as usize];
            s.read_exact(&mut rest).unwrap();
            let _ = s.write_all(&answer);
        });
        let deadline = crate::sys::time::deadline(Duration::from_secs(10));
        let e = Session::connect(
            "127.0.0.1",
            port,
            &Identity::default(),
            r"\\127.0.0.1\pipe\x",
            deadline,
        )
        .err()
        .expect("a hostile server is refused");
        server.join().unwrap();
        e
    }

    fn frame(m: &[u8]) -> Vec<u8> {
        let mut f = (m.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(m);
        f
    }

    #[test]
    fn a_hostile_server_is_refused_without_allocating_its_lengths() {
        // A frame announcing 16 MiB: refused before a byte of it is read.
        let e = against(vec![0, 0xff, 0xff, 0xff, 1, 2, 3]);
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
        // Not SMB2 at all.
        let e = against(frame(b"\xffSMBrest of an SMB1 reply"));
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
        // A negotiate reply cut short.
        let mut m = wire::request(
            &Head {
                command: wire::NEGOTIATE,
                credit_charge: 0,
                credit_request: 1,
                message_id: 0,
                tree_id: 0,
                session_id: 0,
            },
            &[65, 0, 0, 0],
        );
        m[16] |= wire::FLAG_RESPONSE as u8;
        let e = against(frame(&m));
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
        // Closed in the middle of a frame.
        let e = against(vec![0, 0, 1, 0, 0xfe]);
        assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
        assert!(e.to_string().contains(r"\\127.0.0.1\pipe\x"), "{e}");
    }

    #[test]
    fn statuses_map_to_the_local_kinds() {
        let what = r"\\h\pipe\jobs";
        let kind = |code| status_error(what, "CREATE", code).kind();
        assert_eq!(kind(status::OBJECT_NAME_NOT_FOUND), ErrorKind::NotFound);
        assert_eq!(kind(status::PIPE_NOT_AVAILABLE), ErrorKind::ResourceBusy);
        assert_eq!(kind(status::ACCESS_DENIED), ErrorKind::PermissionDenied);
        assert_eq!(kind(status::LOGON_FAILURE), ErrorKind::PermissionDenied);
        assert_eq!(kind(status::PIPE_BROKEN), ErrorKind::BrokenPipe);
        assert_eq!(kind(status::PIPE_DISCONNECTED), ErrorKind::BrokenPipe);
        assert_eq!(kind(status::PIPE_CLOSING), ErrorKind::BrokenPipe);
        assert_eq!(kind(status::CONNECTION_RESET), ErrorKind::BrokenPipe);
        assert!(status_error(what, "CREATE", 0xC000_0001)
            .to_string()
            .contains("jobs"));
    }
}

/// TCP keepalive on an SMB connection: first probe after 60 s idle, then every 10 s, given up
/// after 6 unanswered probes.
fn keep_alive(stream: &TcpStream) -> rustix::io::Result<()> {
    use rustix::net::sockopt;
    sockopt::set_socket_keepalive(stream, true)?;
    sockopt::set_tcp_keepidle(stream, Duration::from_secs(60))?;
    sockopt::set_tcp_keepintvl(stream, Duration::from_secs(10))?;
    sockopt::set_tcp_keepcnt(stream, 6)
}

#[cfg(test)]
mod keep_alive_tests {
    use super::*;

    /// Every SMB connection is probed when idle, so a silent dead server ends its waits.
    #[test]
    fn an_smb_connection_is_kept_alive() {
        use rustix::net::sockopt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        keep_alive(&stream).unwrap();
        assert!(sockopt::socket_keepalive(&stream).unwrap());
        assert_eq!(
            sockopt::tcp_keepidle(&stream).unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            sockopt::tcp_keepintvl(&stream).unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(sockopt::tcp_keepcnt(&stream).unwrap(), 6);
    }
}
