//! `named-pipe`: byte throughput (64 KiB writes, 1 GiB per sample) and 64-byte message round
//! trip between a server and a client process: pipework's named pipes beside a raw Unix-domain
//! stream socket (bind/listen/accept/connect, write/read by hand) carrying the same bytes. Each
//! is measured on the socket path (what foreign clients get) and on the shared-memory rings two
//! pipework ends agree on (round trips with the default spin and with none). The in-place
//! throughput row asks the pipe for [`IN_PLACE_RING`]-byte rings (its outbound buffer size), the
//! size that suits a reader that reads in place; every other row keeps the default (1 MiB).
//! So does the produced-in-place row: the server produces each 64 KiB block (one `fill` with
//! the block's number) straight into the ring's room (`reserve_in_place` / `commit`) and the
//! client reads in place, beside a raw socket whose writer does the same `fill` into its own
//! 64 KiB buffer and writes it.
//!
//! Both connections stay up for the whole measurement and their samples alternate, so a burst of
//! load on this shared machine hits both alike.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Child;

use pipework::named_pipe::{
    ClientOptions, MessageRead, NamedPipeClient, NamedPipeServer, PipeMode, ReadMode, ServerOptions,
};
use pipework_cli::workload::{self, inherited, Link, Session, Stream, Workload, CHUNK};

use super::stream::{self, raw_child, RawFd};
use super::{spawn_child, Figure, Mechanism, Samples, Settings};

/// The `named-pipe` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new(NAME, run, child);

const NAME: &str = "named-pipe";

/// The ring the in-place throughput row asks for (`out_buffer_size`): the reader never touches
/// the bytes, so the transfer is the writer's one copy into the ring, and a ring that fits the
/// writer's core's cache (1 MiB of L2 here) beside its 64 KiB source keeps that copy there
/// (measured: docs/design/named_pipe.md, "Ring sizes"). A copying reader does best with the
/// default 1 MiB, which its row keeps.
const IN_PLACE_RING: u32 = 256 * 1024;

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let socket = |workload| pipework_session(workload, Transport::Socket);
    let (throughput, round_trip) =
        stream::throughput_and_round_trips(settings, NAME, socket, raw_session)?;
    // The rings' throughput, copying and in place, beside the raw socket and beside the floor
    // of any copying design, all four alternated.
    // The bytes produced in place (the writer fills the ring's room, the reader reads in
    // place) beside a raw socket whose writer produces them the same way into its own buffer.
    let (mut copying, mut in_place, mut floor, mut raw, mut produced, mut produced_raw) = (
        pipework_session(Workload::Throughput, Transport::Ring)?,
        pipework_session(Workload::Throughput, Transport::RingInPlace)?,
        stream::copy_floor::session(NAME)?,
        raw_session(Workload::Throughput)?,
        pipework_session(Workload::Throughput, Transport::RingInPlace)?,
        raw_session(Workload::Throughput)?,
    );
    let [copying_s, in_place_s, floor_s, raw_s, produced_s, produced_raw_s] =
        stream::collect_rotating(
            settings,
            "named-pipe ring throughput",
            settings.runs,
            [
                &mut || copying.throughput(),
                &mut || in_place.throughput(),
                &mut || floor.throughput(),
                &mut || raw.throughput(),
                &mut || produced.produced_throughput(),
                &mut || produced_raw.produced_throughput(),
            ],
        )?;
    copying.finish()?;
    in_place.finish()?;
    floor.finish()?;
    raw.finish()?;
    produced.finish()?;
    produced_raw.finish()?;
    let produced = Samples::of(produced_s, produced_raw_s);
    let ring_throughput = Samples::of(copying_s.clone(), raw_s.clone());
    let beside_floor = Samples::of(copying_s, floor_s);
    let in_place = Samples::of(in_place_s, raw_s);
    let ring_round_trip = stream::finished(
        stream::round_trips,
        settings,
        "named-pipe round trip",
        pipework_session(Workload::RoundTrip, Transport::Ring)?,
        raw_session(Workload::RoundTrip)?,
    )?;
    let no_spin = stream::finished(
        stream::round_trips,
        settings,
        "named-pipe ring round trip, no spin",
        pipework_session(Workload::RoundTrip, Transport::RingNoSpin)?,
        raw_session(Workload::RoundTrip)?,
    )?;
    let mut figures = vec![
        Figure::higher_is_better(NAME, "throughput", "GiB/s", "raw unix socket", &throughput),
        Figure::lower_is_better(NAME, "round_trip", "us", "raw unix socket", &round_trip),
        Figure::higher_is_better(
            NAME,
            "throughput_shared_memory",
            "GiB/s",
            "raw unix socket",
            &ring_throughput,
        ),
        Figure::higher_is_better(
            NAME,
            "throughput_shared_memory_vs_copy_floor",
            "GiB/s",
            "copy floor by hand (memfd ring, spinning)",
            &beside_floor,
        ),
        Figure::higher_is_better(
            NAME,
            "throughput_in_place",
            "GiB/s",
            "raw unix socket",
            &in_place,
        ),
        Figure::higher_is_better(
            NAME,
            "throughput_produced_in_place",
            "GiB/s",
            "raw unix socket, produced into its buffer",
            &produced,
        ),
        Figure::lower_is_better(
            NAME,
            "round_trip_shared_memory",
            "us",
            "raw unix socket",
            &ring_round_trip,
        ),
        Figure::lower_is_better(
            NAME,
            "round_trip_shared_memory_no_spin",
            "us",
            "raw unix socket",
            &no_spin,
        ),
    ];
    if socat_installed() {
        let socat = settings.collect(
            "named-pipe socat client throughput",
            settings.runs,
            socat_into_named_pipe,
            socat_into_raw_socket,
        )?;
        figures.push(Figure::higher_is_better(
            NAME,
            "throughput_socat_client",
            "GiB/s",
            "socat into a raw unix socket",
            &socat,
        ));
    }
    Ok(figures)
}

