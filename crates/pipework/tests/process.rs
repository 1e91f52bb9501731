//! Processes: children that receive exactly the handles named for them, even under concurrency,
//! and process handles (pidfd) for duplicating handles out of a process and waiting for its exit.

// The interop tests (foreign programs, root, network namespaces) build only with the
// `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, Stdio};
use std::thread;

use common::{child, err_saying, inherited, read_to_end, wait};
use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework::process::{CommandExt, Process};

fn main() {
    common::main(
        &[
            (
                "only_named_handles_reach_children_started_concurrently",
                only_named_handles_reach_children_started_concurrently,
            ),
            (
                "a_child_finds_each_handle_by_the_number_it_was_given",
                a_child_finds_each_handle_by_the_number_it_was_given,
            ),
            (
                "duplicate_handle_takes_a_pipe_end_out_of_a_process_by_pid",
                duplicate_handle_takes_a_pipe_end_out_of_a_process_by_pid,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_duplicate_handle_is_permission_denied_where_the_system_forbids_it",
                duplicate_handle_is_permission_denied_where_the_system_forbids_it,
            ),
            (
                "duplicate_handle_of_a_missing_handle_is_not_found",
                duplicate_handle_of_a_missing_handle_is_not_found,
            ),
            (
                "open_of_a_missing_process_is_not_found",
                open_of_a_missing_process_is_not_found,
            ),
            (
                "a_process_is_signaled_when_it_exits",
                a_process_is_signaled_when_it_exits,
            ),
            ("kill_ends_a_process", kill_ends_a_process),
        ],
        &[
            ("report_then_wait", report_then_wait),
            ("read_two", read_two),
            ("own_a_pipe", own_a_pipe),
            ("steal_as_nobody", steal_as_nobody),
            ("wait_for_stdin_end", wait_for_stdin_end),
        ],
    )
}

/// args: HANDLE — writes this child's open handle numbers into HANDLE, closes it, then waits
/// for its stdin to end.
fn report_then_wait(args: &[String]) {
    let handles = common::open_handles();
    let mut w = PipeWriter::try_from(inherited(&args[0])).unwrap();
    let text: Vec<String> = handles.iter().map(|n| n.to_string()).collect();
    w.write_all(text.join(" ").as_bytes()).unwrap();
    drop(w);
    wait_for_stdin_end(&[]);
}

/// args: A B — reads both inherited read ends to the end and prints them.
fn read_two(args: &[String]) {
    let mut a = PipeReader::try_from(inherited(&args[0])).unwrap();
    let mut b = PipeReader::try_from(inherited(&args[1])).unwrap();
    let a = String::from_utf8(read_to_end(&mut a)).unwrap();
    let b = String::from_utf8(read_to_end(&mut b)).unwrap();
    print!("{a}+{b}");
}

/// Creates a pipe, writes into it, prints its read end's number, waits for stdin to end.
fn own_a_pipe(_: &[String]) {
    let (r, mut w) = pipe::create().unwrap();
    w.write_all(b"from the owner").unwrap();
    drop(w);
    println!("{}", r.as_raw_fd());
    std::io::stdout().flush().unwrap();
    wait_for_stdin_end(&[]);
    drop(r);
}

/// args: PID — drops to uid/gid `nobody` (65534), then tries to take handle 0 of PID.
fn steal_as_nobody(args: &[String]) {
    common::become_nobody();
    let target = Process::open(args[0].parse().unwrap()).unwrap();
    let err = target.duplicate_handle(0).unwrap_err();
    print!("{:?}: {err}", err.kind());
}

fn wait_for_stdin_end(_: &[String]) {
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
}

