//! `anonymous-pipe`: throughput (64 KiB writes, 1 GiB) and 64-byte round trip between two
//! processes, pipework's `PipeReader`/`PipeWriter` beside pipe2/read/write by hand.
//!
//! Both sides run at once: one child per implementation stays up for the whole measurement and
//! the samples of pipework and of the baseline alternate, so a burst of load on this shared
//! machine hits both alike.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Child;
use std::time::Instant;

use pipework::pipe::{self, PipeReader, PipeWriter};
use rustix::io::Errno;

use super::{await_signal, inherited, signal, spawn_child, Figure, Mechanism, Settings};

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
const BATCH: usize = 5_000;
const WARM_UP: usize = 1_000;

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let mut ours = Stream::start(Impl::Pipework, "sink")?;
    let mut raw = Stream::start(Impl::Raw, "sink")?;
    let throughput = settings.collect(
        "anonymous-pipe throughput",
        settings.runs,
        || ours.throughput(),
        || raw.throughput(),
    )?;
    ours.finish()?;
    raw.finish()?;

    let mut ours = Stream::start(Impl::Pipework, "echo")?;
    let mut raw = Stream::start(Impl::Raw, "echo")?;
    ours.round_trips(WARM_UP)?;
    raw.round_trips(WARM_UP)?;
    let round_trip = settings.collect(
        "anonymous-pipe round trip",
        settings.runs * 4,
        || ours.round_trips(BATCH),
        || raw.round_trips(BATCH),
    )?;
    ours.finish()?;
    raw.finish()?;
    Ok(vec![
        Figure::higher_is_better(NAME, "throughput", "GiB/s", "raw pipe", &throughput),
        Figure::lower_is_better(NAME, "round_trip", "us", "raw pipe", &round_trip),
    ])
}

#[derive(Clone, Copy, PartialEq)]
enum Impl {
    Pipework,
    Raw,
}

/// The parent's side of one child: a pipe to it and a pipe back.
struct Stream {
    which: Impl,
    to_child: OwnedFd,
    from_child: OwnedFd,
    child: Child,
}

impl Stream {
    fn start(which: Impl, role: &str) -> io::Result<Stream> {
        let (to_r, to_w) = which.pipe()?;
        let (from_r, from_w) = which.pipe()?;
        let role = match which {
            Impl::Pipework => format!("{role}-pipework"),
            Impl::Raw => format!("{role}-raw"),
        };
        let child = spawn_child(NAME, &role, &[], vec![to_r, from_w])?;
        Ok(Stream {
            which,
            to_child: to_w,
            from_child: from_r,
            child,
        })
    }

    /// GiB/s: [`VOLUME`] bytes in [`CHUNK`] writes, timed until the child says it has them all.
    fn throughput(&mut self) -> io::Result<f64> {
        let chunk = vec![0x5au8; CHUNK];
        let start = Instant::now();
        match self.which {
            Impl::Pipework => {
                let w = PipeWriter::try_from(self.to_child.try_clone()?)?;
                for _ in 0..VOLUME / CHUNK {
                    (&w).write_all(&chunk)?;
                }
            }
            Impl::Raw => {
                for _ in 0..VOLUME / CHUNK {
                    raw_write_all(&self.to_child, &chunk)?;
                }
            }
        }
        await_signal(PipeReader::try_from(self.from_child.try_clone()?)?)?;
        Ok(VOLUME as f64 / (1u64 << 30) as f64 / start.elapsed().as_secs_f64())
    }

    /// Microseconds per 64-byte request and 64-byte reply, over `count` round trips.
    fn round_trips(&mut self, count: usize) -> io::Result<f64> {
        let mut message = [7u8; MESSAGE];
        let start = Instant::now();
        match self.which {
            Impl::Pipework => {
                let w = PipeWriter::try_from(self.to_child.try_clone()?)?;
                let r = PipeReader::try_from(self.from_child.try_clone()?)?;
                for _ in 0..count {
                    (&w).write_all(&message)?;
                    (&r).read_exact(&mut message)?;
                }
            }
            Impl::Raw => {
                for _ in 0..count {
                    raw_write_all(&self.to_child, &message)?;
                    raw_read_exact(&self.from_child, &mut message)?;
                }
            }
        }
        Ok(start.elapsed().as_secs_f64() * 1e6 / count as f64)
    }

    /// Closes the pipe to the child (its end of data) and waits for it.
    fn finish(self) -> io::Result<()> {
        let Stream {
            to_child,
            mut child,
            ..
        } = self;
        drop(to_child);
        let status = child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{NAME} bench child failed: {status}"
            )))
        }
    }
}

impl Impl {
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

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let input = inherited(args.get(1))?;
    let output = inherited(args.get(2))?;
    match role {
        // Reads VOLUME bytes, signals, again, until the end of data.
        "sink-pipework" => {
            let r = PipeReader::try_from(input)?;
            let w = PipeWriter::try_from(output)?;
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0;
            loop {
                match (&r).read(&mut buf)? {
                    0 => return Ok(()),
                    n => got += n,
                }
                if got == VOLUME {
                    got = 0;
                    signal(&w)?;
                }
            }
        }
        "sink-raw" => {
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0;
            loop {
                match rustix::io::read(&input, &mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => got += n,
                    Err(Errno::INTR) => continue,
                    Err(e) => return Err(e.into()),
                }
                if got == VOLUME {
                    got = 0;
                    raw_write_all(&output, b"!")?;
                }
            }
        }
        "echo-pipework" => {
            let mut r = PipeReader::try_from(input)?;
            let mut w = PipeWriter::try_from(output)?;
            let mut message = [0u8; MESSAGE];
            while read_message(|b| r.read(b), &mut message)? {
                w.write_all(&message)?;
            }
            Ok(())
        }
        "echo-raw" => {
            let mut message = [0u8; MESSAGE];
            while read_message(|b| Ok(rustix::io::read(&input, b)?), &mut message)? {
                raw_write_all(&output, &message)?;
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
