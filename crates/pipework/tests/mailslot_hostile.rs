//! Mailslots against peers that lie, cut files short or ask for absurd things: every fault is an
//! error that names the slot, never a signal, a panic or unbounded memory. Every process here is
//! real: a server child, writer children and a hostile child that spoils the slot's files.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{child, wait, TIMEOUT};
use pipework::mailslot::{self, MailslotClient, MailslotOptions, MessageRead};

fn main() {
    common::main(
        &[
            (
                "a_cut_spool_is_invalid_data_not_sigbus",
                a_cut_spool_is_invalid_data_not_sigbus,
            ),
            (
                "a_lying_spool_header_is_invalid_data",
                a_lying_spool_header_is_invalid_data,
            ),
            (
                "a_lying_committed_end_is_invalid_data",
                a_lying_committed_end_is_invalid_data,
            ),
            (
                "a_lying_committed_end_is_invalid_data_to_reads_that_wait_forever",
                a_lying_committed_end_is_invalid_data_to_reads_that_wait_forever,
            ),
            (
                "one_read_from_a_300_mb_spool_takes_bounded_memory",
                one_read_from_a_300_mb_spool_takes_bounded_memory,
            ),
            (
                "a_read_timeout_of_duration_max_waits_without_panic",
                a_read_timeout_of_duration_max_waits_without_panic,
            ),
            (
                "messages_are_read_in_parts_as_on_named_pipes",
                messages_are_read_in_parts_as_on_named_pipes,
            ),
            (
                "a_message_above_the_maximum_is_a_size_error",
                a_message_above_the_maximum_is_a_size_error,
            ),
            (
                "lying_ring_positions_and_lengths_are_invalid_data",
                lying_ring_positions_and_lengths_are_invalid_data,
            ),
        ],
        &[
            ("serve", serve_role),
            ("write", write_role),
            ("cut", cut_role),
            ("spoil-header", spoil_header_role),
            ("spoil-end", spoil_end_role),
            ("spoil-bytes", spoil_bytes_role),
            ("big-spool", big_spool_role),
            ("fill", fill_role),
            ("send", send_role),
            ("open", open_role),
        ],
    )
}

/// A name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        r"\\.\mailslot\pipework-hostile\{}-{}\{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A runtime directory of the test's own, removed at the end, so that its spool file can be
/// found (and spoiled) without knowing how pipework names it.
struct RuntimeDir(PathBuf);

impl RuntimeDir {
    fn new(tag: &str) -> RuntimeDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pipework-hostile-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        RuntimeDir(dir)
    }

    fn command(&self, role: &str) -> Command {
        let mut c = child(role);
        c.env("PIPEWORK_RUNTIME_DIR", &self.0);
        c
    }

    /// The one mailslot spool under the directory: the regular file that starts with the
    /// spool's magic.
    fn spool(&self) -> PathBuf {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                let kind = entry.file_type().unwrap();
                if kind.is_dir() {
                    walk(&path, found);
                } else if kind.is_file() {
                    let mut magic = [0u8; 7];
                    let file = std::fs::File::open(&path).unwrap();
                    if file.read_exact_at(&mut magic, 0).is_ok() && &magic == b"PWMSLOT" {
                        found.push(path);
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.0, &mut found);
        assert_eq!(found.len(), 1, "one spool: {found:?}");
        found.pop().unwrap()
    }
}

impl Drop for RuntimeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A runtime directory and a slot name for `tag`, and a `serve` child serving that slot.
fn served_slot(tag: &str) -> (RuntimeDir, String, Driven) {
    let dir = RuntimeDir::new(tag);
    let name = unique(tag);
    let server = Driven::role(&dir, "serve", &name);
    (dir, name, server)
}

/// Checks that `answer` is `InvalidData` naming the slot `name` (`context` leads the message of
/// a failure).
fn assert_invalid_data_naming(answer: &str, name: &str, context: impl std::fmt::Display) {
    assert!(
        answer.starts_with("err InvalidData mailslot "),
        "{context}{answer}"
    );
    assert!(answer.contains(name), "{answer}");
}

/// A child driven line by line: it answers each command with one line.
struct Driven {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Driven {
    fn start(mut command: Command) -> Driven {
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut driven = Driven {
            child,
            stdin,
            stdout,
        };
        assert_eq!(driven.line(), "ready");
        driven
    }

