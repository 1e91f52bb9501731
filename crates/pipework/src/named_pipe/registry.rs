//! Where a named pipe lives on disk, and how its instances are counted across processes.
//!
//! A pipe is a directory (its place is [`crate::name`]'s: `name::place::pipe_dir`) holding:
//!
//! * `lock`: every instance holds a shared byte-range lock on byte 0 (alive), and an exclusive
//!   lock on byte `1 + n` for its slot `n`. The locks belong to open file descriptions, so the
//!   kernel drops them when a process dies, even by `kill -9`: a pipe whose byte 0 nobody locks is
//!   gone, whatever files are left, and the next server cleans them up. The file is the owner's
//!   alone (0600): a stranger who could open it could lock its bytes and pin a dead pipe alive.
//!   Other users tell a live pipe, and count its instances, from the kernel's table of locks
//!   (`/proc/locks`), which nobody can write.
//! * `info`: the first instance's parameters (type, access, max instances, default timeout,
//!   buffer sizes, who may connect) and the pipe's full name, compared by every server that joins and every client that opens, so
//!   a directory found under a pipe's key is never taken for it unless it is that pipe.
//! * `i<n>`: the listening socket of slot `n`, present only while that instance waits for a
//!   client. Each listens with a backlog of one, so a client that finds no socket, or only full
//!   ones, knows every instance is busy.
//! * `gone/`: where a listening socket's name goes when its instance takes a client
//!   ([`retire_socket`]), to be removed there. A connected socket keeps a reference to the
//!   name its listener was bound to, for as long as it lives; on tmpfs every such name stays in
//!   its directory's list of entries, unlinked but walked by every `readdir` of that directory.
//!   Left in the pipe's directory, the names of a server's thousands of connected instances
//!   would make each client's look for listening instances walk them all (the open slowing
//!   with every client connected); moved here, they burden a directory nobody lists.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::{Access, PipeMode};
use crate::name::lease;
use crate::name::place::{self, PipeFile};
use crate::name::{self, Namespace, PipeName};
use crate::sys::error::error;
use crate::sys::{first_holder, set_lock, Lock};

/// Slots beyond this are never used, even for unlimited pipes.
pub(crate) const SLOT_LIMIT: u64 = 1 << 16;

/// Who may connect to a pipe, besides its owner (the server's user) and root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Allow {
    /// The owner and root only.
    #[default]
    Owner,
    /// These users too.
    Users(Vec<u32>),
    /// Every user.
    Everyone,
}

impl Allow {
    /// Whether a client running as `uid` may connect to a server running as `server_uid`.
    pub(crate) fn admits(&self, uid: u32, server_uid: u32) -> bool {
        uid == server_uid
            || uid == 0
            || match self {
                Allow::Owner => false,
                Allow::Users(users) => users.contains(&uid),
                Allow::Everyone => true,
            }
    }

    /// Whether a client on another machine may connect (through Samba): every one when the pipe
    /// admits everyone, else the one whose account smbd mapped to a unix user the pipe admits
    /// (a client without that mapping is refused).
    pub(crate) fn admits_remote(&self, who: &super::RemoteClient) -> bool {
        let me = rustix::process::geteuid().as_raw();
        match (self, who.unix_uid) {
            (Allow::Everyone, _) => true,
            (_, Some(uid)) => u32::try_from(uid).is_ok_and(|uid| self.admits(uid, me)),
            (_, None) => false,
        }
    }

    fn encode(&self) -> String {
        match self {
            Allow::Owner => "owner".into(),
            Allow::Everyone => "everyone".into(),
            Allow::Users(users) => {
                let list: Vec<String> = users.iter().map(u32::to_string).collect();
                format!("users {}", list.join(","))
            }
        }
    }

    fn decode(text: &str) -> Option<Allow> {
        match text {
            "owner" => Some(Allow::Owner),
            "everyone" => Some(Allow::Everyone),
            _ => {
                let list = text.strip_prefix("users ")?;
                let users = list
                    .split(',')
                    .map(|u| u.parse().ok())
                    .collect::<Option<Vec<u32>>>()?;
                Some(Allow::Users(users))
            }
        }
    }
}

