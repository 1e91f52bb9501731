//! `sync`: uncontended mutex lock+unlock in one process (pipework's cross-process [`Mutex`]
//! beside `std::sync::Mutex`, which never leaves the process), and the event signal-to-wake
//! round trip between two processes (two auto-reset [`Event`]s beside a raw pipe round trip).

use std::hint::black_box;
use std::io;
use std::os::fd::OwnedFd;
use std::process::Child;
use std::time::Instant;

use pipework::sync::{Event, Mutex};
use pipework_cli::workload::inherited;
use rustix::io::Errno;

use super::{spawn_child, Figure, Mechanism, Settings};

/// The `sync` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new("sync", run, child);

const NAME: &str = "sync";
const LOCKS: u32 = 5_000_000;
const BATCH: usize = 5_000;
const WARM_UP: usize = 1_000;

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let lock = settings.collect("sync lock+unlock", settings.runs, lock_pipework, lock_std)?;
    // One child per implementation stays up for the whole measurement; samples alternate.
    let batches = settings.round_trip_batches();
    let total = WARM_UP + batches * BATCH;
    let mut events = Echo::start(Impl::Event, total)?;
    let mut pipes = Echo::start(Impl::Pipe, total)?;
    events.round_trips(WARM_UP)?;
    pipes.round_trips(WARM_UP)?;
    let round_trip = settings.collect(
        "sync event round trip",
        batches,
        || events.round_trips(BATCH),
        || pipes.round_trips(BATCH),
    )?;
    events.finish()?;
    pipes.finish()?;
    Ok(vec![
        Figure::lower_is_better(NAME, "lock_unlock", "ns", "std::sync::Mutex", &lock),
        Figure::lower_is_better(NAME, "event_rtt", "us", "raw pipe", &round_trip),
    ])
}

/// Nanoseconds per uncontended `lock()` + drop of the guard.
fn lock_pipework() -> io::Result<f64> {
    let mutex = Mutex::new(false)?;
    for _ in 0..10_000 {
        drop(mutex.lock()?);
    }
    let start = Instant::now();
    for _ in 0..LOCKS {
        let guard = mutex.lock()?;
        black_box(&guard);
        drop(guard);
    }
    Ok(start.elapsed().as_nanos() as f64 / f64::from(LOCKS))
}

fn lock_std() -> io::Result<f64> {
    let mutex = std::sync::Mutex::new(0u64);
    let start = Instant::now();
    for _ in 0..LOCKS {
        let mut guard = mutex.lock().map_err(|_| io::Error::other("poisoned"))?;
        *guard += 1;
        black_box(&guard);
        drop(guard);
    }
    Ok(start.elapsed().as_nanos() as f64 / f64::from(LOCKS))
}

#[derive(Clone, Copy)]
enum Impl {
    Event,
    Pipe,
}

/// The parent's side of an echoing child: two auto-reset events, or two pipes.
struct Echo {
    ping: Side,
    pong: Side,
    child: Child,
}

enum Side {
    Event(Event),
    Pipe(OwnedFd),
}

impl Echo {
    fn start(which: Impl, total: usize) -> io::Result<Echo> {
        let rounds = total.to_string();
        match which {
            Impl::Event => {
                let ping = Event::new(false, false)?;
                let pong = Event::new(false, false)?;
                let child = spawn_child(
                    NAME,
                    "echo-event",
                    &[rounds],
                    vec![ping.try_clone()?.into(), pong.try_clone()?.into()],
                )?;
                Ok(Echo {
                    ping: Side::Event(ping),
                    pong: Side::Event(pong),
                    child,
                })
            }
            Impl::Pipe => {
                let (ping_r, ping_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                let (pong_r, pong_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                let child = spawn_child(NAME, "echo-pipe", &[rounds], vec![ping_r, pong_w])?;
                Ok(Echo {
                    ping: Side::Pipe(ping_w),
                    pong: Side::Pipe(pong_r),
                    child,
                })
            }
        }
    }

    /// Microseconds per round trip, over `n` of them.
    fn round_trips(&mut self, n: usize) -> io::Result<f64> {
        let start = Instant::now();
        for _ in 0..n {
            match (&self.ping, &self.pong) {
                (Side::Event(ping), Side::Event(pong)) => {
                    ping.set()?;
                    pong.wait(None)?;
                }
                (Side::Pipe(ping), Side::Pipe(pong)) => {
                    write_byte(ping)?;
                    read_byte(pong)?;
                }
                _ => return Err(io::Error::other("mixed echo sides")),
            }
        }
        Ok(start.elapsed().as_secs_f64() * 1e6 / n as f64)
    }

    fn finish(mut self) -> io::Result<()> {
        drop(self.ping);
        drop(self.pong);
        self.child.wait()?;
        Ok(())
    }
}

fn write_byte(fd: &OwnedFd) -> io::Result<()> {
    loop {
        match rustix::io::write(fd, b"!") {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn read_byte(fd: &OwnedFd) -> io::Result<()> {
    let mut b = [0u8; 1];
    loop {
        match rustix::io::read(fd, &mut b) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let rounds: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing round count"))?;
    let first = inherited(args.get(2))?;
    let second = inherited(args.get(3))?;
    match role {
        "echo-event" => {
            let ping = Event::try_from(first)?;
            let pong = Event::try_from(second)?;
            for _ in 0..rounds {
                ping.wait(None)?;
                pong.set()?;
            }
            Ok(())
        }
        "echo-pipe" => {
            for _ in 0..rounds {
                read_byte(&first)?;
                write_byte(&second)?;
            }
            Ok(())
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no {NAME} role {other:?}"),
        )),
    }
}
