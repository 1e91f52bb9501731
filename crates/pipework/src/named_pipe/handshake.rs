//! The connection handshake, as plain data: what a pipework client tells the server and what the
//! server answers. Shared by the blocking and async front-ends.
//!
//! A pipework client binds its socket to an abstract address that carries its request
//! (`pipework-np1 ACCESS PID COUNTER`), so the server learns it from `accept` without a byte on the
//! stream; it then answers with [`REPLY_LEN`] bytes before any data. A foreign client (socat,
//! Python's `socket`) binds nothing: the server sends it no reply, and a byte pipe carries exactly
//! the bytes written, both ways.

use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Access, PipeType};

const PREFIX: &str = "pipework-np1 ";
/// Bytes of the server's reply.
pub(crate) const REPLY_LEN: usize = 8;
const MAGIC: [u8; 2] = *b"PW";

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

/// What a client asks for: `r`, `w` or `rw`.
pub(crate) fn client_address(want_read: bool, want_write: bool) -> Vec<u8> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let access = match (want_read, want_write) {
        (true, true) => "rw",
        (true, false) => "r",
        (false, true) => "w",
        (false, false) => "-",
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{access} {} {n}", std::process::id()).into_bytes()
}

/// The access a peer's abstract address asks for: `None` for a foreign client.
pub(crate) fn parse_client_address(name: Option<&[u8]>) -> Option<(bool, bool)> {
    let text = std::str::from_utf8(name?).ok()?;
    let rest = text.strip_prefix(PREFIX)?;
    match rest.split(' ').next()? {
        "rw" => Some((true, true)),
        "r" => Some((true, false)),
        "w" => Some((false, true)),
        "-" => Some((false, false)),
        _ => None,
    }
}

/// Whether a client's access fits a pipe opened with `access` on the server side: the client may
/// read only what the server writes, and write only what the server reads.
pub(crate) fn access_fits(access: Access, want_read: bool, want_write: bool) -> bool {
    let (server_reads, server_writes) = (access.server_reads(), access.server_writes());
    (!want_read || server_writes) && (!want_write || server_reads)
}

/// The server's reply.
pub(crate) fn reply(status: Status, pipe_type: PipeType) -> [u8; REPLY_LEN] {
    let kind = match pipe_type {
        PipeType::Byte => 0,
        PipeType::Message => 1,
    };
    [MAGIC[0], MAGIC[1], 1, status as u8, kind, 0, 0, 0]
}

/// Decodes the server's reply; anything malformed is `InvalidData`.
pub(crate) fn parse_reply(bytes: &[u8; REPLY_LEN], what: &str) -> io::Result<(Status, PipeType)> {
    let bad = || {
        io::Error::new(
            ErrorKind::InvalidData,
            format!("{what}: the server answered with something that is not a pipework handshake"),
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
    let pipe_type = match bytes[4] {
        0 => PipeType::Byte,
        1 => PipeType::Message,
        _ => return Err(bad()),
    };
    Ok((status, pipe_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let addr = client_address(true, false);
        assert_eq!(parse_client_address(Some(&addr)), Some((true, false)));
        assert_eq!(parse_client_address(None), None);
        assert_eq!(parse_client_address(Some(b"other")), None);
        let r = reply(Status::Denied, PipeType::Message);
        assert_eq!(
            parse_reply(&r, "x").unwrap(),
            (Status::Denied, PipeType::Message)
        );
        assert!(parse_reply(&[0; REPLY_LEN], "x").is_err());
        assert!(access_fits(Access::Duplex, true, true));
        assert!(!access_fits(Access::Inbound, true, false));
        assert!(access_fits(Access::Inbound, false, true));
    }
}
