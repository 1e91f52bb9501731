//! Mailslot names: `\\server\mailslot\[path\]name`, parsed and folded for lookup.
//!
//! The server part says where the slot is: `.` this computer, `*` every slot of that name on the
//! local network segment, anything else a computer or a domain. The rest (`[path\]name`) is
//! compared without regard to case.

use std::io;

/// The longest `[path\]name` part accepted, in characters.
pub(crate) const MAX_PATH_CHARS: usize = 256;

/// Where a mailslot name points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Server {
    /// `\\.\mailslot\...`: this computer.
    Local,
    /// `\\*\mailslot\...`: every slot of that name on the network segment (the primary domain).
    Everyone,
    /// `\\name\mailslot\...`: a computer (one slot) or a domain (every slot of that name there).
    Named(String),
}

/// A parsed mailslot name.
#[derive(Clone, Debug)]
pub(crate) struct SlotName {
    /// The server part.
    pub(crate) server: Server,
    /// The `[path\]name` part as written.
    pub(crate) path: String,
    /// The `[path\]name` part folded for case-insensitive comparison.
    pub(crate) folded: String,
}

impl SlotName {
    /// The local form of this name, `\\.\mailslot\path`, as it was spelled.
    pub(crate) fn local_display(&self) -> String {
        format!(r"\\.\mailslot\{}", self.path)
    }

    /// A 128-bit FNV-1a hash of the folded name, in hex: the name of the slot's files.
    pub(crate) fn hashed(&self) -> String {
        format!("{:032x}", fnv1a_128(self.folded.as_bytes()))
    }
}

fn invalid(name: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(r"invalid mailslot name {name:?}: {why} (expected \\.\mailslot\[path\]name)"),
    )
}

/// Parses `\\server\mailslot\[path\]name` (the `mailslot` keyword in any case).
pub(crate) fn parse(name: &str) -> io::Result<SlotName> {
    let rest = name
        .strip_prefix(r"\\")
        .ok_or_else(|| invalid(name, r"it must start with \\"))?;
    let (server, rest) = rest
        .split_once('\\')
        .ok_or_else(|| invalid(name, "no mailslot part"))?;
    let (keyword, path) = rest
        .split_once('\\')
        .ok_or_else(|| invalid(name, "no slot name after mailslot"))?;
    if !keyword.eq_ignore_ascii_case("mailslot") {
        return Err(invalid(name, "the second part must be `mailslot`"));
    }
    if server.is_empty() {
        return Err(invalid(name, "empty server part"));
    }
    if path.is_empty() {
        return Err(invalid(name, "empty slot name"));
    }
    if path.split('\\').any(str::is_empty) {
        return Err(invalid(name, "empty path component"));
    }
    if path.contains('\0') {
        return Err(invalid(name, "NUL character"));
    }
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(invalid(
            name,
            &format!("longer than {MAX_PATH_CHARS} characters"),
        ));
    }
    let server = match server {
        "." => Server::Local,
        "*" => Server::Everyone,
        other if other.contains('\0') => return Err(invalid(name, "NUL character")),
        other => Server::Named(other.to_string()),
    };
    Ok(SlotName {
        server,
        path: path.to_string(),
        folded: path.to_lowercase(),
    })
}

/// 128-bit FNV-1a: stable across builds and platforms (unlike `std`'s hasher), so every process
/// derives the same file name from the same slot name.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = parse(r"\\.\MailSlot\Path\Jobs").unwrap();
        assert_eq!(n.server, Server::Local);
        assert_eq!(n.path, r"Path\Jobs");
        assert_eq!(n.folded, r"path\jobs");
        assert_eq!(parse(r"\\*\mailslot\x").unwrap().server, Server::Everyone);
        assert_eq!(
            parse(r"\\host\mailslot\x").unwrap().server,
            Server::Named("host".into())
        );
        assert_eq!(
            parse(r"\\.\mailslot\ABC").unwrap().hashed(),
            parse(r"\\.\mailslot\abc").unwrap().hashed()
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "jobs",
            r"\\.\pipe\x",
            r"\\.\mailslot\",
            r"\\.\mailslot",
            r"\\\mailslot\x",
            r"\\.\mailslot\a\\b",
            "\\\\.\\mailslot\\a\0",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        let long = format!(r"\\.\mailslot\{}", "x".repeat(MAX_PATH_CHARS + 1));
        assert!(parse(&long).is_err());
    }
}
