//! std's anonymous pipe, `std::io::pipe()`, its ends handed to the child by inheritance.

use std::io;

use pipework_cli::workload::{inherited, Link, Session, Stream, Workload};

use super::{spawn_child, Implementation};

/// `std::io::pipe`.
pub const IMPLEMENTATION: Implementation = Implementation {
    id: "std-pipe",
    label: "std::io::pipe",
    pipework: false,
    how: "`std::io::pipe()`, ends inherited by the child",
    start,
    child,
};

fn start(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let (to_r, to_w) = io::pipe()?;
    let (from_r, from_w) = io::pipe()?;
    let child = spawn_child(me.id, workload, &[], vec![to_r.into(), from_w.into()])?;
    Ok(Session::new(me.label, Stream::boxed(from_r, to_w), child))
}

fn child(args: &[String]) -> io::Result<Box<dyn Link>> {
    let input = io::PipeReader::from(inherited(args.first())?);
    let output = io::PipeWriter::from(inherited(args.get(1))?);
    Ok(Stream::boxed(input, output))
}
