//! Several datagrams in one system call (`recvmmsg`): a reader that drains a socket queue takes
//! what is waiting at once instead of one `recv` per datagram and one more to find it empty.

use std::os::fd::{AsFd, AsRawFd};

use rustix::io::Errno;

/// The most datagrams one call takes.
pub(crate) const MAX_BATCH: usize = 16;

/// Receives up to `lens.len()` (at most [`MAX_BATCH`]) datagrams into `slab`, cut into equal
/// slots of `slot` bytes: datagram `i` lands at `slab[i * slot..]`, and `lens[i]` is how many of
/// its bytes were taken (a datagram longer than its slot is cut to `slot` bytes, so a length of
/// `slot` tells the caller it may have been longer). Returns how many came.
///
/// `wait_for_one`: block until the first datagram (`MSG_WAITFORONE`), then take only what is
/// already there; else never block (`MSG_DONTWAIT`). Fewer than asked means the queue was
/// empty after the last one. An empty queue without waiting is `EAGAIN`.
pub(crate) fn recv_batch(
    fd: impl AsFd,
    slab: &mut [u8],
    slot: usize,
    lens: &mut [usize],
    wait_for_one: bool,
) -> Result<usize, Errno> {
    let count = lens.len().min(MAX_BATCH).min(slab.len() / slot.max(1));
    if count == 0 || slot == 0 {
        return Ok(0);
    }
    if count == 1 {
        // One datagram: a plain `recv`, the kernel's shortest receive path (no message headers
        // to copy in and out). Waiting for one is a blocking receive.
        let flags = if wait_for_one {
            rustix::net::RecvFlags::empty()
        } else {
            rustix::net::RecvFlags::DONTWAIT
        };
        let (n, _) = rustix::net::recv(fd, &mut slab[..slot], flags)?;
        lens[0] = n.min(slot);
        return Ok(1);
    }
    // SAFETY: an all-zero `iovec`/`mmsghdr` is a valid value (null pointers, zero lengths).
    let mut iov: [libc::iovec; MAX_BATCH] = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    let base = slab.as_mut_ptr();
    for i in 0..count {
        // SAFETY: `i * slot + slot <= count * slot <= slab.len()`: in bounds of `slab`.
        iov[i].iov_base = unsafe { base.add(i * slot) }.cast();
        iov[i].iov_len = slot;
        msgs[i].msg_hdr.msg_iov = &mut iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    let flags = if wait_for_one {
        libc::MSG_WAITFORONE
    } else {
        libc::MSG_DONTWAIT
    };
    // SAFETY: `msgs[..count]` each point at one `iovec` that covers a distinct, in-bounds slot of
    // `slab`, which is borrowed mutably for the call; no name or control buffer is given; the
    // kernel writes only within those buffers and into `msgs`. No timeout pointer.
    let n = unsafe {
        libc::recvmmsg(
            fd.as_fd().as_raw_fd(),
            msgs.as_mut_ptr(),
            count as libc::c_uint,
            flags,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    let n = n as usize;
    for (len, msg) in lens.iter_mut().zip(&msgs[..n]) {
        *len = (msg.msg_len as usize).min(slot);
    }
    Ok(n)
}