    /// Starts the child `role` of `dir` for the slot `name`.
    fn role(dir: &RuntimeDir, role: &str, name: &str) -> Driven {
        let mut command = dir.command(role);
        command.arg(name);
        Driven::start(command)
    }

    fn line(&mut self) -> String {
        common::wait_readable(self.stdout.get_ref());
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(
            !line.is_empty(),
            "the child ended: {:?}",
            self.child.try_wait()
        );
        line.trim_end().to_string()
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.line()
    }

    /// Ends the child and checks that it exited by itself, not by a signal.
    fn finish(mut self) {
        drop(self.stdin);
        let status = wait(&mut self.child);
        assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
        assert!(status.success(), "{status:?}");
    }
}

/// How a child reports an `io::Result`: `ok <detail>` or `err <kind> <message>`.
fn report<T: std::fmt::Display>(result: std::io::Result<T>) -> String {
    match result {
        Ok(v) => format!("ok {v}"),
        Err(e) => format!("err {:?} {e}", e.kind()),
    }
}

/// Child: serves `args[0]` (read timeout zero); each line `read` reads one whole message and
/// reports its size (`wait`: with a timeout, `forever`: with none).
fn serve_role(args: &[String]) {
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(Duration::ZERO))
        .create(&args[0])
        .unwrap();
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let answer = match line.as_str() {
            "read" => {
                let mut message = Vec::new();
                report(
                    slot.read_message_to_end(&mut message)
                        .map(|_| message.len()),
                )
            }
            "forever" => {
                slot.set_read_timeout(None);
                let mut message = Vec::new();
                let got = report(
                    slot.read_message_to_end(&mut message)
                        .map(|_| message.len()),
                );
                slot.set_read_timeout(Some(Duration::ZERO));
                got
            }
            "wait" => {
                slot.set_read_timeout(Some(TIMEOUT));
                let mut message = Vec::new();
                let got = report(
                    slot.read_message_to_end(&mut message)
                        .map(|_| message.len()),
                );
                slot.set_read_timeout(Some(Duration::ZERO));
                got
            }
            other => panic!("unknown command {other}"),
        };
        println!("{answer}");
    }
}

/// Child: opens `args[0]`; each line `N` writes one message of N bytes and reports it; `open`
/// opens the slot again and reports.
fn write_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap();
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let answer = if line == "open" {
            report(MailslotClient::open(&args[0]).map(|_| "opened"))
        } else {
            let size: usize = line.parse().unwrap();
            report(client.write_message(&vec![b'm'; size]).map(|()| size))
        };
        println!("{answer}");
    }
}

/// Child: the hostile one: cuts the file `args[0]` to `args[1]` bytes.
fn cut_role(args: &[String]) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&args[0])
        .unwrap();
    file.set_len(args[1].parse().unwrap()).unwrap();
}

/// Child: the hostile one: writes lies over the header page of the spool `args[0]` (magic
/// kept): an absurd name length, process and descriptor.
fn spoil_header_role(args: &[String]) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&args[0])
        .unwrap();
    file.write_all_at(&[0xff; 56], 8).unwrap();
}

/// Child: the hostile one: finds the slot's shared state among the server `args[0]`'s
/// descriptors and writes `args[1]` as its committed end (its first word).
fn spoil_end_role(args: &[String]) {
    let end: u64 = args[1].parse().unwrap();
    shared_state_of(&args[0])
        .write_all_at(&end.to_le_bytes(), 0)
        .unwrap();
}

/// Child: the hostile one: writes the bytes `args[2]` (hex) at offset `args[1]` of the shared
/// state of the slot the server `args[0]` serves.
fn spoil_bytes_role(args: &[String]) {
    let offset: u64 = args[1].parse().unwrap();
    let bytes: Vec<u8> = (0..args[2].len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&args[2][i..i + 2], 16).unwrap())
        .collect();
    shared_state_of(&args[0])
        .write_all_at(&bytes, offset)
        .unwrap();
}

/// The shared state of the slot the server process `pid` serves, opened for writing.
fn shared_state_of(pid: &str) -> std::fs::File {
    let dir = format!("/proc/{pid}/fd");
    let state = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .find(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().contains("pipework-mailslot"))
        })
        .expect("the server's shared state");
    std::fs::OpenOptions::new()
        .write(true)
        .open(state.path())
        .unwrap()
}

