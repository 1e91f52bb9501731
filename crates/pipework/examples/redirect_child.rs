//! The Win32 sample "Creating a Child Process with Redirected Input and Output", in Rust.
//!
//! The parent creates one pipe for the child's stdin and one for its stdout, starts the child with
//! its ends, closes its own copies of them, streams a file into the child's stdin, closes it, and
//! reads the child's output to the end.
//!
//! `cargo run -p pipework --example redirect_child -- [FILE]` (default: this crate's Cargo.toml).
//! The child is this same program started with `--child`: it copies stdin to stdout.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::thread;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return child();
    }
    let path = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").to_string());

    // Two pipes; every end is close-on-exec, so only the ends given below reach the child.
    let (child_stdin, mut to_child) = pipework::pipe::create()?;
    let (mut from_child, child_stdout) = pipework::pipe::create()?;

    let mut child = Command::new(std::env::current_exe()?)
        .arg("--child")
        .stdin(Stdio::from(child_stdin))
        .stdout(Stdio::from(child_stdout))
        .spawn()?;
    // `Command` was a temporary: the parent's copies of the child's ends are closed already.

    // Write the file into the child's stdin from a second thread, so that a child that writes
    // much output before reading all its input cannot deadlock against us.
    let feeder = thread::spawn(move || -> io::Result<u64> {
        let mut file = File::open(&path)?;
        let sent = io::copy(&mut file, &mut to_child)?;
        drop(to_child); // closing the write end: the child reads the end of its input
        Ok(sent)
    });

    let mut output = Vec::new();
    from_child.read_to_end(&mut output)?; // ends when the child closes its stdout
    let sent = feeder.join().expect("feeder thread")?;
    let status = child.wait()?;

    io::stdout().write_all(&output)?;
    eprintln!(
        "-- sent {sent} bytes, read {} bytes back; child {status}",
        output.len()
    );
    Ok(())
}

fn child() -> io::Result<()> {
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    io::copy(&mut input, &mut output)?;
    output.flush()
}
