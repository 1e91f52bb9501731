//! Shared-memory pipes: the anonymous pipe's contract over a ring in a file mapping, faster than
//! the kernel's pipe because a transfer is two plain memory copies and, while both sides are busy,
//! no system call at all.
//!
//! ```
//! use std::io::{Read, Write};
//!
//! let (mut reader, mut writer) = pipework::shm_pipe::create()?;
//! writer.write_all(b"through shared memory")?;
//! drop(writer); // a clean close: the reader sees the end after the data
//! let mut text = String::new();
//! reader.read_to_string(&mut text)?;
//! assert_eq!(text, "through shared memory");
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The contract is the anonymous pipe's ([`crate::pipe`]): a reader and a writer end that are
//! [`Read`] and [`Write`]; a read blocks while the ring is empty and returns what is there; a
//! write returns once every byte is in the ring, blocking while it is full; `Ok(0)` once the writer
//! has closed and the ring is drained; `BrokenPipe` for a write once the reader is gone. Ends
//! travel to other processes as one handle each (`OwnedFd::from(end)` / `TryFrom<OwnedFd>`), by
//! inheritance ([`crate::process::CommandExt::inherit_handle`]) or handle passing
//! ([`crate::handle::send`]), or meet by name: [`ShmPipeOptions::listen`] and
//! [`ShmWriter::connect`]. There is one reader and one writer: ends cannot be cloned.
//! [`ShmMessageWriter`] / [`ShmMessageReader`] carry whole messages over the same ring, with the
//! named pipes' framing and "more data" outcomes.
//!
//! With the `tokio` feature, `ShmReader::into_async` and `ShmWriter::into_async` give
//! `AsyncRead` / `AsyncWrite` ends over the same ring; a blocking end and an async end work
//! together, in one process or two.
//!
//! `Read` and `Write` copy twice: into the ring, out of it. Between processes that trust each
//! other the copies can go: [`ShmReader::fill_buf_in_place`] / [`ShmReader::consume`] lend the
//! bytes where they lie in the ring, and [`ShmWriter::reserve_in_place`] /
//! [`ShmWriter::commit`] lend free room to fill. They are `unsafe` because the lent memory is
//! also mapped by the other process: Rust's references promise that nothing changes it, and
//! only a well-behaved peer (a pipework end) keeps that promise; positions are checked either
//! way, so a lying peer can never make a slice leave the ring.
//!
//! # How it works
//!
//! * The ring lives in an unnamed [`FileMapping`] (a memfd): a header page holding the two
//!   positions (total bytes written and read, each on its own cache line), two futex words and the
//!   close flags, then `capacity` bytes of data (a power of two).
//! * Each end's handle is one end of a Unix-domain socket pair, the *lifeline*. The ring's memfd
//!   sits in each socket's receive queue, and an end adopted in another process takes a copy of it
//!   from there without consuming it, so a handle can be passed on again and again. When every
//!   copy of an end's handle is closed (including copies held by a process killed with
//!   `kill -9`), the kernel hangs up the other end's socket: that is how a side learns that its
//!   peer vanished, without trusting process ids.
//! * A side that finds nothing to do spins for a short, adaptive while (the other side is usually
//!   about to act), then sleeps on a futex. The spin budget doubles when spinning pays off and
//!   drops to nothing when it keeps failing (a loaded machine, where the peer waits for a CPU);
//!   it returns in full when a sleep ends sooner than the full budget, since a spin would have
//!   caught that answer without paying for a wake-up (which, under a hypervisor, can take tens
//!   of microseconds when the peer's CPU was idle); the other side wakes it only when it is asleep.
//!   A side whose peer last acted on the same CPU does not spin: the answer cannot come before
//!   the spinner gives the CPU up (one CPU for both, or two processes the scheduler put
//!   together), so for the same budget it yields the CPU (`sched_yield`) each turn instead,
//!   which runs the peer at once and spares it a wake-up call, since nobody sleeps. Each side
//!   notes its CPU in the header for the other when it starts a wait and when it wakes a
//!   sleeper (a hint: whatever a peer writes there only changes how this side waits). Sleeps
//!   are bounded (50 ms) so a vanished peer is noticed through the lifeline: a writer that dies
//!   without closing leaves the reader with `UnexpectedEof` after the data it published, and a
//!   reader that dies leaves the writer with `BrokenPipe`; neither hangs.
//! * An end waiting under tokio cannot sleep on a futex: it marks its waiting word "awaiting the
//!   bell" and waits for its bell, an eventfd queued on the lifelines with the ring; the side
//!   that publishes rings the bell instead of waking the futex (`AsyncShmReader`'s module has
//!   the details).
//! * The peer is never trusted: positions read from shared memory are checked against the
//!   capacity this side validated when it attached, and a bad one is `InvalidData`, never an
//!   out-of-bounds access.

