//! Mailslots: one-way message drops (Win32 `CreateMailslot`, `GetMailslotInfo`,
//! `SetMailslotInfo`, and a client's `CreateFile` + `WriteFile`).
//!
//! A *mailslot server* creates a slot by name and reads messages from it; any number of *clients*
//! in any processes open the slot by name and drop messages into it. Every message is kept, whole
//! and in order, until the server reads it; no writer waits for the server to read (at most a
//! 50 µs retry when the slot's socket is momentarily full, then the spool takes the message).
//!
//! ```
//! use std::time::Duration;
//! use pipework::mailslot::{Mailslot, MailslotClient};
//!
//! # let name = format!(r"\\.\mailslot\doc\{}", std::process::id());
//! // The server: any message size, reads wait up to one second.
//! let mut slot = Mailslot::create(&name, 0, Some(Duration::from_secs(1)))?;
//!
//! // A client, normally in another process.
//! let client = MailslotClient::open(&name)?;
//! client.send(b"first")?;
//! client.send(b"")?; // a 0-byte message is a message
//!
//! let info = slot.info()?;
//! assert_eq!((info.message_count, info.next_message_size), (2, Some(5)));
//! assert_eq!(slot.read_message()?, b"first");
//! assert_eq!(slot.read_message()?, b"");
//! // Empty and the timeout expires: TimedOut.
//! slot.set_read_timeout(Some(Duration::ZERO));
//! assert_eq!(slot.read_message().unwrap_err().kind(), std::io::ErrorKind::TimedOut);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreateMailslot(name, maxSize, readTimeout, sa)` | [`Mailslot::create`] |
//! | `ReadFile(slot, ...)` | [`Mailslot::read`], [`Mailslot::read_message`] |
//! | `GetMailslotInfo` | [`Mailslot::info`] → [`MailslotInfo`] |
//! | `SetMailslotInfo(slot, readTimeout)` | [`Mailslot::set_read_timeout`] |
//! | `MAILSLOT_WAIT_FOREVER` | `None` as the read timeout |
//! | `MAILSLOT_NO_MESSAGE` | `next_message_size: None` |
//! | `CreateFile(\\.\mailslot\x, GENERIC_WRITE, FILE_SHARE_READ, ...)` | [`MailslotClient::open`] |
//! | `CreateFile(\\host\mailslot\x)`, `\\*\...`, `\\domain\...` | [`MailslotClient::open`], [`MailslotClient::open_with`] + [`NetworkConfig`] |
//! | a server reachable from other computers | [`Mailslot::listen`] (opt-in) |
//! | `ReadFile` with `FILE_FLAG_OVERLAPPED` | `AsyncMailslot` (feature `tokio`): `Mailslot::into_async` |
//! | `WriteFile(client, ...)` | [`MailslotClient::send`], or [`Write`] |
//! | `CloseHandle` | `drop` |
//! | `ERROR_ALREADY_EXISTS` / `ERROR_FILE_NOT_FOUND` | [`ErrorKind::AlreadyExists`] / [`ErrorKind::NotFound`] |
//! | `ERROR_SEM_TIMEOUT` | [`ErrorKind::TimedOut`] |
//! | `ERROR_INSUFFICIENT_BUFFER` | [`ErrorKind::InvalidInput`], size from [`required_size`] |
//! | `ERROR_INVALID_NAME` | [`ErrorKind::InvalidInput`] |
//!
//! # Behaviour
//!
//! * Names are `\\.\mailslot\[path\]name`, compared without regard to case. Creating a name that
//!   a living server holds fails with [`ErrorKind::AlreadyExists`]; opening a name nobody serves
//!   fails with [`ErrorKind::NotFound`].
//! * The slot lives as long as its [`Mailslot`]: dropping it removes the name and discards unread
//!   messages. A server killed outright (`kill -9`) leaves nothing that blocks a new server of the
//!   same name (the name is held by a lock the kernel releases with the process), and what it
//!   left on disk is removed by the next server created or the next [`list`].
//! * A read returns exactly one whole message, oldest first; 0-byte messages exist. A buffer too
//!   small is an error ([`required_size`] tells the message's size) and the message stays queued.
//!   An empty slot with read timeout zero, or once the timeout expires, gives
//!   [`ErrorKind::TimedOut`].
//! * A message larger than the slot's maximum is refused by the writer, with an error naming both
//!   sizes.
//!
//! # Design: a socket for speed, a spool so that nothing waits or is lost
//!
//! Kernel datagram queues are short (`net.unix.max_dgram_qlen` and `fs.mqueue.msg_max` are often
//! 10) and a full one makes writers wait or drop, while a mailslot must keep every message until
//! it is read and never make a writer wait for the reader. So a slot has two ways in, both in a
//! private, per-user directory on tmpfs (`/dev/shm/pipework-<uid>/mailslot`, or
//! `$PIPEWORK_RUNTIME_DIR/mailslot`), named by a hash of the folded slot name:
//!
//! * **The socket** (a Unix datagram socket the server binds): a message of up to 2 KiB goes
//!   there as one datagram when the queue has room (a full queue is offered the datagram again
//!   for up to 50 µs, since a reading server is emptying it right then): one system call, and a
//!   server waiting in `poll` wakes for it.
//! * **The spool** (a file): a message that finds the socket full, or is larger, is appended
//!   to it. A writer takes the spool's append lock (an open-file-description lock on one byte,
//!   held for one `pwrite`), writes `[length][sequence][message]` after the committed end, moves
//!   the committed end in the shared header page, and, if the server has announced that it
//!   sleeps, sends it an empty datagram (the announcement and the end are read and written
//!   sequentially consistent on both sides, so no wakeup is lost). Committing after writing
//!   means a writer killed mid-append leaves nothing visible. The spool grows as far as memory
//!   lets it: 100,000 unread 100-byte messages are 11 MB of tmpfs. A writer waits only for
//!   another writer's append or the server's rewind, never for the server to read.
//! * **The server drains both in its own calls** (read, info): no thread runs behind the
//!   caller's back. Committed records never change, so it reads them without the lock; it takes
//!   the lock only to rewind the spool to empty once it has read everything. Servers read 16 MiB
//!   of spool at a time at most, and believe the end offset only as far as the file reaches.
//! * **Order.** Every message carries a sequence number from a counter in the header. A writer
//!   that spooled a record sends nothing directly until the server has rewound the spool past it,
//!   and the server notes the spool's end, empties the socket, reads the spool up to the noted
//!   end and sorts that round by sequence: so each writer's messages arrive in the order it sent
//!   them, each once and whole, whichever way each one took.
//! * **Lifetime.** The server holds a lock on another byte of the spool for its whole life: the
//!   name is taken while that lock is held, and a spool without it is stale (its server died)
//!   and is replaced by the next server of that name; the next server of *any* name (or
//!   [`list`]) removes it with its socket and unread messages. A write to a dead server's socket
//!   fails, so a writer learns at its next direct message that a crashed server is gone (a
//!   spooling writer checks the server's lock at every large message and every 32nd).
//! * **Distrust.** Records and datagrams are checked when taken in: a length that does not fit,
//!   or exceeds the slot's maximum, is dropped instead of trusted.
//!
//! The directory is created `0700` (spool files `0600`); a directory owned by another user, or
//! writable by others, is refused rather than used. Only processes of the same user reach a
//! slot.
//!
//! # Across machines
//!
//! A client of `\\host\mailslot\name` sends each message as one UDP datagram to that host; a
//! client of `\\*\mailslot\name` or `\\domain\mailslot\name` sends it to a multicast group
//! or broadcast address ([`NetworkConfig`]: port, group, interface, domain, TTL), where every
//! listening server of that name (and domain) takes it. Those broadcasts carry at most
//! [`MAX_BROADCAST_MESSAGE`] (424) bytes, refused at the writer above that. A server listens to the
//! network only after [`Mailslot::listen`]: nothing opens a network socket by default.
//!
//! **Delivery over the network is datagram delivery**, as in Win32: no receipt, no
//! retransmission, nothing kept for a server that is not listening, and a datagram the network
//! or a full receive buffer drops is lost. Datagrams that are malformed, too large for the slot,
//! or for another name or domain are dropped without disturbing the server. Several listening
//! slots of one host share the port; a datagram sent to the host for another of them is handed
//! over to it.

