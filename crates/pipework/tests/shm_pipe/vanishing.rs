//! Peers that vanish: a reader gone or killed, a writer killed mid-write.

use super::*;

/// args: HANDLE — adopts the reader and drops it at once (a clean close).
pub(super) fn drop_reader(args: &[String]) {
    drop(ShmReader::try_from(inherited(&args[0])).unwrap());
}

pub(super) fn write_after_the_reader_is_gone_is_broken_pipe() {
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

pub(super) fn a_reader_killed_while_the_writer_waits_is_broken_pipe() {
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

pub(super) fn a_writer_killed_mid_write_leaves_the_reader_an_error_not_a_hang() {
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
