//! The byte-stream workloads ([`pipework_cli::workload`]) as `pipework bench` runs them: a child
//! of this binary per implementation, samples of pipework and of its baseline alternated; and
//! their raw baseline, a kernel pipe read and written with plain `read(2)` / `write(2)` by hand,
//! which every byte-stream mechanism is measured beside.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use pipework_cli::workload::{self, Link, Session, Stream, Workload, BATCH, WARM_UP};
use rustix::io::Errno;

use super::{spawn_child, Samples, Settings};

/// Starts `role` of `mechanism` with `handles`, and talks to it through `link`.
pub fn start(
    mechanism: &'static str,
    role: &str,
    handles: Vec<OwnedFd>,
    link: Box<dyn Link>,
) -> io::Result<Session> {
    let child = spawn_child(mechanism, role, &[], handles)?;
    Ok(Session::new(mechanism, link, child))
}

/// Throughput medians of two sessions measured alternately.
pub fn throughput(
    settings: &Settings,
    label: &str,
    ours: &mut Session,
    raw: &mut Session,
) -> io::Result<Samples> {
    settings.collect(
        label,
        settings.runs,
        || ours.throughput(),
        || raw.throughput(),
    )
}

/// Round-trip medians of two sessions measured alternately, after a warm-up.
pub fn round_trips(
    settings: &Settings,
    label: &str,
    ours: &mut Session,
    raw: &mut Session,
) -> io::Result<Samples> {
    ours.round_trips(WARM_UP)?;
    raw.round_trips(WARM_UP)?;
    settings.collect(
        label,
        settings.round_trip_batches(),
        || ours.round_trips(BATCH),
        || raw.round_trips(BATCH),
    )
}

/// Measures `N` things in turn, `runs` times each, the order rotating every run (as
/// [`Settings::collect_three`] does for three): samples of each, in the order given.
pub fn collect_rotating<const N: usize>(
    settings: &Settings,
    label: &str,
    runs: usize,
    measures: [&mut dyn FnMut() -> io::Result<f64>; N],
) -> io::Result<[Vec<f64>; N]> {
    let mut samples: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for run in 0..runs.max(1) {
        settings
            .progress
            .set_message(format!("{label} {}/{}", run + 1, runs.max(1)));
        for turn in 0..N {
            let which = (run + turn) % N;
            samples[which].push(measures[which]()?);
        }
        settings.progress.tick();
    }
    Ok(samples)
}

/// A measurement of two sessions: [`throughput`] or [`round_trips`].
pub type Measure = fn(&Settings, &str, &mut Session, &mut Session) -> io::Result<Samples>;

/// What `measure` gives for two sessions, which are finished after.
pub fn finished(
    measure: Measure,
    settings: &Settings,
    label: &str,
    mut ours: Session,
    mut raw: Session,
) -> io::Result<Samples> {
    let samples = measure(settings, label, &mut ours, &mut raw)?;
    ours.finish()?;
    raw.finish()?;
    Ok(samples)
}

/// Throughput and round trips of `mechanism` (sessions started by `ours`) beside its baseline
/// (started by `raw`), each pair of sessions finished after.
pub fn throughput_and_round_trips(
    settings: &Settings,
    mechanism: &str,
    ours: impl Fn(Workload) -> io::Result<Session>,
    raw: impl Fn(Workload) -> io::Result<Session>,
) -> io::Result<(Samples, Samples)> {
    let measured = |measure: Measure, workload: Workload, what: &str| {
        let label = format!("{mechanism} {what}");
        finished(measure, settings, &label, ours(workload)?, raw(workload)?)
    };
    Ok((
        measured(throughput, Workload::Throughput, "throughput")?,
        measured(round_trips, Workload::RoundTrip, "round trip")?,
    ))
}

/// The role of a child running `workload` on the implementation `how` (`sink-raw`, ...); a
/// child splits it with [`split_role`].
pub fn role(workload: Workload, how: &str) -> String {
    format!("{}-{how}", workload.role())
}

/// A child's role: its workload role (`sink`, `echo`, or another a mechanism knows) and how.
pub fn split_role(role: &str) -> (&str, &str) {
    role.split_once('-').unwrap_or((role, ""))
}

/// The error for a role a mechanism's child does not know.
pub fn unknown_role(mechanism: &str, role: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("no {mechanism} role {role:?}"),
    )
}

