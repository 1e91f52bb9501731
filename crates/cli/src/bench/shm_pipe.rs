//! `shm-pipe`: the shared-memory pipe beside the kernel's pipe read and written by hand:
//! throughput (64 KiB writes, 1 GiB; the child reading with `read`, and reading in place with
//! the zero-copy `fill_buf_in_place`), 64-byte round trip with the default adaptive spin, the
//! same round trip with the spin switched off (every wait sleeps on a futex), and the default
//! round trip with both processes on one CPU (where a spin can only delay the peer). One more
//! figure puts the no-spin round trip beside a bare futex ping-pong written by hand
//! ([`super::doorbell`]): the floor of every design that sleeps on each wait.

use std::io;
use std::time::Duration;

use pipework::shm_pipe::{ShmPipeOptions, ShmReader, ShmWriter};
use pipework_cli::workload::{self, inherited, InPlace, Link, Session, Stream, Workload};

use super::stream::{self, raw_child, raw_session};
use super::{doorbell, on_one_cpu, Figure, Mechanism, Samples, Settings};

/// The `shm-pipe` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new(NAME, run, child);

const NAME: &str = "shm-pipe";
const BASELINE: &str = "raw kernel pipe";

/// How the child of a shared-memory pipe session waits and reads.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The default adaptive spin, reading with `read`.
    Spin,
    /// No spin: every wait sleeps on a futex.
    Block,
    /// The default spin, reading in place (`fill_buf_in_place`).
    InPlace,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Spin => "spin",
            Mode::Block => "block",
            Mode::InPlace => "inplace",
        }
    }

    fn from_name(name: &str) -> Option<Mode> {
        [Mode::Spin, Mode::Block, Mode::InPlace]
            .into_iter()
            .find(|m| m.name() == name)
    }

    fn spin(self) -> Duration {
        match self {
            Mode::Block => Duration::ZERO,
            Mode::Spin | Mode::InPlace => ShmPipeOptions::default_spin(),
        }
    }
}

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    // The child reading with `read`, and reading in place, beside one kernel pipe.
    let (mut copying, mut in_place, mut raw) = (
        shm_session(Workload::Throughput, Mode::Spin)?,
        shm_session(Workload::Throughput, Mode::InPlace)?,
        raw_session(NAME, Workload::Throughput)?,
    );
    let [copying_s, in_place_s, raw_s] = settings.collect_three(
        "shm-pipe throughput",
        settings.runs,
        [
            &mut || copying.throughput(),
            &mut || in_place.throughput(),
            &mut || raw.throughput(),
        ],
    )?;
    copying.finish()?;
    in_place.finish()?;
    raw.finish()?;
    let throughput = Samples::of(copying_s, raw_s.clone());
    let in_place = Samples::of(in_place_s, raw_s);

    let spinning = stream::finished(
        stream::round_trips,
        settings,
        "shm-pipe round trip",
        shm_session(Workload::RoundTrip, Mode::Spin)?,
        raw_session(NAME, Workload::RoundTrip)?,
    )?;

    // No spin, beside the kernel pipe and beside a bare futex ping-pong.
    let (mut ours, mut raw, mut floor) = (
        shm_session(Workload::RoundTrip, Mode::Block)?,
        raw_session(NAME, Workload::RoundTrip)?,
        doorbell::session(NAME, Workload::RoundTrip)?,
    );
    for session in [&mut ours, &mut raw, &mut floor] {
        session.round_trips(workload::WARM_UP)?;
    }
    let [no_spin_s, raw_s, floor_s] = settings.collect_three(
        "shm-pipe no-spin round trip",
        settings.round_trip_batches(),
        [
            &mut || ours.round_trips(workload::BATCH),
            &mut || raw.round_trips(workload::BATCH),
            &mut || floor.round_trips(workload::BATCH),
        ],
    )?;
    ours.finish()?;
    raw.finish()?;
    floor.finish()?;
    let no_spin = Samples::of(no_spin_s.clone(), raw_s);
    let beside_floor = Samples::of(no_spin_s, floor_s);

    let one_cpu = on_one_cpu(|| {
        let (mut ours, mut raw) = (
            shm_session(Workload::RoundTrip, Mode::Spin)?,
            raw_session(NAME, Workload::RoundTrip)?,
        );
        let samples = stream::round_trips(
            settings,
            "shm-pipe round trip on one CPU",
            &mut ours,
            &mut raw,
        )?;
        ours.finish()?;
        raw.finish()?;
        Ok(samples)
    })?;
    Ok(vec![
        Figure::higher_is_better(NAME, "throughput", "GiB/s", BASELINE, &throughput),
        Figure::higher_is_better(NAME, "throughput_in_place", "GiB/s", BASELINE, &in_place),
        Figure::lower_is_better(NAME, "round_trip", "us", BASELINE, &spinning),
        Figure::lower_is_better(NAME, "round_trip_no_spin", "us", BASELINE, &no_spin),
        Figure::lower_is_better(
            NAME,
            "no_spin_vs_futex",
            "us",
            "raw futex ping-pong",
            &beside_floor,
        ),
        Figure::lower_is_better(NAME, "round_trip_one_cpu", "us", BASELINE, &one_cpu),
    ])
}

/// A shared-memory pipe each way, the parent reading and writing them with the spin of `mode`,
/// and a child running `workload` as `mode` says.
fn shm_session(workload: Workload, mode: Mode) -> io::Result<Session> {
    let mut options = ShmPipeOptions::new();
    options.spin(mode.spin());
    let (to_r, mut to_w) = options.create()?;
    let (mut from_r, from_w) = options.create()?;
    to_w.set_spin(mode.spin());
    from_r.set_spin(mode.spin());
    stream::start(
        NAME,
        &stream::role(workload, mode.name()),
        vec![to_r.into(), from_w.into()],
        Stream::boxed(from_r, to_w),
    )
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let (workload, how) = stream::split_role(role);
    if how == doorbell::HOW {
        return doorbell::child(Workload::from_role(workload)?, inherited(args.get(1))?);
    }
    let input = inherited(args.get(1))?;
    let output = inherited(args.get(2))?;
    let Some(mode) = Mode::from_name(how) else {
        return raw_child(role, input, output)
            .unwrap_or_else(|| Err(stream::unknown_role(NAME, role)));
    };
    let workload = Workload::from_role(workload)?;
    let mut r = ShmReader::try_from(input)?;
    let mut w = ShmWriter::try_from(output)?;
    r.set_spin(mode.spin());
    w.set_spin(mode.spin());
    let link: Box<dyn Link> = match mode {
        // Each stretch whole, as it lies in the ring.
        Mode::InPlace => Box::new(InPlace::new(r, w, usize::MAX)),
        Mode::Spin | Mode::Block => Stream::boxed(r, w),
    };
    workload::serve(workload, link)
}
