//! Named pipes across machines, through Samba: a pipework server reached as
//! `\\thishost\pipe\NAME` by any SMB client (Windows, Samba's tools, impacket).
//!
//! smbd hands each open of `\pipe\NAME` on the IPC$ share to the Unix stream socket
//! `<socket_dir>/np/<lower-cased NAME>` (smb.conf's `external_rpc_pipe:socket_dir`, by default
//! its `ncalrpc dir`), starting with the named-pipe-auth handshake ([`npa`]): who the client is,
//! then the pipe's type in the reply. After it the socket carries the pipe's data: raw on a byte
//! pipe, each message behind a 2-byte little-endian length on a message pipe.
//!
//! A server created with [`ServerOptions::reject_remote_clients`]`(false)` (or
//! [`ServerOptions::remote_socket_dir`]) binds that socket once per process and pipe name,
//! shared by the process's instances of the pipe. An instance in `connect` waits on its own
//! local socket and on the shared one; whichever client comes first is admitted, so a remote
//! client takes an instance as a local one does, and the instance stops listening locally.
//!
//! Trust: the socket is the server user's, mode 0600, in a directory only its owner (root or
//! the server's user) can write; smbd connects as root. A connection is believed only when its
//! peer (`SO_PEERCRED`) is root: anyone else could claim any user in the handshake, and is
//! turned away before a byte is read. The identity smbd passes is what its authentication
//! established ([`NamedPipeServer::remote_client`]); [`NamedPipeServer::client`] is `None` for
//! such a client (its process would be smbd's, as root: never a credential to act on).
//!
//! Where it differs from Win32: while every instance in the process is busy, smbd's open waits
//! in the socket's queue until an instance calls `connect` (Win32 answers `ERROR_PIPE_BUSY`);
//! a message to a remote client holds 1 to 65535 bytes (Samba's frame); handles do not travel.

pub(crate) mod client;
pub(crate) mod npa;
#[cfg(test)]
mod proptests;

pub use npa::{RemoteClient, Sid};

use std::fs;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{
    accept_with, bind, connect, listen, sockopt, RecvFlags, SocketAddrUnix, SocketFlags,
};

use super::conn::Conn;
use super::framing::Framer;
use super::{NamedPipeServer, PipeMode, ServerOptions};
use crate::name::PipeName;

/// Where smbd looks for pipe sockets when smb.conf sets neither `external_rpc_pipe:socket_dir`
/// nor `ncalrpc dir` (Debian's and Samba's default build).
pub const SAMBA_SOCKET_DIR: &str = "/run/samba/ncalrpc";

/// How long smbd has to send its whole handshake once connected (it sends it at once).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Opens waiting for an instance: smbd's connect blocks while the queue is full.
const BACKLOG: i32 = 64;
/// The allocation size the reply reports (Windows reports the pipe's buffer).
const ALLOCATION_SIZE: u64 = 4096;

/// The remote-serving part of [`ServerOptions`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    socket_dir: Option<PathBuf>,
}

impl ServerOptions {
    /// Serves clients on other machines too, through Samba, with smbd's socket directory `dir`
    /// (smb.conf's `external_rpc_pipe:socket_dir`, or its `ncalrpc dir`; default
    /// [`SAMBA_SOCKET_DIR`]): implies [`reject_remote_clients`](Self::reject_remote_clients)
    /// `(false)`. See [`NamedPipeServer::remote_client`] for who connected.
    pub fn remote_socket_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.smb.socket_dir = Some(dir.into());
        self.reject_remote_clients(false)
    }
}

impl NamedPipeServer {
    /// The client on another machine connected through Samba, as smbd authenticated it (user,
    /// domain, SIDs, address); `None` for a local client or none. Serve such clients with
    /// [`ServerOptions::reject_remote_clients`]`(false)`.
    pub fn remote_client(&self) -> Option<&RemoteClient> {
        self.smb.peer.as_deref()
    }

    /// The socket smbd connects to for this pipe, when it serves remote clients.
    pub fn remote_socket_path(&self) -> Option<&Path> {
        self.smb.listener.as_deref().map(|l| l.path.as_path())
    }
}

