//! The kernel-object namespace: where named mappings, mutexes, semaphores and events live, as
//! files in `/dev/shm`, and how their lifetime follows their holders even through `kill -9`.
//!
//! * `Local\x` (or plain `x`) is `/dev/shm/pipework-<uid>-x` (mode 0600: this user only);
//!   `Global\x` is `/dev/shm/pipework-global-x` (mode 0666); `/x` is the POSIX shared-memory name
//!   `x` as `shm_open` and Python's `SharedMemory(name="x")` spell it. `%` and `/` in names are
//!   written `%25` and `%2F`.
//! * One file per name, whatever the kind: the kind is the extended attribute
//!   `user.pipework.kind` (a file without it, made by another program, is a mapping).
//! * Every holder keeps a shared `flock` on its open file; views (`mmap`) keep it too. A name
//!   whose file nobody holds is stale: it is removed when the last pipework holder lets go, or
//!   by the next create, open or list after a crash (`flock`s vanish with their process).
//! * Creating, opening and removing a name are serialised by a per-namespace lock file
//!   (`.pipework-<uid>.lock` / `.pipework-global.lock`), held for a few system calls.
//! * A new object is built in an unnamed file (`O_TMPFILE`), initialised, and only then linked
//!   under its name, so no one ever sees it half made.

use std::ffi::OsStr;
use std::io::{self, ErrorKind};
use std::os::fd::OwnedFd;

use rustix::fs::{
    fchmod, fgetxattr, flock, fsetxattr, fstat, linkat, openat, unlinkat, AtFlags, FileType,
    FlockOperation, Mode, OFlags, XattrFlags, CWD,
};
use rustix::io::Errno;

const DIR: &str = "/dev/shm";
const XATTR: &str = "user.pipework.kind";

