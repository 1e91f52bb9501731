//! Fragments read from a byte stream with read-ahead (one `read` usually brings a whole
//! fragment, header and body), within time limits set on the stream's socket.
//!
//! The limits are the socket's receive timeout (`SO_RCVTIMEO`), so they hold whatever buffering
//! the stream does above the socket (a message-mode named pipe's framing): a `read` that waits
//! longer fails `WouldBlock`, reported here as `TimedOut`. The timeout is set only when it has
//! to change: while fragments arrive whole, reading one costs one `read` and nothing more.

use std::io::{self, ErrorKind, Read};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use rustix::net::sockopt::{self, Timeout};

use super::pdu::{self, HEADER_LEN};

/// How much is asked of the stream at a time (fragments are at most 64 KiB; pipework's own are
/// at most [`super::DEFAULT_MAX_FRAG`]).
const READ_AHEAD: usize = 8192;

/// What the socket's receive timeout is now, as far as this reader knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Set {
    /// Never set by this reader (the stream's own, usually none).
    Unknown,
    /// Set to this.
    To(Option<Duration>),
    /// The stream is not a socket: no limit can be set.
    Unsupported,
}

/// Reads whole fragments from a stream, keeping what arrived beyond the one returned.
#[derive(Debug)]
pub(crate) struct FragmentReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    set: Set,
}

/// Why a read ended early, for the error's message.
pub(crate) fn timed_out(what: &str, limit: Duration) -> io::Error {
    io::Error::new(
        ErrorKind::TimedOut,
        format!("DCE/RPC: {what} within {limit:?}"),
    )
}

