//! Passing handles over a Unix-domain socket (`SCM_RIGHTS`): the one implementation that
//! [`crate::handle`], named pipes and the shared-memory pipe's handover share.
//!
//! A receiver states how many handles it takes. Handles a peer sends beyond that (or when none
//! were asked for) are never installed in this process: the kernel discards what does not fit in
//! the control buffer, and anything that did arrive over the limit is closed at once, so a peer
//! cannot fill this process's descriptor table.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};

use super::retry::retry;

/// The most handles one message may carry (the kernel's own limit is 253).
pub(crate) const MAX_HANDLES: usize = 253;

/// Sends `data` with `handles` attached in one `sendmsg` (never raising `SIGPIPE`); returns the
/// bytes sent. The handles ride on this call only: a caller sending the rest of a partial send
/// passes no handles. `data` must hold at least one byte when `handles` is not empty.
pub(crate) fn send(
    sock: BorrowedFd<'_>,
    data: &[IoSlice<'_>],
    handles: &[BorrowedFd<'_>],
    flags: SendFlags,
) -> io::Result<usize> {
    if handles.is_empty() {
        return Ok(retry(|| {
            sendmsg(
                sock,
                data,
                &mut SendAncillaryBuffer::default(),
                flags | SendFlags::NOSIGNAL,
            )
        })?);
    }
    if handles.len() > MAX_HANDLES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "too many handles in one message: {} (at most {MAX_HANDLES})",
                handles.len()
            ),
        ));
    }
    if data.iter().all(|d| d.is_empty()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "handles must travel with at least one byte of data",
        ));
    }
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(handles.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(handles));
    Ok(retry(|| {
        sendmsg(sock, data, &mut control, flags | SendFlags::NOSIGNAL)
    })?)
}

/// What one [`recv`] brought.
#[derive(Debug)]
pub(crate) struct Received {
    /// Bytes received (0: the peer closed, for a stream).
    pub(crate) bytes: usize,
    /// Handles received, close-on-exec, at most the number asked for.
    pub(crate) handles: Vec<OwnedFd>,
    /// The peer sent more handles than were asked for: they were discarded (never kept open).
    pub(crate) refused_handles: bool,
}

/// Receives into `buf` with room for `max_handles` handles, retrying `EINTR`.
///
/// `flags` may add `PEEK` or `DONTWAIT`; `CMSG_CLOEXEC` is always set.
pub(crate) fn recv(
    sock: BorrowedFd<'_>,
    buf: &mut [IoSliceMut<'_>],
    max_handles: usize,
    flags: RecvFlags,
) -> io::Result<Received> {
    let max_handles = max_handles.min(MAX_HANDLES);
    let mut handles = Vec::new();
    let (bytes, returned) = if max_handles == 0 {
        // No control buffer: any handle sent is dropped by the kernel and flagged MSG_CTRUNC.
        let mut none = RecvAncillaryBuffer::default();
        let msg = retry(|| recvmsg(sock, buf, &mut none, flags | RecvFlags::CMSG_CLOEXEC))?;
        (msg.bytes, msg.flags)
    } else {
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(max_handles))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let msg = retry(|| recvmsg(sock, buf, &mut control, flags | RecvFlags::CMSG_CLOEXEC))?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                handles.extend(fds);
            }
        }
        (msg.bytes, msg.flags)
    };
    let mut refused_handles = returned.contains(ReturnFlags::CTRUNC);
    if handles.len() > max_handles {
        handles.truncate(max_handles);
        refused_handles = true;
    }
    Ok(Received {
        bytes,
        handles,
        refused_handles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    use std::os::fd::AsFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn handles_arrive_only_when_asked_for() {
        let (a, b) = pair();
        let (x, y) = pair();
        let fds = [x.as_fd(), y.as_fd()];
        // Sends a byte with both handles and receives it making room for `max_handles`: how
        // many bytes and handles arrived, and whether some handles were refused.
        let round = |max_handles: usize| {
            send(a.as_fd(), &[IoSlice::new(b"h")], &fds, SendFlags::empty()).unwrap();
            let mut byte = [0u8; 1];
            let got = recv(
                b.as_fd(),
                &mut [IoSliceMut::new(&mut byte)],
                max_handles,
                RecvFlags::empty(),
            )
            .unwrap();
            (got.bytes, got.handles.len(), got.refused_handles)
        };
        assert_eq!(round(0), (1, 0, true));
        assert_eq!(round(1), (1, 1, true));
        assert_eq!(round(2), (1, 2, false));
    }

    #[test]
    fn handles_need_a_byte() {
        let (a, _b) = pair();
        let e = send(a.as_fd(), &[], &[a.as_fd()], SendFlags::empty()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
