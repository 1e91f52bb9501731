//! Anonymous pipes across real processes: one test per behaviour of the Win32 contract (§1).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use common::{child, inherited, read_exact, read_to_end, wait, wait_readable};
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
                "buffered_data_survives_writer_exit",
                buffered_data_survives_writer_exit,
            ),
        ],
        &[("write_and_exit", write_and_exit)],
    )
}

fn neither_end_is_inheritable_unless_asked() {
    let (r, w) = pipe::create().unwrap();
    assert!(!pipework::handle::is_inheritable(&r).unwrap());
    assert!(!pipework::handle::is_inheritable(&w).unwrap());
    let (r, w) = PipeOptions::new().inheritable(true).create().unwrap();
    assert!(pipework::handle::is_inheritable(&r).unwrap());
    assert!(pipework::handle::is_inheritable(&w).unwrap());
}

/// Child: writes `args[1]` bytes of a pattern to the handle `args[0]` and exits.
fn write_and_exit(args: &[String]) {
    let mut w = PipeWriter::try_from(inherited(&args[0])).unwrap();
    let n: usize = args[1].parse().unwrap();
    let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    w.write_all(&data).unwrap();
}

fn buffered_data_survives_writer_exit() {
    let (mut r, w) = pipe::create().unwrap();
    let mut cmd = child("write_and_exit");
    let n = cmd.inherit_handle(w);
    cmd.arg(n.to_string()).arg("60000");
    let mut c = cmd.spawn().unwrap();
    drop(cmd);
    assert!(wait(&mut c).success());
    let got = read_to_end(&mut r);
    assert_eq!(got.len(), 60000);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
}
