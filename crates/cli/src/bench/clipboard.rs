//! `clipboard`: one process sets the clipboard (open, empty, set, close), another gets it (open,
//! get, close), 64 B and 32 MiB. Headless beside the same handover through a raw file in
//! `/dev/shm` (write, rename, read); on X11 (when `DISPLAY` is set and reachable) and on
//! Wayland (when `WAYLAND_DISPLAY` is set and the compositor offers data-control) beside the
//! headless clipboard.

use std::io;
use std::os::fd::OwnedFd;
use std::process::Child;
use std::time::{Duration, Instant};

use pipework::clipboard::{Session, CF_PRIVATEFIRST};
use pipework_cli::workload::inherited;
use rustix::io::Errno;

use super::{spawn_child, Figure, Mechanism, Settings};

/// The `clipboard` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new("clipboard", run, child);

const NAME: &str = "clipboard";
const FORMAT: u32 = CF_PRIVATEFIRST + 7;
const SMALL: usize = 64;
const LARGE: usize = 32 << 20;
const SMALL_ROUNDS: usize = 200;
const LARGE_ROUNDS: usize = 2;
const OPEN_WAIT: Duration = Duration::from_secs(10);

/// Where a side sets and gets.
#[derive(Clone)]
enum Place {
    Headless(String),
    X11(String),
    Wayland(String),
    Raw(String),
}

impl Place {
    fn arg(&self) -> String {
        match self {
            Place::Headless(n) => format!("headless:{n}"),
            Place::X11(d) => format!("x11:{d}"),
            Place::Wayland(d) => format!("wayland:{d}"),
            Place::Raw(p) => format!("raw:{p}"),
        }
    }

    fn parse(arg: &str) -> io::Result<Place> {
        let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad place {arg:?}"));
        let (kind, rest) = arg.split_once(':').ok_or_else(bad)?;
        Ok(match kind {
            "headless" => Place::Headless(rest.into()),
            "x11" => Place::X11(rest.into()),
            "wayland" => Place::Wayland(rest.into()),
            "raw" => Place::Raw(rest.into()),
            _ => return Err(bad()),
        })
    }

    fn session(&self) -> io::Result<Option<Session>> {
        Ok(match self {
            Place::Headless(n) => Some(Session::headless(n)?),
            #[cfg(feature = "x11")]
            Place::X11(d) => Some(Session::x11(Some(d))?),
            #[cfg(not(feature = "x11"))]
            Place::X11(_) => return Err(io::ErrorKind::Unsupported.into()),
            #[cfg(feature = "wayland")]
            Place::Wayland(d) => Some(Session::wayland(Some(d))?),
            #[cfg(not(feature = "wayland"))]
            Place::Wayland(_) => return Err(io::ErrorKind::Unsupported.into()),
            Place::Raw(_) => None,
        })
    }
}

/// One side of the handover, with its session kept open.
struct Side {
    place: Place,
    session: Option<Session>,
}

impl Side {
    fn new(place: Place) -> io::Result<Side> {
        let session = place.session()?;
        Ok(Side { place, session })
    }

    fn set(&self, data: &[u8]) -> io::Result<()> {
        match (&self.session, &self.place) {
            (Some(session), _) => {
                let mut clipboard = session.open(OPEN_WAIT)?;
                clipboard.empty()?;
                clipboard.set(FORMAT, data)
            }
            (None, Place::Raw(path)) => {
                let temp = format!("{path}.new");
                std::fs::write(&temp, data)?;
                std::fs::rename(&temp, path)
            }
            _ => Err(io::Error::other("no place")),
        }
    }

    fn get(&self) -> io::Result<usize> {
        match (&self.session, &self.place) {
            (Some(session), _) => {
                let clipboard = session.open(OPEN_WAIT)?;
                Ok(clipboard.get(FORMAT)?.map_or(0, |d| d.len()))
            }
            (None, Place::Raw(path)) => Ok(std::fs::read(path)?.len()),
            _ => Err(io::Error::other("no place")),
        }
    }
}

/// A setter here and a getter in a child, taking turns through two pipes.
struct Handover {
    side: Side,
    ping: OwnedFd,
    pong: OwnedFd,
    child: Child,
}

