//! The kernel-object namespace: where named mappings, mutexes, semaphores and events live, as
//! files in `/dev/shm`, and how their lifetime follows their holders even through `kill -9`.
//!
//! * `Local\x` (or plain `x`) is `/dev/shm/pipework-<uid>-x` (mode 0600: this user only);
//!   `Global\x` is `/dev/shm/pipework-global-x` (mode 0666); `/x` is the POSIX shared-memory name
//!   `x` as `shm_open` and Python's `SharedMemory(name="x")` spell it. `%` and `/` in names are
//!   written `%25` and `%2F`. Object names are case-sensitive, as in Win32.
//! * One file per name, whatever the kind. A mapping pipework made has the sticky bit in its
//!   mode ([`MAPPING_MARK`]: set in the same call that makes the file, where an extended
//!   attribute cost one more); a mutex, semaphore or event has the extended attribute
//!   `user.pipework.kind` naming its kind (as mappings of earlier versions had). A file with
//!   neither, made by another program, is a mapping that pipework never removes.
//! * Nothing another user made is taken for this user's: before a byte of a `Local\` object is
//!   trusted, its file (opened with `O_NOFOLLOW`) must be a regular file of this user's that no
//!   one else may open (`fstat`); anything else at the name is refused (`PermissionDenied`,
//!   `InvalidData`), never read, mapped or waited on.
//! * Every holder keeps a shared `flock` on its open file; views (`mmap`) keep it too. A name
//!   whose file nobody holds is stale: it is removed when the last pipework holder lets go, or
//!   by the next create, open or list after a crash (`flock`s vanish with their process). That
//!   removal is [`super::Lease`]'s.
//! * No lock file and no lock shared by a namespace: a new object is built in an unnamed file
//!   (`O_TMPFILE`), initialised, held, and only then linked under its name in one atomic step,
//!   so no one ever sees it half made and two creators cannot both win. A remover holds the
//!   file's `flock` exclusively for the few system calls of its removal; an opener that finds
//!   the file so held waits a bounded time (and fails with `TimedOut` naming the object), then
//!   checks the name still leads to the file it holds.

use std::ffi::OsStr;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::fs::{
    fchmod, fgetxattr, flock, fsetxattr, fstat, linkat, openat, statat, AtFlags, FileType,
    FlockOperation, Mode, OFlags, Stat, XattrFlags, CWD,
};
use rustix::io::Errno;

use super::place::{euid, SHM_DIR};
use super::{lease, Kind, Namespace};
use crate::sys::error::{error, invalid, named};

const XATTR: &str = "user.pipework.kind";
/// The mode bit that marks a file as a mapping pipework made (the sticky bit, which means
/// nothing on a regular file): reclaimable once every holder is gone.
pub(crate) const MAPPING_MARK: u32 = 0o1000;
/// How long an opener waits for another process's exclusive hold on an object's file (a
/// pipework remover holds it for a few system calls; only a stranger holds it longer).
const HOLD_WAIT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// `Local\x` or `x`: this user's only.
    Local,
    /// `Global\x`: every user's.
    Global,
    /// `/x`: a POSIX shared-memory name, shared with other programs.
    Posix,
}

/// A parsed name of a file mapping or synchronization object: `Local\x`, `Global\x`, a plain
/// `x` (this user's, as `Local\x`), or a POSIX shared-memory name `/x`.
///
/// ```
/// use pipework::name::{Namespace, ObjectName};
///
/// let name = ObjectName::parse(r"Global\jobs")?;
/// assert_eq!(name.namespace(), Namespace::Global);
/// assert_eq!(name.os_name(), "pipework-global-jobs");
/// assert_eq!(ObjectName::parse("/py")?.os_name(), "py");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectName {
    /// As the caller wrote it.
    pub(crate) display: String,
    /// The file name in `/dev/shm`.
    pub(crate) file: String,
    /// The file's absolute path: every system call on the name takes it (no descriptor of
    /// `/dev/shm` is opened for them).
    pub(crate) at: String,
    scope: Scope,
}

