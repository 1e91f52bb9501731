//! Anonymous pipes across real processes: one test per behaviour of the Win32 contract (spec §1),
//! named after the behaviour.

mod common;

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{
    child, err_kind, err_saying, inherited, output_of, read_exact, read_to_end, readable_within,
    wait, wait_readable,
};
use pipework::pipe::{self, PipeOptions, PipeReader, PipeWriter};
use pipework::process::CommandExt;

fn main() {
    common::main(
        &[
            (
                "neither_end_is_inheritable_unless_asked",
                neither_end_is_inheritable_unless_asked,
            ),
            (
                "read_end_reads_only_and_write_end_writes_only",
                read_end_reads_only_and_write_end_writes_only,
            ),
            (
                "read_blocks_while_empty_then_returns_what_is_there",
                read_blocks_while_empty_then_returns_what_is_there,
            ),
            (
                "read_is_a_byte_stream_without_write_boundaries",
                read_is_a_byte_stream_without_write_boundaries,
            ),
            (
                "end_of_data_only_when_every_write_handle_is_closed",
                end_of_data_only_when_every_write_handle_is_closed,
            ),
            (
                "buffered_data_survives_writer_exit",
                buffered_data_survives_writer_exit,
            ),
            (
                "parent_keeping_its_write_end_never_sees_the_end",
                parent_keeping_its_write_end_never_sees_the_end,
            ),
            (
                "write_returns_only_when_all_is_written",
                write_returns_only_when_all_is_written,
            ),
            (
                "full_buffer_blocks_the_writer_until_the_reader_makes_room",
                full_buffer_blocks_the_writer_until_the_reader_makes_room,
            ),
            (
                "write_after_readers_gone_is_broken_pipe_with_default_sigpipe",
                write_after_readers_gone_is_broken_pipe_with_default_sigpipe,
            ),
            (
                "write_after_readers_gone_is_broken_pipe_with_ignored_sigpipe",
                write_after_readers_gone_is_broken_pipe_with_ignored_sigpipe,
            ),
            (
                "buffer_size_is_rounded_up_to_what_the_kernel_grants",
                buffer_size_is_rounded_up_to_what_the_kernel_grants,
            ),
            (
                "buffer_size_above_the_system_maximum_is_capped",
                buffer_size_above_the_system_maximum_is_capped,
            ),
            (
                "zero_or_absurd_buffer_size_is_invalid_input",
                zero_or_absurd_buffer_size_is_invalid_input,
            ),
            (
                "peek_copies_without_consuming",
                peek_copies_without_consuming,
            ),
            (
                "nonblocking_empty_read_and_full_write_would_block",
                nonblocking_empty_read_and_full_write_would_block,
            ),
            (
                "pipe_lives_until_its_last_handle_closes",
                pipe_lives_until_its_last_handle_closes,
            ),
            (
                "clones_read_and_write_the_same_pipe",
                clones_read_and_write_the_same_pipe,
            ),
            (
                "redirected_child_sample_streams_a_file_through_a_child",
                redirected_child_sample_streams_a_file_through_a_child,
            ),
            (
                "a_handle_that_is_not_a_pipe_is_refused",
                a_handle_that_is_not_a_pipe_is_refused,
            ),
            ("the_wrong_end_is_refused", the_wrong_end_is_refused),
            (
                "a_closed_handle_number_is_refused",
                a_closed_handle_number_is_refused,
            ),
            (
                "std_pipe_types_convert_both_ways",
                std_pipe_types_convert_both_ways,
            ),
            (
                "splice_from_a_file_feeds_a_child_without_a_user_space_copy",
                splice_from_a_file_feeds_a_child_without_a_user_space_copy,
            ),
            (
                "splice_all_moves_a_childs_output_into_a_socket",
                splice_all_moves_a_childs_output_into_a_socket,
            ),
            (
                "tee_to_copies_into_another_pipe_without_consuming",
                tee_to_copies_into_another_pipe_without_consuming,
            ),
            (
                "splice_to_a_vanished_reader_is_broken_pipe_with_default_sigpipe",
                splice_to_a_vanished_reader_is_broken_pipe_with_default_sigpipe,
            ),
            #[cfg(feature = "tokio")]
            (
                "async_ends_read_and_write_across_processes",
                async_ends_read_and_write_across_processes,
            ),
        ],
        &[
            ("write_and_exit", write_and_exit),
            ("write_on_go", write_on_go),
            ("hold_until_told", hold_until_told),
            ("one_big_write", one_big_write),
            ("write_to_closed_pipe", write_to_closed_pipe),
            ("echo_stdin", echo_stdin),
            ("report_buffer_size", report_buffer_size),
            ("splice_to_closed_socket", splice_to_closed_socket),
        ],
    )
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Starts `role` with `handles` (numbers appended to its arguments after `args`).
fn start(role: &str, args: &[&str], handles: Vec<OwnedFd>) -> std::process::Child {
    let mut cmd = child(role);
    cmd.args(args);
    for h in handles {
        let n = cmd.inherit_handle(h);
        cmd.arg(n.to_string());
    }
    cmd.spawn().expect("spawn child")
    // `cmd` drops here: the parent's copies of the handed-over handles are closed.
}

// ---- child roles ----

/// args: COUNT WRITE_HANDLE — writes COUNT pattern bytes and exits.
fn write_and_exit(args: &[String]) {
    let n: usize = args[0].parse().unwrap();
    let mut w = PipeWriter::try_from(inherited(&args[1])).unwrap();
    w.write_all(&pattern(n)).unwrap();
}

/// args: TEXT GO_READ WRITE — waits for a byte on GO, then writes TEXT.
fn write_on_go(args: &[String]) {
    let mut go = PipeReader::try_from(inherited(&args[1])).unwrap();
    let mut w = PipeWriter::try_from(inherited(&args[2])).unwrap();
    read_exact(&mut go, 1);
    w.write_all(args[0].as_bytes()).unwrap();
}

/// args: HELD QUIT_READ — holds HELD open until QUIT reaches its end.
fn hold_until_told(args: &[String]) {
    let _held = inherited(&args[0]);
    let mut quit = PipeReader::try_from(inherited(&args[1])).unwrap();
    read_to_end(&mut quit);
}

/// args: COUNT WRITE STATUS — one write() call of COUNT bytes, then reports what it returned.
fn one_big_write(args: &[String]) {
    let n: usize = args[0].parse().unwrap();
    let mut w = PipeWriter::try_from(inherited(&args[1])).unwrap();
    let mut status = PipeWriter::try_from(inherited(&args[2])).unwrap();
    let written = w.write(&pattern(n)).unwrap();
    status.write_all(written.to_string().as_bytes()).unwrap();
}

/// args: DFL|IGN WRITE — sets SIGPIPE's disposition, writes to a pipe without readers, and
/// prints the error kind: the process must live to print it.
fn write_to_closed_pipe(args: &[String]) {
    common::set_sigpipe(args[0] == "DFL");
    let mut w = PipeWriter::try_from(inherited(&args[1])).unwrap();
    let err = w.write(b"nobody reads this").unwrap_err();
    let again = w.write_all(b"nor this").unwrap_err();
    print!("alive {:?} {:?}", err.kind(), again.kind());
}

/// Sets SIGPIPE to its default, splices pipe data into a socket whose peer is gone, and prints
/// the error kind: the process must live to print it.
fn splice_to_closed_socket(_: &[String]) {
    common::set_sigpipe(true);
    let (r, mut w) = pipe::create().unwrap();
    w.write_all(b"data").unwrap();
    let (near, far) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(far);
    let err = r.splice_to(&near, 4).unwrap_err();
    print!("alive {:?}", err.kind());
}

/// Copies stdin to stdout (the child of the Win32 redirection sample).
fn echo_stdin(_: &[String]) {
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    std::io::copy(&mut input, &mut output).unwrap();
}

/// args: READ — prints the buffer size of an inherited read end.
fn report_buffer_size(args: &[String]) {
    let r = PipeReader::try_from(inherited(&args[0])).unwrap();
    print!("{}", r.buffer_size().unwrap());
}

// ---- tests ----

fn neither_end_is_inheritable_unless_asked() {
    let (r, w) = pipe::create().unwrap();
    assert!(!pipework::handle::is_inheritable(&r).unwrap());
    assert!(!pipework::handle::is_inheritable(&w).unwrap());
    let (r, w) = PipeOptions::new().inheritable(true).create().unwrap();
    assert!(pipework::handle::is_inheritable(&r).unwrap());
    assert!(pipework::handle::is_inheritable(&w).unwrap());
}

fn read_end_reads_only_and_write_end_writes_only() {
    let (r, w) = pipe::create().unwrap();
    // At the system level too: the read end refuses writes and the write end refuses reads.
    assert_eq!(
        rustix::io::write(&r, b"x").unwrap_err(),
        rustix::io::Errno::BADF
    );
    let mut buf = [0u8; 1];
    assert_eq!(
        rustix::io::read(&w, &mut buf).unwrap_err(),
        rustix::io::Errno::BADF
    );
}

fn read_blocks_while_empty_then_returns_what_is_there() {
    let (mut r, w) = pipe::create().unwrap();
    let (go_r, mut go_w) = pipe::create().unwrap();
    let mut c = start("write_on_go", &["hello"], vec![go_r.into(), w.into()]);
    // Empty: nothing to read, and no end either (the child holds the write end).
    assert_eq!(r.bytes_available().unwrap(), 0);
    assert!(!readable_within(&r, Duration::from_millis(50)));
    // A blocking read started now returns once the child writes, with what is there (5 bytes
    // into a 4096-byte buffer).
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let n = r.read(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    go_w.write_all(b"!").unwrap();
    assert_eq!(reader.join().unwrap(), b"hello");
    assert!(wait(&mut c).success());
}

fn read_is_a_byte_stream_without_write_boundaries() {
    let (mut r, w) = pipe::create().unwrap();
    let mut c = start("write_and_exit", &["1000"], vec![w.into()]);
    assert!(wait(&mut c).success());
    // One write of 1000 bytes, read in pieces of any size.
    let mut first = [0u8; 10];
    r.read_exact(&mut first).unwrap();
    let rest = read_to_end(&mut r);
    assert_eq!([&first[..], &rest[..]].concat(), pattern(1000));
}

fn end_of_data_only_when_every_write_handle_is_closed() {
    let (mut r, w) = pipe::create().unwrap();
    let clone = w.try_clone().unwrap();
    let duplicate = pipework::handle::duplicate(&w, false).unwrap();
    let (quit_r, quit_w) = pipe::create().unwrap();
    // A child holds a copy of the write end.
    let mut c = start("hold_until_told", &[], vec![w.into(), quit_r.into()]);
    drop(clone);
    // The clone is gone but the duplicate and the child's copy remain: no end.
    assert!(!readable_within(&r, Duration::from_millis(50)));
    drop(duplicate);
    assert!(!readable_within(&r, Duration::from_millis(50)));
    // The child closes its copy (by exiting): now the reader sees the end.
    drop(quit_w);
    assert!(wait(&mut c).success());
    wait_readable(&r);
    assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0);
}

fn buffered_data_survives_writer_exit() {
    let (mut r, w) = pipe::create().unwrap();
    let mut c = start("write_and_exit", &["60000"], vec![w.into()]);
    assert!(wait(&mut c).success());
    // The writer is gone; all 60000 bytes are still there, then the end.
    assert_eq!(r.bytes_available().unwrap(), 60000);
    assert_eq!(read_to_end(&mut r), pattern(60000));
}

fn parent_keeping_its_write_end_never_sees_the_end() {
    // The classic inheritance bug, reproduced on purpose: the parent keeps a write handle.
    let (mut r, w) = pipe::create().unwrap();
    let kept = w.try_clone().unwrap();
    let mut c = start("write_and_exit", &["10"], vec![w.into()]);
    assert!(wait(&mut c).success());
    assert_eq!(read_exact(&mut r, 10), pattern(10));
    assert!(
        !readable_within(&r, Duration::from_millis(50)),
        "the parent's own write handle keeps the pipe open"
    );
    drop(kept);
    wait_readable(&r);
    assert_eq!(r.read(&mut [0u8; 1]).unwrap(), 0);
}

fn write_returns_only_when_all_is_written() {
    let (mut r, w) = pipe::create().unwrap();
    let (mut status_r, status_w) = pipe::create().unwrap();
    let size = 4 * 1024 * 1024; // 64 times the default buffer
    let mut c = start(
        "one_big_write",
        &[&size.to_string()],
        vec![w.into(), status_w.into()],
    );
    let got = read_to_end(&mut r);
    assert_eq!(got.len(), size);
    assert!(got == pattern(size), "data arrived intact and in order");
    // One write() call returned the whole count.
    assert_eq!(read_to_end(&mut status_r), size.to_string().as_bytes());
    assert!(wait(&mut c).success());
}

fn full_buffer_blocks_the_writer_until_the_reader_makes_room() {
    let (mut r, w) = PipeOptions::new().buffer_size(4096).create().unwrap();
    let capacity = r.buffer_size().unwrap();
    let (mut status_r, status_w) = pipe::create().unwrap();
    let size = capacity * 8;
    let mut c = start(
        "one_big_write",
        &[&size.to_string()],
        vec![w.into(), status_w.into()],
    );
    // The pipe fills up and the writer stays blocked: no status while the buffer is full.
    let deadline = Instant::now() + common::TIMEOUT;
    while r.bytes_available().unwrap() < capacity {
        assert!(Instant::now() < deadline, "the pipe never filled up");
        std::thread::yield_now();
    }
    assert!(!readable_within(&status_r, Duration::from_millis(100)));
    assert_eq!(r.bytes_available().unwrap(), capacity);
    // The reader consumes part of the blocked write; the writer goes on and finishes.
    let got = read_to_end(&mut r);
    assert_eq!(got, pattern(size));
    assert_eq!(read_to_end(&mut status_r), size.to_string().as_bytes());
    assert!(wait(&mut c).success());
}

fn write_after_readers_gone(disposition: &str) {
    let (r, w) = pipe::create().unwrap();
    drop(r);
    let mut cmd = child("write_to_closed_pipe");
    cmd.arg(disposition).stdout(Stdio::piped());
    let n = cmd.inherit_handle(w);
    cmd.arg(n.to_string());
    let c = cmd.spawn().unwrap();
    drop(cmd);
    assert_eq!(output_of(c), "alive BrokenPipe BrokenPipe");
}

fn write_after_readers_gone_is_broken_pipe_with_default_sigpipe() {
    write_after_readers_gone("DFL");
}

fn write_after_readers_gone_is_broken_pipe_with_ignored_sigpipe() {
    write_after_readers_gone("IGN");
}

fn buffer_size_is_rounded_up_to_what_the_kernel_grants() {
    let page = rustix::param::page_size();
    for (asked, granted) in [
        (1, page),
        (page + 1, 2 * page),
        (5000, 2 * page),
        (65_537, 128 * 1024),
    ] {
        let (r, w) = PipeOptions::new().buffer_size(asked).create().unwrap();
        assert_eq!(r.buffer_size().unwrap(), granted, "asked {asked}");
        assert_eq!(w.buffer_size().unwrap(), granted);
        // A child holding the read end sees the same capacity.
        let mut cmd = child("report_buffer_size");
        cmd.stdout(Stdio::piped());
        let n = cmd.inherit_handle(r);
        cmd.arg(n.to_string());
        let c = cmd.spawn().unwrap();
        drop(cmd);
        assert_eq!(output_of(c), granted.to_string());
    }
}

fn buffer_size_above_the_system_maximum_is_capped() {
    let max = pipe::max_buffer_size();
    let (r, _w) = PipeOptions::new().buffer_size(max * 16).create().unwrap();
    assert_eq!(r.buffer_size().unwrap(), max);
    let (r, _w) = PipeOptions::new()
        .buffer_size(u32::MAX as usize)
        .create()
        .unwrap();
    assert_eq!(r.buffer_size().unwrap(), max);
}

fn zero_or_absurd_buffer_size_is_invalid_input() {
    for size in [0, u32::MAX as usize + 1, usize::MAX] {
        let err = PipeOptions::new().buffer_size(size).create().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{size}");
        assert!(err.to_string().contains("pipe buffer size"), "{err}");
    }
}

fn peek_copies_without_consuming() {
    let (mut r, w) = PipeOptions::new().buffer_size(256 * 1024).create().unwrap();
    let mut empty = [0u8; 4];
    assert_eq!(
        r.peek(&mut empty).unwrap(),
        0,
        "peek on an empty pipe never blocks"
    );
    let mut c = start("write_and_exit", &["100000"], vec![w.into()]);
    assert!(wait(&mut c).success());
    assert_eq!(r.bytes_available().unwrap(), 100000);
    let mut front = vec![0u8; 70000];
    assert_eq!(r.peek(&mut front).unwrap(), 70000);
    assert_eq!(front, pattern(70000));
    let mut small = [0u8; 3];
    assert_eq!(r.peek(&mut small).unwrap(), 3);
    assert_eq!(r.bytes_available().unwrap(), 100000, "nothing consumed");
    assert_eq!(read_to_end(&mut r), pattern(100000));
    assert_eq!(r.peek(&mut small).unwrap(), 0, "peek at the end of data");
}

fn nonblocking_empty_read_and_full_write_would_block() {
    let (mut r, mut w) = PipeOptions::new().nonblocking(true).create().unwrap();
    assert_eq!(err_kind(r.read(&mut [0u8; 8])), ErrorKind::WouldBlock);
    let capacity = w.buffer_size().unwrap();
    let big = vec![1u8; capacity + 100];
    // A write that does not fit reports what was accepted; nothing accepted is lost.
    assert_eq!(w.write(&big).unwrap(), capacity);
    assert_eq!(w.write(b"more").unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(r.bytes_available().unwrap(), capacity);
    // Back to blocking mode.
    r.set_nonblocking(false).unwrap();
    w.set_nonblocking(false).unwrap();
    let mut got = vec![0u8; capacity];
    r.read_exact(&mut got).unwrap();
    w.write_all(b"tail").unwrap();
    assert_eq!(read_exact(&mut r, 4), b"tail");
}

fn pipe_lives_until_its_last_handle_closes() {
    // The parent hands the read end to a child and closes its own: the pipe lives on in the
    // child, and what the parent writes still arrives there.
    let (r, mut w) = pipe::create().unwrap();
    let mut cmd = child("echo_stdin");
    cmd.stdin(Stdio::from(r)).stdout(Stdio::piped());
    let c = cmd.spawn().unwrap();
    drop(cmd);
    w.write_all(b"still alive").unwrap();
    drop(w);
    assert_eq!(output_of(c), "still alive");
}

fn clones_read_and_write_the_same_pipe() {
    let (r, w) = pipe::create().unwrap();
    let mut w2 = w.try_clone().unwrap();
    let mut r2 = r.try_clone().unwrap();
    (&w).write_all(b"ab").unwrap();
    w2.write_all(b"cd").unwrap();
    drop((w, w2));
    let mut got = [0u8; 2];
    (&r).read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ab");
    assert_eq!(read_to_end(&mut r2), b"cd");
}

fn redirected_child_sample_streams_a_file_through_a_child() {
    // The Win32 sample: pipes for the child's stdin and stdout, the parent's ends kept private,
    // a file streamed into stdin and closed, the output read to the end.
    let dir = std::env::temp_dir().join(format!("pipework-redirect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("input.bin");
    let content = pattern(3 * 1024 * 1024 + 17);
    std::fs::write(&path, &content).unwrap();

    let (mut c, mut to_child, mut from_child) = echo_child();
    let feeder = std::thread::spawn(move || {
        let mut file = File::open(&path).unwrap();
        std::io::copy(&mut file, &mut to_child).unwrap()
    });
    let got = read_to_end(&mut from_child);
    assert_eq!(feeder.join().unwrap() as usize, content.len());
    assert!(got == content, "the file came back intact");
    assert!(wait(&mut c).success());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn a_handle_that_is_not_a_pipe_is_refused() {
    let file = File::open("/proc/self/status").unwrap();
    let err = err_saying(
        PipeReader::try_from(OwnedFd::from(file)),
        "is not a pipe (it is a regular file)",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let (sock, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    err_saying(PipeWriter::try_from(OwnedFd::from(sock)), "it is a socket");
}

fn the_wrong_end_is_refused() {
    let (r, w) = pipe::create().unwrap();
    let err = err_saying(
        PipeWriter::try_from(OwnedFd::from(r)),
        "is the read end of a pipe, not its write end",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    err_saying(
        PipeReader::try_from(OwnedFd::from(w)),
        "is the write end of a pipe, not its read end",
    );
}

fn a_closed_handle_number_is_refused() {
    // A number no process ever has open (far above any descriptor limit).
    let number = i32::MAX - 1;
    // SAFETY: nothing in this process owns `number`: it cannot be open.
    let err = err_saying(
        unsafe { pipework::handle::take_inherited(number) },
        &format!("handle {number} is not open"),
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // SAFETY: a negative number is refused before anything is owned.
    let err = unsafe { pipework::handle::take_inherited(-1) }.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

fn std_pipe_types_convert_both_ways() {
    let (r, w) = std::io::pipe().unwrap();
    let (mut r, w) = (PipeReader::from(r), PipeWriter::from(w));
    let mut w = std::io::PipeWriter::from(w);
    w.write_all(b"std").unwrap();
    drop(w);
    assert_eq!(read_to_end(&mut r), b"std");
    let _ = r.as_fd();
}

#[cfg(feature = "tokio")]
fn async_ends_read_and_write_across_processes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // parent → child stdin → child stdout → parent, both parent ends async.
        let (mut c, to_child, from_child) = echo_child();
        let mut to_child = to_child.into_async().unwrap();
        let mut from_child = from_child.into_async().unwrap();
        let data = pattern(1 << 20);
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            to_child.write_all(&sent).await.unwrap();
        });
        let mut got = Vec::new();
        tokio::time::timeout(common::TIMEOUT, from_child.read_to_end(&mut got))
            .await
            .expect("async read timed out")
            .unwrap();
        writer.await.unwrap();
        assert!(got == data);
        assert!(wait(&mut c).success());
    });
}

fn splice_from_a_file_feeds_a_child_without_a_user_space_copy() {
    let path = std::env::temp_dir().join(format!("pipework-splice-{}", std::process::id()));
    let content = pattern(2 * 1024 * 1024 + 5);
    std::fs::write(&path, &content).unwrap();
    let (mut c, to_child, mut from_child) = echo_child();
    let feeder = std::thread::spawn(move || {
        let file = File::open(&path).unwrap();
        let mut total = 0;
        loop {
            match to_child.splice_from(&file, 1 << 20).unwrap() {
                0 => break,
                n => total += n,
            }
        }
        std::fs::remove_file(&path).unwrap();
        total
    });
    let got = read_to_end(&mut from_child);
    assert_eq!(feeder.join().unwrap(), content.len());
    assert!(got == content);
    assert!(wait(&mut c).success());
}

fn splice_all_moves_a_childs_output_into_a_socket() {
    let (r, w) = pipe::create().unwrap();
    let size = 3 * 1024 * 1024;
    let mut c = start("write_and_exit", &[&size.to_string()], vec![w.into()]);
    let (near, mut far) = std::os::unix::net::UnixStream::pair().unwrap();
    let mover = std::thread::spawn(move || pipe::splice_all(&r, &near).unwrap());
    let mut got = Vec::new();
    far.read_to_end(&mut got).unwrap();
    assert_eq!(mover.join().unwrap(), size as u64);
    assert!(got == pattern(size));
    assert!(wait(&mut c).success());
}

fn tee_to_copies_into_another_pipe_without_consuming() {
    let (mut r, w) = pipe::create().unwrap();
    let mut c = start("write_and_exit", &["5000"], vec![w.into()]);
    assert!(wait(&mut c).success());
    let (mut copy_r, copy_w) = pipe::create().unwrap();
    assert_eq!(r.tee_to(&copy_w, 100_000).unwrap(), 5000);
    drop(copy_w);
    assert_eq!(read_to_end(&mut copy_r), pattern(5000));
    assert_eq!(
        read_to_end(&mut r),
        pattern(5000),
        "the source kept its data"
    );
    let (_x, sink) = pipe::create().unwrap();
    assert_eq!(r.tee_to(&sink, 10).unwrap(), 0, "end of data");
}

fn splice_to_a_vanished_reader_is_broken_pipe_with_default_sigpipe() {
    assert_eq!(
        common::output_of_role("splice_to_closed_socket"),
        "alive BrokenPipe"
    );
}

/// A child that echoes its stdin to its stdout, with the parent's ends of both pipes: the one
/// into its stdin and the one out of its stdout.
fn echo_child() -> (Child, PipeWriter, PipeReader) {
    let (child_in, to_child) = pipe::create().unwrap();
    let (from_child, child_out) = pipe::create().unwrap();
    let c = child("echo_stdin")
        .stdin(Stdio::from(child_in))
        .stdout(Stdio::from(child_out))
        .spawn()
        .unwrap();
    (c, to_child, from_child)
}
