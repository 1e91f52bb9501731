//! Meeting by name: a listener on a Unix-domain socket in this user's 0700 directory, which
//! hands each writer that connects a ring of its own; [`list`] finds the names listened on
//! through `/proc/net/unix`.
//!
//! Setting a writer's pipe up takes one exchange: the listener queues a fresh ring's handles on
//! the connection, and the writer queues them back (where adopters of the reader's handle look
//! for them). The listener never waits on one writer for that answer: it keeps the connections
//! that have not answered yet beside its socket and waits for whichever moves first, each for
//! at most the handshake timeout, so a connection that never speaks holds up nobody.

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::handover::{check_ring_file, checked_bell, map_ring, Peeked, Queued};
use super::ring::Ring;
use super::wait::DEFAULT_SPIN;
use super::{End, ShmPipeOptions, ShmReader, ShmWriter};
use crate::mapping::View;
use crate::name::lease::{self, Lease};
use crate::name::{file_key, fold, place, Kind, Namespace};
use crate::sys::error::{error, named};
use crate::sys::{retry, time};

/// The most connections a listener keeps waiting for their handshake; a newer one pushes the
/// oldest out.
const MAX_PENDING: usize = 64;

impl ShmPipeOptions {
    /// Creates the shared-memory pipe name `name` (this user's only: the socket lives in a 0700
    /// directory) and listens on it: writers connect with [`ShmWriter::connect`], and each
    /// [`ShmPipeListener::accept`] gives the reader end of a new pipe with these options.
    ///
    /// `AlreadyExists` when a live listener has the name; a name left by a listener that was
    /// killed is taken over.
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// let name = format!("doc-{}", std::process::id());
    /// let listener = pipework::shm_pipe::ShmPipeOptions::new().listen(&name)?;
    /// let writer = std::thread::spawn({
    ///     let name = name.clone();
    ///     move || -> std::io::Result<()> {
    ///         let mut writer = pipework::shm_pipe::ShmWriter::connect(&name)?;
    ///         writer.write_all(b"by name")
    ///     }
    /// });
    /// let mut reader = listener.accept()?;
    /// let mut text = String::new();
    /// reader.read_to_string(&mut text)?;
    /// writer.join().unwrap()?;
    /// assert_eq!(text, "by name");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen(&self, name: &str) -> io::Result<ShmPipeListener> {
        let what = object(name);
        // A capacity no ring can have is refused now, not when the first writer comes.
        self.checked_capacity().map_err(|e| named(&what, e))?;
        let path = place::shm_pipe_socket(name)?;
        let note = place::shm_pipe_note(&path);
        let listener = match UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(e) if e.kind() == ErrorKind::AddrInUse => {
                let found = lease::identity_of(&path).map_err(|e| named(&what, e))?;
                // A live listener answers; a socket left by a killed one refuses.
                match listener_alive(&path) {
                    Ok(true) => {
                        let why = match read_note(&note) {
                            Some(noted) if fold(&noted) != fold(name) => {
                                format!("its place is held by another listener ({noted:?})")
                            }
                            _ => "already listened on".to_string(),
                        };
                        return Err(error(ErrorKind::AlreadyExists, &what, why));
                    }
                    _ => {
                        lease::reclaim_sole(found, &path, std::slice::from_ref(&note))
                            .map_err(|e| named(&what, e))?;
                        UnixListener::bind(&path).map_err(|e| named(&what, e))?
                    }
                }
            }
            Err(e) => return Err(named(&what, e)),
        };
        listener
            .set_nonblocking(true)
            .map_err(|e| named(&what, e))?;
        let anchor = lease::identity_of(&path).map_err(|e| named(&what, e))?;
        let lease = Lease::sole(
            Kind::ShmPipe,
            name.to_string(),
            path,
            anchor,
            vec![note.clone()],
        );
        // The name as given, beside the socket: `list` shows it, and a writer checks it before
        // it connects (the socket's own file name may be a hash of it). Written after the bind,
        // whole (a temporary file renamed): whoever holds the socket owns the note.
        let temp = place::shm_pipe_note_temp(&note);
        std::fs::write(&temp, name)
            .and_then(|()| std::fs::rename(&temp, &note))
            .map_err(|e| named(&what, e))?;
        Ok(ShmPipeListener {
            listener,
            lease: Some(lease),
            what,
            options: self.clone(),
            pending: Mutex::new(Vec::new()),
        })
    }
}

