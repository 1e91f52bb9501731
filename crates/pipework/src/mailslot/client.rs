//! The client end, [`MailslotClient`]: opening a slot by name and dropping messages into it,
//! by the socket while its queue has room, else by the spool; or over the network.

use std::fmt;
use std::io::{self, ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::io::Errno;
use rustix::net::{connect, send, socket_with, AddressFamily, SendFlags, SocketFlags, SocketType};

use super::net::{self, Delivery, NetworkConfig};
use super::queue::{at_socket_path, encode_after, DIRECT_HEADER, DIRECT_MAX};
use super::ring::{self, WriterRing};
use super::spool::{Shared, Spool, FLAG_CLOSED, FLAG_NETWORK, FLAG_RING_BELL, FLAG_SLEEPING};
use super::MAX_MESSAGE_SIZE;
use crate::name::mailslot::{self as name, MailslotName as SlotName, MailslotServer as Server};
use crate::name::place;
use crate::sys::error::{error, invalid, named};
use crate::sys::retry::retry;

/// How long a client waits for room in a full socket queue before it spools the message: a
/// server that reads is usually emptying the queue right then, and one datagram is one system
/// call where a spooled record is four (lock, check, write, unlock) and keeps the writer on the
/// spool until the server has caught up. Short enough that no writer waits on the server in any
/// sense that matters: a server that does not read costs a writer this much (plus the kernel's
/// timer slack) once per run of spooled messages, which lasts until the server reads them.
const FULL_RETRY: std::time::Duration = std::time::Duration::from_micros(50);

/// Sends `datagram` without blocking; while the server's queue is full, waits up to
/// [`FULL_RETRY`] in all for the kernel to say it has room (the server's next receive wakes
/// the wait: no spinning, no repeated sends) and offers it again.
fn send_retrying(socket: &OwnedFd, datagram: &[u8]) -> Result<usize, Errno> {
    let mut deadline: Option<std::time::Instant> = None;
    loop {
        match retry(|| send(socket, datagram, SendFlags::DONTWAIT | SendFlags::NOSIGNAL)) {
            Err(Errno::AGAIN) => {
                let now = std::time::Instant::now();
                let until = *deadline.get_or_insert(now + FULL_RETRY);
                let Some(left) = until.checked_duration_since(now).filter(|l| !l.is_zero()) else {
                    return Err(Errno::AGAIN);
                };
                let timeout = crate::sys::time::timespec(left);
                let mut fds = [rustix::event::PollFd::new(
                    socket,
                    rustix::event::PollFlags::OUT,
                )];
                // Woken, timed out or interrupted: the send above tells which.
                match rustix::event::poll(&mut fds, Some(&timeout)) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e),
                }
            }
            other => return other,
        }
    }
}

/// Whether the server has taken in the record a client spooled in the spool's round `round`
/// (its rewind count then), ending at `end`: `None` when it has (the spool was rewound since, or
/// the server's read position in that round has passed the record), else how many spooled
/// bytes it still has to read up to that record's end.
fn unread_before(shared: &Shared, round: u64, end: u64) -> Option<u64> {
    let rewinds = shared.rewinds();
    if rewinds != round {
        // Moved on (a rewind needs everything read), or a count another process spoiled.
        return None;
    }
    // The read position is reset before the rewind count moves: whatever round it belongs to,
    // it is not one before `round`.
    let read = shared.read_pos();
    (read < end).then(|| end - read)
}

/// A writer whose spooled records the server has not all read yet still sends directly when at
/// most this many spooled bytes lie before its last record (the datagram then tells the server
/// to read that far first): the server reads that much in the one read it makes anyway.
const AFTER_SPAN: u64 = 64 * 1024;

/// A writer whose wait for room ran out tries the socket without waiting for this many
/// messages, unless the server reads meanwhile.
const WAIT_AGAIN_AFTER: u32 = 32;

/// Direct messages up to this size are built on the stack.
const SMALL_DIRECT: usize = 240;

/// A spooling client checks that the server lives every this many messages.
const LIVENESS_EVERY: u32 = 32;

