//! Where a named pipe lives on disk, and how its instances are counted across processes.
//!
//! A pipe is a directory `<pipe dir>/<key>` (see [`crate::name`]) holding:
//!
//! * `lock`: every instance holds a shared byte-range lock on byte 0 (alive), and an exclusive
//!   lock on byte `1 + n` for its slot `n`. The locks belong to open file descriptions, so the
//!   kernel drops them when a process dies, even by `kill -9`: a pipe whose byte 0 nobody locks is
//!   gone, whatever files are left, and the next server cleans them up.
//! * `info`: the first instance's parameters (type, access, max instances, default timeout) and
//!   the pipe's full name, which tells a hash collision from a match.
//! * `i<n>`: the listening socket of slot `n`, present only while that instance waits for a
//!   client. Each listens with a backlog of one, so a client that finds no socket, or only full
//!   ones, knows every instance is busy.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Access, PipeType};
use crate::name::{self, Kind, Namespace, PipeName};
use crate::sys::{first_holder, set_lock, Lock};

/// Slots beyond this are never used, even for unlimited pipes.
pub(crate) const SLOT_LIMIT: u64 = 1 << 16;

/// The first instance's parameters, shared by every instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Info {
    pub(crate) pipe_type: PipeType,
    pub(crate) access: Access,
    /// `None`: unlimited.
    pub(crate) max_instances: Option<u32>,
    pub(crate) default_timeout: Duration,
    pub(crate) name: String,
}

impl Info {
    fn encode(&self) -> String {
        format!(
            "pipework-pipe 1\n{}\n{}\n{}\n{}\n{}",
            match self.pipe_type {
                PipeType::Byte => "byte",
                PipeType::Message => "message",
            },
            match self.access {
                Access::Inbound => "inbound",
                Access::Outbound => "outbound",
                Access::Duplex => "duplex",
            },
            self.max_instances.map_or(0, |m| m),
            self.default_timeout.as_millis(),
            self.name
        )
    }

    fn decode(text: &str) -> Option<Info> {
        let mut lines = text.splitn(6, '\n');
        if lines.next()? != "pipework-pipe 1" {
            return None;
        }
        let pipe_type = match lines.next()? {
            "byte" => PipeType::Byte,
            "message" => PipeType::Message,
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
        Some(Info {
            pipe_type,
            access,
            max_instances: (max != 0).then_some(max),
            default_timeout: Duration::from_millis(timeout),
            name: lines.next()?.to_string(),
        })
    }

    /// The number of slots instances may use.
    pub(crate) fn slots(&self) -> u64 {
        self.max_instances.map_or(SLOT_LIMIT, u64::from)
    }
}

/// The directory of `name` in `namespace`.
pub(crate) fn pipe_dir(namespace: Namespace, name: &PipeName) -> io::Result<PathBuf> {
    Ok(name::directory(namespace, Kind::Pipe)?.join(name.file_key()))
}

/// The socket path of slot `slot`.
pub(crate) fn socket_path(dir: &Path, slot: u64) -> PathBuf {
    dir.join(format!("i{slot}"))
}

/// Whether `file` is still the file at `path` (not unlinked and replaced meanwhile).
pub(crate) fn still_linked(file: &File, path: &Path) -> io::Result<bool> {
    let held = file.metadata()?;
    Ok(match fs::symlink_metadata(path) {
        Ok(now) => held.nlink() > 0 && now.ino() == held.ino() && now.dev() == held.dev(),
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    })
}

/// Opens the lock file of the pipe in `dir` (creating it when `create`).
pub(crate) fn open_lock(dir: &Path, create: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NOFOLLOW);
    if create {
        options.write(true).create(true).mode(0o644);
    }
    options.open(dir.join("lock"))
}

/// Whether any instance holds the pipe open.
pub(crate) fn alive(lock: &File) -> io::Result<bool> {
    Ok(first_holder(lock, 0, 1)?.is_some())
}

/// Instances that exist now (slots locked by their owners), seen from outside their processes.
pub(crate) fn count_instances(lock: &File, slots: u64) -> io::Result<u64> {
    let mut count = 0;
    let mut at = 1;
    let end = 1 + slots;
    while at < end {
        match first_holder(lock, at, end - at)? {
            Some((start, len)) => {
                count += 1;
                at = start + len.max(1);
            }
            None => break,
        }
    }
    Ok(count)
}