#[cfg(feature = "tokio")]
mod async_io;
mod net;
mod spool;

#[cfg(feature = "tokio")]
pub use self::async_io::AsyncMailslot;
pub use self::net::{
    NetworkConfig, DEFAULT_DOMAIN, DEFAULT_GROUP, DEFAULT_PORT, MAX_BROADCAST_MESSAGE,
};

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{
    bind, connect, recv, send, socket_with, AddressFamily, RecvFlags, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

use crate::name::mailslot::{self as name, MailslotName as SlotName, MailslotServer as Server};
use self::spool::{Spool, FLAG_CLOSED, FLAG_NETWORK, FLAG_SLEEPING, RECORD_HEADER};

/// The largest message any slot takes, whatever its maximum: lengths are 32-bit on the spool.
pub const MAX_MESSAGE_SIZE: usize = u32::MAX as usize;

/// What [`Mailslot::info`] reports (`GetMailslotInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailslotInfo {
    /// The largest message the slot accepts; 0 means any size.
    pub max_message_size: usize,
    /// The size of the next message, `None` when the slot is empty (`MAILSLOT_NO_MESSAGE`).
    pub next_message_size: Option<usize>,
    /// Messages waiting to be read.
    pub message_count: usize,
    /// How long a read waits for a message; `None` waits forever.
    pub read_timeout: Option<Duration>,
}

/// A mailslot of this user, as [`list`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailslotEntry {
    /// Its name, `\\.\mailslot\...` as its server spelled it.
    pub name: String,
    /// Messages written and not yet read by the server.
    pub queued: u64,
}

/// The error a read into a too-small buffer returns; [`required_size`] extracts the size.
#[derive(Debug)]
struct BufferTooSmall {
    slot: String,
    needed: usize,
    given: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mailslot {}: the next message is {} bytes, the buffer holds {}; it stays queued",
            self.slot, self.needed, self.given
        )
    }
}

impl std::error::Error for BufferTooSmall {}

/// The size of the message that did not fit, when `error` came from [`Mailslot::read`] into a
/// buffer too small (`ERROR_INSUFFICIENT_BUFFER`); `None` for any other error.
pub fn required_size(error: &io::Error) -> Option<usize> {
    error
        .get_ref()
        .and_then(|e| e.downcast_ref::<BufferTooSmall>())
        .map(|e| e.needed)
}

/// The server end of a mailslot: it owns the name and reads the messages.
///
/// Dropping it removes the name and discards unread messages.
pub struct Mailslot {
    display: String,
    spool: Spool,
    spool_path: PathBuf,
    wakeup: OwnedFd,
    wakeup_path: PathBuf,
    max_size: usize,
    read_timeout: Option<Duration>,
    queue: Queue,
    folded: String,
    network: Option<Listener>,
    /// How far into the spool this server has read.
    read_pos: u64,
    /// Receives one datagram from the slot's socket.
    recv_buf: Box<[u8]>,
}

