//! Passing the ring and its handles over a socket: each end's handle is one end of a
//! Unix-domain socket pair, the *lifeline*, and the ring's handles wait in its receive queue.
//!
//! The ring's memfd and the two bells are queued in each socket's receive queue (one `R` byte
//! with `SCM_RIGHTS`), and an end adopted in another process takes copies of them from there
//! with `MSG_PEEK`, without consuming them, so a handle can be passed on again and again. When
//! every copy of an end's handle is closed (including copies held by a process killed with
//! `kill -9`), the kernel hangs up the other end's socket: that is how a side learns that its
//! peer vanished, without trusting process ids.

use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use super::ends::End;
use super::ring::Ring;
use super::wait::DEFAULT_SPIN;
use crate::mapping::{Access, FileMapping, View};

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
    pub(super) fn queue(&self, sock: &OwnedFd) -> io::Result<()> {
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
    pub(super) fn peek(sock: BorrowedFd<'_>) -> io::Result<Queued> {
        Queued::peek_waiting(sock, false)
    }

    /// [`Queued::peek`], waiting (with `wait`) until the peer has queued them.
    pub(super) fn peek_waiting(sock: BorrowedFd<'_>, wait: bool) -> io::Result<Queued> {
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

/// Maps the ring whose memfd is `fd`, for reading and writing.
pub(super) fn map_ring(fd: OwnedFd) -> io::Result<View> {
    let mapping = FileMapping::try_from(fd)?;
    mapping.map_view(Access::Write, 0, 0)
}

/// A bell as queued by whoever set the pipe up, refused unless it is nonblocking: a bell is
/// written and read while the ring's protocol runs, and a peer that queued a blocking pipe in
/// its place must not be able to make this side wait for ever on it.
pub(super) fn checked_bell(bell: OwnedFd) -> io::Result<OwnedFd> {
    if rustix::fs::fcntl_getfl(&bell)?.contains(rustix::fs::OFlags::NONBLOCK) {
        Ok(bell)
    } else {
        Err(io::Error::new(
            ErrorKind::InvalidData,
            "shared-memory pipe: the queued bell is not a nonblocking handle",
        ))
    }
}

impl End {
    /// Adopts the end whose handle is `lifeline`, made in this or another process: maps the
    /// ring queued on it and carries on from the position at `own_pos`.
    pub(super) fn adopt(lifeline: OwnedFd, own_pos: usize) -> io::Result<End> {
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
}