use std::fmt;
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{
    recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
    RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use rustix::thread::futex;

use crate::mapping::{Access, FileMapping, View};

#[cfg(feature = "tokio")]
mod async_io;
#[cfg(feature = "tokio")]
pub use async_io::{AsyncShmReader, AsyncShmWriter};

const MAGIC: u64 = u64::from_le_bytes(*b"PWSHMPIP");
const VERSION: u32 = 2;
const HEADER: usize = 4096;
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 8;
const OFF_CAPACITY: usize = 16;
const OFF_WRITE_POS: usize = 64;
const OFF_READ_POS: usize = 128;
const OFF_READER_WAITING: usize = 192;
const OFF_WRITER_WAITING: usize = 256;
const OFF_WRITER_CLOSED: usize = 320;
const OFF_READER_CLOSED: usize = 324;
/// The CPU each side last waited on, plus one (0: not known yet). A hint for the other side's
/// spin, nothing more: any value a peer leaves there is harmless.
const OFF_READER_CPU: usize = 384;
const OFF_WRITER_CPU: usize = 448;

const MIN_CAPACITY: usize = 4096;
const MAX_CAPACITY: usize = 1 << 30;
const DEFAULT_CAPACITY: usize = 1 << 20;
const DEFAULT_SPIN: Duration = Duration::from_micros(50);
/// The shortest spin worth making; below it a side sleeps at once.
const MIN_SPIN: Duration = Duration::from_micros(2);
const SLEEP_SLICE: Duration = Duration::from_millis(50);

/// Creates a shared-memory pipe with the default options: `(reader, writer)`.
pub fn create() -> io::Result<(ShmReader, ShmWriter)> {
    ShmPipeOptions::new().create()
}

/// How to create a shared-memory pipe: ring capacity and spinning.
///
/// ```
/// use std::time::Duration;
///
/// // A 256 KiB ring whose ends never spin: they sleep on a futex at once (lowest CPU use).
/// let (reader, writer) = pipework::shm_pipe::ShmPipeOptions::new()
///     .capacity(256 * 1024)
///     .spin(Duration::ZERO)
///     .create()?;
/// assert_eq!(reader.capacity(), 256 * 1024);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ShmPipeOptions {
    capacity: usize,
    spin: Duration,
}

impl Default for ShmPipeOptions {
    fn default() -> Self {
        ShmPipeOptions {
            capacity: DEFAULT_CAPACITY,
            spin: DEFAULT_SPIN,
        }
    }
}

impl ShmPipeOptions {
    /// Default options: a 1 MiB ring, spinning up to 50 µs before sleeping.
    pub fn new() -> Self {
        Self::default()
    }

    /// The spin budget ends start with (50 µs).
    pub fn default_spin() -> Duration {
        DEFAULT_SPIN
    }

    /// The ring's capacity in bytes, rounded up to a power of two, at least 4 KiB. `create` fails
    /// with `InvalidInput` above 1 GiB.
    pub fn capacity(&mut self, bytes: usize) -> &mut Self {
        self.capacity = bytes;
        self
    }

    /// The longest a side spins waiting for its peer before it sleeps (it adapts below this when
    /// spinning keeps failing). `Duration::ZERO` never spins: every wait sleeps on a futex.
    /// This setting belongs to each end in its own process; an end adopted elsewhere uses the
    /// default unless [`ShmReader::set_spin`] / [`ShmWriter::set_spin`] is called.
    pub fn spin(&mut self, spin: Duration) -> &mut Self {
        self.spin = spin;
        self
    }

    /// Creates the pipe: `(reader, writer)`, both in this process.
    pub fn create(&self) -> io::Result<(ShmReader, ShmWriter)> {
        let (mapping, view) = self.new_ring()?;
        self.pair(mapping, view)
    }

    /// A fresh ring: its mapping and a view of it with the header written.
    fn new_ring(&self) -> io::Result<(FileMapping, View)> {
        if self.capacity > MAX_CAPACITY {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "shared-memory pipe capacity {} is above the 1 GiB maximum",
                    self.capacity
                ),
            ));
        }
        let capacity = self.capacity.max(MIN_CAPACITY).next_power_of_two();
        let mapping = FileMapping::anonymous((HEADER + capacity) as u64)?;
        let view = mapping.map_view(Access::Write, 0, 0)?;
        view.atomic_u32(OFF_VERSION)?
            .store(VERSION, Ordering::Relaxed);
        view.atomic_u64(OFF_CAPACITY)?
            .store(capacity as u64, Ordering::Relaxed);
        view.atomic_u64(OFF_MAGIC)?.store(MAGIC, Ordering::Release);
        Ok((mapping, view))
    }

    fn pair(&self, mapping: FileMapping, view: View) -> io::Result<(ShmReader, ShmWriter)> {
        let (reader_sock, writer_sock) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )?;
        // Queue the ring's handles in each socket's receive queue, for adopters of either end.
        let handles = Queued::new(mapping)?;
        handles.queue(&writer_sock)?;
        handles.queue(&reader_sock)?;
        drop(handles);

        // The reader maps the ring from the handle queued on its socket, which proves the queue
        // holds what adopters of the handle will look for.
        let reader_ring = Ring::validate(map_ring(Queued::peek(reader_sock.as_fd())?.ring)?)?;
        let writer_ring = Ring::validate(view)?;
        let reader = ShmReader {
            end: End::new(reader_ring, reader_sock, self.spin),
        };
        let writer = ShmWriter {
            end: End::new(writer_ring, writer_sock, self.spin),
        };
        Ok((reader, writer))
    }
}

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

/// The handles queued on each end's lifeline: the ring's memfd and the two ends' bells, the
/// eventfds that wake an end waiting under an async runtime (index [`READER_BELL`] or
/// [`WRITER_BELL`]). An adopter peeks them, keeps the ring, and takes a bell only when it needs
/// one.
struct Queued {
    ring: OwnedFd,
    bells: [OwnedFd; 2],
}

const READER_BELL: usize = 0;
const WRITER_BELL: usize = 1;

