//! Win32-style object names (`\\.\pipe\jobs`) and where the objects they name live on Linux.
//!
//! Names are case-insensitive, as in Win32: [`fold`] gives the form that decides identity. Where
//! an object lives is private to pipework and secure by default:
//!
//! * [`Namespace::Local`]: a directory of the current user's that no other user can write or even
//!   search: `$XDG_RUNTIME_DIR/pipework` when that belongs to the user, else
//!   `/tmp/pipework-<uid>`, created mode 0700. A directory of that name that belongs to another
//!   user, or that others can write, is refused (`PermissionDenied`), never used.
//! * [`Namespace::Global`]: `/tmp/pipework-global`, sticky and world-writable (1777) like `/tmp`,
//!   for objects meant to be shared between users; each object there belongs to its creator, who
//!   chooses who may use it.
//!
//! Each [`Kind`] of object has its own subdirectory ([`directory`]), and each object a file name
//! made from its folded name ([`file_key`]): the name itself when it is short and plain, else a
//! hash of it, so that any name up to 256 characters fits in a Unix socket path (108 bytes).
//!
//! | Win32 | pipework |
//! |---|---|
//! | `\\.\pipe\NAME`, `\\server\pipe\NAME` | [`PipeName::parse`] |
//! | case-insensitive name comparison | [`fold`] |
//! | the object namespace | [`directory`] with a [`Namespace`] and a [`Kind`] |
//! | `ERROR_INVALID_NAME` | [`std::io::ErrorKind::InvalidInput`] |

use std::fmt;
use std::fs;
use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The longest object name, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// Which namespace an object lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// The current user's own objects: nobody else can reach them.
    Local,
    /// Objects meant to be shared between users; each one's creator decides who may use it.
    Global,
}

/// What kind of object a name is for: each kind has its own directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Named pipes (`\\.\pipe\`).
    Pipe,
    /// Mailslots (`\\.\mailslot\`).
    Mailslot,
    /// File mappings.
    Mapping,
    /// Named synchronization objects.
    Sync,
    /// Shared-memory pipes created by name.
    ShmPipe,
}

impl Kind {
    /// The subdirectory name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pipe => "pipe",
            Kind::Mailslot => "mailslot",
            Kind::Mapping => "mapping",
            Kind::Sync => "sync",
            Kind::ShmPipe => "shm-pipe",
        }
    }
}

/// The identity form of a name: Win32 compares names without regard to case.
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// Checks an object name's own part (after any `\\.\pipe\` prefix): 1 to 256 characters, none of
/// them a backslash. `what` names the object in the error (`named pipe`).
pub fn check_name(what: &str, name: &str) -> io::Result<()> {
    if name.is_empty() {
        return Err(invalid(format!("{what} name is empty")));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "{what} name is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"
        )));
    }
    if name.contains('\\') {
        return Err(invalid(format!(
            "{what} name {name:?} contains a backslash"
        )));
    }
    Ok(())
}

/// The file name under which the object with folded name `folded` lives in its [`directory`].
///
/// A short name of plain characters (`a-z 0-9 . _ -`, not starting with a dot) is its own key, so
/// listings stay readable; any other name becomes `~` and a 128-bit hash in hex. The two forms
/// never collide, as plain keys have no `~`. Callers keep the full name beside the object (a
/// sidecar file or a handshake) to tell a hash collision from a match.
pub fn file_key(folded: &str) -> String {
    let plain = folded.len() <= 40
        && !folded.starts_with('.')
        && folded
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if plain {
        folded.to_string()
    } else {
        format!("~{:032x}", fnv1a_128(folded.as_bytes()))
    }
}

fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ b as u128).wrapping_mul(PRIME))
}

/// The directory for objects of `kind` in `namespace`, created and checked on the way.
///
/// Fails with `PermissionDenied` when a directory on the way belongs to another user or is
/// writable by others without being sticky: pipework never uses a directory someone else could
/// have prepared.
pub fn directory(namespace: Namespace, kind: Kind) -> io::Result<PathBuf> {
    let base = match namespace {
        Namespace::Local => local_base()?,
        Namespace::Global => {
            let base = PathBuf::from("/tmp/pipework-global");
            shared_dir(&base)?;
            base
        }
    };
    let dir = base.join(kind.as_str());
    match namespace {
        Namespace::Local => private_dir(&dir)?,
        Namespace::Global => shared_dir(&dir)?,
    }
    Ok(dir)
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn local_base() -> io::Result<PathBuf> {
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        let runtime = PathBuf::from(runtime);
        let usable = runtime.is_absolute()
            && fs::symlink_metadata(&runtime)
                .map(|m| m.is_dir() && m.uid() == euid() && m.mode() & 0o077 == 0)
                .unwrap_or(false);
        if usable {
            let base = runtime.join("pipework");
            private_dir(&base)?;
            return Ok(base);
        }
    }
    let base = PathBuf::from(format!("/tmp/pipework-{}", euid()));
    private_dir(&base)?;
    Ok(base)
}

/// Creates `dir` mode 0700 if missing; checks it is a real directory of ours that nobody else can
/// write or search.
fn private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(named(e, dir)),
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| named(e, dir))?;
    if !meta.is_dir() || meta.uid() != euid() {
        return Err(io::Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory of uid {}: refusing to use it",
                dir.display(),
                euid()
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        // Ours, but opened up (by us, or a umask at creation): close it again.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| named(e, dir))?;
    }
    Ok(())
}