impl FragmentReader {
    pub(crate) fn new() -> FragmentReader {
        FragmentReader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            set: Set::Unknown,
        }
    }

    /// The next whole fragment. `Ok(None)`: the stream ended before one began. `first`: how
    /// long to wait for the fragment's first byte (`None`: no limit); `rest`: how long its
    /// remaining bytes may take once it began. Errors: `UnexpectedEof` (closed inside a
    /// fragment), `InvalidData` (not a DCE/RPC 5.0 header), `TimedOut` (a limit passed;
    /// `waiting_for` names what in the message).
    pub(crate) fn next<S: Read + AsFd>(
        &mut self,
        stream: &mut S,
        first: Option<Duration>,
        rest: Option<Duration>,
        waiting_for: &str,
    ) -> io::Result<Option<&[u8]>> {
        let mut began: Option<Instant> = (self.end > self.start).then(Instant::now);
        let (at, len) = loop {
            let have = self.end - self.start;
            let need = if have >= HEADER_LEN {
                let len = pdu::fragment_len(&self.buf[self.start..self.start + HEADER_LEN])
                    .map_err(|e| io::Error::new(ErrorKind::InvalidData, format!("DCE/RPC: {e}")))?;
                if have >= len {
                    break (self.start, len);
                }
                len
            } else {
                HEADER_LEN
            };
            // Room for the whole fragment after what is here.
            if self.start + need > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if need > self.buf.len() {
                    self.buf.resize(need.max(READ_AHEAD), 0);
                }
            }
            let limit = match began {
                None => first,
                Some(at) => {
                    match rest {
                        None => None,
                        Some(rest) => {
                            let left = rest.saturating_sub(at.elapsed());
                            if left.is_zero() {
                                return Err(timed_out(
                                &format!("a fragment cut short: the rest did not come ({waiting_for})"),
                                rest,
                            ));
                            }
                            Some(left)
                        }
                    }
                }
            };
            self.limit(stream, limit)?;
            let got = match stream.read(&mut self.buf[self.end..]) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock && limit.is_some() => {
                    let limit = limit.unwrap_or_default();
                    return Err(if began.is_some() {
                        timed_out(
                            &format!("a fragment cut short: the rest did not come ({waiting_for})"),
                            rest.unwrap_or(limit),
                        )
                    } else {
                        timed_out(&format!("nothing came ({waiting_for})"), limit)
                    });
                }
                Err(e) => return Err(e),
            };
            if got == 0 {
                if have == 0 {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    if have < HEADER_LEN {
                        "DCE/RPC: connection closed inside a PDU header".to_string()
                    } else {
                        format!("DCE/RPC: connection closed inside a {need}-byte fragment")
                    },
                ));
            }
            self.end += got;
            if began.is_none() {
                began = Some(Instant::now());
            }
        };
        self.start += len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(Some(&self.buf[at..at + len]))
    }

    /// Sets the socket's receive timeout to `limit` unless it is that already.
    fn limit<S: AsFd>(&mut self, stream: &S, limit: Option<Duration>) -> io::Result<()> {
        match self.set {
            Set::Unsupported => return Ok(()),
            Set::To(now) if now == limit => return Ok(()),
            Set::Unknown if limit.is_none() => return Ok(()),
            _ => {}
        }
        // The kernel reads a zero timeout as none: the shortest real one instead.
        let value = limit.map(|d| d.max(Duration::from_micros(1)));
        match sockopt::set_socket_timeout(stream.as_fd(), Timeout::Recv, value) {
            Ok(()) => self.set = Set::To(limit),
            Err(rustix::io::Errno::NOTSOCK) => self.set = Set::Unsupported,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    fn fragment(call_id: u32, stub_len: usize) -> Vec<u8> {
        pdu::encode_call(false, call_id, 0, 0, &vec![call_id as u8; stub_len], 5840).remove(0)
    }

    /// Fragments that arrive together, split anywhere, or larger than the read-ahead come out
    /// whole and in order; the end between fragments is `None`, inside one `UnexpectedEof`.
    #[test]
    fn fragments_come_out_whole_however_the_bytes_arrive() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let frags: Vec<Vec<u8>> = (1..=4).map(|i| fragment(i, 1000 * i as usize)).collect();
        let big = pdu::encode_call(false, 9, 0, 0, &[9; 20_000], 30_000).remove(0);
        assert!(big.len() > READ_AHEAD);
        let all: Vec<u8> = frags.iter().flatten().copied().collect();
        // Two and a half fragments, then the rest, then one bigger than what was read ahead.
        let cut = frags[0].len() + frags[1].len() + frags[2].len() / 2;
        a.write_all(&all[..cut]).unwrap();
        let mut reader = FragmentReader::new();
        let limit = Some(Duration::from_secs(30));
        assert_eq!(
            reader.next(&mut b, limit, limit, "test").unwrap().unwrap(),
            frags[0]
        );
        assert_eq!(
            reader.next(&mut b, limit, limit, "test").unwrap().unwrap(),
            frags[1]
        );
        a.write_all(&all[cut..]).unwrap();
        a.write_all(&big[..7]).unwrap();
        assert_eq!(
            reader.next(&mut b, limit, limit, "test").unwrap().unwrap(),
            frags[2]
        );
        assert_eq!(
            reader.next(&mut b, limit, limit, "test").unwrap().unwrap(),
            frags[3]
        );
        a.write_all(&big[7..]).unwrap();
        assert_eq!(
            reader.next(&mut b, limit, limit, "test").unwrap().unwrap(),
            big
        );
        a.write_all(&frags[0][..20]).unwrap();
        drop(a);
        let err = reader.next(&mut b, limit, limit, "test").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);

        let (a, mut b) = UnixStream::pair().unwrap();
        drop(a);
        assert!(FragmentReader::new()
            .next(&mut b, None, None, "test")
            .unwrap()
            .is_none());
    }

    /// A fragment cut short fails `TimedOut` once the rest is late; a header that is not
    /// DCE/RPC's is `InvalidData`.
    #[test]
    fn a_fragment_cut_short_times_out_and_garbage_is_invalid() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(&fragment(1, 100)[..30]).unwrap();
        let short = Some(Duration::from_millis(50));
        let err = FragmentReader::new()
            .next(&mut b, None, short, "test")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");

        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(&[0xff; 16]).unwrap();
        let err = FragmentReader::new()
            .next(&mut b, None, None, "test")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    }
}
