//! What every command prints goes through here: [`stdout`] for its output, [`note!`] for a line
//! on standard error.
//!
//! Rust ignores `SIGPIPE`, so a reader of standard output that goes away (`pipework list | head
//! -1`) shows up as `EPIPE` on the next write, which `println!` turns into a panic. Written
//! through [`stdout`], that write fails with an error [`is_closed`] recognises, and `main` ends
//! the command quietly. A line that cannot be written to standard error is dropped: there is
//! nowhere left to say so.

use std::fmt;
use std::io::{self, Write};

/// Standard output, locked for as long as this lives. Write to it with `write!` / `writeln!`
/// and `?`; an `EPIPE` comes back as an error that [`is_closed`] recognises.
pub struct Stdout(io::StdoutLock<'static>);

/// Standard output, for one command's output.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(closed)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(closed)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(closed)
    }
}

/// The reader of standard output went away.
#[derive(Debug)]
struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for Closed {}

/// Marks `EPIPE` on standard output as [`Closed`], so that it cannot be mistaken for a broken
/// pipe to a peer (which is a real error).
fn closed(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, Closed)
    } else {
        e
    }
}

/// Whether `e` says that the reader of standard output went away.
pub fn is_closed(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Closed>())
}

/// Writes one line to standard error, dropped if standard error is gone.
pub fn note_line(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `eprintln!` that never panics: one line to standard error, dropped if standard error is gone.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::note_line(format_args!($($arg)*))
    };
}

pub(crate) use note;