/// The remote-serving part of one instance: the process's shared socket for this pipe, and the
/// remote client connected now.
#[derive(Debug, Default)]
pub(crate) struct Instance {
    listener: Option<Arc<Listener>>,
    /// Boxed: an instance stays small while no remote client is connected.
    pub(crate) peer: Option<Box<RemoteClient>>,
}

/// A bound and listening `np/<name>` socket, removed when its last instance goes.
#[derive(Debug)]
struct Listener {
    fd: OwnedFd,
    path: PathBuf,
    /// Device and inode of the socket file this process bound: only that file is removed.
    id: (u64, u64),
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Ok(meta) = fs::symlink_metadata(&self.path) {
            if (meta.dev(), meta.ino()) == self.id {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

/// This process's remote sockets, by path: instances of one pipe share one.
static LISTENERS: Mutex<Vec<(PathBuf, Weak<Listener>)>> = Mutex::new(Vec::new());

fn named(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("named pipe {what} (through Samba): {e}"))
}

impl Instance {
    /// The remote part of a new instance of `name`: nothing when remote clients are rejected.
    pub(crate) fn start(options: &Options, reject: bool, name: &PipeName) -> io::Result<Instance> {
        if reject {
            return Ok(Instance::default());
        }
        let what = name.to_string();
        let dir = options
            .socket_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(SAMBA_SOCKET_DIR));
        let file = socket_file_name(name.name()).map_err(|e| named(&what, e))?;
        let path = np_dir(&dir).map_err(|e| named(&what, e))?.join(file);
        let mut all = LISTENERS.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|(_, l)| l.strong_count() > 0);
        if let Some(l) = all
            .iter()
            .find(|(p, _)| *p == path)
            .and_then(|(_, l)| l.upgrade())
        {
            return Ok(Instance {
                listener: Some(l),
                peer: None,
            });
        }
        let listener = Arc::new(bind_listener(&path).map_err(|e| named(&what, e))?);
        all.push((path, Arc::downgrade(&listener)));
        Ok(Instance {
            listener: Some(listener),
            peer: None,
        })
    }

    /// Whether this instance serves remote clients.
    pub(crate) fn serving(&self) -> bool {
        self.listener.is_some()
    }