/// The first instance's parameters, shared by every instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Info {
    pub(crate) pipe_mode: PipeMode,
    pub(crate) access: Access,
    /// `None`: unlimited.
    pub(crate) max_instances: Option<u32>,
    pub(crate) default_timeout: Duration,
    /// Bytes asked for data flowing to the server (`nInBufferSize`; 0: the system's default).
    pub(crate) in_buffer: u32,
    /// Bytes asked for data flowing to the client (`nOutBufferSize`; 0: the system's default).
    pub(crate) out_buffer: u32,
    /// Who may connect, besides the owner and root (a client checks it at open).
    pub(crate) allow: Allow,
    pub(crate) name: String,
}

impl Info {
    fn encode(&self) -> String {
        format!(
            "pipework-pipe 2\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            match self.pipe_mode {
                PipeMode::Byte => "byte",
                PipeMode::Message => "message",
            },
            match self.access {
                Access::Inbound => "inbound",
                Access::Outbound => "outbound",
                Access::Duplex => "duplex",
            },
            self.max_instances.map_or(0, |m| m),
            self.default_timeout.as_millis(),
            self.in_buffer,
            self.out_buffer,
            self.allow.encode(),
            self.name
        )
    }

    fn decode(text: &str) -> Option<Info> {
        let mut lines = text.splitn(9, '\n');
        if lines.next()? != "pipework-pipe 2" {
            return None;
        }
        let pipe_mode = match lines.next()? {
            "byte" => PipeMode::Byte,
            "message" => PipeMode::Message,
            _ => return None,
        };
        let access = match lines.next()? {
            "inbound" => Access::Inbound,
            "outbound" => Access::Outbound,
            "duplex" => Access::Duplex,
            _ => return None,
        };
        let max: u32 = lines.next()?.parse().ok()?;
        let timeout: u64 = lines.next()?.parse().ok()?;
        let in_buffer: u32 = lines.next()?.parse().ok()?;
        let out_buffer: u32 = lines.next()?.parse().ok()?;
        let allow = Allow::decode(lines.next()?)?;
        Some(Info {
            pipe_mode,
            access,
            max_instances: (max != 0).then_some(max),
            default_timeout: Duration::from_millis(timeout),
            in_buffer,
            out_buffer,
            allow,
            name: lines.next()?.to_string(),
        })
    }

    /// The number of slots instances may use.
    pub(crate) fn slots(&self) -> u64 {
        self.max_instances.map_or(SLOT_LIMIT, u64::from)
    }
}

/// Opens the lock file of the pipe in `dir` (creating it, owner-only, when `create`).
pub(crate) fn open_lock(dir: &Path, create: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NOFOLLOW);
    if create {
        options.write(true).create(true).mode(0o600);
    }
    options.open(place::pipe_file(dir, PipeFile::Lock))
}

/// How this process tells whether a pipe lives and how many instances it has.
#[derive(Debug)]
pub(crate) enum Liveness {
    /// Through the pipe's lock file, which this user may open (its owner's, or root); shared
    /// with the process's memory of the pipe ([`remember`]).
    Lock(Arc<File>),
    /// Through the kernel's table of locks, for the lock file with this device and inode (a
    /// pipe of another user's, whose lock file only its owner opens).
    Table { dev: u64, ino: u64 },
}

impl Liveness {
    /// Whether any instance holds the pipe open.
    pub(crate) fn alive(&self) -> io::Result<bool> {
        match self {
            Liveness::Lock(lock) => Ok(first_holder(lock, 0, 1)?.is_some()),
            Liveness::Table { dev, ino } => Ok(locked_ranges(*dev, *ino)?
                .iter()
                .any(|&(start, _)| start == 0)),
        }
    }

