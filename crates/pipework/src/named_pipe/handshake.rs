//! The connection handshake, as plain data: what a pipework client tells the server. Shared by
//! the blocking and async front-ends; no I/O happens here.
//!
//! A pipework client binds its socket to an abstract address that carries its request
//! (`pipework-np2 ACCESS TOKEN`, the token 128 random bits no other process can predict), so the
//! server learns it from `accept` without a byte on the stream. The client's open completes as
//! soon as its connection is queued on a listening instance (Win32 completes `CreateFile` while
//! the server has not yet called `ConnectNamedPipe`): it checks itself what the server would
//! refuse (the access asked for, its user) from the pipe's description and the listener's
//! credentials, and the server checks again when it admits the client. Nothing comes back:
//! the stream from the server carries only the server's data.
//!
//! The one thing a pipework client sends before its data is [`NOTICE_TAG`], a byte carrying the
//! handle of its disconnect notice (see [`super::state`]); the server takes it before reading.
//! A client that offers shared-memory rings sends [`RINGS_TAG`] instead, the rings and bells
//! beside the notice (see [`super::ring`]); the server takes them or drops them, and says
//! nothing either way. A foreign client (socat, Python's `socket`) binds nothing and sends no
//! tag: a byte pipe carries exactly the bytes written, both ways.

use super::Access;

const PREFIX: &str = "pipework-np2 ";
/// Bytes of randomness in a client's address.
pub(crate) const TOKEN_LEN: usize = 16;
/// The byte a pipework client sends first, carrying its disconnect notice.
pub(crate) const NOTICE_TAG: u8 = b'N';
/// The byte a pipework client that offers rings sends first: its notice, then the two rings
/// and the two bells ride on it.
pub(crate) const RINGS_TAG: u8 = b'R';
/// Handles riding on [`RINGS_TAG`].
pub(crate) const RINGS_HANDLES: usize = 5;

/// What the server makes of the first byte a pipework client sent, and the handles beside it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    /// The notice tag, with a handle.
    Notice,
    /// The rings tag, with the notice, the rings and the bells.
    Rings,
    /// The client closed before sending it.
    Gone,
    /// Anything else: the client does not follow the protocol.
    Bad,
}

/// Decodes the first receive of a pipework client's stream: `bytes` received (at most one),
/// `byte` the first, `handles` how many handles came with it.
pub(crate) fn tag(bytes: usize, byte: u8, handles: usize) -> Tag {
    match (bytes, byte, handles) {
        (0, _, _) => Tag::Gone,
        (1, NOTICE_TAG, 1) => Tag::Notice,
        (1, RINGS_TAG, RINGS_HANDLES) => Tag::Rings,
        _ => Tag::Bad,
    }
}

/// The abstract address a client binds: what it asks for (`r`, `w` or `rw`) and `token`, random
/// bytes that make the address one no other process can take first.
pub(crate) fn client_address(
    want_read: bool,
    want_write: bool,
    token: &[u8; TOKEN_LEN],
) -> Vec<u8> {
    let access = match (want_read, want_write) {
        (true, true) => "rw",
        (true, false) => "r",
        (false, true) => "w",
        (false, false) => "-",
    };
    let mut text = format!("{PREFIX}{access} ");
    for b in token {
        text.push_str(&format!("{b:02x}"));
    }
    text.into_bytes()
}

/// The access a peer's abstract address asks for: `None` for a foreign client.
pub(crate) fn parse_client_address(name: Option<&[u8]>) -> Option<(bool, bool)> {
    let rest = name?.strip_prefix(PREFIX.as_bytes())?;
    let access = rest.split(|&b| b == b' ').next()?;
    match access {
        b"rw" => Some((true, true)),
        b"r" => Some((true, false)),
        b"w" => Some((false, true)),
        b"-" => Some((false, false)),
        _ => None,
    }
}

/// Whether a client's access fits a pipe opened with `access` on the server side: the client may
/// read only what the server writes, and write only what the server reads.
pub(crate) fn access_fits(access: Access, want_read: bool, want_write: bool) -> bool {
    let (server_reads, server_writes) = (access.server_reads(), access.server_writes());
    (!want_read || server_writes) && (!want_write || server_reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let addr = client_address(true, false, &[7; TOKEN_LEN]);
        assert_eq!(parse_client_address(Some(&addr)), Some((true, false)));
        assert_eq!(parse_client_address(None), None);
        assert_eq!(parse_client_address(Some(b"other")), None);
        assert!(access_fits(Access::Duplex, true, true));
        assert!(!access_fits(Access::Inbound, true, false));
        assert!(access_fits(Access::Inbound, false, true));
    }

    #[test]
    fn tags() {
        assert_eq!(tag(1, NOTICE_TAG, 1), Tag::Notice);
        assert_eq!(tag(0, 0, 0), Tag::Gone);
        assert_eq!(tag(1, NOTICE_TAG, 0), Tag::Bad);
        assert_eq!(tag(1, b'x', 1), Tag::Bad);
        assert_eq!(tag(1, RINGS_TAG, RINGS_HANDLES), Tag::Rings);
        assert_eq!(tag(1, RINGS_TAG, 1), Tag::Bad);
    }

    #[test]
    fn addresses_carry_the_token_and_no_process_id() {
        let a = client_address(true, true, &[0xab; TOKEN_LEN]);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text, format!("pipework-np2 rw {}", "ab".repeat(TOKEN_LEN)));
        assert!(!text.contains(&std::process::id().to_string()));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Cases each property below runs.
        const CASES: u32 = 2_000;

        fn access_of(text: &[u8]) -> Option<(bool, bool)> {
            parse_client_address(Some(text))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]

            /// Any abstract address, including truncated and garbage ones, parses to a request or
            /// to "a foreign client" without panicking; a real one parses back.
            #[test]
            fn any_address_parses_or_is_foreign(
                raw in proptest::collection::vec(any::<u8>(), 0..120),
                cut in 0usize..60,
                read in any::<bool>(),
                write in any::<bool>(),
                token in any::<[u8; TOKEN_LEN]>(),
            ) {
                let _ = access_of(&raw);
                let mut prefixed = PREFIX.as_bytes().to_vec();
                prefixed.extend_from_slice(&raw);
                let _ = access_of(&prefixed);
                let real = client_address(read, write, &token);
                prop_assert_eq!(access_of(&real), Some((read, write)));
                let cut = cut.min(real.len());
                let truncated = access_of(&real[..cut]);
                prop_assert!(truncated.is_none() || cut > PREFIX.len());
            }

            /// Any first receive decodes without panicking; only the tag with one handle is a
            /// notice.
            #[test]
            fn any_first_byte_decodes(bytes in 0usize..3, byte in any::<u8>(), handles in 0usize..7) {
                let t = tag(bytes, byte, handles);
                prop_assert_eq!(t == Tag::Notice, bytes == 1 && byte == NOTICE_TAG && handles == 1);
                prop_assert_eq!(
                    t == Tag::Rings,
                    bytes == 1 && byte == RINGS_TAG && handles == RINGS_HANDLES
                );
            }
        }
    }
}
