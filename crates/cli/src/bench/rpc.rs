//! `rpc`: a DCE/RPC call (rpcecho `AddOne`: a 28-byte request fragment, a 28-byte response
//! fragment, NDR marshalling and the association's state machine on both ends) between two
//! processes over a named pipe, beside the bare named-pipe round trip of the same 28 bytes each
//! way on the same kind of pipe.
//!
//! The parent creates each pipe and makes the calls; its child opens the pipe and answers them
//! (a DCE/RPC server runs on any byte stream, a pipe's client end included). Both connections
//! stay up for the whole measurement and their samples alternate.

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
    Ok(vec![Figure::lower_is_better(
        NAME,
        "dce_addone_round_trip",
        "us",
        "bare named-pipe round trip",
        &samples,
    )])
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let name = args
        .get(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing pipe name"))?;
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
