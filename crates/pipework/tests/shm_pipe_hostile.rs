//! Shared-memory pipes against peers that lie, stall or vanish, across real processes: a ring
//! that could shrink under its mapping, a connection that never speaks, a listener that never
//! accepts or dies. None of them may crash, block or hang the other side.

mod common;

use std::io::{self, BufRead, ErrorKind, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{child, first_line, wait};
use pipework::process::Process;
use pipework::shm_pipe::{ShmPipeListener, ShmPipeOptions, ShmReader, ShmWriter};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendFlags};

fn main() {
    common::main(
        &[
            (
                "an_unsealed_ring_sent_to_the_listener_is_refused_and_it_keeps_serving",
                an_unsealed_ring_sent_to_the_listener_is_refused_and_it_keeps_serving,
            ),
            (
                "an_adopted_handle_whose_ring_could_change_size_is_refused",
                an_adopted_handle_whose_ring_could_change_size_is_refused,
            ),
            (
                "a_silent_connection_holds_up_no_writer_and_is_dropped",
                a_silent_connection_holds_up_no_writer_and_is_dropped,
            ),
            (
                "connect_to_a_listener_that_never_accepts_times_out",
                connect_to_a_listener_that_never_accepts_times_out,
            ),
            (
                "connect_ends_when_the_listener_it_waits_for_is_killed",
                connect_ends_when_the_listener_it_waits_for_is_killed,
            ),
            (
                "a_spin_of_duration_max_still_notices_a_vanished_peer",
                a_spin_of_duration_max_still_notices_a_vanished_peer,
            ),
            (
                "capacity_and_timeouts_out_of_range_are_refused_or_saturate",
                capacity_and_timeouts_out_of_range_are_refused_or_saturate,
            ),
        ],
        &[
            ("unsealed_ring", unsealed_ring),
            ("silent", silent),
            ("connect_and_write", connect_and_write),
            ("squat", squat),
        ],
    )
}

const RING: usize = 16 * 1024;
const HEADER: usize = 4096;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn unique(what: &str) -> String {
    format!("shm-hostile-{}-{what}", std::process::id())
}

/// The socket a listener of `name` listens on, found as `pipework::shm_pipe::list` finds it:
/// the listener notes the name beside its socket (`.` + the socket's file name).
fn listener_socket(name: &str) -> PathBuf {
    let dir = pipework::name::directory(
        pipework::name::Namespace::Local,
        pipework::name::Kind::ShmPipe,
    )
    .expect("the shm pipe directory");
    for entry in std::fs::read_dir(&dir).expect("list the shm pipe directory") {
        let file = entry.expect("a directory entry").file_name();
        let file = file.to_string_lossy();
        if let Some(socket) = file.strip_prefix('.') {
            if std::fs::read_to_string(dir.join(&*file)).is_ok_and(|n| n == name) {
                return dir.join(socket);
            }
        }
    }
    panic!("no listener socket noted for {name}");
}

/// Takes copies of the three handles (ring, two bells) queued on `sock`, leaving them queued.
fn peek_queued(sock: BorrowedFd<'_>) -> Vec<OwnedFd> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let mut iov = [io::IoSliceMut::new(&mut byte)];
    rustix::net::recvmsg(sock, &mut iov, &mut control, RecvFlags::PEEK).expect("peek");
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    assert_eq!(fds.len(), 3, "a ring and two bells");
    fds
}

/// Queues `R` with `fds` on `sock`, as a pipe end queues a ring and its bells.
fn queue(sock: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(fds)));
    rustix::net::sendmsg(
        sock,
        &[IoSlice::new(b"R")],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .expect("queue the forged ring");
}

/// A memfd of `size` bytes holding a copy of the header page of the ring `real` (so every
/// header check passes), sealed with `seals`.
fn forged_ring(real: BorrowedFd<'_>, size: u64, seals: SealFlags) -> OwnedFd {
    let fake = rustix::fs::memfd_create(
        "forged-ring",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .unwrap();
    rustix::fs::ftruncate(&fake, size).unwrap();
    let mut header = vec![0u8; HEADER];
    assert_eq!(rustix::io::pread(real, &mut header, 0).unwrap(), HEADER);
    assert_eq!(rustix::io::pwrite(&fake, &header, 0).unwrap(), HEADER);
    if !seals.is_empty() {
        rustix::fs::fcntl_add_seals(&fake, seals).unwrap();
    }
    fake
}

// ---- child roles ----

/// args: NAME — a hostile writer: connects to NAME, answers the listener's ring with a memfd of
/// its own (a valid header, but unsealed), says "sent"; on a line on stdin shrinks that memfd
/// to nothing and says "shrunk"; then waits for stdin's end.
fn unsealed_ring(args: &[String]) {
    let conn = UnixStream::connect(listener_socket(&args[0])).unwrap();
    common::wait_readable(&conn);
    let offered = peek_queued(conn.as_fd());
    let size = HEADER as u64 + RING as u64;
    let fake = forged_ring(offered[0].as_fd(), size, SealFlags::empty());
    queue(
        conn.as_fd(),
        &[fake.as_fd(), offered[1].as_fd(), offered[2].as_fd()],
    );
    println!("sent");
    let mut stdin = io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line).unwrap();
    rustix::fs::ftruncate(&fake, 0).unwrap();
    println!("shrunk");
    let mut rest = Vec::new();
    stdin.read_to_end(&mut rest).unwrap();
}

