//! `rpc`: a DCE/RPC call (rpcecho `AddOne`: a 28-byte request fragment, a 28-byte response
//! fragment, NDR marshalling and the association's state machine on both ends) between two
//! processes over a named pipe, beside the bare named-pipe round trip of the same 28 bytes each
//! way on the same kind of pipe.
//!
//! With the CLI's `rpc` feature, also a gRPC unary call (the example service's `Say`, tonic
//! both ends) over a named pipe beside the same call over TCP loopback.
//!
//! The parent creates each pipe and makes the calls; its child opens the pipe and answers them
//! (a DCE/RPC server runs on any socket stream, a pipe's client end included). Both connections
//! stay up for the whole measurement and their samples alternate; each row is the median of the
//! runs, beside the baseline's median of the same run, and the speedup is their ratio.
//!
//! One DCE/RPC round trip makes the system calls of the bare one (strace: one `sendto` and one
//! `recvfrom` each side): each PDU goes in one write, is read ahead in one read, and is never
//! flushed (a named pipe's flush waits for the peer to read). Since the ratio depends on how
//! busy the machine is (a loaded machine's wake-ups hide per-call costs), the load average
//! during the run is noted on standard error.

use std::io::{self, Read, Write};
use std::process::Child;
use std::sync::Arc;
use std::time::Instant;

use pipework::named_pipe::{NamedPipeClient, NamedPipeServer, ServerOptions};
use pipework::rpc::dce::echo::{Echo, RpcechoClient, RpcechoServer};
use pipework::rpc::dce::{Peer, Server};

use super::{spawn_child, Figure, Mechanism, Samples, Settings};

/// The `rpc` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new(NAME, run, child);

const NAME: &str = "rpc";

/// Round trips per sample.
const BATCH: u32 = 1000;

/// Bytes of an `AddOne` request or response fragment (24-byte header + a `u32`).
const CALL_BYTES: usize = 28;

fn unique(what: &str) -> String {
    format!("pipework-bench-{}-rpc-{what}", std::process::id())
}

/// A child and the server end of the pipe it opened; the child is ended when this goes.
struct ChildGuard {
    child: Child,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn session(role: &str) -> io::Result<(NamedPipeServer, ChildGuard)> {
    let name = unique(role);
    let mut server = ServerOptions::new().create(&name)?;
    let child = ChildGuard {
        child: spawn_child(NAME, role, &[name], Vec::new())?,
    };
    server.connect()?;
    Ok((server, child))
}

fn per_call_us(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH)
}

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let (dce_end, _dce_child) = session("dce")?;
    let (mut bare, _bare_child) = session("bare")?;
    let mut echo = RpcechoClient::bind(dce_end)?;
    let mut buf = [0u8; CALL_BYTES];
    let mut n = 0u32;
    let samples: Samples = settings.collect(
        "rpc AddOne",
        settings.round_trip_batches(),
        || {
            let start = Instant::now();
            for _ in 0..BATCH {
                let out = echo.add_one(n)?;
                if out != n.wrapping_add(1) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "rpcecho AddOne: wrong answer",
                    ));
                }
                n = out;
            }
            Ok(per_call_us(start))
        },
        || {
            let start = Instant::now();
            for _ in 0..BATCH {
                bare.write_all(&buf)?;
                bare.read_exact(&mut buf)?;
            }
            Ok(per_call_us(start))
        },
    )?;
    note_load();
    #[allow(unused_mut)]
    let mut figures = vec![Figure::lower_is_better(
        NAME,
        "dce_addone_round_trip",
        "us",
        "bare named-pipe round trip",
        &samples,
    )];
    #[cfg(feature = "rpc")]
    figures.push(grpc::run(settings)?);
    Ok(figures)
}

