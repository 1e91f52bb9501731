//! The headless clipboard's store: a private directory of this user's holding the state file
//! ([`super::state`]), one file per format's data, and the `update` file whose replacement tells
//! listeners of a change; its opener lock is a named mutex of the object layer.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::state::{is_data_file, Data, State, INLINE_MAX, MAX_DATA, MAX_STATE_BYTES};
use crate::name::{file_key, fold};
use crate::sync::Mutex;
use crate::sys::error::{error, named};

/// The files of one headless clipboard.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) label: String,
    pub(crate) dir: PathBuf,
    pub(crate) lock: Mutex,
    /// The state last read or written, with the identity of its file: a later read whose
    /// `lstat` finds the same file takes it instead of reading and parsing the file again.
    cache: std::sync::Mutex<Option<(Identity, State)>>,
}

/// What tells one state file from another: it is replaced whole (a new inode, renamed into
/// place) on each change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity(u64, u64, u64, i64, i64, i64, i64);

impl Identity {
    fn of(meta: &fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity(
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        )
    }
}

const STATE: &str = "state";
pub(crate) const UPDATE: &str = "update";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other file of the directory has: this process's id, a count, and a random
/// number drawn once per process (the count keeps one process's names apart).
fn unique(prefix: &str) -> String {
    static RANDOM: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let random = *RANDOM.get_or_init(|| {
        let mut random = [0u8; 8];
        let _ = rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty());
        u64::from_le_bytes(random)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{random:016x}", std::process::id())
}

impl Store {
    pub(crate) fn open(name: &str) -> io::Result<Store> {
        let label = format!("clipboard {name}");
        let dir = crate::name::place::clipboard_dir(name)?;
        let lock = Mutex::create(
            &format!(r"Local\pipework.clipboard.{}", file_key(&fold(name))),
            false,
        )?;
        Ok(Store {
            label,
            dir,
            lock,
            cache: std::sync::Mutex::new(None),
        })
    }

    /// Reads the regular file `file` of the directory: at most `limit` bytes, or exactly `len`
    /// when given (the length its state declares). Never follows a link, never waits on a FIFO
    /// or device put in its place, and never reads (or allocates) past the bound: a file that
    /// grew, shrank or is larger is refused (`InvalidData`) instead.
    fn read_file(
        &self,
        file: &str,
        limit: u64,
        len: Option<u64>,
    ) -> io::Result<Option<(Vec<u8>, fs::Metadata)>> {
        let path = self.dir.join(file);
        let f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(named(&self.label, e)),
        };
        let meta = f.metadata().map_err(|e| named(&self.label, e))?;
        let bad = |why: std::fmt::Arguments<'_>| {
            Err(error(
                ErrorKind::InvalidData,
                &self.label,
                format_args!("{file}: {why}"),
            ))
        };
        if !meta.is_file() {
            return bad(format_args!("not a regular file"));
        }
        let size = meta.len();
        if size > limit {
            return bad(format_args!("{size} bytes, past the {limit}-byte limit"));
        }
        if let Some(len) = len.filter(|&len| len != size) {
            return bad(format_args!("{size} bytes where its state says {len}"));
        }
        // The bound is checked: the allocation is at most `limit` bytes.
        let mut bytes = Vec::with_capacity(size as usize);
        f.take(size + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| named(&self.label, e))?;
        if bytes.len() as u64 != size {
            return bad(format_args!("changed size while it was read"));
        }
        Ok(Some((bytes, meta)))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<(Identity, State)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state (empty, sequence number 0, when none was ever written).
    ///
    /// Registered formats are numbered afresh from their names: the atom table that gave the
    /// numbers lives only while some process holds it, and may have started over since.
    pub(crate) fn state(&self) -> io::Result<State> {
        match fs::symlink_metadata(self.dir.join(STATE)) {
            Ok(meta) => {
                if let Some((identity, state)) = &*self.cache() {
                    if *identity == Identity::of(&meta) {
                        return Ok(state.clone());
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                *self.cache() = None;
                return Ok(State::default());
            }
            Err(e) => return Err(named(&self.label, e)),
        }
        let (mut state, meta) = match self.read_file(STATE, MAX_STATE_BYTES as u64, None)? {
            None => return Ok(State::default()),
            Some((bytes, meta)) => (
                State::parse(&bytes).map_err(|why| {
                    error(
                        ErrorKind::InvalidData,
                        &self.label,
                        format_args!("its state file is damaged: {why}"),
                    )
                })?,
                meta,
            ),
        };
        for entry in &mut state.formats {
            if let Some(name) = &entry.name {
                entry.format = crate::atom::register_clipboard_format(name)?;
            }
        }
        if meta.is_file() {
            *self.cache() = Some((Identity::of(&meta), state.clone()));
        }
        Ok(state)
    }

    /// Writes `bytes` to a new file and renames it to `file`, so readers see all or nothing;
    /// returns the file's metadata once in place.
    fn replace(&self, file: &str, bytes: &[u8]) -> io::Result<fs::Metadata> {
        let temp = unique("t");
        let path = self.dir.join(&temp);
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            f.write_all(bytes)?;
            fs::rename(&path, self.dir.join(file))?;
            f.metadata()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&path);
        }
        result.map_err(|e| named(&self.label, e))
    }

    pub(crate) fn write_state(&self, state: &State) -> io::Result<()> {
        let meta = self.replace(STATE, state.render().as_bytes())?;
        *self.cache() = Some((Identity::of(&meta), state.clone()));
        Ok(())
    }

    /// Stores one format's data (at most [`MAX_DATA`] bytes); returns where it is.
    pub(crate) fn write_data(&self, data: &[u8]) -> io::Result<Data> {
        if data.len() as u64 > MAX_DATA {
            return Err(error(
                ErrorKind::InvalidInput,
                &self.label,
                format_args!(
                    "{} bytes of data, past the {MAX_DATA}-byte limit of one format",
                    data.len()
                ),
            ));
        }
        if data.len() <= INLINE_MAX {
            return Ok(Data::Inline(data.to_vec()));
        }
        let file = unique("d");
        self.replace(&file, data)?;
        Ok(Data::File(file, data.len() as u64))
    }

    /// The data of a format: exactly the `len` bytes the state declares, from `file`.
    pub(crate) fn read_data(&self, file: &str, len: u64) -> io::Result<Vec<u8>> {
        if !is_data_file(file) {
            return Err(error(
                ErrorKind::InvalidData,
                &self.label,
                format_args!("{file:?} is no data file's name"),
            ));
        }
        self.read_file(file, MAX_DATA, Some(len))?
            .map(|(bytes, _)| bytes)
            .ok_or_else(|| {
                error(
                    ErrorKind::InvalidData,
                    &self.label,
                    format_args!("the data file {file} is missing"),
                )
            })
    }

    /// Removes the data file `file` (of contents replaced).
    pub(crate) fn remove_data(&self, file: &str) {
        if is_data_file(file) {
            let _ = fs::remove_file(self.dir.join(file));
        }
    }

    /// After `old` was replaced by `state`: removes the data files `old` named and `state` does
    /// not; every 64th change, every file of the directory `state` does not name (left by a
    /// writer killed in the middle).
    pub(crate) fn sweep_after(&self, old: &State, state: &State) -> io::Result<()> {
        if !state.seq.is_multiple_of(64) {
            for entry in &old.formats {
                if let Data::File(file, _) = &entry.data {
                    if !state
                        .formats
                        .iter()
                        .any(|e| matches!(&e.data, Data::File(f, _) if f == file))
                    {
                        self.remove_data(file);
                    }
                }
            }
            return Ok(());
        }
        self.sweep(state)
    }

    /// Removes the data files `state` does not name (those of earlier contents).
    pub(crate) fn sweep(&self, state: &State) -> io::Result<()> {
        let kept: Vec<&str> = state
            .formats
            .iter()
            .filter_map(|e| match &e.data {
                Data::File(f, _) => Some(f.as_str()),
                Data::Inline(_) | Data::Delayed => None,
            })
            .collect();
        for entry in fs::read_dir(&self.dir).map_err(|e| named(&self.label, e))? {
            let entry = entry.map_err(|e| named(&self.label, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            // Temporary files are another writer's only while it holds the lock: this one does.
            if (is_data_file(name) && !kept.contains(&name)) || name.starts_with("t-") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// The count of the last change listeners were told of (the `update` file; 0 when there
    /// is none or it does not hold a count).
    pub(crate) fn update_count(&self) -> io::Result<u64> {
        // A count is at most 20 digits: nothing past that is read, and the file is never
        // followed through a link nor waited on as a FIFO.
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(self.dir.join(UPDATE));
        let mut text = Vec::with_capacity(24);
        match file.and_then(|f| f.take(24).read_to_end(&mut text)) {
            Ok(_) => Ok(std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
            Err(e) => Err(named(&self.label, e)),
        }
    }

    /// Tells listeners the clipboard changed (its `update` file is replaced).
    pub(crate) fn notify(&self, seq: u64) -> io::Result<()> {
        self.replace(UPDATE, seq.to_string().as_bytes()).map(drop)
    }
}
