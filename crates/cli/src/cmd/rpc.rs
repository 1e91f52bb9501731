//! `pipework rpc serve-echo|call`: Samba's `rpcecho` DCE/RPC interface, served on a named pipe
//! (`ncacn_np`) or TCP (`ncacn_ip_tcp`), and called from the command line as Samba's
//! `rpcclient` would (`echoaddone`, `echodata`, `sinkdata`, `sourcedata`, ...).
//!
//! With the `rpc` feature (a default), gRPC too: `serve-demo` serves the example service with
//! server reflection; `list TARGET` and `call TARGET SERVICE/METHOD JSON` find any reflecting
//! server's methods and call them with JSON in and out (`rpc_grpc.rs`). `call` is the DCE/RPC
//! client when it is given `--pipe`/`--tcp` and an rpcecho operation, gRPC otherwise.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use pipework::named_pipe::{ClientOptions, ServerOptions, WaitTimeout};
use pipework::rpc::dce::echo::{Echo, RpcechoClient, RpcechoServer};
use pipework::rpc::dce::ndr::{Conformant, WString};
use pipework::rpc::dce::Server;

use crate::names;
use crate::output::{self, note};

#[cfg(feature = "rpc")]
#[path = "rpc_grpc.rs"]
mod grpc;

/// Options of `pipework rpc`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve Samba's rpcecho interface (DCE/RPC) on a named pipe, or on TCP with --tcp, until
    /// killed: for trying a DCE/RPC client (impacket, pipework rpc call).
    ServeEcho {
        /// Pipe name (`\\.\pipe\NAME` or `NAME`); not needed with --tcp.
        #[arg(value_parser = names::pipe, required_unless_present = "tcp")]
        name: Option<String>,
        /// Serve `ncacn_ip_tcp` on this address (`127.0.0.1:0` picks a free port) instead.
        #[arg(long, value_name = "ADDR")]
        tcp: Option<SocketAddr>,
        /// Let every user connect to the pipe (it goes to the global namespace).
        #[arg(long)]
        everyone: bool,
    },
    /// Call a gRPC method by server reflection (TARGET SERVICE/METHOD JSON: prints each
    /// response as a line of JSON), or an rpcecho DCE/RPC server (--pipe NAME|--tcp ADDR OP:
    /// prints the result as one line).
    #[command(args_override_self = true)]
    Call {
        /// gRPC: the server, a pipe name (`\\.\pipe\NAME` or `NAME`) or `http://HOST:PORT`.
        target: Option<String>,
        /// gRPC: the method, `package.Service/Method` (as `pipework rpc list` prints it).
        method: Option<String>,
        /// gRPC: the request in proto3's JSON form (default `{}`; `-` reads standard input);
        /// for a client-streaming method, an array sends one message per element.
        json: Option<String>,
        /// gRPC: the call's deadline in seconds (sent as `grpc-timeout`; DEADLINE_EXCEEDED
        /// past it).
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// gRPC: print fields at their default value too (0, "", false), which proto3's JSON
        /// leaves out.
        #[arg(long)]
        emit_defaults: bool,
        /// DCE/RPC: the rpcecho server's pipe name (`\\.\pipe\NAME` or `NAME`).
        #[arg(long, value_parser = names::pipe)]
        pipe: Option<String>,
        /// DCE/RPC: the rpcecho server's TCP address instead.
        #[arg(long, value_name = "ADDR")]
        tcp: Option<SocketAddr>,
        /// DCE/RPC: the rpcecho operation (with --pipe or --tcp).
        #[command(subcommand)]
        op: Option<Op>,
    },
    /// List the methods of a gRPC server by server reflection: one line each,
    /// `SERVICE/METHOD  KIND  INPUT -> OUTPUT`.
    List {
        /// The server, a pipe name (`\\.\pipe\NAME` or `NAME`) or `http://HOST:PORT`.
        target: String,
    },
    /// Serve the example gRPC service (proto/demo.proto: Say, Count, Chat, WhoAmI) with server
    /// reflection, on a named pipe or on TCP with --tcp, until killed: for trying `rpc call`,
    /// grpcurl or any gRPC client. Prints `demo on TARGET` once it listens.
    ServeDemo {
        /// Pipe name (`\\.\pipe\NAME` or `NAME`); not needed with --tcp.
        #[arg(value_parser = names::pipe, required_unless_present = "tcp")]
        name: Option<String>,
        /// Serve on this TCP address (`127.0.0.1:0` picks a free port) instead.
        #[arg(long, value_name = "ADDR")]
        tcp: Option<SocketAddr>,
        /// Let every user connect to the pipe (it goes to the global namespace).
        #[arg(long)]
        everyone: bool,
    },
}