/// The kinds of named object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A file mapping (`CreateFileMapping`).
    Mapping,
    /// A mutex (`CreateMutex`).
    Mutex,
    /// A semaphore (`CreateSemaphore`).
    Semaphore,
    /// An event (`CreateEvent`).
    Event,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Mapping => "mapping",
            Kind::Mutex => "mutex",
            Kind::Semaphore => "semaphore",
            Kind::Event => "event",
        }
    }

    fn from_tag(tag: &[u8]) -> Option<Kind> {
        Some(match tag {
            b"mapping" => Kind::Mapping,
            b"mutex" => Kind::Mutex,
            b"semaphore" => Kind::Semaphore,
            b"event" => Kind::Event,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

/// A parsed object name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Name {
    /// As the caller wrote it.
    pub(crate) display: String,
    /// The file name in `/dev/shm`.
    pub(crate) file: String,
    global: bool,
}

impl Name {
    pub(crate) fn parse(name: &str) -> io::Result<Name> {
        let bad = |why: &str| {
            io::Error::new(
                ErrorKind::InvalidInput,
                format!("invalid object name {name:?}: {why}"),
            )
        };
        let (file, global) = if let Some(rest) = name.strip_prefix("Global\\") {
            (format!("pipework-global-{}", encode(rest)), true)
        } else if let Some(raw) = name.strip_prefix('/') {
            if raw.contains('/') || raw.starts_with('.') {
                return Err(bad(
                    "a system shared-memory name holds no further '/' and no leading '.'",
                ));
            }
            (raw.to_string(), true)
        } else {
            let rest = name.strip_prefix("Local\\").unwrap_or(name);
            (format!("pipework-{}-{}", uid(), encode(rest)), false)
        };
        let local_part = name
            .strip_prefix("Global\\")
            .or_else(|| name.strip_prefix("Local\\"))
            .or_else(|| name.strip_prefix('/'))
            .unwrap_or(name);
        if local_part.is_empty() {
            return Err(bad("empty"));
        }
        if name.contains('\0') {
            return Err(bad("holds a NUL character"));
        }
        if file.len() > 255 {
            return Err(bad("too long"));
        }
        Ok(Name {
            display: name.to_string(),
            file,
            global,
        })
    }

    /// The OS name: the file's path.
    pub(crate) fn path(&self) -> String {
        format!("{DIR}/{}", self.file)
    }

    fn lock_file(&self) -> String {
        if self.global {
            ".pipework-global.lock".to_string()
        } else {
            format!(".pipework-{}.lock", uid())
        }
    }
}

fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

fn encode(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

fn decode(name: &str) -> String {
    name.replace("%2F", "/").replace("%25", "%")
}

/// The Win32 spelling of a file name in `/dev/shm`, when it is one of pipework's.
fn display_of(file: &str) -> Option<String> {
    if let Some(rest) = file.strip_prefix("pipework-global-") {
        return Some(format!("Global\\{}", decode(rest)));
    }
    let rest = file.strip_prefix(&format!("pipework-{}-", uid()))?;
    Some(format!("Local\\{}", decode(rest)))
}

fn dir() -> io::Result<OwnedFd> {
    Ok(openat(
        CWD,
        DIR,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Holds the namespace lock while alive.
struct NamespaceLock {
    _fd: OwnedFd,
}

impl NamespaceLock {
    fn take(dir: &OwnedFd, name: &Name, wait: bool) -> io::Result<Option<NamespaceLock>> {
        let mode = if name.global { 0o666 } else { 0o600 };
        let fd = openat(
            dir,
            name.lock_file(),
            OFlags::RDONLY | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(mode),
        )?;
        if name.global {
            let _ = fchmod(&fd, Mode::from_raw_mode(0o666));
        }
        let op = if wait {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::NonBlockingLockExclusive
        };
        loop {
            match flock(&fd, op) {
                Ok(()) => return Ok(Some(NamespaceLock { _fd: fd })),
                Err(Errno::INTR) => {}
                Err(Errno::WOULDBLOCK) if !wait => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// What is at a name.
struct Existing {
    fd: OwnedFd,
    kind: Kind,
}

fn kind_of(fd: &OwnedFd) -> io::Result<(Kind, bool)> {
    let mut buf = [0u8; 32];
    match fgetxattr(fd, XATTR, &mut buf) {
        Ok(n) => match Kind::from_tag(&buf[..n]) {
            Some(kind) => Ok((kind, true)),
            None => Err(io::Error::new(
                ErrorKind::InvalidData,
                "the object's kind attribute is not one pipework knows",
            )),
        },
        Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) => Ok((Kind::Mapping, false)),
        Err(Errno::RANGE) => Err(io::Error::new(
            ErrorKind::InvalidData,
            "the object's kind attribute is not one pipework knows",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Opens what is at `name` (under the namespace lock), removing it if it is stale.
fn open_existing(dir: &OwnedFd, name: &Name, write: bool) -> io::Result<Option<Existing>> {
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    let fd = match openat(
        dir,
        &name.file,
        // NONBLOCK: a FIFO planted at the name must not hang the open.
        access | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) | Err(Errno::ISDIR) | Err(Errno::NXIO) => {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "{}: the name is held by something that is not an object",
                    name.display
                ),
            ))
        }
        Err(Errno::ACCESS) | Err(Errno::PERM) => {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                format!("{}: access denied", name.display),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    if !FileType::from_raw_mode(fstat(&fd)?.st_mode).is_file() {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "{}: the name is held by something that is not an object",
                name.display
            ),
        ));
    }
    let (kind, owned) = kind_of(&fd).map_err(|e| with_name(e, name))?;
    if owned && is_unheld(&fd)? {
        // Every holder is gone (crashed, or closed while another process held the lock).
        let _ = unlinkat(dir, &name.file, AtFlags::empty());
        return Ok(None);
    }
    hold(&fd)?;
    Ok(Some(Existing { fd, kind }))
}

/// Whether no process holds `fd`'s file (takes and drops an exclusive lock when so).
fn is_unheld(fd: &OwnedFd) -> io::Result<bool> {
    match flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            flock(fd, FlockOperation::Unlock)?;
            Ok(true)
        }
        Err(Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Marks `fd` as held by this process: a shared lock for the life of its open file.
fn hold(fd: &OwnedFd) -> io::Result<()> {
    loop {
        match flock(fd, FlockOperation::LockShared) {
            Ok(()) => return Ok(()),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn with_name(e: io::Error, name: &Name) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", name.display))
}

/// The result of [`create`].
pub(crate) struct Created {
    pub(crate) fd: OwnedFd,
    pub(crate) existed: bool,
}

/// Creates the object `name` of `kind`, or opens the existing one of the same kind.
///
/// `init` fills a new object's file before anyone can see it. An existing object of another kind
/// is `AlreadyExists`.
pub(crate) fn create(
    name: &Name,
    kind: Kind,
    init: impl FnOnce(&OwnedFd) -> io::Result<()>,
) -> io::Result<Created> {
    let dir = dir()?;
    let _lock = NamespaceLock::take(&dir, name, true)?;
    if let Some(existing) = open_existing(&dir, name, true)? {
        if existing.kind != kind {
            return Err(io::Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{} already exists as a {}, not a {kind}",
                    name.display, existing.kind
                ),
            ));
        }
        return Ok(Created {
            fd: existing.fd,
            existed: true,
        });
    }
    let mode = Mode::from_raw_mode(if name.global { 0o666 } else { 0o600 });
    let fd = openat(
        &dir,
        ".",
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        mode,
    )?;
    fchmod(&fd, mode)?;
    init(&fd)?;
    fsetxattr(&fd, XATTR, kind.tag().as_bytes(), XattrFlags::empty())?;
    hold(&fd)?;
    match linkat(&fd, "", &dir, &name.file, AtFlags::EMPTY_PATH) {
        Ok(()) => Ok(Created { fd, existed: false }),
        // Made meanwhile by a program that does not take the namespace lock.
        Err(Errno::EXIST) => Err(io::Error::new(
            ErrorKind::AlreadyExists,
            format!("{}: created meanwhile by another program", name.display),
        )),
        Err(e) => Err(with_name(e.into(), name)),
    }
}

/// Opens the existing object `name`, which must be of `kind`: `NotFound` when there is none.
pub(crate) fn open(name: &Name, kind: Kind, write: bool) -> io::Result<OwnedFd> {
    let dir = dir()?;
    let _lock = NamespaceLock::take(&dir, name, true)?;
    match open_existing(&dir, name, write)? {
        None => Err(io::Error::new(
            ErrorKind::NotFound,
            format!("no object named {}", name.display),
        )),
        Some(existing) if existing.kind != kind => Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("{} is a {}, not a {kind}", name.display, existing.kind),
        )),
        Some(existing) => Ok(existing.fd),
    }
}

/// Called after this process let go of `name` (closed its file and views): removes the name if
/// no process holds it any more. Never blocks; a name it cannot check now is reclaimed later.
pub(crate) fn release(name: &Name) {
    let Ok(dir) = dir() else { return };
    let Ok(Some(_lock)) = NamespaceLock::take(&dir, name, false) else {
        return;
    };
    let Ok(fd) = openat(
        &dir,
        &name.file,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    ) else {
        return;
    };
    if matches!(kind_of(&fd), Ok((_, true))) && matches!(is_unheld(&fd), Ok(true)) {
        let _ = unlinkat(&dir, &name.file, AtFlags::empty());
    }
}

/// Removes the name `name` (whatever holds it keeps working; the name is free again).
pub(crate) fn remove(name: &Name) -> io::Result<()> {
    let dir = dir()?;
    let _lock = NamespaceLock::take(&dir, name, true)?;
    unlinkat(&dir, &name.file, AtFlags::empty()).map_err(|e| match e {
        Errno::NOENT => io::Error::new(
            ErrorKind::NotFound,
            format!("no object named {}", name.display),
        ),
        e => with_name(e.into(), name),
    })
}

/// One named object, as [`crate::sync::list`] and [`crate::mapping::list`] report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name (`Local\x` or `Global\x`).
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Bytes of its file (a mapping's size).
    pub size: u64,
    /// Its file: the OS name other programs open it by.
    pub path: String,
}

/// Every live pipework object visible to this user, of the given kinds; stale names (every holder
/// gone) are reclaimed on the way.
pub(crate) fn list(kinds: &[Kind]) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(DIR)? {
        let Ok(item) = item else { continue };
        let file_name = item.file_name();
        let Some(file) = OsStr::new(&file_name).to_str() else {
            continue;
        };
        let Some(display) = display_of(file) else {
            continue;
        };
        let Ok(name) = Name::parse(&display) else {
            continue;
        };
        if name.file != file {
            continue;
        }
        let Ok(dir) = dir() else { continue };
        let Ok(Some(_lock)) = NamespaceLock::take(&dir, &name, true) else {
            continue;
        };
        let Ok(Some(existing)) = open_existing(&dir, &name, false) else {
            continue;
        };
        if !kinds.contains(&existing.kind) {
            continue;
        }
        let size = fstat(&existing.fd).map(|s| s.st_size as u64).unwrap_or(0);
        entries.push(Entry {
            name: display,
            kind: existing.kind,
            size,
            path: name.path(),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}