/// Messages up to this size travel as one datagram on the slot's socket while its queue has
/// room; larger ones, and any that find the queue full, go through the spool.
const DIRECT_MAX: usize = 2048;
/// The most a server reads from its spool in one go (unless one record is larger).
const DRAIN_CHUNK: u64 = 16 << 20;
/// After finding the server's socket full, a client spools this many messages before it tries
/// the socket again.
const SPOOL_STREAK: u32 = 32;
/// How long a client keeps offering a datagram to a full socket before it spools the message:
/// a server that reads is usually emptying the queue right then, and one datagram is one system
/// call where a spooled record is three (lock, write, unlock). Short enough that no writer waits
/// on the server in any sense that matters: a server that does not read costs a writer this
/// much once per streak of spooled messages.
const FULL_RETRY: std::time::Duration = std::time::Duration::from_micros(50);

/// Sends `datagram` without blocking, offering it again for up to [`FULL_RETRY`] while the
/// server's queue is full.
fn send_retrying(socket: &OwnedFd, datagram: &[u8]) -> Result<usize, Errno> {
    let mut since: Option<std::time::Instant> = None;
    loop {
        match send(socket, datagram, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            Err(Errno::AGAIN) => {
                let start = *since.get_or_insert_with(std::time::Instant::now);
                if start.elapsed() >= FULL_RETRY {
                    return Err(Errno::AGAIN);
                }
                // No yield between tries: measured, it helped one writer sharing a CPU with the
                // server but cost several writers more, on one CPU or on two.
                std::hint::spin_loop();
            }
            other => return other,
        }
    }
}

/// A spooling client checks that the server lives every this many messages.
const LIVENESS_EVERY: u32 = 32;
/// A client's state for choosing between the socket and the spool.
#[derive(Clone, Copy)]
struct Ways<'a> {
    spool_streak: &'a std::sync::atomic::AtomicU32,
    spooled_at: &'a AtomicU64,
    spooled: &'a std::sync::atomic::AtomicU32,
}
/// A direct datagram: `[sequence: u64 LE][message]`.
const DIRECT_HEADER: usize = 8;

/// A server's UDP socket, when it listens to the network.
struct Listener {
    socket: std::net::UdpSocket,
    domain: String,
    buf: Box<[u8]>,
}

impl fmt::Debug for Mailslot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailslot")
            .field("name", &self.display)
            .field("max_message_size", &self.max_size)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

