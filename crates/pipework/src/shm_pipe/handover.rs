//! Passing the ring and its handles over a socket: each end's handle is one end of a
//! Unix-domain socket pair, the *lifeline*, and the ring's handles wait in its receive queue.
//!
//! The ring's memfd and the two bells are queued in each socket's receive queue (one `R` byte
//! with the three handles, sent through [`crate::sys::fdpass`]), and an end adopted in another
//! process takes copies of them from there with `MSG_PEEK`, without consuming them, so a handle
//! can be passed on again and again. When every copy of an end's handle is closed (including
//! copies held by a process killed with `kill -9`), the kernel hangs up the other end's socket:
//! that is how a side learns that its peer vanished, without trusting process ids.
//!
//! Whatever arrives there may come from a hostile peer, so a ring is mapped only once it is
//! known not to be able to change size under the mapping ([`map_ring`]), and a bell only once it
//! is known not to block ([`checked_bell`]).

use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use rustix::fs::SealFlags;
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

use super::ends::End;
use super::layout::{HEADER, MAX_CAPACITY, MIN_CAPACITY};
use super::ring::Ring;
use super::wait::DEFAULT_SPIN;
use crate::mapping::{Access, FileMapping, View};
use crate::sys::error::{error, named};
use crate::sys::fdpass;

/// The handles queued on each end's lifeline: the ring's memfd and the two ends' bells, the
/// eventfds that wake an end waiting under an async runtime (index [`READER_BELL`] or
/// [`WRITER_BELL`]). An adopter peeks them, keeps the ring, and takes a bell only when it needs
/// one.
pub(super) struct Queued {
    pub(super) ring: OwnedFd,
    pub(super) bells: [OwnedFd; 2],
}

pub(super) const READER_BELL: usize = 0;
pub(super) const WRITER_BELL: usize = 1;

/// The seals a ring must carry before it is mapped: it can neither shrink (an access past a
/// shrunken end raises `SIGBUS`) nor grow, and the seals themselves cannot change.
pub(super) const RING_SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// What the peek found on a lifeline.
pub(super) enum Peeked {
    /// The ring's handles.
    Ready(Queued),
    /// Nothing queued yet (only when not waiting).
    NotYet,
}

impl Queued {
    /// The handles of a new pipe whose ring is `mapping`, with two fresh bells.
    pub(super) fn new(mapping: FileMapping) -> io::Result<Queued> {
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
    /// Never waits: the message is one byte, on a socket that carries nothing else.
    pub(super) fn queue(&self, sock: BorrowedFd<'_>) -> io::Result<()> {
        let fds = [
            self.ring.as_fd(),
            self.bells[READER_BELL].as_fd(),
            self.bells[WRITER_BELL].as_fd(),
        ];
        fdpass::send(sock, &[IoSlice::new(b"R")], &fds, SendFlags::DONTWAIT)?;
        Ok(())
    }

    /// Takes copies of the handles queued for the end `sock`, leaving them queued; `what`
    /// names the pipe in errors.
    pub(super) fn peek(sock: BorrowedFd<'_>, what: &str) -> io::Result<Queued> {
        match Queued::try_peek(sock, what)? {
            Peeked::Ready(queued) => Ok(queued),
            Peeked::NotYet => Err(error(
                ErrorKind::InvalidInput,
                what,
                "not a shared-memory pipe end (no ring queued on it)",
            )),
        }
    }

    /// [`Queued::peek`] that tells "nothing queued yet" apart, for a side still setting the pipe
    /// up. `ConnectionAborted` when the peer went away before queueing anything.
    pub(super) fn try_peek(sock: BorrowedFd<'_>, what: &str) -> io::Result<Peeked> {
        let mut byte = [0u8; 1];
        let got = match fdpass::recv(
            sock,
            &mut [IoSliceMut::new(&mut byte)],
            3,
            RecvFlags::PEEK | RecvFlags::DONTWAIT,
        ) {
            Ok(got) => got,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Peeked::NotYet),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return Err(went_away(what));
            }
            Err(e) => {
                return Err(error(
                    e.kind(),
                    what,
                    format_args!("not a shared-memory pipe end (no ring queued on it: {e})"),
                ))
            }
        };
        if got.bytes == 0 && got.handles.is_empty() {
            return Err(went_away(what));
        }
        let not_a_ring = || {
            error(
                ErrorKind::InvalidData,
                what,
                "not a shared-memory pipe end (the queued message is not a ring)",
            )
        };
        if got.bytes != 1 || byte[0] != b'R' || got.refused_handles {
            return Err(not_a_ring());
        }
        let [ring, reader_bell, writer_bell]: [OwnedFd; 3] =
            got.handles.try_into().map_err(|_| not_a_ring())?;
        Ok(Peeked::Ready(Queued {
            ring,
            bells: [reader_bell, writer_bell],
        }))
    }
}

