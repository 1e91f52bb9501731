//! One listing of every kind of named object that exists now: what `pipework list` shows.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::{object, place, Kind, MailslotName, Namespace, PipeName};

/// A named object that exists now, as [`list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What it is.
    pub kind: Kind,
    /// Its name, as its creator spelled it (`\\.\pipe\jobs`, `Local\cache`, ...).
    pub name: String,
    /// Where it lives.
    pub namespace: Namespace,
    /// The user who made it (the owner of its file or directory).
    pub owner: u32,
    /// Its file, socket or directory.
    pub path: PathBuf,
    /// What else is worth knowing, in a few words (instances, queued messages, size).
    pub details: String,
    /// The same, as values.
    pub facts: Facts,
}

/// What a [`list`] entry knows about its object beyond its name, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Facts {
    /// A named pipe: its type, direction and instances.
    Pipe(crate::named_pipe::PipeEntry),
    /// A mailslot: messages waiting.
    Mailslot {
        /// Messages queued now.
        queued: u64,
    },
    /// A file mapping: its size in bytes.
    Mapping {
        /// Bytes.
        size: u64,
    },
    /// Nothing more (shared-memory pipes, sync objects).
    None,
}

fn owner_of(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .map(|m| m.uid())
        .unwrap_or_else(|_| place::euid())
}

/// Every named object this user can see, of every kind: its own pipes, mailslots,
/// shared-memory pipes, mappings and sync objects, and the global pipes and objects. Sorted by
/// kind, then name. Names left by holders that were killed are reclaimed on the way; nothing is
/// created (but this user's own private directory) and nothing waits for another process.
///
/// ```
/// let name = format!(r"\\.\pipe\listed-{}", std::process::id());
/// let _server = pipework::named_pipe::ServerOptions::new().create(&name)?;
/// let all = pipework::name::list()?;
/// assert!(all.iter().any(|e| e.kind == pipework::name::Kind::Pipe && e.name == name));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn list() -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for pipe in crate::named_pipe::list()? {
        let Ok(parsed) = PipeName::parse(&pipe.name) else {
            continue;
        };
        let Ok(path) = place::pipe_dir(pipe.namespace, &parsed) else {
            continue;
        };
        let max = pipe
            .max_instances
            .map_or_else(|| "unlimited".to_string(), |m| m.to_string());
        out.push(Entry {
            kind: Kind::Pipe,
            name: parsed.to_string(),
            namespace: pipe.namespace,
            owner: owner_of(&path),
            details: format!(
                "{} {}, {}, {}/{} instances, {} listening",
                format!("{:?}", pipe.namespace).to_lowercase(),
                format!("{:?}", pipe.pipe_type).to_lowercase(),
                format!("{:?}", pipe.access).to_lowercase(),
                pipe.instances,
                max,
                pipe.listening
            ),
            path,
            facts: Facts::Pipe(pipe),
        });
    }
    for name in crate::shm_pipe::list()? {
        let Ok(path) = place::shm_pipe_socket(&name) else {
            continue;
        };
        out.push(Entry {
            kind: Kind::ShmPipe,
            name,
            namespace: Namespace::Local,
            owner: place::euid(),
            path,
            details: "listening".into(),
            facts: Facts::None,
        });
    }
    let slots = crate::mailslot::list()?;
    if !slots.is_empty() {
        let dir = place::mailslot_dir()?;
        for slot in slots {
            let Ok(parsed) = MailslotName::parse(&slot.name) else {
                continue;
            };
            out.push(Entry {
                kind: Kind::Mailslot,
                name: slot.name,
                namespace: Namespace::Local,
                owner: place::euid(),
                path: place::mailslot_spool(&dir, &parsed),
                details: format!("{} queued", slot.queued),
                facts: Facts::Mailslot {
                    queued: slot.queued,
                },
            });
        }
    }
    let kinds = [Kind::Mapping, Kind::Mutex, Kind::Semaphore, Kind::Event];
    for (entry, owner) in object::list_owned(&kinds)? {
        let namespace = if entry.name.starts_with("Global\\") {
            Namespace::Global
        } else {
            Namespace::Local
        };
        let (details, facts) = if entry.kind == Kind::Mapping {
            (
                format!("{} bytes", entry.size),
                Facts::Mapping { size: entry.size },
            )
        } else {
            (String::new(), Facts::None)
        };
        out.push(Entry {
            kind: entry.kind,
            name: entry.name,
            namespace,
            owner,
            path: PathBuf::from(entry.path),
            details,
            facts,
        });
    }
    out.sort_by(|a, b| (a.kind.as_str(), &a.name).cmp(&(b.kind.as_str(), &b.name)));
    Ok(out)
}
