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
        let path = socket_path(name)?;
        let listener = match UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(e) if e.kind() == ErrorKind::AddrInUse => {
                // A live listener answers; a socket left by a killed one refuses.
                match listener_alive(&path) {
                    Ok(true) => {
                        return Err(error(
                            ErrorKind::AlreadyExists,
                            &what,
                            "already listened on",
                        ))
                    }
                    _ => {
                        std::fs::remove_file(&path)?;
                        UnixListener::bind(&path)?
                    }
                }
            }
            Err(e) => return Err(named(&what, e)),
        };
        listener
            .set_nonblocking(true)
            .map_err(|e| named(&what, e))?;
        // The name as given, beside the socket, for `list` (the socket's own file name may be
        // a hash of it). Written after the bind: whoever holds the socket owns the note.
        let note = name_note(&path);
        std::fs::write(&note, name).map_err(|e| named(&what, e))?;
        Ok(ShmPipeListener {
            listener,
            path,
            what,
            options: self.clone(),
            pending: Mutex::new(Vec::new()),
        })
    }
}

/// Where the name of the listener at `socket` is written down: the socket's file name with a
/// leading dot (file keys never start with one).
fn name_note(socket: &std::path::Path) -> PathBuf {
    let mut note = std::ffi::OsString::from(".");
    note.push(socket.file_name().unwrap_or_default());
    socket.with_file_name(note)
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
    let dir = crate::name::directory(crate::name::Namespace::Local, crate::name::Kind::ShmPipe)?;
    let listening = listening_sockets()?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let is_note = path
            .file_name()
            .is_some_and(|f| f.as_encoded_bytes().starts_with(b"."));
        if is_note || !listening.contains(&path) {
            continue;
        }
        // A listener between its bind and its note, or one that lost it: its file key.
        let name = std::fs::read_to_string(name_note(&path)).unwrap_or_else(|_| {
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        });
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

/// Where the listener of the shared-memory pipe `name` lives.
fn socket_path(name: &str) -> io::Result<PathBuf> {
    crate::name::check_name("shared-memory pipe", name)?;
    let dir = crate::name::directory(crate::name::Namespace::Local, crate::name::Kind::ShmPipe)?;
    Ok(dir.join(crate::name::file_key(&crate::name::fold(name))))
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
    path: PathBuf,
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

impl Drop for ShmPipeListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(name_note(&self.path));
        let _ = std::fs::remove_file(&self.path);
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
        let path = socket_path(name)?;
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
