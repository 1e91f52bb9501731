//! The two byte-stream workloads, declared once for `pipework bench` and for `crates/peers`:
//! throughput ([`VOLUME`] bytes in [`CHUNK`]-byte writes or messages, timed until the child
//! acknowledges it has them all) and round trips (a [`MESSAGE`]-byte message echoed back by the
//! child).
//!
//! Both run over a [`Link`], so byte streams and message channels carry exactly the same
//! traffic. The parent drives a [`Session`] with a child it started; the child runs [`serve`]
//! until the end of data. How a child is started (which binary, which arguments) is each
//! binary's own business: [`spawn`] only hands it its handles.
//!
//! ```no_run
//! use pipework_cli::workload::{self, Session, Stream, Workload};
//!
//! // The parent: two pipes, a child started with one end of each.
//! let (to_r, to_w) = pipework::pipe::create()?;
//! let (from_r, from_w) = pipework::pipe::create()?;
//! let mut command = std::process::Command::new(std::env::current_exe()?);
//! command.arg("child").arg(Workload::RoundTrip.role());
//! let child = workload::spawn(command, vec![to_r.into(), from_w.into()])?;
//! let mut session = Session::new("pipe", Stream::boxed(from_r, to_w), child);
//! println!("{:.2} us per round trip", session.sample(Workload::RoundTrip)?);
//! session.finish()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command};
use std::time::Instant;

use pipework::process::CommandExt;
use pipework::shm_pipe::{ShmReader, ShmWriter};

/// Bytes per write (or message) in the throughput workload.
pub const CHUNK: usize = 64 * 1024;
/// Bytes per throughput sample.
pub const VOLUME: usize = 1 << 30;
/// Bytes of a round-trip message.
pub const MESSAGE: usize = 64;
/// Round trips per sample.
pub const BATCH: usize = 5_000;
/// Round trips before measuring.
pub const WARM_UP: usize = 1_000;

/// What a sample measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// GiB/s of [`VOLUME`] bytes in [`CHUNK`] writes.
    Throughput,
    /// Microseconds per [`MESSAGE`]-byte round trip.
    RoundTrip,
}

impl Workload {
    /// The role argument a child is started with: `sink` or `echo`.
    pub fn role(self) -> &'static str {
        match self {
            Workload::Throughput => "sink",
            Workload::RoundTrip => "echo",
        }
    }

    /// The workload a child's role argument names.
    pub fn from_role(role: &str) -> io::Result<Workload> {
        match role {
            "sink" => Ok(Workload::Throughput),
            "echo" => Ok(Workload::RoundTrip),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no workload role {other:?}"),
            )),
        }
    }
}

/// One side of a two-way connection between the parent and the child, whatever carries it.
pub trait Link {
    /// Sends `data` as one write (streams) or one message (channels).
    fn send(&mut self, data: &[u8]) -> io::Result<()>;
    /// Receives what is there (one read or one message) and hands it to `f`; `false` at the end
    /// of data.
    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool>;
    /// Tells the other side there is no more data (streams: nothing, dropping closes them).
    fn close(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Sends `scratch.len()` bytes that `produce` writes into the room it is handed (once per
    /// stretch of room, in order): by default it fills `scratch`, sent as one write; a link
    /// that lends its transport's own room (an in-place write) has `produce` write there.
    fn send_produced(
        &mut self,
        scratch: &mut [u8],
        produce: &mut dyn FnMut(&mut [u8]),
    ) -> io::Result<()> {
        produce(scratch);
        self.send(scratch)
    }

    /// Receives exactly `buf.len()` bytes.
    fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let mut copied = Ok(());
            let open = self.recv(&mut |data| {
                if filled + data.len() > buf.len() {
                    copied = Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "peer sent more than was asked for",
                    ));
                } else {
                    buf[filled..filled + data.len()].copy_from_slice(data);
                    filled += data.len();
                }
            })?;
            copied?;
            if !open {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(())
    }
}

/// A link over a byte stream: a reader and a writer read and written as they are (at most
/// [`CHUNK`] bytes a read).
pub struct Stream<R, W> {
    reader: R,
    writer: W,
    buf: Vec<u8>,
}