/// A client takes this many sequence numbers from the slot's counter at a time: one atomic
/// operation on the writers' shared cache line per this many messages instead of one per
/// message. Numbers only order one writer's own messages (the way each took, socket or spool,
/// merged back by number): a block taken later is above every number of an earlier one, so a
/// writer's numbers still rise with every message it sends.
const SEQ_BLOCK: u64 = 64;

/// A writer on a ring checks that the server lives at its first message, then every this many
/// messages unless the server has read something since the last look: the ring, unlike the
/// socket, does not tell it that a server killed outright is gone (a bell to a sleeping server
/// does, and a full ring sends the writer to the spool, which checks too).
const RING_LIVENESS_EVERY: u32 = 64;

/// Counts the forks of this process: a client made before a fork does not use its ring in the
/// child, which shares the claim (the lock belongs to the open file both processes hold) but
/// must not write beside the parent (a ring has one producer). The child uses the socket.
static FORKS: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn count_fork() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// The fork count, with the handler that counts them registered once.
fn forks() -> u64 {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| crate::sys::at_fork_in_child(count_fork));
    FORKS.load(Ordering::Relaxed)
}

/// A client's ring, claimed in the process that opened it.
struct ClientRing {
    ring: WriterRing,
    /// [`forks`] when the ring was claimed: another value means this is a forked child.
    forks: u64,
    /// Messages put in the ring (see [`RING_LIVENESS_EVERY`]).
    sent: u32,
    /// The server's count of messages read at the last look.
    consumed: u64,
}

/// A client's state for choosing between the socket and the spool.
#[derive(Clone, Copy)]
struct Ways<'a> {
    seq_next: &'a AtomicU64,
    seq_end: &'a AtomicU64,
    spooled_at: &'a AtomicU64,
    spooled_end: &'a AtomicU64,
    stalled_at: &'a AtomicU64,
    without_wait: &'a std::sync::atomic::AtomicU32,
    socket_full: &'a std::sync::atomic::AtomicBool,
    spooled: &'a std::sync::atomic::AtomicU32,
}

