//! A connected pipe end: the socket, its framing state and its modes. Both the server's instance
//! and the client hold one; the blocking I/O of both lives here.

use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

use crate::sys::{fdpass, retry};

use super::framing::{self, Framer};
use super::ring::Rings;
use super::{MessageRead, PeekInfo, PipeMode, ReadMode};

pub(crate) struct Conn {
    pub(crate) fd: OwnedFd,
    pub(crate) pipe_mode: PipeMode,
    pub(crate) read_mode: ReadMode,
    pub(crate) framer: Framer,
    pub(crate) can_read: bool,
    pub(crate) can_write: bool,
    pub(crate) nonblocking: bool,
    /// Handles received beside data and not yet taken, oldest first: at most
    /// [`accept_handles`](Self::accept_handles) (one more during a `recv_handle`).
    pub(crate) handles: Vec<OwnedFd>,
    /// How many received handles this end keeps waiting to be taken. Handles beyond that are
    /// never installed in this process; the data they rode on still arrives.
    pub(crate) accept_handles: usize,
    /// A `recv_handle` is under way: it asked for one handle.
    asking: bool,
    /// The peer is smbd relaying a client on another machine (named_pipe/smb).
    pub(crate) remote: bool,
    /// Where a small message's header and payload are put together, to go in one `send`; on a
    /// byte pipe, the socket path's room for in-place writes (allocated at the first one).
    frame: Vec<u8>,
    pub(crate) what: String,
    /// The shared-memory rings offered with the connection, when both ends are pipework and
    /// took them (see [`super::ring`]): each direction moves from the socket to its ring once.
    pub(crate) rings: Option<Box<Rings>>,
    /// What the last in-place read lent, for its `consume`.
    lent: Lent,
    /// What the last in-place write reserved, for its `commit`.
    reserved: Reserved,
}

/// Where the room an in-place write reserved lies, and how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reserved {
    Nothing,
    /// In [`Conn::frame`], sent on the socket at the commit.
    Buffer(usize),
    /// In the ring, published at the commit.
    Ring(usize),
}

/// The room an in-place write lends on the socket path.
const STAGED: usize = 64 * 1024;

/// Where the bytes an in-place read lent lie, and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lent {
    Nothing,
    /// In the framer's buffer (the socket's bytes, received for the lend).
    Buffer(usize),
    /// In the ring, where the peer wrote them.
    Ring(usize),
}

/// Where an end's bytes come from: its socket, or its rings once the peer moved there (taking
/// handles that ride on the socket's bytes, up to `limit` held).
fn source<'a>(
    fd: BorrowedFd<'a>,
    rings: &'a mut Option<Box<Rings>>,
    dontwait: bool,
    handles: &'a mut Vec<OwnedFd>,
    limit: usize,
) -> impl FnMut(&mut [u8]) -> io::Result<usize> + 'a {
    move |b: &mut [u8]| match rings {
        Some(rings) => rings.recv(fd, b, dontwait, handles, limit),
        None => recv_into(fd, b, handles, limit),
    }
}

/// A message cut short by its writer's end, naming the pipe.
fn mid_message(what: &str) -> io::Error {
    io::Error::new(
        ErrorKind::BrokenPipe,
        format!("named pipe {what}: the peer closed the pipe in the middle of a message"),
    )
}

/// Messages up to this many payload bytes are copied behind their header and sent as one
/// buffer: copying them costs less than the kernel's handling of a two-part `sendmsg`. Larger
/// ones go as header and payload in one `sendmsg`.
const SMALL_MESSAGE: usize = 4096;

/// Frames up to this many bytes (header and payload) are put together on the stack: a server
/// with thousands of connections would otherwise touch each one's own frame buffer, a line of
/// memory no other request shares and long gone from the cache, on every small send.
const STACK_FRAME: usize = 256;

