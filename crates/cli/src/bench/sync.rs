//! `sync`: uncontended mutex lock+unlock in one process (pipework's cross-process [`Mutex`]
//! beside `std::sync::Mutex`, which never leaves the process), and the event signal-to-wake
//! round trip between two processes (two auto-reset [`Event`]s beside a raw pipe round trip).

use std::hint::black_box;
use std::io;
use std::os::fd::OwnedFd;
use std::time::Instant;

use pipework::sync::{Event, Mutex};
use rustix::io::Errno;

use super::{inherited, spawn_child, Figure, Mechanism, Samples, Settings};

/// The `sync` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism {
    name: "sync",
    run,
    child,
};

const NAME: &str = "sync";
const LOCKS: u32 = 5_000_000;
const ROUND_TRIPS: usize = 20_000;
const WARM_UP: usize = 1_000;

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let lock = Samples::collect(settings.runs, lock_pipework, lock_std)?;
    let round_trip = Samples::collect(settings.runs, event_round_trip, pipe_round_trip)?;
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

/// Microseconds per ping (set here, waited there) and pong (set there, waited here).
fn event_round_trip() -> io::Result<f64> {
    let ping = Event::new(false, false)?;
    let pong = Event::new(false, false)?;
    let rounds = (WARM_UP + ROUND_TRIPS).to_string();
    let mut child = spawn_child(
        NAME,
        "echo-event",
        &[rounds],
        vec![ping.try_clone()?.into(), pong.try_clone()?.into()],
    )?;
    let once = || -> io::Result<()> {
        ping.set()?;
        pong.wait(None)?;
        Ok(())
    };
    for _ in 0..WARM_UP {
        once()?;
    }
    let start = Instant::now();
    for _ in 0..ROUND_TRIPS {
        once()?;
    }
    let elapsed = start.elapsed();
    child.wait()?;
    Ok(elapsed.as_secs_f64() * 1e6 / ROUND_TRIPS as f64)
}

/// The same with one byte each way over two pipes.
fn pipe_round_trip() -> io::Result<f64> {
    let (ping_r, ping_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (pong_r, pong_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let rounds = (WARM_UP + ROUND_TRIPS).to_string();
    let mut child = spawn_child(NAME, "echo-pipe", &[rounds], vec![ping_r, pong_w])?;
    let once = || -> io::Result<()> {
        write_byte(&ping_w)?;
        read_byte(&pong_r)
    };
    for _ in 0..WARM_UP {
        once()?;
    }
    let start = Instant::now();
    for _ in 0..ROUND_TRIPS {
        once()?;
    }
    let elapsed = start.elapsed();
    child.wait()?;
    Ok(elapsed.as_secs_f64() * 1e6 / ROUND_TRIPS as f64)
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
