//! Message framing: the state machine that turns a byte stream into messages.
//!
//! On the wire each message is a 4-byte little-endian length and that many bytes. The reader
//! never allocates from a length it was told: payload goes straight into the caller's buffer, and
//! a length only says how many more bytes belong to the current message. A hostile length can
//! make a reader wait for bytes that never come (until the peer closes: an error), nothing more.
//!
//! The machine is I/O-free: it is given a `fill` function that receives bytes (from a blocking,
//! nonblocking or async socket) and keeps all its state between calls, so a `WouldBlock` loses
//! nothing. The blocking and tokio front-ends share it.

use std::io::{self, ErrorKind};

use super::MessageRead;

/// Bytes of a message header.
pub(crate) const HEADER: usize = 4;
/// Internal read-ahead buffer: small messages arrive header and payload in one receive.
const BUFFER: usize = 16 * 1024;

/// The header of a `len`-byte message, or `InvalidInput` when it cannot be framed.
pub(crate) fn header(len: usize) -> io::Result<[u8; HEADER]> {
    let len = u32::try_from(len).map_err(|_| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "a message holds at most {} bytes; this one has {len}",
                u32::MAX
            ),
        )
    })?;
    Ok(len.to_le_bytes())
}

/// What the reader knows about the message stream.
pub(crate) struct Framer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Payload bytes of the current message still to be read; `None` between messages.
    left: Option<u64>,
}

/// Where bytes come from: receives into the slice, `Ok(0)` at the end of the stream.
pub(crate) type Fill<'a> = dyn FnMut(&mut [u8]) -> io::Result<usize> + 'a;

fn mid_message() -> io::Error {
    io::Error::new(
        ErrorKind::BrokenPipe,
        "the peer closed the pipe in the middle of a message",
    )
}

impl Framer {
    pub(crate) fn new() -> Framer {
        Framer {
            buf: vec![0; BUFFER],
            start: 0,
            end: 0,
            left: None,
        }
    }

    fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Whether any byte has been received and not yet read (a `transact` must find none).
    pub(crate) fn has_buffered(&self) -> bool {
        self.buffered() > 0 || self.left.is_some_and(|l| l > 0)
    }

    /// Receives more bytes into the read-ahead buffer. `Ok(false)` at the end of the stream.
    fn fill_buffer(&mut self, fill: &mut Fill<'_>) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = fill(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n > 0)
    }

    /// Makes sure the current message's header is known. `Ok(false)`: the stream ended cleanly
    /// between messages.
    fn header(&mut self, fill: &mut Fill<'_>) -> io::Result<bool> {
        while self.left.is_none() {
            if self.buffered() >= HEADER {
                let mut len = [0u8; HEADER];
                len.copy_from_slice(&self.buf[self.start..self.start + HEADER]);
                self.start += HEADER;
                self.left = Some(u32::from_le_bytes(len) as u64);
            } else if !self.fill_buffer(fill)? {
                return if self.buffered() == 0 {
                    Ok(false)
                } else {
                    Err(mid_message())
                };
            }
        }
        Ok(true)
    }

    /// Copies payload of the current message into `out`, receiving as needed; stops when `out`
    /// is full or the message ends. `WouldBlock` after some progress ends the copy early.
    fn copy_payload(&mut self, out: &mut [u8], fill: &mut Fill<'_>) -> io::Result<usize> {
        let mut filled = 0;
        while let Some(left) = self.left.filter(|&l| l > 0) {
            let want = (left.min((out.len() - filled) as u64)) as usize;
            if want == 0 {
                break;
            }
            let got = if self.buffered() > 0 {
                let k = want.min(self.buffered());
                out[filled..filled + k].copy_from_slice(&self.buf[self.start..self.start + k]);
                self.start += k;
                k
            } else {
                // Nothing buffered: big reads go straight to the caller's buffer.
                let result = if want >= self.buf.len() {
                    fill(&mut out[filled..filled + want])
                } else {
                    self.fill_buffer(fill).map(usize::from)
                };
                match result {
                    Ok(0) => return Err(mid_message()),
                    Ok(n) if want >= self.buf.len() => n,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock && filled > 0 => break,
                    Err(e) => return Err(e),
                }
            };
            filled += got;
            self.left = Some(left - got as u64);
        }
        Ok(filled)
    }

    /// Reads (the rest of) one message in message-read mode.
    pub(crate) fn read_message(
        &mut self,
        out: &mut [u8],
        fill: &mut Fill<'_>,
    ) -> io::Result<MessageRead> {
        if !self.header(fill)? {
            return Ok(MessageRead::End);
        }
        let n = self.copy_payload(out, fill)?;
        match self.left {
            Some(0) => {
                self.left = None;
                Ok(MessageRead::Complete(n))
            }
            Some(left) => Ok(MessageRead::MoreData { read: n, left }),
            None => unreachable!("copy_payload keeps the header"),
        }
    }

