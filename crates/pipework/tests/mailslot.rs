//! Mailslots across real processes: one test per behaviour of the Win32 contract (§3).

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{child, wait, TIMEOUT};
use pipework::mailslot::{self, Mailslot, MailslotClient};

fn main() {
    common::main(
        &[
            ("names_are_case_insensitive", names_are_case_insensitive),
            ("existing_name_fails", existing_name_fails),
            ("malformed_names_are_refused", malformed_names_are_refused),
            ("missing_slot_is_not_found", missing_slot_is_not_found),
            (
                "name_and_messages_go_with_the_last_handle",
                name_and_messages_go_with_the_last_handle,
            ),
            (
                "killed_server_leaves_nothing_in_the_way",
                killed_server_leaves_nothing_in_the_way,
            ),
            (
                "reads_return_whole_messages_in_order",
                reads_return_whole_messages_in_order,
            ),
            (
                "small_buffer_keeps_the_message_and_tells_its_size",
                small_buffer_keeps_the_message_and_tells_its_size,
            ),
            (
                "oversized_message_is_refused_by_the_writer",
                oversized_message_is_refused_by_the_writer,
            ),
            ("info_reports_the_slot", info_reports_the_slot),
            ("empty_read_times_out", empty_read_times_out),
            (
                "blocked_reads_wake_for_each_message",
                blocked_reads_wake_for_each_message,
            ),
            (
                "backlog_of_100000_messages_is_kept",
                backlog_of_100000_messages_is_kept,
            ),
            (
                "many_writers_in_many_processes",
                many_writers_in_many_processes,
            ),
            ("list_shows_slots_and_counts", list_shows_slots_and_counts),
            (
                "write_after_the_server_closed_fails",
                write_after_the_server_closed_fails,
            ),
            (
                "squatted_directory_is_refused",
                squatted_directory_is_refused,
            ),
            ("long_names_work", long_names_work),
        ],
        &[
            ("send", send_role),
            ("create", create_role),
            ("flood", flood_role),
            ("echo", echo_role),
        ],
    )
}

/// A name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        r"\\.\mailslot\pipework-test\{}-{}\{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn server(name: &str) -> Mailslot {
    Mailslot::create(name, 0, Some(TIMEOUT)).expect("create mailslot")
}

/// Exit codes by which a child reports an error kind.
fn code_of(kind: ErrorKind) -> i32 {
    match kind {
        ErrorKind::NotFound => 3,
        ErrorKind::AlreadyExists => 4,
        ErrorKind::InvalidInput => 5,
        ErrorKind::PermissionDenied => 6,
        _ => 1,
    }
}

fn fail(e: std::io::Error) -> ! {
    println!("{e}");
    std::process::exit(code_of(e.kind()))
}

/// Child: opens `args[0]` and sends each further argument as one message.
fn send_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap_or_else(|e| fail(e));
    for m in &args[1..] {
        client.send(m.as_bytes()).unwrap_or_else(|e| fail(e));
    }
}