    /// Instances that exist now (slots locked by their owners), seen from outside their
    /// processes.
    pub(crate) fn count_instances(&self, slots: u64) -> io::Result<u64> {
        match self {
            Liveness::Lock(lock) => count_instances(lock, slots),
            Liveness::Table { dev, ino } => Ok(locked_ranges(*dev, *ino)?
                .iter()
                .map(|&(start, end)| {
                    // Inclusive ranges; one process's neighbouring slots are merged into one.
                    let (first, last) = (start.max(1), end.min(slots));
                    last.saturating_add(1).saturating_sub(first)
                })
                .sum()),
        }
    }
}

/// The byte ranges (first, last) locked on the file `dev`/`ino`, from `/proc/locks`.
fn locked_ranges(dev: u64, ino: u64) -> io::Result<Vec<(u64, u64)>> {
    let table = fs::read_to_string("/proc/locks")?;
    Ok(parse_locks(&table, dev, ino))
}

/// Reads the ranges locked on `dev`/`ino` out of a `/proc/locks` table
/// (`1: OFDLCK ADVISORY WRITE -1 00:2c:1234 1 1`; a waiter's line carries `->` and is skipped).
pub(crate) fn parse_locks(table: &str, dev: u64, ino: u64) -> Vec<(u64, u64)> {
    let (major, minor) = (
        u64::from(rustix::fs::major(dev)),
        u64::from(rustix::fs::minor(dev)),
    );
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(1) == Some(&"->") {
                return None;
            }
            let mut id = fields.get(5)?.split(':');
            let maj = u64::from_str_radix(id.next()?, 16).ok()?;
            let min = u64::from_str_radix(id.next()?, 16).ok()?;
            let i: u64 = id.next()?.parse().ok()?;
            if (maj, min, i) != (major, minor, ino) {
                return None;
            }
            let start: u64 = fields.get(6)?.parse().ok()?;
            let end = match *fields.get(7)? {
                "EOF" => u64::MAX,
                n => n.parse().ok()?,
            };
            Some((start, end))
        })
        .collect()
}

/// Instances that exist now (slots locked by their owners), seen from outside their processes.
pub(crate) fn count_instances(lock: &File, slots: u64) -> io::Result<u64> {
    // The kernel reports any one lock in a range, not the lowest (its list runs in the order
    // the locks were taken): each found splits its range in two, both searched again.
    let mut count = 0;
    let mut ranges = vec![(1, 1 + slots)];
    while let Some((from, to)) = ranges.pop() {
        if from >= to {
            continue;
        }
        if let Some((start, len)) = first_holder(lock, from, to - from)? {
            // One lock may span several slots: a process's neighbouring slots are merged.
            let stop = if len == 0 {
                to
            } else {
                start.saturating_add(len).min(to)
            };
            let start = start.clamp(from, to);
            let stop = stop.max(start + 1).min(to);
            count += stop - start;
            ranges.push((from, start));
            ranges.push((stop, to));
        }
    }
    Ok(count)
}

/// Reads the `info` file.
pub(crate) fn read_info(dir: &Path) -> io::Result<Info> {
    // Read whole in one call (it is written whole, by rename), a second to see its end.
    let mut bytes = Vec::with_capacity(512);
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(place::pipe_file(dir, PipeFile::Info))?
        .take(4096)
        .read_to_end(&mut bytes)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            ErrorKind::InvalidData,
            format!("{}: not a pipework pipe description", dir.display()),
        )
    })?;
    Info::decode(&text).ok_or_else(|| {
        io::Error::new(
            ErrorKind::InvalidData,
            format!("{}: not a pipework pipe description", dir.display()),
        )
    })
}

/// Writes the `info` file in one step (temporary file, then rename).
pub(crate) fn write_info(dir: &Path, info: &Info) -> io::Result<()> {
    let tmp = place::pipe_file(dir, PipeFile::InfoNew);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    file.write_all(info.encode().as_bytes())?;
    // Readable by whoever may reach the directory, whatever the umask.
    file.set_permissions(fs::Permissions::from_mode(0o644))?;
    drop(file);
    fs::rename(&tmp, place::pipe_file(dir, PipeFile::Info))
}

