//! File keys: the file name under which an object lives, made from its folded name.
//!
//! A short name of plain characters is its own key (in lower case, so listings stay readable);
//! any other name becomes a hash: SHA-256 of the folded name, truncated to 128 bits. Nobody can
//! craft two names with the same hash, and callers still keep the full name beside the object
//! (the pipe's `info`, the mailslot spool's header, the shared-memory pipe's note) and compare it
//! wherever a key leads to an object, so that a file planted under another name's key is never
//! taken for it.

use sha2::{Digest, Sha256};

/// The longest plain key, in bytes.
const PLAIN_MAX: usize = 40;

/// The file name under which the object with folded name `folded` lives in its directory.
///
/// A name of 1 to 40 plain characters (`A-Z a-z 0-9 . _ -`, not starting with a dot) is its own
/// key, in lower case; any other name becomes `~` and [`hash`] of it. The two forms never
/// collide, as plain keys have no `~`. Every key is at most 40 bytes, so that a key fits in a
/// Unix socket path (108 bytes) with the directories above it.
///
/// ```
/// use pipework::name::{file_key, fold};
///
/// assert_eq!(file_key(&fold("Jobs")), "jobs");
/// assert!(file_key(&fold("a/b")).starts_with('~'));
/// ```
pub fn file_key(folded: &str) -> String {
    let plain = !folded.is_empty()
        && folded.len() <= PLAIN_MAX
        && !folded.starts_with('.')
        && folded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if plain {
        folded.to_ascii_lowercase()
    } else {
        format!("~{}", hash(folded))
    }
}

/// SHA-256 of `folded`, its first 128 bits in lower-case hex (32 characters).
pub fn hash(folded: &str) -> String {
    let digest = Sha256::digest(folded.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fit_and_differ() {
        assert_eq!(file_key("jobs"), "jobs");
        assert_eq!(file_key("JOBS"), "jobs");
        let long = file_key(&"y".repeat(256));
        assert_eq!(long.len(), 33);
        assert_ne!(file_key("a/b"), file_key("a/c"));
        assert!(file_key(".hidden").starts_with('~'));
        assert!(file_key("").starts_with('~'));
        assert_eq!(file_key(&"x".repeat(40)), "x".repeat(40));
        assert!(file_key(&"x".repeat(41)).starts_with('~'));
        // The test vector of SHA-256("abc"), truncated.
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223");
    }
}