impl ObjectName {
    /// Parses an object name. Fails with `InvalidInput` naming the problem.
    pub fn parse(name: &str) -> io::Result<ObjectName> {
        let bad = |why: &str| invalid(format_args!("invalid object name {name:?}"), why);
        let (local_part, scope) = if let Some(rest) = name.strip_prefix("Global\\") {
            (rest, Scope::Global)
        } else if let Some(raw) = name.strip_prefix('/') {
            if raw.contains('/') || raw.starts_with('.') {
                return Err(bad(
                    "a system shared-memory name holds no further '/' and no leading '.'",
                ));
            }
            (raw, Scope::Posix)
        } else {
            (name.strip_prefix("Local\\").unwrap_or(name), Scope::Local)
        };
        if local_part.is_empty() {
            return Err(bad("empty"));
        }
        if name.contains('\0') {
            return Err(bad("holds a NUL character"));
        }
        let file = match scope {
            Scope::Global => format!("pipework-global-{}", encode(local_part)),
            Scope::Posix => local_part.to_string(),
            Scope::Local => format!("pipework-{}-{}", euid(), encode(local_part)),
        };
        if file.len() > 255 {
            return Err(bad("too long"));
        }
        Ok(ObjectName {
            display: name.to_string(),
            at: format!("{SHM_DIR}/{file}"),
            file,
            scope,
        })
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The name other programs know the object by: its file name in `/dev/shm` (what
    /// `shm_open` and Python's `SharedMemory(name=...)` take).
    pub fn os_name(&self) -> &str {
        &self.file
    }

    /// The object's file.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.at)
    }

    /// [`Namespace::Local`] for `Local\x` and `x`; [`Namespace::Global`] for `Global\x` and the
    /// POSIX names `/x`, which every user shares.
    pub fn namespace(&self) -> Namespace {
        match self.scope {
            Scope::Local => Namespace::Local,
            Scope::Global | Scope::Posix => Namespace::Global,
        }
    }

    /// The mode of a new object's file of `kind`.
    fn mode(&self, kind: Kind) -> Mode {
        let access = match self.scope {
            Scope::Local => 0o600,
            Scope::Global | Scope::Posix => 0o666,
        };
        let mark = if kind == Kind::Mapping {
            MAPPING_MARK
        } else {
            0
        };
        Mode::from_raw_mode(access | mark)
    }
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
    let rest = file.strip_prefix(&format!("pipework-{}-", euid()))?;
    Some(format!("Local\\{}", decode(rest)))
}

/// What is at a name.
pub(crate) struct Existing {
    pub(crate) fd: OwnedFd,
    pub(crate) kind: Kind,
    /// Its file, as [`check_file`] saw it.
    pub(crate) stat: Stat,
}

/// The kind of `fd`'s file, whose mode is `mode`, and whether pipework made it; `(Mapping,
/// false)` for a file with neither mark.
pub(crate) fn kind_of(fd: &OwnedFd, mode: u32) -> io::Result<(Kind, bool)> {
    if mode & MAPPING_MARK != 0 {
        return Ok((Kind::Mapping, true));
    }
    let unknown = || {
        io::Error::new(
            ErrorKind::InvalidData,
            "the object's kind attribute is not one pipework knows",
        )
    };
    let mut buf = [0u8; 32];
    match fgetxattr(fd, XATTR, &mut buf) {
        Ok(n) => match Kind::from_object_tag(&buf[..n]) {
            Some(kind) => Ok((kind, true)),
            None => Err(unknown()),
        },
        Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) => Ok((Kind::Mapping, false)),
        Err(Errno::RANGE) => Err(unknown()),
        Err(e) => Err(e.into()),
    }
}

