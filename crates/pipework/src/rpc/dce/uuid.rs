//! UUIDs as DCE/RPC writes them, and the syntax identifiers (UUID + version) built from them.

use std::fmt;
use std::io::{self, ErrorKind};

/// A UUID (`GUID`), kept as its textual order of bytes; NDR writes its first three fields
/// little-endian ([`Uuid::to_ndr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The nil UUID (all zeros).
    pub const NIL: Uuid = Uuid([0; 16]);

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case). `InvalidInput` otherwise.
    pub fn parse(text: &str) -> io::Result<Uuid> {
        let bad = || {
            io::Error::new(
                ErrorKind::InvalidInput,
                format!("uuid {text:?}: expected the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
            )
        };
        let b = text.as_bytes();
        if b.len() != 36 {
            return Err(bad());
        }
        let mut out = [0u8; 16];
        let mut n = 0;
        let mut i = 0;
        while i < 36 {
            if matches!(i, 8 | 13 | 18 | 23) {
                if b[i] != b'-' {
                    return Err(bad());
                }
                i += 1;
                continue;
            }
            let hi = hex(b[i]).ok_or_else(bad)?;
            let lo = hex(b[i + 1]).ok_or_else(bad)?;
            out[n] = hi << 4 | lo;
            n += 1;
            i += 2;
        }
        Ok(Uuid(out))
    }

    /// Parses a literal known to be well formed (for constants); panics on a malformed one,
    /// which is a programming error, never input from a peer.
    pub const fn from_str_const(text: &str) -> Uuid {
        let b = text.as_bytes();
        assert!(b.len() == 36, "uuid literal must have 36 characters");
        let mut out = [0u8; 16];
        let mut n = 0;
        let mut i = 0;
        while i < 36 {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                assert!(b[i] == b'-', "uuid literal: '-' expected");
                i += 1;
                continue;
            }
            let (Some(hi), Some(lo)) = (hex(b[i]), hex(b[i + 1])) else {
                panic!("uuid literal: hex digit expected");
            };
            out[n] = hi << 4 | lo;
            n += 1;
            i += 2;
        }
        Uuid(out)
    }

    /// The 16 bytes NDR (little-endian data representation) carries.
    pub fn to_ndr(&self) -> [u8; 16] {
        let u = &self.0;
        [
            u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6], u[8], u[9], u[10], u[11], u[12], u[13],
            u[14], u[15],
        ]
    }

    /// The UUID in 16 bytes NDR (little-endian data representation) carried.
    pub fn from_ndr(b: [u8; 16]) -> Uuid {
        Uuid([
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ])
    }
}

const fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Uuid {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<Uuid> {
        Uuid::parse(s)
    }
}

/// An interface or transfer syntax: a UUID and a version (`RPC_SYNTAX_IDENTIFIER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyntaxId {
    /// The interface's UUID.
    pub uuid: Uuid,
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl SyntaxId {
    /// A syntax from its UUID literal and version (for constants).
    pub const fn new(uuid: &str, major: u16, minor: u16) -> SyntaxId {
        SyntaxId {
            uuid: Uuid::from_str_const(uuid),
            major,
            minor,
        }
    }

    /// The 20 bytes a presentation context carries: UUID, then the version as one
    /// little-endian `u32` (major in the low half).
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..16].copy_from_slice(&self.uuid.to_ndr());
        out[16..18].copy_from_slice(&self.major.to_le_bytes());
        out[18..20].copy_from_slice(&self.minor.to_le_bytes());
        out
    }

    /// The syntax in 20 bytes of a presentation context.
    pub fn from_bytes(b: [u8; 20]) -> SyntaxId {
        let mut u = [0u8; 16];
        u.copy_from_slice(&b[..16]);
        SyntaxId {
            uuid: Uuid::from_ndr(u),
            major: u16::from_le_bytes([b[16], b[17]]),
            minor: u16::from_le_bytes([b[18], b[19]]),
        }
    }
}

impl fmt::Display for SyntaxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} v{}.{}", self.uuid, self.major, self.minor)
    }
}

/// The NDR20 transfer syntax (`8a885d04-1ceb-11c9-9fe8-08002b104860` v2.0), the one pipework
/// speaks.
pub const NDR20: SyntaxId = SyntaxId::new("8a885d04-1ceb-11c9-9fe8-08002b104860", 2, 0);

/// The NDR64 transfer syntax, which pipework declines.
pub const NDR64: SyntaxId = SyntaxId::new("71710533-beba-4937-8319-b5dbef9ccc36", 1, 0);

/// Whether `syntax` is a bind-time feature negotiation offer (MS-RPCE 3.3.1.5.3: UUID
/// `6cb71c2c-9812-4540-xxxx-xxxxxxxxxxxx`, the last 8 bytes carrying the feature bits).
pub fn is_bind_time_features(syntax: &SyntaxId) -> bool {
    syntax.uuid.0[..8] == [0x6c, 0xb7, 0x1c, 0x2c, 0x98, 0x12, 0x45, 0x40]
}
