//! `pipework shm listen|send`: shared-memory pipes met by name, from the shell. A listener copies
//! what each writer sends to its standard output, writers one after another; a sender streams
//! its standard input into a new pipe to the listener.

use std::io::{self, Read, Write};

use clap::Subcommand;
use pipework::shm_pipe::{ShmPipeOptions, ShmWriter};

/// Bytes moved per read or write.
const CHUNK: usize = 256 << 10;

/// Options of `pipework shm`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Listen on NAME and copy what each writer sends to standard output, one writer after
    /// another (says "listening" on standard error once writers can connect).
    Listen {
        /// The pipe's name (this user's own: others cannot connect).
        name: String,
        /// Stop after this many writers (default: serve until killed).
        #[arg(long)]
        count: Option<u64>,
        /// Ring capacity in bytes for each writer's pipe (rounded up to a power of two).
        #[arg(long, default_value_t = 1 << 20)]
        capacity: usize,
    },
    /// Connect to NAME and send standard input through a new pipe.
    Send {
        /// The pipe's name.
        name: String,
    },
}

/// Runs `pipework shm ...`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::Listen {
            name,
            count,
            capacity,
        } => {
            let listener = ShmPipeOptions::new().capacity(*capacity).listen(name)?;
            eprintln!("listening");
            let mut out = io::stdout().lock();
            let mut served = 0;
            while count.is_none_or(|c| served < c) {
                let mut reader = listener.accept()?;
                copy(&mut reader, &mut out)?;
                out.flush()?;
                served += 1;
            }
            Ok(())
        }
        Command::Send { name } => {
            let mut writer = ShmWriter::connect(name)?;
            copy(&mut io::stdin().lock(), &mut writer)
        }
    }
}

/// Copies until the end of `from`, in large pieces.
fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