/// Reads the `info` file.
pub(crate) fn read_info(dir: &Path) -> io::Result<Info> {
    let mut text = String::new();
    File::open(dir.join("info"))?
        .take(4096)
        .read_to_string(&mut text)?;
    Info::decode(&text).ok_or_else(|| {
        io::Error::new(
            ErrorKind::InvalidData,
            format!("{}: not a pipework pipe description", dir.display()),
        )
    })
}

/// Writes the `info` file in one step (temporary file, then rename).
pub(crate) fn write_info(dir: &Path, info: &Info) -> io::Result<()> {
    let tmp = dir.join("info.new");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    file.write_all(info.encode().as_bytes())?;
    drop(file);
    fs::rename(&tmp, dir.join("info"))
}

/// Removes everything in `dir` but its lock file (left by instances that died).
pub(crate) fn clear(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() != "lock" {
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The slots that have a listening socket now, lowest first.
pub(crate) fn listening_slots(dir: &Path) -> io::Result<Vec<u64>> {
    let mut slots: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| {
            let e = e.ok()?;
            e.file_name().to_str()?.strip_prefix('i')?.parse().ok()
        })
        .collect();
    slots.sort_unstable();
    Ok(slots)
}

/// A pipe found by name.
pub(crate) struct Found {
    pub(crate) dir: PathBuf,
    pub(crate) info: Info,
    pub(crate) lock: File,
}

/// Finds the live pipe `name`: the user's own namespace first, then the global one.
///
/// `NotFound` when neither holds it; `PermissionDenied` when one holds a pipe this user may not
/// reach.
pub(crate) fn find(name: &PipeName) -> io::Result<Found> {
    name.require_local()?;
    let mut denied = None;
    for namespace in [Namespace::Local, Namespace::Global] {
        let dir = match pipe_dir(namespace, name) {
            Ok(dir) => dir,
            Err(e) if namespace == Namespace::Global => {
                denied.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let lock = match open_lock(&dir, false) {
            Ok(lock) => lock,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                denied = Some(io::Error::new(
                    ErrorKind::PermissionDenied,
                    format!("named pipe {name}: access denied to this user"),
                ));
                continue;
            }
            Err(e) => return Err(e),
        };
        if !alive(&lock)? {
            continue;
        }
        let info = match read_info(&dir) {
            Ok(info) => info,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if name::fold(&info.name) != name.folded() {
            continue; // another name with the same hash
        }
        return Ok(Found { dir, info, lock });
    }
    Err(denied.unwrap_or_else(|| {
        io::Error::new(
            ErrorKind::NotFound,
            format!("named pipe {name} does not exist"),
        )
    }))
}

/// Takes the byte-0 lock: `Write` (first instance, or the last one cleaning up) or `Read`.
pub(crate) fn lock_alive(lock: &File, how: Lock, wait: bool) -> io::Result<bool> {
    set_lock(lock, how, 0, 1, wait)
}

/// Takes a free slot below `slots`; `None` when all are taken.
pub(crate) fn take_slot(lock: &File, slots: u64) -> io::Result<Option<u64>> {
    for slot in 0..slots {
        if set_lock(lock, Lock::Write, 1 + slot, 1, false)? {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

/// One entry of [`super::list`]'s answer, read from disk.
pub(crate) fn list_namespace(namespace: Namespace) -> io::Result<Vec<(Info, u64, usize)>> {
    let dir = match name::directory(namespace, Kind::Pipe) {
        Ok(dir) => dir,
        Err(_) if namespace == Namespace::Global => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let dir = entry.path();
        let Ok(lock) = open_lock(&dir, false) else {
            continue;
        };
        if !alive(&lock).unwrap_or(false) {
            continue;
        }
        let Ok(info) = read_info(&dir) else { continue };
        let instances = count_instances(&lock, info.slots()).unwrap_or(0);
        let listening = listening_slots(&dir).map(|s| s.len()).unwrap_or(0);
        out.push((info, instances, listening));
    }
    Ok(out)
}
