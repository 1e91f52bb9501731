//! Local writers on shared-memory rings: messages whole and in order through a ring, a full
//! ring, the spool and back; more writers than rings; a writer killed mid-stream; a forked
//! child that must not share its parent's ring; rings turned off.

use std::io::{BufRead, BufReader};

use super::*;

/// A numbered message: writer `id`, its number `n`, padded with a pattern to `size` bytes.
fn message(id: u32, n: u32, size: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(size);
    m.extend_from_slice(&id.to_le_bytes());
    m.extend_from_slice(&n.to_le_bytes());
    m.extend((8..size).map(|i| (i as u32 ^ id ^ n) as u8));
    m
}

/// Checks a numbered message whole; returns (id, n).
fn parse(m: &[u8]) -> (u32, u32) {
    assert!(m.len() >= 8, "message torn: {} bytes", m.len());
    let id = u32::from_le_bytes(m[0..4].try_into().unwrap());
    let n = u32::from_le_bytes(m[4..8].try_into().unwrap());
    assert_eq!(m, message(id, n, m.len()), "message {id}/{n} corrupt");
    (id, n)
}

/// The committed end of the spool of the slot this process serves (its only one): the first
/// word of its shared state, found among this process's descriptors.
fn spool_end_of_own_slot() -> u64 {
    let state = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .find(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().contains("pipework-mailslot"))
        })
        .expect("the slot's shared state");
    let mut word = [0u8; 8];
    std::os::unix::fs::FileExt::read_exact_at(
        &std::fs::File::open(state.path()).unwrap(),
        &mut word,
        0,
    )
    .unwrap();
    u64::from_le_bytes(word)
}

/// Child: opens `args[0]`, says `ready <in use>`, then per line of stdin `N` writes N numbered
/// messages of `args[1]` bytes as writer `args[2]` (numbers go on across lines) and says
/// `wrote`.
pub(super) fn ring_writer_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap_or_else(|e| fail(e));
    let size: usize = args[1].parse().unwrap();
    let id: u32 = args[2].parse().unwrap();
    println!("ready {}", client.shared_memory_in_use());
    std::io::stdout().flush().unwrap();
    let mut n = 0u32;
    for line in std::io::stdin().lock().lines() {
        let count: u32 = line.unwrap().trim().parse().unwrap();
        for _ in 0..count {
            client
                .write_message(&message(id, n, size))
                .unwrap_or_else(|e| fail(e));
            n += 1;
        }
        println!("wrote");
        std::io::stdout().flush().unwrap();
    }
}

/// A writer child driven line by line.
struct Writer {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Writer {
    fn start(name: &str, size: usize, id: u32) -> (Writer, bool) {
        let mut c = child("ring-writer");
        c.arg(name).arg(size.to_string()).arg(id.to_string());
        c.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let ready = common::line(&mut out);
        let in_use = match ready.trim() {
            "ready true" => true,
            "ready false" => false,
            other => panic!("writer did not start: {other:?}"),
        };
        (Writer { child, out }, in_use)
    }

    fn write(&mut self, count: u32) {
        writeln!(self.child.stdin.as_mut().unwrap(), "{count}").unwrap();
        assert_eq!(common::line(&mut self.out).trim(), "wrote");
    }