fn not_an_object(name: &ObjectName) -> io::Error {
    error(
        ErrorKind::InvalidData,
        &name.display,
        "the name is held by something that is not an object",
    )
}

/// Opens the file at `name` without following a link or blocking on a FIFO; `None` when the
/// name is free.
pub(crate) fn open_file(name: &ObjectName, write: bool) -> io::Result<Option<OwnedFd>> {
    let access = if write { OFlags::RDWR } else { OFlags::RDONLY };
    match openat(
        CWD,
        name.at.as_str(),
        // NONBLOCK: a FIFO planted at the name must not hang the open.
        access | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK,
        Mode::empty(),
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT) => Ok(None),
        Err(Errno::LOOP) | Err(Errno::ISDIR) | Err(Errno::NXIO) => Err(not_an_object(name)),
        Err(Errno::ACCESS) | Err(Errno::PERM) => Err(error(
            ErrorKind::PermissionDenied,
            &name.display,
            "access denied",
        )),
        Err(e) => Err(named(&name.display, e)),
    }
}

/// Checks the file `fd` opened at `name` before anything in it is believed: a regular file,
/// and for a `Local\` name one of this user's that nobody else may open. Returns what it saw.
pub(crate) fn check_file(fd: &OwnedFd, name: &ObjectName) -> io::Result<Stat> {
    let st = fstat(fd).map_err(|e| named(&name.display, e))?;
    if !FileType::from_raw_mode(st.st_mode).is_file() {
        return Err(not_an_object(name));
    }
    if name.scope == Scope::Local {
        let me = euid();
        let path = name.path();
        let refused = |why: std::fmt::Arguments<'_>| {
            error(
                ErrorKind::PermissionDenied,
                &name.display,
                format_args!("its file {} {why}: refusing it", path.display()),
            )
        };
        if st.st_uid != me {
            return Err(refused(format_args!(
                "belongs to uid {}, not this user (uid {me})",
                st.st_uid
            )));
        }
        if st.st_mode & 0o077 != 0 {
            return Err(refused(format_args!(
                "is open to other users (mode {:o})",
                st.st_mode & 0o7777
            )));
        }
    }
    Ok(st)
}

/// Looks at what is at `name`: checked, its kind read, and reclaimed when every holder is gone
/// (then `None`). Takes no hold.
fn inspect(name: &ObjectName, write: bool) -> io::Result<Option<Existing>> {
    let Some(fd) = open_file(name, write)? else {
        return Ok(None);
    };
    let stat = check_file(&fd, name)?;
    let (kind, ours) = kind_of(&fd, stat.st_mode).map_err(|e| named(&name.display, e))?;
    if ours && lease::reclaim_object(name, &fd)? {
        // Every holder was gone (crashed, or let go while another process looked).
        return Ok(None);
    }
    Ok(Some(Existing { fd, kind, stat }))
}