impl<R: Read, W: Write> Stream<R, W> {
    /// Reads from `reader`, writes to `writer`.
    pub fn new(reader: R, writer: W) -> Self {
        Stream {
            reader,
            writer,
            buf: vec![0; CHUNK],
        }
    }

    /// The same, boxed as a [`Link`].
    pub fn boxed(reader: R, writer: W) -> Box<dyn Link>
    where
        R: 'static,
        W: 'static,
    {
        Box::new(Stream::new(reader, writer))
    }
}

/// Reads what `reader` has into `buf` and hands it to `f` (retrying `EINTR`): false at the end
/// of data, as [`Link::recv`] says.
pub fn recv_some(
    reader: &mut impl Read,
    buf: &mut [u8],
    f: &mut dyn FnMut(&[u8]),
) -> io::Result<bool> {
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                f(&buf[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl<R: Read, W: Write> Link for Stream<R, W> {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.writer.write_all(data)
    }

    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        recv_some(&mut self.reader, &mut self.buf, f)
    }

    fn recv_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.reader.read_exact(buf)
    }
}

/// A shared-memory pipe pair whose receiving side looks at each stretch of bytes where it lies
/// in the ring (`fill_buf_in_place` / `consume`) instead of copying it out: pipework's zero-copy
/// read. The workloads look at the lengths only, as a receiver that hands the bytes on by
/// reference would; one that parses them where they lie pays for that reading on top.
pub struct InPlace {
    reader: ShmReader,
    writer: ShmWriter,
    most: usize,
}

impl InPlace {
    /// Receives from `reader` in place, at most `most` bytes at a time (`usize::MAX`: each
    /// stretch whole), and sends through `writer`.
    ///
    /// The other end of `reader` must be written through a [`ShmWriter`] (which never touches
    /// bytes it has published until they are consumed): the bytes are looked at in shared
    /// memory.
    pub fn new(reader: ShmReader, writer: ShmWriter, most: usize) -> InPlace {
        InPlace {
            reader,
            writer,
            most,
        }
    }
}

impl Link for InPlace {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.writer.write_all(data)
    }

    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        // SAFETY: the other end writes through a ShmWriter (the contract of `InPlace::new`),
        // which never touches bytes it has published until they are consumed.
        let data = unsafe { self.reader.fill_buf_in_place()? };
        if data.is_empty() {
            return Ok(false);
        }
        let n = data.len().min(self.most);
        f(&data[..n]);
        self.reader.consume(n);
        Ok(true)
    }
}

/// Starts `command` with `handles` inherited by the child, each handle's number appended to its
/// arguments in order (the child takes them back with [`inherited`]).
pub fn spawn(mut command: Command, handles: Vec<OwnedFd>) -> io::Result<Child> {
    for handle in handles {
        let number = command.inherit_handle(handle);
        command.arg(number.to_string());
    }
    command.spawn()
}

/// Takes the handle a child was given on its command line by [`spawn`].
pub fn inherited(arg: Option<&String>) -> io::Result<OwnedFd> {
    let raw: i32 = arg
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing handle number"))?;
    // SAFETY: the parent handed this number to this child alone, and nothing in this process has
    // taken ownership of it before.
    unsafe { pipework::handle::take_inherited(raw) }
}

/// The parent's side of one child that sinks or echoes.
pub struct Session {
    link: Option<Box<dyn Link>>,
    child: Child,
    name: &'static str,
}

impl Session {
    /// Talks to `child` (which runs `name`) through `link`.
    pub fn new(name: &'static str, link: Box<dyn Link>, child: Child) -> Session {
        Session {
            link: Some(link),
            child,
            name,
        }
    }

    fn link(&mut self) -> io::Result<&mut dyn Link> {
        match self.link.as_mut() {
            Some(link) => Ok(&mut **link),
            None => Err(io::Error::other(format!("{}: session finished", self.name))),
        }
    }

