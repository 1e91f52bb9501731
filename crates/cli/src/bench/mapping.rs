//! `mapping`: copying into a view (pipework's bounds-checked [`View::write`] beside a raw copy
//! through the same view's pointer), and the life of a named mapping (create, map, write, unmap,
//! close: pipework beside `shm_open`/`ftruncate`/`mmap`/`munmap`/`shm_unlink` by hand, and
//! beside the floor of a mapping that keeps pipework's promises, by hand: memory reserved at
//! create and a `flock` that makes the name reclaimable after `kill -9`; and beside that floor
//! made safe against other processes by hand, as pipework's namespace is: built unnamed and
//! linked once held, and removed only while the name still leads to it).

use std::hint::black_box;
use std::io;
use std::time::Instant;

use pipework::mapping::{Access, FileMapping, View};

use super::{Figure, Mechanism, Samples, Settings};

/// The `mapping` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new("mapping", run, child);

const NAME: &str = "mapping";
const SIZE: usize = 64 << 20;
const CHUNK: usize = 64 << 10;
const VOLUME: usize = 1 << 30;
const LIVES: u32 = 2_000;

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let mapping = FileMapping::anonymous(SIZE as u64)?;
    let view = mapping.map_view(Access::Write, 0, 0)?;
    // Fault every page in first, so neither side pays for that.
    view.write(0, &vec![0u8; SIZE])?;
    let copy = settings.collect(
        "mapping copy-in",
        settings.runs,
        || copy_checked(&view),
        || copy_raw(&view),
    )?;
    let [ours, raw, floor] = settings.collect_three(
        "mapping named life",
        settings.runs,
        [&mut life_pipework, &mut life_raw, &mut life_floor],
    )?;
    let atomic = settings.collect(
        "mapping named life, atomic",
        settings.runs,
        life_pipework,
        life_atomic,
    )?;
    Ok(vec![
        Figure::higher_is_better(NAME, "copy_in", "GiB/s", "raw ptr copy", &copy),
        Figure::lower_is_better(
            NAME,
            "named_life",
            "us",
            "raw shm_open",
            &Samples::of(ours.clone(), raw),
        ),
        Figure::lower_is_better(
            NAME,
            "named_life_floor",
            "us",
            "shm_open+fallocate+flock",
            &Samples::of(ours, floor),
        ),
        Figure::lower_is_better(
            NAME,
            "named_life_atomic",
            "us",
            "O_TMPFILE+fallocate+flock+linkat",
            &atomic,
        ),
    ])
}

fn copy_checked(view: &View) -> io::Result<f64> {
    let chunk = vec![0x5au8; CHUNK];
    let start = Instant::now();
    for i in 0..VOLUME / CHUNK {
        view.write((i * CHUNK) % SIZE, &chunk)?;
    }
    Ok(gib_per_s(start))
}

fn copy_raw(view: &View) -> io::Result<f64> {
    let chunk = vec![0x5au8; CHUNK];
    // SAFETY: the view is writable and SIZE bytes long; every copy below stays inside it, and no
    // reference to its bytes is made.
    let base = unsafe { view.as_ptr() };
    let start = Instant::now();
    for i in 0..VOLUME / CHUNK {
        // SAFETY: (i * CHUNK) % SIZE + CHUNK <= SIZE, since SIZE is a multiple of CHUNK.
        unsafe {
            std::ptr::copy_nonoverlapping(chunk.as_ptr(), base.add((i * CHUNK) % SIZE), CHUNK)
        };
    }
    black_box(base);
    Ok(gib_per_s(start))
}

fn gib_per_s(start: Instant) -> f64 {
    VOLUME as f64 / (1u64 << 30) as f64 / start.elapsed().as_secs_f64()
}

/// Microseconds per create + map + write + unmap + close of a 64 KiB named mapping.
fn life_pipework() -> io::Result<f64> {
    let name = format!("Local\\pipework-bench-{}", std::process::id());
    let start = Instant::now();
    for _ in 0..LIVES {
        let mapping = FileMapping::create(&name, CHUNK as u64)?;
        let view = mapping.map_view(Access::Write, 0, 0)?;
        view.write(0, b"x")?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(LIVES))
}