/// Marks `fd` as held by this process: a shared lock for the life of its open file. Waits a
/// bounded time for a remover's exclusive lock.
fn hold(fd: &OwnedFd, name: &ObjectName) -> io::Result<()> {
    let deadline = Instant::now() + HOLD_WAIT;
    let mut pause = Duration::from_micros(20);
    loop {
        match flock(fd, FlockOperation::NonBlockingLockShared) {
            Ok(()) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(Errno::WOULDBLOCK) => {}
            Err(e) => return Err(named(&name.display, e)),
        }
        if Instant::now() >= deadline {
            return Err(error(
                ErrorKind::TimedOut,
                &name.display,
                format_args!(
                    "another process has held its file {} exclusively for {HOLD_WAIT:?} \
                     (a pipework process holds it for a few system calls only); giving up",
                    name.path().display()
                ),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// Whether the name `name` still leads to `fd`'s file.
pub(crate) fn still_linked(name: &ObjectName, fd: &OwnedFd) -> io::Result<bool> {
    let held = fstat(fd)?;
    match statat(CWD, name.at.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(now) => Ok(held.st_nlink > 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How many times a create or open starts again when the name changes hands under it.
const ROUNDS: usize = 64;

fn changing_hands(name: &ObjectName) -> io::Error {
    error(
        ErrorKind::ResourceBusy,
        &name.display,
        "the name keeps changing hands; giving up",
    )
}

/// Opens what is at `name` and holds it; `None` when the name is free (after reclaiming a
/// stale object).
fn open_existing(name: &ObjectName, write: bool) -> io::Result<Option<Existing>> {
    for _ in 0..ROUNDS {
        let Some(existing) = inspect(name, write)? else {
            return Ok(None);
        };
        hold(&existing.fd, name)?;
        if still_linked(name, &existing.fd).map_err(|e| named(&name.display, e))? {
            return Ok(Some(existing));
        }
        // Removed while this process waited for its hold: look again.
    }
    Err(changing_hands(name))
}

/// The result of [`create`].
pub(crate) struct Created {
    pub(crate) fd: OwnedFd,
    pub(crate) existed: bool,
    /// Its file's device, inode, owner and mode (for a new object, seen before `init`: not its
    /// size).
    pub(crate) stat: Stat,
}

/// Creates the object `name` of `kind`, or opens the existing one of the same kind.
///
/// `init` fills a new object's file before anyone can see it. An existing object of another kind
/// is `AlreadyExists`.
pub(crate) fn create(
    name: &ObjectName,
    kind: Kind,
    init: impl Fn(&OwnedFd) -> io::Result<()>,
) -> io::Result<Created> {
    for _ in 0..ROUNDS {
        if let Some(existing) = open_existing(name, true)? {
            if existing.kind != kind {
                return Err(error(
                    ErrorKind::AlreadyExists,
                    &name.display,
                    format_args!("it already exists as a {}, not a {kind}", existing.kind),
                ));
            }
            return Ok(Created {
                fd: existing.fd,
                existed: true,
                stat: existing.stat,
            });
        }
        let mode = name.mode(kind);
        let fd = openat(
            CWD,
            SHM_DIR,
            OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
            mode,
        )
        .map_err(|e| named(&name.display, e))?;
        let mut stat = fstat(&fd).map_err(|e| named(&name.display, e))?;
        if stat.st_mode & 0o7777 != mode.bits() {
            // The umask took bits from it: set it outright.
            fchmod(&fd, mode).map_err(|e| named(&name.display, e))?;
            stat.st_mode = (stat.st_mode & !0o7777) | mode.bits();
        }
        init(&fd).map_err(|e| named(&name.display, e))?;
        if kind != Kind::Mapping {
            // A mapping's kind is in its mode, set above.
            fsetxattr(&fd, XATTR, kind.as_str().as_bytes(), XattrFlags::empty())
                .map_err(|e| named(&name.display, e))?;
        }
        hold(&fd, name)?;
        match link(&fd, name) {
            Ok(()) => {
                return Ok(Created {
                    fd,
                    existed: false,
                    stat,
                })
            }
            // Made meanwhile by another process: open that one.
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(named(&name.display, e)),
        }
    }
    Err(changing_hands(name))
}

/// Gives the unnamed file `fd` the name `name`, failing with `EEXIST` if it is taken.
fn link(fd: &OwnedFd, name: &ObjectName) -> Result<(), Errno> {
    match linkat(fd, "", CWD, name.at.as_str(), AtFlags::EMPTY_PATH) {
        // Kernels before 6.10 let only CAP_DAC_READ_SEARCH link by descriptor; every process
        // may link its own file through /proc.
        Err(Errno::NOENT) | Err(Errno::PERM) => {
            use std::os::fd::AsRawFd;
            let proc_path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
            linkat(
                CWD,
                proc_path.as_str(),
                CWD,
                name.at.as_str(),
                AtFlags::SYMLINK_FOLLOW,
            )
        }
        other => other,
    }
}

/// Opens the existing object `name`, which must be of `kind`: `NotFound` when there is none.
pub(crate) fn open(name: &ObjectName, kind: Kind, write: bool) -> io::Result<OwnedFd> {
    open_seen(name, kind, write).map(|(fd, _)| fd)
}

/// [`open`], with the file as it was checked.
pub(crate) fn open_seen(name: &ObjectName, kind: Kind, write: bool) -> io::Result<(OwnedFd, Stat)> {
    match open_existing(name, write)? {
        None => Err(error(
            ErrorKind::NotFound,
            format_args!("no object named {}", name.display),
            "it does not exist",
        )),
        Some(existing) if existing.kind != kind => Err(error(
            ErrorKind::InvalidInput,
            &name.display,
            format_args!("it is a {}, not a {kind}", existing.kind),
        )),
        Some(existing) => Ok((existing.fd, existing.stat)),
    }
}

/// One named object, as [`crate::sync::list`] and [`crate::mapping::list`] report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectEntry {
    /// Its name (`Local\x` or `Global\x`).
    pub name: String,
    /// What it is.
    pub kind: Kind,
    /// Bytes of its file (a mapping's size).
    pub size: u64,
    /// Its file: the OS name other programs open it by.
    pub path: String,
}

/// Every live pipework object visible to this user, of the given kinds, with its owner; stale
/// names (every holder gone) are reclaimed on the way. Takes no lock and waits for nothing.
pub(crate) fn list_owned(kinds: &[Kind]) -> io::Result<Vec<(ObjectEntry, u32)>> {
    let mut entries = Vec::new();
    for item in std::fs::read_dir(SHM_DIR).map_err(|e| named(SHM_DIR, e))? {
        let Ok(item) = item else { continue };
        let file_name = item.file_name();
        let Some(file) = OsStr::new(&file_name).to_str() else {
            continue;
        };
        let Some(display) = display_of(file) else {
            continue;
        };
        let Ok(name) = ObjectName::parse(&display) else {
            continue;
        };
        if name.file != file {
            continue;
        }
        let Ok(Some(existing)) = inspect(&name, false) else {
            continue;
        };
        if !kinds.contains(&existing.kind) {
            continue;
        }
        entries.push((
            ObjectEntry {
                name: display,
                kind: existing.kind,
                size: existing.stat.st_size as u64,
                path: name.path().to_string_lossy().into_owned(),
            },
            existing.stat.st_uid,
        ));
    }
    entries.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(entries)
}

/// [`list_owned`] without the owners.
pub(crate) fn list(kinds: &[Kind]) -> io::Result<Vec<ObjectEntry>> {
    Ok(list_owned(kinds)?.into_iter().map(|(e, _)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms() {
        let uid = euid();
        let n = ObjectName::parse("jobs").unwrap();
        assert_eq!(n.os_name(), format!("pipework-{uid}-jobs"));
        assert_eq!(n.namespace(), Namespace::Local);
        assert_eq!(
            ObjectName::parse(r"Local\a/b%c").unwrap().os_name(),
            format!("pipework-{uid}-a%2Fb%25c")
        );
        assert_eq!(
            ObjectName::parse(r"Global\x").unwrap().os_name(),
            "pipework-global-x"
        );
        assert_eq!(ObjectName::parse("/x").unwrap().os_name(), "x");
        for bad in ["", r"Local\", r"Global\", "/", "/a/b", "/.x", "a\0b"] {
            assert_eq!(
                ObjectName::parse(bad).unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
        assert!(ObjectName::parse(&"x".repeat(300)).is_err());
        for name in [r"Local\a/b%c%2F", r"Global\x"] {
            let parsed = ObjectName::parse(name).unwrap();
            let back = display_of(parsed.os_name()).unwrap();
            assert_eq!(
                ObjectName::parse(&back).unwrap().os_name(),
                parsed.os_name()
            );
        }
    }
}
