//! Mailslots across real processes: one test per behaviour of the Win32 contract (§3).

// The interop tests (foreign programs, root, network namespaces) build only with the
// `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::{ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{child, wait, TIMEOUT};
use pipework::mailslot::{self, Mailslot, MailslotClient, MailslotOptions, NetworkConfig};

/// The next whole message: the tests' shorthand for `read_message_to_end`.
trait NextMessage {
    fn next_message(&mut self) -> std::io::Result<Vec<u8>>;
}

impl NextMessage for Mailslot {
    fn next_message(&mut self) -> std::io::Result<Vec<u8>> {
        let mut message = Vec::new();
        self.read_message_to_end(&mut message)?;
        Ok(message)
    }
}

#[cfg(feature = "tokio")]
async fn next_async(slot: &mut mailslot::AsyncMailslot) -> std::io::Result<Vec<u8>> {
    let mut message = Vec::new();
    slot.read_message_to_end(&mut message).await?;
    Ok(message)
}

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
                "a_killed_server_leaves_no_files",
                a_killed_server_leaves_no_files,
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
                "a_backlog_larger_than_one_read_chunk",
                a_backlog_larger_than_one_read_chunk,
            ),
            (
                "many_writers_in_many_processes",
                many_writers_in_many_processes,
            ),
            (
                "order_holds_while_the_socket_overflows",
                order_holds_while_the_socket_overflows,
            ),
            ("threads_sharing_one_client", threads_sharing_one_client),
            #[cfg(feature = "tokio")]
            ("async_reads", async_reads),
            ("list_shows_slots_and_counts", list_shows_slots_and_counts),
            (
                "write_after_the_server_closed_fails",
                write_after_the_server_closed_fails,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_squatted_directory_is_refused",
                squatted_directory_is_refused,
            ),
            ("long_names_work", long_names_work),
            ("network_is_opt_in", network_is_opt_in),
            (
                "broadcast_limit_is_enforced_by_the_writer",
                broadcast_limit_is_enforced_by_the_writer,
            ),
            #[cfg(feature = "interop")]
            ("interop_network_to_one_host", network_to_one_host),
            #[cfg(feature = "interop")]
            (
                "interop_network_to_everyone_and_to_a_domain",
                network_to_everyone_and_to_a_domain,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_network_to_a_broadcast_address",
                network_to_a_broadcast_address,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_network_garbage_is_dropped",
                network_garbage_is_dropped,
            ),
            ("example_server_and_client", example_server_and_client),
            #[cfg(feature = "interop")]
            ("interop_example_announcer", example_announcer),
        ],
        &[
            ("send", send_role),
            ("create", create_role),
            ("flood", flood_role),
            ("echo", echo_role),
            ("net-serve", net_serve_role),
            ("net-send", net_send_role),
            ("net-garbage", net_garbage_role),
        ],
    )
}

/// Removes a test's directory when the test ends, passed or failed.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
    MailslotOptions::new().read_timeout(Some(TIMEOUT)).create(name).expect("create mailslot")
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
        client.write_message(m.as_bytes()).unwrap_or_else(|e| fail(e));
    }
}

