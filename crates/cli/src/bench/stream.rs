//! The byte-stream workloads ([`pipework_cli::workload`]) as `pipework bench` runs them: a child
//! of this binary per implementation, samples of pipework and of its baseline alternated; and
//! their raw baseline, a kernel pipe read and written with plain `read(2)` / `write(2)` by hand,
//! which every byte-stream mechanism is measured beside.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use pipework_cli::workload::{self, Link, Session, Stream, Workload, BATCH, WARM_UP};
use rustix::io::Errno;

use super::{spawn_child, Samples, Settings};

/// Starts `role` of `mechanism` with `handles`, and talks to it through `link`.
pub fn start(
    mechanism: &'static str,
    role: &str,
    handles: Vec<OwnedFd>,
    link: Box<dyn Link>,
) -> io::Result<Session> {
    let child = spawn_child(mechanism, role, &[], handles)?;
    Ok(Session::new(mechanism, link, child))
}

/// Throughput medians of two sessions measured alternately.
pub fn throughput(
    settings: &Settings,
    label: &str,
    ours: &mut Session,
    raw: &mut Session,
) -> io::Result<Samples> {
    settings.collect(
        label,
        settings.runs,
        || ours.throughput(),
        || raw.throughput(),
    )
}

/// Round-trip medians of two sessions measured alternately, after a warm-up.
pub fn round_trips(
    settings: &Settings,
    label: &str,
    ours: &mut Session,
    raw: &mut Session,
) -> io::Result<Samples> {
    ours.round_trips(WARM_UP)?;
    raw.round_trips(WARM_UP)?;
    settings.collect(
        label,
        settings.round_trip_batches(),
        || ours.round_trips(BATCH),
        || raw.round_trips(BATCH),
    )
}

/// A measurement of two sessions: [`throughput`] or [`round_trips`].
pub type Measure = fn(&Settings, &str, &mut Session, &mut Session) -> io::Result<Samples>;

/// What `measure` gives for two sessions, which are finished after.
pub fn finished(
    measure: Measure,
    settings: &Settings,
    label: &str,
    mut ours: Session,
    mut raw: Session,
) -> io::Result<Samples> {
    let samples = measure(settings, label, &mut ours, &mut raw)?;
    ours.finish()?;
    raw.finish()?;
    Ok(samples)
}

/// Throughput and round trips of `mechanism` (sessions started by `ours`) beside its baseline
/// (started by `raw`), each pair of sessions finished after.
pub fn throughput_and_round_trips(
    settings: &Settings,
    mechanism: &str,
    ours: impl Fn(Workload) -> io::Result<Session>,
    raw: impl Fn(Workload) -> io::Result<Session>,
) -> io::Result<(Samples, Samples)> {
    let measured = |measure: Measure, workload: Workload, what: &str| {
        let label = format!("{mechanism} {what}");
        finished(measure, settings, &label, ours(workload)?, raw(workload)?)
    };
    Ok((
        measured(throughput, Workload::Throughput, "throughput")?,
        measured(round_trips, Workload::RoundTrip, "round trip")?,
    ))
}

/// The role of a child running `workload` on the implementation `how` (`sink-raw`, ...); a
/// child splits it with [`split_role`].
pub fn role(workload: Workload, how: &str) -> String {
    format!("{}-{how}", workload.role())
}

/// A child's role: its workload role (`sink`, `echo`, or another a mechanism knows) and how.
pub fn split_role(role: &str) -> (&str, &str) {
    role.split_once('-').unwrap_or((role, ""))
}

/// The error for a role a mechanism's child does not know.
pub fn unknown_role(mechanism: &str, role: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("no {mechanism} role {role:?}"),
    )
}

/// A file descriptor read and written with plain `read(2)` / `write(2)` by hand: the raw
/// baseline's way.
pub struct RawFd(pub OwnedFd);

impl Read for RawFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match rustix::io::read(&self.0, &mut *buf) {
                Err(Errno::INTR) => continue,
                other => return Ok(other?),
            }
        }
    }
}

impl Write for RawFd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match rustix::io::write(&self.0, &buf[done..]) {
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(done)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The raw baseline: a child of `mechanism` running `workload` over two kernel pipes, each side
/// reading and writing them by hand.
pub fn raw_session(mechanism: &'static str, workload: Workload) -> io::Result<Session> {
    let flags = rustix::pipe::PipeFlags::CLOEXEC;
    let (to_r, to_w) = rustix::pipe::pipe_with(flags)?;
    let (from_r, from_w) = rustix::pipe::pipe_with(flags)?;
    start(
        mechanism,
        &role(workload, "raw"),
        vec![to_r, from_w],
        Stream::boxed(RawFd(from_r), RawFd(to_w)),
    )
}

/// The child of a raw session (or of any child that reads and writes `input` and `output` by
/// hand): `None` when `role` is not a raw one.
pub fn raw_child(role: &str, input: OwnedFd, output: OwnedFd) -> Option<io::Result<()>> {
    match split_role(role) {
        (workload, "raw") => Some(Workload::from_role(workload).and_then(|workload| {
            workload::serve(workload, Stream::boxed(RawFd(input), RawFd(output)))
        })),
        _ => None,
    }
}
