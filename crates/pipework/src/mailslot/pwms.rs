//! pipework's own mailslot datagram format (the `Wire::Pipework` wire), I/O-free: one UDP
//! datagram per message, to one host or to a multicast group or broadcast address. It carries
//! what a NetBIOS datagram cannot: a message of up to 64 KB to one host, and group messages
//! that a multicast route takes past the local segment.
//!
//! Wire format of a datagram (all integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `PWMS` |
//! | 1 | version, 1 |
//! | 1 | kind: 0 one host, 1 everyone (`*`), 2 one domain |
//! | 2 | length of the folded slot name |
//! | 2 | length of the folded domain (kind 2), else 0 |
//! | n | folded slot name (UTF-8) |
//! | d | folded domain (UTF-8) |
//! | rest | the message |

/// The largest UDP datagram: a message to one host is at most this minus the header.
pub(crate) const MAX_DATAGRAM: usize = 65_507;

const MAGIC: &[u8; 4] = b"PWMS";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 10;

/// What a datagram is addressed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Host,
    Everyone,
    Domain(String),
}

/// Encodes the header of datagrams for slot `folded` and `kind`.
pub(crate) fn header(folded: &str, kind: &Kind) -> Vec<u8> {
    let domain = match kind {
        Kind::Domain(d) => d.to_lowercase(),
        _ => String::new(),
    };
    let mut h = Vec::with_capacity(HEADER_LEN + folded.len() + domain.len());
    h.extend_from_slice(MAGIC);
    h.push(VERSION);
    h.push(match kind {
        Kind::Host => 0,
        Kind::Everyone => 1,
        Kind::Domain(_) => 2,
    });
    h.extend_from_slice(&(folded.len() as u16).to_le_bytes());
    h.extend_from_slice(&(domain.len() as u16).to_le_bytes());
    h.extend_from_slice(folded.as_bytes());
    h.extend_from_slice(domain.as_bytes());
    h
}

/// A decoded datagram.
pub(crate) struct Datagram<'a> {
    pub(crate) kind: Kind,
    pub(crate) name: &'a str,
    pub(crate) message: &'a [u8],
}

/// Decodes a datagram; `None` when malformed.
pub(crate) fn decode(bytes: &[u8]) -> Option<Datagram<'_>> {
    if bytes.len() < HEADER_LEN || &bytes[0..4] != MAGIC || bytes[4] != VERSION {
        return None;
    }
    let name_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let domain_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let name_end = HEADER_LEN.checked_add(name_len)?;
    let domain_end = name_end.checked_add(domain_len)?;
    let name = std::str::from_utf8(bytes.get(HEADER_LEN..name_end)?).ok()?;
    let domain = std::str::from_utf8(bytes.get(name_end..domain_end)?).ok()?;
    let kind = match (bytes[5], domain_len) {
        (0, 0) => Kind::Host,
        (1, 0) => Kind::Everyone,
        (2, 1..) => Kind::Domain(domain.to_string()),
        _ => return None,
    };
    Some(Datagram {
        kind,
        name,
        message: &bytes[domain_end..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let mut d = header("a\\b", &Kind::Domain("WorkGroup".into()));
        d.extend_from_slice(b"hi");
        let got = decode(&d).unwrap();
        assert_eq!(got.kind, Kind::Domain("workgroup".into()));
        assert_eq!((got.name, got.message), ("a\\b", &b"hi"[..]));
        for bad in [
            &b""[..],
            b"PWMS",
            b"XXXX\x01\x00\x00\x00\x00\x00",
            b"PWMS\x01\x00\xff\xff\x00\x00",
        ] {
            assert!(decode(bad).is_none());
        }
        let mut d = header("x", &Kind::Everyone);
        d[5] = 2; // a domain kind without a domain
        assert!(decode(&d).is_none());
    }
}