/// The slots that have a listening socket now.
///
/// In the order the instances started listening, longest-waiting first, as Win32 hands them
/// out: an instance binds its socket file afresh each time it starts listening, so the file's
/// modification time is that moment (ties, and files gone meanwhile, go by slot).
pub(crate) fn listening_slots(dir: &Path) -> io::Result<Vec<u64>> {
    let mut slots: Vec<(Option<std::time::SystemTime>, u64)> = fs::read_dir(dir)?
        .filter_map(|e| {
            let e = e.ok()?;
            let slot = place::pipe_slot_of(&e.file_name())?;
            let since = e.metadata().and_then(|m| m.modified()).ok();
            Some((since, slot))
        })
        .collect();
    // Unknown times last: such a file was removed meanwhile.
    slots.sort_unstable_by_key(|&(since, slot)| (since.is_none(), since, slot));
    Ok(slots.into_iter().map(|(_, slot)| slot).collect())
}

/// The directory in a pipe's directory where the names of listening sockets go to be removed.
pub(crate) const GONE: &str = "gone";

/// Removes the name of slot `slot`'s listening socket, whose instance is taking its client:
/// moved to [`GONE`] first (made when missing), then unlinked there, so that the name, which
/// the connected socket keeps referring to, burdens no listing of the pipe's directory.
pub(crate) fn retire_socket(dir: &Path, slot: u64) -> io::Result<()> {
    let path = place::pipe_file(dir, PipeFile::Socket(slot));
    let gone = dir.join(GONE);
    let target = gone.join(format!("i{slot}"));
    for first in [true, false] {
        match fs::rename(&path, &target) {
            Ok(()) => return lease::remove_part(&target),
            Err(e) if e.kind() == ErrorKind::NotFound && first => {
                // The pipe's first retirement (or its socket gone already: then removed below).
                match fs::DirBuilder::new().mode(0o700).create(&gone) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                    Err(_) => break,
                }
            }
            Err(_) => break,
        }
    }
    lease::remove_part(&path)
}

/// A pipe found by name.
pub(crate) struct Found {
    pub(crate) dir: PathBuf,
    pub(crate) info: Info,
    pub(crate) live: Liveness,
    /// The owners of the pipe's directory and lock file, when they were read at an earlier
    /// open of the same live pipe (its memory, [`remember`]); `None`: not read yet.
    pub(crate) owners: Option<(u32, u32)>,
    /// The version of `info` read, taken before it was read, when the pipe may be remembered
    /// (this user's own namespace, its lock file open).
    info_id: Option<InfoId>,
}

/// What identifies an `info` file's version: it is only ever replaced whole (by rename), so a
/// new one is a new inode.
#[derive(Clone, Copy, PartialEq, Eq)]
struct InfoId {
    dev: u64,
    ino: u64,
    mtime: i64,
    mtime_nsec: i64,
    ctime_nsec: i64,
}

fn info_id(dir: &Path) -> io::Result<InfoId> {
    let meta = fs::symlink_metadata(place::pipe_file(dir, PipeFile::Info))?;
    Ok(InfoId {
        dev: meta.dev(),
        ino: meta.ino(),
        mtime: meta.mtime(),
        mtime_nsec: meta.mtime_nsec(),
        ctime_nsec: meta.ctime_nsec(),
    })
}

/// A pipe of this user's own namespace that this process opened, as it was found and checked:
/// a client opening it again (the common case: a client per request) takes it from here while
/// it lives and its `info` is the same file, instead of walking its directories, opening its
/// lock and reading its description again.
struct Remembered {
    /// The folded name, the user and the places that led to the pipe: a change in any of them
    /// (another runtime directory set meanwhile) is another pipe.
    key: (
        String,
        u32,
        Option<std::ffi::OsString>,
        Option<std::ffi::OsString>,
    ),
    dir: PathBuf,
    info: Info,
    info_id: InfoId,
    lock: Arc<File>,
    owners: (u32, u32),
}

/// How many pipes a process remembers (the most recently opened).
const REMEMBERED: usize = 8;