/// What every by-hand life does with its object: map it shared for writing, write one byte,
/// unmap it.
fn map_write_unmap(fd: &std::os::fd::OwnedFd) -> io::Result<()> {
    use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};
    // SAFETY: a fresh shared mapping of a file the caller owns; unmapped below.
    let ptr = unsafe {
        mmap(
            std::ptr::null_mut(),
            CHUNK,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            fd,
            0,
        )
    }?;
    // SAFETY: the mapping is CHUNK bytes and writable.
    unsafe { ptr.cast::<u8>().write_volatile(b'x') };
    // SAFETY: unmaps exactly the mapping made above.
    unsafe { munmap(ptr, CHUNK) }?;
    Ok(())
}

fn life_raw() -> io::Result<f64> {
    use rustix::fs::Mode;
    use rustix::shm;
    let name = format!("/pipework-bench-raw-{}", std::process::id());
    let start = Instant::now();
    for _ in 0..LIVES {
        let fd = shm::open(
            name.as_str(),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::from_raw_mode(0o600),
        )?;
        rustix::fs::ftruncate(&fd, CHUNK as u64)?;
        map_write_unmap(&fd)?;
        shm::unlink(name.as_str())?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(LIVES))
}

/// The floor of a named mapping that keeps pipework's promises, by hand: its memory reserved at
/// create (`fallocate`: no `SIGBUS` when `/dev/shm` fills up later) and a shared `flock` held
/// while it lives (the name is reclaimable after its holders die, even by `kill -9`), dropped by
/// turning that hold exclusive (no other holder left) and removing the name.
fn life_floor() -> io::Result<f64> {
    use rustix::fs::{fallocate, flock, FallocateFlags, FlockOperation, Mode};
    use rustix::shm;
    let name = format!("/pipework-bench-floor-{}", std::process::id());
    let start = Instant::now();
    for _ in 0..LIVES {
        let fd = shm::open(
            name.as_str(),
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            Mode::from_raw_mode(0o600),
        )?;
        fallocate(&fd, FallocateFlags::empty(), 0, CHUNK as u64)?;
        flock(&fd, FlockOperation::NonBlockingLockShared)?;
        map_write_unmap(&fd)?;
        flock(&fd, FlockOperation::NonBlockingLockExclusive)?;
        shm::unlink(name.as_str())?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(LIVES))
}

/// The floor above made safe against other processes, by hand, as pipework's namespace is: a
/// create-or-open first looks for the name; the object is built unnamed (`O_TMPFILE`), reserved
/// and held before it is linked in one step, so no one sees it half made and no one reclaims
/// it between its creation and its hold; its drop removes the name only if the name still
/// leads to it (someone may have removed it and made another meanwhile).
fn life_atomic() -> io::Result<f64> {
    use rustix::fs::{
        fallocate, flock, fstat, linkat, openat, statat, unlinkat, AtFlags, FallocateFlags,
        FlockOperation, Mode, OFlags, CWD,
    };
    use rustix::io::Errno;
    let path = format!("/dev/shm/pipework-bench-atomic-{}", std::process::id());
    let start = Instant::now();
    for _ in 0..LIVES {
        match openat(
            CWD,
            path.as_str(),
            OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Err(Errno::NOENT) => {}
            Ok(_) => return Err(io::Error::other("the atomic bench's name is taken")),
            Err(e) => return Err(e.into()),
        }
        let fd = openat(
            CWD,
            "/dev/shm",
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let made = fstat(&fd)?;
        fallocate(&fd, FallocateFlags::empty(), 0, CHUNK as u64)?;
        flock(&fd, FlockOperation::NonBlockingLockShared)?;
        linkat(&fd, "", CWD, path.as_str(), AtFlags::EMPTY_PATH)?;
        map_write_unmap(&fd)?;
        flock(&fd, FlockOperation::NonBlockingLockExclusive)?;
        let now = statat(CWD, path.as_str(), AtFlags::SYMLINK_NOFOLLOW)?;
        if (now.st_dev, now.st_ino) == (made.st_dev, made.st_ino) {
            unlinkat(CWD, path.as_str(), AtFlags::empty())?;
        }
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / f64::from(LIVES))
}

fn child(_args: &[String]) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{NAME} has no child process"),
    ))
}
