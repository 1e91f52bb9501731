//! Writers: long backlogs, many writers and threads, order while the socket overflows.

use super::*;

/// Child: sends `args[1]` numbered messages of `args[2]` bytes as writer `args[3]`.
pub(super) fn flood_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap_or_else(|e| fail(e));
    let count: u32 = args[1].parse().unwrap();
    let size: usize = args[2].parse().unwrap();
    let id: u32 = args[3].parse().unwrap();
    for seq in 0..count {
        client
            .write_message(&numbered(id, seq, size))
            .unwrap_or_else(|e| fail(e));
    }
}

/// A message of `size` (at least 8) bytes: writer id, sequence number, then a pattern of both.
fn numbered(id: u32, seq: u32, size: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(size);
    m.extend_from_slice(&id.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend((8..size).map(|i| (i as u32 ^ id ^ seq) as u8));
    m
}

/// Checks a numbered message and returns (id, seq).
fn check_numbered(m: &[u8], size: usize) -> (u32, u32) {
    assert_eq!(m.len(), size, "message torn");
    let id = u32::from_le_bytes(m[0..4].try_into().unwrap());
    let seq = u32::from_le_bytes(m[4..8].try_into().unwrap());
    assert!(
        m[8..]
            .iter()
            .enumerate()
            .all(|(i, &b)| b == ((i + 8) as u32 ^ id ^ seq) as u8),
        "message {id}/{seq} corrupt"
    );
    (id, seq)
}

pub(super) fn backlog_of_100000_messages_is_kept() {
    let name = unique("backlog");
    let mut slot = server(&name);
    let count = 100_000u32;
    let mut c = child("flood");
    c.arg(&name).arg(count.to_string()).arg("100").arg("7");
    // The writer finishes without the server reading anything: no writer blocks.
    let (code, out) = run(c);
    assert_eq!(code, 0, "{out}");
    let info = slot.info().unwrap();
    assert_eq!(info.message_count, count as usize);
    assert_eq!(info.next_message_size, Some(100));
    let listed = mailslot::list().unwrap();
    assert!(listed
        .iter()
        .any(|e| e.name == name && e.queued == u64::from(count)));
    let mut buf = [0u8; 100];
    for expect in 0..count {
        let n = slot.read(&mut buf).unwrap();
        assert_eq!(check_numbered(&buf[..n], 100), (7, expect));
    }
    assert_eq!(slot.info().unwrap().message_count, 0);
}

/// 19 MB of unread 60,000-byte messages: more than the server takes from its spool at once.
pub(super) fn a_backlog_larger_than_one_read_chunk() {
    let name = unique("bulk");
    let mut slot = server(&name);
    let count = 320u32;
    let mut c = child("flood");
    c.arg(&name).arg(count.to_string()).arg("60000").arg("3");
    let (code, out) = run(c);
    assert_eq!(code, 0, "{out}");
    assert_eq!(slot.info().unwrap().message_count, count as usize);
    let mut buf = vec![0u8; 60_000];
    for expect in 0..count {
        let n = slot.read(&mut buf).unwrap();
        assert_eq!(check_numbered(&buf[..n], 60_000), (3, expect));
    }
}

pub(super) fn many_writers_in_many_processes() {
    let name = unique("crowd");
    let mut slot = server(&name);
    let writers = 6u32;
    let per_writer = 5_000u32;
    let mut children: Vec<Child> = (0..writers)
        .map(|id| {
            let mut c = child("flood");
            // Sizes differ per writer so that a torn record shows.
            let size = 8 + 40 * id as usize;
            c.arg(&name)
                .arg(per_writer.to_string())
                .arg(size.to_string())
                .arg(id.to_string());
            c.stdout(Stdio::null()).spawn().unwrap()
        })
        .collect();
    // Read while they write.
    let mut next = vec![0u32; writers as usize];
    for _ in 0..writers * per_writer {
        let m = slot.next_message().unwrap();
        let id = u32::from_le_bytes(m[0..4].try_into().unwrap());
        assert!(id < writers, "unknown writer {id}");
        let (id, seq) = check_numbered(&m, 8 + 40 * id as usize);
        assert_eq!(
            seq, next[id as usize],
            "writer {id}: lost or duplicated message"
        );
        next[id as usize] += 1;
    }
    for c in &mut children {
        assert!(wait(c).success());
    }
    assert_eq!(
        slot.info().unwrap().message_count,
        0,
        "more messages than written"
    );
}

/// Small messages from several processes faster than one reader takes them: each writer's
/// messages switch between the direct way and the spool many times, and must still arrive in
/// order, each once.
pub(super) fn order_holds_while_the_socket_overflows() {
    let name = unique("overflow");
    let mut slot = server(&name);
    let (writers, each) = (3u32, 30_000u32);
    let mut children: Vec<Child> = (0..writers)
        .map(|id| {
            let mut c = child("flood");
            c.arg(&name)
                .arg(each.to_string())
                .arg("12")
                .arg(id.to_string());
            c.stdout(Stdio::null()).spawn().unwrap()
        })
        .collect();
    let mut next = vec![0u32; writers as usize];
    let mut buf = [0u8; 12];
    for _ in 0..writers * each {
        let n = slot.read(&mut buf).unwrap();
        let (id, seq) = check_numbered(&buf[..n], 12);
        assert_eq!(
            seq, next[id as usize],
            "writer {id}: out of order, lost or duplicated"
        );
        next[id as usize] += 1;
    }
    for c in &mut children {
        assert!(wait(c).success());
    }
}

/// The size of a "mixed" writer's message `seq`: every 5th goes the spool's way (larger than
/// a datagram may be), the others the socket's.
fn mixed_size(seq: u32) -> usize {
    if seq.is_multiple_of(5) {
        3_000
    } else {
        40
    }
}

/// Child: writer `args[2]` sends `args[1]` numbered messages of [`mixed_size`].
pub(super) fn mixed_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap_or_else(|e| fail(e));
    let count: u32 = args[1].parse().unwrap();
    let id: u32 = args[2].parse().unwrap();
    for seq in 0..count {
        client
            .write_message(&numbered(id, seq, mixed_size(seq)))
            .unwrap_or_else(|e| fail(e));
    }
}