impl Queued {
    /// The handles of a new pipe whose ring is `mapping`, with two fresh bells.
    fn new(mapping: FileMapping) -> io::Result<Queued> {
        let bell = || {
            rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
            )
        };
        Ok(Queued {
            ring: OwnedFd::try_from(mapping)?,
            bells: [bell()?, bell()?],
        })
    }

    /// Sends the handles through `sock` so that they wait in the peer socket's receive queue.
    fn queue(&self, sock: &OwnedFd) -> io::Result<()> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds = [
            self.ring.as_fd(),
            self.bells[READER_BELL].as_fd(),
            self.bells[WRITER_BELL].as_fd(),
        ];
        control.push(SendAncillaryMessage::ScmRights(&fds));
        sendmsg(
            sock,
            &[IoSlice::new(b"R")],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        Ok(())
    }

    /// Takes copies of the handles queued for the end `sock`, leaving them queued.
    fn peek(sock: BorrowedFd<'_>) -> io::Result<Queued> {
        Queued::peek_waiting(sock, false)
    }

    /// [`Queued::peek`], waiting (with `wait`) until the peer has queued them.
    fn peek_waiting(sock: BorrowedFd<'_>, wait: bool) -> io::Result<Queued> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut flags = RecvFlags::PEEK | RecvFlags::CMSG_CLOEXEC;
        if !wait {
            flags |= RecvFlags::DONTWAIT;
        }
        let got = recvmsg(sock, &mut iov, &mut control, flags).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("not a shared-memory pipe end (no ring queued on it: {e})"),
            )
        })?;
        let mut fds = Vec::new();
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if got.bytes == 0 && fds.is_empty() {
            return Err(io::Error::new(
                ErrorKind::ConnectionAborted,
                "shared-memory pipe: the other side went away before the pipe was set up",
            ));
        }
        let not_a_ring = || {
            io::Error::new(
                ErrorKind::InvalidData,
                "not a shared-memory pipe end (the queued message is not a ring)",
            )
        };
        if got.bytes != 1 || byte[0] != b'R' || got.flags.contains(rustix::net::ReturnFlags::CTRUNC)
        {
            return Err(not_a_ring());
        }
        let [ring, reader_bell, writer_bell]: [OwnedFd; 3] =
            fds.try_into().map_err(|_| not_a_ring())?;
        Ok(Queued {
            ring,
            bells: [reader_bell, writer_bell],
        })
    }
}

fn map_ring(fd: OwnedFd) -> io::Result<View> {
    let mapping = FileMapping::try_from(fd)?;
    mapping.map_view(Access::Write, 0, 0)
}

/// One side's view of the ring, with the capacity it validated when it attached.
struct Ring {
    view: View,
    capacity: u64,
}

impl Ring {
    fn validate(view: View) -> io::Result<Ring> {
        let bad = |what: &str| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!("shared-memory pipe: the ring's header is corrupt ({what})"),
            )
        };
        if view.len() < HEADER + MIN_CAPACITY {
            return Err(bad("too small"));
        }
        if view.atomic_u64(OFF_MAGIC)?.load(Ordering::Acquire) != MAGIC {
            return Err(bad("bad magic"));
        }
        if view.atomic_u32(OFF_VERSION)?.load(Ordering::Relaxed) != VERSION {
            return Err(bad("unknown version"));
        }
        let capacity = view.atomic_u64(OFF_CAPACITY)?.load(Ordering::Relaxed);
        if !capacity.is_power_of_two() || capacity as usize != view.len() - HEADER {
            return Err(bad("capacity does not match the mapping"));
        }
        Ok(Ring { view, capacity })
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        self.view
            .atomic_u32(offset)
            .expect("header offsets are in bounds and aligned (checked at attach)")
    }

    fn position(&self, offset: usize) -> &AtomicU64 {
        self.view
            .atomic_u64(offset)
            .expect("header offsets are in bounds and aligned (checked at attach)")
    }

    /// Copies ring bytes from logical position `pos` into `buf` (wrapping around the end).
    fn copy_out(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = (pos & (self.capacity - 1)) as usize;
        let first = buf.len().min(self.capacity as usize - start);
        let (a, b) = buf.split_at_mut(first);
        self.view.read(HEADER + start, a)?;
        if !b.is_empty() {
            self.view.read(HEADER, b)?;
        }
        Ok(())
    }

    /// Copies `data` into the ring at logical position `pos` (wrapping around the end).
    fn copy_in(&self, pos: u64, data: &[u8]) -> io::Result<()> {
        let start = (pos & (self.capacity - 1)) as usize;
        let first = data.len().min(self.capacity as usize - start);
        let (a, b) = data.split_at(first);
        self.view.write(HEADER + start, a)?;
        if !b.is_empty() {
            self.view.write(HEADER, b)?;
        }
        Ok(())
    }

    /// Checks a count of bytes in the ring computed from a position the peer wrote.
    fn checked_fill(&self, fill: u64) -> io::Result<u64> {
        if fill > self.capacity {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "shared-memory pipe: the peer's position is corrupt ({fill} bytes in a {}-byte ring)",
                    self.capacity
                ),
            ));
        }
        Ok(fill)
    }
}

/// A bell as queued by whoever set the pipe up, refused unless it is nonblocking: a bell is
/// written and read while the ring's protocol runs, and a peer that queued a blocking pipe in
/// its place must not be able to make this side wait for ever on it.
fn checked_bell(bell: OwnedFd) -> io::Result<OwnedFd> {
    if rustix::fs::fcntl_getfl(&bell)?.contains(rustix::fs::OFlags::NONBLOCK) {
        Ok(bell)
    } else {
        Err(io::Error::new(
            ErrorKind::InvalidData,
            "shared-memory pipe: the queued bell is not a nonblocking handle",
        ))
    }
}