/// Whether `socat` can be run (the foreign-client row is left out without it).
fn socat_installed() -> bool {
    std::process::Command::new("socat")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `socat` streaming zeros into the socket at `path` (a foreign client: no handshake).
fn socat_to(path: &std::path::Path) -> io::Result<Child> {
    std::process::Command::new("socat")
        .args(["-u", "-b", "65536", "OPEN:/dev/zero"])
        .arg(format!("UNIX-CONNECT:{}", path.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
}

/// GiB/s of [`workload::VOLUME`] bytes read from `reader`, timed from the first byte; the
/// writer `child` is killed after.
fn sink_from(mut reader: impl Read, mut child: Child) -> io::Result<f64> {
    let mut buf = vec![0u8; CHUNK];
    let result = (|| {
        // The clock starts once the client is streaming.
        if reader.read(&mut buf)? == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        let start = std::time::Instant::now();
        let mut got = 0;
        while got < workload::VOLUME {
            match reader.read(&mut buf)? {
                0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                n => got += n,
            }
        }
        Ok(got as f64 / (1u64 << 30) as f64 / start.elapsed().as_secs_f64())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// A socat client streaming into a pipework named-pipe server (one that offers rings, which a
/// foreign client never asks for: it keeps the plain socket).
fn socat_into_named_pipe() -> io::Result<f64> {
    let name = unique("socat");
    let mut server = ServerOptions::new().shared_memory(true).create(&name)?;
    let child = socat_to(&server.socket_path())?;
    match server.connect() {
        Ok(_) => sink_from(server, child),
        Err(e) => Err(abandon(child, e)),
    }
}

/// The baseline: the same socat client streaming into a raw Unix socket listener.
fn socat_into_raw_socket() -> io::Result<f64> {
    let path = std::env::temp_dir().join(unique("socat-raw"));
    let listener = UnixListener::bind(&path)?;
    let child = socat_to(&path);
    let accepted = child.and_then(|child| match listener.accept() {
        Ok((stream, _)) => Ok((stream, child)),
        Err(e) => Err(abandon(child, e)),
    });
    let _ = std::fs::remove_file(&path);
    let (stream, child) = accepted?;
    sink_from(RawFd(OwnedFd::from(stream)), child)
}

/// What carries a pipework session's data: the socket (what foreign clients get), or the
/// shared-memory rings two pipework ends agree on, spinning before they sleep or not.
#[derive(Clone, Copy)]
enum Transport {
    Socket,
    Ring,
    RingNoSpin,
    /// The rings, the child reading in place (`fill_buf_in_place`) from a ring of
    /// [`IN_PLACE_RING`] bytes.
    RingInPlace,
}

impl Transport {
    /// The child's role suffix.
    fn how(self) -> &'static str {
        match self {
            Transport::Socket => "pipework",
            Transport::Ring => "ring",
            Transport::RingNoSpin => "ringnospin",
            Transport::RingInPlace => "ringinplace",
        }
    }

    fn from_how(how: &str) -> Option<Transport> {
        match how {
            "pipework" => Some(Transport::Socket),
            "ring" => Some(Transport::Ring),
            "ringnospin" => Some(Transport::RingNoSpin),
            "ringinplace" => Some(Transport::RingInPlace),
            _ => None,
        }
    }

    /// Whether the rings are asked for, and the spin on them.
    fn rings(self) -> (bool, std::time::Duration) {
        let spin = pipework::shm_pipe::ShmPipeOptions::default_spin();
        match self {
            Transport::Socket => (false, spin),
            Transport::Ring | Transport::RingInPlace => (true, spin),
            Transport::RingNoSpin => (true, std::time::Duration::ZERO),
        }
    }
}

fn unique(what: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("pipework-bench-{}-{what}-{n}", std::process::id())
}

/// The pipe each workload runs on: throughput on a byte pipe, round trips on a message pipe
/// (one message each way).
pub(super) fn message_pipe(workload: Workload) -> bool {
    workload == Workload::RoundTrip
}

/// Kills a child whose session could not be set up.
fn abandon(mut child: Child, e: io::Error) -> io::Error {
    let _ = child.kill();
    let _ = child.wait();
    e
}

/// The parent as a named-pipe server, its child as the client.
fn pipework_session(workload: Workload, transport: Transport) -> io::Result<Session> {
    let name = unique(workload.role());
    let message = message_pipe(workload);
    let pipe_mode = if message {
        PipeMode::Message
    } else {
        PipeMode::Byte
    };
    let (rings, spin) = transport.rings();
    let mut options = ServerOptions::new();
    options
        .pipe_mode(pipe_mode)
        .shared_memory(rings)
        .shared_memory_spin(spin);
    if let Transport::RingInPlace = transport {
        // The ring to the client (the reader in place): see `IN_PLACE_RING`.
        options.out_buffer_size(IN_PLACE_RING);
    }
    let mut server = options.create(&name)?;
    let role = stream::role(workload, transport.how());
    let child = spawn_child(NAME, &role, &[name], Vec::new())?;
    match server.connect() {
        Ok(_) => Ok(Session::new(
            NAME,
            Box::new(PipeLink::new(server, message)),
            child,
        )),
        Err(e) => Err(abandon(child, e)),
    }
}

/// The baseline: the parent as a raw socket listener, its child connected by hand, both reading
/// and writing the stream with plain `read(2)` / `write(2)`.
fn raw_session(workload: Workload) -> io::Result<Session> {
    let path = std::env::temp_dir().join(unique(workload.role()));
    let listener = UnixListener::bind(&path)?;
    let child = spawn_child(
        NAME,
        &stream::role(workload, "raw"),
        &[path.to_string_lossy().into_owned()],
        Vec::new(),
    );
    let accepted = child.and_then(|child| match listener.accept() {
        Ok((stream, _)) => Ok((stream, child)),
        Err(e) => Err(abandon(child, e)),
    });
    let _ = std::fs::remove_file(&path);
    let (stream, child) = accepted?;
    let reader = RawFd(OwnedFd::from(stream.try_clone()?));
    Ok(Session::new(
        NAME,
        Stream::boxed(reader, RawFd(OwnedFd::from(stream))),
        child,
    ))
}

/// A named-pipe end as the workloads use it: the server's or the client's.
pub(super) trait End: Read + Write {
    fn write_message(&mut self, message: &[u8]) -> io::Result<()>;
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead>;
    /// Ends the connection from this side (the server disconnects the client).
    fn hang_up(&mut self) -> io::Result<()>;
    /// Lends room for an in-place write (`reserve_in_place`).
    ///
    /// # Safety
    /// As `reserve_in_place`: the peer must be a pipework reader.
    unsafe fn reserve(&mut self) -> io::Result<&mut [u8]>;
    /// Publishes `n` bytes of the room lent (`commit`).
    fn commit(&mut self, n: usize) -> io::Result<()>;
}

impl End for NamedPipeServer {
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        NamedPipeServer::write_message(self, message)
    }
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        NamedPipeServer::read_message(self, buf)
    }
    fn hang_up(&mut self) -> io::Result<()> {
        self.disconnect()
    }
    unsafe fn reserve(&mut self) -> io::Result<&mut [u8]> {
        // SAFETY: passed on to the caller (this function's contract).
        unsafe { self.reserve_in_place() }
    }
    fn commit(&mut self, n: usize) -> io::Result<()> {
        NamedPipeServer::commit(self, n)
    }
}

impl End for NamedPipeClient {
    fn write_message(&mut self, message: &[u8]) -> io::Result<()> {
        NamedPipeClient::write_message(self, message)
    }
    fn read_message(&mut self, buf: &mut [u8]) -> io::Result<MessageRead> {
        NamedPipeClient::read_message(self, buf)
    }
    fn hang_up(&mut self) -> io::Result<()> {
        Ok(())
    }
    unsafe fn reserve(&mut self) -> io::Result<&mut [u8]> {
        // SAFETY: passed on to the caller (this function's contract).
        unsafe { self.reserve_in_place() }
    }
    fn commit(&mut self, n: usize) -> io::Result<()> {
        NamedPipeClient::commit(self, n)
    }
}

/// A named pipe carrying the workloads: its byte stream, or one message per send.
pub(super) struct PipeLink<E> {
    end: E,
    message: bool,
    buf: Vec<u8>,
}

impl<E: End> PipeLink<E> {
    pub(super) fn new(end: E, message: bool) -> Self {
        PipeLink {
            end,
            message,
            buf: vec![0; CHUNK],
        }
    }
}

impl<E: End> Link for PipeLink<E> {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if self.message {
            self.end.write_message(data)
        } else {
            self.end.write_all(data)
        }
    }

    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        if self.message {
            return match self.end.read_message(&mut self.buf)? {
                MessageRead::Complete(n) => {
                    f(&self.buf[..n]);
                    Ok(true)
                }
                MessageRead::End => Ok(false),
                MessageRead::MoreData { .. } => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a message longer than the workload sends",
                )),
            };
        }
        workload::recv_some(&mut self.end, &mut self.buf, f)
    }

    fn close(&mut self) -> io::Result<()> {
        self.end.hang_up()
    }

    /// On a byte pipe the bytes are produced in the room the pipe lends (the ring's, or on the
    /// socket path the end's own buffer), with no copy of them on this side.
    fn send_produced(
        &mut self,
        scratch: &mut [u8],
        produce: &mut dyn FnMut(&mut [u8]),
    ) -> io::Result<()> {
        if self.message {
            produce(scratch);
            return self.end.write_message(scratch);
        }
        let mut left = scratch.len();
        while left > 0 {
            // SAFETY: the peer is this bench's own pipework process, whose reads never write
            // into the ring's data.
            let room = unsafe { self.end.reserve()? };
            let n = room.len().min(left);
            produce(&mut room[..n]);
            self.end.commit(n)?;
            left -= n;
        }
        Ok(())
    }
}