impl Handover {
    fn start(place: Place, size: usize, rounds: usize) -> io::Result<Handover> {
        let side = Side::new(place.clone())?;
        let (ping_r, ping_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let (pong_r, pong_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let child = spawn_child(
            NAME,
            "get",
            &[rounds.to_string(), size.to_string(), place.arg()],
            vec![ping_r, pong_w],
        )?;
        Ok(Handover {
            side,
            ping: ping_w,
            pong: pong_r,
            child,
        })
    }

    /// Microseconds per set here + get there, over `n` of them.
    fn rounds(&mut self, data: &[u8], n: usize) -> io::Result<f64> {
        let start = Instant::now();
        for _ in 0..n {
            self.side.set(data)?;
            write_byte(&self.ping)?;
            read_byte(&self.pong)?;
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

fn measure(
    settings: &Settings,
    label: &str,
    ours: Place,
    raw: Place,
    size: usize,
    rounds: usize,
) -> io::Result<super::Samples> {
    let data = vec![0x5au8; size];
    let total = rounds * settings.runs.max(1);
    let mut a = Handover::start(ours, size, total)?;
    let mut b = Handover::start(raw, size, total)?;
    let samples = settings.collect(
        label,
        settings.runs,
        || a.rounds(&data, rounds),
        || b.rounds(&data, rounds),
    )?;
    a.finish()?;
    b.finish()?;
    Ok(samples)
}

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let headless_name = format!("pipework-bench-{}", std::process::id());
    let headless = Place::Headless(headless_name.clone());
    let raw = Place::Raw(format!(
        "/dev/shm/pipework-bench-clip-{}",
        std::process::id()
    ));
    let mut figures = Vec::new();
    let small = measure(
        settings,
        "clipboard 64 B",
        headless.clone(),
        raw.clone(),
        SMALL,
        SMALL_ROUNDS,
    )?;
    figures.push(Figure::lower_is_better(
        NAME,
        "set_get_64B",
        "us",
        "raw file",
        &small,
    ));
    let large = measure(
        settings,
        "clipboard 32 MiB",
        headless.clone(),
        raw.clone(),
        LARGE,
        LARGE_ROUNDS,
    )?;
    figures.push(Figure::lower_is_better(
        NAME,
        "set_get_32MiB",
        "us",
        "raw file",
        &large,
    ));
    if let Place::Raw(path) = &raw {
        let _ = std::fs::remove_file(path);
    }
    // X11, when there is a display to reach.
    let display = std::env::var("DISPLAY").unwrap_or_default();
    if cfg!(feature = "x11")
        && !display.is_empty()
        && Side::new(Place::X11(display.clone())).is_ok()
    {
        let x11 = Place::X11(display);
        let small = measure(
            settings,
            "clipboard/x11 64 B",
            x11.clone(),
            headless.clone(),
            SMALL,
            SMALL_ROUNDS,
        )?;
        figures.push(Figure::lower_is_better(
            "clipboard/x11",
            "set_get_64B",
            "us",
            "headless",
            &small,
        ));
        let large = measure(
            settings,
            "clipboard/x11 32 MiB",
            x11,
            headless.clone(),
            LARGE,
            LARGE_ROUNDS,
        )?;
        figures.push(Figure::lower_is_better(
            "clipboard/x11",
            "set_get_32MiB",
            "us",
            "headless",
            &large,
        ));
    }
    // Wayland, when there is a compositor with data-control to reach.
    let wayland = std::env::var("WAYLAND_DISPLAY").unwrap_or_default();
    if cfg!(feature = "wayland")
        && !wayland.is_empty()
        && Side::new(Place::Wayland(wayland.clone())).is_ok()
    {
        let place = Place::Wayland(wayland);
        for (size, rounds, metric, label) in [
            (SMALL, SMALL_ROUNDS, "set_get_64B", "clipboard/wayland 64 B"),
            (
                LARGE,
                LARGE_ROUNDS,
                "set_get_32MiB",
                "clipboard/wayland 32 MiB",
            ),
        ] {
            let samples = measure(
                settings,
                label,
                place.clone(),
                headless.clone(),
                size,
                rounds,
            )?;
            figures.push(Figure::lower_is_better(
                "clipboard/wayland",
                metric,
                "us",
                "headless",
                &samples,
            ));
        }
    }
    if let Ok(Some(session)) = headless.session() {
        let _ = session.remove();
    }
    Ok(figures)
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
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    if args.first().map(String::as_str) != Some("get") {
        return Err(bad("unknown clipboard role"));
    }
    let rounds: usize = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| bad("rounds"))?;
    let size: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| bad("size"))?;
    let place = Place::parse(args.get(3).ok_or_else(|| bad("place"))?)?;
    let ping = inherited(args.get(4))?;
    let pong = inherited(args.get(5))?;
    let side = Side::new(place)?;
    for _ in 0..rounds {
        read_byte(&ping)?;
        let got = side.get()?;
        if got != size {
            return Err(io::Error::other(format!("got {got} bytes, not {size}")));
        }
        write_byte(&pong)?;
    }
    Ok(())
}
