//! The bytes DDE puts in window messages: I/O-free writers and readers that check every length
//! and never panic. Win32 passes atoms and global memory handles in `lParam`; across Linux
//! processes the names and data travel in the message's own bytes instead.
//!
//! Strings are a little-endian `u32` length and that many bytes of UTF-8; data is a `u32`
//! length and the bytes; numbers are little-endian.

use std::io;

/// `WM_DDE_INITIATE`: data `service, topic, all: u8`.
pub(crate) const WM_DDE_INITIATE: u32 = 0x03E0;
/// `WM_DDE_TERMINATE`: `lParam` the conversation.
pub(crate) const WM_DDE_TERMINATE: u32 = 0x03E1;
/// `WM_DDE_ADVISE`: data `item, format, flags: u32`.
pub(crate) const WM_DDE_ADVISE: u32 = 0x03E2;
/// `WM_DDE_UNADVISE`: data `item, format` (an empty item: every link).
pub(crate) const WM_DDE_UNADVISE: u32 = 0x03E3;
/// `WM_DDE_DATA`: a batch of advise updates, data `count: u32` then each update.
pub(crate) const WM_DDE_DATA: u32 = 0x03E5;
/// `WM_DDE_REQUEST`: data `item, format`.
pub(crate) const WM_DDE_REQUEST: u32 = 0x03E6;
/// `WM_DDE_POKE`: data `item, format, bytes`.
pub(crate) const WM_DDE_POKE: u32 = 0x03E7;
/// `WM_DDE_EXECUTE`: data `bytes`.
pub(crate) const WM_DDE_EXECUTE: u32 = 0x03E8;

/// The most strings or updates one message may hold.
const MAX_COUNT: u32 = 1 << 20;

/// Builds a message's bytes.
#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
        self
    }
    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
}

/// Reads a message's bytes; anything short or malformed is `InvalidData`.
pub(crate) struct Reader<'a>(&'a [u8]);

fn bad() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed DDE message")
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Reader<'a> {
        Reader(b)
    }
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(bad());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub(crate) fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| bad())?,
        ))
    }
    pub(crate) fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| bad())?,
        ))
    }
    pub(crate) fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub(crate) fn str(&mut self) -> io::Result<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| bad())
    }
    pub(crate) fn count(&mut self) -> io::Result<u32> {
        let n = self.u32()?;
        if n > MAX_COUNT {
            return Err(bad());
        }
        Ok(n)
    }
}

/// One advise update in a `WM_DDE_DATA` batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Update<'a> {
    pub(crate) item: &'a str,
    pub(crate) format: u32,
    /// Updates of this link dropped before this one (the client did not keep up).
    pub(crate) missed: u64,
    /// The data of a hot link; `None` for a warm link's notice.
    pub(crate) data: Option<&'a [u8]>,
}

pub(crate) fn write_update(w: &mut Writer, u: &Update<'_>) {
    w.str(u.item).u32(u.format).u64(u.missed);
    match u.data {
        Some(d) => w.u8(1).bytes(d),
        None => w.u8(0),
    };
}

/// Reads a whole batch.
pub(crate) fn read_batch(b: &[u8]) -> io::Result<Vec<Update<'_>>> {
    let mut r = Reader::new(b);
    let n = r.count()?;
    let mut out = Vec::new();
    for _ in 0..n {
        let item = r.str()?;
        let format = r.u32()?;
        let missed = r.u64()?;
        let data = match r.u8()? {
            0 => None,
            1 => Some(r.bytes()?),
            _ => return Err(bad()),
        };
        out.push(Update {
            item,
            format,
            missed,
            data,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_batch_round_trips() {
        let ups = [
            Update {
                item: "R1C1",
                format: 1,
                missed: 0,
                data: Some(b"42"),
            },
            Update {
                item: "R2C2",
                format: 13,
                missed: 3,
                data: None,
            },
        ];
        let mut w = Writer::default();
        w.u32(2);
        for u in &ups {
            write_update(&mut w, u);
        }
        assert_eq!(read_batch(&w.0).unwrap(), ups);
        assert!(read_batch(&w.0[..w.0.len() - 1]).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panicking(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_batch(&b);
            let mut r = Reader::new(&b);
            let _ = r.str().and_then(|_| r.u32()).and_then(|_| r.bytes());
        }
    }
}
