//! `named-pipe`: byte throughput (64 KiB writes, 1 GiB per sample) and 64-byte message round
//! trip between a server and a client process: pipework's named pipes beside a raw Unix-domain
//! stream socket (bind/listen/accept/connect, write/read by hand) carrying the same bytes.
//!
//! Both connections stay up for the whole measurement and their samples alternate, so a burst of
//! load on this shared machine hits both alike.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Child;
use std::time::Instant;

use pipework::named_pipe::{
    ClientOptions, MessageRead, NamedPipeClient, NamedPipeServer, PipeType, ReadMode, ServerOptions,
};
use rustix::io::Errno;

use super::stream::{BATCH, CHUNK, MESSAGE, VOLUME, WARM_UP};
use super::{spawn_child, Figure, Mechanism, Settings};

/// The `named-pipe` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism {
    name: NAME,
    run,
    child,
};

const NAME: &str = "named-pipe";

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let (mut ours, mut raw) = (Ours::start(PipeType::Byte, "sink")?, Raw::start("sink")?);
    let throughput = settings.collect(
        "named-pipe throughput",
        settings.runs,
        || ours.throughput(),
        || raw.throughput(),
    )?;
    ours.finish()?;
    raw.finish()?;

    let (mut ours, mut raw) = (Ours::start(PipeType::Message, "echo")?, Raw::start("echo")?);
    ours.round_trips(WARM_UP)?;
    raw.round_trips(WARM_UP)?;
    let round_trip = settings.collect(
        "named-pipe round trip",
        settings.round_trip_batches(),
        || ours.round_trips(BATCH),
        || raw.round_trips(BATCH),
    )?;
    ours.finish()?;
    raw.finish()?;
    Ok(vec![
        Figure::higher_is_better(NAME, "throughput", "GiB/s", "raw unix socket", &throughput),
        Figure::lower_is_better(NAME, "round_trip", "us", "raw unix socket", &round_trip),
    ])
}

fn unique(what: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("pipework-bench-{}-{what}-{n}", std::process::id())
}

fn gib_per_s(start: Instant) -> f64 {
    VOLUME as f64 / (1u64 << 30) as f64 / start.elapsed().as_secs_f64()
}

fn per_trip_us(start: Instant, count: usize) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / count as f64
}

fn wait_child(mut child: Child) -> io::Result<()> {
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{NAME} bench child failed: {status}"
        )))
    }
}

/// The parent as a named-pipe server, its child as the client.
struct Ours {
    server: NamedPipeServer,
    child: Child,
}

impl Ours {
    fn start(pipe_type: PipeType, role: &str) -> io::Result<Ours> {
        let name = unique(role);
        let mut server = ServerOptions::new().pipe_type(pipe_type).create(&name)?;
        let child = spawn_child(NAME, &format!("{role}-pipework"), &[name], Vec::new())?;
        server.connect()?;
        Ok(Ours { server, child })
    }

    /// [`VOLUME`] bytes in [`CHUNK`] writes, until the child acknowledges them all.
    fn throughput(&mut self) -> io::Result<f64> {
        let chunk = vec![0x5au8; CHUNK];
        let start = Instant::now();
        for _ in 0..VOLUME / CHUNK {
            self.server.write_all(&chunk)?;
        }
        self.server.read_exact(&mut [0u8; 1])?;
        Ok(gib_per_s(start))
    }

    fn round_trips(&mut self, count: usize) -> io::Result<f64> {
        let mut message = [7u8; MESSAGE];
        let start = Instant::now();
        for _ in 0..count {
            self.server.write_message(&message)?;
            match self.server.read_message(&mut message)? {
                MessageRead::Complete(MESSAGE) => {}
                other => return Err(io::Error::other(format!("echo: {other:?}"))),
            }
        }
        Ok(per_trip_us(start, count))
    }

    fn finish(mut self) -> io::Result<()> {
        self.server.disconnect()?;
        wait_child(self.child)
    }
}

/// The parent as a raw socket listener, its child connected by hand.
struct Raw {
    stream: UnixStream,
    child: Child,
}

impl Raw {
    fn start(role: &str) -> io::Result<Raw> {
        let path = std::env::temp_dir().join(unique(role));
        let listener = UnixListener::bind(&path)?;
        let child = spawn_child(
            NAME,
            &format!("{role}-raw"),
            &[path.to_string_lossy().into_owned()],
            Vec::new(),
        );
        let accepted = child.and_then(|child| Ok((listener.accept()?.0, child)));
        let _ = std::fs::remove_file(&path);
        let (stream, child) = accepted?;
        Ok(Raw { stream, child })
    }

    fn throughput(&mut self) -> io::Result<f64> {
        let chunk = vec![0x5au8; CHUNK];
        let start = Instant::now();
        for _ in 0..VOLUME / CHUNK {
            raw_write_all(&self.stream, &chunk)?;
        }
        raw_read_exact(&self.stream, &mut [0u8; 1])?;
        Ok(gib_per_s(start))
    }

    fn round_trips(&mut self, count: usize) -> io::Result<f64> {
        let mut message = [7u8; MESSAGE];
        let start = Instant::now();
        for _ in 0..count {
            raw_write_all(&self.stream, &message)?;
            raw_read_exact(&self.stream, &mut message)?;
        }
        Ok(per_trip_us(start, count))
    }

    fn finish(self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Both)?;
        wait_child(self.child)
    }
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let target = args
        .get(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing pipe name"))?;
    match role {
        "sink-pipework" => {
            let mut client = NamedPipeClient::open(target)?;
            let mut buf = vec![0u8; CHUNK];
            sink(|b| client.read(b), &mut buf)?;
            // Acknowledge each volume; the server's disconnect ends the loop.
            loop {
                match client.write_all(b"!") {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => return Err(e),
                }
                if !sink(|b| client.read(b), &mut buf)? {
                    return Ok(());
                }
            }
        }
        "sink-raw" => {
            let stream = UnixStream::connect(target)?;
            let mut buf = vec![0u8; CHUNK];
            while sink(|b| Ok(rustix::io::read(&stream, &mut *b)?), &mut buf)? {
                raw_write_all(&stream, b"!")?;
            }
            Ok(())
        }
        "echo-pipework" => {
            let mut client = ClientOptions::new().open(target)?;
            client.set_read_mode(ReadMode::Message)?;
            let mut message = [0u8; MESSAGE];
            loop {
                match client.read_message(&mut message)? {
                    MessageRead::Complete(n) => client.write_message(&message[..n])?,
                    MessageRead::End => return Ok(()),
                    MessageRead::MoreData { .. } => {
                        return Err(io::Error::other("echo: message too long"))
                    }
                }
            }
        }
        "echo-raw" => {
            let stream = UnixStream::connect(target)?;
            let mut message = [0u8; MESSAGE];
            loop {
                match raw_read_exact(&stream, &mut message) {
                    Ok(()) => raw_write_all(&stream, &message)?,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no {NAME} role {other:?}"),
        )),
    }
}

/// Reads one [`VOLUME`]; `false` at a clean end of data before it.
fn sink(mut read: impl FnMut(&mut [u8]) -> io::Result<usize>, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < VOLUME {
        let want = buf.len().min(VOLUME - got);
        match read(&mut buf[..want]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn raw_write_all(fd: impl AsFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn raw_read_exact(fd: impl AsFd, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::io::read(fd.as_fd(), &mut buf[filled..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
