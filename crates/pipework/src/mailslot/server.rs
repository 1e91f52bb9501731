//! The server end, [`Mailslot`]: creating the slot by name, taking in what writers left on the
//! socket, in the spool and on the network, and reading it one whole message at a time.

use std::fmt;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;

use super::client::forward;
use super::net::{self, Delivery, Endpoint, NetworkConfig, NetworkStats, FOLLOW_RETRY};
use super::queue::{
    bind_wakeup, decode_after, merge_by_sequence, record_len, Queue, DIRECT_HEADER, DIRECT_MAX,
};
use super::ring::{self, Rings};
use super::spool::{
    self, Shared, Spool, Step, FLAG_CLOSED, FLAG_LISTENER, FLAG_NETWORK, FLAG_RING_BELL,
    FLAG_SLEEPING, RECORD_HEADER,
};
use super::{MessageRead, MAX_MESSAGE_SIZE};
use crate::name::lease::{self, Lease};
use crate::name::mailslot::{self as name, MailslotServer as Server};
use crate::name::{place, Kind};
use crate::sys::error::{error, invalid, named};
use crate::sys::mmsg::{recv_batch, MAX_BATCH};
use crate::sys::retry::retry;

/// One datagram's room in the receive buffer: one byte more than a direct message can take, so
/// that a longer datagram shows as longer and is dropped.
const RECV_SLOT: usize = DIRECT_HEADER + DIRECT_MAX + 1;
/// While reads are served from a queued backlog, the socket is emptied every this many reads:
/// well before the writers fill its queue (`net.unix.max_dgram_qlen`, 10 by default) again.
const SOCKET_EVERY: u32 = 8;

/// The longest a reader waiting forever spins on the writers' count of delivered messages
/// before it sleeps in `recv`: a writer whose message comes within the spin wakes nobody (the
/// send finds no sleeper), where a sleeping reader costs every send a cross-CPU wake-up (under
/// a hypervisor, microseconds; more than the message itself). The budget adapts as the
/// shared-memory pipe's does: it doubles when a spin pays off, falls by four when one runs out,
/// down to nothing (a loaded machine, writers that send seldom, a writer on the reader's CPU),
/// and comes back in full after a sleep shorter than it.
const MAX_SPIN: Duration = Duration::from_micros(50);
/// The shortest spin worth making; below it the reader sleeps at once.
const MIN_SPIN: Duration = Duration::from_micros(2);
/// Once failed spins brought the budget to nothing, every this many sleeps a quarter of the
/// full budget is tried again (a slow wake-up would otherwise keep the reader sleeping for good).
const PROBE_EVERY: u32 = 16;

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

/// How a mailslot is made (`CreateMailslot`'s parameters), in the style of
/// [`ServerOptions`](crate::named_pipe::ServerOptions): set what differs from the defaults, then
/// [`create`](MailslotOptions::create).
///
/// ```
/// use std::time::Duration;
/// use pipework::mailslot::MailslotOptions;
///
/// # let name = format!(r"\\.\mailslot\doc-options\{}", std::process::id());
/// let slot = MailslotOptions::new()
///     .max_message_size(424)
///     .read_timeout(Some(Duration::from_secs(1)))
///     .create(&name)?;
/// assert_eq!(slot.read_timeout(), Some(Duration::from_secs(1)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MailslotOptions {
    max_message_size: usize,
    read_timeout: Option<Duration>,
    shared_memory: bool,
}

impl Default for MailslotOptions {
    fn default() -> Self {
        MailslotOptions {
            max_message_size: 0,
            read_timeout: None,
            shared_memory: true,
        }
    }
}

impl MailslotOptions {
    /// Any message size, reads that wait forever (`MAILSLOT_WAIT_FOREVER`), local writers on
    /// shared memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether pipework writers on this machine put their messages in rings in the slot's
    /// shared memory (on, the default): a ring per writer (up to 16 writers at once; the others
    /// use the socket), no system call per message on either side, 64 KiB of memory per ring a
    /// writer used. Off, every local message is a datagram on the slot's socket (or a spooled
    /// record), as before rings existed. Either way every mailslot behaviour holds: order per
    /// writer, whole messages, nothing waits for the reader, counts and sizes in
    /// [`Mailslot::info`].
    pub fn shared_memory(&mut self, on: bool) -> &mut Self {
        self.shared_memory = on;
        self
    }

    /// The largest message writers may send (`nMaxMessageSize`; 0, the default: any size up to
    /// [`MAX_MESSAGE_SIZE`]). Above [`MAX_MESSAGE_SIZE`], `create` fails with `InvalidInput`.
    pub fn max_message_size(&mut self, bytes: usize) -> &mut Self {
        self.max_message_size = bytes;
        self
    }

    /// How long a read waits for a message (`lReadTimeout`): `None` (the default) forever,
    /// `Some(Duration::ZERO)` not at all. Any duration is taken, `Duration::MAX` included (it
    /// waits as long as forever).
    pub fn read_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.read_timeout = timeout;
        self
    }

    /// Creates the mailslot `\\.\mailslot\[path\]name` (`CreateMailslot`).
    ///
    /// Fails with [`ErrorKind::AlreadyExists`] while another server holds the name (whatever its
    /// case), [`ErrorKind::InvalidInput`] for a malformed or non-local name or a maximum above
    /// [`MAX_MESSAGE_SIZE`], and [`ErrorKind::PermissionDenied`] when the per-user directory is
    /// not safely this user's.
    pub fn create(&self, name: &str) -> io::Result<Mailslot> {
        Mailslot::create_with(name, self)
    }
}

