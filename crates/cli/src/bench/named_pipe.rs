//! `named-pipe`: byte throughput (64 KiB writes, 1 GiB) and 64-byte message round trip between a
//! server and a client process, pipework's named pipes beside a raw Unix-domain stream socket
//! (bind/listen/accept/connect, write/read by hand) carrying the same bytes.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;

use pipework::named_pipe::{
    MessageRead, NamedPipeClient, PipeType, ReadMode, ServerOptions, WaitTimeout,
};
use pipework::pipe::{self, PipeWriter};
use rustix::io::Errno;

use super::{await_signal, inherited, signal, spawn_child, Figure, Mechanism, Settings};

/// The `named-pipe` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism {
    name: "named-pipe",
    run,
    child,
};

const NAME: &str = "named-pipe";
const CHUNK: usize = 64 * 1024;
const VOLUME: usize = 1 << 30;
const MESSAGE: usize = 64;
const ROUND_TRIPS: usize = 20_000;
const WARM_UP: usize = 1_000;

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let throughput = settings.collect(
        "named-pipe throughput",
        settings.runs,
        || throughput(Impl::Pipework),
        || throughput(Impl::Raw),
    )?;
    let round_trip = settings.collect(
        "named-pipe round trip",
        settings.runs,
        || round_trip(Impl::Pipework),
        || round_trip(Impl::Raw),
    )?;
    Ok(vec![
        Figure::higher_is_better(NAME, "throughput", "GiB/s", "raw unix socket", &throughput),
        Figure::lower_is_better(NAME, "round_trip", "us", "raw unix socket", &round_trip),
    ])
}

#[derive(Clone, Copy)]
enum Impl {
    Pipework,
    Raw,
}

/// A connected pair: the parent's end and the process on the other side.
enum Parent {
    Pipe(Box<pipework::named_pipe::NamedPipeServer>),
    Raw(UnixStream),
}

fn unique(what: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("pipework-bench-{}-{what}-{n}", std::process::id())
}

/// Sets up the parent's end, starts the child `role` (a client of it) and connects to it.
fn start(
    which: Impl,
    pipe_type: PipeType,
    role: &str,
    extra: Vec<OwnedFd>,
) -> io::Result<(Parent, std::process::Child)> {
    let id = unique(role);
    match which {
        Impl::Pipework => {
            let mut server = ServerOptions::new().pipe_type(pipe_type).create(&id)?;
            let child = spawn_child(NAME, &format!("{role}-pipework"), &[id], extra)?;
            server.connect()?;
            Ok((Parent::Pipe(Box::new(server)), child))
        }
        Impl::Raw => {
            let path = std::env::temp_dir().join(id);
            let listener = UnixListener::bind(&path)?;
            let child = spawn_child(
                NAME,
                &format!("{role}-raw"),
                &[path.to_string_lossy().into_owned()],
                extra,
            )?;
            let accepted = listener.accept();
            let _ = std::fs::remove_file(&path);
            Ok((Parent::Raw(accepted?.0), child))
        }
    }
}

/// GiB/s: the parent writes [`VOLUME`] bytes in [`CHUNK`] writes; the child reads until the end
/// and signals; the clock runs from the first write to that signal.
fn throughput(which: Impl) -> io::Result<f64> {
    let (status_r, status_w) = pipe::create()?;
    let (parent, mut child) = start(which, PipeType::Byte, "sink", vec![status_w.into()])?;
    let mut status = status_r;
    await_signal(&mut status)?;
    let chunk = vec![0x5au8; CHUNK];
    let start = Instant::now();
    match parent {
        Parent::Pipe(mut server) => {
            for _ in 0..VOLUME / CHUNK {
                server.write_all(&chunk)?;
            }
            server.disconnect()?;
        }
        Parent::Raw(ref stream) => {
            for _ in 0..VOLUME / CHUNK {
                raw_write_all(stream, &chunk)?;
            }
            stream.shutdown(std::net::Shutdown::Write)?;
        }
    }
    await_signal(&mut status)?;
    let elapsed = start.elapsed().as_secs_f64();
    child.wait()?;
    Ok(VOLUME as f64 / (1u64 << 30) as f64 / elapsed)
}

/// Microseconds per 64-byte request and 64-byte reply: pipework's message pipe (each a message)
/// beside 64-byte writes and exact reads on a raw socket.
fn round_trip(which: Impl) -> io::Result<f64> {
    let (parent, mut child) = start(which, PipeType::Message, "echo", Vec::new())?;
    let mut message = [7u8; MESSAGE];
    let elapsed = match parent {
        Parent::Pipe(mut server) => {
            let mut once = || -> io::Result<()> {
                server.write_message(&message)?;
                match server.read_message(&mut message)? {
                    MessageRead::Complete(MESSAGE) => Ok(()),
                    other => Err(io::Error::other(format!("echo: {other:?}"))),
                }
            };
            for _ in 0..WARM_UP {
                once()?;
            }
            let start = Instant::now();
            for _ in 0..ROUND_TRIPS {
                once()?;
            }
            let elapsed = start.elapsed();
            server.disconnect()?;
            elapsed
        }
        Parent::Raw(ref stream) => {
            let mut once = || -> io::Result<()> {
                raw_write_all(stream, &message)?;
                raw_read_exact(stream, &mut message)
            };
            for _ in 0..WARM_UP {
                once()?;
            }
            let start = Instant::now();
            for _ in 0..ROUND_TRIPS {
                once()?;
            }
            let elapsed = start.elapsed();
            stream.shutdown(std::net::Shutdown::Write)?;
            elapsed
        }
    };
    child.wait()?;
    Ok(elapsed.as_secs_f64() * 1e6 / ROUND_TRIPS as f64)
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let target = args
        .get(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing pipe name"))?;
    match role {
        "sink-pipework" => {
            let mut status = PipeWriter::try_from(inherited(args.get(2))?)?;
            let mut client = NamedPipeClient::open(target)?;
            signal(&mut status)?;
            let mut buf = vec![0u8; CHUNK];
            while client.read(&mut buf)? != 0 {}
            signal(&mut status)
        }
        "sink-raw" => {
            let mut status = PipeWriter::try_from(inherited(args.get(2))?)?;
            let stream = UnixStream::connect(target)?;
            signal(&mut status)?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                match rustix::io::read(&stream, &mut buf) {
                    Ok(0) => break,
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            signal(&mut status)
        }
        "echo-pipework" => {
            let mut client = pipework::named_pipe::ClientOptions::new()
                .wait(WaitTimeout::Forever)
                .open(target)?;
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
