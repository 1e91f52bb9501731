//! `anonymous-pipe`: throughput (64 KiB writes, 1 GiB) and 64-byte round trip between two
//! processes, pipework's `PipeReader`/`PipeWriter` beside pipe2/read/write by hand.
//!
//! Both sides run at once: one child per implementation stays up for the whole measurement and
//! the samples of pipework and of the baseline alternate, so a burst of load on this shared
//! machine hits both alike.

use std::io;
use std::os::fd::OwnedFd;

use pipework::pipe::{self, PipeReader, PipeWriter};

use super::stream::{self, Peer, RawFd};
use super::{inherited, Figure, Mechanism, Settings};

/// The `anonymous-pipe` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism {
    name: NAME,
    run,
    child,
};

const NAME: &str = "anonymous-pipe";

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let (mut ours, mut raw) = (pipework_peer("sink")?, raw_peer(NAME, "sink")?);
    let throughput =
        stream::throughput(settings, "anonymous-pipe throughput", &mut ours, &mut raw)?;
    ours.finish()?;
    raw.finish()?;

    let (mut ours, mut raw) = (pipework_peer("echo")?, raw_peer(NAME, "echo")?);
    let round_trip =
        stream::round_trips(settings, "anonymous-pipe round trip", &mut ours, &mut raw)?;
    ours.finish()?;
    raw.finish()?;
    Ok(vec![
        Figure::higher_is_better(NAME, "throughput", "GiB/s", "raw pipe", &throughput),
        Figure::lower_is_better(NAME, "round_trip", "us", "raw pipe", &round_trip),
    ])
}

/// A child of `mechanism` playing `role` (`sink` or `echo`) over two raw pipes, read and written
/// by hand: the baseline for every byte-stream mechanism.
pub fn raw_peer(mechanism: &'static str, role: &str) -> io::Result<Peer> {
    let flags = rustix::pipe::PipeFlags::CLOEXEC;
    let (to_r, to_w) = rustix::pipe::pipe_with(flags)?;
    let (from_r, from_w) = rustix::pipe::pipe_with(flags)?;
    Peer::start(
        mechanism,
        &format!("{role}-raw"),
        vec![to_r, from_w],
        Box::new(RawFd(to_w)),
        Box::new(RawFd(from_r)),
    )
}

fn pipework_peer(role: &str) -> io::Result<Peer> {
    let (to_r, to_w) = pipe::create()?;
    let (from_r, from_w) = pipe::create()?;
    Peer::start(
        NAME,
        &format!("{role}-pipework"),
        vec![to_r.into(), from_w.into()],
        Box::new(to_w),
        Box::new(from_r),
    )
}

/// The child roles of the raw baseline, for any mechanism that uses [`raw_peer`].
pub fn raw_child(role: &str, input: OwnedFd, output: OwnedFd) -> Option<io::Result<()>> {
    match role {
        "sink-raw" => Some(stream::sink(RawFd(input), RawFd(output))),
        "echo-raw" => Some(stream::echo(RawFd(input), RawFd(output))),
        _ => None,
    }
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let input = inherited(args.get(1))?;
    let output = inherited(args.get(2))?;
    match role {
        "sink-pipework" => {
            stream::sink(PipeReader::try_from(input)?, PipeWriter::try_from(output)?)
        }
        "echo-pipework" => {
            stream::echo(PipeReader::try_from(input)?, PipeWriter::try_from(output)?)
        }
        other => raw_child(other, input, output).unwrap_or_else(|| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no {NAME} role {other:?}"),
            ))
        }),
    }
}