    /// The shared socket, to wait for readiness on (tokio front-end).
    #[cfg(feature = "tokio")]
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.listener.as_ref().map(|l| l.fd.as_fd())
    }

    /// Waits until a local client knocks on `local` (`Ok(None)`: accept it as usual) or a
    /// remote one completes its handshake (its socket and identity, the reply sent). Handshakes
    /// that fail are turned away and the wait goes on. Without remote serving, or in
    /// nonblocking mode with nothing there, `Ok(None)` at once.
    pub(crate) fn next_client(
        &self,
        local: BorrowedFd<'_>,
        nonblocking: bool,
        pipe_mode: PipeMode,
        admits: impl Fn(&RemoteClient) -> bool,
    ) -> io::Result<Option<(OwnedFd, RemoteClient)>> {
        let Some(listener) = &self.listener else {
            return Ok(None);
        };
        loop {
            let mut fds = [
                PollFd::new(&local, PollFlags::IN),
                PollFd::new(&listener.fd, PollFlags::IN),
            ];
            let zero = crate::sys::time::timespec(Duration::ZERO);
            match poll(&mut fds, nonblocking.then_some(&zero)) {
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let local_ready = !fds[0].revents().is_empty();
            let remote_ready = !fds[1].revents().is_empty();
            if remote_ready {
                // Another instance (thread) may have taken it: then wait again.
                match accept_with(&listener.fd, SocketFlags::CLOEXEC) {
                    Ok(fd) => {
                        if let Ok(client) = handshake(&fd, pipe_mode, &admits) {
                            return Ok(Some((fd, client)));
                        }
                        // Refused (not root, or a bad handshake): closed; the wait goes on.
                    }
                    Err(Errno::AGAIN) | Err(Errno::INTR) | Err(Errno::CONNABORTED) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if local_ready || nonblocking {
                return Ok(None);
            }
        }
    }
}

/// The connection end of an admitted remote client: Samba's 2-byte frames on a message pipe.
pub(crate) fn conn(fd: OwnedFd, pipe_mode: PipeMode, what: &str) -> Conn {
    let mut conn = Conn::new(fd, pipe_mode, what.to_string());
    conn.remote = true;
    if pipe_mode == PipeMode::Message {
        conn.framer = Framer::with_header_width(2);
    }
    conn
}

/// Waits until either listener is readable (tokio front-end).
#[cfg(feature = "tokio")]
pub(crate) async fn either(
    a: &tokio::io::unix::AsyncFd<OwnedFd>,
    b: &tokio::io::unix::AsyncFd<OwnedFd>,
) -> io::Result<()> {
    std::future::poll_fn(|cx| {
        for fd in [a, b] {
            if let std::task::Poll::Ready(guard) = fd.poll_read_ready(cx) {
                return std::task::Poll::Ready(guard.map(|_| ()));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// The file smbd connects to for pipe `name`: its lower-cased name (Samba lower-cases the name
/// the client asked for), which must be a plain file name.
fn socket_file_name(name: &str) -> io::Result<String> {
    let lower = name.to_lowercase();
    if lower.contains('/') || lower == "." || lower == ".." || lower.len() > 255 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "this name cannot be a socket file name (a '/', or too long)",
        ));
    }
    Ok(lower)
}

/// `<socket_dir>/np`, made (0700) if missing; it must be a directory of root's or ours that no
/// one else can write in (else a stranger could put their socket in the place of ours).
fn np_dir(socket_dir: &Path) -> io::Result<PathBuf> {
    let np = socket_dir.join("np");
    match fs::DirBuilder::new().mode(0o700).create(&np) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("{}: {e} (is Samba's socket directory right?)", np.display()),
            ))
        }
    }
    let me = rustix::process::geteuid().as_raw();
    for dir in [socket_dir, np.as_path()] {
        let meta = fs::symlink_metadata(dir)?;
        if !meta.is_dir() || (meta.uid() != 0 && meta.uid() != me) || meta.mode() & 0o022 != 0 {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{} must be a directory of root's or this user's that no one else can write to",
                    dir.display()
                ),
            ));
        }
    }
    Ok(np)
}

/// Binds and listens on `path`, taking the place of a dead server's socket, never of a live one
/// (samba-dcerpcd's own pipes live beside ours).
fn bind_listener(path: &Path) -> io::Result<Listener> {
    let addr = SocketAddrUnix::new(path).map_err(|e| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!("socket path {}: {e}", path.display()),
        )
    })?;
    let fd = super::state::nonblocking_stream()?;
    match bind(&fd, &addr) {
        Ok(()) => {}
        Err(Errno::ADDRINUSE) => {
            if !stale(path, &addr)? {
                return Err(io::Error::new(
                    ErrorKind::AddrInUse,
                    format!(
                        "{} is served already (by Samba or another process)",
                        path.display()
                    ),
                ));
            }
            fs::remove_file(path)?;
            bind(&fd, &addr)?;
        }
        Err(e) => return Err(e.into()),
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    listen(&fd, BACKLOG)?;
    let meta = fs::symlink_metadata(path)?;
    Ok(Listener {
        fd,
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
    })
}

/// Whether the socket file at `path` is left by a dead server: a socket nobody listens on.
fn stale(path: &Path, addr: &SocketAddrUnix) -> io::Result<bool> {
    if !fs::symlink_metadata(path)?.file_type().is_socket() {
        return Ok(false);
    }
    let probe = super::state::nonblocking_stream()?;
    Ok(matches!(connect(&probe, addr), Err(Errno::CONNREFUSED)))
}

