//! The headless clipboard's store: a private directory of this user's holding the state file
//! ([`super::state`]), one file per format's data, and the `update` file whose replacement tells
//! listeners of a change; its opener lock is a named mutex of the object layer.

use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::state::{is_data_file, Data, State, MAX_STATE_BYTES};
use crate::name::{file_key, fold};
use crate::sync::Mutex;
use crate::sys::error::{error, named};

/// The files of one headless clipboard.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) label: String,
    pub(crate) dir: PathBuf,
    pub(crate) lock: Mutex,
}

const STATE: &str = "state";
pub(crate) const UPDATE: &str = "update";

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty());
    format!(
        "{prefix}-{}-{n}-{:016x}",
        std::process::id(),
        u64::from_le_bytes(random)
    )
}

impl Store {
    pub(crate) fn open(name: &str) -> io::Result<Store> {
        let label = format!("clipboard {name}");
        let dir = crate::name::place::clipboard_dir(name)?;
        let lock = Mutex::create(
            &format!(r"Local\pipework.clipboard.{}", file_key(&fold(name))),
            false,
        )?;
        Ok(Store { label, dir, lock })
    }

    fn read_file(&self, file: &str, limit: usize) -> io::Result<Option<Vec<u8>>> {
        let path = self.dir.join(file);
        let f = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(named(&self.label, e)),
        };
        let meta = f.metadata().map_err(|e| named(&self.label, e))?;
        if !meta.is_file() || meta.len() > limit as u64 {
            return Err(error(
                ErrorKind::InvalidData,
                &self.label,
                format_args!("{file} is not a data file of at most {limit} bytes"),
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        f.take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| named(&self.label, e))?;
        Ok(Some(bytes))
    }

    /// The current state (empty, sequence number 0, when none was ever written).
    ///
    /// Registered formats are numbered afresh from their names: the atom table that gave the
    /// numbers lives only while some process holds it, and may have started over since.
    pub(crate) fn state(&self) -> io::Result<State> {
        let mut state = match self.read_file(STATE, MAX_STATE_BYTES)? {
            None => return Ok(State::default()),
            Some(bytes) => State::parse(&bytes).map_err(|why| {
                error(
                    ErrorKind::InvalidData,
                    &self.label,
                    format_args!("its state file is damaged: {why}"),
                )
            })?,
        };
        for entry in &mut state.formats {
            if let Some(name) = &entry.name {
                entry.format = crate::atom::register_clipboard_format(name)?;
            }
        }
        Ok(state)
    }

    /// Writes `bytes` to a new file and renames it to `file`, so readers see all or nothing.
    fn replace(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
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
            fs::rename(&path, self.dir.join(file))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&path);
        }
        result.map_err(|e| named(&self.label, e))
    }

    pub(crate) fn write_state(&self, state: &State) -> io::Result<()> {
        self.replace(STATE, state.render().as_bytes())
    }

    /// Stores one format's data; returns its file's name.
    pub(crate) fn write_data(&self, data: &[u8]) -> io::Result<String> {
        let file = unique("d");
        self.replace(&file, data)?;
        Ok(file)
    }

    pub(crate) fn read_data(&self, file: &str) -> io::Result<Vec<u8>> {
        if !is_data_file(file) {
            return Err(error(
                ErrorKind::InvalidData,
                &self.label,
                format_args!("{file:?} is no data file's name"),
            ));
        }
        self.read_file(file, isize::MAX as usize)?.ok_or_else(|| {
            error(
                ErrorKind::InvalidData,
                &self.label,
                format_args!("the data file {file} is missing"),
            )
        })
    }

    /// Removes the data files `state` does not name (those of earlier contents).
    pub(crate) fn sweep(&self, state: &State) -> io::Result<()> {
        let kept: Vec<&str> = state
            .formats
            .iter()
            .filter_map(|e| match &e.data {
                Data::File(f) => Some(f.as_str()),
                Data::Delayed => None,
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

    /// Tells listeners the clipboard changed (its `update` file is replaced).
    pub(crate) fn notify(&self, seq: u64) -> io::Result<()> {
        self.replace(UPDATE, seq.to_string().as_bytes())
    }
}