/// The name noted at `note`, if there is one (a plain file, at most a few KiB).
fn read_note(note: &std::path::Path) -> Option<String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut text = String::new();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(note)
        .ok()?
        .take(4096)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The names of this user's shared-memory pipes that are listened on now. A name whose
/// listener was killed is not listed (its socket listens no more), and is taken over by the
/// next listener.
///
/// ```
/// let name = format!("listed-{}", std::process::id());
/// let listener = pipework::shm_pipe::ShmPipeOptions::new().listen(&name)?;
/// assert!(pipework::shm_pipe::list()?.contains(&name));
/// drop(listener);
/// assert!(!pipework::shm_pipe::list()?.contains(&name));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn list() -> io::Result<Vec<String>> {
    let dir = crate::name::directory(Namespace::Local, Kind::ShmPipe)?;
    let listening = listening_sockets()?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if place::is_shm_pipe_note(&path) || !listening.contains(&path) {
            continue;
        }
        let key = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // The noted name, when it is the one this key stands for; else (a listener between
        // its bind and its note, or a note that is not its own) the file key.
        let name = read_note(&place::shm_pipe_note(&path))
            .filter(|noted| file_key(&fold(noted)) == key)
            .unwrap_or(key);
        names.push(name);
    }
    names.sort_by_key(|n| n.to_lowercase());
    Ok(names)
}

/// The paths of the Unix-domain sockets listening now in this network namespace, from
/// `/proc/net/unix` (flag `__SO_ACCEPTCON`).
fn listening_sockets() -> io::Result<std::collections::HashSet<PathBuf>> {
    const ACCEPTING: u32 = 1 << 16;
    let table = std::fs::read_to_string("/proc/net/unix")?;
    Ok(table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // Num: RefCount Protocol Flags Type St Inode Path
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(fields.get(3)?, 16).ok()?;
            let path = fields.get(7..)?.join(" ");
            (flags & ACCEPTING != 0 && path.starts_with('/')).then(|| PathBuf::from(path))
        })
        .collect())
}

/// How errors name the shared-memory pipe `name`.
fn object(name: &str) -> Arc<str> {
    format!("shared-memory pipe {name}").into()
}

/// Whether a listener answers at `path`, asked without waiting (a live listener whose backlog
/// is full counts as alive; a socket left by a killed one refuses).
fn listener_alive(path: &std::path::Path) -> io::Result<bool> {
    let probe = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    match retry(|| rustix::net::connect(&probe, &SocketAddrUnix::new(path)?)) {
        Ok(()) | Err(Errno::AGAIN) | Err(Errno::INPROGRESS) => Ok(true),
        Err(_) => Ok(false),
    }
}

/// A shared-memory pipe's name, listened on: each writer that connects gets its own pipe, whose
/// reader end [`ShmPipeListener::accept`] returns. The name goes when the listener is dropped.
#[derive(Debug)]
pub struct ShmPipeListener {
    listener: UnixListener,
    /// The hold on the name: the socket and its note, this listener's alone.
    lease: Option<Lease>,
    /// `shared-memory pipe NAME`, as errors name it.
    what: Arc<str>,
    options: ShmPipeOptions,
    /// Connections offered a ring that have not queued it back yet, oldest first.
    pending: Mutex<Vec<Pending>>,
}

/// A writer's connection, offered a ring, waiting for the writer to queue it back.
#[derive(Debug)]
struct Pending {
    lifeline: OwnedFd,
    /// The listener's own view of the ring it offered.
    view: View,
    /// The offered ring's file (device, inode): the writer must queue back this one.
    ring: (u64, u64),
    /// When the writer's time to answer runs out (`None`: never).
    deadline: Option<Instant>,
}

/// What became of a pending connection.
enum Handshake {
    /// The writer queued the ring back: the reader end of its pipe.
    Done(Box<ShmReader>),
    /// Nothing yet.
    Waiting(Pending),
    /// The writer went away: forget it.
    Gone,
}

