//! Shared-memory pipes across real processes: the anonymous pipe's contract, peers that vanish,
//! and peers that lie.

#[cfg(feature = "tokio")]
mod async_io;
#[path = "../common/mod.rs"]
mod common;
mod contract;
mod hostile;
mod in_place;
mod messages;
mod names;
mod vanishing;

use std::io::{ErrorKind, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{child, inherited, wait};
use pipework::process::{CommandExt, Process};
use pipework::shm_pipe::{self, ShmPipeOptions, ShmReader, ShmWriter};

fn main() {
    common::main(
        &[
            (
                "a_writer_in_another_process_finds_the_pipe_by_name",
                names::a_writer_in_another_process_finds_the_pipe_by_name,
            ),
            (
                "names_missing_taken_and_left_behind_by_a_killed_listener",
                names::names_missing_taken_and_left_behind_by_a_killed_listener,
            ),
            (
                "messages_of_any_size_arrive_whole_across_processes",
                messages::messages_of_any_size_arrive_whole_across_processes,
            ),
            (
                "a_writer_killed_mid_message_is_an_error_not_a_short_message",
                messages::a_writer_killed_mid_message_is_an_error_not_a_short_message,
            ),
            (
                "bytes_cross_processes_intact_and_end_after_a_clean_close",
                contract::bytes_cross_processes_intact_and_end_after_a_clean_close,
            ),
            (
                "a_reader_in_a_child_reads_what_the_parent_writes",
                contract::a_reader_in_a_child_reads_what_the_parent_writes,
            ),
            (
                "read_blocks_while_empty_then_returns_what_is_there",
                contract::read_blocks_while_empty_then_returns_what_is_there,
            ),
            (
                "data_written_before_the_writer_exits_is_all_read",
                contract::data_written_before_the_writer_exits_is_all_read,
            ),
            (
                "a_full_ring_blocks_the_writer_until_the_reader_makes_room",
                contract::a_full_ring_blocks_the_writer_until_the_reader_makes_room,
            ),
            (
                "write_after_the_reader_is_gone_is_broken_pipe",
                vanishing::write_after_the_reader_is_gone_is_broken_pipe,
            ),
            (
                "a_reader_killed_while_the_writer_waits_is_broken_pipe",
                vanishing::a_reader_killed_while_the_writer_waits_is_broken_pipe,
            ),
            (
                "a_writer_killed_mid_write_leaves_the_reader_an_error_not_a_hang",
                vanishing::a_writer_killed_mid_write_leaves_the_reader_an_error_not_a_hang,
            ),
            (
                "corrupt_positions_from_a_hostile_peer_are_invalid_data",
                hostile::corrupt_positions_from_a_hostile_peer_are_invalid_data,
            ),
            (
                "a_blocking_handle_queued_as_a_bell_is_never_written",
                hostile::a_blocking_handle_queued_as_a_bell_is_never_written,
            ),
            (
                "an_end_handle_can_be_passed_on_again",
                contract::an_end_handle_can_be_passed_on_again,
            ),
            (
                "a_handle_that_is_not_a_shm_pipe_end_is_refused",
                hostile::a_handle_that_is_not_a_shm_pipe_end_is_refused,
            ),
            (
                "capacity_is_rounded_up_and_capped",
                contract::capacity_is_rounded_up_and_capped,
            ),
            (
                "blocking_mode_without_spinning_works_across_processes",
                contract::blocking_mode_without_spinning_works_across_processes,
            ),
            (
                "ends_sharing_one_cpu_exchange_every_message",
                contract::ends_sharing_one_cpu_exchange_every_message,
            ),
            (
                "in_place_reads_and_writes_cross_processes_and_wrap",
                in_place::in_place_reads_and_writes_cross_processes_and_wrap,
            ),
            #[cfg(feature = "tokio")]
            (
                "an_async_reader_takes_what_a_blocking_writer_sends",
                async_io::an_async_reader_takes_what_a_blocking_writer_sends,
            ),
            #[cfg(feature = "tokio")]
            (
                "an_async_writer_feeds_a_blocking_reader_through_a_small_ring",
                async_io::an_async_writer_feeds_a_blocking_reader_through_a_small_ring,
            ),
            #[cfg(feature = "tokio")]
            (
                "async_ends_see_a_killed_peer_as_an_error",
                async_io::async_ends_see_a_killed_peer_as_an_error,
            ),
        ],
        &[
            ("write_pattern", write_pattern),
            ("connect_and_write", names::connect_and_write),
            ("listen_and_hold", names::listen_and_hold),
            ("send_messages", send_messages),
            ("read_and_report", read_and_report),
            ("write_on_go", contract::write_on_go),
            ("drop_reader", vanishing::drop_reader),
            ("hold_reader", hold_reader),
            ("corrupt_write_position", hostile::corrupt_write_position),
            ("echo", contract::echo),
            ("write_pattern_in_place", in_place::write_pattern_in_place),
        ],
    )
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn start(role: &str, args: &[&str], handle: OwnedFd, stdout: bool) -> std::process::Child {
    let mut cmd = child(role);
    cmd.args(args);
    if stdout {
        cmd.stdout(Stdio::piped());
    }
    let n = cmd.inherit_handle(handle);
    cmd.arg(n.to_string());
    cmd.spawn().expect("spawn child")
}

/// Reads to the end with a deadline on the whole transfer.
fn read_all(reader: &mut ShmReader) -> std::io::Result<Vec<u8>> {
    let deadline = Instant::now() + common::TIMEOUT;
    let mut all = Vec::new();
    let mut buf = vec![0u8; 100_000];
    loop {
        assert!(Instant::now() < deadline, "no end of data in time");
        match reader.read(&mut buf)? {
            0 => return Ok(all),
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// args: COUNT HANDLE — writes COUNT pattern bytes in writes of varying sizes, then closes.
fn write_pattern(args: &[String]) {
    let n: usize = args[0].parse().unwrap();
    let mut w = ShmWriter::try_from(inherited(&args[1])).unwrap();
    let data = pattern(n);
    let mut at = 0;
    let mut size = 1;
    while at < n {
        let end = (at + size).min(n);
        w.write_all(&data[at..end]).unwrap();
        at = end;
        size = size * 7 % 100_003 + 1;
    }
}

/// args: HANDLE — reads to the end and prints the byte count and whether it matched the pattern.
fn read_and_report(args: &[String]) {
    let mut r = ShmReader::try_from(inherited(&args[0])).unwrap();
    let got = read_all(&mut r).unwrap();
    print!("{} {}", got.len(), got == pattern(got.len()));
}

/// args: HANDLE — adopts the reader, says so, and waits for stdin's end (or a kill).
fn hold_reader(args: &[String]) {
    let _r = ShmReader::try_from(inherited(&args[0])).unwrap();
    println!("holding");
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
}

/// The size and bytes of message `i` of [`send_messages`].
fn message(i: usize) -> Vec<u8> {
    let size = (i * 7919 + i * i * 31) % 70_001;
    (0..size).map(|j| ((i + j) % 253) as u8).collect()
}

/// args: COUNT HANDLE [HANG] — sends messages 0..COUNT, then (with HANG) the header of one more
/// message and half of it, and waits to be killed.
fn send_messages(args: &[String]) {
    let count: usize = args[0].parse().unwrap();
    let mut w = shm_pipe::ShmMessageWriter::new(ShmWriter::try_from(inherited(&args[1])).unwrap());
    for i in 0..count {
        w.write_message(&message(i)).unwrap();
    }
    if args.get(2).is_some() {
        let mut raw = w.into_inner();
        raw.write_all(&1000u32.to_le_bytes()).unwrap();
        raw.write_all(&[7u8; 500]).unwrap();
        println!("half sent");
        let mut forever = Vec::new();
        std::io::stdin().read_to_end(&mut forever).unwrap();
    }
}

/// A child that holds the reader `r` (reading nothing) until its stdin closes, once it says
/// so; the returned stdin keeps it alive.
fn holding_reader(r: ShmReader) -> (std::process::Child, Option<std::process::ChildStdin>) {
    let mut cmd = child("hold_reader");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let n = cmd.inherit_handle(OwnedFd::from(r));
    let mut c = cmd.arg(n.to_string()).spawn().unwrap();
    drop(cmd);
    let stdin = c.stdin.take();
    assert_eq!(common::first_line(&mut c), "holding");
    (c, stdin)
}
