//! `win32`: the 64-byte round trip of `anonymous-pipe` through the C ABI (`WriteFile` /
//! `ReadFile` on `HANDLE`s of `libpipework_win32`) beside the same pipes through pipework's Rust
//! API: the cost of the handle table and the Win32 calling convention, as a ratio.
//!
//! Both sides talk to the same kind of child (pipework's `PipeReader` / `PipeWriter` echoing),
//! one child per side for the whole measurement, samples alternated.

use std::io::{self, Read, Write};

use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework_cli::workload::{self, inherited, Session, Stream, Workload};
use pipework_win32::{adopt, CloseHandle, ReadFile, WriteFile, BOOL, DWORD, HANDLE};

use super::stream;
use super::{Figure, Mechanism, Settings};

/// The `win32` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new(NAME, run, child);

const NAME: &str = "win32";

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let mut ours = c_abi_session()?;
    let mut raw = rust_session()?;
    let round_trip = stream::round_trips(settings, "win32 round trip", &mut ours, &mut raw);
    let finished = ours.finish().and(raw.finish());
    let round_trip = round_trip?;
    finished?;
    Ok(vec![Figure::lower_is_better(
        NAME,
        "round_trip",
        "us",
        "Rust API",
        &round_trip,
    )])
}

/// The last Win32 error as an io::Error.
fn last_error(call: &str) -> io::Error {
    io::Error::other(format!(
        "win32: {call} failed with error {}",
        pipework_win32::GetLastError()
    ))
}

/// A pipe end in the C ABI's handle table, read and written with `ReadFile` / `WriteFile`.
struct Handle(HANDLE);

// SAFETY: a HANDLE is a number in a process-wide table, usable from any thread.
unsafe impl Send for Handle {}

impl Read for Handle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n: DWORD = 0;
        let len = buf.len().min(u32::MAX as usize) as DWORD;
        // SAFETY: `buf` holds `len` writable bytes; `n` is a DWORD; no OVERLAPPED.
        let ok: BOOL = unsafe {
            ReadFile(
                self.0,
                buf.as_mut_ptr().cast(),
                len,
                &mut n,
                std::ptr::null_mut(),
            )
        };
        if ok != 0 {
            Ok(n as usize)
        } else if pipework_win32::GetLastError() == 109 {
            Ok(0) // ERROR_BROKEN_PIPE: the end of the data
        } else {
            Err(last_error("ReadFile"))
        }
    }
}

impl Write for Handle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut n: DWORD = 0;
        let len = buf.len().min(u32::MAX as usize) as DWORD;
        // SAFETY: `buf` holds `len` readable bytes; `n` is a DWORD; no OVERLAPPED.
        let ok = unsafe {
            WriteFile(
                self.0,
                buf.as_ptr().cast(),
                len,
                &mut n,
                std::ptr::null_mut(),
            )
        };
        if ok != 0 {
            Ok(n as usize)
        } else {
            Err(last_error("WriteFile"))
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        CloseHandle(self.0);
    }
}

/// The parent's ends as C ABI handles.
fn c_abi_session() -> io::Result<Session> {
    let (to_r, to_w) = pipe::create()?;
    let (from_r, from_w) = pipe::create()?;
    let reader = Handle(adopt::pipe_reader(from_r));
    let writer = Handle(adopt::pipe_writer(to_w));
    stream::start(
        NAME,
        &stream::role(Workload::RoundTrip, "pipework"),
        vec![to_r.into(), from_w.into()],
        Stream::boxed(reader, writer),
    )
}

/// The parent's ends as pipework's Rust types.
fn rust_session() -> io::Result<Session> {
    let (to_r, to_w) = pipe::create()?;
    let (from_r, from_w) = pipe::create()?;
    stream::start(
        NAME,
        &stream::role(Workload::RoundTrip, "pipework"),
        vec![to_r.into(), from_w.into()],
        Stream::boxed(from_r, to_w),
    )
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let input = inherited(args.get(1))?;
    let output = inherited(args.get(2))?;
    match stream::split_role(role) {
        (workload, "pipework") => workload::serve(
            Workload::from_role(workload)?,
            Stream::boxed(PipeReader::try_from(input)?, PipeWriter::try_from(output)?),
        ),
        _ => Err(stream::unknown_role(NAME, role)),
    }
}