fn remembered_table() -> std::sync::MutexGuard<'static, Vec<Remembered>> {
    static TABLE: Mutex<Vec<Remembered>> = Mutex::new(Vec::new());
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

fn remembered_key(
    name: &PipeName,
) -> (
    String,
    u32,
    Option<std::ffi::OsString>,
    Option<std::ffi::OsString>,
) {
    (
        name.folded().to_string(),
        place::euid(),
        std::env::var_os("PIPEWORK_RUNTIME_DIR"),
        std::env::var_os("XDG_RUNTIME_DIR"),
    )
}

/// The remembered pipe `name`, if it still lives (its byte 0 locked) and its `info` is still
/// the one read (a pipe that died and was made again has a new one); otherwise forgotten.
fn recall(name: &PipeName) -> Option<Found> {
    let key = remembered_key(name);
    let mut table = remembered_table();
    let at = table.iter().position(|r| r.key == key)?;
    let r = &table[at];
    let same = matches!(first_holder(&r.lock, 0, 1), Ok(Some(_)))
        && info_id(&r.dir).is_ok_and(|id| id == r.info_id);
    if !same {
        table.swap_remove(at);
        return None;
    }
    Some(Found {
        dir: r.dir.clone(),
        info: r.info.clone(),
        live: Liveness::Lock(r.lock.clone()),
        owners: Some(r.owners),
        info_id: None,
    })
}

impl Found {
    /// Whether [`remember`] would keep it.
    pub(crate) fn rememberable(&self) -> bool {
        self.info_id.is_some() && matches!(self.live, Liveness::Lock(_))
    }
}

/// Remembers the pipe `found` under `name`, once its owners (`dir`, `lock`) were checked, for
/// the next open ([`recall`]). Only a pipe of this user's own namespace whose lock file this
/// process holds open: nobody else can move or replace what leads to it.
pub(crate) fn remember(name: &PipeName, found: &Found, owners: (u32, u32)) {
    let (Some(info_id), Liveness::Lock(lock)) = (found.info_id, &found.live) else {
        return;
    };
    let key = remembered_key(name);
    let mut table = remembered_table();
    table.retain(|r| r.key != key);
    if table.len() >= REMEMBERED {
        table.remove(0);
    }
    table.push(Remembered {
        key,
        dir: found.dir.clone(),
        info: found.info.clone(),
        info_id,
        lock: lock.clone(),
        owners,
    });
}

