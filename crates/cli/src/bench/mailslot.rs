//! `mailslot`: messages per second at 100 bytes from 1 and from 4 writer processes to one reader,
//! pipework's mailslot (as a user gets it: local writers on rings in the slot's shared memory,
//! the default) beside a raw Unix datagram socket (bound by the reader, each writer connected to
//! it, blocking `send` and `recv` by hand).
//!
//! Each sample starts its writers, lets them all open the slot (or connect), then gives them the
//! go at once; the clock runs from the go until the reader has every message.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pipework::mailslot::{Mailslot, MailslotClient, MailslotOptions};
use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework_cli::workload::inherited;
use rustix::io::Errno;
use rustix::net::{
    bind, connect, recv, send, socket_with, AddressFamily, RecvFlags, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

use super::{spawn_child, Figure, Mechanism, Settings};

/// The `mailslot` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new("mailslot", run, child);

const NAME: &str = "mailslot";
const MESSAGE: usize = 100;
const MESSAGES: u64 = 100_000;

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for (writers, label) in [(1, "mailslot/1w"), (4, "mailslot/4w")] {
        let samples = settings.collect(
            label,
            settings.runs,
            || rate(Impl::Pipework, writers),
            || rate(Impl::Raw, writers),
        )?;
        let mut figure =
            Figure::higher_is_better(NAME, "message_rate", "msg/s", "raw unix datagram", &samples);
        // One metric for both counts of writers, told apart in the mechanism column.
        figure.mechanism = label;
        figures.push(figure);
    }
    Ok(figures)
}

#[derive(Clone, Copy, PartialEq)]
enum Impl {
    Pipework,
    Raw,
}

fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Messages per second from `writers` processes sending [`MESSAGES`] in all.
fn rate(which: Impl, writers: u64) -> io::Result<f64> {
    let per_writer = MESSAGES / writers;
    let total = per_writer * writers;
    enum Reader {
        Slot(Box<Mailslot>),
        Socket(OwnedFd, std::path::PathBuf),
    }
    let (reader, target) = match which {
        Impl::Pipework => {
            let name = format!(r"\\.\mailslot\pipework-bench\{}", unique("rate"));
            (
                Reader::Slot(Box::new(MailslotOptions::new().create(&name)?)),
                name,
            )
        }
        Impl::Raw => {
            let path = std::env::temp_dir().join(unique("pipework-bench-dgram"));
            let fd = dgram_socket()?;
            bind(&fd, &SocketAddrUnix::new(&path)?)?;
            let target = path.to_string_lossy().into_owned();
            (Reader::Socket(fd, path), target)
        }
    };
    let role = match which {
        Impl::Pipework => "writer-pipework",
        Impl::Raw => "writer-raw",
    };
    let mut children: Vec<(Child, PipeReader)> = Vec::new();
    let (go_r, go_w) = pipe::create()?;
    for _ in 0..writers {
        let (ready_r, ready_w) = pipe::create()?;
        let child = spawn_child(
            NAME,
            role,
            &[target.clone(), per_writer.to_string()],
            vec![OwnedFd::from(ready_w), OwnedFd::from(go_r.try_clone()?)],
        )?;
        children.push((child, ready_r));
    }
    drop(go_r);
    for (_, ready) in &mut children {
        await_signal(ready)?;
    }
    let mut buf = [0u8; MESSAGE];
    let start = Instant::now();
    drop(go_w); // every writer sees the end of the go pipe at once
    let mut reader = reader;
    match &mut reader {
        Reader::Slot(slot) => {
            for _ in 0..total {
                let n = slot.read(&mut buf)?;
                debug_assert_eq!(n, MESSAGE);
            }
        }
        Reader::Socket(fd, _) => {
            for _ in 0..total {
                loop {
                    match recv(&*fd, &mut buf[..], RecvFlags::empty()) {
                        Ok(_) => break,
                        Err(Errno::INTR) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    for (mut child, _) in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "a {NAME} writer failed: {status}"
            )));
        }
    }
    if let Reader::Socket(_, path) = &reader {
        let _ = std::fs::remove_file(path);
    }
    Ok(total as f64 / elapsed)
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let target = args
        .get(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no target"))?;
    let count: u64 = args
        .get(2)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no count"))?;
    let ready = PipeWriter::try_from(inherited(args.get(3))?)?;
    let mut go = PipeReader::try_from(inherited(args.get(4))?)?;
    let message = [0x6du8; MESSAGE];
    let wait_for_go = |go: &mut PipeReader| -> io::Result<()> {
        let mut byte = [0u8; 1];
        // The parent closes its end: the end of data is the go.
        while go.read(&mut byte)? != 0 {}
        Ok(())
    };
    match role {
        "writer-pipework" => {
            let client = MailslotClient::open(target)?;
            signal(ready)?;
            wait_for_go(&mut go)?;
            for _ in 0..count {
                client.write_message(&message)?;
            }
            Ok(())
        }
        "writer-raw" => {
            let fd = dgram_socket()?;
            connect(&fd, &SocketAddrUnix::new(target.as_str())?)?;
            signal(ready)?;
            wait_for_go(&mut go)?;
            for _ in 0..count {
                loop {
                    match send(&fd, &message, SendFlags::NOSIGNAL) {
                        Ok(_) => break,
                        Err(Errno::INTR) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Ok(())
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no {NAME} role {other:?}"),
        )),
    }
}

/// A one-byte "ready" from a writer to the parent.
fn signal(mut to: impl Write) -> io::Result<()> {
    to.write_all(b"!")
}

/// Waits for a writer's "ready"; the end of data before it means the writer failed.
fn await_signal(mut from: impl Read) -> io::Result<()> {
    let mut byte = [0u8; 1];
    match from.read(&mut byte)? {
        1 => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "a mailslot benchmark writer ended early",
        )),
    }
}

/// A Unix datagram socket, the raw baseline's transport.
fn dgram_socket() -> io::Result<OwnedFd> {
    Ok(socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )?)
}
