//! Pipe names: `\\.\pipe\NAME`, `\\server\pipe\NAME`, or a plain `NAME`.

use std::fmt;
use std::io;

use super::{check_name, file_key, fold};
use crate::sys::error::invalid;

/// A parsed pipe name: `\\.\pipe\NAME`, `\\server\pipe\NAME`, or a plain `NAME`.
///
/// ```
/// use pipework::name::PipeName;
///
/// let name = PipeName::parse(r"\\.\PIPE\Jobs")?;
/// assert_eq!(name.name(), "Jobs");
/// assert_eq!(name.folded(), "JOBS");
/// assert_eq!(name, PipeName::parse("jobs")?); // case-insensitive
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
                invalid(
                    format_args!("{text:?}"),
                    r"not a pipe name: expected \\.\pipe\NAME or \\SERVER\pipe\NAME",
                )
            })?;
            let name = match rest.split_once('\\') {
                Some((pipe, name)) if pipe.eq_ignore_ascii_case("pipe") => name,
                _ => {
                    return Err(invalid(
                        format_args!("{text:?}"),
                        format_args!(r"not a pipe name: expected \\{server}\pipe\NAME"),
                    ))
                }
            };
            if server.is_empty() {
                return Err(invalid(format_args!("{text:?}"), "empty server name"));
            }
            if server.contains('\0') {
                return Err(invalid(format_args!("{text:?}"), "NUL in the server name"));
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

    /// The name in its identity form ([`fold`]: Win32's upper case).
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// The server of a `\\server\pipe\NAME` name; `None` for this machine (`.` or a plain name).
    pub fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// Fails with `Unsupported` for a pipe on another machine: only local pipes are created,
    /// listed and waited on here (`NamedPipeClient` opens remote ones over SMB).
    pub fn require_local(&self) -> io::Result<()> {
        match &self.server {
            None => Ok(()),
            Some(server) => Err(crate::sys::error::error(
                io::ErrorKind::Unsupported,
                format_args!("named pipe {self}"),
                format_args!(
                    "a pipe on another machine ({server}) is reached only by NamedPipeClient, over SMB"
                ),
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
    use std::io::ErrorKind;

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
            "a\0b",
        ] {
            let e = PipeName::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(PipeName::parse(&"é".repeat(256)).is_ok());
        assert!(PipeName::parse(&"x".repeat(257)).is_err());
        assert_eq!(
            PipeName::parse("σασ").unwrap(),
            PipeName::parse("ΣΑΣ").unwrap()
        );
        assert_ne!(
            PipeName::parse("k").unwrap(),
            PipeName::parse("\u{212A}").unwrap()
        );
    }
}
