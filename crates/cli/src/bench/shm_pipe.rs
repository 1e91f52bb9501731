//! `shm-pipe`: the shared-memory pipe beside the kernel's pipe read and written by hand:
//! throughput (64 KiB writes, 1 GiB; the child reading with `read`, and reading in place with
//! the zero-copy `fill_buf_in_place`), 64-byte round trip with the default adaptive spin, the
//! same round trip with the spin switched off (every wait sleeps on a futex), and the default
//! round trip with both processes on one CPU (where a spin can only delay the peer). One more
//! figure puts the no-spin round trip beside a bare futex ping-pong written by hand
//! ([`super::doorbell`]): the floor of every design that sleeps on each wait.

use std::io::{self, Write};
use std::time::Duration;

use pipework::shm_pipe::{ShmPipeOptions, ShmReader, ShmWriter};

use super::anonymous_pipe::{raw_child, raw_peer};
use super::stream::{self, Peer};
use super::{doorbell, inherited, on_one_cpu, Figure, Mechanism, Samples, Settings};

/// The `shm-pipe` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism {
    name: NAME,
    run,
    child,
};

const NAME: &str = "shm-pipe";
const BASELINE: &str = "raw kernel pipe";

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    // The child reading with `read`, and reading in place, beside one kernel pipe.
    let (mut copying, mut in_place, mut raw) = (
        shm_peer("sink", true)?,
        shm_peer("sinkinplace", true)?,
        raw_peer(NAME, "sink")?,
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

    let (mut ours, mut raw) = (shm_peer("echo", true)?, raw_peer(NAME, "echo")?);
    let spinning = stream::round_trips(settings, "shm-pipe round trip", &mut ours, &mut raw)?;
    ours.finish()?;
    raw.finish()?;

    // No spin, beside the kernel pipe and beside a bare futex ping-pong.
    let (mut ours, mut raw, mut floor) = (
        shm_peer("echo", false)?,
        raw_peer(NAME, "echo")?,
        doorbell::peer(NAME, "echo")?,
    );
    for peer in [&mut ours, &mut raw, &mut floor] {
        peer.round_trips(stream::WARM_UP)?;
    }
    let [no_spin_s, raw_s, floor_s] = settings.collect_three(
        "shm-pipe no-spin round trip",
        settings.round_trip_batches(),
        [
            &mut || ours.round_trips(stream::BATCH),
            &mut || raw.round_trips(stream::BATCH),
            &mut || floor.round_trips(stream::BATCH),
        ],
    )?;
    ours.finish()?;
    raw.finish()?;
    floor.finish()?;
    let no_spin = Samples::of(no_spin_s.clone(), raw_s);
    let beside_floor = Samples::of(no_spin_s, floor_s);

    let one_cpu = on_one_cpu(|| {
        let (mut ours, mut raw) = (shm_peer("echo", true)?, raw_peer(NAME, "echo")?);
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

fn spin(spinning: bool) -> Duration {
    if spinning {
        ShmPipeOptions::default_spin()
    } else {
        Duration::ZERO
    }
}

fn shm_peer(role: &str, spinning: bool) -> io::Result<Peer> {
    let mut options = ShmPipeOptions::new();
    options.spin(spin(spinning));
    let (to_r, mut to_w) = options.create()?;
    let (mut from_r, from_w) = options.create()?;
    to_w.set_spin(spin(spinning));
    from_r.set_spin(spin(spinning));
    let mode = if spinning { "spin" } else { "block" };
    Peer::start(
        NAME,
        &format!("{role}-{mode}"),
        vec![to_r.into(), from_w.into()],
        Box::new(to_w),
        Box::new(from_r),
    )
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    if role == "echo-futex" {
        let (from_parent, to_parent) = doorbell::child_ends(inherited(args.get(1))?)?;
        return stream::echo(from_parent, to_parent);
    }
    let input = inherited(args.get(1))?;
    let output = inherited(args.get(2))?;
    if let Some(result) = raw_child(role, input.try_clone()?, output.try_clone()?) {
        return result;
    }
    let (workload, mode) = role.split_once('-').unwrap_or((role, ""));
    let mut r = ShmReader::try_from(input)?;
    let mut w = ShmWriter::try_from(output)?;
    r.set_spin(spin(mode == "spin"));
    w.set_spin(spin(mode == "spin"));
    match workload {
        "sink" => stream::sink(r, w),
        "sinkinplace" => sink_in_place(r, w),
        "echo" => stream::echo(r, w),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no {NAME} role {other:?}"),
        )),
    }
}

/// The throughput workload's child, taking each stretch of bytes where it lies in the ring
/// (`fill_buf_in_place` / `consume`) instead of copying it out: pipework's zero-copy read. It
/// looks at the lengths only, as a receiver that hands the bytes on by reference would; one that
/// parses them where they lie pays for that reading on top.
fn sink_in_place(mut input: ShmReader, mut output: ShmWriter) -> io::Result<()> {
    let mut got = 0;
    loop {
        // SAFETY: the writer is the bench's own parent writing through a ShmWriter, which never
        // touches bytes it has published until they are consumed.
        let n = unsafe { input.fill_buf_in_place()? }
            .len()
            .min(stream::VOLUME - got);
        if n == 0 {
            return Ok(());
        }
        input.consume(n);
        got += n;
        if got == stream::VOLUME {
            got = 0;
            output.write_all(b"!")?;
        }
    }
}