/// Child: opens `args[0]` and writes each further argument as one message.
fn send_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap();
    for m in &args[1..] {
        client.write_message(m.as_bytes()).unwrap();
    }
}

/// Child: opens `args[0]` and reports how that went.
fn open_role(args: &[String]) {
    println!(
        "{}",
        report(MailslotClient::open(&args[0]).map(|_| "opened"))
    );
}

/// Child: writes `args[1]` messages of `args[2]` bytes to `args[0]`.
fn fill_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap();
    let count: usize = args[1].parse().unwrap();
    let size: usize = args[2].parse().unwrap();
    let message = vec![b'f'; size];
    for _ in 0..count {
        client.write_message(&message).unwrap();
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Child: serves `args[0]`, has a writer child spool 300 messages of 1 MiB, then reads one and
/// prints how much its resident memory grew (KiB).
fn big_spool_role(args: &[String]) {
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(TIMEOUT))
        .create(&args[0])
        .unwrap();
    let mut fill = child("fill");
    fill.arg(&args[0]).arg("300").arg((1 << 20).to_string());
    assert!(wait(&mut fill.spawn().unwrap()).success());
    let mut message = Vec::with_capacity(1 << 20);
    let before = rss_kib();
    slot.read_message_to_end(&mut message).unwrap();
    let after = rss_kib();
    assert_eq!(message.len(), 1 << 20);
    assert!(message.iter().all(|&b| b == b'f'));
    println!("{}", after.saturating_sub(before));
    // The rest are still there to read.
    assert_eq!(slot.info().unwrap().message_count, 299);
}

/// A server and a writer opened before; a hostile child cuts the spool inside its header page.
/// The writer's next spooled message, the server's next read and a new writer's open are
/// `InvalidData` naming the slot, and nobody dies of `SIGBUS`; the server then starts the spool
/// again and both carry on.
fn a_cut_spool_is_invalid_data_not_sigbus() {
    let (dir, name, mut server) = served_slot("cut");
    let mut writer = Driven::role(&dir, "write", &name);
    // Larger than a datagram: these go through the spool.
    assert_eq!(writer.ask("10000"), "ok 10000");
    assert_eq!(server.ask("read"), "ok 10000");
    assert_eq!(writer.ask("5000"), "ok 5000");

    let mut cut = dir.command("cut");
    cut.arg(dir.spool()).arg("100");
    assert!(wait(&mut cut.spawn().unwrap()).success());

    let answer = writer.ask("20000");
    assert_invalid_data_naming(&answer, &name, "");
    let answer = writer.ask("open");
    assert_invalid_data_naming(&answer, &name, "");
    let answer = server.ask("read");
    assert_invalid_data_naming(&answer, &name, "");

    // The server wrote its header back and started the spool again.
    assert_eq!(writer.ask("open"), "ok opened");
    assert_eq!(writer.ask("30000"), "ok 30000");
    assert_eq!(writer.ask("3"), "ok 3");
    assert_eq!(server.ask("read"), "ok 30000");
    assert_eq!(server.ask("read"), "ok 3");
    writer.finish();
    server.finish();
}