/// The server end of a mailslot: it owns the name and reads the messages.
///
/// Dropping it removes the name and discards unread messages.
///
/// * Names are `\\.\mailslot\[path\]name`, compared without regard to case. Creating a name that
///   a living server holds fails with [`ErrorKind::AlreadyExists`]; opening a name nobody serves
///   fails with [`ErrorKind::NotFound`].
/// * The slot lives as long as its [`Mailslot`]: dropping it removes the name and discards unread
///   messages. A server killed outright (`kill -9`) leaves nothing that blocks a new server of the
///   same name (the name is held by a lock the kernel releases with the process), and what it
///   left on disk is removed by the next server created or the next [`list`](super::list).
/// * A read returns exactly one whole message, oldest first; 0-byte messages exist. A buffer too
///   small is an error ([`required_size`] tells the message's size) and the message stays queued.
///   An empty slot with read timeout zero, or once the timeout expires, gives
///   [`ErrorKind::TimedOut`].
/// * A message larger than the slot's maximum is refused by the writer, with an error naming both
///   sizes.
pub struct Mailslot {
    display: String,
    spool: Spool,
    pub(super) shared: Shared,
    /// The hold on the name: the spool file and the wakeup socket, this server's alone.
    lease: Option<Lease>,
    pub(super) wakeup: OwnedFd,
    max_size: usize,
    pub(super) read_timeout: Option<Duration>,
    queue: Queue,
    folded: String,
    pub(super) network: Option<Network>,
    /// Counts the changes of `network`'s sockets (a follower taking over), for the async front.
    pub(super) network_generation: u64,
    /// How far into the spool this server has read.
    read_pos: u64,
    /// Receives a batch of datagrams from the slot's socket, [`RECV_SLOT`] bytes each.
    recv_buf: Box<[u8]>,
    /// Reads served from the queue since the socket was last emptied.
    reads_since_socket: u32,
    /// The writers' count of delivered messages ([`Shared::produced`]) just before the last
    /// receive from the socket: anything counted up to it was sent before that receive.
    produced_seen: u64,
    /// Whether the last receive took as many datagrams as it asked for (more may wait).
    socket_maybe_full: bool,
    /// The spin budget of a reader waiting forever (see [`MAX_SPIN`]).
    spin: Duration,
    /// Sleeps since the spin budget fell to nothing (see [`PROBE_EVERY`]).
    sleeps: u32,
    /// Where this server has read the writers' rings.
    rings: Rings,
}