fn token() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    (u64::from(std::process::id()) << 32)
        ^ nanos.rotate_left(17)
        ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn with_context(e: io::Error, what: impl fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Mailslot {
    /// Creates the mailslot `\\.\mailslot\[path\]name` (`CreateMailslot`).
    ///
    /// `max_message_size` is the largest message writers may send (0: any size up to
    /// [`MAX_MESSAGE_SIZE`]); `read_timeout` is how long a read waits for a message (`None`:
    /// forever, `Some(Duration::ZERO)`: not at all).
    ///
    /// Fails with [`ErrorKind::AlreadyExists`] while another server holds the name (whatever its
    /// case), [`ErrorKind::InvalidInput`] for a malformed or non-local name, and
    /// [`ErrorKind::PermissionDenied`] when the per-user directory is not safely this user's.
    pub fn create(
        name: &str,
        max_message_size: usize,
        read_timeout: Option<Duration>,
    ) -> io::Result<Mailslot> {
        let parsed = name::parse(name)?;
        if parsed.server != Server::Local {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    r"mailslot {name}: a server creates its slot on this computer, \\.\mailslot\..."
                ),
            ));
        }
        if max_message_size > MAX_MESSAGE_SIZE {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("mailslot {name}: maximum message size {max_message_size} is above {MAX_MESSAGE_SIZE}"),
            ));
        }
        let display = parsed.local_display();
        let dir = spool::directory()?;
        let path = spool::spool_path(&dir, &parsed);
        let taken = || {
            io::Error::new(
                ErrorKind::AlreadyExists,
                format!("mailslot {display} already exists"),
            )
        };
        for _ in 0..64 {
            match Spool::open(&path) {
                Ok(existing) => {
                    if !crate::sys::lock::try_lock_byte(existing.fd.as_fd(), spool::ALIVE_BYTE)? {
                        return Err(taken());
                    }
                    // Its server is gone. Wait out a collector removing it right now, then,
                    // unless someone replaced it meanwhile, remove it.
                    crate::sys::lock::lock_byte(existing.fd.as_fd(), spool::GC_BYTE)?;
                    if spool::still_at(&existing.fd, &path)? {
                        if let Ok(header) = existing.header() {
                            let _ = std::fs::remove_file(spool::socket_path(&path, header.token));
                        }
                        let _ = std::fs::remove_file(&path);
                    }
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) if e.kind() == ErrorKind::InvalidData => {
                    // A file too short or without the magic: a spool being created right now
                    // never sits at the final path, so this is debris. Remove and retry.
                    let _ = std::fs::remove_file(&path);
                    continue;
                }
                Err(e) => return Err(with_context(e, format_args!("mailslot {display}"))),
            }
            let token = token();
            let mut temp = path.clone().into_os_string();
            temp.push(format!(".{token:016x}.new"));
            let temp = PathBuf::from(temp);
            let spool = Spool::create_new(&temp, &parsed, max_message_size as u64, token)
                .map_err(|e| with_context(e, format_args!("mailslot {display}")))?;
            let wakeup_path = spool::socket_path(&path, token);
            let wakeup = match bind_wakeup(&wakeup_path) {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = std::fs::remove_file(&temp);
                    return Err(with_context(e, format_args!("mailslot {display}")));
                }
            };
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &temp,
                rustix::fs::CWD,
                &path,
                rustix::fs::RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {
                    // What servers killed outright left here goes now.
                    spool::collect_stale(&dir, Some(&path));
                    return Ok(Mailslot {
                        display,
                        spool,
                        spool_path: path,
                        wakeup,
                        wakeup_path,
                        max_size: max_message_size,
                        read_timeout,
                        queue: Queue::default(),
                        folded: parsed.folded.clone(),
                        network: None,
                        read_pos: spool::DATA,
                        recv_buf: vec![0u8; DIRECT_HEADER + DIRECT_MAX + 1].into_boxed_slice(),
                    });
                }
                Err(Errno::EXIST) => {
                    // Another server published the name first; the next round tells if it lives.
                    let _ = std::fs::remove_file(&temp);
                    let _ = std::fs::remove_file(&wakeup_path);
                    continue;
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&temp);
                    let _ = std::fs::remove_file(&wakeup_path);
                    return Err(with_context(e.into(), format_args!("mailslot {display}")));
                }
            }
        }
        Err(io::Error::other(format!(
            "mailslot {display}: the name keeps changing hands; giving up"
        )))
    }

    /// The slot's name, `\\.\mailslot\...` as given to [`Mailslot::create`].
    pub fn name(&self) -> &str {
        &self.display
    }

    /// Reads the next message into `buf` and returns its size (`ReadFile`).
    ///
    /// Waits up to the read timeout for a message; an empty slot then gives
    /// [`ErrorKind::TimedOut`]. A message larger than `buf` stays queued and the read fails with
    /// [`ErrorKind::InvalidInput`]; [`required_size`] on the error gives the size needed.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait_for_message()?;
        let size = self.queue.front_size().expect("a message is queued");
        if size > buf.len() {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                BufferTooSmall {
                    slot: self.display.clone(),
                    needed: size,
                    given: buf.len(),
                },
            ));
        }
        let n = self.queue.pop_into(buf);
        self.spool.count_consumed();
        Ok(n)
    }

    /// Reads the next message, whatever its size, into a new vector (waiting as [`Mailslot::read`]
    /// does).
    pub fn read_message(&mut self) -> io::Result<Vec<u8>> {
        self.wait_for_message()?;
        let size = self.queue.front_size().expect("a message is queued");
        let mut message = vec![0; size];
        let n = self.queue.pop_into(&mut message);
        debug_assert_eq!(n, size);
        self.spool.count_consumed();
        Ok(message)
    }

    /// The slot's state (`GetMailslotInfo`): maximum size, next message size, count, timeout.
    pub fn info(&mut self) -> io::Result<MailslotInfo> {
        self.drain()?;
        Ok(MailslotInfo {
            max_message_size: self.max_size,
            next_message_size: self.queue.front_size(),
            message_count: self.queue.count,
            read_timeout: self.read_timeout,
        })
    }

    /// Changes how long reads wait (`SetMailslotInfo`): `None` forever, zero not at all.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// The current read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// Moves every message waiting on the slot's socket, committed to the spool, or waiting on
    /// the network into the in-process queue, each writer's messages in the order it sent them.
    ///
    /// A writer's messages take two ways (socket datagrams, spool records), so the order of one
    /// round is: note the spool's committed end, empty the socket, read the spool up to the
    /// noted end, and sort the round by the writers' sequence numbers. A writer that spooled a
    /// record sends nothing directly until the server has read past it (the spool was rewound
    /// since), so a datagram never overtakes that writer's spooled records; and a record within
    /// the noted end was committed before the socket was emptied, so the datagrams its writer
    /// sent before it are in this round too.
    fn drain(&mut self) -> io::Result<()> {
        let end = self.spool.committed_end()?;
        let mut direct = Vec::new();
        loop {
            match recv(
                &self.wakeup,
                &mut self.recv_buf[..],
                RecvFlags::DONTWAIT | RecvFlags::TRUNC,
            ) {
                Ok((_, full)) => self.take_direct(full, &mut direct),
                Err(Errno::INTR) => {}
                Err(_) => break, // empty (or an error that the next poll reports again)
            }
        }
        let mut chunks = Vec::new();
        while self.read_pos < end {
            let before = self.read_pos;
            chunks.push(self.read_spool(end)?);
            if self.read_pos == before {
                break;
            }
        }
        let spooled = if chunks.len() <= 1 {
            chunks.pop().unwrap_or_default()
        } else if direct.is_empty() {
            for chunk in chunks {
                self.queue.push_batch(chunk, self.max_size);
            }
            Vec::new()
        } else {
            chunks.concat()
        };
        match (direct.is_empty(), spooled.is_empty()) {
            (true, _) => self.queue.push_batch(spooled, self.max_size),
            (false, true) => self.queue.push_batch(direct, self.max_size),
            (false, false) => self
                .queue
                .push_batch(merge_by_sequence(&spooled, &direct), self.max_size),
        }
        if self.read_pos > spool::REWIND_ABOVE {
            let guard = self.spool.lock_append()?;
            if guard.rewind_if_read(self.read_pos)? {
                self.read_pos = spool::DATA;
            }
        }
        self.drain_network();
        Ok(())
    }

    /// Reads the committed records from where this server stopped up to `end`, at most
    /// [`DRAIN_CHUNK`] bytes (or one whole record, if larger) per call, so that neither a long
    /// backlog nor a corrupt end offset makes one huge allocation. Leaves a record that the
    /// chunk cuts for the next call; skips a malformed tail.
    fn read_spool(&mut self, end: u64) -> io::Result<Vec<u8>> {
        if end <= self.read_pos {
            return Ok(Vec::new());
        }
        let mut to = end;
        if end - self.read_pos > DRAIN_CHUNK {
            // A long way to go: believe the end offset only as far as the file reaches.
            let real_end = end.min(self.spool.file_len()?);
            if real_end <= self.read_pos {
                self.read_pos = end;
                return Ok(Vec::new());
            }
            let head = self
                .spool
                .read_committed(self.read_pos, self.read_pos + RECORD_HEADER as u64)?;
            let first = record_len(&head).map_or(0, |len| (RECORD_HEADER + len) as u64);
            to = real_end.min(self.read_pos + DRAIN_CHUNK.max(first));
        }
        let mut bytes = self.spool.read_committed(self.read_pos, to)?;
        let mut whole = 0;
        while let Some(size) = record_size(&bytes[whole..]) {
            whole += size;
        }
        if to < end && whole > 0 {
            // The chunk cut a record (or the file ends early): read on from the cut next time.
            bytes.truncate(whole);
            self.read_pos += whole as u64;
        } else {
            // Read to the end (a tail that is not a whole record is skipped), or nothing whole
            // where a record should be: the file was cut short, and what is missing is gone.
            self.read_pos = end;
        }
        Ok(bytes)
    }

    /// Appends the datagram of `full` bytes in `recv_buf` to `records` as a record, if it is a
    /// message: an empty datagram only wakes the reader, and one shorter than a header or
    /// longer than any direct message (not from a pipework writer) or above the slot's maximum
    /// is dropped.
    fn take_direct(&self, full: usize, records: &mut Vec<u8>) {
        if !(DIRECT_HEADER..=DIRECT_HEADER + DIRECT_MAX).contains(&full) {
            return;
        }
        let len = full - DIRECT_HEADER;
        if self.max_size != 0 && len > self.max_size {
            return;
        }
        records.extend_from_slice(&(len as u32).to_le_bytes());
        records.extend_from_slice(&self.recv_buf[..full]);
    }

    /// Takes messages from the network too (Win32: a slot is reachable as
    /// `\\thishost\mailslot\name` and by domain broadcasts). Off until called: a server that
    /// never calls this opens no network socket. Binds UDP `config.port` on every address (shared
    /// with other listening slots of this host) and joins `config.group` when it is a multicast
    /// group.
    ///
    /// Delivery over the network is datagram delivery: no receipt, and messages the network or a
    /// full receive buffer loses are lost. Datagrams that are malformed, for another name or
    /// domain, or above this slot's maximum size are dropped.
    pub fn listen(&mut self, config: &NetworkConfig) -> io::Result<()> {
        let socket = net::listen(config)
            .map_err(|e| with_context(e, format_args!("mailslot {}", self.display)))?;
        self.network = Some(Listener {
            socket,
            domain: config.domain.to_lowercase(),
            buf: vec![0u8; 1 << 16].into_boxed_slice(),
        });
        self.spool.flags().fetch_or(FLAG_NETWORK, Ordering::AcqRel);
        Ok(())
    }

    /// Queues every datagram waiting on the network socket that is for this slot.
    fn drain_network(&mut self) {
        let Some(listener) = self.network.as_mut() else {
            return;
        };
        loop {
            let n = match listener.socket.recv(&mut listener.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // WouldBlock: drained. Other errors (a stray ICMP report) end this round only.
                Err(_) => return,
            };
            let Some(datagram) = net::decode(&listener.buf[..n]) else {
                continue;
            };
            let ours = datagram.name == self.folded
                && match &datagram.kind {
                    net::Kind::Host | net::Kind::Everyone => true,
                    net::Kind::Domain(d) => *d == listener.domain,
                };
            if ours {
                if self.max_size == 0 || datagram.message.len() <= self.max_size {
                    self.queue.push_message(datagram.message);
                    self.spool.count_produced();
                }
            } else if datagram.kind == net::Kind::Host {
                // Sent to this host for another listening slot that shares the port: the kernel
                // gives a unicast datagram to one socket only, so hand it over.
                forward(datagram.name, datagram.message);
            }
        }
    }

    /// Takes in everything waiting; `true` once a message is queued, `false` when nothing is
    /// there and the spool is rewound, so that the caller may sleep until the slot's socket (or
    /// network socket) turns readable: every writer sends to the socket after its message is in.
    fn ready_or_idle(&mut self) -> io::Result<bool> {
        self.spool
            .flags()
            .fetch_and(!FLAG_SLEEPING, Ordering::SeqCst);
        loop {
            if self.queue.count > 0 {
                return Ok(true);
            }
            self.drain()?;
            if self.queue.count > 0 {
                return Ok(true);
            }
            // Everything is read: start the spool again from empty, unless a writer has just
            // committed more (then read that first).
            if self.read_pos != spool::DATA {
                let guard = self.spool.lock_append()?;
                if !guard.rewind_if_read(self.read_pos)? {
                    continue;
                }
                self.read_pos = spool::DATA;
            }
            // Announce the sleep, then look once more: a writer that spools a record after
            // this sees the flag and wakes the server; one that spooled before is seen here.
            // (Sequentially consistent on both sides: one of the two must see the other.)
            self.spool.flags().fetch_or(FLAG_SLEEPING, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            if self.spool.committed_end()? != self.read_pos {
                self.spool
                    .flags()
                    .fetch_and(!FLAG_SLEEPING, Ordering::SeqCst);
                continue;
            }
            return Ok(false);
        }
    }

    fn timed_out(&self) -> io::Error {
        io::Error::new(
            ErrorKind::TimedOut,
            format!(
                "mailslot {}: no message within the read timeout",
                self.display
            ),
        )
    }

    fn wait_for_message(&mut self) -> io::Result<()> {
        let deadline = self.read_timeout.map(|t| Instant::now() + t);
        loop {
            if self.ready_or_idle()? {
                return Ok(());
            }
            let left = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(self.timed_out());
                    }
                    Some(left)
                }
                None => None,
            };
            if left.is_none() && self.network.is_none() {
                // Waiting forever on the socket alone: sleep in `recv` and take what wakes it.
                // This writer's earlier messages are all in already: those it spooled were read
                // before the rewind that let it send directly, and those it sent directly came
                // before this one on the socket.
                match recv(&self.wakeup, &mut self.recv_buf[..], RecvFlags::TRUNC) {
                    Ok((_, full)) => {
                        let mut record = Vec::new();
                        self.take_direct(full, &mut record);
                        self.queue.push_batch(record, self.max_size);
                    }
                    Err(Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
                continue;
            }
            let timeout = left.map(|l| Timespec {
                tv_sec: l.as_secs() as _,
                tv_nsec: l.subsec_nanos() as _,
            });
            // Every writer sends to the socket after its message is in (a datagram, or an empty
            // one after a spooled message), so the socket turns readable for anything that came
            // after the drain above.
            let polled = match &self.network {
                None => {
                    let mut fds = [PollFd::new(&self.wakeup, PollFlags::IN)];
                    poll(&mut fds, timeout.as_ref())
                }
                Some(listener) => {
                    let mut fds = [
                        PollFd::new(&self.wakeup, PollFlags::IN),
                        PollFd::new(&listener.socket, PollFlags::IN),
                    ];
                    poll(&mut fds, timeout.as_ref())
                }
            };
            match polled {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Merges the whole records `[len][seq][message]` of two runs into one run ordered by sequence
/// number (stable: equal numbers keep their order). Malformed tails are left out.
fn merge_by_sequence(first: &[u8], second: &[u8]) -> Vec<u8> {
    let mut records: Vec<(u64, &[u8])> = Vec::new();
    for run in [first, second] {
        let mut pos = 0;
        while let Some(size) = record_size(&run[pos..]) {
            let record = &run[pos..pos + size];
            let seq = u64::from_le_bytes(record[4..12].try_into().expect("8 bytes"));
            records.push((seq, record));
            pos += size;
        }
    }
    records.sort_by_key(|&(seq, _)| seq);
    let mut merged = Vec::with_capacity(first.len() + second.len());
    for (_, record) in records {
        merged.extend_from_slice(record);
    }
    merged
}

/// The message length a record header at the start of `bytes` states.
fn record_len(bytes: &[u8]) -> Option<usize> {
    let len = bytes.get(..4)?;
    Some(u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize)
}

/// The size of the whole record at the start of `bytes`, if one is there whole.
fn record_size(bytes: &[u8]) -> Option<usize> {
    let len = record_len(bytes)?;
    let size = RECORD_HEADER.checked_add(len)?;
    (bytes.len() >= size).then_some(size)
}

impl Drop for Mailslot {
    fn drop(&mut self) {
        self.spool.flags().fetch_or(FLAG_CLOSED, Ordering::AcqRel);
        let _ = std::fs::remove_file(&self.spool_path);
        let _ = std::fs::remove_file(&self.wakeup_path);
    }
}

/// Delivers a datagram for another local slot that listens to the network.
fn forward(folded: &str, message: &[u8]) {
    let Ok(parsed) = name::parse(&format!(r"\\.\mailslot\{folded}")) else {
        return;
    };
    if parsed.folded != folded {
        return;
    }
    if let Ok(client) = MailslotClient::open_local(&parsed) {
        if client_listens(&client) && (client.max_size == 0 || message.len() <= client.max_size) {
            let _ = client.send(message);
        }
    }
}

fn client_listens(client: &MailslotClient) -> bool {
    match &client.target {
        Target::Local { spool, .. } => spool.flags().load(Ordering::Acquire) & FLAG_NETWORK != 0,
        Target::Remote { .. } => false,
    }
}

/// The server's socket: blocking, so that a read waiting forever sleeps in `recv` itself;
/// every other receive passes `MSG_DONTWAIT`.
fn bind_wakeup(path: &Path) -> io::Result<OwnedFd> {
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    at_socket_path(path, |addr| Ok(bind(&fd, addr)?))?;
    Ok(fd)
}

/// Runs `f` with a socket address for `path`. A path too long for a socket address (108 bytes,
/// which a long runtime directory can exceed) is reached through `/proc/self/fd/N/` of its
/// directory, opened for the call.
fn at_socket_path<T>(
    path: &Path,
    f: impl FnOnce(&SocketAddrUnix) -> io::Result<T>,
) -> io::Result<T> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().len() < 108 {
        return f(&SocketAddrUnix::new(path)?);
    }
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
        return f(&SocketAddrUnix::new(path)?);
    };
    let dir = rustix::fs::open(
        dir,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let mut short = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    short.extend_from_slice(file.as_bytes());
    f(&SocketAddrUnix::new(short)?)
}

/// Messages taken out of the spool, waiting for the server's reads.
#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    count: usize,
}

/// A run of records `[len u32 LE][seq u64 LE][message]`, all checked, read from `pos` on.
struct Batch {
    bytes: Vec<u8>,
    pos: usize,
}

impl Queue {
    /// Checks `bytes` record by record and queues the whole records: a record longer than `max`
    /// (when not 0) is dropped, and a tail that is not a whole record is left out.
    fn push_batch(&mut self, mut bytes: Vec<u8>, max: usize) {
        let mut pos = 0;
        let mut count = 0;
        let mut oversized = false;
        while let Some(size) = record_size(&bytes[pos..]) {
            if max != 0 && size - RECORD_HEADER > max {
                oversized = true;
            } else {
                count += 1;
            }
            pos += size;
        }
        bytes.truncate(pos);
        if oversized {
            // Only a writer that ignored the slot's maximum sends these: drop them, keep the rest.
            let mut kept = Vec::with_capacity(bytes.len());
            let mut at = 0;
            while let Some(size) = record_size(&bytes[at..]) {
                if size - RECORD_HEADER <= max {
                    kept.extend_from_slice(&bytes[at..at + size]);
                }
                at += size;
            }
            bytes = kept;
        }
        if count > 0 {
            self.batches.push_back(Batch { bytes, pos: 0 });
            self.count += count;
        }
    }

    /// Queues one message that came whole from elsewhere (the network).
    fn push_message(&mut self, message: &[u8]) {
        let mut bytes = Vec::with_capacity(RECORD_HEADER + message.len());
        bytes.extend_from_slice(&(message.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(message);
        self.batches.push_back(Batch { bytes, pos: 0 });
        self.count += 1;
    }

    fn front_size(&self) -> Option<usize> {
        let batch = self.batches.front()?;
        let header = batch.bytes.get(batch.pos..batch.pos + 4)?;
        Some(u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize)
    }

    /// Copies the front message into `buf` (which must hold it) and removes it.
    fn pop_into(&mut self, buf: &mut [u8]) -> usize {
        let size = self.front_size().expect("a message is queued");
        let batch = self.batches.front_mut().expect("a batch");
        let start = batch.pos + RECORD_HEADER;
        buf[..size].copy_from_slice(&batch.bytes[start..start + size]);
        batch.pos = start + size;
        if batch.pos >= batch.bytes.len() {
            self.batches.pop_front();
        }
        self.count -= 1;
        size
    }
}

/// A client's handle on a mailslot: it only writes (`CreateFile` on a mailslot name).
///
/// Each [`send`](MailslotClient::send) (or each `write` call of [`Write`]) is one message.
pub struct MailslotClient {
    display: String,
    max_size: usize,
    target: Target,
}

enum Target {
    /// `\\.\mailslot\...`: the slot's spool on this computer.
    ///
    /// The spool's append lock belongs to the open file, which every thread using this client
    /// shares, so `appending` keeps this process's threads to one append at a time.
    Local {
        spool: Spool,
        wakeup: OwnedFd,
        appending: std::sync::Mutex<()>,
        /// Messages to spool without trying the socket, after the socket was found full.
        spool_streak: std::sync::atomic::AtomicU32,
        /// The server's rewind count when this client last spooled a record (`u64::MAX`:
        /// never). Until the count moves past it, the server has not read that record, and
        /// this client sends nothing directly, which could overtake it.
        spooled_at: AtomicU64,
        /// Messages this client spooled: every [`LIVENESS_EVERY`]th, and every large one, first
        /// checks that the server still lives (a spooled message reaches no socket that could
        /// tell).
        spooled: std::sync::atomic::AtomicU32,
    },
    /// Another computer, or every slot of the name in a domain: UDP datagrams.
    Remote {
        sender: net::Sender,
        header: Vec<u8>,
    },
}

impl fmt::Debug for MailslotClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailslotClient")
            .field("name", &self.display)
            .field("max_message_size", &self.max_size)
            .finish_non_exhaustive()
    }
}

impl MailslotClient {
    /// Opens the mailslot `name` for writing (`CreateFile`), with the default [`NetworkConfig`]
    /// for names that reach the network.
    ///
    /// * `\\.\mailslot\x`: the slot on this computer. Fails with [`ErrorKind::NotFound`] when
    ///   no server holds it.
    /// * `\\host\mailslot\x`: the slot on that host (an address, or a name the resolver knows).
    /// * `\\*\mailslot\x`, `\\domain\mailslot\x` (a name that does not resolve to a host):
    ///   every listening slot of that name on the network segment, in that domain. Messages are
    ///   at most [`MAX_BROADCAST_MESSAGE`] bytes.
    ///
    /// Network messages are datagrams: opening always succeeds and nothing tells whether a
    /// server received them (as in Win32).
    pub fn open(name: &str) -> io::Result<MailslotClient> {
        Self::open_with(name, &NetworkConfig::default())
    }

    /// Opens the mailslot `name` for writing, sending network messages as `config` says.
    pub fn open_with(name: &str, config: &NetworkConfig) -> io::Result<MailslotClient> {
        let parsed = name::parse(name)?;
        let server = match &parsed.server {
            Server::Local => return Self::open_local(&parsed),
            Server::Everyone => None,
            Server::Named(host) => Some(host.as_str()),
        };
        let sender = net::sender(server, config)
            .map_err(|e| with_context(e, format_args!("mailslot {name}")))?;
        let header = net::header(&parsed.folded, &sender.kind);
        Ok(MailslotClient {
            display: name.to_string(),
            max_size: 0,
            target: Target::Remote { sender, header },
        })
    }

    fn open_local(parsed: &SlotName) -> io::Result<MailslotClient> {
        let display = parsed.local_display();
        let missing = || io::Error::new(ErrorKind::NotFound, format!("no mailslot {display}"));
        let dir = spool::directory()?;
        let path = spool::spool_path(&dir, parsed);
        let spool = match Spool::open(&path) {
            Ok(s) => s,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidData) => {
                return Err(missing())
            }
            Err(e) => return Err(with_context(e, format_args!("mailslot {display}"))),
        };
        let header = spool
            .header()
            .map_err(|e| with_context(e, format_args!("mailslot {display}")))?;
        if crate::name::fold(&header.name) != parsed.folded || !spool.is_alive()? {
            return Err(missing());
        }
        let wakeup = socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        match at_socket_path(&spool::socket_path(&path, header.token), |addr| {
            Ok(connect(&wakeup, addr)?)
        }) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ECONNREFUSED) | Some(libc::ENOENT)
                ) =>
            {
                return Err(missing())
            }
            Err(e) => return Err(with_context(e, format_args!("mailslot {display}"))),
        }
        Ok(MailslotClient {
            display,
            max_size: usize::try_from(header.max_size).unwrap_or(MAX_MESSAGE_SIZE),
            target: Target::Local {
                spool,
                wakeup,
                appending: std::sync::Mutex::new(()),
                spool_streak: std::sync::atomic::AtomicU32::new(0),
                spooled_at: AtomicU64::new(u64::MAX),
                spooled: std::sync::atomic::AtomicU32::new(0),
            },
        })
    }

    /// The largest message the slot accepts; 0 means any size (or, for a slot on the network,
    /// unknown here: the datagram limits apply and the server drops what exceeds its maximum).
    pub fn max_message_size(&self) -> usize {
        self.max_size
    }

    /// Drops one message into the slot (`WriteFile`); never waits for the server to read (a full
    /// socket queue is retried for at most 50 µs before the message is spooled).
    ///
    /// A message larger than the slot's maximum (or, over the network, than one datagram, or
    /// than [`MAX_BROADCAST_MESSAGE`] for a domain) fails with [`ErrorKind::InvalidInput`]; a
    /// local slot whose server has closed fails with [`ErrorKind::NotFound`].
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        match &self.target {
            Target::Local {
                spool,
                wakeup,
                appending,
                spool_streak,
                spooled_at,
                spooled,
            } => {
                // A thread that panicked while holding it left nothing half-done that matters:
                // uncommitted bytes are overwritten by the next append.
                let _one_at_a_time = appending.lock().unwrap_or_else(|e| e.into_inner());
                let ways = Ways {
                    spool_streak,
                    spooled_at,
                    spooled,
                };
                self.send_local(spool, wakeup, &ways, message)
            }
            Target::Remote { sender, header } => {
                net::check_size(&self.display, &sender.kind, message.len(), header.len())?;
                let mut datagram = Vec::with_capacity(header.len() + message.len());
                datagram.extend_from_slice(header);
                datagram.extend_from_slice(message);
                net::send(sender, &datagram)
                    .map_err(|e| with_context(e, format_args!("mailslot {}", self.display)))
            }
        }
    }

    fn send_local(
        &self,
        spool: &Spool,
        wakeup: &OwnedFd,
        ways: &Ways<'_>,
        message: &[u8],
    ) -> io::Result<()> {
        let Ways {
            spool_streak,
            spooled_at,
            spooled,
        } = *ways;
        let limit = if self.max_size == 0 {
            MAX_MESSAGE_SIZE
        } else {
            self.max_size
        };
        if message.len() > limit {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "mailslot {}: a {}-byte message exceeds the slot's maximum of {limit} bytes",
                    self.display,
                    message.len()
                ),
            ));
        }
        let seq = spool.next_seq();
        let streak = spool_streak.load(Ordering::Relaxed);
        let last_spooled = spooled_at.load(Ordering::Relaxed);
        if streak > 0 {
            // The server is behind: its socket was full a moment ago.
            spool_streak.store(streak - 1, Ordering::Relaxed);
        } else if last_spooled != u64::MAX && spool.rewinds() <= last_spooled {
            // A record of ours may still be unread in the spool: a datagram could overtake it.
        } else if message.len() <= DIRECT_MAX {
            // The direct way: one datagram, while the server's socket queue has room.
            let mut datagram = [0u8; DIRECT_HEADER + DIRECT_MAX];
            datagram[..DIRECT_HEADER].copy_from_slice(&seq.to_le_bytes());
            datagram[DIRECT_HEADER..DIRECT_HEADER + message.len()].copy_from_slice(message);
            let datagram = &datagram[..DIRECT_HEADER + message.len()];
            match send_retrying(wakeup, datagram) {
                Ok(_) => {
                    spool.count_produced();
                    return Ok(());
                }
                Err(Errno::CONNREFUSED) | Err(Errno::PIPE) => return Err(self.gone()),
                // Full (or short of memory): the spool keeps it instead, and the next few.
                Err(_) => spool_streak.store(SPOOL_STREAK, Ordering::Relaxed),
            }
        }
        let n = spooled.fetch_add(1, Ordering::Relaxed);
        if (message.len() > DIRECT_MAX || n % LIVENESS_EVERY == 0) && !spool.is_alive()? {
            return Err(self.gone());
        }
        let flags = {
            let guard = spool.lock_append()?;
            let flags = guard.append(seq, message)?;
            spooled_at.store(guard.rewinds(), Ordering::Relaxed);
            flags
        };
        if flags & FLAG_CLOSED != 0 {
            return Err(self.gone());
        }
        // Wake the server if it sleeps (see `Mailslot::ready_or_idle`). A full queue means it has
        // datagrams to wake it already.
        std::sync::atomic::fence(Ordering::SeqCst);
        if spool.flags().load(Ordering::SeqCst) & FLAG_SLEEPING == 0 {
            return Ok(());
        }
        match send(wakeup, &[], SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            Err(Errno::CONNREFUSED) | Err(Errno::PIPE) => Err(self.gone()),
            _ => Ok(()),
        }
    }

    fn gone(&self) -> io::Error {
        io::Error::new(
            ErrorKind::NotFound,
            format!("mailslot {}: the server has closed the slot", self.display),
        )
    }
}

impl Write for MailslotClient {
    /// Sends `buf` as one message.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &MailslotClient {
    /// Sends `buf` as one message.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// This user's living mailslots with their queued message counts, by name.
pub fn list() -> io::Result<Vec<MailslotEntry>> {
    let dir = spool::directory()?;
    spool::collect_stale(&dir, None);
    let mut entries = Vec::new();
    for path in spool::spool_files(&dir)? {
        let Ok(spool) = Spool::open(&path) else {
            continue;
        };
        if !spool.is_alive().unwrap_or(false) {
            continue;
        }
        let Ok(header) = spool.header() else { continue };
        entries.push(MailslotEntry {
            name: format!(r"\\.\mailslot\{}", header.name),
            queued: spool.queued(),
        });
    }
    entries.sort_by_key(|e| e.name.to_lowercase());
    Ok(entries)
}