/// What a reader at `pos` waits for: the writer moved on from `pos`, or closed.
fn readable_since(pos: u64) -> impl Fn(&Ring) -> bool {
    move |ring: &Ring| {
        ring.position(OFF_WRITE_POS).load(Ordering::SeqCst) != pos
            || ring.word(OFF_WRITER_CLOSED).load(Ordering::SeqCst) != 0
    }
}

/// What a writer facing a full ring waits for: the reader moved on from `full_at`, or closed.
fn writable_since(full_at: u64) -> impl Fn(&Ring) -> bool {
    move |ring: &Ring| {
        ring.position(OFF_READ_POS).load(Ordering::SeqCst) != full_at
            || ring.word(OFF_READER_CLOSED).load(Ordering::SeqCst) != 0
    }
}

/// What one side holds: the ring, its lifeline socket, and its spin budget.
struct End {
    ring: Ring,
    lifeline: Option<OwnedFd>,
    /// This side's position (total bytes it has read or written): its own copy, never re-read
    /// from shared memory after attaching.
    pos: u64,
    max_spin: Duration,
    spin: Duration,
    /// The peer's bell, taken from the lifeline the first time the peer waits under an async
    /// runtime.
    peer_bell: OnceLock<OwnedFd>,
}

/// What an end's waiting word holds: nobody waits, a thread sleeps on the word (futex), or a
/// task waits for the end's bell (async).
const NOT_WAITING: u32 = 0;
const SLEEPING: u32 = 1;
#[cfg(feature = "tokio")]
const AWAITING_BELL: u32 = 2;

/// Why a wait ended.
enum Woken {
    /// The watched position or a close flag may have changed: look again.
    Recheck,
    /// The peer's every handle is closed.
    PeerGone,
}

impl End {
    fn new(ring: Ring, lifeline: OwnedFd, spin: Duration) -> End {
        End {
            ring,
            lifeline: Some(lifeline),
            pos: 0,
            max_spin: spin,
            spin,
            peer_bell: OnceLock::new(),
        }
    }