/// A hostile child writes lies over a living slot's header page: a writer that opens the slot
/// then gets `InvalidData` naming it (no allocation from the absurd name length, no signal).
fn a_lying_spool_header_is_invalid_data() {
    let (dir, name, server) = served_slot("lying-header");
    let mut spoil = dir.command("spoil-header");
    spoil.arg(dir.spool());
    assert!(wait(&mut spoil.spawn().unwrap()).success());
    let mut open = dir.command("open");
    open.arg(&name).stdout(Stdio::piped());
    let out = open.spawn().unwrap().wait_with_output().unwrap();
    assert_eq!(out.status.signal(), None);
    assert!(out.status.success(), "{:?}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_invalid_data_naming(&text, &name, "");
    server.finish();
}

/// A hostile child sets the slot's shared committed end past the file, then below the header:
/// the server's read and a writer's spooled message are `InvalidData` naming the slot; then
/// the server starts the spool again and messages flow.
fn a_lying_committed_end_is_invalid_data() {
    let (dir, name, mut server) = served_slot("lying-end");
    let mut writer = Driven::role(&dir, "write", &name);
    for lie in [1u64 << 39, 7] {
        let mut spoil = dir.command("spoil-end");
        spoil
            .arg(server.child.id().to_string())
            .arg(lie.to_string());
        assert!(wait(&mut spoil.spawn().unwrap()).success());
        let answer = writer.ask("10000");
        assert_invalid_data_naming(&answer, &name, format!("{lie}: "));
        let answer = server.ask("read");
        assert_invalid_data_naming(&answer, &name, format!("{lie}: "));
        assert_eq!(writer.ask("10000"), "ok 10000");
        assert_eq!(server.ask("read"), "ok 10000");
    }
    writer.finish();
    server.finish();
}

/// As [`a_lying_committed_end_is_invalid_data`], for reads that wait forever (which look at
/// the committed end before they wait on the socket alone): the lie is reported, not waited
/// past, and the spool is started again.
fn a_lying_committed_end_is_invalid_data_to_reads_that_wait_forever() {
    let (dir, name, mut server) = served_slot("lying-end-forever");
    let mut writer = Driven::role(&dir, "write", &name);
    for lie in [1u64 << 39, 7] {
        let mut spoil = dir.command("spoil-end");
        spoil
            .arg(server.child.id().to_string())
            .arg(lie.to_string());
        assert!(wait(&mut spoil.spawn().unwrap()).success());
        let answer = server.ask("forever");
        assert_invalid_data_naming(&answer, &name, format!("{lie}: "));
        assert_eq!(writer.ask("10000"), "ok 10000");
        assert_eq!(server.ask("forever"), "ok 10000");
        assert_eq!(writer.ask("100"), "ok 100");
        assert_eq!(server.ask("forever"), "ok 100");
    }
    writer.finish();
    server.finish();
}

/// Issue: reading one message from a 300 MB spool loaded all of it. A server child reads one
/// 1 MiB message from 300 MiB of spooled messages; its resident memory grows by far less than
/// the backlog (the bound is generous: the spool is read 16 MiB at a time).
fn one_read_from_a_300_mb_spool_takes_bounded_memory() {
    let dir = RuntimeDir::new("big");
    let mut c = dir.command("big-spool");
    c.arg(unique("big")).stdout(Stdio::piped());
    let out = c.spawn().unwrap().wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let grew: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(grew < 64 << 10, "one read grew the server by {grew} KiB");
}

/// Issue: a read timeout of `Duration::MAX` panicked. It is taken at create and by
/// `set_read_timeout`, and a read with it waits for the message a child sends.
fn a_read_timeout_of_duration_max_waits_without_panic() {
    let name = unique("max-timeout");
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(Duration::MAX))
        .create(&name)
        .unwrap();
    assert_eq!(slot.read_timeout(), Some(Duration::MAX));
    let mut send = child("send");
    send.arg(&name).arg("first").arg("second");
    let mut sender = send.spawn().unwrap();
    let mut message = Vec::new();
    slot.read_message_to_end(&mut message).unwrap();
    assert_eq!(message, b"first");
    assert!(wait(&mut sender).success());
    slot.set_read_timeout(Some(Duration::MAX));
    assert_eq!(slot.info().unwrap().read_timeout, Some(Duration::MAX));
    let mut buf = [0u8; 16];
    assert_eq!(slot.read(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"second");
    #[cfg(feature = "tokio")]
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut slot = slot.into_async().unwrap();
            let mut send = child("send");
            send.arg(&name).arg("async");
            let mut sender = send.spawn().unwrap();
            let mut message = Vec::new();
            slot.read_message_to_end(&mut message).await.unwrap();
            assert_eq!(message, b"async");
            assert!(wait(&mut sender).success());
        });
    }
}

/// The message API of named pipes: a message larger than the buffer comes in parts
/// (`MoreData` with what is left), before any other message.
fn messages_are_read_in_parts_as_on_named_pipes() {
    let name = unique("parts");
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(TIMEOUT))
        .create(&name)
        .unwrap();
    let mut send = child("send");
    send.arg(&name).arg("0123456789").arg("next");
    assert!(wait(&mut send.spawn().unwrap()).success());
    let mut buf = [0u8; 4];
    assert_eq!(
        slot.read_message(&mut buf).unwrap(),
        MessageRead::MoreData { read: 4, left: 6 }
    );
    assert_eq!(&buf, b"0123");
    let info = slot.info().unwrap();
    assert_eq!((info.message_count, info.next_message_size), (2, Some(6)));
    assert_eq!(
        slot.read_message(&mut buf).unwrap(),
        MessageRead::MoreData { read: 4, left: 2 }
    );
    assert_eq!(&buf, b"4567");
    assert_eq!(
        slot.read_message(&mut buf).unwrap(),
        MessageRead::Complete(2)
    );
    assert_eq!(&buf[..2], b"89");
    assert_eq!(
        slot.read_message(&mut buf).unwrap(),
        MessageRead::Complete(4)
    );
    assert_eq!(&buf, b"next");
    slot.set_read_timeout(Some(Duration::ZERO));
    let e = slot.read_message(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
}

