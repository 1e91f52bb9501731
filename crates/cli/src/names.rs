//! Object names as the commands take them: the short form (`jobs`) or the full Win32 one
//! (`\\.\mailslot\jobs`), made full here and nowhere else, so every command of a kind takes both.
//!
//! | kind | short | full |
//! |---|---|---|
//! | named pipe | `jobs` | `\\.\pipe\jobs` (or `\\server\pipe\jobs`) |
//! | mailslot | `jobs`, `path\jobs` | `\\.\mailslot\jobs` (or `\\*\...`, `\\host\...`) |
//! | file mapping | `jobs` | `Local\jobs` (or `Global\jobs`, `/jobs`) |
//! | shared-memory pipe | `jobs` | (no other form) |
//!
//! File mappings and shared-memory pipes are passed on as they are: the library already reads a
//! plain mapping name as `Local\` (and keeps it as written in what it prints), and a
//! shared-memory pipe has only the one form.

use std::convert::Infallible;

/// A kind of named object whose short names need a prefix.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `\\.\pipe\NAME`.
    Pipe,
    /// `\\.\mailslot\[path\]NAME`.
    Mailslot,
}

impl Kind {
    /// The prefix of this computer's objects of the kind.
    fn local_prefix(self) -> &'static str {
        match self {
            Kind::Pipe => r"\\.\pipe\",
            Kind::Mailslot => r"\\.\mailslot\",
        }
    }
}

/// The full name of `name`: as it is when it is already one (it starts with `\\`), else the
/// name of this computer's object of `kind` called `name`.
pub fn full(kind: Kind, name: &str) -> String {
    if name.starts_with(r"\\") {
        name.to_string()
    } else {
        format!("{}{name}", kind.local_prefix())
    }
}

/// Clap's parser of a named-pipe argument: its full name.
pub fn pipe(name: &str) -> Result<String, Infallible> {
    Ok(full(Kind::Pipe, name))
}

/// Clap's parser of a mailslot argument: its full name.
pub fn mailslot(name: &str) -> Result<String, Infallible> {
    Ok(full(Kind::Mailslot, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_become_full_and_full_ones_stay() {
        assert_eq!(full(Kind::Pipe, "jobs"), r"\\.\pipe\jobs");
        assert_eq!(full(Kind::Mailslot, "jobs"), r"\\.\mailslot\jobs");
        assert_eq!(full(Kind::Mailslot, r"a\jobs"), r"\\.\mailslot\a\jobs");
        for name in [r"\\.\pipe\jobs", r"\\host\pipe\jobs", r"\\*\mailslot\jobs"] {
            assert_eq!(full(Kind::Pipe, name), name);
            assert_eq!(full(Kind::Mailslot, name), name);
        }
    }
}