    /// GiB/s: [`VOLUME`] bytes in [`CHUNK`] sends, until the child says it has them all.
    pub fn throughput(&mut self) -> io::Result<f64> {
        let link = self.link()?;
        let chunk = vec![0x5au8; CHUNK];
        let start = Instant::now();
        for _ in 0..VOLUME / CHUNK {
            link.send(&chunk)?;
        }
        let mut ack = [0u8; 1];
        link.recv_exact(&mut ack)?;
        Ok(VOLUME as f64 / (1u64 << 30) as f64 / start.elapsed().as_secs_f64())
    }

    /// [`throughput`](Self::throughput) of bytes produced as they are sent: each [`CHUNK`]
    /// block is filled with its number as the byte value (one `fill` per stretch of room,
    /// [`Link::send_produced`]), in the link's own room when it lends one.
    pub fn produced_throughput(&mut self) -> io::Result<f64> {
        let link = self.link()?;
        let mut chunk = vec![0u8; CHUNK];
        let start = Instant::now();
        for block in 0..VOLUME / CHUNK {
            let value = block as u8;
            link.send_produced(&mut chunk, &mut |room| room.fill(value))?;
        }
        let mut ack = [0u8; 1];
        link.recv_exact(&mut ack)?;
        Ok(VOLUME as f64 / (1u64 << 30) as f64 / start.elapsed().as_secs_f64())
    }

    /// Microseconds per [`MESSAGE`]-byte request and reply, over `count` round trips.
    pub fn round_trips(&mut self, count: usize) -> io::Result<f64> {
        let link = self.link()?;
        let mut message = [7u8; MESSAGE];
        let start = Instant::now();
        for _ in 0..count {
            link.send(&message)?;
            link.recv_exact(&mut message)?;
        }
        Ok(start.elapsed().as_secs_f64() * 1e6 / count as f64)
    }

    /// One sample of `workload`: a throughput figure, or [`BATCH`] round trips after
    /// [`WARM_UP`] of them.
    pub fn sample(&mut self, workload: Workload) -> io::Result<f64> {
        match workload {
            Workload::Throughput => self.throughput(),
            Workload::RoundTrip => {
                self.round_trips(WARM_UP)?;
                self.round_trips(BATCH)
            }
        }
    }

    /// Tells the child the data is over, closes the link and waits for the child.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(mut link) = self.link.take() {
            link.close()?;
        }
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{} child failed: {status}",
                self.name
            )))
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A session dropped on an error path: do not leave the child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The child's side: runs `workload` over `link` until the end of data.
pub fn serve(workload: Workload, mut link: Box<dyn Link>) -> io::Result<()> {
    match workload {
        Workload::Throughput => sink(&mut *link),
        Workload::RoundTrip => echo(&mut *link),
    }
}

/// A receive's result with the other side's hang-up read as the end of data: a named-pipe
/// server that disconnects its client leaves the client's reads failing with `NotConnected`
/// (Win32's `ERROR_PIPE_NOT_CONNECTED`) rather than at their end.
fn until_hung_up(received: io::Result<bool>) -> io::Result<bool> {
    match received {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        other => other,
    }
}

/// Child side of the throughput workload: receives [`VOLUME`] bytes, acknowledges, again, until
/// the end of data.
fn sink(link: &mut dyn Link) -> io::Result<()> {
    let mut got = 0;
    loop {
        if !until_hung_up(link.recv(&mut |data| got += data.len()))? {
            return Ok(());
        }
        if got == VOLUME {
            got = 0;
            link.send(b"!")?;
        }
    }
}

/// Child side of the round-trip workload: echoes [`MESSAGE`]-byte messages until the end of data.
fn echo(link: &mut dyn Link) -> io::Result<()> {
    let mut message = [0u8; MESSAGE];
    loop {
        let mut filled = 0;
        let mut overflow = false;
        while filled < MESSAGE {
            let open = until_hung_up(link.recv(&mut |data| {
                if filled + data.len() > MESSAGE {
                    overflow = true;
                } else {
                    message[filled..filled + data.len()].copy_from_slice(data);
                    filled += data.len();
                }
            }))?;
            if overflow {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "round-trip message longer than 64 bytes",
                ));
            }
            if !open {
                return if filled == 0 {
                    Ok(())
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
        link.send(&message)?;
    }
}