/// How a slot that serves the network takes its datagrams.
pub(crate) enum Network {
    /// This slot holds the machine's listener (sockets) on the interface.
    Listener(Endpoint),
    /// Another slot of this user holds it and hands this slot what is addressed to it; this
    /// one tries to take the port over at `next_try`.
    Follower {
        config: NetworkConfig,
        next_try: Instant,
    },
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

impl Mailslot {
    /// Creates the mailslot `name` that takes messages of at most `max_message_size` bytes and
    /// whose reads wait `read_timeout`.
    #[deprecated(
        note = "renamed to MailslotOptions::new().max_message_size(n).read_timeout(t).create(name)"
    )]
    pub fn create(
        name: &str,
        max_message_size: usize,
        read_timeout: Option<Duration>,
    ) -> io::Result<Mailslot> {
        MailslotOptions::new()
            .max_message_size(max_message_size)
            .read_timeout(read_timeout)
            .create(name)
    }

    fn create_with(name: &str, options: &MailslotOptions) -> io::Result<Mailslot> {
        let MailslotOptions {
            max_message_size,
            read_timeout,
            shared_memory,
        } = *options;
        let parsed = name::parse(name)?;
        if parsed.server != Server::Local {
            return Err(invalid(
                format_args!("mailslot {name}"),
                r"a server creates its slot on this computer, \\.\mailslot\...",
            ));
        }
        if max_message_size > MAX_MESSAGE_SIZE {
            return Err(invalid(
                format_args!("mailslot {name}"),
                format_args!("maximum message size {max_message_size} is above {MAX_MESSAGE_SIZE}"),
            ));
        }
        let display = parsed.local_display();
        let dir = place::mailslot_dir()?;
        let path = place::mailslot_spool(&dir, &parsed);
        let taken = || {
            io::Error::new(
                ErrorKind::AlreadyExists,
                format!("mailslot {display} already exists"),
            )
        };
        let context = format!("mailslot {display}");
        for _ in 0..64 {
            match Spool::open(&path) {
                Ok(existing) => {
                    if !crate::sys::lock::try_lock_byte(existing.fd.as_fd(), spool::ALIVE_BYTE)? {
                        return Err(taken());
                    }
                    // Its server is gone. Wait out a collector removing it right now, then,
                    // unless someone replaced it meanwhile, remove it.
                    crate::sys::lock::lock_byte(existing.fd.as_fd(), spool::GC_BYTE)?;
                    let socket = existing
                        .header()
                        .ok()
                        .map(|header| place::mailslot_socket(&path, header.token));
                    lease::reclaim_sole(lease::identity(&existing.fd)?, &path, socket.as_slice())
                        .map_err(|e| named(&context, e))?;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) if e.kind() == ErrorKind::InvalidData => {
                    // A file too short or without the magic: a spool being created right now
                    // never sits at the final path, so this is debris. Remove and retry.
                    lease::remove_part(&path).map_err(|e| named(&context, e))?;
                    continue;
                }
                Err(e) => return Err(named(&context, e)),
            }
            let token = token();
            let temp = place::mailslot_new_spool(&path, token);
            let rings = if shared_memory { ring::RINGS } else { 0 };
            let shared = Shared::create(rings).map_err(|e| named(&context, e))?;
            let spool = Spool::create_new(&temp, &parsed, max_message_size as u64, token, &shared)
                .map_err(|e| named(&context, e))?;
            let wakeup_path = place::mailslot_socket(&path, token);
            let wakeup = match bind_wakeup(&wakeup_path) {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = lease::remove_part(&temp);
                    return Err(named(&context, e));
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
                    let anchor = lease::identity(&spool.fd).map_err(|e| named(&context, e))?;
                    let lease = Lease::sole(
                        Kind::Mailslot,
                        display.clone(),
                        path,
                        anchor,
                        vec![wakeup_path],
                    );
                    return Ok(Mailslot {
                        display,
                        spool,
                        shared,
                        lease: Some(lease),
                        wakeup,
                        max_size: max_message_size,
                        read_timeout,
                        queue: Queue::default(),
                        folded: parsed.folded.clone(),
                        network: None,
                        network_generation: 0,
                        read_pos: spool::DATA,
                        recv_buf: vec![0u8; MAX_BATCH * RECV_SLOT].into_boxed_slice(),
                        reads_since_socket: 0,
                        produced_seen: 0,
                        socket_maybe_full: false,
                        spin: MAX_SPIN,
                        sleeps: 0,
                        rings: Rings::default(),
                    });
                }
                Err(Errno::EXIST) => {
                    // Another server published the name first; the next round tells if it lives.
                    let _ = lease::remove_part(&temp);
                    let _ = lease::remove_part(&wakeup_path);
                    continue;
                }
                Err(e) => {
                    let _ = lease::remove_part(&temp);
                    let _ = lease::remove_part(&wakeup_path);
                    return Err(named(&context, e));
                }
            }
        }
        Err(io::Error::other(format!(
            "mailslot {display}: the name keeps changing hands; giving up"
        )))
    }

    /// The slot's name, `\\.\mailslot\...` as given to [`MailslotOptions::create`].
    pub fn name(&self) -> &str {
        &self.display
    }

    /// Closes the slot (`CloseHandle`), as dropping it does (unread messages are discarded),
    /// but returns what went wrong removing its name (a name left behind is reclaimed by the
    /// next server or list).
    pub fn close(mut self) -> io::Result<()> {
        self.shared.flags().fetch_or(FLAG_CLOSED, Ordering::AcqRel);
        match self.lease.take() {
            Some(lease) => lease.release(),
            None => Ok(()),
        }
    }

    /// Reads the next message into `buf` and returns its size (`ReadFile` on a mailslot).
    ///
    /// Waits up to the read timeout for a message; an empty slot then gives
    /// [`ErrorKind::TimedOut`]. A message larger than `buf` stays queued and the read fails with
    /// [`ErrorKind::InvalidInput`] (`ERROR_INSUFFICIENT_BUFFER`); [`required_size`] on the error
    /// gives the size needed. [`read_message`](Mailslot::read_message) reads such a message in
    /// parts instead, as a named pipe's message reads do.
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
        let (n, _) = self.queue.read_front(buf).expect("a message is queued");
        self.shared.count_consumed();
        Ok(n)
    }

    /// Reads (the rest of) the next message into `buf`, as a named pipe's
    /// [`read_message`](crate::named_pipe::NamedPipeServer::read_message) does: a message that
    /// fits is [`MessageRead::Complete`]; a larger one fills `buf` and gives
    /// [`MessageRead::MoreData`] (`ERROR_MORE_DATA`) with the bytes left, which the next reads
    /// return before any other message. A mailslot has no end: never [`MessageRead::End`].
    ///
    /// Waits as [`read`](Mailslot::read) does: [`ErrorKind::TimedOut`] once the read timeout
    /// passes with the slot empty.
    pub fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        self.wait_for_message()?;
        let (read, left) = self.queue.read_front(buf).expect("a message is queued");
        if left > 0 {
            return Ok(MessageRead::MoreData {
                read,
                left: left as u64,
            });
        }
        self.shared.count_consumed();
        Ok(MessageRead::Complete(read))
    }

    /// Reads (the rest of) the next message, whatever its size, appending it to `out`; returns
    /// [`MessageRead::Complete`] with its size (waiting as [`read`](Mailslot::read) does).
    pub fn read_message_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<MessageRead> {
        self.wait_for_message()?;
        let size = self.queue.front_size().expect("a message is queued");
        let at = out.len();
        // The message is in memory already, checked: its size is not a peer's claim.
        out.resize(at + size, 0);
        let (n, _) = self
            .queue
            .read_front(&mut out[at..])
            .expect("a message is queued");
        self.shared.count_consumed();
        Ok(MessageRead::Complete(n))
    }

    /// The slot's state (`GetMailslotInfo`): maximum size, next message size, count, timeout.
    pub fn info(&mut self) -> io::Result<MailslotInfo> {
        self.drain()?;
        let counted = usize::try_from(self.shared.queued()).unwrap_or(usize::MAX);
        Ok(MailslotInfo {
            max_message_size: self.max_size,
            next_message_size: self.queue.front_size(),
            message_count: self.queue.count.max(counted),
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

    fn context(&self) -> String {
        format!("mailslot {}", self.display)
    }

    /// Moves the messages waiting on the slot's socket, committed to the spool (at most
    /// [`spool::DRAIN_CHUNK`] bytes of it, or one record if larger), or waiting on the network
    /// into the in-process queue, each writer's messages in the order it sent them.
    ///
    /// A writer's messages take two ways (socket datagrams, spool records), so the order of one
    /// round is: note the spool's committed end, empty the socket, read the spool from where
    /// the last round stopped (up to the noted end), and sort the round by the writers'
    /// sequence numbers. A writer that spooled a record sends nothing directly until the server
    /// has read past it (the spool was rewound since, or the read position published after a
    /// round has passed the record), so a datagram never overtakes that
    /// writer's spooled records, including those a later round reads; and a record within the
    /// noted end was committed before the socket was emptied, so the datagrams its writer sent
    /// before it are in this round or an earlier one.
    fn drain(&mut self) -> io::Result<()> {
        self.reads_since_socket = 0;
        let end = match self.shared.committed_end() {
            Ok(end) => end,
            Err(e) => {
                self.recover()?;
                return Err(named(self.context(), e));
            }
        };
        let (mut direct, after) = self.empty_socket();
        // After the socket: a writer's ring record is never followed by a datagram of the same
        // writer (a writer with a ring uses it or the spool), and one committed before the spool's
        // end noted above is in the rings now.
        let fault = self.rings.drain(&self.shared, &mut direct);
        // Records a datagram of this round says it comes after are committed (its writer sent
        // it after committing them): read that far too.
        let now = self.committed_end_keeping(&mut direct)?;
        self.take_round(direct, end.max(after.min(now)))?;
        if let Some(e) = fault {
            return Err(named(self.context(), e));
        }
        if self.read_pos > spool::REWIND_ABOVE {
            let guard = self.spool.lock_append(&self.shared)?;
            if guard.rewind_if_read(self.read_pos)? {
                self.read_pos = spool::DATA;
            }
        }
        self.drain_network();
        Ok(())
    }

    /// After finding the spool or the shared words spoiled by another process: starts the spool
    /// again from empty (what it held is lost) and writes its header page back, so that writers
    /// can use it again. Messages already taken in stay queued.
    fn recover(&mut self) -> io::Result<()> {
        let guard = self.spool.lock_append(&self.shared)?;
        guard.reset()?;
        self.read_pos = spool::DATA;
        Ok(())
    }

    /// Reads the next whole records from where this server stopped towards `end`: at most
    /// [`spool::DRAIN_CHUNK`] bytes, or the one record there if larger (and only when the file
    /// holds it), skipping records above the slot's maximum unread. What the spool states and
    /// does not hold (a file cut short, a length past the end) is `InvalidData`, after which
    /// the caller [recovers](Mailslot::recover).
    fn read_spool(&mut self, end: u64) -> io::Result<Vec<u8>> {
        /// What the first read of a round takes: the records a busy slot has spooled meanwhile.
        const FIRST_READ: u64 = 64 * 1024;
        loop {
            if end <= self.read_pos {
                return Ok(Vec::new());
            }
            // One read takes the first records with their headers: no `fstat` for the file's
            // length and no read of the header alone (a file cut short reads short, which
            // `next_step` is told as the file's end).
            let want = (end - self.read_pos).min(FIRST_READ);
            let mut bytes = self.queue.buffer();
            if let Err(e) =
                self.spool
                    .read_committed_into(self.read_pos, self.read_pos + want, &mut bytes)
            {
                self.queue.recycle(bytes);
                return Err(e);
            }
            let got = bytes.len() as u64;
            let file_len = if got < want {
                self.read_pos + got
            } else {
                end.max(self.read_pos + got)
            };
            let first_len = if end - self.read_pos >= RECORD_HEADER as u64 {
                record_len(&bytes).map(|len| len as u32)
            } else {
                None
            };
            let step = spool::next_step(
                self.read_pos,
                end,
                file_len,
                first_len,
                self.max_size as u64,
            );
            let to = match step {
                Step::Read { to } => to,
                Step::Skip { to } => {
                    self.queue.recycle(bytes);
                    self.read_pos = to;
                    continue;
                }
                Step::Nothing => {
                    self.queue.recycle(bytes);
                    return Ok(Vec::new());
                }
                Step::Corrupt(why) => return Err(io::Error::new(ErrorKind::InvalidData, why)),
            };
            let have = self.read_pos + got;
            if to > have {
                // A larger batch (or one large record): the rest in one more read.
                self.spool.read_committed_into(have, to, &mut bytes)?;
            } else {
                bytes.truncate((to - self.read_pos) as usize);
            }
            let whole = super::queue::scan_records(&bytes, 0).span;
            if whole == 0 {
                // The file lost what `next_step` saw it hold: cut meanwhile.
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "the spool was cut short while it was read",
                ));
            }
            bytes.truncate(whole);
            self.read_pos += whole as u64;
            return Ok(bytes);
        }
    }

    /// Queues the datagrams waiting on the slot's socket, with the spool's records that they
    /// say they come after, if any. Safe for order between rounds: a writer sends a datagram
    /// without such a mark only once the server has taken in every record it spooled before
    /// (the read position it publishes after a round), so what the socket holds now comes after
    /// everything those writers spooled that is queued already, and before anything they spool
    /// later.
    fn take_socket(&mut self) -> io::Result<()> {
        self.reads_since_socket = 0;
        // Nothing counted on the socket or spool since the last receive (ring writers only):
        // no receive to find it empty.
        let (mut direct, after) =
            if self.shared.produced() == self.produced_seen && !self.socket_maybe_full {
                (self.queue.buffer(), 0)
            } else {
                self.empty_socket()
            };
        // The rings too, for the same reason: a ring writer with records unread in the spool
        // puts nothing in its ring.
        let fault = self.rings.drain(&self.shared, &mut direct);
        self.take_datagrams(direct, after)?;
        match fault {
            Some(e) => Err(named(self.context(), e)),
            None => Ok(()),
        }
    }

    /// Queues `direct`, datagrams just received, with the records up to `after` (the farthest
    /// record a datagram among them says it comes after; 0 for none).
    fn take_datagrams(&mut self, mut direct: Vec<u8>, after: u64) -> io::Result<()> {
        let upto = if after > self.read_pos {
            after.min(self.committed_end_keeping(&mut direct)?)
        } else {
            self.read_pos
        };
        self.take_round(direct, upto)
    }

    /// The committed end of the spool. One that another process spoiled is `InvalidData`, after
    /// `direct` (records already taken off the socket) is queued and the spool started again.
    fn committed_end_keeping(&mut self, direct: &mut Vec<u8>) -> io::Result<u64> {
        match self.shared.committed_end() {
            Ok(end) => Ok(end),
            Err(e) => {
                self.queue.push_batch(std::mem::take(direct), self.max_size);
                self.recover()?;
                Err(named(self.context(), e))
            }
        }
    }

    /// Empties the slot's socket (until empty, or an error that the next poll reports again):
    /// the records of the datagrams that are messages, and the farthest spooled record (in the
    /// spool's current round) one of them says it comes after, else 0. A batch short of full
    /// means the queue was empty after it, so a queue that holds less than one batch takes one
    /// system call.
    fn empty_socket(&mut self) -> (Vec<u8>, u64) {
        let mut direct = self.queue.buffer();
        let mut after = 0;
        while let Ok(n) = self.receive_batch(false, &mut direct, &mut after) {
            if n < MAX_BATCH {
                break;
            }
        }
        (direct, after)
    }

    /// Queues the records `direct` (from the socket, in its order) with the spool's committed
    /// records from where this server stopped up to `upto`, merged by sequence number, then
    /// publishes how far it has read the spool.
    fn take_round(&mut self, direct: Vec<u8>, upto: u64) -> io::Result<()> {
        let spooled = match self.read_spool(upto) {
            Ok(spooled) => {
                // After the socket was emptied: a writer that sees its record read now sends
                // its next datagram into a later round.
                self.shared.set_read_pos(self.read_pos);
                spooled
            }
            Err(e) => {
                // What came directly is not lost with the spool's fault.
                self.queue.push_batch(direct, self.max_size);
                if e.kind() == ErrorKind::InvalidData {
                    self.recover()?;
                }
                return Err(named(self.context(), e));
            }
        };
        match (direct.is_empty(), spooled.is_empty()) {
            (true, _) => {
                self.queue.recycle(direct);
                self.queue.push_batch(spooled, self.max_size);
            }
            (false, true) => self.queue.push_batch(direct, self.max_size),
            (false, false) => {
                let merged = merge_by_sequence(&spooled, &direct);
                self.queue.recycle(direct);
                self.queue.recycle(spooled);
                self.queue.push_batch(merged, self.max_size);
            }
        }
        Ok(())
    }

    /// Receives a batch of datagrams from the slot's socket (waiting for the first, or not at
    /// all) and appends those that are messages to `records`; returns how many came.
    fn receive_batch(
        &mut self,
        wait: bool,
        records: &mut Vec<u8>,
        after: &mut u64,
    ) -> Result<usize, Errno> {
        self.produced_seen = self.shared.produced();
        self.receive_up_to(MAX_BATCH, false, wait, records, after)
    }

    /// [`receive_batch`](Mailslot::receive_batch) of at most `want` datagrams (1 to
    /// [`MAX_BATCH`]): a receive that asks for exactly what is there makes no second attempt
    /// in the kernel to find the queue empty. Notes whether datagrams may be left behind: when
    /// it took all it asked for, or, when `counted` (it asked for as many as the writers' count
    /// says were sent since the socket was last emptied), when something it took was no
    /// message (an empty wake-up took the place of a message the count said came).
    fn receive_up_to(
        &mut self,
        want: usize,
        counted: bool,
        wait: bool,
        records: &mut Vec<u8>,
        after: &mut u64,
    ) -> Result<usize, Errno> {
        let mut lens = [0usize; MAX_BATCH];
        let lens = &mut lens[..want.clamp(1, MAX_BATCH)];
        let received =
            retry(|| recv_batch(&self.wakeup, &mut self.recv_buf, RECV_SLOT, lens, wait));
        let n = match received {
            Ok(n) => n,
            Err(e) => {
                if e == Errno::AGAIN {
                    self.socket_maybe_full = false;
                }
                return Err(e);
            }
        };
        let round = self.shared.rewinds();
        // One allocation for the batch's records (each a datagram's length, or less).
        records.reserve(lens[..n].iter().sum::<usize>());
        let mut messages = 0;
        for (i, &len) in lens[..n].iter().enumerate() {
            let at = i * RECV_SLOT;
            let datagram = &self.recv_buf[at..at + len];
            if let Some(end) = datagram
                .get(8..DIRECT_HEADER)
                .and_then(|word| decode_after(u64::from_le_bytes(word.try_into().ok()?), round))
            {
                *after = (*after).max(end);
            }
            if take_direct(datagram, self.max_size, records) {
                messages += 1;
            }
        }
        self.socket_maybe_full = if counted {
            messages < n
        } else {
            n == lens.len()
        };
        if !self.socket_maybe_full {
            self.reads_since_socket = 0;
        }
        Ok(n)
    }

    /// Takes messages from the network too (Win32: a slot is reachable as
    /// `\\thishost\mailslot\name` and by domain broadcasts). Off until called: a server that
    /// never calls this opens no network socket. `config` must name an interface
    /// ([`NetworkConfig::interface`]); nothing listens on any other.
    ///
    /// The first serving slot of this machine binds the wire's UDP port ([`NetworkConfig::port`],
    /// 138 for NetBIOS) on the interface's address and broadcast address (or multicast group),
    /// and on NetBIOS also the name service port, where it answers queries for this machine's
    /// name. Any later serving slot of this user follows it: the listener hands it what is
    /// addressed to it, and it takes the port over when the listener goes (within
    /// [`FOLLOW_RETRY`](super::FOLLOW_RETRY) of its next wait). The listener's names (NetBIOS
    /// name, workgroup, scope) are the ones the machine answers to.
    ///
    /// Fails with [`ErrorKind::AddrInUse`] when another program holds the port on that
    /// interface (Samba's `nmbd` does while it runs: pipework does not share the port, since
    /// the kernel would hand each unicast datagram to one of the two), with
    /// [`ErrorKind::PermissionDenied`] when this process may not bind a port below 1024 (UDP
    /// 138 needs `CAP_NET_BIND_SERVICE`, or `net.ipv4.ip_unprivileged_port_start` at 137 or
    /// below), with [`ErrorKind::InvalidInput`] without an interface, and
    /// [`ErrorKind::NotFound`] for an interface this machine does not have.
    ///
    /// Named for what it does, serve the slot on the network, and not `listen`: elsewhere in
    /// pipework `listen`/`accept` make a rendezvous that clients connect to, which a mailslot
    /// has no use for.
    ///
    /// Delivery over the network is datagram delivery: no receipt, and messages the network or a
    /// full receive buffer loses are lost. Datagrams that are malformed, truncated, oversized,
    /// for another machine, or above this slot's maximum size are dropped and counted
    /// ([`network_stats`](Mailslot::network_stats)), never fatal.
    pub fn serve_network(&mut self, config: &NetworkConfig) -> io::Result<()> {
        let context = self.context();
        if self.network.is_some() {
            return Err(invalid(&context, "the slot already serves the network"));
        }
        let iface = net::interface(config).map_err(|e| named(&context, e))?;
        if config.wire == net::Wire::Netbios {
            net::netbios_name(config).map_err(|e| named(&context, e))?;
        }
        let key = net::listen_key(config.wire, &iface, config.port);
        self.shared.set_listen_key(key);
        // Claimed before the bind, so that a slot starting at the same moment, whose own bind
        // fails because this one's succeeded, finds a listener to follow.
        self.shared
            .flags()
            .fetch_or(FLAG_LISTENER, Ordering::AcqRel);
        let opened = Endpoint::open(config);
        if opened.is_err() {
            self.shared
                .flags()
                .fetch_and(!FLAG_LISTENER, Ordering::AcqRel);
        }
        let network = match opened {
            Ok(endpoint) => Network::Listener(endpoint),
            Err(e) if e.kind() == ErrorKind::AddrInUse => {
                let dir = place::mailslot_dir()?;
                if !spool::listener_lives(&dir, key) {
                    return Err(error(
                        ErrorKind::AddrInUse,
                        &context,
                        format_args!(
                            "UDP port {} on {} is held by another program (Samba's nmbd holds \
                             it while it runs: pipework and nmbd cannot both serve mailslots \
                             on one interface)",
                            config.port, iface.address
                        ),
                    ));
                }
                Network::Follower {
                    config: config.clone(),
                    next_try: Instant::now() + FOLLOW_RETRY,
                }
            }
            Err(e) => return Err(named(&context, e)),
        };
        self.network = Some(network);
        self.network_generation += 1;
        self.shared.flags().fetch_or(FLAG_NETWORK, Ordering::AcqRel);
        Ok(())
    }

    /// Takes messages from the network too.
    #[deprecated(note = "renamed to Mailslot::serve_network")]
    pub fn listen(&mut self, config: &NetworkConfig) -> io::Result<()> {
        self.serve_network(config)
    }

    /// What this slot's network listener has received and dropped, as of the last read or
    /// [`info`](Mailslot::info); `None` unless this slot holds the listener (a slot that
    /// follows another's, or does not serve the network, sees no datagram itself).
    pub fn network_stats(&self) -> Option<NetworkStats> {
        match &self.network {
            Some(Network::Listener(endpoint)) => Some(endpoint.stats()),
            _ => None,
        }
    }

    /// When a follower next tries to take the listener over (`None`: not a follower).
    pub(super) fn follow_deadline(&self) -> Option<Instant> {
        match &self.network {
            Some(Network::Follower { next_try, .. }) => Some(*next_try),
            _ => None,
        }
    }

    /// Queues every datagram waiting on the network sockets that is for this slot and hands on
    /// those for other serving slots; a follower whose time has come tries to take over.
    fn drain_network(&mut self) {
        let Some(network) = self.network.as_mut() else {
            return;
        };
        if let Network::Follower { config, next_try } = network {
            if Instant::now() < *next_try {
                return;
            }
            match Endpoint::open(config) {
                Ok(endpoint) => {
                    self.shared
                        .flags()
                        .fetch_or(FLAG_LISTENER, Ordering::AcqRel);
                    *network = Network::Listener(endpoint);
                    self.network_generation += 1;
                }
                Err(_) => {
                    *next_try = Instant::now() + FOLLOW_RETRY;
                    return;
                }
            }
        }
        let Network::Listener(endpoint) = network else {
            return;
        };
        let key = endpoint.key;
        let (folded, queue, shared, max) =
            (&self.folded, &mut self.queue, &self.shared, self.max_size);
        endpoint.receive(|path, message| {
            if path != folded {
                // For another slot of this machine that serves the network: the kernel gives
                // the port's datagrams to this listener only, so hand it over.
                return forward(path, message, key);
            }
            if max != 0 && message.len() > max {
                return Delivery::TooLarge;
            }
            queue.push_message(message);
            shared.count_produced();
            Delivery::Delivered
        });
    }

    /// Takes in everything waiting; `true` once a message is queued, `false` when nothing is
    /// there and the spool is rewound, so that the caller may sleep until the slot's socket (or
    /// network socket) turns readable: every writer sends to the socket after its message is in.
    pub(super) fn ready_or_idle(&mut self) -> io::Result<bool> {
        // Only this server sets these flags: no locked operation per read when they are clear.
        if self.shared.flags().load(Ordering::Relaxed) & (FLAG_SLEEPING | FLAG_RING_BELL) != 0 {
            self.shared
                .flags()
                .fetch_and(!(FLAG_SLEEPING | FLAG_RING_BELL), Ordering::SeqCst);
        }
        loop {
            if self.queue.count > 0 {
                // A long queue (a backlog taken from the spool) is read without a round; the
                // socket is still emptied every few reads, so that writers waiting for room in
                // it get room and keep to the one-datagram way instead of the spool.
                self.reads_since_socket += 1;
                if self.reads_since_socket >= SOCKET_EVERY {
                    self.take_socket()?;
                }
                return Ok(true);
            }
            self.drain()?;
            if self.queue.count > 0 {
                return Ok(true);
            }
            // Everything is read: start the spool again from empty, unless a writer has just
            // committed more (then read that first).
            if self.read_pos != spool::DATA {
                let guard = self.spool.lock_append(&self.shared)?;
                if !guard.rewind_if_read(self.read_pos)? {
                    continue;
                }
                self.read_pos = spool::DATA;
            }
            // Announce the sleep, then look once more: a writer that spools a record after
            // this sees the flag and wakes the server; one that spooled before is seen here.
            // (Sequentially consistent on both sides: one of the two must see the other.)
            self.shared
                .flags()
                .fetch_or(FLAG_SLEEPING | FLAG_RING_BELL, Ordering::SeqCst);
            std::sync::atomic::fence(Ordering::SeqCst);
            if self.shared.committed_end()? != self.read_pos || self.rings.maybe_more(&self.shared)
            {
                self.shared
                    .flags()
                    .fetch_and(!(FLAG_SLEEPING | FLAG_RING_BELL), Ordering::SeqCst);
                continue;
            }
            return Ok(false);
        }
    }

    /// Whether the slot may wait on its socket alone, having checked that the spool holds
    /// nothing unread and is rewound: then announces the sleep (as
    /// [`ready_or_idle`](Mailslot::ready_or_idle) does before it returns `false`), so that a
    /// writer that spools a record from now on sends to the socket after it. `false` (and no
    /// announcement) when the spool has something to read or to rewind, or a committed end
    /// another process spoiled (which the drain that follows reports and recovers from).
    fn idle_on_socket(&mut self) -> bool {
        let empty = |slot: &Self| {
            slot.shared.committed_end().ok() == Some(slot.read_pos)
                && !slot.rings.maybe_more(&slot.shared)
        };
        if self.read_pos != spool::DATA || !empty(self) {
            return false;
        }
        self.shared
            .flags()
            .fetch_or(FLAG_SLEEPING, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        if !empty(self) {
            self.shared
                .flags()
                .fetch_and(!FLAG_SLEEPING, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Takes in what the socket brings, after the slot announced its sleep: spins first while
    /// the writers' count of delivered messages stays where it was at the last receive (one
    /// that may have left datagrams behind is followed at once), then receives, waiting for
    /// the first datagram: one when the count moved by one within the spin, else a whole batch.
    fn receive_waiting(&mut self) -> io::Result<()> {
        let seen = self.produced_seen;
        let spun = !self.socket_maybe_full && self.spin_for_writers(seen);
        let (mut records, mut after) = (self.queue.buffer(), 0);
        // The rings first: what their writers counted is in them, no system call.
        let fault = self.rings.drain(&self.shared, &mut records);
        // Everything counted up to here was sent before the receive below; of what was
        // counted up to `seen`, the last receive (which emptied the socket) took all.
        let now = self.shared.produced();
        self.produced_seen = now;
        let received = if spun && now == seen {
            // Only the rings moved: nothing to receive.
            Ok(0)
        } else if spun && now.wrapping_sub(seen) == 1 {
            // One message came (one writer, as a rule): one plain receive.
            self.receive_up_to(1, true, true, &mut records, &mut after)
        } else if spun {
            // Several: take whatever is there by now. A writer counts its datagram after the
            // send, so a count taken while writers share a CPU can lag the socket: a receive
            // sized by the count would leave datagrams behind, unseen by the next spin.
            self.receive_up_to(MAX_BATCH, false, true, &mut records, &mut after)
        } else if !records.is_empty() {
            // The spin ran out (or was not made) but the rings held messages: take the socket
            // without waiting, unless nothing was counted there since the last receive.
            if now == seen && !self.socket_maybe_full {
                Ok(0)
            } else {
                self.receive_up_to(MAX_BATCH, false, false, &mut records, &mut after)
            }
        } else {
            // Nothing anywhere (or datagrams maybe left behind): sleep in the receive, after
            // asking ring writers to ring (unless one just wrote: then look again, no sleep).
            let was_full = self.socket_maybe_full;
            let armed = self.arm_ring_bell();
            let start = Instant::now();
            let received = self.receive_up_to(MAX_BATCH, false, armed, &mut records, &mut after);
            if self.shared.rings != 0 {
                self.shared
                    .flags()
                    .fetch_and(!FLAG_RING_BELL, Ordering::SeqCst);
            }
            if armed && !was_full {
                self.slept(start);
            }
            received
        };
        match received {
            Ok(_) | Err(Errno::AGAIN) => {}
            Err(e) => return Err(named(self.context(), e)),
        }
        self.take_datagrams(records, after)?;
        match fault {
            Some(e) => Err(named(self.context(), e)),
            None => Ok(()),
        }
    }

    /// Before a receive that sleeps: asks ring writers to wake the server after their next
    /// message, then looks at their count once more (sequentially consistent on both sides,
    /// so one sees the other): `false`, and no request left, when a ring writer wrote since the
    /// last drain (the caller then must not sleep).
    fn arm_ring_bell(&mut self) -> bool {
        if self.shared.rings == 0 {
            return true;
        }
        self.shared
            .flags()
            .fetch_or(FLAG_RING_BELL, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.rings.maybe_more(&self.shared) {
            self.shared
                .flags()
                .fetch_and(!FLAG_RING_BELL, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// The spin before a sleep: `true` once the writers' count of delivered messages moved
    /// from `seen`, `false` when the budget ran out first (or is nothing). No system call, no
    /// pause instruction (under a hypervisor a pause loop can deschedule the CPU for longer
    /// than the wait).
    fn spin_for_writers(&mut self, seen: u64) -> bool {
        if self.spin.is_zero() {
            return false;
        }
        let start = Instant::now();
        let mut turns = 0u32;
        let ring_seen = self.rings.seen;
        let ring_count = self.shared.ring_produced();
        loop {
            if self.shared.produced() != seen
                || (self.shared.rings != 0 && ring_count.load(Ordering::Acquire) != ring_seen)
            {
                self.spin = self.spin.saturating_mul(2).min(MAX_SPIN);
                return true;
            }
            turns = turns.wrapping_add(1);
            if turns.is_multiple_of(64) && start.elapsed() >= self.spin {
                break;
            }
        }
        self.spin /= 4;
        if self.spin < MIN_SPIN {
            self.spin = Duration::ZERO;
        }
        false
    }

    /// Adapts the spin budget after a sleep that started at `start`: a sleep shorter than the
    /// full budget would have been caught by a spin, and a budget at nothing is tried again
    /// every [`PROBE_EVERY`] sleeps.
    fn slept(&mut self, start: Instant) {
        if start.elapsed() <= MAX_SPIN {
            self.spin = MAX_SPIN;
        } else if self.spin.is_zero() {
            self.sleeps = self.sleeps.wrapping_add(1);
            if self.sleeps.is_multiple_of(PROBE_EVERY) {
                self.spin = (MAX_SPIN / 4).max(MIN_SPIN);
            }
        }
    }

    pub(super) fn timed_out(&self) -> io::Error {
        error(
            ErrorKind::TimedOut,
            self.context(),
            "no message within the read timeout",
        )
    }

    fn wait_for_message(&mut self) -> io::Result<()> {
        // A timeout too long for a deadline (`Duration::MAX`) waits as forever does.
        let deadline = self.read_timeout.and_then(crate::sys::time::deadline);
        let forever = deadline.is_none();
        loop {
            if forever && self.network.is_none() && self.queue.count == 0 && self.idle_on_socket() {
                // Nothing queued, nothing unread in the spool (and it is rewound): only the
                // socket can bring a message, so take it from there, waiting (after a spin)
                // if none is there yet; no receive first to find the socket empty.
                self.receive_waiting()?;
                continue;
            }
            if self.ready_or_idle()? {
                return Ok(());
            }
            let left = crate::sys::time::left(deadline);
            if left.is_some_and(|l| l.is_zero()) {
                return Err(self.timed_out());
            }
            if forever && self.network.is_none() {
                // Waiting forever on the socket alone: sleep in `recv` and take what wakes it.
                // This writer's earlier messages are all in already: those it spooled were read
                // before the rewind that let it send directly, and those it sent directly came
                // before this one on the socket.
                // What else is queued by then comes in the same call.
                self.receive_waiting()?;
                continue;
            }
            // A follower wakes to try taking the listener over.
            let left = match self.follow_deadline() {
                Some(at) => {
                    let until = at.saturating_duration_since(Instant::now());
                    Some(left.map_or(until, |l| l.min(until)))
                }
                None => left,
            };
            let timeout = left.map(crate::sys::time::timespec);
            // Every writer sends to the socket after its message is in (a datagram, or an empty
            // one after a spooled message), so the socket turns readable for anything that came
            // after the drain above. `EINTR` ends the poll early: the loop looks again.
            let mut fds = vec![PollFd::new(&self.wakeup, PollFlags::IN)];
            let network_fds = match &self.network {
                Some(Network::Listener(endpoint)) => endpoint.fds(),
                _ => Vec::new(),
            };
            fds.extend(network_fds.iter().map(|fd| PollFd::new(fd, PollFlags::IN)));
            let polled = poll(&mut fds, timeout.as_ref());
            match polled {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(named(self.context(), e)),
            }
        }
    }
}

/// Appends `datagram` to `records` as a record, if it is a message: an empty datagram only
/// wakes the reader, and one shorter than a header or longer than any direct message (not from
/// a pipework writer; a datagram cut to its receive slot is that) or above the slot's maximum
/// `max` (0: any) is dropped.
/// Returns whether it was one.
fn take_direct(datagram: &[u8], max: usize, records: &mut Vec<u8>) -> bool {
    let full = datagram.len();
    if !(DIRECT_HEADER..=DIRECT_HEADER + DIRECT_MAX).contains(&full) {
        return false;
    }
    let len = full - DIRECT_HEADER;
    if max != 0 && len > max {
        return false;
    }
    records.extend_from_slice(&(len as u32).to_le_bytes());
    records.extend_from_slice(&datagram[..8]);
    records.extend_from_slice(&datagram[DIRECT_HEADER..]);
    true
}

impl Drop for Mailslot {
    fn drop(&mut self) {
        self.shared.flags().fetch_or(FLAG_CLOSED, Ordering::AcqRel);
        // A failure is kept for `name::release_errors`.
        drop(self.lease.take());
    }
}
