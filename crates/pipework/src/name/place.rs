//! Where each kind of object lives: the one module that turns a name into a path, and the one
//! private-directory policy.
//!
//! * This user's own objects (pipes, mailslots, shared-memory pipes): under a private base
//!   directory, `$PIPEWORK_RUNTIME_DIR` when set, else `$XDG_RUNTIME_DIR/pipework` when that
//!   runtime directory belongs to the user and is closed to others, else
//!   `/dev/shm/pipework-<uid>`, else `/tmp/pipework-<uid>`; one subdirectory per kind.
//! * Global pipes: each in a directory of its own directly in `/tmp`
//!   (`/tmp/pipework-pipe-<key>`), created by the pipe's first server and owned by it. `/tmp`
//!   is sticky and root's, so nobody can remove or replace another user's directory, and no
//!   directory is shared: nothing exists that the first user to look could claim.
//! * File mappings and synchronization objects: files directly in `/dev/shm` (see
//!   [`super::ObjectName`]), where `shm_open` and Python look for them.
//!
//! A private directory is created mode 0700 when missing; it is used only while it is a real
//! directory (not a symlink) of this user's that no other user can write; one that others can
//! merely read or search is closed (0700) again. Anything else is refused with
//! `PermissionDenied` naming the directory and why. The shared roots (`/tmp`, `/dev/shm`) are
//! never created: they must be sticky directories of root's.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{check_name, file_key, fold, Kind, MailslotName, Namespace, PipeName};
use crate::sys::error::{error, named};

/// Where file mappings and synchronization objects live.
pub(crate) const SHM_DIR: &str = "/dev/shm";
/// Where every global pipe's own directory lives.
const GLOBAL_PIPES: &str = "/tmp";
/// The prefix of a global pipe's directory in [`GLOBAL_PIPES`].
const GLOBAL_PIPE_PREFIX: &str = "pipework-pipe-";

pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The directory for objects of `kind` in `namespace`, made on the way when it is this user's
/// private one.
///
/// * This user's pipes, mailslots and shared-memory pipes: their private directory (see the
///   module docs), created mode 0700 if missing.
/// * Global pipes: `/tmp`, in which each global pipe has a directory of its own (never created
///   here).
/// * File mappings, mutexes, semaphores and events, in either namespace: `/dev/shm`.
///
/// Fails with `PermissionDenied` when a directory on the way belongs to another user, is a
/// symlink, or is writable by others (or, for a shared root, is not a sticky directory of
/// root's); with `Unsupported` for global mailslots and shared-memory pipes, which do not exist.
pub fn directory(namespace: Namespace, kind: Kind) -> io::Result<PathBuf> {
    match (namespace, kind) {
        (_, Kind::Mapping | Kind::Mutex | Kind::Semaphore | Kind::Event) => {
            shared_root(Path::new(SHM_DIR))?;
            Ok(PathBuf::from(SHM_DIR))
        }
        (Namespace::Global, Kind::Pipe) => {
            shared_root(Path::new(GLOBAL_PIPES))?;
            Ok(PathBuf::from(GLOBAL_PIPES))
        }
        (Namespace::Local, Kind::Pipe | Kind::Mailslot | Kind::ShmPipe | Kind::Window) => {
            let dir = local_base()?.join(kind.as_str());
            private_dir(&dir)?;
            Ok(dir)
        }
        (Namespace::Global, Kind::Mailslot | Kind::ShmPipe | Kind::Window) => Err(error(
            ErrorKind::Unsupported,
            format_args!("{kind}s"),
            "only this user's own exist (no global namespace)",
        )),
    }
}

/// The base of this user's private directories (created and checked).
fn local_base() -> io::Result<PathBuf> {
    let uid = euid();
    if let Some(dir) = std::env::var_os("PIPEWORK_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        let base = PathBuf::from(dir);
        private_dir(&base)?;
        return Ok(base);
    }
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        let runtime = PathBuf::from(runtime);
        let usable = runtime.is_absolute()
            && fs::symlink_metadata(&runtime)
                .map(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
                .unwrap_or(false);
        if usable {
            let base = runtime.join("pipework");
            private_dir(&base)?;
            return Ok(base);
        }
    }
    let root = if Path::new(SHM_DIR).is_dir() {
        SHM_DIR
    } else {
        "/tmp"
    };
    let base = PathBuf::from(format!("{root}/pipework-{uid}"));
    private_dir(&base)?;
    Ok(base)
}