#[derive(Subcommand, Debug, Clone)]
enum Op {
    /// AddOne: prints N + 1.
    AddOne {
        /// The number.
        n: u32,
    },
    /// EchoData: sends N bytes, checks they come back, prints the count.
    EchoData {
        /// How many bytes.
        n: u32,
    },
    /// SinkData: sends N bytes, prints the count.
    SinkData {
        /// How many bytes.
        n: u32,
    },
    /// SourceData: asks for N bytes, checks the pattern (byte i is i mod 256), prints the count.
    SourceData {
        /// How many bytes.
        n: u32,
    },
    /// TestCall: sends TEXT as a UTF-16 string, prints what came back.
    TestCall {
        /// The text.
        text: String,
    },
    /// TestCall2: prints the union arm of LEVEL (1 to 7) and the status.
    TestCall2 {
        /// The level.
        level: u16,
    },
}

/// Runs `pipework rpc`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::ServeEcho {
            name,
            tcp,
            everyone,
        } => serve_echo(name.as_deref(), *tcp, *everyone),
        Command::Call {
            target,
            method,
            json,
            timeout,
            emit_defaults,
            pipe,
            tcp,
            op,
        } => match op {
            Some(op) => call_dce(pipe.as_deref(), *tcp, op),
            None => call_grpc(
                target.as_deref(),
                method.as_deref(),
                json.as_deref(),
                *timeout,
                *emit_defaults,
                pipe.is_some() || tcp.is_some(),
            ),
        },
        Command::List { target } => list_grpc(target),
        Command::ServeDemo {
            name,
            tcp,
            everyone,
        } => serve_demo(name.as_deref(), *tcp, *everyone),
    }
}

fn call_dce(pipe: Option<&str>, tcp: Option<SocketAddr>, op: &Op) -> io::Result<()> {
    match (tcp, pipe) {
        (Some(addr), _) => {
            let stream = TcpStream::connect(addr)?;
            stream.set_nodelay(true)?;
            call(RpcechoClient::bind(stream)?, op)
        }
        (None, Some(name)) => {
            let pipe = ClientOptions::new()
                .wait(WaitTimeout::After(Duration::from_secs(5)))
                .open(name)?;
            call(RpcechoClient::bind(pipe)?, op)
        }
        (None, None) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pipework rpc call: an rpcecho operation needs --pipe NAME or --tcp ADDR",
        )),
    }
}

/// The target as the library takes it: `http://...` as it is, a pipe's short name made full.
#[cfg(feature = "rpc")]
fn grpc_target(target: &str) -> String {
    if target.starts_with("http://") || target.starts_with("https://") {
        target.to_string()
    } else {
        names::full(names::Kind::Pipe, target)
    }
}

#[cfg(feature = "rpc")]
fn call_grpc(
    target: Option<&str>,
    method: Option<&str>,
    json: Option<&str>,
    timeout: Option<f64>,
    defaults: bool,
    dce_flags: bool,
) -> io::Result<()> {
    let usage = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            if dce_flags {
                "pipework rpc call: --pipe/--tcp call rpcecho: name an operation (add-one, \
                 echo-data, ...)"
            } else {
                "pipework rpc call: give TARGET SERVICE/METHOD [JSON] (gRPC), or --pipe NAME \
                 OPERATION (rpcecho)"
            },
        )
    };
    if dce_flags {
        return Err(usage());
    }
    let (Some(target), Some(method)) = (target, method) else {
        return Err(usage());
    };
    let timeout = match timeout {
        None => None,
        Some(s) => Some(Duration::try_from_secs_f64(s).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("pipework rpc call: --timeout {s}: {e}"),
            )
        })?),
    };
    let json = match json {
        None => "{}".to_string(),
        Some("-") => io::read_to_string(io::stdin())?,
        Some(text) => text.to_string(),
    };
    grpc::call(&grpc_target(target), method, &json, timeout, defaults)
}