/// A client reading in place: each stretch of bytes looked at where it lies (in the ring),
/// then consumed; writes as usual.
struct InPlaceLink(NamedPipeClient);

impl Link for InPlaceLink {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.write_all(data)
    }

    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        // SAFETY: the server is this bench's own pipework process, whose writes never touch
        // bytes they have published until they are consumed.
        let data = unsafe { self.0.fill_buf_in_place()? };
        if data.is_empty() {
            return Ok(false);
        }
        let n = data.len();
        f(data);
        self.0.consume(n);
        Ok(true)
    }
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let target = args
        .get(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing pipe name"))?;
    let (workload, how) = stream::split_role(role);
    if how == stream::COPY_FLOOR {
        return stream::copy_floor::child(Workload::from_role(workload)?, inherited(Some(target))?);
    }
    match Transport::from_how(how) {
        Some(transport) => {
            let workload = Workload::from_role(workload)?;
            let (rings, spin) = transport.rings();
            let mut client = ClientOptions::new()
                .shared_memory(rings)
                .shared_memory_spin(spin)
                .open(target)?;
            if message_pipe(workload) {
                client.set_read_mode(ReadMode::Message)?;
            }
            if let Transport::RingInPlace = transport {
                return workload::serve(workload, Box::new(InPlaceLink(client)));
            }
            workload::serve(
                workload,
                Box::new(PipeLink::new(client, message_pipe(workload))),
            )
        }
        None if how == "raw" => {
            let stream = UnixStream::connect(target)?;
            let input = OwnedFd::from(stream.try_clone()?);
            raw_child(role, input, OwnedFd::from(stream))
                .unwrap_or_else(|| Err(stream::unknown_role(NAME, role)))
        }
        None => Err(stream::unknown_role(NAME, role)),
    }
}
