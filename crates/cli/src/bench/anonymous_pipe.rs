//! `anonymous-pipe`: throughput (64 KiB writes, 1 GiB) and 64-byte round trip between two
//! processes, pipework's `PipeReader`/`PipeWriter` beside pipe2/read/write by hand; and a file
//! sent to a child through a pipe, moved by `splice` (`PipeWriter::splice_from`, the zero-copy
//! path) beside `read` + `write` through a buffer by hand.
//!
//! Both sides run at once: one child per implementation stays up for the whole measurement and
//! the samples of pipework and of the baseline alternate, so a burst of load on this shared
//! machine hits both alike.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;

use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework_cli::workload::{self, inherited, Session, Stream, Workload, CHUNK};

use super::stream::{self, raw_child, raw_session, RawFd};
use super::{Figure, Mechanism, Settings};

/// The `anonymous-pipe` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new(NAME, run, child);

const NAME: &str = "anonymous-pipe";

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let (throughput, round_trip) =
        stream::throughput_and_round_trips(settings, NAME, pipework_session, |workload| {
            raw_session(NAME, workload)
        })?;

    let from_file = stream::finished(
        stream::throughput,
        settings,
        "anonymous-pipe file by splice",
        feeder_session(true)?,
        feeder_session(false)?,
    )?;
    Ok(vec![
        Figure::higher_is_better(NAME, "throughput", "GiB/s", "raw pipe", &throughput),
        Figure::lower_is_better(NAME, "round_trip", "us", "raw pipe", &round_trip),
        Figure::higher_is_better(
            NAME,
            "file_to_child",
            "GiB/s",
            "read+write by hand",
            &from_file,
        ),
    ])
}

/// The pipe size of the file-to-child figure, both ways of feeding it.
const FEED_PIPE: usize = 1 << 20;

/// Bytes of the file sent round and round by the file-to-child figure.
const FILE_SIZE: usize = 64 << 20;

/// A file of [`FILE_SIZE`] bytes in the temporary directory, already gone from it (only the
/// open handle keeps it), so that nothing is left behind whatever happens.
fn scratch_file() -> io::Result<File> {
    let path = std::env::temp_dir().join(format!("pipework-bench-{}.data", std::process::id()));
    let mut file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    let block = vec![0x5au8; 1 << 20];
    for _ in 0..FILE_SIZE / block.len() {
        file.write_all(&block)?;
    }
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// The parent's side of the file-to-child figure: each `write` moves as many bytes as it is
/// given from the file into the pipe (what it is given is ignored: the file is the data),
/// starting the file over at its end, so the throughput workload drives it unchanged.
struct FileFeeder {
    file: File,
    pipe: Feed,
}

enum Feed {
    /// pipework's zero-copy path: the kernel moves the file's pages into the pipe.
    Splice(PipeWriter),
    /// By hand: `read` the file into a buffer, `write` the buffer into the pipe.
    Copy(RawFd, Vec<u8>),
}

impl Write for FileFeeder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut left = buf.len();
        while left > 0 {
            let moved = match &mut self.pipe {
                Feed::Splice(pipe) => pipe.splice_from(&self.file, left)?,
                Feed::Copy(pipe, scratch) => {
                    let want = left.min(scratch.len());
                    let n = self.file.read(&mut scratch[..want])?;
                    pipe.write_all(&scratch[..n])?;
                    n
                }
            };
            if moved == 0 {
                self.file.seek(SeekFrom::Start(0))?;
            }
            left -= moved;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink child fed from a file, by `splice` or by hand; the child reads the same way in both
/// (the raw baseline's child).
fn feeder_session(splice: bool) -> io::Result<Session> {
    let file = scratch_file()?;
    // Both pipes hold 1 MiB, so that wake-ups are few and the copies (or their absence) show.
    let (to_r, pipe): (OwnedFd, Feed) = if splice {
        let (r, w) = pipe::PipeOptions::new().buffer_size(FEED_PIPE).create()?;
        (r.into(), Feed::Splice(w))
    } else {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        rustix::pipe::fcntl_setpipe_size(&w, FEED_PIPE)?;
        (r, Feed::Copy(RawFd(w), vec![0u8; CHUNK]))
    };
    let (from_r, from_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    stream::start(
        NAME,
        &stream::role(Workload::Throughput, "raw"),
        vec![to_r, from_w],
        Stream::boxed(RawFd(from_r), FileFeeder { file, pipe }),
    )
}

/// pipework's anonymous pipes both ways, a child reading and writing them as `PipeReader` and
/// `PipeWriter`.
fn pipework_session(workload: Workload) -> io::Result<Session> {
    let (to_r, to_w) = pipe::create()?;
    let (from_r, from_w) = pipe::create()?;
    stream::start(
        NAME,
        &stream::role(workload, "pipework"),
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
        _ => {
            raw_child(role, input, output).unwrap_or_else(|| Err(stream::unknown_role(NAME, role)))
        }
    }
}