/// Reads smbd's request from `fd` (root only, within [`HANDSHAKE_TIMEOUT`]), decodes it and
/// sends the reply for `pipe_mode`.
fn handshake(
    fd: &OwnedFd,
    pipe_mode: PipeMode,
    admits: &dyn Fn(&RemoteClient) -> bool,
) -> io::Result<RemoteClient> {
    let peer = sockopt::socket_peercred(fd)?;
    if peer.uid.as_raw() != 0 {
        return Err(io::Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "a named-pipe-auth handshake from uid {} (only smbd, as root, is believed)",
                peer.uid.as_raw()
            ),
        ));
    }
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut message = Vec::new();
    read_until(fd, &mut message, npa::PREFIX, deadline)?;
    let mut prefix = [0u8; npa::PREFIX];
    prefix.copy_from_slice(&message[..npa::PREFIX]);
    let len = npa::request_len(prefix).map_err(bad)?;
    read_until(fd, &mut message, npa::PREFIX + len, deadline)?;
    let client = npa::decode_request(&message).map_err(bad)?;
    // Who may connect holds for remote clients too: the pipe's rule applied to the unix user
    // smbd mapped the account to. A client it does not admit gets "access denied" at its open.
    let admitted = admits(&client);
    let file_type = match pipe_mode {
        PipeMode::Byte => npa::FILE_TYPE_BYTE,
        PipeMode::Message => npa::FILE_TYPE_MESSAGE,
    };
    let reply = npa::encode_reply(
        client.level,
        file_type,
        npa::DEVICE_STATE,
        ALLOCATION_SIZE,
        if admitted {
            npa::STATUS_SUCCESS
        } else {
            npa::STATUS_ACCESS_DENIED
        },
    );
    super::conn::send_all(fd.as_fd(), &[&reply], &[])?;
    if !admitted {
        return Err(io::Error::new(
            ErrorKind::PermissionDenied,
            "the pipe does not admit this remote user",
        ));
    }
    Ok(client)
}

fn bad(e: npa::BadRequest) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, e)
}

/// Receives into `buf` until it holds `want` bytes (growing it only as bytes arrive), or fails:
/// `UnexpectedEof` when the peer closes first, `TimedOut` at `deadline`.
fn read_until(fd: &OwnedFd, buf: &mut Vec<u8>, want: usize, deadline: Instant) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    while buf.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                "the named-pipe-auth handshake did not come in time",
            ));
        }
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&crate::sys::time::timespec(left))) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        let room = (want - buf.len()).min(chunk.len());
        match rustix::net::recv(fd, &mut chunk[..room], RecvFlags::DONTWAIT) {
            Ok((0, _)) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "the peer closed during the named-pipe-auth handshake",
                ))
            }
            Ok((n, _)) => buf.extend_from_slice(&chunk[..n]),
            Err(Errno::AGAIN) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::framing::Framer;
    use super::super::MessageRead;

    /// Samba's frames: a 2-byte length, 1 to 65535 bytes; read with "more data" as locally.
    #[test]
    fn two_byte_frames() {
        let f = Framer::with_header_width(2);
        assert_eq!(f.frame_header(5).unwrap(), ([5, 0, 0, 0], 2));
        assert_eq!(f.frame_header(65535).unwrap(), ([0xff, 0xff, 0, 0], 2));
        assert!(f.frame_header(0).is_err());
        assert!(f.frame_header(65536).is_err());
        let mut stream = vec![3, 0, b'a', b'b', b'c', 0xe8, 0x03];
        stream.extend(std::iter::repeat_n(7u8, 1000));
        let mut at = 0;
        let mut fill = |b: &mut [u8]| {
            let n = b.len().min(stream.len() - at).min(5);
            b[..n].copy_from_slice(&stream[at..at + n]);
            at += n;
            Ok(n)
        };
        let mut f = Framer::with_header_width(2);
        let mut buf = [0u8; 600];
        assert_eq!(
            f.read_message(&mut buf, &mut fill).unwrap(),
            MessageRead::Complete(3)
        );
        assert_eq!(&buf[..3], b"abc");
        assert_eq!(
            f.read_message(&mut buf, &mut fill).unwrap(),
            MessageRead::MoreData {
                read: 600,
                left: 400
            }
        );
        assert_eq!(
            f.read_message(&mut buf, &mut fill).unwrap(),
            MessageRead::Complete(400)
        );
        assert_eq!(
            f.read_message(&mut buf, &mut fill).unwrap(),
            MessageRead::End
        );
    }

    #[test]
    fn socket_file_names() {
        assert_eq!(super::socket_file_name("Jobs").unwrap(), "jobs");
        assert!(super::socket_file_name("a/b").is_err());
        assert!(super::socket_file_name("..").is_err());
    }
}