/// The other side of a pipe being set up closed its connection (or was killed).
fn went_away(what: &str) -> io::Error {
    error(
        ErrorKind::ConnectionAborted,
        what,
        "the other side went away before the pipe was set up",
    )
}

/// Maps the ring whose memfd is `fd`, for reading and writing, once [`check_ring_file`] has
/// found that nobody can change its size under the mapping. The header's declared capacity is
/// then checked against the mapping's size by [`Ring::validate`].
pub(super) fn map_ring(fd: OwnedFd, what: &str) -> io::Result<View> {
    check_ring_file(fd.as_fd(), what)?;
    let mapping = FileMapping::try_from(fd).map_err(|e| named(what, e))?;
    mapping
        .map_view(Access::Write, 0, 0)
        .map_err(|e| named(what, e))
}

/// Checks a ring's file before anything maps it: it must be a memfd sealed with
/// [`RING_SEALS`], of a size a ring can have; `InvalidData` otherwise. Without the seals, a peer
/// could shrink the file after the mapping and make this process's next access to the ring
/// raise `SIGBUS`.
pub(super) fn check_ring_file(fd: BorrowedFd<'_>, what: &str) -> io::Result<()> {
    let refused = |why: &dyn std::fmt::Display| {
        error(
            ErrorKind::InvalidData,
            what,
            format_args!("refused the ring: {why}"),
        )
    };
    let seals = match rustix::fs::fcntl_get_seals(fd) {
        Ok(seals) => seals,
        Err(Errno::INVAL) => return Err(refused(&"it is not a memfd")),
        Err(e) => return Err(named(what, e)),
    };
    if !seals.contains(RING_SEALS) {
        return Err(refused(
            &"it is not sealed against shrinking, growing and resealing",
        ));
    }
    let size = rustix::fs::fstat(fd).map_err(|e| named(what, e))?.st_size;
    let fits = u64::try_from(size)
        .is_ok_and(|s| s >= (HEADER + MIN_CAPACITY) as u64 && s <= (HEADER + MAX_CAPACITY) as u64);
    if !fits {
        return Err(refused(&format_args!("no ring has {size} bytes")));
    }
    Ok(())
}

/// A bell as queued by whoever set the pipe up, refused unless it is nonblocking: a bell is
/// written and read while the ring's protocol runs, and a peer that queued a blocking pipe in
/// its place must not be able to make this side wait for ever on it.
pub(super) fn checked_bell(bell: OwnedFd, what: &str) -> io::Result<OwnedFd> {
    if rustix::fs::fcntl_getfl(&bell)?.contains(rustix::fs::OFlags::NONBLOCK) {
        Ok(bell)
    } else {
        Err(error(
            ErrorKind::InvalidData,
            what,
            "the queued bell is not a nonblocking handle",
        ))
    }
}

/// The object every anonymous end names in its errors.
pub(super) const ANONYMOUS: &str = "shared-memory pipe";

impl End {
    /// Adopts the end whose handle is `lifeline`, made in this or another process: maps the
    /// ring queued on it and carries on from the position at `own_pos`.
    pub(super) fn adopt(lifeline: OwnedFd, own_pos: usize) -> io::Result<End> {
        let queued = Queued::peek(lifeline.as_fd(), ANONYMOUS)?;
        let ring = Ring::validate(map_ring(queued.ring, ANONYMOUS)?, ANONYMOUS.into())?;
        let pos = ring.position(own_pos).load(Ordering::Acquire);
        Ok(End {
            peer_pos: pos.wrapping_sub(ring.capacity),
            ring,
            lifeline: Some(lifeline),
            pos,
            max_spin: DEFAULT_SPIN,
            spin: DEFAULT_SPIN,
            sleeps: 0,
            peer_bell: OnceLock::new(),
            hup_only: false,
            bell_is_eventfd: false,
        })
    }
}
