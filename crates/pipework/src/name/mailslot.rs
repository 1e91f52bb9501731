//! Mailslot names: `\\server\mailslot\[path\]name`, parsed and folded for lookup.
//!
//! The server part says where the slot is: `.` this computer, `*` every slot of that name on the
//! local network segment, anything else a computer or a domain. The rest (`[path\]name`) is
//! compared without regard to case ([`fold`]).

use std::io;

use super::{fold, key};

/// The longest `[path\]name` part accepted, in characters.
pub(crate) const MAX_PATH_CHARS: usize = 256;

/// Where a mailslot name points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailslotServer {
    /// `\\.\mailslot\...`: this computer.
    Local,
    /// `\\*\mailslot\...`: every slot of that name on the network segment (the primary domain).
    Everyone,
    /// `\\name\mailslot\...`: a computer (one slot) or a domain (every slot of that name there).
    Named(String),
}

/// A parsed mailslot name, `\\server\mailslot\[path\]name`.
///
/// ```
/// use pipework::name::{MailslotName, MailslotServer};
///
/// let name = MailslotName::parse(r"\\.\MailSlot\Jobs\New")?;
/// assert_eq!(name.server(), &MailslotServer::Local);
/// assert_eq!(name.path(), r"Jobs\New");
/// assert_eq!(name.to_string(), r"\\.\mailslot\Jobs\New");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MailslotName {
    /// The server part.
    pub(crate) server: MailslotServer,
    /// The `[path\]name` part as written.
    pub(crate) path: String,
    /// The `[path\]name` part folded for case-insensitive comparison.
    pub(crate) folded: String,
}

impl MailslotName {
    /// Parses `\\server\mailslot\[path\]name` (the `mailslot` keyword in any case). Fails with
    /// `InvalidInput` naming the problem.
    pub fn parse(name: &str) -> io::Result<MailslotName> {
        parse(name)
    }

    /// Where the name points.
    pub fn server(&self) -> &MailslotServer {
        &self.server
    }

    /// The `[path\]name` part, as written.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The `[path\]name` part in its identity form ([`fold`]).
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// The local form of this name, `\\.\mailslot\path`, as it was spelled.
    pub(crate) fn local_display(&self) -> String {
        format!(r"\\.\mailslot\{}", self.path)
    }

    /// The hash of the folded name (see [`key::hash`]): the name of the slot's files.
    pub(crate) fn hashed(&self) -> String {
        key::hash(&self.folded)
    }
}

impl PartialEq for MailslotName {
    fn eq(&self, other: &Self) -> bool {
        let server = |s: &MailslotServer| match s {
            MailslotServer::Named(n) => Some(fold(n)),
            _ => None,
        };
        std::mem::discriminant(&self.server) == std::mem::discriminant(&other.server)
            && server(&self.server) == server(&other.server)
            && self.folded == other.folded
    }
}

impl Eq for MailslotName {}

impl std::fmt::Display for MailslotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let server = match &self.server {
            MailslotServer::Local => ".",
            MailslotServer::Everyone => "*",
            MailslotServer::Named(n) => n,
        };
        write!(f, r"\\{server}\mailslot\{}", self.path)
    }
}

fn invalid(name: &str, why: &str) -> io::Error {
    crate::sys::error::invalid(
        format_args!("invalid mailslot name {name:?}"),
        format_args!(r"{why} (expected \\.\mailslot\[path\]name)"),
    )
}

/// Parses `\\server\mailslot\[path\]name` (the `mailslot` keyword in any case).
pub(crate) fn parse(name: &str) -> io::Result<MailslotName> {
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
        "." => MailslotServer::Local,
        "*" => MailslotServer::Everyone,
        other if other.contains('\0') => return Err(invalid(name, "NUL character")),
        other => MailslotServer::Named(other.to_string()),
    };
    Ok(MailslotName {
        server,
        path: path.to_string(),
        folded: fold(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = parse(r"\\.\MailSlot\Path\Jobs").unwrap();
        assert_eq!(n.server, MailslotServer::Local);
        assert_eq!(n.path, r"Path\Jobs");
        assert_eq!(n.folded, r"PATH\JOBS");
        assert_eq!(
            parse(r"\\*\mailslot\x").unwrap().server,
            MailslotServer::Everyone
        );
        assert_eq!(
            parse(r"\\host\mailslot\x").unwrap().server,
            MailslotServer::Named("host".into())
        );
        assert_eq!(
            parse(r"\\.\mailslot\ABC").unwrap().hashed(),
            parse(r"\\.\mailslot\abc").unwrap().hashed()
        );
        assert_eq!(
            parse(r"\\.\mailslot\σασ").unwrap(),
            parse(r"\\.\mailslot\ΣΑΣ").unwrap()
        );
        assert_ne!(
            parse(r"\\.\mailslot\k").unwrap().hashed(),
            parse("\\\\.\\mailslot\\\u{212A}").unwrap().hashed()
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