/// Notes the 1-, 5- and 15-minute load averages (Linux's `/proc/loadavg`), if readable.
fn note_load() {
    if let Ok(text) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = text.split_whitespace().take(3).collect();
        crate::output::note!(
            "bench {NAME}: load average {} (1, 5, 15 min) while measuring",
            load.join(" ")
        );
    }
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let name = args
        .get(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing pipe name"))?;
    #[cfg(feature = "rpc")]
    if role == "grpc" {
        return grpc::child(args);
    }
    let mut pipe = NamedPipeClient::open(name)?;
    match role {
        "dce" => {
            let mut server = Server::new();
            server.add(RpcechoServer(Echo));
            Arc::new(server).serve_stream(pipe, Peer::Unknown)
        }
        "bare" => {
            let mut buf = [0u8; CALL_BYTES];
            loop {
                match pipe.read_exact(&mut buf) {
                    Ok(()) => pipe.write_all(&buf)?,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bench {NAME}: unknown role {role:?}"),
        )),
    }
}

/// The gRPC rows: the child serves the example service on a pipe and on TCP, the parent calls
/// `Say` on both.
#[cfg(feature = "rpc")]
mod grpc {
    use std::io::{self, BufRead, BufReader, Write};
    use std::time::Instant;

    use pipework::named_pipe::ServerOptions;
    use pipework::rpc::grpc::{self, demo};
    use tonic::transport::{Endpoint, Server};

    use super::{spawn_child, unique, ChildGuard, Figure, Settings, BATCH, NAME};

    fn runtime() -> io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }

    fn failed(e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("bench {NAME} gRPC: {e}"))
    }

    pub(super) fn run(settings: &Settings) -> io::Result<Figure> {
        let name = unique("grpc");
        let (ready, ready_w) = pipework::pipe::create()?;
        let _child = ChildGuard {
            child: spawn_child(
                NAME,
                "grpc",
                std::slice::from_ref(&name),
                vec![ready_w.into()],
            )?,
        };
        let mut line = String::new();
        BufReader::new(ready).read_line(&mut line)?;
        let port: u16 = line.trim().parse().map_err(failed)?;
        let rt = runtime()?;
        let (mut over_pipe, mut over_tcp) = rt.block_on(async {
            let pipe = grpc::connect(&name).await.map_err(failed)?;
            let tcp = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
                .map_err(failed)?
                .tcp_nodelay(true)
                .connect()
                .await
                .map_err(failed)?;
            Ok::<_, io::Error>((
                demo::demo_client::DemoClient::new(pipe),
                demo::demo_client::DemoClient::new(tcp),
            ))
        })?;
        let request = || demo::SayRequest {
            text: "ping".into(),
            ..Default::default()
        };
        let samples = settings.collect(
            "rpc gRPC",
            settings.round_trip_batches(),
            || {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..BATCH {
                        over_pipe.say(request()).await.map_err(failed)?;
                    }
                    Ok(super::per_call_us(start))
                })
            },
            || {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..BATCH {
                        over_tcp.say(request()).await.map_err(failed)?;
                    }
                    Ok(super::per_call_us(start))
                })
            },
        )?;
        Ok(Figure::lower_is_better(
            NAME,
            "grpc_unary_round_trip",
            "us",
            "gRPC over TCP loopback",
            &samples,
        ))
    }

    /// The child: serves the example service on pipe `args[1]` and on a TCP port, which it
    /// writes to the handle `args[2]` once both listen.
    pub(super) fn child(args: &[String]) -> io::Result<()> {
        let name = args
            .get(1)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing pipe name"))?;
        let mut ready =
            pipework::pipe::PipeWriter::try_from(pipework_cli::workload::inherited(args.get(2))?)?;
        runtime()?.block_on(async {
            let incoming = grpc::incoming(name, &ServerOptions::new())?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            writeln!(ready, "{}", listener.local_addr()?.port())?;
            drop(ready);
            let service = || demo::demo_server::DemoServer::new(demo::DemoService);
            let pipe = Server::builder()
                .add_service(service())
                .serve_with_incoming(incoming);
            let tcp = Server::builder()
                .tcp_nodelay(true)
                .add_service(service())
                .serve_with_incoming(tokio_stream_tcp(listener));
            let (a, b) = tokio::join!(pipe, tcp);
            a.and(b).map_err(failed)
        })
    }

    /// Accepted TCP connections as a stream, without a tokio-stream dependency.
    fn tokio_stream_tcp(
        listener: tokio::net::TcpListener,
    ) -> impl tonic::codegen::tokio_stream::Stream<Item = io::Result<tokio::net::TcpStream>> {
        tonic::codegen::tokio_stream::wrappers::TcpListenerStream::new(listener)
    }
}