    fn lifeline(&self) -> BorrowedFd<'_> {
        match &self.lifeline {
            Some(fd) => fd.as_fd(),
            None => unreachable!("an end holds its lifeline until it is dropped or converted"),
        }
    }

    fn adopt(lifeline: OwnedFd, own_pos: usize) -> io::Result<End> {
        let ring = Ring::validate(map_ring(Queued::peek(lifeline.as_fd())?.ring)?)?;
        let pos = ring.position(own_pos).load(Ordering::Acquire);
        Ok(End {
            ring,
            lifeline: Some(lifeline),
            pos,
            max_spin: DEFAULT_SPIN,
            spin: DEFAULT_SPIN,
            peer_bell: OnceLock::new(),
        })
    }

    fn set_spin(&mut self, spin: Duration) {
        self.max_spin = spin;
        self.spin = spin;
    }

    /// Where this side's position falls in the ring's data, and how many of `n` bytes from
    /// there lie before the ring's end (what one slice can lend).
    fn contiguous(&self, n: usize) -> (usize, usize) {
        let start = (self.pos & (self.ring.capacity - 1)) as usize;
        (start, n.min(self.ring.capacity as usize - start))
    }

    /// Whether every handle of the other end is closed.
    fn peer_gone(&self) -> io::Result<bool> {
        let lifeline = self.lifeline();
        let mut fds = [PollFd::new(&lifeline, PollFlags::RDHUP)];
        loop {
            match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    let revents = fds[0].revents();
                    return Ok(revents.intersects(PollFlags::RDHUP | PollFlags::HUP));
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The header words holding this side's and the peer's CPU hints, for the side that sleeps
    /// on the futex word at `waiting_off`.
    fn cpu_words(&self, waiting_off: usize) -> (&AtomicU32, &AtomicU32) {
        let (own, peer) = if waiting_off == OFF_READER_WAITING {
            (OFF_READER_CPU, OFF_WRITER_CPU)
        } else {
            (OFF_WRITER_CPU, OFF_READER_CPU)
        };
        (self.ring.word(own), self.ring.word(peer))
    }

    /// Records the CPU this side runs on in `word` (written only when it changes, so the line
    /// stays shared while nobody migrates) and returns it.
    fn note_cpu(word: &AtomicU32) -> u32 {
        let cpu = u32::try_from(rustix::thread::sched_getcpu())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1);
        if word.load(Ordering::Relaxed) != cpu {
            word.store(cpu, Ordering::Relaxed);
        }
        cpu
    }

    /// Whether the peer last acted on the CPU this side runs on: then spinning would only keep
    /// the peer from running, and a waiting side yields the CPU instead. Each side notes its
    /// CPU when it starts a wait and when it wakes a sleeping peer, the two moments the other
    /// side's decision depends on.
    fn peer_shares_cpu(&self, waiting_off: usize) -> bool {
        let (own, peer) = self.cpu_words(waiting_off);
        End::note_cpu(own) == peer.load(Ordering::Relaxed)
    }

    /// Waits until `ready()` holds, or the peer is gone. Spins first (adapting the budget), then
    /// sleeps on the futex word at `waiting_off`, which the peer clears and wakes.
    fn wait(&mut self, waiting_off: usize, ready: impl Fn(&Ring) -> bool) -> io::Result<Woken> {
        let start = Instant::now();
        if !self.spin.is_zero() {
            // With the peer on this CPU, a spin would only keep it from running: yield the CPU
            // to it instead, each turn (no flag is raised, so the peer makes no wake-up call).
            let shared = self.peer_shares_cpu(waiting_off);
            let mut turns = 0u32;
            loop {
                if ready(&self.ring) {
                    // Spinning paid off: let the budget grow back.
                    self.spin = (self.spin * 2).min(self.max_spin);
                    return Ok(Woken::Recheck);
                }
                // No PAUSE here: under a hypervisor, PAUSE loops trigger pause-loop exits that
                // deschedule this vCPU for microseconds, longer than the wait itself.
                turns = turns.wrapping_add(1);
                if shared {
                    rustix::thread::sched_yield();
                    if start.elapsed() >= self.spin {
                        break;
                    }
                } else if turns.is_multiple_of(64) && start.elapsed() >= self.spin {
                    break;
                }
            }
            // The peer was slower than the budget: spin less next time, and not at all once
            // the budget is down to nothing.
            self.spin /= 4;
            if self.spin < MIN_SPIN {
                self.spin = Duration::ZERO;
            }
        }
        let waiting = self.ring.word(waiting_off);
        waiting.store(SLEEPING, Ordering::SeqCst);
        if ready(&self.ring) {
            waiting.store(NOT_WAITING, Ordering::Relaxed);
            return Ok(Woken::Recheck);
        }
        let slice = futex::Timespec {
            tv_sec: 0,
            tv_nsec: SLEEP_SLICE.as_nanos() as _,
        };
        let result = futex::wait(waiting, futex::Flags::empty(), SLEEPING, Some(&slice));
        waiting.store(NOT_WAITING, Ordering::Relaxed);
        match result {
            Ok(()) | Err(Errno::AGAIN) | Err(Errno::INTR) => {
                if start.elapsed() <= self.max_spin {
                    // The peer answered within what this side is willing to spin: a spin would
                    // have caught it without the sleep and the wake-up, so spin in full again.
                    self.spin = self.max_spin;
                }
                Ok(Woken::Recheck)
            }
            Err(Errno::TIMEDOUT) => {
                if ready(&self.ring) {
                    Ok(Woken::Recheck)
                } else if self.peer_gone()? {
                    Ok(Woken::PeerGone)
                } else {
                    Ok(Woken::Recheck)
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Wakes the peer if it waits on the word at `waiting_off` (sleeping on it, or awaiting its
    /// bell). Called after publishing a position or a close flag.
    fn wake(&self, waiting_off: usize) {
        fence(Ordering::SeqCst);
        let waiting = self.ring.word(waiting_off);
        if waiting.load(Ordering::SeqCst) == NOT_WAITING {
            return;
        }
        let was = waiting.swap(NOT_WAITING, Ordering::SeqCst);
        if was == NOT_WAITING {
            return;
        }
        // This side is the one the waiter waits for: tell it where this side runs.
        let own_waiting = if waiting_off == OFF_READER_WAITING {
            OFF_WRITER_WAITING
        } else {
            OFF_READER_WAITING
        };
        End::note_cpu(self.cpu_words(own_waiting).0);
        if was == SLEEPING {
            let _ = futex::wake(waiting, futex::Flags::empty(), 1);
        } else {
            // Any other value is a task awaiting its bell (or a peer's garbage, for which one
            // spurious ring is harmless).
            let bell = if waiting_off == OFF_READER_WAITING {
                READER_BELL
            } else {
                WRITER_BELL
            };
            if let Ok(bell) = self.peer_bell_fd(bell) {
                let _ = rustix::io::write(bell, &1u64.to_ne_bytes());
            }
        }
    }

    /// The peer's bell (`which`: [`READER_BELL`] or [`WRITER_BELL`]), taken from the lifeline
    /// on first use and kept.
    fn peer_bell_fd(&self, which: usize) -> io::Result<BorrowedFd<'_>> {
        if let Some(bell) = self.peer_bell.get() {
            return Ok(bell.as_fd());
        }
        let [reader_bell, writer_bell] = Queued::peek(self.lifeline())?.bells;
        let bell = checked_bell(if which == READER_BELL {
            reader_bell
        } else {
            writer_bell
        })?;
        Ok(self.peer_bell.get_or_init(|| bell).as_fd())
    }

    /// Announces that a task awaits this side's bell (word at `waiting_off`), unless `ready()`
    /// already holds: `true` when the task should wait for the bell.
    #[cfg(feature = "tokio")]
    fn arm_bell(&self, waiting_off: usize, ready: impl Fn(&Ring) -> bool) -> bool {
        let waiting = self.ring.word(waiting_off);
        waiting.store(AWAITING_BELL, Ordering::SeqCst);
        if ready(&self.ring) {
            waiting.store(NOT_WAITING, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// A copy of this side's own bell (the one the peer rings), for an async front-end.
    #[cfg(feature = "tokio")]
    fn own_bell(&self, which: usize) -> io::Result<OwnedFd> {
        let [reader_bell, writer_bell] = Queued::peek(self.lifeline())?.bells;
        checked_bell(if which == READER_BELL {
            reader_bell
        } else {
            writer_bell
        })
    }
}

/// The read end of a shared-memory pipe.
pub struct ShmReader {
    end: End,
}

/// The write end of a shared-memory pipe.
pub struct ShmWriter {
    end: End,
}

impl ShmReader {
    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity as usize
    }

    /// Bytes that a read could take now without waiting.
    pub fn bytes_available(&self) -> io::Result<usize> {
        let written = self
            .end
            .ring
            .position(OFF_WRITE_POS)
            .load(Ordering::Acquire);
        Ok(self
            .end
            .ring
            .checked_fill(written.wrapping_sub(self.end.pos))? as usize)
    }

    /// Sets how long this end spins before it sleeps (see [`ShmPipeOptions::spin`]).
    pub fn set_spin(&mut self, spin: Duration) {
        self.end.set_spin(spin);
    }

    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.wait_readable()?.min(buf.len());
        if n > 0 {
            self.end.ring.copy_out(self.end.pos, &mut buf[..n])?;
            self.advance(n);
        }
        Ok(n)
    }

    /// Reads what is there without waiting: `None` when the ring is empty and the writer is
    /// still open, `Some(0)` at the end of data.
    #[cfg(feature = "tokio")]
    fn try_read_now(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut available = self.bytes_available()?;
        // The writer sets its flag after publishing its last bytes: look again after seeing it.
        if available == 0 && self.writer_closed() {
            available = self.bytes_available()?;
            if available == 0 {
                return Ok(Some(0));
            }
        }
        if available == 0 {
            return Ok(None);
        }
        let n = available.min(buf.len());
        if n > 0 {
            self.end.ring.copy_out(self.end.pos, &mut buf[..n])?;
            self.advance(n);
        }
        Ok(Some(n))
    }

    /// Waits until the ring holds bytes, and returns how many (0: the writer closed and every
    /// byte has been read).
    fn wait_readable(&mut self) -> io::Result<usize> {
        loop {
            let available = self.bytes_available()?;
            if available > 0 {
                return Ok(available);
            }
            // The writer sets its flag after publishing its last bytes: seeing the flag, look at
            // the position once more before calling it the end.
            if self.writer_closed() {
                if self.bytes_available()? > 0 {
                    continue;
                }
                return Ok(0);
            }
            if let Woken::PeerGone = self
                .end
                .wait(OFF_READER_WAITING, readable_since(self.end.pos))?
            {
                if self.bytes_available()? > 0 || self.writer_closed() {
                    continue;
                }
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "shared-memory pipe: the writer vanished without closing (killed?)",
                ));
            }
        }
    }

    fn writer_closed(&self) -> bool {
        self.end
            .ring
            .word(OFF_WRITER_CLOSED)
            .load(Ordering::Acquire)
            != 0
    }

    /// Hands `n` read bytes back to the writer.
    fn advance(&mut self, n: usize) {
        self.end.pos = self.end.pos.wrapping_add(n as u64);
        self.end
            .ring
            .position(OFF_READ_POS)
            .store(self.end.pos, Ordering::SeqCst);
        self.end.wake(OFF_WRITER_WAITING);
    }

    /// Waits like [`Read::read`] until there are bytes to read, then lends them where they lie
    /// in the ring instead of copying them out: the zero-copy read. The slice holds what a read
    /// could take now, up to the ring's end (the rest, after a wrap, comes with the next call);
    /// it is empty once the writer has closed and everything has been read. Nothing is consumed
    /// until [`ShmReader::consume`] says how much was used; until then the writer cannot reuse
    /// those bytes.
    ///
    /// ```
    /// use std::io::Write;
    ///
    /// let (mut reader, mut writer) = pipework::shm_pipe::create()?;
    /// writer.write_all(b"in place")?;
    /// drop(writer);
    /// let mut total = 0;
    /// loop {
    ///     // SAFETY: the writer is this program's own ShmWriter, which never touches bytes it
    ///     // has published.
    ///     let data = unsafe { reader.fill_buf_in_place()? };
    ///     if data.is_empty() {
    ///         break;
    ///     }
    ///     assert_eq!(data, b"in place");
    ///     let n = data.len();
    ///     total += n;
    ///     reader.consume(n);
    /// }
    /// assert_eq!(total, 8);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Safety
    /// The slice is shared memory that the writing process can write, and a `&[u8]` promises
    /// Rust that nothing changes it while it is borrowed. A [`ShmWriter`] never writes bytes it
    /// has published until the reader consumes them, so with a pipework writer (in any process)
    /// at the other end the promise holds. Call this only when the process holding the write
    /// end is trusted to be such a writer; when it might be hostile or buggy, use
    /// [`Read::read`], which copies the bytes out and checks nothing it reads twice. (Positions
    /// are checked either way: a lying peer cannot make the slice leave the ring.)
    pub unsafe fn fill_buf_in_place(&mut self) -> io::Result<&[u8]> {
        let available = self.wait_readable()?;
        let (start, len) = self.end.contiguous(available);
        // SAFETY: `HEADER + start + len` is within the view (`start + len` never passes the
        // capacity, and the view is `HEADER + capacity` bytes, checked when attaching); the
        // borrow of `self` keeps the view mapped; the caller vouches, per this function's
        // contract, that the writer leaves these published bytes alone until `consume`.
        Ok(unsafe {
            std::slice::from_raw_parts(self.end.ring.view.as_ptr().add(HEADER + start), len)
        })
    }

    /// Marks `n` bytes lent by [`ShmReader::fill_buf_in_place`] as read, giving their room back to
    /// the writer. `n` is capped at the bytes there are to read.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.bytes_available().unwrap_or(0));
        if n > 0 {
            self.advance(n);
        }
    }
}

impl ShmWriter {
    /// The ring's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.end.ring.capacity as usize
    }

    /// Sets how long this end spins before it sleeps (see [`ShmPipeOptions::spin`]).
    pub fn set_spin(&mut self, spin: Duration) {
        self.end.set_spin(spin);
    }

    fn broken(&self) -> io::Error {
        io::Error::new(
            ErrorKind::BrokenPipe,
            "shared-memory pipe: the reader is gone",
        )
    }

    fn write_all_or_some(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < data.len() {
            let free = match self.wait_writable() {
                Ok(free) => free,
                Err(e) if done > 0 && e.kind() == ErrorKind::BrokenPipe => return Ok(done),
                Err(e) => return Err(e),
            };
            let n = free.min(data.len() - done);
            self.end.ring.copy_in(self.end.pos, &data[done..done + n])?;
            self.publish(n);
            done += n;
        }
        Ok(done)
    }

    /// Writes what fits without waiting: `None` when the ring is full; `BrokenPipe` once the
    /// reader is gone.
    #[cfg(feature = "tokio")]
    fn try_write_now(&mut self, data: &[u8]) -> io::Result<Option<usize>> {
        if self.reader_closed() {
            return Err(self.broken());
        }
        let free = self.free()?;
        if free == 0 && !data.is_empty() {
            return Ok(None);
        }
        let n = free.min(data.len());
        if n > 0 {
            self.end.ring.copy_in(self.end.pos, &data[..n])?;
            self.publish(n);
        }
        Ok(Some(n))
    }

    /// Marks the write end closed for the reader (its end of data after what is in the ring),
    /// as dropping it does.
    fn close(&mut self) {
        self.end
            .ring
            .word(OFF_WRITER_CLOSED)
            .store(1, Ordering::SeqCst);
        self.end.wake(OFF_READER_WAITING);
    }

    /// Waits until the ring has room, and returns how much; `BrokenPipe` once the reader is
    /// gone.
    fn wait_writable(&mut self) -> io::Result<usize> {
        loop {
            if self.reader_closed() {
                return Err(self.broken());
            }
            let free = self.free()?;
            if free > 0 {
                return Ok(free);
            }
            let full_at = self.end.pos.wrapping_sub(self.end.ring.capacity);
            if let Woken::PeerGone = self.end.wait(OFF_WRITER_WAITING, writable_since(full_at))? {
                return Err(self.broken());
            }
        }
    }

    fn reader_closed(&self) -> bool {
        self.end
            .ring
            .word(OFF_READER_CLOSED)
            .load(Ordering::Acquire)
            != 0
    }

    /// Room in the ring now, from the reader's position (checked).
    fn free(&self) -> io::Result<usize> {
        let read = self.end.ring.position(OFF_READ_POS).load(Ordering::Acquire);
        let fill = self
            .end
            .ring
            .checked_fill(self.end.pos.wrapping_sub(read))?;
        Ok((self.end.ring.capacity - fill) as usize)
    }

    /// Publishes `n` more bytes to the reader.
    fn publish(&mut self, n: usize) {
        self.end.pos = self.end.pos.wrapping_add(n as u64);
        self.end
            .ring
            .position(OFF_WRITE_POS)
            .store(self.end.pos, Ordering::SeqCst);
        self.end.wake(OFF_READER_WAITING);
    }

    /// Waits like [`Write::write`] until the ring has room, then lends that room in place, for
    /// data produced straight into the ring (read from a file or socket, serialized, computed)
    /// instead of being copied in: the zero-copy write. The slice is the free room up to the
    /// ring's end, at least one byte; what it held before is unspecified. Nothing reaches the
    /// reader until [`ShmWriter::commit`] says how many bytes were filled.
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// let (mut reader, mut writer) = pipework::shm_pipe::create()?;
    /// // SAFETY: the reader is this program's own ShmReader, which never writes ring bytes.
    /// let room = unsafe { writer.reserve_in_place()? };
    /// room[..5].copy_from_slice(b"hello");
    /// writer.commit(5);
    /// drop(writer);
    /// let mut text = String::new();
    /// reader.read_to_string(&mut text)?;
    /// assert_eq!(text, "hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Safety
    /// The slice is shared memory that the reading process can write, and a `&mut [u8]`
    /// promises Rust that nothing else touches it while it is borrowed. A [`ShmReader`] never
    /// writes into the ring's data, so with a pipework reader (in any process) at the other end
    /// the promise holds. Call this only when the process holding the read end is trusted to be
    /// such a reader; otherwise use [`Write::write`]. (Positions are checked either way: a
    /// lying peer cannot make the slice leave the ring.)
    pub unsafe fn reserve_in_place(&mut self) -> io::Result<&mut [u8]> {
        let free = self.wait_writable()?;
        let (start, len) = self.end.contiguous(free);
        // SAFETY: `HEADER + start + len` is within the view (`start + len` never passes the
        // capacity, and the view is `HEADER + capacity` bytes, checked when attaching); the
        // borrow of `self` keeps the view mapped; these bytes are free room the reader has
        // handed back, and the caller vouches, per this function's contract, that the reading
        // process never writes ring data.
        Ok(unsafe {
            std::slice::from_raw_parts_mut(self.end.ring.view.as_ptr().add(HEADER + start), len)
        })
    }

    /// Publishes `n` bytes filled in the room lent by [`ShmWriter::reserve_in_place`], waking
    /// the reader. `n` is capped at the room there is; with the reader gone it is `BrokenPipe`.
    pub fn commit(&mut self, n: usize) -> io::Result<()> {
        if self.reader_closed() {
            return Err(self.broken());
        }
        let free = self.free()?;
        let (_, n) = self.end.contiguous(n.min(free));
        if n > 0 {
            self.publish(n);
        }
        Ok(())
    }
}

impl Read for ShmReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_some(buf)
    }
}

