//! Shared-memory pipes across real processes: the anonymous pipe's contract, peers that vanish,
//! and peers that lie.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{child, inherited, wait};
use pipework::process::{CommandExt, Process};
use pipework::shm_pipe::{self, ShmPipeOptions, ShmReader, ShmWriter};

fn main() {
    common::main(
        &[
            (
                "a_writer_in_another_process_finds_the_pipe_by_name",
                a_writer_in_another_process_finds_the_pipe_by_name,
            ),
            (
                "names_missing_taken_and_left_behind_by_a_killed_listener",
                names_missing_taken_and_left_behind_by_a_killed_listener,
            ),
            (
                "messages_of_any_size_arrive_whole_across_processes",
                messages_of_any_size_arrive_whole_across_processes,
            ),
            (
                "a_writer_killed_mid_message_is_an_error_not_a_short_message",
                a_writer_killed_mid_message_is_an_error_not_a_short_message,
            ),
            (
                "bytes_cross_processes_intact_and_end_after_a_clean_close",
                bytes_cross_processes_intact_and_end_after_a_clean_close,
            ),
            (
                "a_reader_in_a_child_reads_what_the_parent_writes",
                a_reader_in_a_child_reads_what_the_parent_writes,
            ),
            (
                "read_blocks_while_empty_then_returns_what_is_there",
                read_blocks_while_empty_then_returns_what_is_there,
            ),
            (
                "data_written_before_the_writer_exits_is_all_read",
                data_written_before_the_writer_exits_is_all_read,
            ),
            (
                "a_full_ring_blocks_the_writer_until_the_reader_makes_room",
                a_full_ring_blocks_the_writer_until_the_reader_makes_room,
            ),
            (
                "write_after_the_reader_is_gone_is_broken_pipe",
                write_after_the_reader_is_gone_is_broken_pipe,
            ),
            (
                "a_reader_killed_while_the_writer_waits_is_broken_pipe",
                a_reader_killed_while_the_writer_waits_is_broken_pipe,
            ),
            (
                "a_writer_killed_mid_write_leaves_the_reader_an_error_not_a_hang",
                a_writer_killed_mid_write_leaves_the_reader_an_error_not_a_hang,
            ),
            (
                "corrupt_positions_from_a_hostile_peer_are_invalid_data",
                corrupt_positions_from_a_hostile_peer_are_invalid_data,
            ),
            (
                "a_blocking_handle_queued_as_a_bell_is_never_written",
                a_blocking_handle_queued_as_a_bell_is_never_written,
            ),
            (
                "an_end_handle_can_be_passed_on_again",
                an_end_handle_can_be_passed_on_again,
            ),
            (
                "a_handle_that_is_not_a_shm_pipe_end_is_refused",
                a_handle_that_is_not_a_shm_pipe_end_is_refused,
            ),
            (
                "capacity_is_rounded_up_and_capped",
                capacity_is_rounded_up_and_capped,
            ),
            (
                "blocking_mode_without_spinning_works_across_processes",
                blocking_mode_without_spinning_works_across_processes,
            ),
            (
                "ends_sharing_one_cpu_exchange_every_message",
                ends_sharing_one_cpu_exchange_every_message,
            ),
            (
                "in_place_reads_and_writes_cross_processes_and_wrap",
                in_place_reads_and_writes_cross_processes_and_wrap,
            ),
            #[cfg(feature = "tokio")]
            (
                "an_async_reader_takes_what_a_blocking_writer_sends",
                an_async_reader_takes_what_a_blocking_writer_sends,
            ),
            #[cfg(feature = "tokio")]
            (
                "an_async_writer_feeds_a_blocking_reader_through_a_small_ring",
                an_async_writer_feeds_a_blocking_reader_through_a_small_ring,
            ),
            #[cfg(feature = "tokio")]
            (
                "async_ends_see_a_killed_peer_as_an_error",
                async_ends_see_a_killed_peer_as_an_error,
            ),
        ],
        &[
            ("write_pattern", write_pattern),
            ("connect_and_write", connect_and_write),
            ("listen_and_hold", listen_and_hold),
            ("send_messages", send_messages),
            ("read_and_report", read_and_report),
            ("write_on_go", write_on_go),
            ("drop_reader", drop_reader),
            ("hold_reader", hold_reader),
            ("corrupt_write_position", corrupt_write_position),
            ("echo", echo),
            ("write_pattern_in_place", write_pattern_in_place),
        ],
    )
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn start(role: &str, args: &[&str], handle: OwnedFd, stdout: bool) -> std::process::Child {
    let mut cmd = child(role);
    cmd.args(args);
    if stdout {
        cmd.stdout(Stdio::piped());
    }
    let n = cmd.inherit_handle(handle);
    cmd.arg(n.to_string());
    cmd.spawn().expect("spawn child")
}

/// Reads to the end with a deadline on the whole transfer.
fn read_all(reader: &mut ShmReader) -> std::io::Result<Vec<u8>> {
    let deadline = Instant::now() + common::TIMEOUT;
    let mut all = Vec::new();
    let mut buf = vec![0u8; 100_000];
    loop {
        assert!(Instant::now() < deadline, "no end of data in time");
        match reader.read(&mut buf)? {
            0 => return Ok(all),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

// ---- child roles ----

/// args: IN OUT — echoes 64-byte messages from IN to OUT until the end of data.
fn echo(args: &[String]) {
    let mut r = ShmReader::try_from(inherited(&args[0])).unwrap();
    let mut w = ShmWriter::try_from(inherited(&args[1])).unwrap();
    let mut message = [0u8; 64];
    loop {
        match r.read_exact(&mut message) {
            Ok(()) => w.write_all(&message).unwrap(),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return,
            Err(e) => panic!("echo: {e}"),
        }
    }
}

/// args: COUNT HANDLE — writes COUNT pattern bytes in writes of varying sizes, then closes.
fn write_pattern(args: &[String]) {
    let n: usize = args[0].parse().unwrap();
    let mut w = ShmWriter::try_from(inherited(&args[1])).unwrap();
    let data = pattern(n);
    let mut at = 0;
    let mut size = 1;
    while at < n {
        let end = (at + size).min(n);
        w.write_all(&data[at..end]).unwrap();
        at = end;
        size = size * 7 % 100_003 + 1;
    }
}

/// args: COUNT HANDLE — writes COUNT pattern bytes produced straight into the ring, committing
/// them in pieces of varying sizes (some larger than the room lent, which commit caps).
fn write_pattern_in_place(args: &[String]) {
    let n: usize = args[0].parse().unwrap();
    let mut w = ShmWriter::try_from(inherited(&args[1])).unwrap();
    let mut at = 0;
    let mut size = 1;
    while at < n {
        // SAFETY: the reader is the test's own ShmReader, which never writes ring data.
        let room = unsafe { w.reserve_in_place() }.unwrap();
        assert!(!room.is_empty());
        let take = size.min(n - at).min(room.len());
        for (i, b) in room[..take].iter_mut().enumerate() {
            *b = ((at + i) % 251) as u8;
        }
        w.commit(take).unwrap();
        at += take;
        size = size * 7 % 100_003 + 1;
    }
}

/// args: HANDLE — reads to the end and prints the byte count and whether it matched the pattern.
fn read_and_report(args: &[String]) {
    let mut r = ShmReader::try_from(inherited(&args[0])).unwrap();
    let got = read_all(&mut r).unwrap();
    print!("{} {}", got.len(), got == pattern(got.len()));
}

/// args: GO HANDLE — waits for a byte on the pipe GO, then writes "hello" and waits for stdin's end.
fn write_on_go(args: &[String]) {
    let mut go = pipework::pipe::PipeReader::try_from(inherited(&args[0])).unwrap();
    let mut w = ShmWriter::try_from(inherited(&args[1])).unwrap();
    common::read_exact(&mut go, 1);
    w.write_all(b"hello").unwrap();
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
}

/// args: HANDLE — adopts the reader and drops it at once (a clean close).
fn drop_reader(args: &[String]) {
    drop(ShmReader::try_from(inherited(&args[0])).unwrap());
}

/// args: HANDLE — adopts the reader, says so, and waits for stdin's end (or a kill).
fn hold_reader(args: &[String]) {
    let _r = ShmReader::try_from(inherited(&args[0])).unwrap();
    println!("holding");
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
}

/// args: HANDLE — a hostile peer: takes the ring out of a writer handle and writes garbage into
/// the write position.
fn corrupt_write_position(args: &[String]) {
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

/// args: NAME COUNT — connects to NAME and writes COUNT pattern bytes.
fn connect_and_write(args: &[String]) {
    let mut w = ShmWriter::connect(&args[0]).unwrap();
    w.write_all(&pattern(args[1].parse().unwrap())).unwrap();
}

/// args: NAME — listens on NAME, says so, and waits to be killed.
fn listen_and_hold(args: &[String]) {
    let _listener = ShmPipeOptions::new().listen(&args[0]).unwrap();
    println!("listening");
    let mut forever = Vec::new();
    std::io::stdin().read_to_end(&mut forever).unwrap();
}

/// The size and bytes of message `i` of [`send_messages`].
fn message(i: usize) -> Vec<u8> {
    let size = (i * 7919 + i * i * 31) % 70_001;
    (0..size).map(|j| ((i + j) % 253) as u8).collect()
}

/// args: COUNT HANDLE [HANG] — sends messages 0..COUNT, then (with HANG) the header of one more
/// message and half of it, and waits to be killed.
fn send_messages(args: &[String]) {
    let count: usize = args[0].parse().unwrap();
    let mut w = shm_pipe::ShmMessageWriter::new(ShmWriter::try_from(inherited(&args[1])).unwrap());
    for i in 0..count {
        w.write_message(&message(i)).unwrap();
    }
    if args.get(2).is_some() {
        let mut raw = w.into_inner();
        raw.write_all(&1000u32.to_le_bytes()).unwrap();
        raw.write_all(&[7u8; 500]).unwrap();
        println!("half sent");
        let mut forever = Vec::new();
        std::io::stdin().read_to_end(&mut forever).unwrap();
    }
}

// ---- tests ----

fn bytes_cross_processes_intact_and_end_after_a_clean_close() {
    let (mut r, w) = ShmPipeOptions::new().capacity(64 * 1024).create().unwrap();
    let size = 8 * 1024 * 1024 + 3;
    let mut c = start("write_pattern", &[&size.to_string()], w.into(), false);
    let got = read_all(&mut r).unwrap();
    assert_eq!(got.len(), size);
    assert!(got == pattern(size));
    assert!(wait(&mut c).success());
}

fn a_reader_in_a_child_reads_what_the_parent_writes() {
    let (r, mut w) = shm_pipe::create().unwrap();
    let c = start("read_and_report", &[], r.into(), true);
    let size = 5 * 1024 * 1024;
    w.write_all(&pattern(size)).unwrap();
    drop(w);
    assert_eq!(common::output_of(c), format!("{size} true"));
}

fn read_blocks_while_empty_then_returns_what_is_there() {
    let (mut r, w) = shm_pipe::create().unwrap();
    let (go_r, mut go_w) = pipework::pipe::create().unwrap();
    let mut cmd = child("write_on_go");
    cmd.stdin(Stdio::piped());
    let a = cmd.inherit_handle(go_r);
    let b = cmd.inherit_handle(OwnedFd::from(w));
    cmd.arg(a.to_string()).arg(b.to_string());
    let mut c = cmd.spawn().unwrap();
    drop(cmd);
    assert_eq!(r.bytes_available().unwrap(), 0);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let n = r.read(&mut buf).unwrap();
        (buf[..n].to_vec(), r)
    });
    go_w.write_all(b"!").unwrap();
    let (got, mut r) = reader.join().unwrap();
    assert_eq!(got, b"hello");
    drop(c.stdin.take());
    assert!(wait(&mut c).success());
    assert_eq!(
        read_all(&mut r).unwrap(),
        b"",
        "the child closed its writer"
    );
}

fn data_written_before_the_writer_exits_is_all_read() {
    let (mut r, w) = ShmPipeOptions::new().capacity(1 << 20).create().unwrap();
    let mut c = start("write_pattern", &["1000000"], w.into(), false);
    assert!(wait(&mut c).success());
    assert_eq!(r.bytes_available().unwrap(), 1_000_000);
    assert!(read_all(&mut r).unwrap() == pattern(1_000_000));
}

fn a_full_ring_blocks_the_writer_until_the_reader_makes_room() {
    let (r, mut w) = ShmPipeOptions::new().capacity(4096).create().unwrap();
    assert_eq!(w.capacity(), 4096);
    let c = start("read_and_report", &[], r.into(), true);
    // One write of 64 times the ring: it returns only once the child has read most of it.
    let size = 4096 * 64;
    assert_eq!(w.write(&pattern(size)).unwrap(), size);
    drop(w);
    assert_eq!(common::output_of(c), format!("{size} true"));
}

fn write_after_the_reader_is_gone_is_broken_pipe() {
    let (r, mut w) = shm_pipe::create().unwrap();
    let mut c = start("drop_reader", &[], r.into(), false);
    assert!(wait(&mut c).success());
    let err = w.write(b"nobody reads this").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    // Dropped in this process too.
    let (r, mut w) = shm_pipe::create().unwrap();
    drop(r);
    assert_eq!(w.write_all(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
}

/// A child that holds the reader `r` (reading nothing) until its stdin closes, once it says
/// so; the returned stdin keeps it alive.
fn holding_reader(r: ShmReader) -> (std::process::Child, Option<std::process::ChildStdin>) {
    let mut cmd = child("hold_reader");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let n = cmd.inherit_handle(OwnedFd::from(r));
    let mut c = cmd.arg(n.to_string()).spawn().unwrap();
    drop(cmd);
    let stdin = c.stdin.take();
    assert_eq!(common::first_line(&mut c), "holding");
    (c, stdin)
}

fn a_reader_killed_while_the_writer_waits_is_broken_pipe() {
    let (r, mut w) = ShmPipeOptions::new().capacity(4096).create().unwrap();
    let (mut c, _keep_stdin_open) = holding_reader(r);
    // Fill the ring, then kill the reader while the writer is blocked on a full ring.
    w.write_all(&pattern(4096)).unwrap();
    let process = Process::from_child(&c).unwrap();
    let killer = std::thread::spawn(move || {
        process.kill().unwrap();
        process.wait_timeout(common::TIMEOUT).unwrap()
    });
    let started = Instant::now();
    let err = w.write_all(&pattern(10_000)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert!(started.elapsed() < common::TIMEOUT);
    assert!(killer.join().unwrap());
    let _ = c.wait();
}

fn a_writer_killed_mid_write_leaves_the_reader_an_error_not_a_hang() {
    let (mut r, w) = ShmPipeOptions::new().capacity(64 * 1024).create().unwrap();
    let mut c = start("write_pattern", &["100000000"], w.into(), false);
    // Read a little, then kill the writer in the middle of its 100 MB.
    let mut got = vec![0u8; 200_000];
    r.read_exact(&mut got).unwrap();
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
    let mut rest = Vec::new();
    let err = loop {
        let mut buf = vec![0u8; 65536];
        match r.read(&mut buf) {
            Ok(0) => panic!("a killed writer must not look like a clean end"),
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("writer vanished"), "{err}");
    got.extend_from_slice(&rest);
    assert!(
        got == pattern(got.len()),
        "what was published arrived intact"
    );
}

fn corrupt_positions_from_a_hostile_peer_are_invalid_data() {
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
fn a_blocking_handle_queued_as_a_bell_is_never_written() {
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

fn an_end_handle_can_be_passed_on_again() {
    let (mut r, w) = shm_pipe::create().unwrap();
    // Handle → end → handle → end, in this process, then to a child.
    let mut w = ShmWriter::try_from(OwnedFd::from(w)).unwrap();
    w.write_all(b"first ").unwrap();
    let w = ShmWriter::try_from(OwnedFd::from(w)).unwrap();
    let mut c = start("write_pattern", &["1000"], w.into(), false);
    assert!(wait(&mut c).success());
    let got = read_all(&mut r).unwrap();
    assert_eq!(&got[..6], b"first ");
    assert!(got[6..] == pattern(1000));
}

fn a_handle_that_is_not_a_shm_pipe_end_is_refused() {
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

fn capacity_is_rounded_up_and_capped() {
    let (r, w) = ShmPipeOptions::new().capacity(5000).create().unwrap();
    assert_eq!((r.capacity(), w.capacity()), (8192, 8192));
    let (r, _w) = ShmPipeOptions::new().capacity(1).create().unwrap();
    assert_eq!(r.capacity(), 4096);
    let err = ShmPipeOptions::new()
        .capacity(2 << 30)
        .create()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let _ = w.as_fd();
}

fn blocking_mode_without_spinning_works_across_processes() {
    let (mut r, w) = ShmPipeOptions::new()
        .capacity(16 * 1024)
        .spin(Duration::ZERO)
        .create()
        .unwrap();
    let size = 2 * 1024 * 1024;
    let mut c = start("write_pattern", &[&size.to_string()], w.into(), false);
    let got = read_all(&mut r).unwrap();
    assert!(got == pattern(size));
    assert!(wait(&mut c).success());
}

/// Both processes on one CPU (the child inherits this thread's affinity), with the default
/// spin: a side must not spin while its peer needs that CPU to answer (it yields the CPU
/// instead, and nobody sleeps). Every message comes back intact; the bench's
/// `round_trip_one_cpu` figure measures how fast.
fn ends_sharing_one_cpu_exchange_every_message() {
    use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
    let allowed = sched_getaffinity(None).unwrap();
    let cpu = (0..CpuSet::MAX_CPU).find(|&c| allowed.is_set(c)).unwrap();
    let mut one = CpuSet::new();
    one.set(cpu);
    sched_setaffinity(None, &one).unwrap();
    let (to_r, mut to_w) = shm_pipe::create().unwrap();
    let (mut from_r, from_w) = shm_pipe::create().unwrap();
    let mut cmd = child("echo");
    let a = cmd.inherit_handle(OwnedFd::from(to_r));
    let b = cmd.inherit_handle(OwnedFd::from(from_w));
    let mut c = cmd.arg(a.to_string()).arg(b.to_string()).spawn().unwrap();
    let deadline = Instant::now() + common::TIMEOUT;
    let mut back = [0u8; 64];
    for i in 0..3000u32 {
        let sent = [i as u8; 64];
        to_w.write_all(&sent).unwrap();
        from_r.read_exact(&mut back).unwrap();
        assert_eq!(back, sent, "message {i} came back intact");
        assert!(
            Instant::now() < deadline,
            "3000 round trips on one CPU in time"
        );
    }
    drop(to_w);
    sched_setaffinity(None, &allowed).unwrap();
    assert!(wait(&mut c).success());
}

/// A child produces bytes straight into a small ring (`reserve_in_place` / `commit`) and the
/// parent consumes them where they lie (`fill_buf_in_place` / `consume`), in odd amounts so the
/// ring wraps many times; every byte arrives in order, and the end of data is an empty slice.
fn in_place_reads_and_writes_cross_processes_and_wrap() {
    let (mut r, w) = ShmPipeOptions::new().capacity(16 * 1024).create().unwrap();
    let size = 3_000_017;
    let mut c = start(
        "write_pattern_in_place",
        &[&size.to_string()],
        w.into(),
        false,
    );
    let deadline = Instant::now() + common::TIMEOUT;
    let mut got = 0usize;
    let mut step = 1usize;
    loop {
        assert!(Instant::now() < deadline, "in-place transfer in time");
        // SAFETY: the writer is the test's own child writing through a ShmWriter.
        let data = unsafe { r.fill_buf_in_place() }.unwrap();
        if data.is_empty() {
            break;
        }
        assert!(data.len() <= 16 * 1024);
        let take = step.min(data.len());
        for (i, &b) in data[..take].iter().enumerate() {
            assert_eq!(b, ((got + i) % 251) as u8, "byte {}", got + i);
        }
        r.consume(take);
        got += take;
        step = step * 5 % 20_011 + 1;
    }
    assert_eq!(got, size);
    // Consuming more than there is takes nothing that is not there.
    r.consume(1000);
    assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0);
    assert!(wait(&mut c).success());
}

#[cfg(feature = "tokio")]
/// A writer in a child, blocking with the default spin, into a 16 KiB ring; the parent reads
/// with tokio: every byte in order, then the end of data.
fn an_async_reader_takes_what_a_blocking_writer_sends() {
    use tokio::io::AsyncReadExt;
    let (r, w) = ShmPipeOptions::new().capacity(16 * 1024).create().unwrap();
    let size = 3_000_000;
    let mut c = start("write_pattern", &[&size.to_string()], w.into(), false);
    let got = common::runtime().block_on(async {
        let mut r = r.into_async().unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(common::TIMEOUT, r.read_to_end(&mut got))
            .await
            .expect("the whole stream in time")
            .unwrap();
        got
    });
    assert_eq!(got.len(), size);
    assert!(got == pattern(size));
    assert!(wait(&mut c).success());
}

#[cfg(feature = "tokio")]
/// The parent writes with tokio into a 16 KiB ring that a blocking reader in a child drains;
/// shutting the writer down is the child's end of data.
fn an_async_writer_feeds_a_blocking_reader_through_a_small_ring() {
    use tokio::io::AsyncWriteExt;
    let (r, w) = ShmPipeOptions::new().capacity(16 * 1024).create().unwrap();
    let size = 3_000_000;
    let c = start("read_and_report", &[], r.into(), true);
    common::runtime().block_on(async {
        let mut w = w.into_async().unwrap();
        let data = pattern(size);
        tokio::time::timeout(common::TIMEOUT, async {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
        })
        .await
        .expect("the whole stream in time");
        assert_eq!(
            w.write(b"x").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
    });
    assert_eq!(common::output_of(c), format!("{size} true"));
}

#[cfg(feature = "tokio")]
/// An async reader whose writer is killed mid-stream gets `UnexpectedEof` after the data, and
/// an async writer whose reader is killed gets `BrokenPipe`: neither waits for ever.
fn async_ends_see_a_killed_peer_as_an_error() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = common::runtime();

    let (r, w) = ShmPipeOptions::new().capacity(64 * 1024).create().unwrap();
    let mut c = start("write_pattern", &["100000000"], w.into(), false);
    let err = rt.block_on(async {
        let mut r = r.into_async().unwrap();
        let mut first = vec![0u8; 200_000];
        r.read_exact(&mut first).await.unwrap();
        assert!(first == pattern(first.len()));
        Process::from_child(&c).unwrap().kill().unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(common::TIMEOUT, r.read_to_end(&mut rest))
            .await
            .expect("an error in time, not a hang")
            .unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("writer vanished"), "{err}");
    let _ = wait(&mut c);

    let (r, w) = ShmPipeOptions::new().capacity(4096).create().unwrap();
    let (mut c, _keep_stdin_open) = holding_reader(r);
    let err = rt.block_on(async {
        let mut w = w.into_async().unwrap();
        w.write_all(&pattern(4096)).await.unwrap();
        Process::from_child(&c).unwrap().kill().unwrap();
        tokio::time::timeout(common::TIMEOUT, w.write_all(&pattern(10_000)))
            .await
            .expect("an error in time, not a hang")
            .unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    let _ = c.wait();
}

fn messages_of_any_size_arrive_whole_across_processes() {
    use pipework::named_pipe::MessageRead;
    let (r, w) = ShmPipeOptions::new().capacity(16 * 1024).create().unwrap();
    let count = 600;
    let mut c = start("send_messages", &[&count.to_string()], w.into(), false);
    let mut reader = shm_pipe::ShmMessageReader::new(r);
    let mut buf = vec![0u8; 4096];
    for i in 0..count {
        let mut got = Vec::new();
        loop {
            match reader.read_message(&mut buf).unwrap() {
                MessageRead::Complete(n) => {
                    got.extend_from_slice(&buf[..n]);
                    break;
                }
                MessageRead::MoreData { read, .. } => got.extend_from_slice(&buf[..read]),
                MessageRead::End => panic!("end of data before message {i}"),
            }
        }
        assert!(got == message(i), "message {i} arrived whole");
    }
    assert_eq!(reader.read_message(&mut buf).unwrap(), MessageRead::End);
    assert!(wait(&mut c).success());
}

fn a_writer_killed_mid_message_is_an_error_not_a_short_message() {
    use pipework::named_pipe::MessageRead;
    // A ring that holds everything the child sends, so it reaches its kill point unread.
    let (r, w) = ShmPipeOptions::new().capacity(64 * 1024).create().unwrap();
    let mut cmd = child("send_messages");
    cmd.arg("3").stdin(Stdio::piped()).stdout(Stdio::piped());
    let n = cmd.inherit_handle(OwnedFd::from(w));
    let mut c = cmd.arg(n.to_string()).arg("hang").spawn().unwrap();
    drop(cmd);
    let _stdin = c.stdin.take();
    assert_eq!(common::first_line(&mut c), "half sent");
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
    let mut reader = shm_pipe::ShmMessageReader::new(r);
    let mut buf = vec![0u8; 100_000];
    for i in 0..3 {
        assert_eq!(
            reader.read_message(&mut buf).unwrap(),
            MessageRead::Complete(message(i).len())
        );
    }
    let err = reader.read_message(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe),
        "{err}"
    );
}

fn a_writer_in_another_process_finds_the_pipe_by_name() {
    let name = format!("shm-test-{}-by-name", std::process::id());
    let listener = ShmPipeOptions::new()
        .capacity(32 * 1024)
        .listen(&name)
        .unwrap();
    let mut c = child("connect_and_write")
        .arg(&name)
        .arg("3000000")
        .spawn()
        .unwrap();
    let mut r = listener.accept().unwrap();
    assert_eq!(r.capacity(), 32 * 1024);
    assert!(read_all(&mut r).unwrap() == pattern(3_000_000));
    assert!(wait(&mut c).success());
    // The reader's handle can be passed on after a named set-up too.
    let mut c = child("connect_and_write")
        .arg(&name)
        .arg("10")
        .spawn()
        .unwrap();
    let r = listener.accept().unwrap();
    let mut r = ShmReader::try_from(OwnedFd::from(r)).unwrap();
    assert_eq!(read_all(&mut r).unwrap(), pattern(10));
    assert!(wait(&mut c).success());
}

fn names_missing_taken_and_left_behind_by_a_killed_listener() {
    let name = format!("shm-test-{}-names", std::process::id());
    let err = ShmWriter::connect(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains(&name), "{err}");
    let err = ShmPipeOptions::new().listen("back\\slash").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // A live listener in another process holds the name.
    let mut c = child("listen_and_hold")
        .arg(&name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = c.stdin.take();
    assert_eq!(common::first_line(&mut c), "listening");
    let err = ShmPipeOptions::new().listen(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(shm_pipe::list().unwrap().contains(&name));
    // Killed with -9, it leaves its socket behind: not listed, and a new listener takes the
    // name over.
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
    assert!(!shm_pipe::list().unwrap().contains(&name));
    assert_eq!(
        ShmWriter::connect(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let listener = ShmPipeOptions::new().listen(&name).unwrap();
    assert!(shm_pipe::list().unwrap().contains(&name));
    drop(listener);
    assert!(!shm_pipe::list().unwrap().contains(&name));
    assert_eq!(
        ShmWriter::connect(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // A name the socket cannot carry as it is (long, mixed case, spaces) is listed as given.
    let long = format!("Shm Test {} {}", std::process::id(), "x".repeat(200));
    let listener = ShmPipeOptions::new().listen(&long).unwrap();
    assert!(shm_pipe::list().unwrap().contains(&long));
    drop(listener);
    assert!(!shm_pipe::list().unwrap().contains(&long));
}