/// How this user can watch the pipe in `dir`: `None` when it has no lock file (gone).
fn liveness(dir: &Path) -> io::Result<Option<Liveness>> {
    match open_lock(dir, false) {
        Ok(lock) => Ok(Some(Liveness::Lock(Arc::new(lock)))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            // Another user's pipe: its lock file is its owner's alone.
            match fs::symlink_metadata(place::pipe_file(dir, PipeFile::Lock)) {
                Ok(meta) if meta.file_type().is_file() => Ok(Some(Liveness::Table {
                    dev: meta.dev(),
                    ino: meta.ino(),
                })),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Finds the live pipe `name`: the user's own namespace first, then the global one.
///
/// `NotFound` when neither holds it; `PermissionDenied` when one holds a pipe this user may not
/// reach. A directory under the pipe's key that holds another name is not it.
pub(crate) fn find(name: &PipeName) -> io::Result<Found> {
    name.require_local()?;
    if let Some(found) = recall(name) {
        return Ok(found);
    }
    let mut denied = None;
    for namespace in [Namespace::Local, Namespace::Global] {
        let dir = match place::pipe_dir(namespace, name) {
            Ok(dir) => dir,
            Err(e) if namespace == Namespace::Global => {
                denied.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let live = match liveness(&dir) {
            Ok(Some(live)) => live,
            Ok(None) => continue,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                denied = Some(error(
                    ErrorKind::PermissionDenied,
                    format_args!("named pipe {name}"),
                    "access denied to this user",
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        if !live.alive()? {
            // Left by a killed server: nothing of it stays behind.
            let _ = lease::reclaim_pipe(&dir);
            continue;
        }
        // Taken first: an `info` replaced while it is read is seen as another at the next
        // recall.
        let id = match (&live, namespace) {
            (Liveness::Lock(_), Namespace::Local) => info_id(&dir).ok(),
            _ => None,
        };
        let info = match read_info(&dir) {
            Ok(info) => info,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if name::fold(&info.name) != name.folded() {
            continue; // another name under this key (planted): not this pipe
        }
        return Ok(Found {
            dir,
            info,
            live,
            owners: None,
            info_id: id,
        });
    }
    Err(denied.unwrap_or_else(|| {
        error(
            ErrorKind::NotFound,
            format_args!("named pipe {name}"),
            "it does not exist",
        )
    }))
}

/// Takes the byte-0 lock: `Write` (first instance, or the last one cleaning up) or `Read`.
pub(crate) fn lock_alive(lock: &File, how: Lock, wait: bool) -> io::Result<bool> {
    set_lock(lock, how, 0, 1, wait)
}

/// Lets go of every lock `lock` holds, then closes it. Closing alone is not enough: a process
/// forked meanwhile (any thread starting a child) shares the open file description, and its
/// locks with it, until that child execs or exits.
pub(crate) fn let_go(lock: File) {
    // Length 0: to the end of the file, every byte this description may lock.
    let _ = set_lock(&lock, Lock::Unlock, 0, 0, false);
}

/// This process's hold on one pipe: the pipe's lock file, opened once for every instance the
/// process has of it, and the slots those instances hold.
///
/// One open file description per process and pipe, not one per instance: the byte-0 lock is
/// taken once, and the kernel merges the slot locks of neighbouring slots into one range, so the
/// file's list of locks (which every lock call walks) stays a few entries long however many
/// instances a server makes, and a server holds one descriptor for all its instances instead
/// of one each. Locks of one description never conflict with each other, so which slots this
/// description holds is kept here, and a slot is claimed in the kernel only when it is free in
/// this process; other processes' (and other descriptions') slots still conflict in the kernel.
/// The last instance of the process lets go of byte 0 and removes the pipe if no other process
/// holds it ([`release`]); the kernel drops every lock when the process dies.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The pipe's lock file: byte 0 held shared while this value lives.
    pub(crate) lock: File,
    /// The pipe's directory.
    pub(crate) dir: PathBuf,
    /// The pipe's parameters (the first instance's).
    pub(crate) info: Info,
    slots: Mutex<Slots>,
    /// The process that opened `lock`.
    pid: u32,
    /// `let_go_last` has run.
    released: bool,
}

/// The slots this process's instances of one pipe hold.
#[derive(Debug, Default)]
struct Slots {
    /// One bit per slot.
    held: Vec<u64>,
    count: u64,
    /// Where the next search starts: after the slot taken last, so that a server creating
    /// instance after instance finds the next slot free at the first try.
    next: u64,
}

impl Slots {
    fn has(&self, slot: u64) -> bool {
        let (word, bit) = ((slot / 64) as usize, slot % 64);
        self.held.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn set(&mut self, slot: u64, on: bool) {
        let (word, bit) = ((slot / 64) as usize, slot % 64);
        if self.held.len() <= word {
            self.held.resize(word + 1, 0);
        }
        let was = self.held[word] & (1 << bit) != 0;
        if on {
            self.held[word] |= 1 << bit;
        } else {
            self.held[word] &= !(1 << bit);
        }
        match (was, on) {
            (false, true) => self.count += 1,
            (true, false) => self.count -= 1,
            _ => {}
        }
    }
}

/// A pipe as this process knows it: its namespace and folded name.
type Key = (Namespace, String);

/// The pipes this process holds. Entries are upgraded only under this lock, so the holder that
/// finds itself the last one (under it too) knows no instance can appear.
static SHARED: Mutex<Vec<(Key, Weak<Shared>)>> = Mutex::new(Vec::new());

fn shared_table() -> std::sync::MutexGuard<'static, Vec<(Key, Weak<Shared>)>> {
    SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// This process's hold on the pipe `name` in `namespace`, if it has an instance of it (then
/// nothing on disk need be looked at to make another).
pub(crate) fn held(namespace: Namespace, name: &PipeName) -> Option<Arc<Shared>> {
    let table = shared_table();
    table
        .iter()
        .find(|((n, f), _)| *n == namespace && f == name.folded())
        .and_then(|(_, weak)| weak.upgrade())
        // A child forked from the holder shares its open file description, whose locks never
        // conflict with each other: it makes a hold of its own.
        .filter(|shared| shared.pid == std::process::id())
}

/// Makes `lock` (on which this process has just joined or created the pipe in `dir`: byte 0
/// held shared) this process's hold on the pipe.
pub(crate) fn share(
    namespace: Namespace,
    name: &PipeName,
    dir: PathBuf,
    lock: File,
    info: Info,
) -> Arc<Shared> {
    let shared = Arc::new(Shared {
        lock,
        dir,
        info,
        slots: Mutex::new(Slots::default()),
        pid: std::process::id(),
        released: false,
    });
    let mut table = shared_table();
    let me = std::process::id();
    // Entries gone, and those a fork brought from the parent.
    table.retain(|(_, weak)| weak.upgrade().is_some_and(|s| s.pid == me));
    // Two threads joining at once each hold a description of their own: both are correct (the
    // kernel keeps their slots apart), the first stays the one later instances share.
    let key = (namespace, name.folded().to_string());
    if !table.iter().any(|(k, _)| *k == key) {
        table.push((key, Arc::downgrade(&shared)));
    }
    shared
}

impl Shared {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a free slot below the pipe's limit; `None` when all are taken.
    ///
    /// The search starts after the slot this process took last and wraps round. A slot another
    /// process holds is skipped together with the rest of that holder's range (one query), so
    /// neither this process's slots nor another's are tried one by one.
    pub(crate) fn take_slot(&self) -> io::Result<Option<u64>> {
        let limit = self.info.slots();
        let mut slots = self.slots();
        if limit == 0 || slots.count >= limit {
            return Ok(None);
        }
        let start = slots.next % limit;
        let mut tried = 0;
        let mut slot = start;
        while tried < limit {
            if slots.has(slot) {
                slot = (slot + 1) % limit;
                tried += 1;
                continue;
            }
            if set_lock(&self.lock, Lock::Write, 1 + slot, 1, false)? {
                slots.set(slot, true);
                slots.next = slot + 1;
                return Ok(Some(slot));
            }
            // Held elsewhere: go past the holder's whole range.
            let skip = match first_holder(&self.lock, 1 + slot, 1)? {
                Some((start, len)) if len > 0 => (start + len).saturating_sub(1 + slot).max(1),
                _ => 1,
            };
            let skip = skip.min(limit - slot);
            tried += skip;
            slot = (slot + skip) % limit;
        }
        Ok(None)
    }

    /// Lets go of `slot`.
    pub(crate) fn free_slot(&self, slot: u64) -> io::Result<()> {
        let mut slots = self.slots();
        slots.set(slot, false);
        set_lock(&self.lock, Lock::Unlock, 1 + slot, 1, false).map(drop)
    }

    /// Instances of this pipe that exist now, in all processes.
    pub(crate) fn instances(&self) -> io::Result<u64> {
        // This description's own locks are no conflict for itself: its slots are counted here.
        let own = self.slots().count;
        Ok(count_instances(&self.lock, self.info.slots())? + own)
    }
}

/// Lets go of this process's hold on a pipe, given back by an instance that has freed its slot:
/// `Ok(Some(lock))` when it was the process's last instance, with byte 0 released, for the
/// caller to remove the pipe if no other process holds it; `Ok(None)` when other instances of
/// this process hold it still.
pub(crate) fn release(shared: Arc<Shared>) -> Option<Shared> {
    let mut table = shared_table();
    if Arc::strong_count(&shared) > 1 {
        // Let go under the table's lock: another instance releasing right after must see
        // that it is the last.
        drop(shared);
        return None;
    }
    let me = Arc::as_ptr(&shared);
    table.retain(|(_, weak)| weak.strong_count() > 0 && weak.as_ptr() != me);
    drop(table);
    Arc::into_inner(shared)
}

impl Shared {
    /// The process's last instance lets go of the pipe: byte 0 released, then the pipe removed
    /// if no other process holds it. What went wrong is returned.
    pub(crate) fn let_go_last(mut self) -> io::Result<()> {
        self.released = true;
        self.remove_if_unheld()
    }

    fn remove_if_unheld(&self) -> io::Result<()> {
        set_lock(&self.lock, Lock::Unlock, 0, 1, false)?;
        lease::remove_pipe_if_unheld(&self.dir, &self.lock)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if !self.released {
            // Given up without `let_go_last` (a create that failed after joining): the same,
            // its failure kept for `name::release_errors`.
            if let Err(e) = self.remove_if_unheld() {
                lease::keep(e);
            }
        }
        // Explicitly: a process forked meanwhile shares this open file description (and its
        // locks) until it execs.
        let _ = set_lock(&self.lock, Lock::Unlock, 0, 0, false);
    }
}

/// One entry of [`super::list`]'s answer, read from disk.
pub(crate) fn list_namespace(namespace: Namespace) -> io::Result<Vec<(Info, u64, usize)>> {
    let dirs = match place::pipe_dirs(namespace) {
        Ok(dirs) => dirs,
        Err(_) if namespace == Namespace::Global => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(Some(live)) = liveness(&dir) else {
            continue;
        };
        if !live.alive().unwrap_or(true) {
            let _ = lease::reclaim_pipe(&dir); // left by a killed server
            continue;
        }
        let Ok(info) = read_info(&dir) else { continue };
        let instances = live.count_instances(info.slots()).unwrap_or(0);
        let listening = listening_slots(&dir).map(|s| s.len()).unwrap_or(0);
        out.push((info, instances, listening));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_lock_table() {
        let dev = rustix::fs::makedev(0, 0x2c);
        let table = "1: OFDLCK ADVISORY  WRITE -1 00:2c:77 2 2\n\
                     2: OFDLCK ADVISORY  READ  -1 00:2c:77 0 0\n\
                     2: -> OFDLCK ADVISORY  WRITE -1 00:2c:77 0 0\n\
                     3: POSIX  ADVISORY  WRITE 12 00:2c:78 0 EOF\n\
                     4: FLOCK  ADVISORY  WRITE 12 fe:00:77 0 EOF\n\
                     garbage\n5: OFDLCK ADVISORY WRITE -1 00:2c:77 x 1\n";
        assert_eq!(parse_locks(table, dev, 77), vec![(2, 2), (0, 0)]);
        assert_eq!(parse_locks(table, dev, 78), vec![(0, u64::MAX)]);
    }

    #[test]
    fn info_round_trips_and_garbage_is_refused() {
        let info = Info {
            pipe_mode: PipeMode::Message,
            access: Access::Inbound,
            max_instances: Some(3),
            default_timeout: Duration::from_millis(250),
            in_buffer: 1234,
            out_buffer: 0,
            allow: Allow::Users(vec![7, 1000]),
            name: "a\nb".into(),
        };
        assert_eq!(Info::decode(&info.encode()), Some(info.clone()));
        for allow in [Allow::Owner, Allow::Everyone, Allow::Users(vec![0])] {
            let info = Info {
                allow,
                ..info.clone()
            };
            assert_eq!(Info::decode(&info.encode()), Some(info));
        }
        for bad in [
            "",
            "pipework-pipe 1\nbyte",
            "pipework-pipe 1\nbyte\ninbound\n0\n0\nx",
            "pipework-pipe 2\nbyte\ninbound\n0\n0\n0\n0\nusers x\nx",
        ] {
            assert_eq!(Info::decode(bad), None);
        }
    }
}
