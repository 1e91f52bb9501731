//! The two workloads every byte-stream mechanism is measured with, written once over `Read` and
//! `Write`: throughput (a volume in fixed-size writes, timed until the far side has it all) and
//! round trips (a small message echoed back). The far side is a child process.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Child;
use std::time::Instant;

use rustix::io::Errno;

use super::{spawn_child, Settings};

/// Bytes per write in the throughput workload.
pub const CHUNK: usize = 64 * 1024;
/// Bytes per throughput sample.
pub const VOLUME: usize = 1 << 30;
/// Bytes of a round-trip message.
pub const MESSAGE: usize = 64;
/// Round trips per sample.
pub const BATCH: usize = 5_000;
/// Round trips before measuring.
pub const WARM_UP: usize = 1_000;

/// A pipe read or written with plain `read(2)` / `write(2)` by hand: the raw baseline.
pub struct RawFd(pub OwnedFd);

impl Read for RawFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match rustix::io::read(&self.0, &mut *buf) {
                Err(Errno::INTR) => continue,
                other => return Ok(other?),
            }
        }
    }
}

impl Write for RawFd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match rustix::io::write(&self.0, &buf[done..]) {
                Ok(n) => done += n,
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(done)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The parent's side of a child that sinks or echoes.
pub struct Peer {
    to_child: Option<Box<dyn Write>>,
    from_child: Box<dyn Read>,
    child: Child,
    mechanism: &'static str,
}

impl Peer {
    /// Starts `role` of `mechanism` with `handles`, and talks to it through `to_child` and
    /// `from_child`.
    pub fn start(
        mechanism: &'static str,
        role: &str,
        handles: Vec<OwnedFd>,
        to_child: Box<dyn Write>,
        from_child: Box<dyn Read>,
    ) -> io::Result<Peer> {
        let child = spawn_child(mechanism, role, &[], handles)?;
        Ok(Peer {
            to_child: Some(to_child),
            from_child,
            child,
            mechanism,
        })
    }

    /// GiB/s: [`VOLUME`] bytes in [`CHUNK`] writes, until the child says it has them all.
    pub fn throughput(&mut self) -> io::Result<f64> {
        let chunk = vec![0x5au8; CHUNK];
        let to = self.to_child.as_mut().expect("open until finish");
        let start = Instant::now();
        for _ in 0..VOLUME / CHUNK {
            to.write_all(&chunk)?;
        }
        let mut ack = [0u8; 1];
        self.from_child.read_exact(&mut ack)?;
        Ok(VOLUME as f64 / (1u64 << 30) as f64 / start.elapsed().as_secs_f64())
    }

    /// Microseconds per [`MESSAGE`]-byte request and reply, over `count` round trips.
    pub fn round_trips(&mut self, count: usize) -> io::Result<f64> {
        let mut message = [7u8; MESSAGE];
        let to = self.to_child.as_mut().expect("open until finish");
        let start = Instant::now();
        for _ in 0..count {
            to.write_all(&message)?;
            self.from_child.read_exact(&mut message)?;
        }
        Ok(start.elapsed().as_secs_f64() * 1e6 / count as f64)
    }

    /// Closes the way to the child (its end of data) and waits for it.
    pub fn finish(mut self) -> io::Result<()> {
        drop(self.to_child.take());
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{} bench child failed: {status}",
                self.mechanism
            )))
        }
    }
}

/// Throughput medians of two peers measured alternately.
pub fn throughput(
    settings: &Settings,
    label: &str,
    ours: &mut Peer,
    raw: &mut Peer,
) -> io::Result<super::Samples> {
    settings.collect(
        label,
        settings.runs,
        || ours.throughput(),
        || raw.throughput(),
    )
}

/// Round-trip medians of two peers measured alternately, after a warm-up.
pub fn round_trips(
    settings: &Settings,
    label: &str,
    ours: &mut Peer,
    raw: &mut Peer,
) -> io::Result<super::Samples> {
    ours.round_trips(WARM_UP)?;
    raw.round_trips(WARM_UP)?;
    settings.collect(
        label,
        settings.round_trip_batches(),
        || ours.round_trips(BATCH),
        || raw.round_trips(BATCH),
    )
}

/// Child side of the throughput workload: reads [`VOLUME`] bytes, acknowledges, again, until
/// the end of data.
pub fn sink(mut input: impl Read, mut output: impl Write) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    loop {
        match input.read(&mut buf)? {
            0 => return Ok(()),
            n => got += n,
        }
        if got == VOLUME {
            got = 0;
            output.write_all(b"!")?;
        }
    }
}

/// Child side of the round-trip workload: echoes [`MESSAGE`]-byte messages until the end of data.
pub fn echo(mut input: impl Read, mut output: impl Write) -> io::Result<()> {
    let mut message = [0u8; MESSAGE];
    loop {
        let mut filled = 0;
        while filled < MESSAGE {
            match input.read(&mut message[filled..])? {
                0 if filled == 0 => return Ok(()),
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => filled += n,
            }
        }
        output.write_all(&message)?;
    }
}
