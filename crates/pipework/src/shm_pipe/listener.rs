//! Meeting by name: a listener on a Unix-domain socket in this user's 0700 directory, which
//! hands each writer that connects a ring of its own; [`list`] finds the names listened on
//! through `/proc/net/unix`.

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

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
        let path = socket_path(name)?;
        let listener = match UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(e) if e.kind() == ErrorKind::AddrInUse => {
                // A live listener answers; a socket left by a killed one refuses.
                match UnixStream::connect(&path) {
                    Ok(_) => {
                        return Err(io::Error::new(
                            ErrorKind::AlreadyExists,
                            format!("shared-memory pipe {name}: already listened on"),
                        ))
                    }
                    Err(_) => {
                        std::fs::remove_file(&path)?;
                        UnixListener::bind(&path)?
                    }
                }
            }
            Err(e) => return Err(named(name, e)),
        };
        // The name as given, beside the socket, for `list` (the socket's own file name may be
        // a hash of it). Written after the bind: whoever holds the socket owns the note.
        let note = name_note(&path);
        std::fs::write(&note, name).map_err(|e| named(name, e))?;
        Ok(ShmPipeListener {
            listener,
            path,
            name: name.to_string(),
            options: self.clone(),
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

fn named(name: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("shared-memory pipe {name}: {e}"))
}

/// A shared-memory pipe's name, listened on: each writer that connects gets its own pipe, whose
/// reader end [`ShmPipeListener::accept`] returns. The name goes when the listener is dropped.
#[derive(Debug)]
pub struct ShmPipeListener {
    listener: UnixListener,
    path: PathBuf,
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

impl Drop for ShmPipeListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(name_note(&self.path));
        let _ = std::fs::remove_file(&self.path);
    }
}

impl ShmWriter {
    /// Connects to the shared-memory pipe `name` and returns the write end of a new pipe to its
    /// listener, once the listener has accepted (`ConnectNamedPipe`'s counterpart).
    /// `NotFound` when nobody listens on the name.
    pub fn connect(name: &str) -> io::Result<ShmWriter> {
        let path = socket_path(name)?;
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
