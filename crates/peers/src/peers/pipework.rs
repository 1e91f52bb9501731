//! pipework's own mechanisms: the anonymous pipe and the shared-memory pipe (default adaptive
//! spin, no spin at all, and zero-copy receiving in place), their ends handed to the
//! child by inheritance.

use std::io;
use std::time::Duration;

use pipework::shm_pipe::{ShmPipeOptions, ShmReader, ShmWriter};
use pipework_cli::workload::{inherited, InPlace, Link, Session, Stream, Workload, CHUNK};

use super::{spawn_child, Implementation};

/// `pipework::pipe`.
pub const PIPE: Implementation = Implementation {
    id: "pipework-pipe",
    label: "pipework::pipe",
    pipework: true,
    how: "anonymous pipe (`pipework::pipe::create`), ends inherited by the child",
    start: start_pipe,
    child: child_pipe,
};

/// `pipework::shm_pipe` with its default adaptive spin.
pub const SHM_SPIN: Implementation = Implementation {
    id: "pipework-shm-spin",
    label: "pipework::shm_pipe",
    pipework: true,
    how: "shared-memory pipe, default adaptive spin before sleeping on a futex",
    start: start_shm,
    child: child_shm_spin,
};

/// `pipework::shm_pipe` with its spin switched off.
pub const SHM_BLOCK: Implementation = Implementation {
    id: "pipework-shm-block",
    label: "pipework::shm_pipe (no spin)",
    pipework: true,
    how: "shared-memory pipe, `ShmPipeOptions::spin(Duration::ZERO)`: every wait sleeps on a futex",
    start: start_shm,
    child: child_shm_block,
};

/// `pipework::shm_pipe` with the receiver reading in place.
pub const SHM_IN_PLACE: Implementation = Implementation {
    id: "pipework-shm-in-place",
    label: "pipework::shm_pipe (in place)",
    pipework: true,
    how: "shared-memory pipe, default adaptive spin; the receiver looks at each chunk where it lies in the ring (`fill_buf_in_place` / `consume`) instead of copying it out, as iceoryx2's subscriber does with its samples",
    start: start_shm,
    child: child_shm_in_place,
};

fn start_pipe(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let (to_r, to_w) = pipework::pipe::create()?;
    let (from_r, from_w) = pipework::pipe::create()?;
    let child = spawn_child(me.id, workload, &[], vec![to_r.into(), from_w.into()])?;
    Ok(Session::new(me.label, Stream::boxed(from_r, to_w), child))
}

fn child_pipe(args: &[String]) -> io::Result<Box<dyn Link>> {
    let input = pipework::pipe::PipeReader::try_from(inherited(args.first())?)?;
    let output = pipework::pipe::PipeWriter::try_from(inherited(args.get(1))?)?;
    Ok(Stream::boxed(input, output))
}

fn spin(me: &Implementation) -> Duration {
    if me.id == SHM_BLOCK.id {
        Duration::ZERO
    } else {
        ShmPipeOptions::default_spin()
    }
}

fn start_shm(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let mut options = ShmPipeOptions::new();
    options.spin(spin(me));
    let (to_r, to_w) = options.create()?;
    let (from_r, from_w) = options.create()?;
    let child = spawn_child(me.id, workload, &[], vec![to_r.into(), from_w.into()])?;
    let link: Box<dyn Link> = if me.id == SHM_IN_PLACE.id {
        Box::new(InPlace::new(from_r, to_w, CHUNK))
    } else {
        Stream::boxed(from_r, to_w)
    };
    Ok(Session::new(me.label, link, child))
}

fn child_shm(args: &[String], spin: Duration) -> io::Result<Box<dyn Link>> {
    let mut input = ShmReader::try_from(inherited(args.first())?)?;
    let mut output = ShmWriter::try_from(inherited(args.get(1))?)?;
    input.set_spin(spin);
    output.set_spin(spin);
    Ok(Stream::boxed(input, output))
}

fn child_shm_spin(args: &[String]) -> io::Result<Box<dyn Link>> {
    child_shm(args, ShmPipeOptions::default_spin())
}

fn child_shm_block(args: &[String]) -> io::Result<Box<dyn Link>> {
    child_shm(args, Duration::ZERO)
}

fn child_shm_in_place(args: &[String]) -> io::Result<Box<dyn Link>> {
    Ok(Box::new(InPlace::new(
        ShmReader::try_from(inherited(args.first())?)?,
        ShmWriter::try_from(inherited(args.get(1))?)?,
        CHUNK,
    )))
}
