//! The message variant: whole messages over a shared-memory pipe, framed as the named pipes
//! frame them.

use std::fmt;
use std::io::{self, Read, Write};

use super::{ShmReader, ShmWriter};

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
/// writer.send(b"one")?;
/// writer.send(b"")?; // a 0-byte message is a message
/// writer.send(b"a longer one")?;
/// drop(writer);
/// let mut buf = [0u8; 5];
/// assert_eq!(reader.recv(&mut buf)?, MessageRead::Complete(3));
/// assert_eq!(reader.recv(&mut buf)?, MessageRead::Complete(0));
/// // Too small a buffer: the first part, and how much is left for the next reads.
/// assert_eq!(reader.recv(&mut buf)?, MessageRead::MoreData { read: 5, left: 7 });
/// assert_eq!(reader.recv(&mut [0u8; 16])?, MessageRead::Complete(7));
/// assert_eq!(reader.recv(&mut buf)?, MessageRead::End);
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

    /// Sends one message; returns once all of it is in the ring. Messages larger than the ring
    /// stream through it. `InvalidInput` above 4 GiB - 1 bytes.
    pub fn send(&mut self, message: &[u8]) -> io::Result<()> {
        let header = crate::named_pipe::framing::header(message.len())?;
        self.inner.write_all(&header)?;
        self.inner.write_all(message)
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

    /// Receives (the rest of) one message into `buf`: `Complete(n)`, `MoreData` when `buf` is too
    /// small (the rest stays for the next calls), or `End` once the writer closed. A writer that
    /// vanished in the middle of a message is an error, never a short message.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<crate::named_pipe::MessageRead> {
        let inner = &mut self.inner;
        self.framer.read_message(buf, &mut |b| inner.read(b))
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
