//! The `os_pipe` crate's anonymous pipe, its ends handed to the child by inheritance.

use std::io;

use pipework_cli::workload::{inherited, Link, Session, Stream, Workload};

use super::{spawn_child, Implementation};

/// `os_pipe`.
pub const IMPLEMENTATION: Implementation = Implementation {
    id: "os-pipe",
    label: "os_pipe",
    pipework: false,
    how: "`os_pipe::pipe()`, ends inherited by the child",
    start,
    child,
};

fn start(me: &Implementation, workload: Workload) -> io::Result<Session> {
    let (to_r, to_w) = ::os_pipe::pipe()?;
    let (from_r, from_w) = ::os_pipe::pipe()?;
    let child = spawn_child(me.id, workload, &[], vec![to_r.into(), from_w.into()])?;
    Ok(Session::new(me.label, Stream::boxed(from_r, to_w), child))
}

fn child(args: &[String]) -> io::Result<Box<dyn Link>> {
    let input = ::os_pipe::PipeReader::from(inherited(args.first())?);
    let output = ::os_pipe::PipeWriter::from(inherited(args.get(1))?);
    Ok(Stream::boxed(input, output))
}
