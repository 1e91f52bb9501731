//! Peers that lie: corrupt positions, a blocking handle queued as a bell, handles that are not
//! shared-memory pipe ends.

use super::*;

/// args: HANDLE — a hostile peer: takes the ring out of a writer handle and writes garbage into
/// the write position.
pub(super) fn corrupt_write_position(args: &[String]) {
    let handle = inherited(&args[0]);
    let view = ring_view(peek_queued_handle(&handle));
    view.atomic_u64(64)
        .unwrap()
        .store(0xdead_beef_dead_beef, std::sync::atomic::Ordering::SeqCst);
}

/// A writable view of a ring taken out of a handle, as a hostile peer would map it.
fn ring_view(ring: OwnedFd) -> pipework::mapping::View {
    pipework::mapping::FileMapping::try_from(ring)
        .unwrap()
        .map_view(pipework::mapping::Access::Write, 0, 0)
        .unwrap()
}

fn peek_queued_handle(sock: &OwnedFd) -> OwnedFd {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    recvmsg(sock, &mut iov, &mut control, RecvFlags::PEEK).unwrap();
    let fd = control.drain().find_map(|m| match m {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    fd.expect("a ring handle")
}

pub(super) fn corrupt_positions_from_a_hostile_peer_are_invalid_data() {
    let (mut r, w) = shm_pipe::create().unwrap();
    let mut c = start("corrupt_write_position", &[], w.into(), false);
    assert!(wait(&mut c).success());
    let err = r.read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("corrupt"), "{err}");
    assert_eq!(
        r.bytes_available().unwrap_err().kind(),
        ErrorKind::InvalidData
    );
    // The in-place read checks the same position: no slice outside the ring, ever.
    // SAFETY: the slice is never produced (the position is refused first).
    let lent = unsafe { r.fill_buf_in_place() }.map(|s| s.len());
    assert_eq!(lent.unwrap_err().kind(), ErrorKind::InvalidData);
}

/// A hostile set-up: a writer handle whose queued bells are a full, blocking pipe instead of
/// eventfds, and a reader's waiting word saying "awaiting the bell". The writer must publish
/// without ringing that bell (a write to it would block for ever), and the data arrives.
pub(super) fn a_blocking_handle_queued_as_a_bell_is_never_written() {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let (r, w) = shm_pipe::create().unwrap();
    let reader_handle = OwnedFd::from(r);
    let writer_handle = OwnedFd::from(w);
    let ring = peek_queued_handle(&writer_handle);

    // A pipe filled to the brim, then put back in blocking mode.
    let (full_r, full_w) = rustix::pipe::pipe().unwrap();
    rustix::fs::fcntl_setfl(&full_w, rustix::fs::OFlags::NONBLOCK).unwrap();
    while rustix::io::write(&full_w, &[0u8; 4096]).is_ok() {}
    rustix::fs::fcntl_setfl(&full_w, rustix::fs::OFlags::empty()).unwrap();

    // The forged writer handle: the real ring, and the full pipe as both bells.
    let (forged, queue) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [ring.as_fd(), full_w.as_fd(), full_w.as_fd()];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    sendmsg(
        &queue,
        &[std::io::IoSlice::new(b"R")],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .unwrap();
    let mut writer = ShmWriter::try_from(forged).unwrap();

    // The reader "awaits its bell" (its waiting word, at offset 192 of the header, set to 2).
    let view = ring_view(ring);
    view.atomic_u32(192)
        .unwrap()
        .store(2, std::sync::atomic::Ordering::SeqCst);

    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        writer.write_all(b"hello").unwrap();
        done.send(writer).unwrap();
    });
    let _writer = finished
        .recv_timeout(common::TIMEOUT)
        .expect("the write returns instead of blocking on a forged bell");
    let mut reader = ShmReader::try_from(reader_handle).unwrap();
    let mut got = [0u8; 5];
    reader.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    drop((full_r, queue, writer_handle));
}

pub(super) fn a_handle_that_is_not_a_shm_pipe_end_is_refused() {
    let (pr, _pw) = pipework::pipe::create().unwrap();
    let err = ShmReader::try_from(OwnedFd::from(pr)).unwrap_err();
    assert!(
        err.to_string().contains("not a shared-memory pipe end"),
        "{err}"
    );
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    let err = ShmWriter::try_from(OwnedFd::from(a)).unwrap_err();
    assert!(
        err.to_string().contains("not a shared-memory pipe end"),
        "{err}"
    );
}