/// Sends one framed message: header and payload in one system call.
fn send_message(
    fd: BorrowedFd<'_>,
    frame: &mut Vec<u8>,
    header: &[u8],
    message: &[u8],
) -> io::Result<()> {
    let len = header.len() + message.len();
    if len <= STACK_FRAME {
        let mut small = [0u8; STACK_FRAME];
        small[..header.len()].copy_from_slice(header);
        small[header.len()..len].copy_from_slice(message);
        return send_all(fd, &[&small[..len]], &[]);
    }
    if message.len() <= SMALL_MESSAGE {
        frame.clear();
        frame.extend_from_slice(header);
        frame.extend_from_slice(message);
        send_all(fd, &[frame], &[])
    } else {
        send_all(fd, &[header, message], &[])
    }
}

/// Receives into `buf`, adding handles that arrive to `handles` while it holds fewer than `limit`
/// (any beyond are refused and never installed); retries interrupted calls. A reset connection
/// is the end.
pub(crate) fn recv_into(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    handles: &mut Vec<OwnedFd>,
    limit: usize,
) -> io::Result<usize> {
    recv_flags(fd, buf, handles, limit, RecvFlags::empty())
}

/// [`recv_into`] with receive flags (`DONTWAIT`).
pub(crate) fn recv_flags(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    handles: &mut Vec<OwnedFd>,
    limit: usize,
    flags: RecvFlags,
) -> io::Result<usize> {
    let room = limit.saturating_sub(handles.len());
    if room == 0 {
        // No handle is taken: a plain `recv`, the kernel's shortest receive path (no message
        // header, no peer address copied out). A handle sent anyway is discarded by the kernel
        // as it would be with an empty control buffer.
        return match retry(|| rustix::net::recv(fd, &mut *buf, flags)) {
            Ok((n, _)) => Ok(n),
            Err(Errno::CONNRESET) => Ok(0),
            Err(e) => Err(e.into()),
        };
    }
    match fdpass::recv(fd, &mut [IoSliceMut::new(buf)], room, flags) {
        Ok(got) => {
            handles.extend(got.handles);
            Ok(got.bytes)
        }
        Err(e) if e.raw_os_error() == Some(Errno::CONNRESET.raw_os_error()) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Sends all of `parts` (blocking, waiting for room in nonblocking mode once something went).
pub(crate) fn send_all(
    fd: BorrowedFd<'_>,
    parts: &[&[u8]],
    handles: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total == 0 {
        return Ok(());
    }
    let mut sent = 0;
    while sent < total {
        let mut skip = sent;
        let mut iov = [IoSlice::new(&[]), IoSlice::new(&[])];
        let mut used = 0;
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            if used == iov.len() {
                break;
            }
            iov[used] = IoSlice::new(&p[skip..]);
            used += 1;
            skip = 0;
        }
        // Handles ride on the first chunk only.
        let with = if sent == 0 { handles } else { &[] };
        let result = if used == 1 && with.is_empty() {
            // One buffer, no handle: a plain `send` (no message header for the kernel to copy
            // in and check).
            retry(|| rustix::net::send(fd, &iov[0], SendFlags::NOSIGNAL)).map_err(Into::into)
        } else {
            fdpass::send(fd, &iov[..used], with, SendFlags::empty())
        };
        match result {
            Ok(n) => sent += n,
            Err(e) if sent > 0 && e.kind() == ErrorKind::WouldBlock => wait_writable(fd)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn wait_writable(fd: BorrowedFd<'_>) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
    match poll(&mut fds, None) {
        Ok(_) | Err(Errno::INTR) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl Conn {
    pub(crate) fn new(fd: OwnedFd, pipe_mode: PipeMode, what: String) -> Conn {
        Conn {
            fd,
            pipe_mode,
            read_mode: ReadMode::Byte,
            framer: Framer::new(),
            can_read: true,
            can_write: true,
            nonblocking: false,
            handles: Vec::new(),
            accept_handles: 0,
            asking: false,
            remote: false,
            frame: Vec::new(),
            what,
            rings: None,
            lent: Lent::Nothing,
            reserved: Reserved::Nothing,
        }
    }

    /// How many handles this end may hold waiting to be taken, now.
    fn handle_limit(&self) -> usize {
        self.accept_handles.max(usize::from(self.asking))
    }

    fn check_read(&self) -> io::Result<()> {
        if self.can_read {
            Ok(())
        } else {
            Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "named pipe {}: this end was not opened for reading",
                    self.what
                ),
            ))
        }
    }

    fn check_write(&self) -> io::Result<()> {
        if self.can_write {
            Ok(())
        } else {
            Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "named pipe {}: this end was not opened for writing",
                    self.what
                ),
            ))
        }
    }

    /// `Read::read`: one message's bytes in message-read mode, a stream otherwise.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.check_read()?;
        self.lent = Lent::Nothing;
        if self.pipe_mode == PipeMode::Byte && !self.framer.raw().is_empty() {
            // Bytes an in-place read received and left unconsumed come first.
            return Ok(self.framer.read_raw(buf));
        }
        let limit = self.handle_limit();
        let Conn {
            fd,
            framer,
            handles,
            rings,
            nonblocking,
            ..
        } = self;
        let mut fill = source(fd.as_fd(), rings, *nonblocking, handles, limit);
        match (self.pipe_mode, self.read_mode) {
            (PipeMode::Byte, _) => fill(buf),
            (PipeMode::Message, ReadMode::Byte) => framer.read_bytes(buf, &mut fill),
            (PipeMode::Message, ReadMode::Message) => {
                Ok(match framer.read_message(buf, &mut fill)? {
                    MessageRead::Complete(n) | MessageRead::MoreData { read: n, .. } => n,
                    MessageRead::End => 0,
                })
            }
        }
    }

    /// `ReadFile` in message-read mode.
    pub(crate) fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        self.check_read()?;
        self.lent = Lent::Nothing;
        if self.pipe_mode == PipeMode::Byte {
            return Err(self.not_message());
        }
        let limit = self.handle_limit();
        let Conn {
            fd,
            framer,
            handles,
            rings,
            nonblocking,
            ..
        } = self;
        let mut fill = source(fd.as_fd(), rings, *nonblocking, handles, limit);
        framer.read_message(buf, &mut fill)
    }

    /// Reads one whole message, however long, growing `out` only as bytes actually arrive.
    pub(crate) fn read_message_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<MessageRead> {
        let start = out.len();
        let mut chunk = 4096;
        loop {
            let at = out.len();
            out.resize(at + chunk, 0);
            match self.read_message(&mut out[at..]) {
                Ok(MessageRead::Complete(n)) => {
                    out.truncate(at + n);
                    return Ok(MessageRead::Complete(out.len() - start));
                }
                Ok(MessageRead::MoreData { read, .. }) => {
                    out.truncate(at + read);
                    chunk = (chunk * 2).min(1 << 20);
                }
                Ok(MessageRead::End) => {
                    out.truncate(at);
                    return Ok(MessageRead::End);
                }
                Err(e) => {
                    out.truncate(at);
                    return Err(e);
                }
            }
        }
    }

    fn not_message(&self) -> io::Error {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "named pipe {} is a byte pipe: it has no messages",
                self.what
            ),
        )
    }

    /// `Write::write`: a stream write on a byte pipe, one whole message on a message pipe.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_write()?;
        self.reserved = Reserved::Nothing;
        match self.pipe_mode {
            PipeMode::Byte => {
                if let Some(rings) = &mut self.rings {
                    if rings.onto_ring(self.fd.as_fd()) {
                        return rings.send_some(buf, self.nonblocking);
                    }
                    rings.check_peer_open()?;
                }
                let n = retry(|| rustix::net::send(&self.fd, buf, SendFlags::NOSIGNAL))?;
                if let Some(rings) = &mut self.rings {
                    rings.sent_on_socket(n);
                }
                Ok(n)
            }
            PipeMode::Message => {
                self.write_message(buf)?;
                Ok(buf.len())
            }
        }
    }

    /// One message (on a byte pipe: the bytes).
    pub(crate) fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        self.check_write()?;
        self.reserved = Reserved::Nothing;
        if let Some(rings) = &mut self.rings {
            if rings.onto_ring(self.fd.as_fd()) {
                return match self.pipe_mode {
                    PipeMode::Byte => rings.send(message, self.nonblocking),
                    PipeMode::Message => {
                        let (header, n) = self.framer.frame_header(message.len())?;
                        rings.send_parts(&[&header[..n], message], self.nonblocking)
                    }
                };
            }
            rings.check_peer_open()?;
        }
        let sent = match self.pipe_mode {
            PipeMode::Byte => send_all(self.fd.as_fd(), &[message], &[]).map(|()| message.len()),
            PipeMode::Message => {
                let (header, n) = self.framer.frame_header(message.len())?;
                send_message(self.fd.as_fd(), &mut self.frame, &header[..n], message)
                    .map(|()| n + message.len())
            }
        }?;
        if let Some(rings) = &mut self.rings {
            rings.sent_on_socket(sent);
        }
        Ok(())
    }

    /// `PeekNamedPipe`.
    pub(crate) fn peek(&mut self, buf: &mut [u8]) -> io::Result<PeekInfo> {
        self.check_read()?;
        self.lent = Lent::Nothing;
        let held = self.framer.raw().len();
        if self.pipe_mode == PipeMode::Byte && held > 0 {
            // Bytes an in-place read received and left unconsumed come first.
            let k = held.min(buf.len());
            buf[..k].copy_from_slice(&self.framer.raw()[..k]);
            let rest = self.peek_stream(&mut buf[k..])?;
            return Ok(PeekInfo {
                read: k + rest.read,
                available: held as u64 + rest.available,
                left_in_message: 0,
            });
        }
        self.peek_stream(buf)
    }

    /// `PeekNamedPipe` of what the socket or the rings hold.
    fn peek_stream(&mut self, buf: &mut [u8]) -> io::Result<PeekInfo> {
        if self.rings.is_some() {
            return self.peek_rings(buf);
        }
        let pending = rustix::io::ioctl_fionread(&self.fd)? as usize;
        match self.pipe_mode {
            PipeMode::Byte => {
                let n = if pending == 0 || buf.is_empty() {
                    0
                } else {
                    match retry(|| {
                        rustix::net::recv(
                            &self.fd,
                            &mut *buf,
                            RecvFlags::PEEK | RecvFlags::DONTWAIT,
                        )
                    }) {
                        Ok((n, _)) => n,
                        Err(Errno::AGAIN) => 0,
                        Err(e) => return Err(e.into()),
                    }
                };
                Ok(PeekInfo {
                    read: n,
                    available: pending as u64,
                    left_in_message: 0,
                })
            }
            PipeMode::Message => {
                let limit = self.handle_limit();
                let Conn {
                    fd,
                    framer,
                    handles,
                    ..
                } = self;
                // The bytes move into the framer's buffer: handles riding on them are taken (as
                // far as this end accepts them) as a read would.
                let mut fill = |b: &mut [u8]| match fdpass::recv(
                    fd.as_fd(),
                    &mut [IoSliceMut::new(b)],
                    limit.saturating_sub(handles.len()),
                    RecvFlags::DONTWAIT,
                ) {
                    Ok(got) => {
                        handles.extend(got.handles);
                        Ok(got.bytes)
                    }
                    Err(e) => Err(e),
                };
                let (read, available, left) = framer.peek(buf, pending, &mut fill)?;
                Ok(PeekInfo {
                    read,
                    available,
                    left_in_message: left,
                })
            }
        }
    }

    /// `PeekNamedPipe` on an end that has rings: from the socket while its data is there, then
    /// from the ring.
    fn peek_rings(&mut self, buf: &mut [u8]) -> io::Result<PeekInfo> {
        let on_socket = rustix::io::ioctl_fionread(&self.fd)? as usize;
        let limit = self.handle_limit();
        let Conn {
            fd,
            framer,
            handles,
            rings,
            pipe_mode,
            ..
        } = self;
        let Some(ring) = rings.as_mut() else {
            unreachable!("peek_rings is called with rings")
        };
        let pending = ring.pending(on_socket)?;
        if pending == 0 && !framer.has_buffered() && ring.reads_ring() {
            // A peek that finds nothing may be a poller's (`PeekNamedPipe` before a wait on
            // the handle): the next data rings the socket.
            ring.arm_socket();
        }
        match pipe_mode {
            PipeMode::Byte => {
                let read = if ring.reads_ring() {
                    ring.peek(buf)?
                } else {
                    let max = ring.socket_data(on_socket).min(buf.len());
                    if max == 0 {
                        0
                    } else {
                        match retry(|| {
                            rustix::net::recv(
                                &*fd,
                                &mut buf[..max],
                                RecvFlags::PEEK | RecvFlags::DONTWAIT,
                            )
                        }) {
                            Ok((n, _)) => n,
                            Err(Errno::AGAIN) => 0,
                            Err(e) => return Err(e.into()),
                        }
                    }
                };
                Ok(PeekInfo {
                    read,
                    available: pending as u64,
                    left_in_message: 0,
                })
            }
            PipeMode::Message => {
                // The bytes move into the framer's buffer, as a read would take them.
                let mut fill = source(fd.as_fd(), rings, true, handles, limit);
                let (read, available, left) = framer.peek(buf, pending, &mut fill)?;
                Ok(PeekInfo {
                    read,
                    available,
                    left_in_message: left,
                })
            }
        }
    }

    // ---- In-place reads ----

    /// Prepares an in-place read: waits (unless nonblocking) for bytes as a read does, and
    /// notes what [`lent`](Self::lent) lends. On a byte pipe: `Complete(n)` (`n` > 0) or
    /// `End`. On a message pipe, within the current message: `Complete(n)` when the `n` lent
    /// bytes end it (0: an empty message, already read), `MoreData` when more of it follows,
    /// `End` at the end of data. From the ring the bytes stay where they lie; from the socket
    /// they are received into the framer's buffer and lent from there.
    pub(crate) fn lend(&mut self) -> io::Result<MessageRead> {
        self.check_read()?;
        self.lent = Lent::Nothing;
        let limit = self.handle_limit();
        let Conn {
            fd,
            framer,
            handles,
            rings,
            nonblocking,
            pipe_mode,
            lent,
            ..
        } = self;
        let fd = fd.as_fd();
        let what = &*self.what;
        let lends = rings.as_mut().is_some_and(|r| r.lends());
        match pipe_mode {
            PipeMode::Byte => {
                if framer.raw().is_empty() {
                    if lends {
                        let Some(ring) = rings.as_mut() else {
                            unreachable!("an end that lends has rings")
                        };
                        let n = ring.ring_ready(fd, *nonblocking, handles, limit)?;
                        if n == 0 {
                            return Ok(MessageRead::End);
                        }
                        let n = ring.lendable(n);
                        *lent = Lent::Ring(n);
                        return Ok(MessageRead::Complete(n));
                    }
                    let mut fill = source(fd, rings, *nonblocking, handles, limit);
                    if !framer.fill_raw(&mut fill)? {
                        return Ok(MessageRead::End);
                    }
                }
                let n = framer.raw().len();
                *lent = Lent::Buffer(n);
                Ok(MessageRead::Complete(n))
            }
            PipeMode::Message => loop {
                // On the ring, only the header is taken: the payload stays where it lies.
                let mut fill = source(fd, rings, *nonblocking, handles, limit);
                if !framer.next_header(&mut fill, lends)? {
                    return Ok(MessageRead::End);
                }
                let left = framer.left().unwrap_or(0);
                if left == 0 {
                    framer.take_payload(0, true);
                    return Ok(MessageRead::Complete(0));
                }
                let held = framer.payload().len();
                let (n, from) = if held > 0 {
                    (held, Lent::Buffer(held))
                } else if lends {
                    drop(fill);
                    let Some(ring) = rings.as_mut() else {
                        unreachable!("an end that lends has rings")
                    };
                    let n = ring.ring_ready(fd, *nonblocking, handles, limit)?;
                    if n == 0 {
                        return Err(mid_message(what));
                    }
                    let n = ring
                        .lendable(n)
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    (n, Lent::Ring(n))
                } else {
                    if !framer.fill_raw(&mut fill)? {
                        return Err(mid_message(what));
                    }
                    continue;
                };
                *lent = from;
                return Ok(if n as u64 == left {
                    MessageRead::Complete(n)
                } else {
                    MessageRead::MoreData {
                        read: n,
                        left: left - n as u64,
                    }
                });
            },
        }
    }

    /// The bytes the last [`lend`](Self::lend) found, where they lie.
    ///
    /// # Safety
    /// When they lie in the ring: the peer must leave them alone until they are consumed (the
    /// contract of the public in-place reads).
    pub(crate) unsafe fn lent(&self) -> &[u8] {
        match self.lent {
            Lent::Nothing => &[],
            Lent::Buffer(n) => match self.pipe_mode {
                PipeMode::Byte => &self.framer.raw()[..n],
                PipeMode::Message => &self.framer.payload()[..n],
            },
            Lent::Ring(n) => match &self.rings {
                Some(rings) => {
                    // SAFETY: passed on to the caller (this function's contract).
                    let lent = unsafe { rings.lent(n) };
                    &lent[..n.min(lent.len())]
                }
                None => &[],
            },
        }
    }

    /// Marks `n` of the bytes the last [`lend`](Self::lend) lent as read (at most those);
    /// a consume with no lend before it does nothing.
    pub(crate) fn consume(&mut self, n: usize) {
        match std::mem::replace(&mut self.lent, Lent::Nothing) {
            Lent::Nothing => {}
            Lent::Buffer(k) => match self.pipe_mode {
                PipeMode::Byte => self.framer.take_raw(n.min(k)),
                PipeMode::Message => self.framer.take_payload(n.min(k), true),
            },
            Lent::Ring(k) => {
                if let Some(rings) = &mut self.rings {
                    rings.consume(n.min(k));
                }
                if self.pipe_mode == PipeMode::Message {
                    self.framer.take_payload(n.min(k), false);
                }
            }
        }
    }

    // ---- In-place writes ----

    /// Prepares an in-place write on a blocking byte pipe: waits as a write does for room, and
    /// notes what [`reserved`](Self::reserved) lends (how many bytes). On the ring: its free
    /// room up to its end, at least 1 byte; on the socket: this end's own buffer. A message
    /// pipe or a nonblocking end is `Unsupported`.
    pub(crate) fn reserve(&mut self) -> io::Result<usize> {
        self.check_write()?;
        self.reserved = Reserved::Nothing;
        if self.pipe_mode == PipeMode::Message {
            return Err(io::Error::new(
                ErrorKind::Unsupported,
                format!(
                    "named pipe {} is a message pipe: in-place writes are for byte pipes",
                    self.what
                ),
            ));
        }
        if self.nonblocking {
            return Err(io::Error::new(
                ErrorKind::Unsupported,
                format!(
                    "named pipe {} does not wait (PIPE_NOWAIT): in-place writes wait for room",
                    self.what
                ),
            ));
        }
        if let Some(rings) = &mut self.rings {
            if rings.onto_ring(self.fd.as_fd()) {
                let n = rings.reserve()?;
                self.reserved = Reserved::Ring(n);
                return Ok(n);
            }
            rings.check_peer_open()?;
        }
        if self.frame.len() < STAGED {
            self.frame.resize(STAGED, 0);
        }
        self.reserved = Reserved::Buffer(STAGED);
        Ok(STAGED)
    }

    /// The room the last [`reserve`](Self::reserve) found, where it lies.
    ///
    /// # Safety
    /// When it lies in the ring: the peer must never write ring data (the contract of the
    /// public in-place writes).
    pub(crate) unsafe fn reserved(&mut self) -> &mut [u8] {
        match self.reserved {
            Reserved::Nothing => &mut [],
            Reserved::Buffer(n) => &mut self.frame[..n],
            Reserved::Ring(n) => match &mut self.rings {
                // SAFETY: passed on to the caller (this function's contract).
                Some(rings) => unsafe { rings.room(n) },
                None => &mut [],
            },
        }
    }

    /// Publishes `n` bytes filled in the room the last [`reserve`](Self::reserve) lent: on the
    /// ring as a write publishes, on the socket sent as a write sends them. More than was
    /// reserved (or anything with no reserve before it) is `InvalidInput`.
    pub(crate) fn commit(&mut self, n: usize) -> io::Result<()> {
        let reserved = std::mem::replace(&mut self.reserved, Reserved::Nothing);
        let room = match reserved {
            Reserved::Nothing => 0,
            Reserved::Buffer(k) | Reserved::Ring(k) => k,
        };
        if n > room {
            self.reserved = reserved;
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "named pipe {}: a commit of {n} bytes, {room} reserved",
                    self.what
                ),
            ));
        }
        match reserved {
            Reserved::Nothing => Ok(()),
            Reserved::Ring(_) => match &mut self.rings {
                Some(rings) => rings.commit(n),
                None => Ok(()),
            },
            Reserved::Buffer(_) => {
                send_all(self.fd.as_fd(), &[&self.frame[..n]], &[])?;
                if let Some(rings) = &mut self.rings {
                    rings.sent_on_socket(n);
                }
                Ok(())
            }
        }
    }

    /// Whether the peer has closed its end and nothing is left to read; `None` when the socket
    /// tells (no rings, or its data still comes from the socket).
    pub(crate) fn rings_at_end(&mut self) -> io::Result<Option<bool>> {
        if self.framer.has_buffered() {
            return Ok(Some(false));
        }
        match &mut self.rings {
            Some(rings) => rings.at_end(),
            None => Ok(None),
        }
    }

    /// Whether a message of `len` payload bytes goes in at once without waiting (the quota of a
    /// nonblocking message write).
    pub(crate) fn message_fits(&mut self, len: usize) -> io::Result<bool> {
        if let Some(rings) = &mut self.rings {
            if rings.onto_ring(self.fd.as_fd()) {
                return rings.fits(len + framing::HEADER);
            }
        }
        super::state::message_fits(self.fd.as_fd(), len)
    }

    /// Shuts this end's writing half (the peer reads the end of data after what was sent).
    #[cfg(feature = "tokio")]
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match &mut self.rings {
            Some(rings) if rings.writes_ring() => {
                rings.shut_write();
                Ok(())
            }
            _ => Ok(rustix::net::shutdown(
                &self.fd,
                rustix::net::Shutdown::Write,
            )?),
        }
    }

    /// Ends the connection from this side (`DisconnectNamedPipe`): the rings are closed first,
    /// so the peer reads what they hold and then the end of data; then the socket is shut down.
    pub(crate) fn hang_up(&mut self) {
        self.rings = None;
        let _ = rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Both);
    }

    /// `TransactNamedPipe`.
    pub(crate) fn transact(&mut self, request: &[u8], reply: &mut [u8]) -> io::Result<MessageRead> {
        if self.pipe_mode != PipeMode::Message || self.read_mode != ReadMode::Message {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "named pipe {}: a transaction needs a message pipe in message-read mode",
                    self.what
                ),
            ));
        }
        let on_socket = rustix::io::ioctl_fionread(&self.fd)? as usize;
        let pending = match &mut self.rings {
            Some(rings) => rings.pending(on_socket)?,
            None => on_socket,
        };
        if self.framer.has_buffered() || pending > 0 {
            return Err(io::Error::new(
                ErrorKind::ResourceBusy,
                format!(
                    "named pipe {}: unread data is waiting: no transaction",
                    self.what
                ),
            ));
        }
        self.write_message(request)?;
        self.read_message(reply)
    }

    pub(crate) fn set_read_mode(&mut self, mode: ReadMode) -> io::Result<()> {
        if mode == ReadMode::Message && self.pipe_mode == PipeMode::Byte {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "named pipe {} is a byte pipe: message-read mode needs a message pipe",
                    self.what
                ),
            ));
        }
        self.read_mode = mode;
        Ok(())
    }

    pub(crate) fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        rustix::io::ioctl_fionbio(&self.fd, nonblocking)?;
        self.nonblocking = nonblocking;
        Ok(())
    }

    /// Sends `handle` as a one-byte message (or byte) carrying it.
    pub(crate) fn send_handle(&mut self, handle: BorrowedFd<'_>) -> io::Result<()> {
        self.check_write()?;
        if self.remote {
            return Err(io::Error::new(
                ErrorKind::Unsupported,
                format!(
                    "named pipe {}: handles do not travel to a client on another machine",
                    self.what
                ),
            ));
        }
        if let Some(rings) = &mut self.rings {
            if rings.onto_ring(self.fd.as_fd()) {
                // The handle rides on the socket, then the byte that announces it goes on the
                // ring, where the reader meets it in order with the data.
                rings.send_control_handle(self.fd.as_fd(), handle)?;
                return match self.pipe_mode {
                    PipeMode::Byte => rings.send(b"H", false),
                    PipeMode::Message => {
                        let header = framing::header(1)?;
                        let mut frame = header.to_vec();
                        frame.push(b'H');
                        rings.send(&frame, false)
                    }
                };
            }
            rings.check_peer_open()?;
        }
        let sent = match self.pipe_mode {
            PipeMode::Byte => send_all(self.fd.as_fd(), &[b"H"], &[handle]).map(|()| 1),
            PipeMode::Message => {
                let header = framing::header(1)?;
                send_all(self.fd.as_fd(), &[&header, b"H"], &[handle]).map(|()| header.len() + 1)
            }
        }?;
        if let Some(rings) = &mut self.rings {
            rings.sent_on_socket(sent);
        }
        Ok(())
    }

    /// Receives a handle sent with `send_handle`: this receive asks for one handle, whatever
    /// [`accept_handles`](Self::accept_handles) says.
    pub(crate) fn recv_handle(&mut self) -> io::Result<OwnedFd> {
        self.asking = true;
        let got = self.recv_handle_asked();
        self.asking = false;
        got
    }

    fn recv_handle_asked(&mut self) -> io::Result<OwnedFd> {
        let mut tag = [0u8; 1];
        let got = match self.pipe_mode {
            PipeMode::Byte => self.read(&mut tag)?,
            PipeMode::Message => match self.read_message(&mut tag)? {
                MessageRead::Complete(n) => n,
                MessageRead::End => 0,
                MessageRead::MoreData { .. } => {
                    return Err(io::Error::new(
                        ErrorKind::InvalidData,
                        format!(
                            "named pipe {}: a message came where a handle was expected",
                            self.what
                        ),
                    ))
                }
            },
        };
        if got == 0 {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("named pipe {}: closed before a handle arrived", self.what),
            ));
        }
        if self.handles.is_empty() {
            if let Some(rings) = &mut self.rings {
                // On the ring, the handle rode on the socket just before its byte.
                if let Some(handle) =
                    rings.recv_control_handle(self.fd.as_fd(), &mut self.handles)?
                {
                    return Ok(handle);
                }
            }
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "named pipe {}: data came where a handle was expected",
                    self.what
                ),
            ));
        }
        Ok(self.handles.remove(0))
    }

    /// Waits until the peer has read everything written (`FlushFileBuffers`), or has gone.
    pub(crate) fn flush_to_peer(&self) -> io::Result<()> {
        // On the ring: the ring read, and the socket's bytes (the data before the switch, the
        // wake-up byte) taken before it.
        if let Some(rings) = &self.rings {
            if rings.writes_ring() && rings.flush_to_peer()? {
                return Ok(());
            }
        }
        let mut pause = Duration::from_micros(20);
        while crate::sys::unread_by_peer(&self.fd)? > 0 {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
        Ok(())
    }
}
