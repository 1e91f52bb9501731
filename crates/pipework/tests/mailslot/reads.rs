//! Reads: whole messages in order, small buffers, the size limit, info, timeouts, blocked and
//! async reads.

use super::*;

/// Child: creates `args[0]`, says "ready", then for `args[2]` rounds reads a message and sends
/// it back to `args[1]`.
pub(super) fn echo_role(args: &[String]) {
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(TIMEOUT))
        .create(&args[0])
        .unwrap_or_else(|e| fail(e));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let back = MailslotClient::open(&args[1]).unwrap_or_else(|e| fail(e));
    let rounds: usize = args[2].parse().unwrap();
    for _ in 0..rounds {
        let m = slot.next_message().unwrap_or_else(|e| fail(e));
        back.write_message(&m).unwrap_or_else(|e| fail(e));
    }
}

pub(super) fn reads_return_whole_messages_in_order() {
    let name = unique("order");
    let mut slot = server(&name);
    let big = "z".repeat(70_000);
    let messages = ["one", "", "three", &big, "", "last"];
    assert_eq!(run(sender(&name, &messages)).0, 0);
    let mut buf = vec![0u8; 100_000];
    for m in messages {
        let n = slot.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], m.as_bytes());
    }
    slot.set_read_timeout(Some(Duration::ZERO));
    assert_eq!(slot.read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
}

pub(super) fn small_buffer_keeps_the_message_and_tells_its_size() {
    let name = unique("small");
    let mut slot = server(&name);
    let hundred = "h".repeat(100);
    assert_eq!(run(sender(&name, &[&hundred, "next"])).0, 0);
    let mut small = [0u8; 10];
    let e = slot.read(&mut small).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(mailslot::required_size(&e), Some(100));
    assert!(e.to_string().contains("100"), "{e}");
    let info = slot.info().unwrap();
    assert_eq!((info.message_count, info.next_message_size), (2, Some(100)));
    let mut buf = [0u8; 100];
    assert_eq!(slot.read(&mut buf).unwrap(), 100);
    assert_eq!(&buf[..], hundred.as_bytes());
    assert_eq!(slot.next_message().unwrap(), b"next");
    assert_eq!(mailslot::required_size(&std::io::Error::other("x")), None);
}

pub(super) fn oversized_message_is_refused_by_the_writer() {
    let name = unique("limited");
    let mut slot = MailslotOptions::new()
        .max_message_size(64)
        .read_timeout(Some(TIMEOUT))
        .create(&name)
        .unwrap();
    let fits = "f".repeat(64);
    let over = "o".repeat(65);
    let (code, out) = run(sender(&name, &[&fits, &over]));
    assert_eq!(code, code_of(ErrorKind::InvalidInput), "{out}");
    assert!(out.contains("65") && out.contains("64"), "{out}");
    assert_eq!(slot.next_message().unwrap(), fits.as_bytes());
    assert_eq!(slot.info().unwrap().message_count, 0);
}

pub(super) fn info_reports_the_slot() {
    let name = unique("info");
    let mut slot = MailslotOptions::new()
        .max_message_size(500)
        .read_timeout(Some(Duration::from_millis(250)))
        .create(&name)
        .unwrap();
    let info = slot.info().unwrap();
    assert_eq!(info.max_message_size, 500);
    assert_eq!(info.next_message_size, None);
    assert_eq!(info.message_count, 0);
    assert_eq!(info.read_timeout, Some(Duration::from_millis(250)));
    assert_eq!(run(sender(&name, &["12345", "", "1"])).0, 0);
    let info = slot.info().unwrap();
    assert_eq!((info.message_count, info.next_message_size), (3, Some(5)));
    slot.next_message().unwrap();
    let info = slot.info().unwrap();
    assert_eq!((info.message_count, info.next_message_size), (2, Some(0)));
    slot.set_read_timeout(None);
    assert_eq!(slot.info().unwrap().read_timeout, None);
    slot.set_read_timeout(Some(Duration::ZERO));
    assert_eq!(slot.info().unwrap().read_timeout, Some(Duration::ZERO));
}

pub(super) fn empty_read_times_out() {
    let name = unique("empty");
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(Duration::ZERO))
        .create(&name)
        .unwrap();
    let e = slot.next_message().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(e.to_string().contains(&name), "{e}");
    slot.set_read_timeout(Some(Duration::from_millis(20)));
    assert_eq!(slot.next_message().unwrap_err().kind(), ErrorKind::TimedOut);
    // A message that arrives is still read after timeouts.
    assert_eq!(run(sender(&name, &["late"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"late");
}

pub(super) fn blocked_reads_wake_for_each_message() {
    // Ping-pong between two slots in two processes: every read blocks until the other side's
    // write wakes it.
    let here = unique("ping");
    let there = unique("pong");
    let mut slot = server(&here);
    let rounds = 300;
    let mut c = child("echo");
    c.arg(&there).arg(&here).arg(rounds.to_string());
    let mut echo = start_ready(c);
    let out = MailslotClient::open(&there).unwrap();
    for i in 0..rounds {
        let m = format!("round {i}");
        out.write_message(m.as_bytes()).unwrap();
        assert_eq!(slot.next_message().unwrap(), m.as_bytes());
    }
    drop(echo.stdin.take());
    assert!(wait(&mut echo).success());
}

#[cfg(feature = "tokio")]
pub(super) fn async_reads() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let here = unique("async-ping");
        let there = unique("async-pong");
        let mut slot = server(&here).into_async().unwrap();
        // An echo child in another process: each await below sleeps until its reply lands.
        let rounds = 200;
        let mut c = child("echo");
        c.arg(&there).arg(&here).arg(rounds.to_string());
        let mut echo = start_ready(c);
        let out = MailslotClient::open(&there).unwrap();
        for i in 0..rounds {
            let m = format!("async round {i}");
            out.write_message(m.as_bytes()).unwrap();
            assert_eq!(next_async(&mut slot).await.unwrap(), m.as_bytes());
        }
        drop(echo.stdin.take());
        assert!(wait(&mut echo).success());
        // The echo's slot went with it.
        assert_eq!(
            out.write_message(b"x").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        // Buffer too small keeps the message, as in the blocking read.
        MailslotClient::open(&here)
            .unwrap()
            .write_message(&[])
            .unwrap();
        assert_eq!(run(sender(&here, &["0123456789"])).0, 0);
        assert_eq!(slot.read(&mut []).await.unwrap(), 0);
        let e = slot.read(&mut [0u8; 4]).await.unwrap_err();
        assert_eq!(mailslot::required_size(&e), Some(10));
        assert_eq!(slot.info().unwrap().message_count, 1);
        assert_eq!(next_async(&mut slot).await.unwrap(), b"0123456789");
        slot.set_read_timeout(Some(Duration::from_millis(20)));
        let e = next_async(&mut slot).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        slot.set_read_timeout(Some(Duration::ZERO));
        assert_eq!(
            next_async(&mut slot).await.unwrap_err().kind(),
            ErrorKind::TimedOut
        );
    });
}