/// A message above the slot's maximum: `InvalidInput` worded as named pipes word it, naming
/// the slot and both sizes; the old `send` is `write_message` under another name.
#[allow(deprecated)]
fn a_message_above_the_maximum_is_a_size_error() {
    let name = unique("size");
    let mut slot = MailslotOptions::new()
        .max_message_size(8)
        .read_timeout(Some(TIMEOUT))
        .create(&name)
        .unwrap();
    let client = MailslotClient::open(&name).unwrap();
    let e = client.write_message(b"123456789").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        format!(
            "mailslot {name}: a message holds at most 8 bytes (the slot's maximum); this one has 9"
        )
    );
    client.send(b"12345678").unwrap();
    assert_eq!(slot.info().unwrap().message_count, 1);
    let e = mailslot::Mailslot::create(&name, 0, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
}

/// Hex of little-endian words and bytes, for `spoil-bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writers on rings in the slot's shared memory, and a hostile child that writes lies there: a
/// ring's written position far past its room, then a record whose length reaches past the
/// written position. Each is `InvalidData` naming the slot to the server (once) and to that
/// ring's writer (which then gives its ring up and carries on through the socket); the server
/// keeps serving the other writers, and nobody dies of a signal.
fn lying_ring_positions_and_lengths_are_invalid_data() {
    // The layout the rings have in the shared state (mailslot/ring.rs): positions of ring `i`
    // at 256 + 128 i (written) and 64 bytes further (read), data at 4096 + 65536 i.
    const WRITTEN: u64 = 256;
    const RING: u64 = 128;
    const DATA: u64 = 4096;
    const CAPACITY: u64 = 65536;
    let (dir, name, mut server) = served_slot("lying-ring");
    let mut a = Driven::role(&dir, "write", &name);
    assert_eq!(a.ask("5"), "ok 5"); // ring 0
    let mut b = Driven::role(&dir, "write", &name);
    assert_eq!(b.ask("7"), "ok 7"); // ring 1
    let pid = server.child.id().to_string();
    let spoil = |offset: u64, bytes: &[u8]| {
        let mut spoil = dir.command("spoil-bytes");
        spoil.arg(&pid).arg(offset.to_string()).arg(hex(bytes));
        assert!(wait(&mut spoil.spawn().unwrap()).success());
    };

    // Ring 0's written position a terabyte ahead: its message is lost, ring 1's is not.
    spoil(WRITTEN, &(1u64 << 40).to_le_bytes());
    assert_invalid_data_naming(&server.ask("read"), &name, "position: ");
    assert_eq!(server.ask("read"), "ok 7");
    assert_invalid_data_naming(&a.ask("9"), &name, "writer's position: ");
    assert_eq!(a.ask("11"), "ok 11");
    assert_eq!(server.ask("read"), "ok 11");

    // Ring 1: a record stating 5000 bytes where the written position says 20 bytes came.
    let at = 12 + 7; // where ring 1's writer goes on
    let mut record = 5000u32.to_le_bytes().to_vec();
    record.extend_from_slice(&[0u8; 16]);
    spoil(DATA + CAPACITY + at, &record);
    spoil(WRITTEN + RING, &(at + 20).to_le_bytes());
    assert_invalid_data_naming(&server.ask("read"), &name, "length: ");
    assert_invalid_data_naming(&b.ask("3"), &name, "writer's length: ");
    assert_eq!(b.ask("4"), "ok 4");
    assert_eq!(server.ask("read"), "ok 4");
    assert_eq!(a.ask("12"), "ok 12");
    assert_eq!(server.ask("read"), "ok 12");
    a.finish();
    b.finish();
    server.finish();
}