/// args: NAME — connects to NAME and never speaks; says "connected", then reads until the
/// listener hangs up and says "dropped".
fn silent(args: &[String]) {
    let mut conn = UnixStream::connect(listener_socket(&args[0])).unwrap();
    println!("connected");
    let mut buf = [0u8; 64];
    conn.set_read_timeout(Some(common::TIMEOUT)).unwrap();
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("the listener never hung up: {e}"),
        }
    }
    println!("dropped");
}

/// args: NAME COUNT — connects to NAME and writes COUNT pattern bytes.
fn connect_and_write(args: &[String]) {
    let mut w = ShmWriter::connect(&args[0]).unwrap();
    w.write_all(&pattern(args[1].parse().unwrap())).unwrap();
}

/// args: NAME — a squatter: takes NAME's socket for a plain Unix listener, says "listening",
/// accepts one connection without ever offering a ring, says "accepted", and waits to be killed.
fn squat(args: &[String]) {
    let path = {
        let _listener = ShmPipeOptions::new().listen(&args[0]).unwrap();
        listener_socket(&args[0])
    };
    let squatter = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // The name noted beside the socket, as a listener notes it: a writer reaches only a socket
    // whose note names what it asked for.
    let mut note = std::ffi::OsString::from(".");
    note.push(path.file_name().unwrap());
    std::fs::write(path.with_file_name(note), &args[0]).unwrap();
    println!("listening");
    let (_conn, _) = squatter.accept().unwrap();
    println!("accepted");
    let mut forever = Vec::new();
    io::stdin().read_to_end(&mut forever).unwrap();
}

/// Reads to the end.
fn read_all(reader: &mut ShmReader) -> Vec<u8> {
    let mut all = Vec::new();
    reader.read_to_end(&mut all).unwrap();
    all
}

/// Checks that `listener` serves a writer child sending `len` bytes to `name`: every byte
/// arrives and the writer succeeds.
fn serves_a_writer(listener: &ShmPipeListener, name: &str, len: usize) {
    let mut writer = child("connect_and_write")
        .arg(name)
        .arg(len.to_string())
        .spawn()
        .unwrap();
    let mut reader = listener.accept().unwrap();
    assert!(read_all(&mut reader) == pattern(len));
    assert!(wait(&mut writer).success());
}

// ---- tests ----