/// Child: creates `args[0]`, says "ready", holds it until its stdin ends.
fn create_role(args: &[String]) {
    let _slot = MailslotOptions::new().create(&args[0]).unwrap_or_else(|e| fail(e));
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

/// Child: creates `args[0]`, says "ready", then for `args[2]` rounds reads a message and sends
/// it back to `args[1]`.
fn echo_role(args: &[String]) {
    let mut slot = MailslotOptions::new().read_timeout(Some(TIMEOUT)).create(&args[0]).unwrap_or_else(|e| fail(e));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let back = MailslotClient::open(&args[1]).unwrap_or_else(|e| fail(e));
    let rounds: usize = args[2].parse().unwrap();
    for _ in 0..rounds {
        let m = slot.next_message().unwrap_or_else(|e| fail(e));
        back.write_message(&m).unwrap_or_else(|e| fail(e));
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

/// Starts a holding child (`create`, `echo`, `net-serve`) and waits for its "ready" line; its
/// stdout stays with the child for what it prints later.
fn start_ready(mut command: Command) -> Child {
    command.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut c = command.spawn().unwrap();
    let mut out = c.stdout.take().unwrap();
    // Byte by byte, so that nothing after the line is taken from the pipe.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        common::wait_readable(&out);
        match std::io::Read::read(&mut out, &mut byte).unwrap() {
            0 => break,
            _ => line.push(byte[0]),
        }
    }
    let line = String::from_utf8_lossy(&line);
    assert_eq!(line.trim(), "ready", "child did not start its slot");
    c.stdout = Some(out);
    c
}

fn names_are_case_insensitive() {
    let name = unique("Jobs");
    let mut slot = server(&name);
    let other_case = name.replace("mailslot", "MAILSLOT").to_uppercase();
    assert_eq!(run(sender(&other_case, &["hello"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"hello");
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
    let e = MailslotOptions::new().create(&name).unwrap_err();
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
        let e = MailslotOptions::new().create(bad).unwrap_err();
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
    let opened_before = MailslotClient::open(&name).unwrap();
    holder.kill().unwrap(); // SIGKILL: no destructor runs
    holder.wait().unwrap();
    // A client that had the slot open learns at its next write that the server is gone.
    let e = opened_before.write_message(b"to nobody").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Also with a message too large for the socket, which would go to the spool.
    let e = opened_before.write_message(&[b'L'; 10_000]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(run(sender(&name, &["x"])).0, code_of(ErrorKind::NotFound));
    let mut slot = server(&name);
    assert_eq!(slot.info().unwrap().message_count, 0);
    assert_eq!(run(sender(&name, &["after"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"after");
}

/// Spools, sockets and unread messages of a server killed outright are removed by the next
/// server created (or `list`) in that directory.
fn a_killed_server_leaves_no_files() {
    let dir = std::env::temp_dir().join(format!("pipework-ms-gc-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("mailslot"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let in_dir = |mut c: Command| {
        c.env("PIPEWORK_RUNTIME_DIR", &dir);
        c
    };
    let mut victim = child("create");
    victim.arg(r"\\.\mailslot\gc\victim");
    let mut victim = start_ready(in_dir(victim));
    let (code, out) = run(in_dir(sender(
        r"\\.\mailslot\gc\victim",
        &["unread", "unread"],
    )));
    assert_eq!(code, 0, "{out}");
    assert_eq!(files().len(), 2, "a spool and a socket: {:?}", files());
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert_eq!(files().len(), 2, "kill -9 ran no destructor: {:?}", files());
    let mut next = child("create");
    next.arg(r"\\.\mailslot\gc\another");
    let mut next = start_ready(in_dir(next));
    let left = files();
    assert_eq!(left.len(), 2, "only the new server's files: {left:?}");
    drop(next.stdin.take());
    assert!(wait(&mut next).success());
    assert!(files().is_empty(), "{:?}", files());
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
    assert_eq!(slot.next_message().unwrap(), b"next");
    assert_eq!(mailslot::required_size(&std::io::Error::other("x")), None);
}

fn oversized_message_is_refused_by_the_writer() {
    let name = unique("limited");
    let mut slot = MailslotOptions::new().max_message_size(64).read_timeout(Some(TIMEOUT)).create(&name).unwrap();
    let fits = "f".repeat(64);
    let over = "o".repeat(65);
    let (code, out) = run(sender(&name, &[&fits, &over]));
    assert_eq!(code, code_of(ErrorKind::InvalidInput), "{out}");
    assert!(out.contains("65") && out.contains("64"), "{out}");
    assert_eq!(slot.next_message().unwrap(), fits.as_bytes());
    assert_eq!(slot.info().unwrap().message_count, 0);
}

fn info_reports_the_slot() {
    let name = unique("info");
    let mut slot = MailslotOptions::new().max_message_size(500).read_timeout(Some(Duration::from_millis(250))).create(&name).unwrap();
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

fn empty_read_times_out() {
    let name = unique("empty");
    let mut slot = MailslotOptions::new().read_timeout(Some(Duration::ZERO)).create(&name).unwrap();
    let e = slot.next_message().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(e.to_string().contains(&name), "{e}");
    slot.set_read_timeout(Some(Duration::from_millis(20)));
    assert_eq!(slot.next_message().unwrap_err().kind(), ErrorKind::TimedOut);
    // A message that arrives is still read after timeouts.
    assert_eq!(run(sender(&name, &["late"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"late");
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
        out.write_message(m.as_bytes()).unwrap();
        assert_eq!(slot.next_message().unwrap(), m.as_bytes());
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

/// 19 MB of unread 60,000-byte messages: more than the server takes from its spool at once.
fn a_backlog_larger_than_one_read_chunk() {
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
fn order_holds_while_the_socket_overflows() {
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

fn threads_sharing_one_client() {
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

#[cfg(feature = "tokio")]
fn async_reads() {
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
        assert_eq!(out.write_message(b"x").unwrap_err().kind(), ErrorKind::NotFound);
        // Buffer too small keeps the message, as in the blocking read.
        MailslotClient::open(&here).unwrap().write_message(&[]).unwrap();
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
    slot.next_message().unwrap();
    assert_eq!(find(), Some(2));
    drop(slot);
    assert_eq!(find(), None);
}

fn write_after_the_server_closed_fails() {
    let name = unique("closed");
    let slot = server(&name);
    let client = MailslotClient::open(&name).unwrap();
    client.write_message(b"fine").unwrap();
    drop(slot);
    let e = client.write_message(b"too late").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains(&name), "{e}");
}

fn squatted_directory_is_refused() {
    let base = std::env::temp_dir().join(format!("pipework-squat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir(&base).unwrap();
    let _cleanup = RemoveOnDrop(base.clone());
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
}

fn long_names_work() {
    let long = format!("{}{}", unique("long"), r"\deep".repeat(40));
    let mut slot = server(&long);
    assert_eq!(run(sender(&long.to_lowercase(), &["far"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"far");
}

// ---- Across machines: two network namespaces joined by a veth pair ----

/// Two network namespaces, `a` (10.77.0.1) and `b` (10.77.0.2), joined by a veth pair, with
/// multicast routed over it; removed on drop. Nothing here touches the machine's interfaces.
struct NetPair {
    a: String,
    b: String,
    tag: String,
}

const IP_A: &str = "10.77.0.1";
const IP_B: &str = "10.77.0.2";
const PORT: u16 = 47_911;

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2 is needed)");
    assert!(
        out.status.success(),
        "ip {}: {} (network namespaces need root)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetPair {
    fn new() -> NetPair {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}x{n}", std::process::id());
        let pair = NetPair {
            a: format!("pipework-ms-{tag}-a"),
            b: format!("pipework-ms-{tag}-b"),
            tag: tag.clone(),
        };
        // Interface names: at most 15 bytes.
        let short = format!("{:x}", (std::process::id() as usize) * 16 + n);
        let (va, vb) = (format!("pwa{short}"), format!("pwb{short}"));
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        ip(&[
            "link", "add", &va, "netns", &pair.a, "type", "veth", "peer", "name", &vb, "netns",
            &pair.b,
        ]);
        for (ns, dev, addr) in [(&pair.a, &va, IP_A), (&pair.b, &vb, IP_B)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev]);
        }
        pair
    }

    /// This test binary as child `role` inside namespace `ns`, with a mailslot directory of its
    /// own (each namespace plays a separate computer).
    fn child(&self, ns: &str, role: &str) -> Command {
        let template = child(role);
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(template.get_program());
        for (k, v) in template.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        let dir = std::env::temp_dir().join(format!("pipework-ms-{}-{ns}", self.tag));
        c.env("PIPEWORK_RUNTIME_DIR", dir);
        c
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
            let dir = std::env::temp_dir().join(format!("pipework-ms-{}-{ns}", self.tag));
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn net_config(port: &str, group: &str, domain: &str) -> NetworkConfig {
    NetworkConfig {
        port: port.parse().unwrap(),
        group: group.parse().unwrap(),
        domain: domain.to_string(),
        ..NetworkConfig::default()
    }
}

/// Child: creates `args[0]` (max size `args[4]`), listens on port `args[1]`, group `args[2]`,
/// domain `args[3]`, says "ready", then prints `args[5]` messages, one per line.
fn net_serve_role(args: &[String]) {
    let max: usize = args[4].parse().unwrap();
    let mut slot = MailslotOptions::new().max_message_size(max).read_timeout(Some(TIMEOUT)).create(&args[0]).unwrap_or_else(|e| fail(e));
    slot.serve_network(&net_config(&args[1], &args[2], &args[3]))
        .unwrap_or_else(|e| fail(e));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let count: usize = args[5].parse().unwrap();
    for _ in 0..count {
        let m = slot.next_message().unwrap_or_else(|e| fail(e));
        println!("{}", String::from_utf8_lossy(&m));
        std::io::stdout().flush().unwrap();
    }
}

/// Child: opens `args[0]` with port `args[1]`, group `args[2]`, domain `args[3]` and sends the
/// rest.
fn net_send_role(args: &[String]) {
    let config = net_config(&args[1], &args[2], &args[3]);
    let client = MailslotClient::open_with(&args[0], &config).unwrap_or_else(|e| fail(e));
    for m in &args[4..] {
        client.write_message(m.as_bytes()).unwrap_or_else(|e| fail(e));
    }
}

/// Child: sends malformed datagrams and datagrams for others to `args[0]`:`args[1]`, as if for
/// the slot path `args[2]`.
fn net_garbage_role(args: &[String]) {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let to = format!("{}:{}", args[0], args[1]);
    let name = args[2].to_lowercase();
    let valid = |name: &str, kind: u8, domain: &str, message: &[u8]| {
        let mut d = b"PWMS\x01".to_vec();
        d.push(kind);
        d.extend_from_slice(&(name.len() as u16).to_le_bytes());
        d.extend_from_slice(&(domain.len() as u16).to_le_bytes());
        d.extend_from_slice(name.as_bytes());
        d.extend_from_slice(domain.as_bytes());
        d.extend_from_slice(message);
        d
    };
    let mut bad: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"hello".to_vec(),
        b"PWMS".to_vec(),
        b"PWMS\x09\x00\x01\x00\x00\x00x".to_vec(), // unknown version
        b"PWMS\x01\x00\xff\xff\x00\x00abc".to_vec(), // name longer than the datagram
        b"PWMS\x01\x07\x01\x00\x00\x00x".to_vec(), // unknown kind
        b"PWMS\x01\x00\x02\x00\x00\x00\xff\xfe".to_vec(), // name not UTF-8
        vec![0xff; 60_000],
    ];
    bad.push(valid("someone\\else", 0, "", b"not yours"));
    bad.push(valid(&name, 2, "otherdomain", b"not your domain"));
    bad.push(valid(&name, 0, "", &[b'x'; 101])); // above the server's maximum of 100
    for d in &bad {
        socket.send_to(d, &to).unwrap();
    }
}

fn start_in(
    pair: &NetPair,
    ns: &str,
    name: &str,
    group: &str,
    domain: &str,
    max: usize,
    count: usize,
) -> Child {
    let mut c = pair.child(ns, "net-serve");
    c.arg(name)
        .arg(PORT.to_string())
        .arg(group)
        .arg(domain)
        .arg(max.to_string())
        .arg(count.to_string());
    start_ready(c)
}

/// Waits for a server child and returns the messages it printed, sorted: datagrams over a network
/// carry no order (two sends can reach the other namespace through different CPUs' queues).
fn received(mut server: Child) -> Vec<String> {
    let status = wait(&mut server);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut server.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "server failed: {status}: {out}");
    sorted(out.lines().map(str::to_string).collect())
}

fn sorted(mut messages: Vec<String>) -> Vec<String> {
    messages.sort();
    messages
}

fn send_from(pair: &NetPair, ns: &str, name: &str, group: &str, messages: &[&str]) {
    let (code, out) = try_send_from(pair, ns, name, group, messages);
    assert_eq!(code, 0, "sender failed: {out}");
}

/// Sends from namespace `ns` as a member of domain `sales`: exit code and output.
fn try_send_from(
    pair: &NetPair,
    ns: &str,
    name: &str,
    group: &str,
    messages: &[&str],
) -> (i32, String) {
    let mut c = pair.child(ns, "net-send");
    c.arg(name)
        .arg(PORT.to_string())
        .arg(group)
        .arg("sales")
        .args(messages);
    run(c)
}

fn udp_inodes() -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/self/net/udp", "/proc/self/net/udp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            for line in text.lines().skip(1) {
                if let Some(inode) = line.split_whitespace().nth(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    inodes
}

fn my_udp_sockets() -> usize {
    let udp = udp_inodes();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| udp.contains(&target.to_string_lossy().into_owned()))
        .count()
}

fn network_is_opt_in() {
    // Other tests of this binary run in parallel threads: compare this slot's creation only
    // with itself by checking the sockets it adds.
    let name = unique("offline");
    let before = my_udp_sockets();
    let mut slot = server(&name);
    slot.info().unwrap();
    assert_eq!(run(sender(&name, &["local only"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"local only");
    assert!(
        my_udp_sockets() <= before,
        "a slot opened a UDP socket unasked"
    );
}

fn broadcast_limit_is_enforced_by_the_writer() {
    // Refused before anything is sent: no datagram leaves this process.
    let config = NetworkConfig {
        group: "127.0.0.1".parse().unwrap(), // even if it were sent, it stays on loopback
        ..NetworkConfig::default()
    };
    for name in [
        r"\\*\mailslot\big",
        // The configured domain: a domain without a resolver lookup.
        r"\\WorkGroup\mailslot\big",
    ] {
        let client = MailslotClient::open_with(name, &config).unwrap();
        let e = client.write_message(&[b'b'; 425]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{name}");
        assert!(e.to_string().contains("424"), "{e}");
    }
    assert_eq!(mailslot::MAX_BROADCAST_MESSAGE, 424);
}

fn network_to_one_host() {
    let pair = NetPair::new();
    let group = "239.255.80.87";
    // Two listening slots on one host and port: each gets its own messages.
    let one = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\One",
        group,
        "workgroup",
        0,
        3,
    );
    let two = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\two",
        group,
        "workgroup",
        0,
        1,
    );
    let big = "y".repeat(5_000);
    send_from(
        &pair,
        &pair.a,
        &format!(r"\\{IP_B}\mailslot\NET\one"),
        group,
        &["first", "", &big],
    );
    send_from(
        &pair,
        &pair.a,
        &format!(r"\\{IP_B}\mailslot\net\two"),
        group,
        &["second"],
    );
    assert_eq!(
        received(one),
        sorted(vec!["first".to_string(), String::new(), big])
    );
    assert_eq!(received(two), sorted(vec!["second".to_string()]));
}

fn network_to_everyone_and_to_a_domain() {
    let pair = NetPair::new();
    let group = "239.255.80.87";
    let at_a = start_in(
        &pair,
        &pair.a,
        r"\\.\mailslot\net\all",
        group,
        "workgroup",
        0,
        2,
    );
    let at_b = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\all",
        group,
        "sales",
        0,
        3,
    );
    let longest = "l".repeat(424);
    let too_long = "t".repeat(425);
    let (code, out) = try_send_from(
        &pair,
        &pair.a,
        r"\\SALES\mailslot\net\all",
        group,
        &[&too_long],
    );
    assert_eq!(code, code_of(ErrorKind::InvalidInput), "{out}");
    assert!(out.contains("424"), "{out}");
    // A domain only its members get; then everyone; the sender's own host included.
    send_from(
        &pair,
        &pair.a,
        r"\\SALES\mailslot\net\all",
        group,
        &["sales only"],
    );
    send_from(
        &pair,
        &pair.a,
        r"\\*\mailslot\net\all",
        group,
        &["everyone", &longest],
    );
    assert_eq!(
        received(at_a),
        sorted(vec!["everyone".to_string(), longest.clone()])
    );
    assert_eq!(
        received(at_b),
        sorted(vec![
            "sales only".to_string(),
            "everyone".to_string(),
            longest
        ])
    );
}

fn network_to_a_broadcast_address() {
    let pair = NetPair::new();
    let broadcast = "10.77.0.255";
    let at_b = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\bcast",
        broadcast,
        "workgroup",
        0,
        1,
    );
    send_from(
        &pair,
        &pair.a,
        r"\\*\mailslot\net\bcast",
        broadcast,
        &["to the segment"],
    );
    assert_eq!(received(at_b), sorted(vec!["to the segment".to_string()]));
}

fn network_garbage_is_dropped() {
    let pair = NetPair::new();
    let group = "239.255.80.87";
    let at_b = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\strict",
        group,
        "workgroup",
        100,
        2,
    );
    let mut c = pair.child(&pair.a, "net-garbage");
    c.arg(IP_B).arg(PORT.to_string()).arg(r"net\strict");
    assert_eq!(run(c).0, 0);
    send_from(
        &pair,
        &pair.a,
        &format!(r"\\{IP_B}\mailslot\net\strict"),
        group,
        &["still here"],
    );
    send_from(
        &pair,
        &pair.a,
        r"\\*\mailslot\net\strict",
        group,
        &["and here"],
    );
    assert_eq!(
        received(at_b),
        sorted(vec!["still here".to_string(), "and here".to_string()])
    );
}

// ---- The examples, run as they are ----

/// An example program built beside this test binary (`cargo test` builds the examples).
fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "example {name} not built at {}",
        path.display()
    );
    Command::new(path)
}

/// Reads one line from `out` without taking more from the pipe.
fn line_from(out: &mut std::process::ChildStdout) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        common::wait_readable(&*out);
        match std::io::Read::read(out, &mut byte).unwrap() {
            0 => break,
            _ => line.push(byte[0]),
        }
    }
    String::from_utf8_lossy(&line).trim_end().to_string()
}

fn example_server_and_client() {
    // A private directory: the sample's fixed name cannot meet anyone else's.
    let dir = std::env::temp_dir().join(format!("pipework-ms-example-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    let mut server = example("mailslot_server");
    server
        .arg("3")
        .env("PIPEWORK_RUNTIME_DIR", &dir)
        .stdout(Stdio::piped());
    let mut server = server.spawn().unwrap();
    let mut out = server.stdout.take().unwrap();
    assert!(line_from(&mut out).starts_with("waiting for messages"));
    let mut client = example("mailslot_client");
    client.env("PIPEWORK_RUNTIME_DIR", &dir);
    let (code, text) = run(client);
    assert_eq!(code, 0, "{text}");
    assert!(wait(&mut server).success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("Message one for mailslot."), "{rest}");
    assert!(rest.contains("Message three for mailslot."), "{rest}");
    assert_eq!(rest.lines().count(), 3, "{rest}");
}

fn example_announcer() {
    let pair = NetPair::new();
    let in_ns = |ns: &str, role: &str| {
        let program = example("mailslot_announcer");
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .arg(program.get_program())
            .args([role, &PORT.to_string(), "239.255.80.87"])
            .env(
                "PIPEWORK_RUNTIME_DIR",
                std::env::temp_dir().join(format!("pipework-ms-{}-{ns}", pair.tag)),
            )
            .stdout(Stdio::piped());
        c
    };
    let mut listener = in_ns(&pair.b, "listen").spawn().unwrap();
    let mut heard = listener.stdout.take().unwrap();
    assert!(line_from(&mut heard).starts_with("listening"));
    let mut announcer = in_ns(&pair.a, "announce").spawn().unwrap();
    let first = line_from(&mut heard);
    assert!(first.contains(" is here at "), "{first:?}");
    // Both run until stopped.
    for c in [&mut announcer, &mut listener] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
