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
//!
//! Its memory is bounded whatever a peer sends: a read-ahead buffer of 16 KiB, grown by `peek`
//! to at most [`PEEK_LIMIT`] and shrunk back once emptied. A length header of 4 GiB - 1 only
//! says that many payload bytes follow; they are never allocated for.

use std::io::{self, ErrorKind};

use super::MessageRead;

/// Bytes of a message header.
pub(crate) const HEADER: usize = 4;
/// Internal read-ahead buffer: small messages arrive header and payload in one receive.
const BUFFER: usize = 16 * 1024;
/// The read-ahead buffer a connection starts with: enough for a small request and its header.
/// It grows to [`BUFFER`] the first time a receive fills it (the peer sends more than that at
/// a time), so that a server with thousands of clients exchanging small messages does not
/// allocate (and clear) 16 KiB for each.
const FIRST_BUFFER: usize = 512;
/// The most bytes `peek` takes into the read-ahead buffer; what waits beyond stays in the socket.
pub(crate) const PEEK_LIMIT: usize = 1 << 20;

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
    /// Bytes of a length header: [`HEADER`], or 2 for a pipe served through Samba (smb/).
    width: usize,
    /// The read-ahead buffer's size: [`FIRST_BUFFER`], then [`BUFFER`] once one filled it.
    size: usize,
}