impl ShmPipeListener {
    /// Waits for a writer to connect and returns the reader end of its pipe. A writer that goes
    /// away while connecting, or does not finish connecting within the handshake timeout
    /// ([`ShmPipeOptions::handshake_timeout`]), is dropped; several writers connecting at once
    /// are set up side by side, so one that never answers delays nobody.
    ///
    /// `InvalidData` when a writer answers with something that is not the ring it was given (a
    /// hostile peer); that writer is dropped, and the next `accept` carries on with the others.
    pub fn accept(&self) -> io::Result<ShmReader> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            // Writers whose time is up: a last look at each, then they go.
            let now = Instant::now();
            let mut i = 0;
            while i < pending.len() {
                if pending[i].deadline.is_none_or(|d| d > now) {
                    i += 1;
                    continue;
                }
                if let Handshake::Done(reader) = self.finish(pending.remove(i))? {
                    return Ok(*reader);
                }
            }
            let wait = pending
                .iter()
                .filter_map(|p| p.deadline)
                .min()
                .map(|d| time::timespec(d.saturating_duration_since(now)));
            let ready = {
                let mut fds: Vec<PollFd<'_>> = std::iter::once(self.listener.as_fd())
                    .chain(pending.iter().map(|p| p.lifeline.as_fd()))
                    .map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN))
                    .collect();
                retry(|| poll(&mut fds, wait.as_ref())).map_err(|e| named(&self.what, e))?;
                fds.iter()
                    .map(|fd| !fd.revents().is_empty())
                    .collect::<Vec<bool>>()
            };
            // Writers that answered (or went away) first, newest first so indices stay valid.
            for i in (0..pending.len()).rev() {
                if !ready[i + 1] {
                    continue;
                }
                let p = pending.remove(i);
                match self.finish(p) {
                    Ok(Handshake::Done(reader)) => return Ok(*reader),
                    Ok(Handshake::Waiting(p)) => pending.insert(i, p),
                    Ok(Handshake::Gone) => {}
                    Err(e) => return Err(e),
                }
            }
            if ready[0] {
                self.take_new(&mut pending)?;
            }
        }
    }

    /// Accepts every connection waiting on the socket and offers each a ring.
    fn take_new(&self, pending: &mut Vec<Pending>) -> io::Result<()> {
        loop {
            let conn = match self.listener.accept() {
                Ok((conn, _)) => conn,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(named(&self.what, e)),
            };
            match self.offer(conn) {
                Ok(p) => {
                    if pending.len() >= MAX_PENDING {
                        pending.remove(0);
                    }
                    pending.push(p);
                }
                Err(e) if gone(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Offers a new ring to the writer at the other end of `conn`.
    fn offer(&self, conn: UnixStream) -> io::Result<Pending> {
        let (mapping, view) = self.options.new_ring().map_err(|e| named(&self.what, e))?;
        let ring = file_id(mapping.as_fd())?;
        let lifeline = OwnedFd::from(conn);
        Queued::new(mapping)?.queue(lifeline.as_fd())?;
        Ok(Pending {
            lifeline,
            view,
            ring,
            deadline: time::deadline(self.options.handshake_timeout),
        })
    }

    /// Looks at what the writer of `p` queued back, if anything yet.
    fn finish(&self, p: Pending) -> io::Result<Handshake> {
        let queued = match Queued::try_peek(p.lifeline.as_fd(), &self.what) {
            Ok(Peeked::Ready(queued)) => queued,
            Ok(Peeked::NotYet) => return Ok(Handshake::Waiting(p)),
            Err(e) if gone(&e) => return Ok(Handshake::Gone),
            Err(e) => return Err(e),
        };
        check_ring_file(queued.ring.as_fd(), &self.what)?;
        if file_id(queued.ring.as_fd())? != p.ring {
            return Err(error(
                ErrorKind::InvalidData,
                &*self.what,
                "refused the ring: the writer queued back another ring than the one it was given",
            ));
        }
        let [reader_bell, writer_bell] = queued.bells;
        checked_bell(reader_bell, &self.what)?;
        checked_bell(writer_bell, &self.what)?;
        let ring = Ring::validate(p.view, self.what.clone())?;
        Ok(Handshake::Done(Box::new(ShmReader {
            end: End::new(ring, p.lifeline, self.options.spin),
        })))
    }
}

/// Whether `e` says the peer went away (a writer that gave up while connecting).
fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
    )
}

/// The (device, inode) of the file `fd`.
fn file_id(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let stat = rustix::fs::fstat(fd)?;
    Ok((stat.st_dev, stat.st_ino))
}

impl ShmPipeListener {
    /// Stops listening and removes the name, as dropping the listener does, but returns what
    /// went wrong removing it (a name left behind is taken over by the next listener).
    pub fn close(mut self) -> io::Result<()> {
        match self.lease.take() {
            Some(lease) => lease.release(),
            None => Ok(()),
        }
    }
}

impl Drop for ShmPipeListener {
    fn drop(&mut self) {
        // The socket is still bound here, so no other listener can have taken the name over;
        // a failure is kept for `name::release_errors`.
        drop(self.lease.take());
    }
}

impl ShmWriter {
    /// Connects to the shared-memory pipe `name` and returns the write end of a new pipe to its
    /// listener, once the listener has accepted (`ConnectNamedPipe`'s counterpart). Waits as long
    /// as the listener lives; [`ShmWriter::connect_timeout`] sets a limit.
    /// `NotFound` when nobody listens on the name.
    pub fn connect(name: &str) -> io::Result<ShmWriter> {
        ShmWriter::connect_timeout(name, Duration::MAX)
    }

    /// [`ShmWriter::connect`], waiting at most `timeout` for the listener to accept
    /// (`TimedOut` then; `Duration::MAX`: as long as the listener lives).
    pub fn connect_timeout(name: &str, timeout: Duration) -> io::Result<ShmWriter> {
        let what = object(name);
        let path = place::shm_pipe_socket(name)?;
        // The socket under this name's key is this pipe's only if its note says this name: a
        // listener of another name found there (planted, or a hash collision) is never reached.
        match read_note(&place::shm_pipe_note(&path)) {
            Some(noted) if fold(&noted) == fold(name) => {}
            _ => {
                return Err(error(
                    ErrorKind::NotFound,
                    &what,
                    "nobody listens on this name",
                ))
            }
        }
        let deadline = time::deadline(timeout);
        let timed_out = || {
            error(
                ErrorKind::TimedOut,
                &what,
                format_args!("the listener did not accept within {timeout:?}"),
            )
        };
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| named(&what, e))?;
        if deadline.is_some() {
            // A listener whose queue of connections is full makes connect wait: bound it.
            rustix::net::sockopt::set_socket_timeout(
                &sock,
                rustix::net::sockopt::Timeout::Send,
                Some(timeout.max(Duration::from_micros(1))),
            )
            .map_err(|e| named(&what, e))?;
        }
        let address = SocketAddrUnix::new(&path).map_err(|e| named(&what, e))?;
        match retry(|| rustix::net::connect(&sock, &address)) {
            Ok(()) => {}
            Err(Errno::NOENT) | Err(Errno::CONNREFUSED) => {
                return Err(error(
                    ErrorKind::NotFound,
                    &what,
                    "no such pipe (nobody listens on it)",
                ))
            }
            Err(Errno::AGAIN) | Err(Errno::INPROGRESS) => return Err(timed_out()),
            Err(e) => return Err(named(&what, e)),
        }
        // Wait for the listener's offer: until the deadline, or its end (which hangs up).
        let queued = loop {
            match Queued::try_peek(sock.as_fd(), &what)? {
                Peeked::Ready(queued) => break queued,
                Peeked::NotYet => {}
            }
            if time::left(deadline) == Some(Duration::ZERO) {
                return Err(timed_out());
            }
            let left = time::left(deadline).map(time::timespec);
            let mut fds = [PollFd::new(&sock, PollFlags::IN)];
            retry(|| poll(&mut fds, left.as_ref())).map_err(|e| named(&what, e))?;
        };
        let ring = Ring::validate(map_ring(queued.ring.try_clone()?, &what)?, what.clone())?;
        queued.queue(sock.as_fd()).map_err(|e| named(&what, e))?;
        Ok(ShmWriter {
            end: End::new(ring, sock, DEFAULT_SPIN),
        })
    }
}