/// Child: creates `args[0]`, says "ready", holds it until its stdin ends.
fn create_role(args: &[String]) {
    let _slot = Mailslot::create(&args[0], 0, None).unwrap_or_else(|e| fail(e));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// Child: sends `args[1]` numbered messages of `args[2]` bytes as writer `args[3]`.
fn flood_role(args: &[String]) {
    let client = MailslotClient::open(&args[0]).unwrap_or_else(|e| fail(e));
    let count: u32 = args[1].parse().unwrap();
    let size: usize = args[2].parse().unwrap();
    let id: u32 = args[3].parse().unwrap();
    for seq in 0..count {
        client
            .send(&numbered(id, seq, size))
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

/// Child: creates `args[0]`, says "ready", then for `args[2]` rounds reads a message and sends
/// it back to `args[1]`.
fn echo_role(args: &[String]) {
    let mut slot = Mailslot::create(&args[0], 0, Some(TIMEOUT)).unwrap_or_else(|e| fail(e));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let back = MailslotClient::open(&args[1]).unwrap_or_else(|e| fail(e));
    let rounds: usize = args[2].parse().unwrap();
    for _ in 0..rounds {
        let m = slot.read_message().unwrap_or_else(|e| fail(e));
        back.send(&m).unwrap_or_else(|e| fail(e));
    }
}

/// Runs a child to its end; returns its exit code and what it printed.
fn run(mut command: Command) -> (i32, String) {
    command.stdout(Stdio::piped());
    let mut c = command.spawn().unwrap();
    let status = wait(&mut c);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut c.stdout.take().unwrap(), &mut out).unwrap();
    (status.code().unwrap_or(-1), out)
}

fn sender(name: &str, messages: &[&str]) -> Command {
    let mut c = child("send");
    c.arg(name).args(messages);
    c
}

/// Starts a holding child (`create` or `echo`) and waits for its "ready" line.
fn start_ready(mut command: Command) -> Child {
    command.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut c = command.spawn().unwrap();
    let mut line = String::new();
    let out = c.stdout.take().unwrap();
    common::wait_readable(&out);
    BufReader::new(out).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "child did not start its slot");
    c
}

fn names_are_case_insensitive() {
    let name = unique("Jobs");
    let mut slot = server(&name);
    let other_case = name.replace("mailslot", "MAILSLOT").to_uppercase();
    assert_eq!(run(sender(&other_case, &["hello"])).0, 0);
    assert_eq!(slot.read_message().unwrap(), b"hello");
    assert_eq!(slot.name(), name);
}

fn existing_name_fails() {
    let name = unique("taken");
    let _slot = server(&name);
    let mut c = child("create");
    c.arg(name.to_uppercase());
    let (code, out) = run(c);
    assert_eq!(code, code_of(ErrorKind::AlreadyExists), "{out}");
    assert!(out.to_lowercase().contains(&name.to_lowercase()), "{out}");
    // And in this process too.
    let e = Mailslot::create(&name, 0, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
}

fn malformed_names_are_refused() {
    for bad in [
        "jobs",
        r"\\.\pipe\jobs",
        r"\\.\mailslot\",
        r"\\.\mailslot\a\\b",
        r"\\host\mailslot\remote-create",
    ] {
        let e = Mailslot::create(bad, 0, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
    }
    let e = MailslotClient::open("nonsense").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

fn missing_slot_is_not_found() {
    let name = unique("nobody");
    let (code, out) = run(sender(&name, &["x"]));
    assert_eq!(code, code_of(ErrorKind::NotFound), "{out}");
    assert!(out.contains(&name), "{out}");
}

fn name_and_messages_go_with_the_last_handle() {
    let name = unique("transient");
    let slot = server(&name);
    assert_eq!(run(sender(&name, &["a", "b", "c"])).0, 0);
    drop(slot);
    assert_eq!(
        run(sender(&name, &["late"])).0,
        code_of(ErrorKind::NotFound)
    );
    let mut again = server(&name);
    let info = again.info().unwrap();
    assert_eq!(info.message_count, 0, "unread messages outlived their slot");
    assert_eq!(info.next_message_size, None);
}

fn killed_server_leaves_nothing_in_the_way() {
    let name = unique("killed");
    let mut c = child("create");
    c.arg(&name);
    let mut holder = start_ready(c);
    assert_eq!(run(sender(&name, &["before"])).0, 0);
    holder.kill().unwrap(); // SIGKILL: no destructor runs
    holder.wait().unwrap();
    assert_eq!(run(sender(&name, &["x"])).0, code_of(ErrorKind::NotFound));
    let mut slot = server(&name);
    assert_eq!(slot.info().unwrap().message_count, 0);
    assert_eq!(run(sender(&name, &["after"])).0, 0);
    assert_eq!(slot.read_message().unwrap(), b"after");
}

fn reads_return_whole_messages_in_order() {
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

fn small_buffer_keeps_the_message_and_tells_its_size() {
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
    assert_eq!(slot.read_message().unwrap(), b"next");
    assert_eq!(mailslot::required_size(&std::io::Error::other("x")), None);
}

fn oversized_message_is_refused_by_the_writer() {
    let name = unique("limited");
    let mut slot = Mailslot::create(&name, 64, Some(TIMEOUT)).unwrap();
    let fits = "f".repeat(64);
    let over = "o".repeat(65);
    let (code, out) = run(sender(&name, &[&fits, &over]));
    assert_eq!(code, code_of(ErrorKind::InvalidInput), "{out}");
    assert!(out.contains("65") && out.contains("64"), "{out}");
    assert_eq!(slot.read_message().unwrap(), fits.as_bytes());
    assert_eq!(slot.info().unwrap().message_count, 0);
}

fn info_reports_the_slot() {
    let name = unique("info");
    let mut slot = Mailslot::create(&name, 500, Some(Duration::from_millis(250))).unwrap();
    let info = slot.info().unwrap();
    assert_eq!(info.max_message_size, 500);
    assert_eq!(info.next_message_size, None);
    assert_eq!(info.message_count, 0);
    assert_eq!(info.read_timeout, Some(Duration::from_millis(250)));
    assert_eq!(run(sender(&name, &["12345", "", "1"])).0, 0);
    let info = slot.info().unwrap();
    assert_eq!((info.message_count, info.next_message_size), (3, Some(5)));
    slot.read_message().unwrap();
    let info = slot.info().unwrap();
    assert_eq!((info.message_count, info.next_message_size), (2, Some(0)));
    slot.set_read_timeout(None);
    assert_eq!(slot.info().unwrap().read_timeout, None);
    slot.set_read_timeout(Some(Duration::ZERO));
    assert_eq!(slot.info().unwrap().read_timeout, Some(Duration::ZERO));
}

fn empty_read_times_out() {
    let name = unique("empty");
    let mut slot = Mailslot::create(&name, 0, Some(Duration::ZERO)).unwrap();
    let e = slot.read_message().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(e.to_string().contains(&name), "{e}");
    slot.set_read_timeout(Some(Duration::from_millis(20)));
    assert_eq!(slot.read_message().unwrap_err().kind(), ErrorKind::TimedOut);
    // A message that arrives is still read after timeouts.
    assert_eq!(run(sender(&name, &["late"])).0, 0);
    assert_eq!(slot.read_message().unwrap(), b"late");
}

fn blocked_reads_wake_for_each_message() {
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
        out.send(m.as_bytes()).unwrap();
        assert_eq!(slot.read_message().unwrap(), m.as_bytes());
    }
    drop(echo.stdin.take());
    assert!(wait(&mut echo).success());
}

fn backlog_of_100000_messages_is_kept() {
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

fn many_writers_in_many_processes() {
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
        let m = slot.read_message().unwrap();
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

fn list_shows_slots_and_counts() {
    let name = unique("Listed");
    let mut slot = server(&name);
    assert_eq!(run(sender(&name, &["1", "2", "3"])).0, 0);
    let find = || {
        mailslot::list()
            .unwrap()
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.queued)
    };
    assert_eq!(find(), Some(3));
    slot.read_message().unwrap();
    assert_eq!(find(), Some(2));
    drop(slot);
    assert_eq!(find(), None);
}

fn write_after_the_server_closed_fails() {
    let name = unique("closed");
    let slot = server(&name);
    let client = MailslotClient::open(&name).unwrap();
    client.send(b"fine").unwrap();
    drop(slot);
    let e = client.send(b"too late").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains(&name), "{e}");
}

fn squatted_directory_is_refused() {
    let base = std::env::temp_dir().join(format!("pipework-squat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir(&base).unwrap();
    let name = unique("squat");
    // A directory anyone may write.
    let open_dir = base.join("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut c = child("create");
    c.arg(&name).env("PIPEWORK_RUNTIME_DIR", &open_dir);
    let (code, out) = run(c);
    assert_eq!(code, code_of(ErrorKind::PermissionDenied), "{out}");
    assert!(out.contains("writable by others"), "{out}");
    // A directory that belongs to someone else (this test runs as root in CI: chown needs it).
    let theirs = base.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534))
        .expect("chown to nobody (the test needs root)");
    let mut c = child("create");
    c.arg(&name).env("PIPEWORK_RUNTIME_DIR", &theirs);
    let (code, out) = run(c);
    assert_eq!(code, code_of(ErrorKind::PermissionDenied), "{out}");
    assert!(out.contains("owned by uid 65534"), "{out}");
    // A private directory of ours works.
    let ours = base.join("ours");
    let mut c = child("send");
    c.arg(&name).env("PIPEWORK_RUNTIME_DIR", &ours);
    assert_eq!(run(c).0, code_of(ErrorKind::NotFound));
    let mode = std::fs::metadata(ours.join("mailslot"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    std::fs::remove_dir_all(&base).unwrap();
}

fn long_names_work() {
    let long = format!("{}{}", unique("long"), r"\deep".repeat(40));
    let mut slot = server(&long);
    assert_eq!(run(sender(&long.to_lowercase(), &["far"])).0, 0);
    assert_eq!(slot.read_message().unwrap(), b"far");
}