    fn finish(mut self) {
        drop(self.child.stdin.take());
        assert!(wait(&mut self.child).success());
    }
}

/// Child: the test of the way from a ring to the spool and back, in a process whose only slot
/// is `args[0]` (the test reads the slot's shared words).
pub(super) fn ring_spool_and_back_role(args: &[String]) {
    let name = &args[0];
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(Duration::ZERO))
        .create(name)
        .unwrap_or_else(|e| fail(e));
    let (mut writer, in_use) = Writer::start(name, 100, 1);
    assert!(in_use, "a ring was free");
    // A few: into the ring, counted exactly.
    writer.write(3);
    let info = slot.info().unwrap();
    assert_eq!((info.message_count, info.next_message_size), (3, Some(100)));
    assert_eq!(spool_end_of_own_slot(), 4096, "three messages fit a ring");
    // Far more than a 64 KiB ring holds, the server reading nothing: the rest is spooled.
    writer.write(3000);
    assert!(spool_end_of_own_slot() > 4096, "a full ring spools");
    assert_eq!(slot.info().unwrap().message_count, 3003);
    let mut next = 0;
    let mut buf = [0u8; 100];
    while next < 3003 {
        let n = slot.read(&mut buf).unwrap();
        assert_eq!(parse(&buf[..n]), (1, next));
        next += 1;
    }
    // Empty: the spool is rewound.
    assert_eq!(slot.read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(spool_end_of_own_slot(), 4096);
    // Back on the ring: nothing more reaches the spool.
    writer.write(200);
    assert_eq!(
        spool_end_of_own_slot(),
        4096,
        "back to the ring after the spool"
    );
    let info = slot.info().unwrap();
    assert_eq!(
        (info.message_count, info.next_message_size),
        (200, Some(100))
    );
    for _ in 0..200 {
        let n = slot.read(&mut buf).unwrap();
        assert_eq!(parse(&buf[..n]), (1, next));
        next += 1;
    }
    writer.finish();
}

pub(super) fn a_full_ring_spools_and_the_writer_comes_back() {
    let name = unique("ring-back");
    let mut c = child("ring-spool-and-back");
    c.arg(&name);
    let (code, out) = run(c);
    assert_eq!(code, 0, "{out}");
}

/// More writers than a slot has rings (16): the others take the socket; each writer's messages
/// arrive whole and in its order, while the server reads and while it does not.
pub(super) fn more_writers_than_rings() {
    let name = unique("ring-many");
    let mut slot = server(&name);
    let writers: Vec<(Writer, bool)> = (0..20).map(|id| Writer::start(&name, 64, id)).collect();
    let on_rings = writers.iter().filter(|(_, in_use)| *in_use).count();
    assert_eq!(on_rings, 16, "16 rings, the first 16 writers");
    let mut writers: Vec<Writer> = writers.into_iter().map(|(w, _)| w).collect();
    for w in &mut writers {
        w.write(300);
    }
    let mut next = [0u32; 20];
    let total = 20 * 300;
    assert_eq!(slot.info().unwrap().message_count, total);
    for _ in 0..total {
        let (id, n) = parse(&slot.next_message().unwrap());
        assert_eq!(n, next[id as usize], "writer {id} out of order");
        next[id as usize] += 1;
    }
    for w in writers {
        w.finish();
    }
}

/// A writer killed (`kill -9`) after writing into its ring: everything it wrote is read, and its
/// ring is free again (16 new writers all get one).
pub(super) fn a_killed_ring_writer_loses_nothing_and_frees_its_ring() {
    let name = unique("ring-killed");
    let mut slot = server(&name);
    let (mut writer, in_use) = Writer::start(&name, 100, 9);
    assert!(in_use);
    writer.write(250);
    writer.child.kill().unwrap();
    wait(&mut writer.child);
    for n in 0..250 {
        assert_eq!(parse(&slot.next_message().unwrap()), (9, n));
    }
    let clients: Vec<MailslotClient> = (0..16)
        .map(|_| MailslotClient::open(&name).unwrap())
        .collect();
    assert!(
        clients.iter().all(MailslotClient::shared_memory_in_use),
        "the killed writer's ring was not freed"
    );
    let extra = MailslotClient::open(&name).unwrap();
    assert!(!extra.shared_memory_in_use(), "only 16 rings");
    for (i, c) in clients.iter().enumerate() {
        c.write_message(&message(100 + i as u32, 0, 20)).unwrap();
    }
    extra.write_message(&message(200, 0, 20)).unwrap();
    let mut seen: Vec<u32> = (0..17)
        .map(|_| parse(&slot.next_message().unwrap()).0)
        .collect();
    seen.sort();
    let mut want: Vec<u32> = (100..116).collect();
    want.push(200);
    assert_eq!(seen, want);
}

/// Child: opens `args[0]`, writes on its ring, forks; the forked child, which holds the same
/// open file (and so the ring's claim), writes through the socket instead (a ring has one
/// producer), while the parent goes on with its ring.
pub(super) fn fork_writer_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap_or_else(|e| fail(e));
    assert!(client.shared_memory_in_use());
    client.write_message(&message(1, 0, 50)).unwrap();
    // SAFETY: this child process runs one thread (the role itself), so the forked child may
    // run Rust code; it leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(|| {
            assert!(
                !client.shared_memory_in_use(),
                "the forked child shares the ring"
            );
            for n in 0..100 {
                client.write_message(&message(2, n, 50)).unwrap();
            }
        })
        .map_or(1, |()| 0);
        // SAFETY: ends the forked child without running the parent's destructors twice.
        unsafe { libc::_exit(code) };
    }
    for n in 1..100 {
        client.write_message(&message(1, n, 50)).unwrap();
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "forked child failed: {status}"
    );
    assert!(client.shared_memory_in_use(), "the parent keeps its ring");
}

pub(super) fn a_forked_child_does_not_share_the_ring() {
    let name = unique("ring-fork");
    let mut slot = server(&name);
    let mut c = child("fork-writer");
    c.arg(&name);
    let (code, out) = run(c);
    assert_eq!(code, 0, "{out}");
    let mut next = [0u32; 3];
    for _ in 0..200 {
        let (id, n) = parse(&slot.next_message().unwrap());
        assert_eq!(n, next[id as usize], "writer {id} out of order");
        next[id as usize] += 1;
    }
    assert_eq!(next, [0, 100, 100]);
    assert_eq!(slot.info().unwrap().message_count, 0);
}

/// A slot made with rings off: writers use the socket and the spool, as before rings.
pub(super) fn rings_off_still_works() {
    let name = unique("ring-off");
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(TIMEOUT))
        .shared_memory(false)
        .create(&name)
        .unwrap();
    let (mut writer, in_use) = Writer::start(&name, 100, 3);
    assert!(!in_use, "the slot offers no ring");
    writer.write(2000);
    assert_eq!(slot.info().unwrap().message_count, 2000);
    for n in 0..2000 {
        assert_eq!(parse(&slot.next_message().unwrap()), (3, n));
    }
    writer.finish();
}

/// A reader already waiting (forever: spin, then the ring bell; with a timeout: `poll` and the
/// bell) is woken by a ring writer's message, message by message.
pub(super) fn a_waiting_reader_wakes_for_ring_messages() {
    let name = unique("ring-wake");
    let mut slot = MailslotOptions::new().create(&name).unwrap();
    let (mut writer, in_use) = Writer::start(&name, 40, 4);
    assert!(in_use);
    for (first, timeout) in [(0, None), (50, Some(TIMEOUT))] {
        slot.set_read_timeout(timeout);
        let (read, was_read) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let slot = &mut slot;
            let reader = s.spawn(move || {
                for n in first..first + 50 {
                    assert_eq!(parse(&slot.next_message().unwrap()), (4, n));
                    read.send(()).unwrap();
                }
            });
            // Each message is written once the reader has read the one before: while it waits
            // for this one, or is about to.
            for _ in 0..50 {
                writer.write(1);
                was_read.recv_timeout(TIMEOUT).expect("the reader woke");
            }
            reader.join().unwrap();
        });
    }
    writer.finish();
}