/// Issue 19: a writer answers the listener with a memfd it can shrink. Mapping it would let the
/// writer kill the listener with `SIGBUS`; the listener refuses it (`InvalidData`, naming the
/// pipe), survives the shrink, and serves the next writer.
fn an_unsealed_ring_sent_to_the_listener_is_refused_and_it_keeps_serving() {
    let name = unique("unsealed");
    let listener = ShmPipeOptions::new().capacity(RING).listen(&name).unwrap();
    let mut hostile = common::spawn_piped("unsealed_ring", &name);
    let mut hostile_stdin = hostile.stdin.take();
    let err = std::thread::scope(|s| {
        let accepting = s.spawn(|| listener.accept());
        assert_eq!(first_line(&mut hostile), "sent");
        accepting.join().unwrap().unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains(&name), "{err}");
    assert!(err.to_string().contains("sealed"), "{err}");

    // The peer shrinks its memfd now: nothing here has it mapped.
    writeln!(hostile_stdin.as_mut().unwrap(), "shrink").unwrap();
    assert_eq!(first_line(&mut hostile), "shrunk");

    serves_a_writer(&listener, &name, 100_000);
    drop(hostile_stdin);
    assert!(wait(&mut hostile).success());
}

/// An end's handle whose queued ring is not a sealed memfd of the header's size is refused
/// before anything maps it: unsealed, sealed but of another size than the header says, or not
/// a memfd at all.
fn an_adopted_handle_whose_ring_could_change_size_is_refused() {
    let (r, _w) = ShmPipeOptions::new().capacity(RING).create().unwrap();
    let real = OwnedFd::from(r);
    let offered = peek_queued(real.as_fd());
    let all = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
    let size = (HEADER + RING) as u64;
    let tmp = std::env::temp_dir().join(format!("{}.ring", unique("file")));
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .unwrap();
    std::fs::remove_file(&tmp).unwrap();
    file.set_len(size).unwrap();
    let cases: [(&str, OwnedFd, &str); 5] = [
        (
            "unsealed",
            forged_ring(offered[0].as_fd(), size, SealFlags::empty()),
            "sealed",
        ),
        (
            "growable",
            forged_ring(
                offered[0].as_fd(),
                size,
                SealFlags::SHRINK | SealFlags::SEAL,
            ),
            "sealed",
        ),
        (
            "larger than its header says",
            forged_ring(offered[0].as_fd(), size * 2, all),
            "capacity",
        ),
        (
            "header only",
            forged_ring(offered[0].as_fd(), HEADER as u64, all),
            "bytes",
        ),
        ("a plain file", OwnedFd::from(file), "memfd"),
    ];
    for (case, ring, says) in cases {
        let (forged, queue_end) = UnixStream::pair().unwrap();
        queue(
            queue_end.as_fd(),
            &[ring.as_fd(), offered[1].as_fd(), offered[2].as_fd()],
        );
        let err = ShmReader::try_from(OwnedFd::from(forged)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{case}: {err}");
        assert!(err.to_string().contains(says), "{case}: {err}");
    }
    // The real handle still adopts.
    assert_eq!(ShmReader::try_from(real).unwrap().capacity(), RING);
}

/// Issue 19: a connection that never speaks holds up no later writer, whose bytes arrive; the
/// silent one is dropped once its handshake time is up.
fn a_silent_connection_holds_up_no_writer_and_is_dropped() {
    let name = unique("silent");
    let listener = ShmPipeOptions::new()
        .capacity(RING)
        .handshake_timeout(Duration::from_secs(2))
        .listen(&name)
        .unwrap();
    let mut silent = child("silent")
        .arg(&name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(first_line(&mut silent), "connected");
    serves_a_writer(&listener, &name, 300_000);

    // Accepting on, the listener lets the silent connection go when its time is up; a writer
    // from here then ends that accept.
    std::thread::scope(|s| {
        let accepting = s.spawn(|| listener.accept());
        assert_eq!(first_line(&mut silent), "dropped");
        assert!(wait(&mut silent).success());
        let mut last = ShmWriter::connect(&name).unwrap();
        last.write_all(b"last").unwrap();
        drop(last);
        let mut reader = accepting.join().unwrap().unwrap();
        assert_eq!(read_all(&mut reader), b"last");
    });
}

/// A listener that never accepts: `connect_timeout` gives up with `TimedOut`.
fn connect_to_a_listener_that_never_accepts_times_out() {
    let name = unique("never");
    let _listener = ShmPipeOptions::new().listen(&name).unwrap();
    let err = ShmWriter::connect_timeout(&name, Duration::from_millis(50)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains(&name), "{err}");
}

/// A writer waiting (with no limit) on a listener that accepted it but never offers a ring is
/// let go when that listener is killed: the wait is tied to the listener's life.
fn connect_ends_when_the_listener_it_waits_for_is_killed() {
    let name = unique("killed");
    let mut squatter = common::spawn_piped("squat", &name);
    let _stdin = squatter.stdin.take();
    assert_eq!(first_line(&mut squatter), "listening");
    let (done, finished) = std::sync::mpsc::channel();
    let connecting = {
        let name = name.clone();
        std::thread::spawn(move || done.send(ShmWriter::connect(&name).map(drop)))
    };
    assert_eq!(first_line(&mut squatter), "accepted");
    Process::from_child(&squatter).unwrap().kill().unwrap();
    let _ = wait(&mut squatter);
    let err = finished
        .recv_timeout(common::TIMEOUT)
        .expect("connect returns once the listener is gone")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionAborted, "{err}");
    assert!(err.to_string().contains(&name), "{err}");
    connecting.join().unwrap().unwrap();
}

/// Bad sizes are refused when listening, not when the first writer comes; `Duration::MAX`
/// saturates everywhere.
fn capacity_and_timeouts_out_of_range_are_refused_or_saturate() {
    let name = unique("range");
    let err = ShmPipeOptions::new()
        .capacity(99_999_999_999_999)
        .listen(&name)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains(&name), "{err}");

    let listener = ShmPipeOptions::new()
        .capacity(RING)
        .handshake_timeout(Duration::MAX)
        .listen(&name)
        .unwrap();
    serves_a_writer(&listener, &name, 1000);
    drop(listener);
    let err = ShmWriter::connect_timeout(&name, Duration::MAX).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = ShmWriter::connect_timeout(&name, Duration::ZERO).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// `spin(Duration::MAX)` neither panics nor spins for ever: a reader whose writer vanished gets
/// `UnexpectedEof`, a writer whose reader vanished `BrokenPipe`.
fn a_spin_of_duration_max_still_notices_a_vanished_peer() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let options = ShmPipeOptions::new()
            .capacity(RING)
            .spin(Duration::MAX)
            .clone();
        let (mut r, w) = options.create().unwrap();
        drop(OwnedFd::from(w)); // gone without closing, as after kill -9
        let read = r.read(&mut [0u8; 16]).map(drop);
        let (r, mut w) = options.create().unwrap();
        drop(OwnedFd::from(r));
        w.set_spin(Duration::MAX);
        let write = w.write_all(&pattern(3 * RING));
        let _ = done.send((read, write));
    });
    let (read, write) = finished
        .recv_timeout(common::TIMEOUT)
        .expect("both calls return");
    assert_eq!(read.unwrap_err().kind(), ErrorKind::UnexpectedEof);
    assert_eq!(write.unwrap_err().kind(), ErrorKind::BrokenPipe);
}
