//! Zero-copy reads and writes in place, across processes and around the ring's end.

use super::*;

/// args: COUNT HANDLE — writes COUNT pattern bytes produced straight into the ring, committing
/// them in pieces of varying sizes (some larger than the room lent, which commit caps).
pub(super) fn write_pattern_in_place(args: &[String]) {
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

/// A child produces bytes straight into a small ring (`reserve_in_place` / `commit`) and the
/// parent consumes them where they lie (`fill_buf_in_place` / `consume`), in odd amounts so the
/// ring wraps many times; every byte arrives in order, and the end of data is an empty slice.
pub(super) fn in_place_reads_and_writes_cross_processes_and_wrap() {
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