fn refuse(dir: &Path, why: impl std::fmt::Display) -> io::Error {
    error(
        ErrorKind::PermissionDenied,
        format_args!("refusing directory {}", dir.display()),
        why,
    )
}

/// The one private-directory policy: creates `dir` mode 0700 if missing, then accepts it only
/// as a real directory of this user's that no other user can write; one that others can only
/// read or search is closed again.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(named(
                format_args!("cannot create directory {}", dir.display()),
                e,
            ))
        }
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| named(dir.display(), e))?;
    let uid = euid();
    if !meta.is_dir() {
        return Err(refuse(dir, "not a directory (a symlink or a file)"));
    }
    if meta.uid() != uid {
        return Err(refuse(
            dir,
            format_args!("owned by uid {}, not {uid}", meta.uid()),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(
            dir,
            format_args!("writable by others (mode {:o})", meta.mode() & 0o7777),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        // Ours, only opened up for reading: close it again.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| named(dir.display(), e))?;
    }
    Ok(())
}

/// Checks that `dir` is a directory every user shares safely: root's, and sticky (so each
/// entry belongs to its maker) or closed to others' writes. Never creates it.
pub(crate) fn shared_root(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir).map_err(|e| named(dir.display(), e))?;
    let sticky_or_closed = meta.mode() & 0o1000 != 0 || meta.mode() & 0o022 == 0;
    if !meta.is_dir() || meta.uid() != 0 || !sticky_or_closed {
        return Err(refuse(dir, "not a sticky directory of root's"));
    }
    Ok(())
}

// ---- named pipes ----

/// The directory of the pipe `name` in `namespace` (see the module docs). Creates only this
/// user's private directory above it, never anything shared.
pub(crate) fn pipe_dir(namespace: Namespace, name: &PipeName) -> io::Result<PathBuf> {
    let key = name.file_key();
    Ok(match namespace {
        Namespace::Local => directory(Namespace::Local, Kind::Pipe)?.join(key),
        Namespace::Global => {
            directory(Namespace::Global, Kind::Pipe)?.join(format!("{GLOBAL_PIPE_PREFIX}{key}"))
        }
    })
}

/// The directories of every pipe in `namespace` that exist now (live or left by a killed
/// server). Reads only: for the global namespace, nothing is created.
pub(crate) fn pipe_dirs(namespace: Namespace) -> io::Result<Vec<PathBuf>> {
    let dir = directory(namespace, Kind::Pipe)?;
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| named(dir.display(), e))? {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name();
        let ours = match namespace {
            Namespace::Local => true,
            Namespace::Global => file_name
                .as_encoded_bytes()
                .starts_with(GLOBAL_PIPE_PREFIX.as_bytes()),
        };
        if ours && entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// The files in a pipe's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PipeFile {
    /// The lock file whose byte-range locks count the instances.
    Lock,
    /// The first instance's parameters and the pipe's full name.
    Info,
    /// `Info` being written.
    InfoNew,
    /// The listening socket of one slot.
    Socket(u64),
}

/// The path of `file` in the pipe directory `dir`.
pub(crate) fn pipe_file(dir: &Path, file: PipeFile) -> PathBuf {
    match file {
        PipeFile::Lock => dir.join("lock"),
        PipeFile::Info => dir.join("info"),
        PipeFile::InfoNew => dir.join("info.new"),
        PipeFile::Socket(slot) => dir.join(format!("i{slot}")),
    }
}

/// The slot whose listening socket has the file name `file_name`, if it is one.
pub(crate) fn pipe_slot_of(file_name: &OsStr) -> Option<u64> {
    let digits = file_name.to_str()?.strip_prefix('i')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

// ---- mailslots ----

/// The directory of this user's mailslots.
pub(crate) fn mailslot_dir() -> io::Result<PathBuf> {
    directory(Namespace::Local, Kind::Mailslot)
}

/// The spool file of the slot `name` in the mailslot directory `dir`.
pub(crate) fn mailslot_spool(dir: &Path, name: &MailslotName) -> PathBuf {
    dir.join(name.hashed())
}

/// The wakeup socket of the server with `token`, beside its spool.
pub(crate) fn mailslot_socket(spool: &Path, token: u64) -> PathBuf {
    with_suffix(spool, &format!(".{token:016x}.sock"))
}

/// Where the server with `token` prepares a new spool before publishing it at `spool`.
pub(crate) fn mailslot_new_spool(spool: &Path, token: u64) -> PathBuf {
    with_suffix(spool, &format!(".{token:016x}.new"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

// ---- shared-memory pipes ----

/// Where the listener of this user's shared-memory pipe `name` lives.
pub(crate) fn shm_pipe_socket(name: &str) -> io::Result<PathBuf> {
    check_name("shared-memory pipe", name)?;
    let dir = directory(Namespace::Local, Kind::ShmPipe)?;
    Ok(dir.join(file_key(&fold(name))))
}

/// Where the full name of the listener at `socket` is written down: the socket's file name
/// with a leading dot (keys never start with one).
pub(crate) fn shm_pipe_note(socket: &Path) -> PathBuf {
    let mut note = std::ffi::OsString::from(".");
    note.push(socket.file_name().unwrap_or_default());
    socket.with_file_name(note)
}

/// Where a listener writes its note before renaming it into place (a dot file too).
pub(crate) fn shm_pipe_note_temp(note: &Path) -> PathBuf {
    with_suffix(note, ".new")
}

/// Whether `path` (an entry of the shared-memory pipe directory) is a note, not a socket.
pub(crate) fn is_shm_pipe_note(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|f| f.as_encoded_bytes().starts_with(b"."))
}

// ---- the headless clipboard ----

/// The private directory of this user's headless clipboard `name` (created and checked), and
/// the key it is stored under.
pub(crate) fn clipboard_dir(name: &str) -> io::Result<PathBuf> {
    check_name("clipboard", name)?;
    let base = local_base()?.join("clipboard");
    private_dir(&base)?;
    let dir = base.join(file_key(&fold(name)));
    private_dir(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_directory_policy() {
        let base = std::env::temp_dir().join(format!("pipework-name-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir(&base).unwrap();
        // Ours but readable by others: closed again.
        let mine = base.join("mine");
        fs::DirBuilder::new().mode(0o755).create(&mine).unwrap();
        fs::set_permissions(&mine, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&mine).unwrap();
        assert_eq!(fs::metadata(&mine).unwrap().mode() & 0o777, 0o700);
        // Ours but writable by others: someone may have put things in it. Refused.
        let open = base.join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&open).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("writable by others"), "{e}");
        // A symlink is no directory of ours.
        let link = base.join("link");
        std::os::unix::fs::symlink(&mine, &link).unwrap();
        assert_eq!(
            private_dir(&link).unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        // A shared root must be root's and sticky.
        if euid() == 0 {
            assert_eq!(
                shared_root(&open).unwrap_err().kind(),
                ErrorKind::PermissionDenied
            );
            fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
            shared_root(&open).unwrap();
        } else {
            assert_eq!(
                shared_root(&open).unwrap_err().kind(),
                ErrorKind::PermissionDenied
            );
        }
        shared_root(Path::new("/tmp")).unwrap();
        fs::remove_dir_all(&base).unwrap();
    }

    /// Interop suite: needs root to give a directory to another user.
    #[cfg(feature = "interop")]
    #[test]
    fn interop_refuses_another_users_directory() {
        assert_eq!(
            euid(),
            0,
            "this test gives a directory to uid nobody: it must run as root (as CI does)"
        );
        let theirs =
            std::env::temp_dir().join(format!("pipework-name-theirs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&theirs);
        fs::create_dir(&theirs).unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let e = private_dir(&theirs).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(
            shared_root(&theirs).unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        fs::remove_dir_all(&theirs).unwrap();
    }

    #[test]
    fn paths_of_each_kind() {
        let dir = Path::new("/x");
        assert_eq!(pipe_file(dir, PipeFile::Socket(7)), Path::new("/x/i7"));
        assert_eq!(pipe_slot_of(OsStr::new("i7")), Some(7));
        assert_eq!(pipe_slot_of(OsStr::new("i")), None);
        assert_eq!(pipe_slot_of(OsStr::new("i+7")), None);
        assert_eq!(pipe_slot_of(OsStr::new("info")), None);
        let spool = Path::new("/x/abc");
        assert_eq!(
            mailslot_socket(spool, 1),
            Path::new("/x/abc.0000000000000001.sock")
        );
        assert_eq!(shm_pipe_note(Path::new("/x/jobs")), Path::new("/x/.jobs"));
        assert!(is_shm_pipe_note(Path::new("/x/.jobs")));
    }
}