impl Write for ShmWriter {
    /// Returns once all of `buf` is in the ring (a partial count only when the reader went away
    /// after part of it was accepted; the next write then fails with `BrokenPipe`).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all_or_some(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ShmReader {
    fn drop(&mut self) {
        if self.end.lifeline.is_some() {
            self.end
                .ring
                .word(OFF_READER_CLOSED)
                .store(1, Ordering::SeqCst);
            self.end.wake(OFF_WRITER_WAITING);
        }
    }
}

impl Drop for ShmWriter {
    fn drop(&mut self) {
        if self.end.lifeline.is_some() {
            self.close();
        }
    }
}

impl From<ShmReader> for OwnedFd {
    /// The end's handle, to hand to another process, which adopts it with `TryFrom<OwnedFd>`.
    /// The end is not closed: whoever adopts the handle carries on from where this one stopped.
    fn from(mut end: ShmReader) -> OwnedFd {
        end.end.lifeline.take().expect("an end holds its lifeline")
    }
}

impl From<ShmWriter> for OwnedFd {
    /// The end's handle, to hand to another process, which adopts it with `TryFrom<OwnedFd>`.
    fn from(mut end: ShmWriter) -> OwnedFd {
        end.end.lifeline.take().expect("an end holds its lifeline")
    }
}

