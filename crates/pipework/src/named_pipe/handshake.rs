//! The connection handshake, as plain data: what a pipework client tells the server and what the
//! server answers. Shared by the blocking and async front-ends; no I/O happens here.
//!
//! A pipework client binds its socket to an abstract address that carries its request
//! (`pipework-np1 ACCESS TOKEN`, the token 128 random bits no other process can predict), so the
//! server learns it from `accept` without a byte on the stream; it then answers with
//! [`REPLY_LEN`] bytes before any data. A foreign client (socat, Python's `socket`) binds
//! nothing: the server sends it no reply, and a byte pipe carries exactly the bytes written, both
//! ways.

use std::io::{self, ErrorKind};

use super::{Access, PipeMode};

const PREFIX: &str = "pipework-np1 ";
/// Bytes of the server's reply.
pub(crate) const REPLY_LEN: usize = 8;
const MAGIC: [u8; 2] = *b"PW";
/// Bytes of randomness in a client's address.
pub(crate) const TOKEN_LEN: usize = 16;

/// The server's answer to a pipework client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Connected: data follows.
    Accepted = 0,
    /// This user may not connect.
    Denied = 1,
    /// The access asked for does not fit the pipe's direction.
    AccessDenied = 2,
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

/// What a client that can take shared-memory rings adds to its address (after the token).
const RINGS_ASKED: &[u8] = b" rings";

/// `address` (from [`client_address`]) asking the server for shared-memory rings.
pub(crate) fn asking_for_rings(mut address: Vec<u8>) -> Vec<u8> {
    address.extend_from_slice(RINGS_ASKED);
    address
}

/// Whether a client's abstract address asks for shared-memory rings.
pub(crate) fn asks_for_rings(name: Option<&[u8]>) -> bool {
    name.is_some_and(|n| n.starts_with(PREFIX.as_bytes()) && n.ends_with(RINGS_ASKED))
}

/// `reply` saying that the rings ride on it (their two handles attached to its bytes).
pub(crate) fn with_rings(mut reply: [u8; REPLY_LEN]) -> [u8; REPLY_LEN] {
    reply[5] = 1;
    reply
}

/// Whether a reply says the rings ride on it.
pub(crate) fn has_rings(reply: &[u8; REPLY_LEN]) -> bool {
    reply[5] == 1
}

/// The server's reply.
pub(crate) fn reply(status: Status, pipe_mode: PipeMode) -> [u8; REPLY_LEN] {
    let kind = match pipe_mode {
        PipeMode::Byte => 0,
        PipeMode::Message => 1,
    };
    [MAGIC[0], MAGIC[1], 1, status as u8, kind, 0, 0, 0]
}

/// Decodes the server's reply; anything malformed is `InvalidData`.
pub(crate) fn parse_reply(bytes: &[u8; REPLY_LEN], what: &str) -> io::Result<(Status, PipeMode)> {
    let bad = || {
        io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "named pipe {what}: the server answered with something that is not a pipework \
                 handshake"
            ),
        )
    };
    if bytes[..2] != MAGIC || bytes[2] != 1 {
        return Err(bad());
    }
    let status = match bytes[3] {
        0 => Status::Accepted,
        1 => Status::Denied,
        2 => Status::AccessDenied,
        _ => return Err(bad()),
    };
    let pipe_mode = match bytes[4] {
        0 => PipeMode::Byte,
        1 => PipeMode::Message,
        _ => return Err(bad()),
    };
    Ok((status, pipe_mode))
}

/// Collects the server's reply from however many receives it takes. It asks for no byte beyond
/// the reply, so data the server sends after it stays in the socket for the pipe's reader.
#[derive(Debug, Default)]
pub(crate) struct ReplyReader {
    bytes: [u8; REPLY_LEN],
    got: usize,
}

impl ReplyReader {
    /// Where the next receive goes: the reply's missing bytes (empty once it is complete).
    pub(crate) fn space(&mut self) -> &mut [u8] {
        &mut self.bytes[self.got..]
    }

    /// Notes that a receive placed `n` bytes into [`space`](Self::space); `n` beyond the space is
    /// `InvalidInput` (a receive cannot have written there).
    pub(crate) fn advance(&mut self, n: usize) -> io::Result<()> {
        if n > REPLY_LEN - self.got {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                "a receive reported more bytes than it was given room for",
            ));
        }
        self.got += n;
        Ok(())
    }

    /// The whole reply, once it has arrived.
    pub(crate) fn complete(&self) -> Option<[u8; REPLY_LEN]> {
        (self.got == REPLY_LEN).then_some(self.bytes)
    }
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
        let r = reply(Status::Denied, PipeMode::Message);
        assert_eq!(
            parse_reply(&r, "x").unwrap(),
            (Status::Denied, PipeMode::Message)
        );
        assert!(parse_reply(&[0; REPLY_LEN], "x").is_err());
        assert!(access_fits(Access::Duplex, true, true));
        assert!(!access_fits(Access::Inbound, true, false));
        assert!(access_fits(Access::Inbound, false, true));
    }

    #[test]
    fn addresses_carry_the_token_and_no_process_id() {
        let a = client_address(true, true, &[0xab; TOKEN_LEN]);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text, format!("pipework-np1 rw {}", "ab".repeat(TOKEN_LEN)));
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

            /// Any 8 bytes decode to a reply or to `InvalidData`; what decodes re-encodes to the
            /// same meaningful bytes.
            #[test]
            fn any_reply_bytes_decode_or_fail_cleanly(bytes in any::<[u8; REPLY_LEN]>()) {
                match parse_reply(&bytes, "p") {
                    Ok((status, pipe_mode)) => {
                        let again = reply(status, pipe_mode);
                        prop_assert_eq!(&again[..5], &bytes[..5]);
                    }
                    Err(e) => {
                        prop_assert_eq!(e.kind(), ErrorKind::InvalidData);
                        prop_assert!(e.to_string().contains("named pipe p"));
                    }
                }
            }

            /// A reply cut into any receives, followed by data, is collected exactly: the reader
            /// never asks for a byte beyond the reply, and a stream cut short leaves it
            /// incomplete.
            #[test]
            fn reply_arrives_in_any_pieces(
                stream in proptest::collection::vec(any::<u8>(), 0..32),
                steps in proptest::collection::vec(1usize..10, 1..40),
            ) {
                let mut reader = ReplyReader::default();
                let mut at = 0;
                for step in steps.iter().cycle().take(REPLY_LEN * 2) {
                    let space = reader.space();
                    prop_assert!(space.len() <= REPLY_LEN);
                    let n = (*step).min(space.len()).min(stream.len() - at);
                    space[..n].copy_from_slice(&stream[at..at + n]);
                    at += n;
                    reader.advance(n).unwrap();
                }
                prop_assert!(at <= REPLY_LEN);
                match reader.complete() {
                    Some(reply) => prop_assert_eq!(&reply[..], &stream[..REPLY_LEN]),
                    None => prop_assert!(stream.len() < REPLY_LEN),
                }
                if reader.complete().is_some() {
                    prop_assert!(reader.advance(1).is_err());
                }
            }

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
        }
    }
}