#[cfg(feature = "rpc")]
fn list_grpc(target: &str) -> io::Result<()> {
    grpc::list(&grpc_target(target))
}

#[cfg(feature = "rpc")]
fn serve_demo(name: Option<&str>, tcp: Option<SocketAddr>, everyone: bool) -> io::Result<()> {
    grpc::serve_demo(name, tcp, everyone)
}

#[cfg(not(feature = "rpc"))]
fn without_grpc() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pipework rpc: gRPC needs the `rpc` feature, which this build lacks (rpcecho calls \
         need --pipe NAME or --tcp ADDR and an operation)",
    ))
}

#[cfg(not(feature = "rpc"))]
fn call_grpc(
    _: Option<&str>,
    _: Option<&str>,
    _: Option<&str>,
    _: Option<f64>,
    _: bool,
    _: bool,
) -> io::Result<()> {
    without_grpc()
}

#[cfg(not(feature = "rpc"))]
fn list_grpc(_: &str) -> io::Result<()> {
    without_grpc()
}

#[cfg(not(feature = "rpc"))]
fn serve_demo(_: Option<&str>, _: Option<SocketAddr>, _: bool) -> io::Result<()> {
    without_grpc()
}

fn serve_echo(name: Option<&str>, tcp: Option<SocketAddr>, everyone: bool) -> io::Result<()> {
    let mut server = Server::new();
    server.add(RpcechoServer(Echo));
    if let Some(addr) = tcp {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        server.secondary_address(&local.port().to_string());
        writeln!(output::stdout(), "rpcecho on ncacn_ip_tcp:{local}")?;
        note!("serving rpcecho (DCE/RPC) on TCP {local}; Ctrl-C ends");
        return Arc::new(server).serve_tcp(listener);
    }
    let name = name.expect("clap requires a name without --tcp");
    let mut options = ServerOptions::new();
    if everyone {
        options.global(true).allow_everyone();
    }
    let short = name.rsplit('\\').next().unwrap_or(name);
    server.secondary_address(&format!(r"\PIPE\{short}"));
    let first = options.create(name)?;
    writeln!(output::stdout(), "rpcecho on ncacn_np:{name}")?;
    note!("serving rpcecho (DCE/RPC) on {name}; Ctrl-C ends");
    Arc::new(server).serve_pipe_from(first, name, &options)
}

fn call<S: io::Read + io::Write + std::os::fd::AsFd>(
    mut echo: RpcechoClient<S>,
    op: &Op,
) -> io::Result<()> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("rpcecho: {what}"));
    let line = match op {
        Op::AddOne { n } => echo.add_one(*n)?.to_string(),
        Op::EchoData { n } => {
            let data: Vec<u8> = (0..*n).map(|i| (i % 251) as u8).collect();
            let back = echo.echo_data(*n, Conformant(data.clone()))?.0;
            if back != data {
                return Err(bad("EchoData answered other bytes"));
            }
            format!("{n} bytes echoed")
        }
        Op::SinkData { n } => {
            echo.sink_data(*n, Conformant(vec![0x55; *n as usize]))?;
            format!("{n} bytes sunk")
        }
        Op::SourceData { n } => {
            let data = echo.source_data(*n)?.0;
            if data.len() != *n as usize || !data.iter().enumerate().all(|(i, &b)| b == i as u8) {
                return Err(bad("SourceData answered other bytes"));
            }
            format!("{n} bytes sourced")
        }
        Op::TestCall { text } => match echo.test_call(WString(text.clone()))?.0 {
            Some(s) => output::escape(&s.0),
            None => "(null)".into(),
        },
        Op::TestCall2 { level } => {
            let (info, status) = echo.test_call2(*level)?;
            format!("{info:?} status 0x{status:08x}")
        }
    };
    writeln!(output::stdout(), "{line}")
}
