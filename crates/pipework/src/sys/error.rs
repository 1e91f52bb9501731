//! The one way pipework builds an `io::Error`: its kind is the one a Rust user expects and its
//! message starts with the object it is about (`named pipe \\.\pipe\jobs: ...`).

use std::fmt::Display;
use std::io::{self, ErrorKind};

/// A new error of `kind` about `object`: `"{object}: {what}"`.
///
/// ```text
/// let e = error(ErrorKind::NotFound, r"named pipe \\.\pipe\jobs", "no such pipe");
/// assert_eq!(e.to_string(), r"named pipe \\.\pipe\jobs: no such pipe");
/// ```
pub(crate) fn error(kind: ErrorKind, object: impl Display, what: impl Display) -> io::Error {
    io::Error::new(kind, format!("{object}: {what}"))
}

/// `e` (an `io::Error` or a `rustix` errno) with `object` named in front, its kind kept.
pub(crate) fn named(object: impl Display, e: impl Into<io::Error>) -> io::Error {
    let e = e.into();
    io::Error::new(e.kind(), format!("{object}: {e}"))
}

/// `InvalidInput` about `object`: bad names, sizes and options from the caller.
pub(crate) fn invalid(object: impl Display, what: impl Display) -> io::Error {
    error(ErrorKind::InvalidInput, object, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_object_and_keeps_the_kind() {
        let e = named("mailslot x", rustix::io::Errno::ACCESS);
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.to_string().starts_with("mailslot x: "), "{e}");
        let e = invalid("named pipe y", "too long");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "named pipe y: too long");
    }
}
