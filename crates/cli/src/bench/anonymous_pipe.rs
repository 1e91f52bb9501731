//! `anonymous-pipe`: throughput (64 KiB writes, 1 GiB) and 64-byte round trip between two
//! processes, pipework's `PipeReader`/`PipeWriter` beside pipe2/read/write by hand.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use pipework::pipe::{self, PipeReader, PipeWriter};
use rustix::io::Errno;

use super::{await_signal, inherited, signal, spawn_child, Figure, Mechanism, Samples, Settings};

/// The `anonymous-pipe` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism {
    name: "anonymous-pipe",
    run,
    child,
};

const NAME: &str = "anonymous-pipe";
const CHUNK: usize = 64 * 1024;
const VOLUME: usize = 1 << 30;
const MESSAGE: usize = 64;
const ROUND_TRIPS: usize = 20_000;
const WARM_UP: usize = 1_000;

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let throughput = Samples::collect(
        settings.runs,
        || throughput(Impl::Pipework),
        || throughput(Impl::Raw),
    )?;
    let round_trip = Samples::collect(
        settings.runs,
        || round_trip(Impl::Pipework),
        || round_trip(Impl::Raw),
    )?;
    Ok(vec![
        Figure::higher_is_better(NAME, "throughput", "GiB/s", "raw pipe", &throughput),
        Figure::lower_is_better(NAME, "round_trip", "us", "raw pipe", &round_trip),
    ])
}

#[derive(Clone, Copy)]
enum Impl {
    Pipework,
    Raw,
}

impl Impl {
    fn role(self, what: &str) -> String {
        match self {
            Impl::Pipework => format!("{what}-pipework"),
            Impl::Raw => format!("{what}-raw"),
        }
    }

    /// A pipe: pipework's, or pipe2(O_CLOEXEC) by hand.
    fn pipe(self) -> io::Result<(OwnedFd, OwnedFd)> {
        match self {
            Impl::Pipework => {
                let (r, w) = pipe::create()?;
                Ok((r.into(), w.into()))
            }
            Impl::Raw => Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?),
        }
    }
}

/// Seconds per GiB turned into GiB/s: the parent writes [`VOLUME`] bytes in [`CHUNK`] writes, the
/// child reads until the end and signals; the clock runs from the first write to that signal.
fn throughput(which: Impl) -> io::Result<f64> {
    let (data_r, data_w) = which.pipe()?;
    let (status_r, status_w) = pipe::create()?;
    let mut child = spawn_child(
        NAME,
        &which.role("sink"),
        &[],
        vec![data_r, status_w.into()],
    )?;
    let mut status = status_r;
    await_signal(&mut status)?;
    let chunk = vec![0x5au8; CHUNK];
    let start = Instant::now();
    match which {
        Impl::Pipework => {
            let mut w = PipeWriter::try_from(data_w)?;
            for _ in 0..VOLUME / CHUNK {
                w.write_all(&chunk)?;
            }
        }
        Impl::Raw => {
            for _ in 0..VOLUME / CHUNK {
                raw_write_all(&data_w, &chunk)?;
            }
            drop(data_w);
        }
    }
    await_signal(&mut status)?;
    let elapsed = start.elapsed().as_secs_f64();
    child.wait()?;
    Ok(VOLUME as f64 / (1u64 << 30) as f64 / elapsed)
}

/// Microseconds per 64-byte request and 64-byte reply between the parent and an echoing child.
fn round_trip(which: Impl) -> io::Result<f64> {
    let (req_r, req_w) = which.pipe()?;
    let (resp_r, resp_w) = which.pipe()?;
    let mut child = spawn_child(NAME, &which.role("echo"), &[], vec![req_r, resp_w])?;
    let mut message = [7u8; MESSAGE];
    let elapsed = match which {
        Impl::Pipework => {
            let mut w = PipeWriter::try_from(req_w)?;
            let mut r = PipeReader::try_from(resp_r)?;
            let mut once = || -> io::Result<()> {
                w.write_all(&message)?;
                r.read_exact(&mut message)
            };
            for _ in 0..WARM_UP {
                once()?;
            }
            let start = Instant::now();
            for _ in 0..ROUND_TRIPS {
                once()?;
            }
            start.elapsed()
        }
        Impl::Raw => {
            let mut once = || -> io::Result<()> {
                raw_write_all(&req_w, &message)?;
                raw_read_exact(&resp_r, &mut message)
            };
            for _ in 0..WARM_UP {
                once()?;
            }
            let start = Instant::now();
            for _ in 0..ROUND_TRIPS {
                once()?;
            }
            let elapsed = start.elapsed();
            drop(req_w); // end of requests: the child's echo loop ends
            elapsed
        }
    };
    child.wait()?;
    Ok(elapsed.as_secs_f64() * 1e6 / ROUND_TRIPS as f64)
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let first = inherited(args.get(1))?;
    let second = inherited(args.get(2))?;
    match role {
        "sink-pipework" => {
            let mut status = PipeWriter::try_from(second)?;
            let mut r = PipeReader::try_from(first)?;
            signal(&mut status)?;
            let mut buf = vec![0u8; CHUNK];
            while r.read(&mut buf)? != 0 {}
            signal(&mut status)
        }
        "sink-raw" => {
            let mut status = PipeWriter::try_from(second)?;
            signal(&mut status)?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                match rustix::io::read(&first, &mut buf) {
                    Ok(0) => break,
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            signal(&mut status)
        }
        "echo-pipework" => {
            let mut r = PipeReader::try_from(first)?;
            let mut w = PipeWriter::try_from(second)?;
            let mut message = [0u8; MESSAGE];
            while read_message(|b| r.read(b), &mut message)? {
                w.write_all(&message)?;
            }
            Ok(())
        }
        "echo-raw" => {
            let mut message = [0u8; MESSAGE];
            while read_message(|b| Ok(rustix::io::read(&first, b)?), &mut message)? {
                raw_write_all(&second, &message)?;
            }
            Ok(())
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no {NAME} role {other:?}"),
        )),
    }
}

/// Reads one whole message; `false` at a clean end of data before it.
fn read_message(
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    message: &mut [u8],
) -> io::Result<bool> {
    let mut filled = 0;
    while filled < message.len() {
        match read(&mut message[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn raw_write_all(fd: impl AsFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn raw_read_exact(fd: impl AsFd, buf: &mut [u8]) -> io::Result<()> {
    if read_message(|b| Ok(rustix::io::read(fd.as_fd(), b)?), buf)? {
        Ok(())
    } else {
        Err(io::ErrorKind::UnexpectedEof.into())
    }
}