/// A client's handle on a mailslot: it only writes (`CreateFile` on a mailslot name).
///
/// Each [`write_message`](MailslotClient::write_message) (or each `write` call of [`Write`]) is
/// one message.
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
        shared: Shared,
        wakeup: OwnedFd,
        /// The client's ring, if it claimed one (and did not give it up), under the lock that
        /// also keeps this process's threads to one message at a time: one producer.
        appending: std::sync::Mutex<Option<ClientRing>>,
        /// The server's rewind count when this client last spooled a record (`u64::MAX`:
        /// never). Until the count moves past it, the server has not read that record, and
        /// this client's datagrams tell the server to read the spool up to `spooled_end` first
        /// (else one could overtake the record), unless the server's read position in that same
        /// round has passed it.
        spooled_at: AtomicU64,
        /// Where this client's last spooled record ends in the spool.
        spooled_end: AtomicU64,
        /// The server's count of messages read when this client's last wait for room ran out
        /// (`u64::MAX`: the last wait did not).
        stalled_at: AtomicU64,
        /// Messages offered to the socket without a wait since then.
        without_wait: std::sync::atomic::AtomicU32,
        /// Whether this client's last offer to the socket found its queue full.
        socket_full: std::sync::atomic::AtomicBool,
        /// Messages this client spooled: every [`LIVENESS_EVERY`]th, and every large one, first
        /// checks that the server still lives (a spooled message reaches no socket that could
        /// tell).
        spooled: std::sync::atomic::AtomicU32,
        /// The next of this client's sequence numbers, and the end of the block it was taken
        /// from (see [`SEQ_BLOCK`]).
        seq_next: AtomicU64,
        seq_end: AtomicU64,
    },
    /// Another computer, or every slot of the name in a domain: UDP datagrams.
    Remote { sender: net::Sender },
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
    /// Opens the mailslot `name` for writing (`CreateFile`), with the default [`NetworkConfig`],
    /// which reaches no network: `\\.\mailslot\x`, the slot on this computer. Fails with
    /// [`ErrorKind::NotFound`] when no server holds it, and with [`ErrorKind::InvalidInput`]
    /// for a remote name ([`open_with`](MailslotClient::open_with) takes those).
    pub fn open(name: &str) -> io::Result<MailslotClient> {
        Self::open_with(name, &NetworkConfig::default())
    }

    /// Whether this client puts its messages in a ring in the slot's shared memory (see
    /// [`MailslotOptions::shared_memory`](super::MailslotOptions::shared_memory)): a local slot
    /// that offers rings, a free one claimed when the client opened, in this process (a child
    /// forked after the open uses the socket). `false` for the socket, and for remote slots.
    pub fn shared_memory_in_use(&self) -> bool {
        match &self.target {
            Target::Local { appending, .. } => appending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .is_some_and(|r| r.forks == forks()),
            Target::Remote { .. } => false,
        }
    }

    /// Opens the mailslot `name` for writing, sending network messages on the interface and
    /// wire `config` names (see [`NetworkConfig`]; without an interface, remote names fail with
    /// [`ErrorKind::InvalidInput`]).
    ///
    /// * `\\.\mailslot\x`: the slot on this computer, as [`open`](MailslotClient::open).
    /// * `\\host\mailslot\x`: the slot on that host: a direct unique NetBIOS datagram to
    ///   `HOST<00>`, at the address a NetBIOS name query on the interface's subnet finds, else
    ///   the system resolver (an IPv4 address goes there directly, to the name `*`).
    /// * `\\*\mailslot\x` (the workgroup), `\\domain\mailslot\x` (the workgroup, or a name
    ///   that no machine answers for): every listening slot of that name in that domain on the
    ///   segment, a direct group datagram to `DOMAIN<00>` (or [`NetworkConfig::group_suffix`])
    ///   sent to the interface's broadcast address. Messages are at most
    ///   [`MAX_BROADCAST_MESSAGE`](super::MAX_BROADCAST_MESSAGE) bytes.
    ///
    /// Network messages are datagrams: nothing tells whether a server received them (as in
    /// Win32). A NetBIOS datagram is at most [`MAX_DATAGRAM`](super::MAX_DATAGRAM) bytes,
    /// headers and names included; a message that does not fit is refused by
    /// [`write_message`](MailslotClient::write_message) with a size error.
    pub fn open_with(name: &str, config: &NetworkConfig) -> io::Result<MailslotClient> {
        let parsed = name::parse(name)?;
        let server = match &parsed.server {
            Server::Local => return Self::open_local(&parsed, true),
            Server::Everyone => None,
            Server::Named(host) => Some(host.as_str()),
        };
        let sender = net::Sender::open(server, &parsed.path, config)
            .map_err(|e| named(format_args!("mailslot {name}"), e))?;
        Ok(MailslotClient {
            display: name.to_string(),
            max_size: 0,
            target: Target::Remote { sender },
        })
    }

    /// Opens a local slot; `rings`: claim a ring if the slot offers them.
    fn open_local(parsed: &SlotName, rings: bool) -> io::Result<MailslotClient> {
        let display = parsed.local_display();
        let missing = || io::Error::new(ErrorKind::NotFound, format!("no mailslot {display}"));
        let context = format!("mailslot {display}");
        let dir = place::mailslot_dir()?;
        let path = place::mailslot_spool(&dir, parsed);
        let spool = match Spool::open(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(missing()),
            // A spool cut short or whose header lies: say so, naming the slot.
            Err(e) => return Err(named(&context, e)),
        };
        let header = spool.header().map_err(|e| named(&context, e))?;
        if crate::name::fold(&header.name) != parsed.folded || !spool.is_alive()? {
            return Err(missing());
        }
        let shared = spool.shared().map_err(|e| named(&context, e))?;
        let wakeup = socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        match at_socket_path(&place::mailslot_socket(&path, header.token), |addr| {
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
            Err(e) => return Err(named(&context, e)),
        }
        let ring = if rings {
            let forks = forks();
            ring::claim(&shared, std::os::fd::AsFd::as_fd(&spool.fd))
                .map_err(|e| named(&context, e))?
                .map(|ring| ClientRing {
                    ring,
                    forks,
                    sent: 0,
                    consumed: 0,
                })
        } else {
            None
        };
        Ok(MailslotClient {
            display,
            max_size: usize::try_from(header.max_size).unwrap_or(MAX_MESSAGE_SIZE),
            target: Target::Local {
                spool,
                shared,
                wakeup,
                appending: std::sync::Mutex::new(ring),
                spooled_at: AtomicU64::new(u64::MAX),
                spooled_end: AtomicU64::new(0),
                stalled_at: AtomicU64::new(u64::MAX),
                without_wait: std::sync::atomic::AtomicU32::new(0),
                socket_full: std::sync::atomic::AtomicBool::new(false),
                spooled: std::sync::atomic::AtomicU32::new(0),
                seq_next: AtomicU64::new(0),
                seq_end: AtomicU64::new(0),
            },
        })
    }

    /// The largest message the slot accepts; 0 means any size (or, for a slot on the network,
    /// unknown here: the datagram limits apply and the server drops what exceeds its maximum).
    pub fn max_message_size(&self) -> usize {
        self.max_size
    }

    /// Drops one message into the slot (`WriteFile`), as a named pipe's
    /// [`write_message`](crate::named_pipe::NamedPipeClient::write_message) writes one; never
    /// waits for the server to read (on a local slot the message goes to this client's ring in
    /// the slot's shared memory, or, without one, to the slot's socket, whose full queue is
    /// retried for at most 50 µs; what finds no room is spooled).
    ///
    /// A message larger than the slot's maximum (or, over the network, than one datagram, or
    /// than [`MAX_BROADCAST_MESSAGE`](super::MAX_BROADCAST_MESSAGE) for a domain) fails with
    /// [`ErrorKind::InvalidInput`]; a local slot whose server has closed fails with
    /// [`ErrorKind::NotFound`]; a spool that another process cut short or spoiled, with
    /// [`ErrorKind::InvalidData`].
    pub fn write_message(&self, message: &[u8]) -> io::Result<()> {
        match &self.target {
            Target::Local {
                spool,
                shared,
                wakeup,
                appending,
                spooled_at,
                spooled_end,
                stalled_at,
                without_wait,
                socket_full,
                spooled,
                seq_next,
                seq_end,
            } => {
                // A thread that panicked while holding it left nothing half-done that matters:
                // uncommitted bytes are overwritten by the next append.
                let mut ring = appending.lock().unwrap_or_else(|e| e.into_inner());
                let ways = Ways {
                    seq_next,
                    seq_end,
                    spooled_at,
                    spooled_end,
                    stalled_at,
                    without_wait,
                    socket_full,
                    spooled,
                };
                self.send_local(spool, shared, wakeup, &ways, &mut ring, message)
                    .map_err(|e| match e.kind() {
                        // Size and "closed" errors name the slot already; the spool's own do not.
                        ErrorKind::InvalidInput | ErrorKind::NotFound => e,
                        _ => named(format_args!("mailslot {}", self.display), e),
                    })
            }
            Target::Remote { sender } => sender.write(&self.display, message),
        }
    }

    /// Drops one message into the slot.
    #[deprecated(note = "renamed to MailslotClient::write_message")]
    pub fn send(&self, message: &[u8]) -> io::Result<()> {
        self.write_message(message)
    }

    fn send_local(
        &self,
        spool: &Spool,
        shared: &Shared,
        wakeup: &OwnedFd,
        ways: &Ways<'_>,
        ring: &mut Option<ClientRing>,
        message: &[u8],
    ) -> io::Result<()> {
        let Ways {
            seq_next,
            seq_end,
            spooled_at,
            spooled_end,
            stalled_at,
            without_wait,
            socket_full,
            spooled,
        } = *ways;
        let limit = if self.max_size == 0 {
            MAX_MESSAGE_SIZE
        } else {
            self.max_size
        };
        if message.len() > limit {
            return Err(invalid(
                format_args!("mailslot {}", self.display),
                format_args!(
                    "a message holds at most {limit} bytes (the slot's maximum); this one has {}",
                    message.len()
                ),
            ));
        }
        // Under the client's lock: its own block of numbers, no shared word touched.
        let mut seq = seq_next.load(Ordering::Relaxed);
        if seq >= seq_end.load(Ordering::Relaxed) {
            seq = shared.take_seqs(SEQ_BLOCK);
            seq_end.store(seq.saturating_add(SEQ_BLOCK), Ordering::Relaxed);
        }
        seq_next.store(seq.saturating_add(1), Ordering::Relaxed);
        let last_spooled = spooled_at.load(Ordering::Relaxed);
        let last_end = spooled_end.load(Ordering::Relaxed);
        // `Some(0)`: nothing of ours is unread in the spool; `Some(word)`: a record of ours may
        // be, and the datagram tells the server to read up to it first; `None`: too far
        // behind for that, spool (a datagram must not overtake our records).
        let after = match (last_spooled != u64::MAX)
            .then(|| unread_before(shared, last_spooled, last_end))
            .flatten()
        {
            None => Some(0),
            Some(unread) if unread <= AFTER_SPAN => encode_after(last_spooled, last_end),
            Some(_) => None,
        };
        // A client with a ring (in the process that claimed it) uses the ring or the spool, never
        // the socket: the server takes the socket before the rings in a round, so a datagram
        // sent after a ring record could be taken a round before it.
        let on_ring = ring.as_ref().is_some_and(|r| r.forks == forks());
        if on_ring && after == Some(0) && message.len() <= ring::MESSAGE_MAX {
            let mine = ring.as_mut().expect("a ring is claimed");
            let flags = shared.flags().load(Ordering::Acquire);
            if flags & FLAG_CLOSED != 0 {
                return Err(self.gone());
            }
            if mine.sent.is_multiple_of(RING_LIVENESS_EVERY) {
                let consumed = shared.consumed();
                if (mine.sent == 0 || consumed == mine.consumed) && !spool.is_alive()? {
                    return Err(self.gone());
                }
                mine.consumed = consumed;
            }
            match mine.ring.put(shared, seq, message) {
                Ok(true) => {
                    mine.sent = mine.sent.wrapping_add(1).max(1);
                    // After the count (sequentially consistent): the server announces its
                    // sleep before it looks at the count a last time.
                    let flags = shared.flags().load(Ordering::SeqCst);
                    if flags & FLAG_RING_BELL == 0 {
                        return Ok(());
                    }
                    return match retry(|| {
                        send(wakeup, &[], SendFlags::DONTWAIT | SendFlags::NOSIGNAL)
                    }) {
                        Err(Errno::CONNREFUSED) | Err(Errno::PIPE) => Err(self.gone()),
                        _ => Ok(()),
                    };
                }
                // Full: the spool takes it, and this client's next messages too until the
                // server has read it (then back to the ring).
                Ok(false) => {}
                Err(e) => {
                    // A read position another process spoiled: give the ring up (the socket
                    // from now on) and say so.
                    *ring = None;
                    return Err(e);
                }
            }
        } else if let (false, Some(after), true) = (on_ring, after, message.len() <= DIRECT_MAX) {
            // The direct way: one datagram, while the server's socket queue has room.
            // Header and message copied into one buffer (cheaper than a two-part `sendmsg` at
            // these sizes); a small message does not clear a buffer for the largest.
            let mut small = [0u8; DIRECT_HEADER + SMALL_DIRECT];
            let mut large = Vec::new();
            let buf: &mut [u8] = if message.len() <= SMALL_DIRECT {
                &mut small
            } else {
                large.resize(DIRECT_HEADER + message.len(), 0);
                &mut large
            };
            buf[..8].copy_from_slice(&seq.to_le_bytes());
            buf[8..DIRECT_HEADER].copy_from_slice(&after.to_le_bytes());
            buf[DIRECT_HEADER..DIRECT_HEADER + message.len()].copy_from_slice(message);
            let datagram = &buf[..DIRECT_HEADER + message.len()];
            // After a wait that ran out, a writer waits again only once the server has read
            // something since (it is reading, the queue empties soon), or every
            // [`WAIT_AGAIN_AFTER`] messages: a server that does not read costs it one wait per
            // run, not one per message, and a writer that never sleeps cannot starve a server
            // sharing its CPU.
            let stalled = stalled_at.load(Ordering::Relaxed);
            let unwaited = without_wait.load(Ordering::Relaxed);
            let may_wait =
                stalled == u64::MAX || unwaited >= WAIT_AGAIN_AFTER || shared.consumed() != stalled;
            let sent = if may_wait {
                without_wait.store(0, Ordering::Relaxed);
                let sent = send_retrying(wakeup, datagram);
                let timed_out = matches!(sent, Err(Errno::AGAIN));
                stalled_at.store(
                    if timed_out {
                        shared.consumed()
                    } else {
                        u64::MAX
                    },
                    Ordering::Relaxed,
                );
                sent
            } else if socket_full.load(Ordering::Relaxed) {
                // The queue was full at this client's last offer and the server has read
                // nothing since: full still, as a rule. An offer the queue refuses costs
                // nearly a send (the kernel builds the datagram before it looks for room), so
                // the spool takes it at once; the wait after [`WAIT_AGAIN_AFTER`] messages,
                // or the server's next read, tries the socket again.
                without_wait.store(unwaited + 1, Ordering::Relaxed);
                Err(Errno::AGAIN)
            } else {
                without_wait.store(unwaited + 1, Ordering::Relaxed);
                retry(|| send(wakeup, datagram, SendFlags::DONTWAIT | SendFlags::NOSIGNAL))
            };
            socket_full.store(matches!(sent, Err(Errno::AGAIN)), Ordering::Relaxed);
            match sent {
                Ok(_) => {
                    shared.count_produced();
                    return Ok(());
                }
                Err(Errno::CONNREFUSED) | Err(Errno::PIPE) => return Err(self.gone()),
                // Full (or short of memory): the spool keeps it instead.
                Err(_) => {}
            }
        }
        let n = spooled.fetch_add(1, Ordering::Relaxed);
        if (message.len() > DIRECT_MAX || n % LIVENESS_EVERY == 0) && !spool.is_alive()? {
            return Err(self.gone());
        }
        let flags = {
            let guard = spool.lock_append(shared)?;
            let (flags, end) = guard.append(seq, message)?;
            spooled_at.store(guard.rewinds(), Ordering::Relaxed);
            spooled_end.store(end, Ordering::Relaxed);
            flags
        };
        if flags & FLAG_CLOSED != 0 {
            return Err(self.gone());
        }
        // Wake the server if it sleeps (see `Mailslot::ready_or_idle`). A full queue means it has
        // datagrams to wake it already.
        std::sync::atomic::fence(Ordering::SeqCst);
        if shared.flags().load(Ordering::SeqCst) & FLAG_SLEEPING == 0 {
            return Ok(());
        }
        match retry(|| send(wakeup, &[], SendFlags::DONTWAIT | SendFlags::NOSIGNAL)) {
            Err(Errno::CONNREFUSED) | Err(Errno::PIPE) => Err(self.gone()),
            _ => Ok(()),
        }
    }

    fn gone(&self) -> io::Error {
        error(
            ErrorKind::NotFound,
            format_args!("mailslot {}", self.display),
            "the server has closed the slot",
        )
    }
}