/// A file descriptor read and written with plain `read(2)` / `write(2)` by hand: the raw
/// baseline's way.
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

/// The raw baseline: a child of `mechanism` running `workload` over two kernel pipes, each side
/// reading and writing them by hand.
pub fn raw_session(mechanism: &'static str, workload: Workload) -> io::Result<Session> {
    let flags = rustix::pipe::PipeFlags::CLOEXEC;
    let (to_r, to_w) = rustix::pipe::pipe_with(flags)?;
    let (from_r, from_w) = rustix::pipe::pipe_with(flags)?;
    start(
        mechanism,
        &role(workload, "raw"),
        vec![to_r, from_w],
        Stream::boxed(RawFd(from_r), RawFd(to_w)),
    )
}

/// The child of a raw session (or of any child that reads and writes `input` and `output` by
/// hand): `None` when `role` is not a raw one.
pub fn raw_child(role: &str, input: OwnedFd, output: OwnedFd) -> Option<io::Result<()>> {
    match split_role(role) {
        (workload, "raw") => Some(Workload::from_role(workload).and_then(|workload| {
            workload::serve(workload, Stream::boxed(RawFd(input), RawFd(output)))
        })),
        _ => None,
    }
}

/// How a copy-floor child is named in its role (`sink-copyfloor`).
pub const COPY_FLOOR: &str = "copyfloor";