    /// Reads in byte-read mode: payload across message boundaries, blocking only until the first
    /// byte. `Ok(0)` at the end of the stream.
    pub(crate) fn read_bytes(&mut self, out: &mut [u8], fill: &mut Fill<'_>) -> io::Result<usize> {
        let mut filled = 0;
        while filled < out.len() {
            if self.left == Some(0) {
                self.left = None;
            }
            if self.left.is_none() {
                if filled > 0 && self.buffered() < HEADER {
                    break;
                }
                if !self.header(fill)? {
                    break;
                }
                continue;
            }
            if filled > 0 && self.buffered() == 0 {
                break;
            }
            match self.copy_payload(&mut out[filled..], fill) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock && filled > 0 => break,
                Err(e) => return Err(e),
            }
        }
        if self.left == Some(0) {
            self.left = None;
        }
        Ok(filled)
    }

    /// Looks at what can be read without consuming it (`PeekNamedPipe` in message mode): copies
    /// the start of the current message into `out` and returns `(copied, payload bytes
    /// available in all, bytes of the current message left after the copied ones)`.
    ///
    /// `pending` is how many bytes the socket holds now (`FIONREAD`); they are taken into the
    /// read-ahead buffer (bounded by the socket's own buffer), so `fill` must not block for them.
    pub(crate) fn peek(
        &mut self,
        out: &mut [u8],
        pending: usize,
        fill: &mut Fill<'_>,
    ) -> io::Result<(usize, u64, u64)> {
        if pending > 0 {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let need = self.end + pending;
            if need > self.buf.len() {
                self.buf.resize(need, 0);
            }
            while self.end < need {
                match fill(&mut self.buf[self.end..need]) {
                    Ok(0) => break,
                    Ok(n) => self.end += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        // Walk the buffered frames.
        let bytes = &self.buf[self.start..self.end];
        let mut pos = 0;
        let mut available = 0u64;
        let mut current: Option<(usize, u64)> = None; // (offset of payload, its total left)
        let mut left = self.left;
        loop {
            let this_left = match left {
                Some(l) => l,
                None => {
                    if bytes.len() - pos < HEADER {
                        break;
                    }
                    let mut len = [0u8; HEADER];
                    len.copy_from_slice(&bytes[pos..pos + HEADER]);
                    pos += HEADER;
                    u32::from_le_bytes(len) as u64
                }
            };
            let here = (this_left.min((bytes.len() - pos) as u64)) as usize;
            if current.is_none() {
                current = Some((pos, this_left));
            }
            available += here as u64;
            pos += here;
            left = None;
            if (here as u64) < this_left {
                break;
            }
        }
        let Some((offset, total)) = current else {
            return Ok((0, 0, 0));
        };
        let in_buffer = (total.min((bytes.len() - offset) as u64)) as usize;
        let copied = in_buffer.min(out.len());
        out[..copied].copy_from_slice(&bytes[offset..offset + copied]);
        Ok((copied, available, total - copied as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(messages: &[&[u8]]) -> Vec<u8> {
        let mut all = Vec::new();
        for m in messages {
            all.extend_from_slice(&header(m.len()).unwrap());
            all.extend_from_slice(m);
        }
        all
    }

    /// A source that hands out at most `step` bytes per call.
    fn source(data: Vec<u8>, step: usize) -> impl FnMut(&mut [u8]) -> io::Result<usize> {
        let mut at = 0;
        move |buf: &mut [u8]| {
            let n = step.min(buf.len()).min(data.len() - at);
            buf[..n].copy_from_slice(&data[at..at + n]);
            at += n;
            Ok(n)
        }
    }

    #[test]
    fn messages_keep_their_boundaries() {
        for step in [1, 3, 100_000] {
            let big = vec![9u8; 40_000];
            let mut fill = source(stream(&[b"hello", b"", &big, b"xy"]), step);
            let mut f = Framer::new();
            let mut buf = [0u8; 3];
            assert_eq!(
                f.read_message(&mut buf, &mut fill).unwrap(),
                MessageRead::MoreData { read: 3, left: 2 }
            );
            let mut buf = [0u8; 10];
            assert_eq!(
                f.read_message(&mut buf, &mut fill).unwrap(),
                MessageRead::Complete(2)
            );
            assert_eq!(&buf[..2], b"lo");
            assert_eq!(
                f.read_message(&mut buf, &mut fill).unwrap(),
                MessageRead::Complete(0)
            );
            let mut out = vec![0u8; 50_000];
            assert_eq!(
                f.read_message(&mut out, &mut fill).unwrap(),
                MessageRead::Complete(40_000)
            );
            let mut two = [0u8; 1];
            assert_eq!(f.read_bytes(&mut two, &mut fill).unwrap(), 1);
            assert_eq!(f.read_bytes(&mut two, &mut fill).unwrap(), 1);
            assert_eq!(
                f.read_message(&mut buf, &mut fill).unwrap(),
                MessageRead::End
            );
        }
    }

    #[test]
    fn byte_mode_reads_across_messages() {
        let mut fill = source(stream(&[b"ab", b"", b"cd"]), 100);
        let mut f = Framer::new();
        let mut buf = [0u8; 8];
        assert_eq!(f.read_bytes(&mut buf, &mut fill).unwrap(), 4);
        assert_eq!(&buf[..4], b"abcd");
    }

    #[test]
    fn truncated_and_hostile_streams_fail_cleanly() {
        let mut data = stream(&[b"whole"]);
        data.extend_from_slice(&u32::MAX.to_le_bytes());
        data.extend_from_slice(b"part");
        let mut fill = source(data, 7);
        let mut f = Framer::new();
        let mut buf = [0u8; 16];
        assert_eq!(
            f.read_message(&mut buf, &mut fill).unwrap(),
            MessageRead::Complete(5)
        );
        let e = f.read_message(&mut buf, &mut fill).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
        let mut fill = source(vec![1, 0], 7);
        let e = Framer::new().read_message(&mut buf, &mut fill).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    }

    #[test]
    fn peek_does_not_consume() {
        let data = stream(&[b"first", b"second"]);
        let n = data.len();
        let mut fill = source(data, 100);
        let mut f = Framer::new();
        let mut buf = [0u8; 3];
        assert_eq!(f.peek(&mut buf, n, &mut fill).unwrap(), (3, 11, 2));
        let mut buf = [0u8; 10];
        assert_eq!(
            f.read_message(&mut buf, &mut fill).unwrap(),
            MessageRead::Complete(5)
        );
        assert_eq!(f.peek(&mut buf, 0, &mut fill).unwrap(), (6, 6, 0));
    }
}