impl Write for MailslotClient {
    /// Sends `buf` as one message.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_message(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &MailslotClient {
    /// Sends `buf` as one message.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_message(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Delivers a message from the network to another local slot, one that serves the network
/// through the listener of `key`.
pub(super) fn forward(folded: &str, message: &[u8], key: u64) -> Delivery {
    let Ok(parsed) = name::parse(&format!(r"\\.\mailslot\{folded}")) else {
        return Delivery::NoSuchSlot;
    };
    if parsed.folded != folded {
        return Delivery::NoSuchSlot;
    }
    // No ring: a client opened for one message.
    let Ok(client) = MailslotClient::open_local(&parsed, false) else {
        return Delivery::NoSuchSlot;
    };
    if !client_serves(&client, key) {
        return Delivery::NoSuchSlot;
    }
    if client.max_size != 0 && message.len() > client.max_size {
        return Delivery::TooLarge;
    }
    match client.write_message(message) {
        Ok(()) => Delivery::Forwarded,
        Err(_) => Delivery::NoSuchSlot,
    }
}

fn client_serves(client: &MailslotClient, key: u64) -> bool {
    match &client.target {
        Target::Local { shared, .. } => {
            shared.flags().load(Ordering::Acquire) & FLAG_NETWORK != 0 && shared.listen_key() == key
        }
        Target::Remote { .. } => false,
    }
}
