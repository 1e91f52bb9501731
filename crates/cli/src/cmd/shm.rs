//! `pipework shm listen|send`: shared-memory pipes met by name, from the shell. A listener copies
//! what each writer sends to its standard output, writers one after another; a sender streams
//! its standard input into a new pipe to the listener.

use std::io::{self, Read, Write};

use clap::Subcommand;
use pipework::shm_pipe::{ShmPipeOptions, ShmWriter};

use crate::output::{self, note};

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
    /// another (says "listening" on standard error once writers can connect). A writer that
    /// fails or dies mid-stream is reported on standard error, and the next one is served.
    Listen {
        /// The pipe's name (this user's own: others cannot connect).
        name: String,
        /// Stop after this many writers (default: serve until killed).
        #[arg(long)]
        count: Option<u64>,
        /// Ring capacity in bytes for each writer's pipe (rounded up to a power of two, at most
        /// 1 GiB).
        #[arg(long, default_value_t = 1 << 20, value_parser = capacity)]
        capacity: usize,
    },
    /// Connect to NAME and send standard input through a new pipe.
    Send {
        /// The pipe's name.
        name: String,
    },
}

/// The largest ring `ShmPipeOptions::capacity` takes (documented there: 1 GiB).
const MAX_CAPACITY: usize = 1 << 30;

/// Clap's parser of `--capacity`, so that a ring too large fails before "listening" rather
/// than when the first writer comes.
fn capacity(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(bytes) if bytes <= MAX_CAPACITY => Ok(bytes),
        _ => Err(format!(
            "--capacity must be a number of bytes up to 1 GiB ({MAX_CAPACITY})"
        )),
    }
}

/// Runs `pipework shm ...`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::Listen {
            name,
            count,
            capacity,
        } => listen(name, *count, *capacity),
        Command::Send { name } => {
            let mut writer = ShmWriter::connect(name)?;
            match copy(&mut io::stdin().lock(), &mut writer)? {
                Ended::Done => Ok(()),
                Ended::ReadFailed(e) => Err(e),
            }
        }
    }
}

/// Serves writers one after another until `count` of them have been (for ever without it).
fn listen(name: &str, count: Option<u64>, capacity: usize) -> io::Result<()> {
    let listener = ShmPipeOptions::new().capacity(capacity).listen(name)?;
    note!("listening");
    let mut out = output::stdout();
    let mut served = 0;
    while count.is_none_or(|c| served < c) {
        let mut reader = match listener.accept() {
            Ok(reader) => reader,
            // A writer that went wrong while connecting: the listener itself is fine.
            Err(e) if writer_fault(&e) => {
                note!("pipework: {}", output::error(&e));
                continue;
            }
            Err(e) => return Err(e),
        };
        served += 1;
        // Whatever the writer does, what it sent before is passed on; writing to standard
        // output failing ends the listener, a writer failing ends only its turn.
        let ended = copy(&mut reader, &mut out)?;
        out.flush()?;
        if let Ended::ReadFailed(e) = ended {
            note!(
                "pipework: shared-memory pipe {}: writer {served}: {}",
                output::escape(name),
                output::error(&e)
            );
        }
    }
    Ok(())
}

/// Whether an error of `accept` comes from the writer being set up (which may have died or
/// sent garbage) rather than from the listener.
fn writer_fault(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | BrokenPipe | UnexpectedEof | InvalidData | TimedOut
    )
}

/// How a copy ended, when writing did not fail.
enum Ended {
    /// At the end of the input.
    Done,
    /// Reading the input failed.
    ReadFailed(io::Error),
}

/// Copies until the end of `from`, in large pieces. `Err` when writing to `to` fails.
fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<Ended> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(Ended::Done),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Ok(Ended::ReadFailed(e)),
        }
    }
}
