//! Named pipes across real processes: one test per behaviour of the Win32 contract (§2).

// The interop tests (foreign programs, root, network namespaces) build only with the
// `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

#[cfg(feature = "tokio")]
mod async_io;
#[path = "../common/mod.rs"]
mod common;
mod connect;
mod in_place;
mod instances;
mod lifetime;
mod messages;
mod security;
mod shm_path;
mod win32;
mod win32_fidelity;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdout, Stdio};
use std::time::Duration;

use common::{child, wait, TIMEOUT};
use pipework::named_pipe::{
    self, ClientOptions, Connected, MessageRead, NamedPipeClient, NamedPipeServer, PipeMode,
    ReadMode, ServerOptions, WaitTimeout,
};

const NOBODY: u32 = 65534;

fn main() {
    common::main(
        &[
            (
                "names_are_case_insensitive_and_long",
                connect::names_are_case_insensitive_and_long,
            ),
            ("byte_pipe_echo", messages::byte_pipe_echo),
            ("credentials_both_ways", security::credentials_both_ways),
            (
                "missing_pipe_is_not_found",
                connect::missing_pipe_is_not_found,
            ),
            (
                "busy_when_every_instance_is_taken",
                instances::busy_when_every_instance_is_taken,
            ),
            ("access_mode_must_fit", connect::access_mode_must_fit),
            (
                "first_instance_and_mismatched_instances",
                instances::first_instance_and_mismatched_instances,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_other_user_refused_then_admitted",
                security::other_user_refused_then_admitted,
            ),
            (
                "client_checks_server_uid",
                security::client_checks_server_uid,
            ),
            (
                "connect_already_connected_and_came_and_went",
                connect::connect_already_connected_and_came_and_went,
            ),
            (
                "disconnect_flush_and_reuse",
                connect::disconnect_flush_and_reuse,
            ),
            ("wait_for_an_instance", connect::wait_for_an_instance),
            (
                "message_boundaries_more_data_and_peek",
                messages::message_boundaries_more_data_and_peek,
            ),
            ("transact_and_call", messages::transact_and_call),
            ("nonblocking_mode", messages::nonblocking_mode),
            ("instances_255_at_once", instances::instances_255_at_once),
            (
                "thousand_clients_random_messages",
                messages::thousand_clients_random_messages,
            ),
            (
                "kill_9_server_then_new_server",
                lifetime::kill_9_server_then_new_server,
            ),
            (
                "reopen_after_kill_sees_the_new_pipe",
                lifetime::reopen_after_kill_sees_the_new_pipe,
            ),
            (
                "name_lives_while_an_instance_does",
                lifetime::name_lives_while_an_instance_does,
            ),
            (
                "peer_dying_mid_message_is_broken_pipe",
                lifetime::peer_dying_mid_message_is_broken_pipe,
            ),
            (
                "data_before_close_is_delivered",
                lifetime::data_before_close_is_delivered,
            ),
            ("handle_passing", messages::handle_passing),
            (
                "foreign_client_gets_exact_bytes",
                messages::foreign_client_gets_exact_bytes,
            ),
            ("list_shows_pipes", lifetime::list_shows_pipes),
            (
                "instances_across_processes",
                instances::instances_across_processes,
            ),
            (
                "instances_share_one_hold_per_process",
                instances::instances_share_one_hold_per_process,
            ),
            #[cfg(feature = "tokio")]
            ("async_wait", async_io::async_wait),
            #[cfg(feature = "tokio")]
            (
                "async_server_serves_clients_at_once",
                async_io::async_server_serves_clients_at_once,
            ),
            #[cfg(feature = "tokio")]
            (
                "async_client_bytes_and_messages",
                async_io::async_client_bytes_and_messages,
            ),
            #[cfg(feature = "tokio")]
            (
                "async_server_holds_one_descriptor_per_client",
                async_io::async_server_holds_one_descriptor_per_client,
            ),
            (
                "later_instance_parameters_are_ignored_first_instance_values_stick",
                win32::later_instance_parameters_are_ignored_first_instance_values_stick,
            ),
            (
                "disconnect_without_client_is_pipe_not_connected",
                win32::disconnect_without_client_is_pipe_not_connected,
            ),
            (
                "longest_waiting_instance_gets_the_next_client",
                win32::longest_waiting_instance_gets_the_next_client,
            ),
            (
                "zero_byte_message_is_not_the_end_of_a_message_pipe",
                win32::zero_byte_message_is_not_the_end_of_a_message_pipe,
            ),
            (
                "transact_named_pipe_on_a_server_end",
                win32::transact_named_pipe_on_a_server_end,
            ),
            (
                "call_named_pipe_not_found_busy_and_more_data",
                win32::call_named_pipe_not_found_busy_and_more_data,
            ),
            ("shm_path_bytes_on_rings", shm_path::bytes_on_rings),
            ("shm_path_messages_on_rings", shm_path::messages_on_rings),
            (
                "shm_path_kill_9_on_rings_is_an_error",
                shm_path::kill_9_on_rings_is_an_error,
            ),
            (
                "shm_path_shared_memory_option_turns_rings_off",
                shm_path::shared_memory_option_turns_rings_off,
            ),
            ("shm_path_switch_keeps_order", shm_path::switch_keeps_order),
            ("in_place_bytes", in_place::in_place_bytes),
            ("in_place_messages", in_place::in_place_messages),
            ("in_place_peer_killed", in_place::in_place_peer_killed),
            ("in_place_writes", in_place::in_place_writes),
            (
                "in_place_writes_unsupported",
                in_place::in_place_writes_unsupported,
            ),
            (
                "in_place_writes_peer_killed",
                in_place::in_place_writes_peer_killed,
            ),
            (
                "in_place_buffer_sizes_size_the_rings",
                in_place::in_place_buffer_sizes_size_the_rings,
            ),
            (
                "in_place_hostile_position",
                in_place::in_place_hostile_position,
            ),
            #[cfg(feature = "tokio")]
            ("in_place_async", in_place::in_place_async),
            #[cfg(feature = "tokio")]
            (
                "shm_path_async_ends_on_rings",
                shm_path::async_ends_on_rings,
            ),
            #[cfg(feature = "tokio")]
            (
                "shm_path_async_read_on_rings_sees_a_killed_peer",
                shm_path::async_read_on_rings_sees_a_killed_peer,
            ),
            (
                "open_before_connect_succeeds_and_connect_reports_pipe_connected",
                win32_fidelity::open_before_connect_succeeds_and_connect_reports_pipe_connected,
            ),
            (
                "client_gone_before_connect_leaves_its_data_then_the_end",
                win32_fidelity::client_gone_before_connect_leaves_its_data_then_the_end,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_open_before_connect_still_refuses_a_stranger",
                win32_fidelity::open_before_connect_still_refuses_a_stranger,
            ),
            (
                "disconnect_makes_client_io_pipe_not_connected",
                win32_fidelity::disconnect_makes_client_io_pipe_not_connected,
            ),
            (
                "server_close_is_broken_pipe_and_peek_on_a_drained_end_fails",
                win32_fidelity::server_close_is_broken_pipe_and_peek_on_a_drained_end_fails,
            ),
            (
                "server_close_is_broken_pipe_while_a_copy_of_its_socket_lives",
                win32_fidelity::server_close_is_broken_pipe_while_a_copy_of_its_socket_lives,
            ),
            (
                "foreign_client_sees_the_plain_end_after_disconnect",
                win32_fidelity::foreign_client_sees_the_plain_end_after_disconnect,
            ),
            (
                "buffer_sizes_are_quotas_and_get_named_pipe_info_reports_them",
                win32_fidelity::buffer_sizes_are_quotas_and_get_named_pipe_info_reports_them,
            ),
        ],
        &[
            ("client_echo", client_echo),
            ("client_creds", security::client_creds),
            ("client_try_open", client_try_open),
            ("client_hold", instances::client_hold),
            ("client_messages", messages::client_messages),
            ("client_transact", messages::client_transact),
            ("clients_many", clients_many),
            ("clients_hold_many", async_io::clients_hold_many),
            #[cfg(feature = "tokio")]
            ("one_fd_server", async_io::one_fd_server),
            ("server_and_block", server_and_block),
            ("servers_and_block", instances::servers_and_block),
            ("foreign_partial", lifetime::foreign_partial),
            ("foreign_come_go", connect::foreign_come_go),
            ("client_recv_handle", messages::client_recv_handle),
            ("client_wait_open", connect::client_wait_open),
            ("client_read_all", client_read_all),
            ("client_write_close", lifetime::client_write_close),
            ("server_other_parameters", win32::server_other_parameters),
            ("client_pipe_mode", win32::client_pipe_mode),
            ("client_answer_one", win32::client_answer_one),
            ("client_call_small_buffer", win32::client_call_small_buffer),
            (
                "client_zero_message_then_close",
                win32::client_zero_message_then_close,
            ),
            #[cfg(feature = "tokio")]
            ("async_client", async_io::async_client),
            ("ring_client_echo", shm_path::ring_client_echo),
            ("in_place_client_bytes", in_place::in_place_client_bytes),
            ("in_place_client_writes", in_place::in_place_client_writes),
            (
                "in_place_client_messages",
                in_place::in_place_client_messages,
            ),
            ("in_place_client_cut", in_place::in_place_client_cut),
            ("in_place_client_liar", in_place::in_place_client_liar),
            ("in_place_client_sized", in_place::in_place_client_sized),
            ("ring_client_messages", shm_path::ring_client_messages),
            ("ring_client_hold", shm_path::ring_client_hold),
            ("ring_server_hold", shm_path::ring_server_hold),
            ("ring_client_stream", shm_path::ring_client_stream),
            #[cfg(feature = "tokio")]
            ("ring_client_async", shm_path::ring_client_async),
            (
                "client_open_write_early",
                win32_fidelity::client_open_write_early,
            ),
            (
                "client_write_and_leave",
                win32_fidelity::client_write_and_leave,
            ),
            (
                "client_after_disconnect",
                win32_fidelity::client_after_disconnect,
            ),
            ("client_after_close", win32_fidelity::client_after_close),
            (
                "client_after_close_on_rings",
                win32_fidelity::client_after_close_on_rings,
            ),
            (
                "foreign_after_disconnect",
                win32_fidelity::foreign_after_disconnect,
            ),
            ("client_quota_reader", win32_fidelity::client_quota_reader),
            ("client_quota_writer", win32_fidelity::client_quota_writer),
        ],
    )
}

