//! Mailslots across real processes: one test per behaviour of the Win32 contract (§3).

// The interop tests (foreign programs, root, network namespaces) build only with the
// `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

#[path = "../common/mod.rs"]
mod common;
mod examples;
mod lifetime;
mod names;
mod network;
mod reads;
mod rings;
mod writers;

use std::io::{ErrorKind, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{child, wait, TIMEOUT};
use pipework::mailslot::{self, Mailslot, MailslotClient, MailslotOptions, NetworkConfig, Wire};

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
            (
                "names_are_case_insensitive",
                names::names_are_case_insensitive,
            ),
            ("existing_name_fails", names::existing_name_fails),
            (
                "malformed_names_are_refused",
                names::malformed_names_are_refused,
            ),
            (
                "missing_slot_is_not_found",
                names::missing_slot_is_not_found,
            ),
            (
                "name_and_messages_go_with_the_last_handle",
                lifetime::name_and_messages_go_with_the_last_handle,
            ),
            (
                "killed_server_leaves_nothing_in_the_way",
                lifetime::killed_server_leaves_nothing_in_the_way,
            ),
            (
                "a_killed_server_leaves_no_files",
                lifetime::a_killed_server_leaves_no_files,
            ),
            (
                "reads_return_whole_messages_in_order",
                reads::reads_return_whole_messages_in_order,
            ),
            (
                "small_buffer_keeps_the_message_and_tells_its_size",
                reads::small_buffer_keeps_the_message_and_tells_its_size,
            ),
            (
                "oversized_message_is_refused_by_the_writer",
                reads::oversized_message_is_refused_by_the_writer,
            ),
            ("info_reports_the_slot", reads::info_reports_the_slot),
            ("empty_read_times_out", reads::empty_read_times_out),
            (
                "blocked_reads_wake_for_each_message",
                reads::blocked_reads_wake_for_each_message,
            ),
            (
                "backlog_of_100000_messages_is_kept",
                writers::backlog_of_100000_messages_is_kept,
            ),
            (
                "a_backlog_larger_than_one_read_chunk",
                writers::a_backlog_larger_than_one_read_chunk,
            ),
            (
                "many_writers_in_many_processes",
                writers::many_writers_in_many_processes,
            ),
            (
                "order_holds_while_the_socket_overflows",
                writers::order_holds_while_the_socket_overflows,
            ),
            (
                "threads_sharing_one_client",
                writers::threads_sharing_one_client,
            ),
            (
                "order_holds_when_reads_wait_forever",
                writers::order_holds_when_reads_wait_forever,
            ),
            #[cfg(feature = "tokio")]
            ("async_reads", reads::async_reads),
            (
                "list_shows_slots_and_counts",
                lifetime::list_shows_slots_and_counts,
            ),
            (
                "write_after_the_server_closed_fails",
                lifetime::write_after_the_server_closed_fails,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_squatted_directory_is_refused",
                lifetime::squatted_directory_is_refused,
            ),
            ("long_names_work", names::long_names_work),
            ("network_is_opt_in", network::network_is_opt_in),
            (
                "broadcast_limit_is_enforced_by_the_writer",
                network::broadcast_limit_is_enforced_by_the_writer,
            ),
            (
                "the_network_needs_an_interface",
                network::the_network_needs_an_interface,
            ),
            #[cfg(feature = "interop")]
            ("interop_network_to_one_host", network::network_to_one_host),
            #[cfg(feature = "interop")]
            (
                "interop_network_to_everyone_and_to_a_domain",
                network::network_to_everyone_and_to_a_domain,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_network_to_a_broadcast_address",
                network::network_to_a_broadcast_address,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_network_garbage_is_dropped",
                network::network_garbage_is_dropped,
            ),
            (
                "example_server_and_client",
                examples::example_server_and_client,
            ),
            (
                "a_full_ring_spools_and_the_writer_comes_back",
                rings::a_full_ring_spools_and_the_writer_comes_back,
            ),
            ("more_writers_than_rings", rings::more_writers_than_rings),
            (
                "a_killed_ring_writer_loses_nothing_and_frees_its_ring",
                rings::a_killed_ring_writer_loses_nothing_and_frees_its_ring,
            ),
            (
                "a_forked_child_does_not_share_the_ring",
                rings::a_forked_child_does_not_share_the_ring,
            ),
            ("rings_off_still_works", rings::rings_off_still_works),
            (
                "a_waiting_reader_wakes_for_ring_messages",
                rings::a_waiting_reader_wakes_for_ring_messages,
            ),
            #[cfg(feature = "interop")]
            ("interop_example_announcer", examples::example_announcer),
        ],
        &[
            ("send", send_role),
            ("create", create_role),
            ("flood", writers::flood_role),
            ("mixed", writers::mixed_role),
            ("echo", reads::echo_role),
            ("net-serve", network::net_serve_role),
            ("net-send", network::net_send_role),
            ("net-garbage", network::net_garbage_role),
            ("ring-writer", rings::ring_writer_role),
            ("ring-spool-and-back", rings::ring_spool_and_back_role),
            ("fork-writer", rings::fork_writer_role),
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
    MailslotOptions::new()
        .read_timeout(Some(TIMEOUT))
        .create(name)
        .expect("create mailslot")
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
        client
            .write_message(m.as_bytes())
            .unwrap_or_else(|e| fail(e));
    }
}

/// Child: creates `args[0]`, says "ready", holds it until its stdin ends.
fn create_role(args: &[String]) {
    let _slot = MailslotOptions::new()
        .create(&args[0])
        .unwrap_or_else(|e| fail(e));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
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

/// Two network namespaces, `a` (10.77.0.1) and `b` (10.77.0.2), joined by a veth pair, with
/// multicast routed over it; removed on drop. Nothing here touches the machine's interfaces.
struct NetPair {
    a: String,
    b: String,
    tag: String,
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

    /// The address of namespace `ns` on the veth pair.
    fn ip(&self, ns: &str) -> &'static str {
        if ns == self.a {
            IP_A
        } else {
            IP_B
        }
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
