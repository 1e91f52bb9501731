//! Handles across real processes: close-on-exec from birth, inheritance flags, duplication, and
//! passing handles to unrelated processes over Unix-domain sockets.

mod common;

use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Stdio};

use common::{child, output_of, read_to_end};
use pipework::handle;
use pipework::pipe::{self, PipeReader, PipeWriter};

fn main() {
    common::main(
        &[
            (
                "every_handle_is_close_on_exec_from_birth",
                every_handle_is_close_on_exec_from_birth,
            ),
            (
                "a_child_inherits_exactly_the_inheritable_handles",
                a_child_inherits_exactly_the_inheritable_handles,
            ),
            (
                "duplicate_within_a_process_can_flip_inheritance",
                duplicate_within_a_process_can_flip_inheritance,
            ),
            (
                "a_read_end_sent_to_an_unrelated_process_is_read_there",
                a_read_end_sent_to_an_unrelated_process_is_read_there,
            ),
            (
                "a_write_end_received_from_another_process_writes_into_its_pipe",
                a_write_end_received_from_another_process_writes_into_its_pipe,
            ),
            (
                "recv_reports_a_closed_connection_and_data_without_a_handle",
                recv_reports_a_closed_connection_and_data_without_a_handle,
            ),
            (
                "recv_refuses_more_handles_than_asked_for",
                recv_refuses_more_handles_than_asked_for,
            ),
        ],
        &[
            ("list_handles", list_handles),
            ("inheritance_probe", inheritance_probe),
            ("receive_and_read", receive_and_read),
            ("send_write_end", send_write_end),
        ],
    )
}

fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("pipework-test-{tag}-{}", std::process::id()))
}

/// Starts the child `role` with the path of a fresh socket (named after `tag`) that it connects
/// to, and returns the path, this end of the connection and the child (its stdout piped).
fn connected_child(tag: &str, role: &str) -> (PathBuf, UnixStream, Child) {
    let path = socket_path(tag);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let c = child(role)
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    (path, conn, c)
}

/// Prints the handle numbers open in this child.
fn list_handles(_: &[String]) {
    let numbers: Vec<String> = common::open_handles()
        .iter()
        .map(|n| n.to_string())
        .collect();
    print!("{}", numbers.join(" "));
}

/// args: PATH — connects, receives a read end, reads it to the end and prints it.
fn receive_and_read(args: &[String]) {
    let conn = UnixStream::connect(&args[0]).unwrap();
    let fd = handle::recv(&conn).unwrap();
    assert!(
        !handle::is_inheritable(&fd).unwrap(),
        "received handles are close-on-exec"
    );
    let mut r = PipeReader::try_from(fd).unwrap();
    print!("{}", String::from_utf8(read_to_end(&mut r)).unwrap());
}

/// args: PATH — connects, sends the write end of its own pipe, reads that pipe to the end.
fn send_write_end(args: &[String]) {
    let conn = UnixStream::connect(&args[0]).unwrap();
    let (mut r, w) = pipe::create().unwrap();
    handle::send(&conn, &w).unwrap();
    drop(w);
    print!("{}", String::from_utf8(read_to_end(&mut r)).unwrap());
}

fn every_handle_is_close_on_exec_from_birth() {
    let (r, w) = pipe::create().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    handle::send(&a, &r).unwrap();
    let received = handle::recv(&b).unwrap();
    let fresh: Vec<OwnedFd> = vec![
        r.try_clone().unwrap().into(),
        w.try_clone().unwrap().into(),
        handle::duplicate(&w, false).unwrap(),
        received,
        r.into(),
        w.into(),
    ];
    for fd in &fresh {
        assert!(
            !handle::is_inheritable(fd).unwrap(),
            "handle {} is inheritable",
            fd.as_raw_fd()
        );
    }
}

fn a_child_inherits_exactly_the_inheritable_handles() {
    // Run in a child of its own: inheritable handles made by tests running beside it in this
    // process would reach its children too (as they would on Windows).
    let c = child("inheritance_probe")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(output_of(c), "probed");
}

/// The body of `a_child_inherits_exactly_the_inheritable_handles`.
fn inheritance_probe(_: &[String]) {
    let (r, _w) = pipe::create().unwrap();
    let (_r2, w2) = pipe::create().unwrap();
    handle::set_inheritable(&r, true).unwrap();
    assert!(handle::is_inheritable(&r).unwrap());
    // No pipework call names a handle here: the child gets stdio plus what is inheritable.
    let c = child("list_handles")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let expected = common::expected_child_handles(&[]);
    let listed = |list: &str| list.split(' ').any(|n| n == r.as_raw_fd().to_string());
    assert!(listed(&expected));
    assert_eq!(output_of(c), expected);
    // Clearing the flag again keeps the next child out.
    handle::set_inheritable(&r, false).unwrap();
    let expected = common::expected_child_handles(&[]);
    assert!(!listed(&expected));
    let c = child("list_handles")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(output_of(c), expected);
    drop(w2);
    print!("probed");
}

fn duplicate_within_a_process_can_flip_inheritance() {
    let (r, mut w) = pipe::create().unwrap();
    let copy = handle::duplicate(&r, true).unwrap();
    assert!(handle::is_inheritable(&copy).unwrap());
    assert!(
        !handle::is_inheritable(&r).unwrap(),
        "the source keeps its flag"
    );
    assert_ne!(copy.as_raw_fd(), r.as_raw_fd());
    w.write_all(b"same pipe").unwrap();
    drop(w);
    let mut via_copy = PipeReader::try_from(copy).unwrap();
    assert_eq!(read_to_end(&mut via_copy), b"same pipe");
}

fn a_read_end_sent_to_an_unrelated_process_is_read_there() {
    // The receiver inherits no pipe handle: it gets the read end only through the socket.
    let (path, conn, c) = connected_child("send-read", "receive_and_read");
    let (r, mut w) = pipe::create().unwrap();
    handle::send(&conn, &r).unwrap();
    drop(r); // the receiver's copy keeps the read end alive
    w.write_all(b"through a passed handle").unwrap();
    drop(w);
    assert_eq!(output_of(c), "through a passed handle");
    std::fs::remove_file(&path).unwrap();
}

fn a_write_end_received_from_another_process_writes_into_its_pipe() {
    let (path, conn, c) = connected_child("send-write", "send_write_end");
    let mut w = PipeWriter::try_from(handle::recv(&conn).unwrap()).unwrap();
    w.write_all(b"written by the receiver").unwrap();
    drop(w);
    assert_eq!(output_of(c), "written by the receiver");
    std::fs::remove_file(&path).unwrap();
}

fn recv_reports_a_closed_connection_and_data_without_a_handle() {
    let (a, b) = UnixStream::pair().unwrap();
    (&a).write_all(b"x").unwrap();
    let err = handle::recv(&b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    drop(a);
    let err = handle::recv(&b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    let err = handle::send_with(&b, b"", &[b.as_fd()]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

fn recv_refuses_more_handles_than_asked_for() {
    let (a, b) = UnixStream::pair().unwrap();
    let (r, w) = pipe::create().unwrap();
    handle::send_with(&a, b"two", &[r.as_fd(), w.as_fd()]).unwrap();
    let mut buf = [0u8; 3];
    let err = handle::recv_with(&b, &mut buf, 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    // Asked for enough, both arrive with the bytes.
    handle::send_with(&a, b"two", &[r.as_fd(), w.as_fd()]).unwrap();
    let (n, handles) = handle::recv_with(&b, &mut buf, 2).unwrap();
    assert_eq!((n, handles.len()), (3, 2));
}