/// The floor of any design that copies bytes between two processes, written by hand with no
/// pipework: a 1 MiB buffer in a memfd mapped by both, the writer copying its blocks in and the
/// reader copying them out into its own [`CHUNK`](workload::CHUNK)-byte buffer, each side's
/// position an atomic in the shared page that the other only loads, and every wait a pure spin
/// (no system call) while the transfer runs. Two copies with the lines crossing cores, and
/// nothing else: no framing, no peer check, no wake-up. A side left waiting past
/// two milliseconds (between samples, while the other rows are measured) sleeps in short
/// naps instead, so that it takes no CPU from them.
pub mod copy_floor {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use pipework_cli::workload::{self, Link, Session, Workload, CHUNK};
    use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};

    /// How long a side spins before it naps: far beyond any wait inside a transfer (a 64 KiB
    /// block is copied in microseconds), reached only between samples.
    const IDLE: Duration = Duration::from_millis(2);

    /// A wait: pure spinning for [`IDLE`], then naps of 100 µs.
    struct Wait {
        spins: u32,
        since: Option<Instant>,
    }

    impl Wait {
        fn new() -> Wait {
            Wait {
                spins: 0,
                since: None,
            }
        }

        fn pause(&mut self) {
            self.spins = self.spins.wrapping_add(1);
            if !self.spins.is_multiple_of(1024) {
                std::hint::spin_loop();
                return;
            }
            let since = *self.since.get_or_insert_with(Instant::now);
            if since.elapsed() >= IDLE {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }

    /// Bytes of the ring towards the child (the named pipe's default ring).
    const DATA: usize = 1 << 20;
    /// Bytes of the ring back to the parent (acknowledgements only).
    const BACK: usize = 4096;
    /// The header page: each word on its own cache line.
    const HEADER: usize = 4096;
    const LEN: usize = HEADER + DATA + BACK;

    /// The words of one direction: written total, read total, writer closed.
    #[derive(Clone, Copy)]
    struct Words {
        written: usize,
        read: usize,
        closed: usize,
        data: usize,
        capacity: usize,
    }

    const TO_CHILD: Words = Words {
        written: 0,
        read: 128,
        closed: 256,
        data: HEADER,
        capacity: DATA,
    };
    const TO_PARENT: Words = Words {
        written: 384,
        read: 512,
        closed: 640,
        data: HEADER + DATA,
        capacity: BACK,
    };

    /// The shared buffer, mapped in this process.
    struct Map {
        base: *mut u8,
    }

    impl Map {
        fn new(fd: &OwnedFd) -> io::Result<Map> {
            // SAFETY: a fresh shared mapping of `LEN` bytes of a memfd this process holds, at an
            // address the kernel chooses: no existing memory is affected.
            let base = unsafe {
                mmap(
                    std::ptr::null_mut(),
                    LEN,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::SHARED,
                    fd,
                    0,
                )?
            };
            Ok(Map { base: base.cast() })
        }

        fn word(&self, offset: usize) -> &AtomicU64 {
            // SAFETY: `offset` is one of the 8-aligned header offsets above, inside the mapping
            // (page-aligned, `LEN` bytes, alive while `self` is); atomics tolerate the other
            // process's concurrent access.
            unsafe { AtomicU64::from_ptr(self.base.add(offset).cast()) }
        }
    }

    impl Drop for Map {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, no longer used (every borrow of it ended).
            let _ = unsafe { munmap(self.base.cast(), LEN) };
        }
    }

    /// One side: it writes `out`, reads `inp`.
    struct Side {
        map: Map,
        out: Words,
        inp: Words,
        /// This side's own positions and the peer's reader position seen last.
        written: u64,
        read: u64,
        peer_read: u64,
        buf: Vec<u8>,
    }

    impl Side {
        fn new(fd: &OwnedFd, out: Words, inp: Words) -> io::Result<Side> {
            Ok(Side {
                map: Map::new(fd)?,
                out,
                inp,
                written: 0,
                read: 0,
                peer_read: 0,
                buf: vec![0; CHUNK],
            })
        }
    }

    impl Link for Side {
        fn send(&mut self, mut data: &[u8]) -> io::Result<()> {
            let cap = self.out.capacity as u64;
            while !data.is_empty() {
                let mut free = cap - (self.written - self.peer_read);
                let mut wait = Wait::new();
                while free == 0 {
                    wait.pause();
                    self.peer_read = self.map.word(self.out.read).load(Ordering::Acquire);
                    free = cap - (self.written - self.peer_read);
                }
                let at = (self.written % cap) as usize;
                let n = (free as usize).min(data.len()).min(self.out.capacity - at);
                // SAFETY: `at + n` stays within this direction's data (`n` is cut at its end),
                // inside the mapping; those bytes are free room the reader has handed back and
                // does not touch; `data` is this process's own memory.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        data.as_ptr(),
                        self.map.base.add(self.out.data + at),
                        n,
                    );
                }
                self.written += n as u64;
                self.map
                    .word(self.out.written)
                    .store(self.written, Ordering::Release);
                data = &data[n..];
            }
            Ok(())
        }

        fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
            let cap = self.inp.capacity as u64;
            let mut written;
            let mut wait = Wait::new();
            loop {
                written = self.map.word(self.inp.written).load(Ordering::Acquire);
                if written != self.read {
                    break;
                }
                if self.map.word(self.inp.closed).load(Ordering::Acquire) != 0 {
                    written = self.map.word(self.inp.written).load(Ordering::Acquire);
                    if written == self.read {
                        return Ok(false);
                    }
                    break;
                }
                wait.pause();
            }
            let at = (self.read % cap) as usize;
            let n = ((written - self.read) as usize)
                .min(CHUNK)
                .min(self.inp.capacity - at);
            // SAFETY: `at + n` stays within this direction's data, inside the mapping; those
            // bytes were published by the writer (its position was loaded with `Acquire`), which
            // leaves them alone until this side hands them back; `buf` is this process's own.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.map.base.add(self.inp.data + at),
                    self.buf.as_mut_ptr(),
                    n,
                );
            }
            self.read += n as u64;
            self.map
                .word(self.inp.read)
                .store(self.read, Ordering::Release);
            f(&self.buf[..n]);
            Ok(true)
        }

        fn close(&mut self) -> io::Result<()> {
            self.map.word(self.out.closed).store(1, Ordering::Release);
            Ok(())
        }
    }

    impl Drop for Side {
        fn drop(&mut self) {
            self.map.word(self.out.closed).store(1, Ordering::Release);
        }
    }

    /// The parent's side: a child of `mechanism` sinking the throughput workload through a
    /// fresh buffer.
    pub fn session(mechanism: &'static str) -> io::Result<Session> {
        use rustix::fs::{ftruncate, memfd_create, MemfdFlags};
        let fd = memfd_create("pipework-copy-floor", MemfdFlags::CLOEXEC)?;
        ftruncate(&fd, LEN as u64)?;
        let side = Side::new(&fd, TO_CHILD, TO_PARENT)?;
        super::start(
            mechanism,
            &super::role(Workload::Throughput, super::COPY_FLOOR),
            vec![fd],
            Box::new(side),
        )
    }

    /// The child's side of a buffer handed over as `handle`.
    pub fn child(workload: Workload, handle: OwnedFd) -> io::Result<()> {
        let side = Side::new(&handle, TO_PARENT, TO_CHILD)?;
        workload::serve(workload, Box::new(side))
    }
}