fn only_named_handles_reach_children_started_concurrently() {
    const THREADS: usize = 8;
    const CHILDREN: usize = 50;
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            thread::spawn(|| {
                for _ in 0..CHILDREN {
                    let (mut r, w) = pipe::create().unwrap();
                    let mut cmd = child("report_then_wait");
                    cmd.stdin(Stdio::piped()).stdout(Stdio::null());
                    let number = cmd.inherit_handle(w);
                    cmd.arg(number.to_string());
                    let mut c = cmd.spawn().unwrap();
                    drop(cmd);
                    // The end of data arrives while the child is still alive (it waits for its
                    // stdin): no other child may hold a copy of this write end.
                    let report = String::from_utf8(read_to_end(&mut r)).unwrap();
                    assert_eq!(report, common::expected_child_handles(&[number]));
                    drop(c.stdin.take());
                    assert!(wait(&mut c).success());
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker thread");
    }
}

fn a_child_finds_each_handle_by_the_number_it_was_given() {
    let (ra, mut wa) = pipe::create().unwrap();
    let (rb, mut wb) = pipe::create().unwrap();
    let mut cmd = child("read_two");
    cmd.stdout(Stdio::piped());
    let a = cmd.inherit_handle(ra);
    let b = cmd.inherit_handle(rb);
    assert_ne!(a, b);
    cmd.arg(a.to_string()).arg(b.to_string());
    let mut c = cmd.spawn().unwrap();
    drop(cmd);
    wa.write_all(b"first").unwrap();
    wb.write_all(b"second").unwrap();
    drop((wa, wb));
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(wait(&mut c).success());
    assert_eq!(out, "first+second");
}

fn duplicate_handle_takes_a_pipe_end_out_of_a_process_by_pid() {
    let mut c = child("own_a_pipe")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The child prints its read end's number on a line, then waits.
    let number = common::first_line(&mut c);
    let process = Process::open(c.id()).unwrap();
    let fd = process.duplicate_handle(number.parse().unwrap()).unwrap();
    assert!(!pipework::handle::is_inheritable(&fd).unwrap());
    let mut r = PipeReader::try_from(fd).unwrap();
    assert_eq!(read_to_end(&mut r), b"from the owner");
    drop(c.stdin.take());
    assert!(wait(&mut c).success());
}

fn duplicate_handle_is_permission_denied_where_the_system_forbids_it() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test drops a child to uid nobody and needs to run as root (CI does)"
    );
    // A process running as `nobody` may not take a handle out of this (root) process.
    let c = child("steal_as_nobody")
        .arg(std::process::id().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut c = c;
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(wait(&mut c).success(), "{out}");
    assert!(out.starts_with("PermissionDenied: process "), "{out}");
    assert!(
        out.contains("not allowed to duplicate its handle 0"),
        "{out}"
    );
}

fn duplicate_handle_of_a_missing_handle_is_not_found() {
    let me = Process::open(std::process::id()).unwrap();
    let err = err_saying(me.duplicate_handle(i32::MAX - 1), "has no handle");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // Its own handle, by number: works and gives a new handle to the same pipe.
    let (r, mut w) = pipe::create().unwrap();
    let copy = me.duplicate_handle(r.as_raw_fd()).unwrap();
    w.write_all(b"x").unwrap();
    drop(w);
    assert_eq!(read_to_end(&mut PipeReader::try_from(copy).unwrap()), b"x");
}

fn open_of_a_missing_process_is_not_found() {
    // Above any pid_max (at most 2^22): no such process can exist.
    let err = err_saying(Process::open(1 << 30), "no process with id");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = Process::open(u32::MAX).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

fn a_process_is_signaled_when_it_exits() {
    let (mut c, process) = waiting_child();
    assert_eq!(process.id(), c.id());
    assert!(!process.has_exited().unwrap());
    assert!(!process
        .wait_timeout(std::time::Duration::from_millis(20))
        .unwrap());
    drop(c.stdin.take());
    assert!(process.wait_timeout(common::TIMEOUT).unwrap());
    assert!(process.has_exited().unwrap());
    process.wait().unwrap();
    assert!(c.wait().unwrap().success());
}

fn kill_ends_a_process() {
    let (mut c, process) = waiting_child();
    process.kill().unwrap();
    assert!(process.wait_timeout(common::TIMEOUT).unwrap());
    let status = c.wait().unwrap();
    assert!(!status.success());
    process.kill().unwrap(); // killing an exited process is not an error
}

/// A child that runs until its stdin (piped) ends, and its process.
fn waiting_child() -> (Child, Process) {
    let c = child("wait_for_stdin_end")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let process = Process::from_child(&c).unwrap();
    (c, process)
}