/// A length header read from the first `width` (2 or 4) bytes of `bytes`.
fn length(bytes: &[u8], width: usize) -> u64 {
    let mut len = [0u8; HEADER];
    len[..width].copy_from_slice(&bytes[..width]);
    u32::from_le_bytes(len) as u64
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
            // Allocated at the first receive: an idle connection (a server's thousands of
            // clients waiting) holds no read-ahead memory.
            buf: Vec::new(),
            start: 0,
            end: 0,
            left: None,
            width: HEADER,
            size: FIRST_BUFFER,
        }
    }

    /// A framer whose length headers are `width` bytes (2: Samba's message-mode pipes).
    pub(crate) fn with_header_width(width: usize) -> Framer {
        Framer {
            width: width.clamp(1, HEADER),
            ..Framer::new()
        }
    }

    /// The header of a `len`-byte message in this framer's width, and how many of its bytes
    /// to send; `InvalidInput` when `len` does not fit (or, in 2-byte frames, is 0: Samba
    /// reads a 0-byte frame as an error).
    pub(crate) fn frame_header(&self, len: usize) -> io::Result<([u8; HEADER], usize)> {
        if self.width == HEADER {
            return Ok((header(len)?, HEADER));
        }
        let max = (1usize << (8 * self.width)) - 1;
        if len == 0 || len > max {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!("a message to a client through Samba holds 1 to {max} bytes; this one has {len}"),
            ));
        }
        Ok(((len as u32).to_le_bytes(), self.width))
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
        self.fill_buffer_max(fill, usize::MAX)
    }

    /// [`fill_buffer`](Self::fill_buffer), receiving at most `max` bytes.
    fn fill_buffer_max(&mut self, fill: &mut Fill<'_>, max: usize) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > self.size || self.buf.is_empty() {
                // A peek grew it: give the memory back (or the first receive).
                self.buf = vec![0; self.size];
            }
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.size {
            // A peek before the first receive sized it to the few bytes pending: a receive into
            // no room would read as the end of the stream.
            self.buf.resize(self.size, 0);
        }
        let room = self.buf.len() - self.end;
        let n = fill(&mut self.buf[self.end..self.end + room.min(max)])?;
        self.end += n;
        if n == room && self.size < BUFFER {
            // The peer sends more at a time than the first buffer holds: read ahead in full.
            self.size = BUFFER;
        }
        Ok(n > 0)
    }

    /// Makes sure the current message's header is known. `Ok(false)`: the stream ended cleanly
    /// between messages.
    fn header(&mut self, fill: &mut Fill<'_>) -> io::Result<bool> {
        self.next_header(fill, false)
    }

    /// [`header`](Self::header); with `header_only`, receiving no byte past the header (the
    /// payload then stays where it lies, for an in-place read of the ring).
    pub(crate) fn next_header(
        &mut self,
        fill: &mut Fill<'_>,
        header_only: bool,
    ) -> io::Result<bool> {
        while self.left.is_none() {
            let max = if header_only {
                self.width.saturating_sub(self.buffered())
            } else {
                usize::MAX
            };
            if self.buffered() >= self.width {
                self.left = Some(length(&self.buf[self.start..], self.width));
                self.start += self.width;
            } else if !self.fill_buffer_max(fill, max)? {
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
                if filled > 0 && self.buffered() < self.width {
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
    /// read-ahead buffer up to [`PEEK_LIMIT`] buffered bytes, so `fill` must not block for them.
    /// Bytes left in the socket beyond that count in the available total as they are (their
    /// headers too: they were not looked at).
    pub(crate) fn peek(
        &mut self,
        out: &mut [u8],
        pending: usize,
        fill: &mut Fill<'_>,
    ) -> io::Result<(usize, u64, u64)> {
        let mut unread = 0u64;
        if pending > 0 {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let take = pending.min(PEEK_LIMIT.saturating_sub(self.end));
            let need = self.end + take;
            if need > self.buf.len() {
                self.buf.resize(need, 0);
            }
            let mut taken = 0;
            while self.end < need {
                match fill(&mut self.buf[self.end..need]) {
                    Ok(0) => break,
                    Ok(n) => {
                        self.end += n;
                        taken += n;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            unread = pending.saturating_sub(taken) as u64;
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
                    if bytes.len() - pos < self.width {
                        break;
                    }
                    pos += self.width;
                    length(&bytes[pos - self.width..], self.width)
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
            return Ok((0, unread, 0));
        };
        let in_buffer = (total.min((bytes.len() - offset) as u64)) as usize;
        let copied = in_buffer.min(out.len());
        out[..copied].copy_from_slice(&bytes[offset..offset + copied]);
        Ok((copied, available + unread, total - copied as u64))
    }

    // ---- In-place reads (`fill_buf_in_place`): the buffer lends what it holds ----

    /// On a byte pipe, whose bytes the framer holds unparsed for an in-place read: receives
    /// more into the buffer (`Ok(false)` at the end of the stream).
    pub(crate) fn fill_raw(&mut self, fill: &mut Fill<'_>) -> io::Result<bool> {
        self.fill_buffer(fill)
    }

    /// On a byte pipe: the bytes held (received for an in-place read, not consumed yet).
    pub(crate) fn raw(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// On a byte pipe: copies held bytes into `out` (a read after an in-place read that left
    /// some), how many.
    pub(crate) fn read_raw(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buffered());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        n
    }

    /// On a byte pipe: `n` held bytes are read.
    pub(crate) fn take_raw(&mut self, n: usize) {
        self.start += n.min(self.buffered());
    }

    /// Bytes of the current message not yet read (`None` between messages).
    pub(crate) fn left(&self) -> Option<u64> {
        self.left
    }

    /// The current message's payload held in the buffer: what an in-place read lends from it.
    pub(crate) fn payload(&self) -> &[u8] {
        let n = self
            .left
            .map_or(0, |l| l.min(self.buffered() as u64) as usize);
        &self.buf[self.start..self.start + n]
    }

    /// `n` payload bytes of the current message are read, `from_buffer` (lent by
    /// [`payload`](Self::payload)) or from where they lay (the ring); the message ends once
    /// none is left.
    pub(crate) fn take_payload(&mut self, n: usize, from_buffer: bool) {
        let Some(left) = self.left else { return };
        let mut n = (n as u64).min(left);
        if from_buffer {
            n = n.min(self.buffered() as u64);
            self.start += n as usize;
        }
        self.left = match left - n {
            0 => None,
            rest => Some(rest),
        };
    }

    /// Bytes the framer holds in memory now (its read-ahead buffer).
    #[cfg(test)]
    pub(crate) fn memory(&self) -> usize {
        self.buf.len()
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
    fn a_peek_before_the_first_receive_leaves_room_for_the_next() {
        // The peek takes the one byte pending into a buffer sized for it; the read that follows
        // must still receive the rest of the header, not see an empty receive as the end.
        let mut f = Framer::new();
        let mut fill = source(stream(&[b"hi"]), 1);
        let (copied, _, _) = f.peek(&mut [], 1, &mut fill).unwrap();
        assert_eq!(copied, 0);
        let mut out = [0u8; 8];
        match f.read_message(&mut out, &mut fill).unwrap() {
            MessageRead::Complete(n) => assert_eq!(&out[..n], b"hi"),
            other => panic!("expected the whole message, got {other:?}"),
        }
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

    mod properties {
        use super::super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// Cases each property below runs.
        const CASES: u32 = 2_000;
        /// The most the framer may hold in memory, whatever it was sent.
        const MEMORY_LIMIT: usize = if PEEK_LIMIT > BUFFER {
            PEEK_LIMIT
        } else {
            BUFFER
        };

        /// A peer's stream as the framer sees it: at most `steps[i]` bytes per receive (cycling),
        /// and a `WouldBlock` before a receive whenever the next of `blocks` says so.
        struct Source {
            data: Vec<u8>,
            at: usize,
            steps: Vec<usize>,
            blocks: Vec<bool>,
            calls: usize,
            empty_buffers: usize,
        }

        impl Source {
            fn new(data: Vec<u8>, steps: Vec<usize>, blocks: Vec<bool>) -> Source {
                Source {
                    data,
                    at: 0,
                    steps,
                    blocks,
                    calls: 0,
                    empty_buffers: 0,
                }
            }

            fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.calls += 1;
                if buf.is_empty() {
                    self.empty_buffers += 1;
                }
                if self.blocks.get(self.calls).copied().unwrap_or(false) {
                    return Err(ErrorKind::WouldBlock.into());
                }
                let step = self.steps[self.calls % self.steps.len()];
                let n = step.min(buf.len()).min(self.data.len() - self.at);
                buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
                self.at += n;
                Ok(n)
            }

            fn left(&self) -> usize {
                self.data.len() - self.at
            }
        }

        fn encode(messages: &[Vec<u8>]) -> Vec<u8> {
            let mut all = Vec::new();
            for m in messages {
                all.extend_from_slice(&header(m.len()).unwrap());
                all.extend_from_slice(m);
            }
            all
        }

        /// Up to 10 messages, mostly small, some larger than the read-ahead buffer (those
        /// filled with a pattern: generating them byte by byte would dominate the run).
        fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
            vec(
                prop_oneof![
                    12 => vec(any::<u8>(), 0..300),
                    1 => (BUFFER..BUFFER * 2 + 7, any::<u8>()).prop_map(|(n, seed)| {
                        (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
                    }),
                ],
                0..10,
            )
        }

        /// Enough calls for any honest reader of `bytes` bytes: more means it went round in
        /// circles.
        fn call_budget(bytes: usize, blocks: usize) -> usize {
            4 * bytes + blocks + 64
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]

            /// Messages come out whole and in order, however the stream is cut into receives,
            /// whatever the reader's buffer sizes, with `WouldBlock` anywhere.
            #[test]
            fn messages_survive_any_chunking(
                messages in messages(),
                steps in vec(1usize..5000, 1..16),
                sizes in vec(1usize..20_000, 1..16),
                blocks in vec(any::<bool>(), 0..64),
            ) {
                let data = encode(&messages);
                let budget = call_budget(data.len(), blocks.len());
                let mut src = Source::new(data, steps, blocks);
                let mut sizes = sizes;
                sizes.insert(0, 0); // an empty buffer now and then
                let mut f = Framer::new();
                let mut got: Vec<Vec<u8>> = Vec::new();
                let mut current = Vec::new();
                let mut calls = 0;
                let mut space = vec![0u8; 20_000];
                loop {
                    calls += 1;
                    prop_assert!(calls < budget, "the reader went round in circles");
                    let out = &mut space[..sizes[calls % sizes.len()]];
                    let len = out.len();
                    match f.read_message(out, &mut |b: &mut [u8]| src.fill(b)) {
                        Ok(MessageRead::Complete(n)) => {
                            prop_assert!(n <= len);
                            current.extend_from_slice(&out[..n]);
                            got.push(std::mem::take(&mut current));
                        }
                        Ok(MessageRead::MoreData { read, left }) => {
                            prop_assert!(read <= len && left > 0);
                            current.extend_from_slice(&out[..read]);
                        }
                        Ok(MessageRead::End) => break,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                    }
                    prop_assert!(f.memory() <= MEMORY_LIMIT);
                }
                prop_assert!(current.is_empty());
                prop_assert_eq!(got, messages);
                prop_assert_eq!(src.empty_buffers, 0);
            }

            /// In byte-read mode the payloads come out as one stream.
            #[test]
            fn byte_mode_reads_every_payload(
                messages in messages(),
                steps in vec(1usize..5000, 1..16),
                sizes in vec(1usize..20_000, 1..16),
                blocks in vec(any::<bool>(), 0..64),
            ) {
                let data = encode(&messages);
                let budget = call_budget(data.len(), blocks.len());
                let mut src = Source::new(data, steps, blocks);
                let mut f = Framer::new();
                let mut got = Vec::new();
                let mut calls = 0;
                let mut space = vec![0u8; 20_000];
                loop {
                    calls += 1;
                    prop_assert!(calls < budget, "the reader went round in circles");
                    let out = &mut space[..sizes[calls % sizes.len()]];
                    match f.read_bytes(out, &mut |b: &mut [u8]| src.fill(b)) {
                        Ok(0) if src.left() == 0 => break,
                        Ok(n) => got.extend_from_slice(&out[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                    }
                }
                prop_assert_eq!(got, messages.concat());
            }

            /// A stream cut anywhere gives the messages wholly before the cut, then the end (cut
            /// between messages) or `BrokenPipe` (cut inside one): never a short message.
            #[test]
            fn truncated_streams_never_give_short_messages(
                messages in vec(vec(any::<u8>(), 0..300), 0..12),
                cut in any::<prop::sample::Index>(),
                steps in vec(1usize..700, 1..8),
            ) {
                let data = encode(&messages);
                let cut = cut.index(data.len() + 1);
                let mut boundaries = vec![0];
                let mut at = 0;
                for m in &messages {
                    at += HEADER + m.len();
                    boundaries.push(at);
                }
                let whole = boundaries.iter().filter(|&&b| b > 0 && b <= cut).count();
                let budget = call_budget(cut, 0);
                let mut src = Source::new(data[..cut].to_vec(), steps, Vec::new());
                let mut f = Framer::new();
                let mut out = vec![0u8; 512];
                let mut got = 0;
                let mut calls = 0;
                let ending = loop {
                    calls += 1;
                    prop_assert!(calls < budget, "the reader went round in circles");
                    match f.read_message(&mut out, &mut |b: &mut [u8]| src.fill(b)) {
                        Ok(MessageRead::Complete(n)) => {
                            prop_assert_eq!(&out[..n], &messages[got][..]);
                            got += 1;
                        }
                        Ok(MessageRead::MoreData { .. }) => {
                            return Err(TestCaseError::fail("a 512-byte buffer holds every message"));
                        }
                        Ok(MessageRead::End) => break None,
                        Err(e) => break Some(e.kind()),
                    }
                };
                prop_assert_eq!(got, whole);
                if boundaries.contains(&cut) {
                    prop_assert_eq!(ending, None);
                } else {
                    prop_assert_eq!(ending, Some(ErrorKind::BrokenPipe));
                }
            }

            /// Garbage (length headers up to 4 GiB - 1 included), read with any mix of message
            /// reads, byte reads and peeks: no panic, no read out of bounds, no allocation beyond
            /// the limit, and every call returns after at most one receive that brought nothing.
            #[test]
            fn garbage_never_panics_hangs_or_allocates(
                data in prop_oneof![
                    vec(any::<u8>(), 0..3000),
                    (any::<u32>(), vec(any::<u8>(), 0..3000)).prop_map(|(len, rest)| {
                        let mut d = (len | 0x8000_0000).to_le_bytes().to_vec();
                        d.extend(rest);
                        d
                    }),
                ],
                ops in vec((0u8..3, 0usize..5000, 0usize..5000), 1..32),
                steps in vec(1usize..4000, 1..8),
                blocks in vec(any::<bool>(), 0..32),
            ) {
                let mut src = Source::new(data, steps, blocks);
                let mut f = Framer::new();
                let mut idle_rounds = 0;
                let mut space = vec![0u8; 5000];
                'reading: for _round in 0..64 {
                    for &(op, size, pending) in &ops {
                        let (calls, at) = (src.calls, src.at);
                        let pending = pending.min(src.left());
                        let out = &mut space[..size];
                        let mut fill = |b: &mut [u8]| src.fill(b);
                        let result = match op {
                            0 => f.read_message(out, &mut fill).map(|r| match r {
                                MessageRead::Complete(n) => Some(n),
                                MessageRead::MoreData { read, .. } => Some(read),
                                MessageRead::End => None,
                            }),
                            1 => f.read_bytes(out, &mut fill).map(Some),
                            _ => f.peek(out, pending, &mut fill).map(|(n, _, _)| Some(n)),
                        };
                        // Each receive brought bytes, or ended the call.
                        prop_assert!(src.calls - calls <= src.at - at + 1);
                        prop_assert!(f.memory() <= MEMORY_LIMIT);
                        match result {
                            Ok(Some(n)) => prop_assert!(n <= size),
                            Ok(None) => break 'reading,
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                            Err(e) => {
                                prop_assert_eq!(e.kind(), ErrorKind::BrokenPipe);
                                break 'reading;
                            }
                        }
                    }
                    if src.left() == 0 {
                        idle_rounds += 1;
                        if idle_rounds > 2 {
                            break;
                        }
                    }
                }
                prop_assert_eq!(src.empty_buffers, 0);
            }

            /// Peeking a stream never consumes it, keeps memory bounded, and reports what the
            /// reads then get.
            #[test]
            fn peek_agrees_with_the_reads(
                messages in vec(vec(any::<u8>(), 0..3000), 1..8),
                size in 0usize..4000,
            ) {
                let data = encode(&messages);
                let pending = data.len();
                let mut src = Source::new(data, vec![usize::MAX], Vec::new());
                let mut f = Framer::new();
                let mut out = vec![0u8; size];
                let (copied, available, left) =
                    f.peek(&mut out, pending, &mut |b: &mut [u8]| src.fill(b)).unwrap();
                let first = &messages[0];
                prop_assert_eq!(copied, first.len().min(size));
                prop_assert_eq!(&out[..copied], &first[..copied]);
                prop_assert_eq!(left, (first.len() - copied) as u64);
                prop_assert_eq!(available, messages.iter().map(|m| m.len() as u64).sum::<u64>());
                prop_assert!(f.memory() <= MEMORY_LIMIT);
                for m in &messages {
                    let mut whole = vec![0u8; m.len()];
                    let got = f.read_message(&mut whole, &mut |b: &mut [u8]| src.fill(b)).unwrap();
                    prop_assert_eq!(got, MessageRead::Complete(m.len()));
                    prop_assert_eq!(&whole, m);
                }
            }
        }

        /// A peer that sends more than the peek limit while the reader only peeks: the framer's
        /// memory stops at the limit, and what waits beyond it still counts as available.
        #[test]
        fn peeking_a_flood_is_bounded() {
            let message = vec![5u8; 3 * PEEK_LIMIT];
            let data = encode(&[message]);
            let total = data.len();
            let mut src = Source::new(data, vec![usize::MAX], Vec::new());
            let mut f = Framer::new();
            let mut out = [0u8; 8];
            for _ in 0..4 {
                let pending = src.left();
                let (copied, available, left) = f
                    .peek(&mut out, pending, &mut |b: &mut [u8]| src.fill(b))
                    .unwrap();
                assert_eq!(copied, 8);
                assert_eq!(available, (total - HEADER) as u64);
                assert_eq!(left, (3 * PEEK_LIMIT - 8) as u64);
                assert!(f.memory() <= MEMORY_LIMIT);
            }
        }
    }
}