/// A pipe name no other test (or test run) uses.
fn unique(tag: &str) -> String {
    format!(r"\\.\pipe\np-test-{}-{tag}", std::process::id())
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Starts a child role with arguments, its stdout piped.
fn spawn(role: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut c = child(role)
        .args(args)
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let out = BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

use common::line;

/// `connect` bounded by the harness timeout (so a failed child fails the test, not hangs it).
fn accept(server: &mut NamedPipeServer) -> Connected {
    server.set_nonblocking(true).unwrap();
    let connected = loop {
        match server.connect() {
            Ok(c) => break c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => assert!(
                common::readable_within(&*server, TIMEOUT),
                "no client within {TIMEOUT:?}"
            ),
            Err(e) => panic!("connect: {e}"),
        }
    };
    server.set_nonblocking(false).unwrap();
    connected
}

fn finish(mut c: Child) {
    drop(c.stdin.take());
    assert!(wait(&mut c).success(), "child failed");
}

fn kind_name(e: &std::io::Error) -> String {
    format!("{:?}", e.kind())
}

/// Opens `name`, waiting while the instance is busy (between a disconnect and the next connect).
fn open(name: &str) -> NamedPipeClient {
    ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .open(name)
        .unwrap()
}

fn client_echo(args: &[String]) {
    let n: usize = args[1].parse().unwrap();
    let mut c = open(&args[0]);
    let data = pattern(n, 7);
    c.write_all(&data).unwrap();
    let mut back = vec![0u8; n];
    c.read_exact(&mut back).unwrap();
    assert!(back == data, "echo differs");
    println!("ok");
}

fn client_try_open(args: &[String]) {
    let mut options = ClientOptions::new();
    options.wait(WaitTimeout::After(TIMEOUT));
    if let Some(uid) = args.get(1).filter(|a| !a.is_empty()) {
        options.server_uid(uid.parse().unwrap());
    }
    if args.get(2).map(String::as_str) == Some("read-only") {
        options.write(false);
    }
    if args.get(2).map(String::as_str) == Some("write-only") {
        options.read(false);
    }
    match options.open(&args[0]) {
        Ok(mut c) => {
            println!("ok");
            if c.write_all(b"hello").is_err() {
                let mut b = [0u8; 5];
                let _ = c.read(&mut b);
            }
        }
        Err(e) => println!("{}", kind_name(&e)),
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `args[1]` clients on `args[2]` threads, each sending 100 messages of random sizes and
/// checking every echoed byte.
fn clients_many(args: &[String]) {
    let name = args[0].clone();
    let clients: usize = args[1].parse().unwrap();
    let threads: usize = args[2].parse().unwrap();
    let seed: u64 = args[3].parse().unwrap();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let name = name.clone();
            let next = next.clone();
            std::thread::spawn(move || loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= clients {
                    return;
                }
                let mut rng = Rng(seed * 1_000_003 + k as u64 + 1);
                let mut c = ClientOptions::new()
                    .wait(WaitTimeout::After(TIMEOUT))
                    .open(&name)
                    .unwrap();
                c.set_read_mode(ReadMode::Message).unwrap();
                let mut reply = vec![0u8; 9000];
                for m in 0..100 {
                    let len = (rng.next() % 8193) as usize;
                    let msg = pattern(len, (k + m) as u8);
                    c.write_message(&msg).unwrap();
                    match c.read_message(&mut reply).unwrap() {
                        MessageRead::Complete(n) => {
                            assert_eq!(n, len);
                            assert!(reply[..n] == msg[..], "client {k} message {m} differs");
                        }
                        other => panic!("client {k} message {m}: {other:?}"),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("ok");
}

fn server_and_block(args: &[String]) {
    let _server = ServerOptions::new().create(&args[0]).unwrap();
    println!("ready");
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// Child: reads `args[0]` until its end, then prints how many bytes came, how the reads ended
/// (`end` for `Ok(0)`, else the error's kind), and the kind of error a write then gets.
fn client_read_all(args: &[String]) {
    let mut c = open(&args[0]);
    let mut all = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let ending = loop {
        match c.read(&mut buf) {
            Ok(0) => break "end".to_string(),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break kind_name(&e),
        }
    };
    assert!(all == pattern(all.len(), 1));
    println!("{}", all.len());
    println!("{ending}");
    // The server is gone or disconnected: writes fail.
    let e = c.write_all(b"late").unwrap_err();
    println!("{}", kind_name(&e));
}