/// Reads that wait forever (no read timeout: a reader with nothing to take watches the
/// writers' count, then receives straight from the socket) keep each writer's order, each
/// message once and whole, while the writers' messages take both ways. A watchdog ends the
/// test process if the reads stop instead of letting it hang.
pub(super) fn order_holds_when_reads_wait_forever() {
    let name = unique("forever");
    let mut slot = MailslotOptions::new().create(&name).unwrap();
    let (writers, each) = (3u32, 4_000u32);
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(TIMEOUT * 4)
        {
            eprintln!("order_holds_when_reads_wait_forever: the reads stopped; giving up");
            std::process::exit(1);
        }
    });
    let mut children: Vec<Child> = (0..writers)
        .map(|id| {
            let mut c = child("mixed");
            c.arg(&name).arg(each.to_string()).arg(id.to_string());
            c.stdout(Stdio::null()).spawn().unwrap()
        })
        .collect();
    let mut next = vec![0u32; writers as usize];
    let mut buf = vec![0u8; 3_000];
    for _ in 0..writers * each {
        let n = slot.read(&mut buf).unwrap();
        assert!(n >= 8, "message torn");
        let seq = u32::from_le_bytes(buf[4..8].try_into().unwrap());
        let (id, seq) = check_numbered(&buf[..n], mixed_size(seq));
        assert!(id < writers, "unknown writer {id}");
        assert_eq!(
            seq, next[id as usize],
            "writer {id}: out of order, lost or duplicated"
        );
        next[id as usize] += 1;
    }
    for c in &mut children {
        assert!(wait(c).success());
    }
    assert_eq!(
        slot.info().unwrap().message_count,
        0,
        "more messages than written"
    );
    drop(done);
    watchdog.join().unwrap();
}

pub(super) fn threads_sharing_one_client() {
    let name = unique("threads");
    let mut slot = server(&name);
    let client = MailslotClient::open(&name).unwrap();
    let (threads, each) = (4u32, 3_000u32);
    std::thread::scope(|scope| {
        for id in 0..threads {
            let client = &client;
            scope.spawn(move || {
                for seq in 0..each {
                    client.write_message(&numbered(id, seq, 64)).unwrap();
                }
            });
        }
    });
    let mut next = vec![0u32; threads as usize];
    for _ in 0..threads * each {
        let (id, seq) = check_numbered(&slot.next_message().unwrap(), 64);
        assert_eq!(
            seq, next[id as usize],
            "thread {id}: lost or duplicated message"
        );
        next[id as usize] += 1;
    }
    assert_eq!(slot.info().unwrap().message_count, 0);
}
