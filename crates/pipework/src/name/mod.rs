//! The object layer: every Win32 name form, where each kind of object lives on Linux, the one
//! private-directory policy, and the lease whose release is the only code that removes a name.
//!
//! ```
//! use pipework::name::{fold, MailslotName, ObjectName, PipeName};
//!
//! assert_eq!(PipeName::parse(r"\\.\pipe\Jobs")?, PipeName::parse("JOBS")?);
//! assert_eq!(MailslotName::parse(r"\\*\mailslot\news")?.path(), "news");
//! assert_eq!(ObjectName::parse(r"Local\cache")?.as_str(), r"Local\cache");
//! assert_eq!(fold("σασ"), fold("ΣΑΣ")); // as Win32 compares names
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Win32 | pipework |
//! |---|---|
//! | `\\.\pipe\NAME`, `\\server\pipe\NAME` | [`PipeName::parse`] |
//! | `\\.\mailslot\[path\]NAME`, `\\host\...`, `\\domain\...`, `\\*\...` | [`MailslotName::parse`] |
//! | `Local\NAME`, `Global\NAME`, `NAME` (and POSIX `/NAME`) | [`ObjectName::parse`] |
//! | case-insensitive comparison (`RtlUpcaseUnicodeString`) | [`fold`] |
//! | the object namespace | [`directory`] with a [`Namespace`] and a [`Kind`] |
//! | a handle keeping a name alive | [`Lease`] |
//! | the object directory's listing (`PipeList`, WinObj) | [`list`] |
//! | `ERROR_INVALID_NAME` | [`std::io::ErrorKind::InvalidInput`] |
//!
//! # Where objects live
//!
//! * This user's own objects (pipes, mailslots, shared-memory pipes) live in a private directory
//!   that no other user can write or even search (details in [`directory`]).
//! * Global pipes ([`Namespace::Global`]) live each in a directory of its own directly in the
//!   sticky, root-owned `/tmp`: `/tmp/pipework-pipe-<key>`, created by the pipe's first server and
//!   owned by it. **Decision:** there is no shared directory of global objects at all, so there
//!   is nothing that the first user to look up a name or to list could create and claim. A
//!   lookup or a list never creates anything outside the caller's own private directory.
//! * File mappings and synchronization objects are files in `/dev/shm` ([`ObjectName`]).
//!
//! Each object's file name is a key made from its folded name ([`file_key`]): the name itself
//! when it is short and plain, else a SHA-256 hash of it. The full name is kept beside the
//! object and compared wherever a key leads to one, so an object planted under another name's
//! key is never taken for it.
//!
//! # Who can do what
//!
//! Nothing another user made is taken for this user's: every private directory is checked
//! (owner, type, mode), every `Local\` object's file is checked after an `O_NOFOLLOW` open
//! (owner, type, no access for others) before a byte of it is believed, and no lock file or
//! lock exists that another user could open and hold: a named pipe's lock file is its owner's
//! alone (others tell a live pipe from the kernel's lock table, which they cannot write), and
//! the `/dev/shm` namespace creates objects atomically instead of under a lock. The only wait a
//! stranger can cause (holding a global object's file locked) is bounded and ends in an error
//! that names the object.
//!
//! # Lifetime
//!
//! A living object holds a [`Lease`] on its name; the last holder's release removes the name.
//! A holder killed outright releases nothing, but the kernel drops its locks and sockets, and
//! the next create, open or [`list`] that meets the name reclaims it with the same code.

mod fold;
mod key;
pub(crate) mod lease;
mod list;
pub(crate) mod mailslot;
pub(crate) mod object;
mod pipe;
pub(crate) mod place;

pub use fold::{fold, upcase};
pub use key::{file_key, hash};
pub use lease::{release_errors, Lease};
pub use list::{list, Entry, Facts};
pub use mailslot::{MailslotName, MailslotServer};
pub use object::{ObjectEntry, ObjectName};
pub use pipe::PipeName;
pub use place::directory;

use std::fmt;
use std::io;

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

/// What kind of object a name is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Named pipes (`\\.\pipe\`).
    Pipe,
    /// Mailslots (`\\.\mailslot\`).
    Mailslot,
    /// File mappings (`CreateFileMapping`).
    Mapping,
    /// Mutexes (`CreateMutex`).
    Mutex,
    /// Semaphores (`CreateSemaphore`).
    Semaphore,
    /// Events (`CreateEvent`).
    Event,
    /// Shared-memory pipes created by name.
    ShmPipe,
    /// Message windows (`CreateWindow` for messages only): see `crate::window`.
    Window,
}

impl Kind {
    /// Its name in listings (and the subdirectory of the kinds that have one).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pipe => "pipe",
            Kind::Mailslot => "mailslot",
            Kind::Mapping => "mapping",
            Kind::Mutex => "mutex",
            Kind::Semaphore => "semaphore",
            Kind::Event => "event",
            Kind::ShmPipe => "shm-pipe",
            Kind::Window => "window",
        }
    }

    /// The kind of a `/dev/shm` object from its kind attribute.
    pub(crate) fn from_object_tag(tag: &[u8]) -> Option<Kind> {
        Some(match tag {
            b"mapping" => Kind::Mapping,
            b"mutex" => Kind::Mutex,
            b"semaphore" => Kind::Semaphore,
            b"event" => Kind::Event,
            _ => return None,
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks an object name's own part (after any `\\.\pipe\` prefix): 1 to 256 characters, none of
/// them a backslash or NUL. `what` names the object in the error (`named pipe`).
pub fn check_name(what: &str, name: &str) -> io::Result<()> {
    use crate::sys::error::invalid;
    if name.is_empty() {
        return Err(invalid(format_args!("{what} name"), "it is empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(invalid(
            format_args!("{what} name"),
            format_args!("it is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"),
        ));
    }
    if name.contains('\\') {
        return Err(invalid(
            format_args!("{what} name {name:?}"),
            "it contains a backslash",
        ));
    }
    if name.contains('\0') {
        return Err(invalid(
            format_args!("{what} name {name:?}"),
            "it contains a NUL character",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod proptests;
