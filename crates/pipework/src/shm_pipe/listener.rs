//! Meeting by name: a listener on a Unix-domain socket in this user's 0700 directory, which
//! hands each writer that connects a ring of its own; [`list`] finds the names listened on
//! through `/proc/net/unix`.

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use crate::name::lease::{self, Lease};
use crate::name::{file_key, fold, place, Kind, Namespace};

use super::handover::{map_ring, Queued};
use super::ring::Ring;
use super::wait::DEFAULT_SPIN;
use super::{End, ShmPipeOptions, ShmReader, ShmWriter};

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
        let path = place::shm_pipe_socket(name)?;
        let note = place::shm_pipe_note(&path);
        let listener = match UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(e) if e.kind() == ErrorKind::AddrInUse => {
                let found = lease::identity_of(&path).map_err(|e| named(name, e))?;
                // A live listener answers; a socket left by a killed one refuses.
                match UnixStream::connect(&path) {
                    Ok(_) => {
                        let why = match read_note(&note) {
                            Some(noted) if fold(&noted) != fold(name) => {
                                format!("its place is held by another listener ({noted:?})")
                            }
                            _ => "already listened on".to_string(),
                        };
                        return Err(io::Error::new(
                            ErrorKind::AlreadyExists,
                            format!("shared-memory pipe {name}: {why}"),
                        ));
                    }
                    Err(_) => {
                        lease::reclaim_sole(found, &path, std::slice::from_ref(&note))
                            .map_err(|e| named(name, e))?;
                        UnixListener::bind(&path).map_err(|e| named(name, e))?
                    }
                }
            }
            Err(e) => return Err(named(name, e)),
        };
        let anchor = lease::identity_of(&path).map_err(|e| named(name, e))?;
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
            .map_err(|e| named(name, e))?;
        Ok(ShmPipeListener {
            listener,
            lease: Some(lease),
            name: name.to_string(),
            options: self.clone(),
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

fn named(name: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("shared-memory pipe {name}: {e}"))
}

/// A shared-memory pipe's name, listened on: each writer that connects gets its own pipe, whose
/// reader end [`ShmPipeListener::accept`] returns. The name goes when the listener is dropped.
#[derive(Debug)]
pub struct ShmPipeListener {
    listener: UnixListener,
    /// The hold on the name: the socket and its note, this listener's alone.
    lease: Option<Lease>,
    name: String,
    options: ShmPipeOptions,
}

impl ShmPipeListener {
    /// Waits for a writer to connect and returns the reader end of its pipe. A writer that goes
    /// away while connecting is skipped.
    pub fn accept(&self) -> io::Result<ShmReader> {
        loop {
            let (conn, _) = self.listener.accept().map_err(|e| named(&self.name, e))?;
            match self.set_up(OwnedFd::from(conn)) {
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => continue,
                result => return result,
            }
        }
    }

    /// Hands a new ring to the writer at the other end of `lifeline`, and waits until the writer
    /// has queued it back on this side (where adopters of the reader's handle will look).
    fn set_up(&self, lifeline: OwnedFd) -> io::Result<ShmReader> {
        let (mapping, view) = self.options.new_ring()?;
        drop(view);
        match Queued::new(mapping)?.queue(&lifeline) {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                return Err(io::Error::new(ErrorKind::ConnectionAborted, e.to_string()))
            }
            other => other?,
        }
        let ring = Ring::validate(map_ring(
            Queued::peek_waiting(lifeline.as_fd(), true)?.ring,
        )?)?;
        Ok(ShmReader {
            end: End::new(ring, lifeline, self.options.spin),
        })
    }
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
    /// listener, once the listener has accepted (`ConnectNamedPipe`'s counterpart).
    /// `NotFound` when nobody listens on the name.
    pub fn connect(name: &str) -> io::Result<ShmWriter> {
        let path = place::shm_pipe_socket(name)?;
        let absent =
            || io::Error::new(ErrorKind::NotFound, format!("no shared-memory pipe {name}"));
        // The socket under this name's key is this pipe's only if its note says this name: a
        // listener of another name found there (planted, or a hash collision) is never reached.
        match read_note(&place::shm_pipe_note(&path)) {
            Some(noted) if fold(&noted) == fold(name) => {}
            _ => return Err(absent()),
        }
        let conn = UnixStream::connect(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                io::Error::new(ErrorKind::NotFound, format!("no shared-memory pipe {name}"))
            }
            _ => named(name, e),
        })?;
        let lifeline = OwnedFd::from(conn);
        let handles = Queued::peek_waiting(lifeline.as_fd(), true).map_err(|e| named(name, e))?;
        let ring = Ring::validate(map_ring(handles.ring.try_clone()?)?)?;
        handles.queue(&lifeline)?;
        Ok(ShmWriter {
            end: End::new(ring, lifeline, DEFAULT_SPIN),
        })
    }
}