impl TryFrom<OwnedFd> for ShmReader {
    type Error = io::Error;

    /// Adopts a reader handle made with `OwnedFd::from(reader)` in this or another process.
    fn try_from(handle: OwnedFd) -> io::Result<ShmReader> {
        Ok(ShmReader {
            end: End::adopt(handle, OFF_READ_POS)?,
        })
    }
}

impl TryFrom<OwnedFd> for ShmWriter {
    type Error = io::Error;

    /// Adopts a writer handle made with `OwnedFd::from(writer)` in this or another process.
    fn try_from(handle: OwnedFd) -> io::Result<ShmWriter> {
        Ok(ShmWriter {
            end: End::adopt(handle, OFF_WRITE_POS)?,
        })
    }
}

impl AsFd for ShmReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.lifeline()
    }
}

impl AsFd for ShmWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.lifeline()
    }
}

impl AsRawFd for ShmReader {
    fn as_raw_fd(&self) -> RawFd {
        self.end.lifeline().as_raw_fd()
    }
}

impl AsRawFd for ShmWriter {
    fn as_raw_fd(&self) -> RawFd {
        self.end.lifeline().as_raw_fd()
    }
}

impl fmt::Debug for ShmReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmReader")
            .field("capacity", &self.end.ring.capacity)
            .field("position", &self.end.pos)
            .finish()
    }
}

