//! The tokio ends with blocking ones, and a killed peer.

use super::*;

#[cfg(feature = "tokio")]
/// A writer in a child, blocking with the default spin, into a 16 KiB ring; the parent reads
/// with tokio: every byte in order, then the end of data.
pub(super) fn an_async_reader_takes_what_a_blocking_writer_sends() {
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
pub(super) fn an_async_writer_feeds_a_blocking_reader_through_a_small_ring() {
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
pub(super) fn async_ends_see_a_killed_peer_as_an_error() {
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