/// Creates `dir` mode 1777 if missing; checks it is a real, sticky directory of root's or ours.
fn shared_dir(dir: &Path) -> io::Result<()> {
    let created = match fs::DirBuilder::new().mode(0o1777).create(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) => return Err(named(e, dir)),
    };
    if created {
        // The umask trimmed the mode at creation.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o1777)).map_err(|e| named(e, dir))?;
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| named(e, dir))?;
    let owner_ok = meta.uid() == 0 || meta.uid() == euid();
    let mode_ok = meta.mode() & 0o1000 != 0 || meta.mode() & 0o022 == 0;
    if !meta.is_dir() || !owner_ok || !mode_ok {
        return Err(io::Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} is not a sticky directory of root's or uid {}'s: refusing to use it",
                dir.display(),
                euid()
            ),
        ));
    }
    Ok(())
}

fn named(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn invalid(text: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, text)
}

/// A parsed pipe name: `\\.\pipe\NAME`, `\\server\pipe\NAME`, or a plain `NAME`.
///
/// ```
/// use pipework::name::PipeName;
///
/// let name = PipeName::parse(r"\\.\PIPE\Jobs")?;
/// assert_eq!(name.name(), "Jobs");
/// assert_eq!(name.folded(), "jobs");
/// assert_eq!(name, PipeName::parse("JOBS")?); // case-insensitive
/// assert_eq!(name.to_string(), r"\\.\pipe\Jobs");
/// assert!(PipeName::parse(r"\\.\mailslot\x").is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PipeName {
    server: Option<String>,
    name: String,
    folded: String,
}

impl PipeName {
    /// Parses a pipe name. Fails with `InvalidInput` naming the problem: a bad prefix, an empty or
    /// over-long name, a backslash in the name.
    pub fn parse(text: &str) -> io::Result<PipeName> {
        let (server, name) = if let Some(rest) = text.strip_prefix(r"\\") {
            let (server, rest) = rest.split_once('\\').ok_or_else(|| {
                invalid(format!(
                    r"{text:?} is not a pipe name: expected \\.\pipe\NAME or \\SERVER\pipe\NAME"
                ))
            })?;
            let name = match rest.split_once('\\') {
                Some((pipe, name)) if pipe.eq_ignore_ascii_case("pipe") => name,
                _ => {
                    return Err(invalid(format!(
                        r"{text:?} is not a pipe name: expected \\{server}\pipe\NAME"
                    )))
                }
            };
            if server.is_empty() {
                return Err(invalid(format!("{text:?}: empty server name")));
            }
            let server = (server != ".").then(|| server.to_string());
            (server, name)
        } else {
            (None, text)
        };
        check_name("named pipe", name)?;
        Ok(PipeName {
            server,
            name: name.to_string(),
            folded: fold(name),
        })
    }

    /// The pipe's own name, as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name in its identity form (lower case).
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// The server of a `\\server\pipe\NAME` name; `None` for this machine (`.` or a plain name).
    pub fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// Fails with `Unsupported` for a pipe on another machine: only local pipes exist so far.
    pub fn require_local(&self) -> io::Result<()> {
        match &self.server {
            None => Ok(()),
            Some(server) => Err(io::Error::new(
                ErrorKind::Unsupported,
                format!("named pipe {self}: pipes on other machines ({server}) are not supported"),
            )),
        }
    }

    /// The file name of this pipe in its directory (see [`file_key`]).
    pub fn file_key(&self) -> String {
        file_key(&self.folded)
    }
}

impl PartialEq for PipeName {
    fn eq(&self, other: &Self) -> bool {
        self.server.as_deref().map(fold) == other.server.as_deref().map(fold)
            && self.folded == other.folded
    }
}

impl Eq for PipeName {}

impl fmt::Display for PipeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r"\\{}\pipe\{}",
            self.server.as_deref().unwrap_or("."),
            self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms() {
        let n = PipeName::parse(r"\\.\pipe\a/b c").unwrap();
        assert_eq!(n.name(), "a/b c");
        assert!(n.server().is_none());
        let n = PipeName::parse(r"\\Host\Pipe\X").unwrap();
        assert_eq!(n.server(), Some("Host"));
        assert_eq!(
            n.require_local().unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        for bad in [
            r"\\.\pipe\",
            r"\\.\pipe\a\b",
            r"\\.\nope\a",
            r"\\",
            r"a\b",
            "",
            r"\\\pipe\a",
        ] {
            let e = PipeName::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(PipeName::parse(&"é".repeat(256)).is_ok());
        assert!(PipeName::parse(&"x".repeat(257)).is_err());
    }

    #[test]
    fn refuses_directories_others_could_have_prepared() {
        let base = std::env::temp_dir().join(format!("pipework-name-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir(&base).unwrap();
        // Ours but opened up: closed again.
        let mine = base.join("mine");
        fs::DirBuilder::new().mode(0o777).create(&mine).unwrap();
        fs::set_permissions(&mine, fs::Permissions::from_mode(0o777)).unwrap();
        private_dir(&mine).unwrap();
        assert_eq!(fs::metadata(&mine).unwrap().mode() & 0o777, 0o700);
        // A symlink is no directory of ours.
        let link = base.join("link");
        std::os::unix::fs::symlink(&mine, &link).unwrap();
        assert_eq!(
            private_dir(&link).unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        // World-writable without the sticky bit: refused as a shared directory.
        let open = base.join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            shared_dir(&open).unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
        shared_dir(&open).unwrap();
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
        assert_eq!(
            private_dir(&theirs).unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(
            shared_dir(&theirs).unwrap_err().kind(),
            ErrorKind::PermissionDenied
        );
        fs::remove_dir_all(&theirs).unwrap();
    }

    #[test]
    fn keys_fit_and_differ() {
        assert_eq!(file_key("jobs"), "jobs");
        let long = file_key(&"y".repeat(256));
        assert_eq!(long.len(), 33);
        assert_ne!(file_key("a/b"), file_key("a/c"));
        assert!(file_key(".hidden").starts_with('~'));
    }
}