impl fmt::Debug for ShmWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmWriter")
            .field("capacity", &self.end.ring.capacity)
            .field("position", &self.end.pos)
            .finish()
    }
}

/// The message variant of a shared-memory pipe: whole messages over the same ring, framed as the
/// named pipes frame them (a 4-byte length, then the bytes), read with the same
/// [`MessageRead`](crate::named_pipe::MessageRead) outcomes.
///
/// ```
/// use pipework::named_pipe::MessageRead;
/// use pipework::shm_pipe::{self, ShmMessageReader, ShmMessageWriter};
///
/// let (reader, writer) = shm_pipe::create()?;
/// let (mut reader, mut writer) = (ShmMessageReader::new(reader), ShmMessageWriter::new(writer));
/// writer.send(b"one")?;
/// writer.send(b"")?; // a 0-byte message is a message
/// writer.send(b"a longer one")?;
/// drop(writer);
/// let mut buf = [0u8; 5];
/// assert_eq!(reader.recv(&mut buf)?, MessageRead::Complete(3));
/// assert_eq!(reader.recv(&mut buf)?, MessageRead::Complete(0));
/// // Too small a buffer: the first part, and how much is left for the next reads.
/// assert_eq!(reader.recv(&mut buf)?, MessageRead::MoreData { read: 5, left: 7 });
/// assert_eq!(reader.recv(&mut [0u8; 16])?, MessageRead::Complete(7));
/// assert_eq!(reader.recv(&mut buf)?, MessageRead::End);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ShmMessageWriter {
    inner: ShmWriter,
}

/// The reading side of the message variant (see [`ShmMessageWriter`]).
pub struct ShmMessageReader {
    inner: ShmReader,
    framer: crate::named_pipe::framing::Framer,
}

impl ShmMessageWriter {
    /// Sends whole messages through `writer`.
    pub fn new(writer: ShmWriter) -> ShmMessageWriter {
        ShmMessageWriter { inner: writer }
    }

    /// Sends one message; returns once all of it is in the ring. Messages larger than the ring
    /// stream through it. `InvalidInput` above 4 GiB - 1 bytes.
    pub fn send(&mut self, message: &[u8]) -> io::Result<()> {
        let header = crate::named_pipe::framing::header(message.len())?;
        self.inner.write_all(&header)?;
        self.inner.write_all(message)
    }

    /// The byte end back.
    pub fn into_inner(self) -> ShmWriter {
        self.inner
    }
}

impl ShmMessageReader {
    /// Receives whole messages from `reader`.
    pub fn new(reader: ShmReader) -> ShmMessageReader {
        ShmMessageReader {
            inner: reader,
            framer: crate::named_pipe::framing::Framer::new(),
        }
    }

    /// Receives (the rest of) one message into `buf`: `Complete(n)`, `MoreData` when `buf` is too
    /// small (the rest stays for the next calls), or `End` once the writer closed. A writer that
    /// vanished in the middle of a message is an error, never a short message.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<crate::named_pipe::MessageRead> {
        let inner = &mut self.inner;
        self.framer.read_message(buf, &mut |b| inner.read(b))
    }
}

impl fmt::Debug for ShmMessageWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ShmMessageWriter")
            .field(&self.inner)
            .finish()
    }
}

impl fmt::Debug for ShmMessageReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ShmMessageReader")
            .field(&self.inner)
            .finish()
    }
}
