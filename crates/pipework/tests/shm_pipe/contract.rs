//! The anonymous pipe's contract across processes: bytes intact, blocking reads and writes,
//! the end after a clean close, handles passed on, capacity, spinning and sharing a CPU.

use super::*;

/// args: IN OUT — echoes 64-byte messages from IN to OUT until the end of data.
pub(super) fn echo(args: &[String]) {
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

/// args: GO HANDLE — waits for a byte on the pipe GO, then writes "hello" and waits for stdin's end.
pub(super) fn write_on_go(args: &[String]) {
    let mut go = pipework::pipe::PipeReader::try_from(inherited(&args[0])).unwrap();
    let mut w = ShmWriter::try_from(inherited(&args[1])).unwrap();
    common::read_exact(&mut go, 1);
    w.write_all(b"hello").unwrap();
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
}

pub(super) fn bytes_cross_processes_intact_and_end_after_a_clean_close() {
    let (mut r, w) = ShmPipeOptions::new().capacity(64 * 1024).create().unwrap();
    let size = 8 * 1024 * 1024 + 3;
    let mut c = start("write_pattern", &[&size.to_string()], w.into(), false);
    let got = read_all(&mut r).unwrap();
    assert_eq!(got.len(), size);
    assert!(got == pattern(size));
    assert!(wait(&mut c).success());
}

pub(super) fn a_reader_in_a_child_reads_what_the_parent_writes() {
    let (r, mut w) = shm_pipe::create().unwrap();
    let c = start("read_and_report", &[], r.into(), true);
    let size = 5 * 1024 * 1024;
    w.write_all(&pattern(size)).unwrap();
    drop(w);
    assert_eq!(common::output_of(c), format!("{size} true"));
}

pub(super) fn read_blocks_while_empty_then_returns_what_is_there() {
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

pub(super) fn data_written_before_the_writer_exits_is_all_read() {
    let (mut r, w) = ShmPipeOptions::new().capacity(1 << 20).create().unwrap();
    let mut c = start("write_pattern", &["1000000"], w.into(), false);
    assert!(wait(&mut c).success());
    assert_eq!(r.bytes_available().unwrap(), 1_000_000);
    assert!(read_all(&mut r).unwrap() == pattern(1_000_000));
}

pub(super) fn a_full_ring_blocks_the_writer_until_the_reader_makes_room() {
    let (r, mut w) = ShmPipeOptions::new().capacity(4096).create().unwrap();
    assert_eq!(w.capacity(), 4096);
    let c = start("read_and_report", &[], r.into(), true);
    // One write of 64 times the ring: it returns only once the child has read most of it.
    let size = 4096 * 64;
    assert_eq!(w.write(&pattern(size)).unwrap(), size);
    drop(w);
    assert_eq!(common::output_of(c), format!("{size} true"));
}

pub(super) fn an_end_handle_can_be_passed_on_again() {
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

pub(super) fn capacity_is_rounded_up_and_capped() {
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

pub(super) fn blocking_mode_without_spinning_works_across_processes() {
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
pub(super) fn ends_sharing_one_cpu_exchange_every_message() {
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
