//! `pipework __bench-child MECHANISM ROLE ARGS...` (hidden): the far side of a benchmark,
//! started by `pipework bench` itself.

use std::io;

/// Options of `pipework __bench-child`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Mechanism, role and role arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Runs one bench child.
pub fn run(args: &Args) -> io::Result<()> {
    crate::bench::child(&args.args)
}
