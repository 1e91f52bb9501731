//! The bytes of one message on a window's connection, and of its answer: I/O-free encoders and
//! decoders that check every field a peer sends and never panic.
//!
//! A request is a 48-byte header, little-endian, then its data when the data travels inline:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | operation: 1 send, 2 post |
//! | 1 | 1 | flags: bit 0 abort if hung, bit 1 data in the attached memfd |
//! | 2 | 2 | zero |
//! | 4 | 4 | `msg` |
//! | 8 | 8 | `wparam` |
//! | 16 | 8 | `lparam` |
//! | 24 | 8 | the sending window's handle (0: none) |
//! | 32 | 8 | data length |
//! | 40 | 8 | zero |
//!
//! An answer is a 24-byte header (status, 7 zero bytes, the `isize` result, the length of the
//! answer's data) and that many bytes.

use std::io;

/// Bytes in a request header.
pub(crate) const REQUEST_LEN: usize = 48;
/// Bytes in an answer header.
pub(crate) const ANSWER_LEN: usize = 24;

/// The most bytes a message may carry (through a memfd).
pub(crate) const MAX_DATA: u64 = 1 << 30;
/// The most bytes a message may carry inline (a sender switches to a memfd well before).
pub(crate) const MAX_INLINE: u64 = 16 << 20;

/// Reads exactly `len` bytes of inline data announced by a peer, growing the buffer as the bytes
/// arrive: memory follows what was sent, never just what a header claimed.
pub(crate) fn read_inline(reader: impl io::Read, len: u64) -> io::Result<Vec<u8>> {
    use io::Read as _;
    let mut data = Vec::with_capacity(len.min(64 * 1024) as usize);
    reader.take(len).read_to_end(&mut data)?;
    if (data.len() as u64) < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(data)
}
/// The most bytes an answer may carry.
pub(crate) const MAX_ANSWER: u64 = 64 << 20;

/// What a request asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `SendMessage`: answered once the handler returns.
    Send = 1,
    /// `PostMessage`: answered once queued (or refused).
    Post = 2,
}

/// Flag: answer at once with [`Status::Hung`] when the window is not responding.
pub(crate) const ABORT_IF_HUNG: u8 = 1;
/// Flag: the data is in the memfd attached to the header, not inline.
pub(crate) const IN_MEMFD: u8 = 2;

/// One request's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) flags: u8,
    pub(crate) msg: u32,
    pub(crate) wparam: u64,
    pub(crate) lparam: i64,
    pub(crate) from: u64,
    pub(crate) len: u64,
}

impl Request {
    pub(crate) fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[0] = self.op as u8;
        b[1] = self.flags;
        b[4..8].copy_from_slice(&self.msg.to_le_bytes());
        b[8..16].copy_from_slice(&self.wparam.to_le_bytes());
        b[16..24].copy_from_slice(&self.lparam.to_le_bytes());
        b[24..32].copy_from_slice(&self.from.to_le_bytes());
        b[32..40].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Parses a header from a peer: unknown operations or flags, and lengths over the limits,
    /// are `InvalidData`.
    pub(crate) fn decode(b: &[u8; REQUEST_LEN]) -> io::Result<Request> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let op = match b[0] {
            1 => Op::Send,
            2 => Op::Post,
            _ => return Err(bad("unknown operation")),
        };
        let flags = b[1];
        if flags & !(ABORT_IF_HUNG | IN_MEMFD) != 0 || b[2..4] != [0, 0] || b[40..48] != [0; 8] {
            return Err(bad("unknown flags"));
        }
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let len = u64_at(32);
        let limit = if flags & IN_MEMFD != 0 {
            MAX_DATA
        } else {
            MAX_INLINE
        };
        if len > limit {
            return Err(bad("data over the limit"));
        }
        if flags & IN_MEMFD != 0 && len == 0 {
            return Err(bad("an empty memfd"));
        }
        Ok(Request {
            op,
            flags,
            msg: u32::from_le_bytes(b[4..8].try_into().unwrap_or([0; 4])),
            wparam: u64_at(8),
            lparam: u64_at(16) as i64,
            from: u64_at(24),
            len,
        })
    }
}

/// How a request ended, as the answer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Handled (send) or queued (post): the result follows.
    Done = 0,
    /// Post: the window's queue is full.
    Full = 1,
    /// Send with abort-if-hung: the window is not responding.
    Hung = 2,
    /// The window was destroyed before the message was handled.
    Destroyed = 3,
    /// The request was malformed or not allowed (the connection then closes).
    Refused = 4,
}

/// One answer's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: Status,
    pub(crate) result: i64,
    pub(crate) len: u64,
}

impl Answer {
    pub(crate) fn encode(&self) -> [u8; ANSWER_LEN] {
        let mut b = [0u8; ANSWER_LEN];
        b[0] = self.status as u8;
        b[8..16].copy_from_slice(&self.result.to_le_bytes());
        b[16..24].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8; ANSWER_LEN]) -> io::Result<Answer> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let status = match b[0] {
            0 => Status::Done,
            1 => Status::Full,
            2 => Status::Hung,
            3 => Status::Destroyed,
            4 => Status::Refused,
            _ => return Err(bad("unknown answer status")),
        };
        let len = u64::from_le_bytes(b[16..24].try_into().unwrap_or([0; 8]));
        if len > MAX_ANSWER {
            return Err(bad("answer data over the limit"));
        }
        Ok(Answer {
            status,
            result: i64::from_le_bytes(b[8..16].try_into().unwrap_or([0; 8])),
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        let r = Request {
            op: Op::Post,
            flags: IN_MEMFD,
            msg: 0x4a,
            wparam: u64::MAX,
            lparam: -5,
            from: 7,
            len: 1 << 26,
        };
        assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        let a = Answer {
            status: Status::Hung,
            result: -1,
            len: 3,
        };
        assert_eq!(Answer::decode(&a.encode()).unwrap(), a);
    }

    #[test]
    fn limits_hold() {
        let mut r = Request {
            op: Op::Send,
            flags: 0,
            msg: 1,
            wparam: 0,
            lparam: 0,
            from: 0,
            len: MAX_INLINE + 1,
        };
        assert!(Request::decode(&r.encode()).is_err());
        r.flags = IN_MEMFD;
        assert!(Request::decode(&r.encode()).is_ok());
        r.len = 0;
        assert!(Request::decode(&r.encode()).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), REQUEST_LEN)) {
            let b: [u8; REQUEST_LEN] = bytes.clone().try_into().unwrap();
            if let Ok(r) = Request::decode(&b) {
                prop_assert_eq!(Request::decode(&r.encode()).unwrap(), r);
            }
            let a: [u8; ANSWER_LEN] = bytes[..ANSWER_LEN].try_into().unwrap();
            let _ = Answer::decode(&a);
        }
    }
}
