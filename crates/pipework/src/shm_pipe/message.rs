//! The message variant: whole messages over a shared-memory pipe, framed as the named pipes
//! frame them.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};

use super::{ShmReader, ShmWriter};
use crate::named_pipe::MessageRead;
use crate::sys::error::{error, named};

/// The message variant of a shared-memory pipe: whole messages over the same ring, framed as the
/// named pipes frame them (a 4-byte length, then the bytes), read with the same
/// [`MessageRead`](crate::named_pipe::MessageRead) outcomes.
///
/// ```
/// use pipework::named_pipe::MessageRead;
/// use pipework::shm_pipe::{self, ShmMessageReader, ShmMessageWriter};
///
/// let (reader, writer) = shm_pipe::create()?;
/// let (mut reader, mut writer) = (ShmMessageReader::new(reader), ShmMessageWriter::new(writer));
/// writer.write_message(b"one")?;
/// writer.write_message(b"")?; // a 0-byte message is a message
/// writer.write_message(b"a longer one")?;
/// drop(writer);
/// let mut buf = [0u8; 5];
/// assert_eq!(reader.read_message(&mut buf)?, MessageRead::Complete(3));
/// assert_eq!(reader.read_message(&mut buf)?, MessageRead::Complete(0));
/// // Too small a buffer (ERROR_MORE_DATA): the first part, and how much is left for the next
/// // reads.
/// assert_eq!(reader.read_message(&mut buf)?, MessageRead::MoreData { read: 5, left: 7 });
/// assert_eq!(reader.read_message(&mut [0u8; 16])?, MessageRead::Complete(7));
/// assert_eq!(reader.read_message(&mut buf)?, MessageRead::End);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct ShmMessageWriter {
    inner: ShmWriter,
}

/// The reading side of the message variant (see [`ShmMessageWriter`]).
pub struct ShmMessageReader {
    inner: ShmReader,
    framer: crate::named_pipe::framing::Framer,
}

impl ShmMessageWriter {
    /// Sends whole messages through `writer`.
    pub fn new(writer: ShmWriter) -> ShmMessageWriter {
        ShmMessageWriter { inner: writer }
    }

    /// Writes one message (as a named pipe's `write_message` does); returns once all of it is
    /// in the ring. Messages larger than the ring stream through it. `InvalidInput` above
    /// 4 GiB - 1 bytes; `BrokenPipe` once the reader is gone.
    pub fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        let header = crate::named_pipe::framing::header(message.len())
            .map_err(|e| named(&*self.inner.end.ring.what, e))?;
        self.inner.write_all(&header)?;
        self.inner.write_all(message)
    }

    /// Renamed [`ShmMessageWriter::write_message`].
    #[deprecated(note = "renamed to write_message")]
    pub fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.write_message(message)
    }

    /// The byte end back.
    pub fn into_inner(self) -> ShmWriter {
        self.inner
    }
}

impl ShmMessageReader {
    /// Receives whole messages from `reader`.
    pub fn new(reader: ShmReader) -> ShmMessageReader {
        ShmMessageReader {
            inner: reader,
            framer: crate::named_pipe::framing::Framer::new(),
        }
    }

    /// Reads (the rest of) one message into `buf`, as a named pipe's `read_message` does:
    /// `Complete(n)`, `MoreData` when `buf` is too small (`ERROR_MORE_DATA`: the rest stays for
    /// the next calls), or `End` once the writer closed. A writer that closed or vanished in the
    /// middle of a message is `BrokenPipe`, never a short message; one that vanished between
    /// messages is `UnexpectedEof`.
    pub fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        let inner = &mut self.inner;
        match self.framer.read_message(buf, &mut |b| inner.read(b)) {
            Err(e) if e.kind() == ErrorKind::UnexpectedEof && self.framer.has_buffered() => {
                Err(error(
                    ErrorKind::BrokenPipe,
                    &*self.inner.end.ring.what,
                    "the writer vanished in the middle of a message (killed?)",
                ))
            }
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                Err(named(&*self.inner.end.ring.what, e))
            }
            other => other,
        }
    }

    /// Renamed [`ShmMessageReader::read_message`].
    #[deprecated(note = "renamed to read_message")]
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        self.read_message(buf)
    }
}

impl fmt::Debug for ShmMessageWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ShmMessageWriter")
            .field(&self.inner)
            .finish()
    }
}

impl fmt::Debug for ShmMessageReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ShmMessageReader")
            .field(&self.inner)
            .finish()
    }
}
