//! `pipework rpc serve-echo|call`: Samba's `rpcecho` DCE/RPC interface, served on a named pipe
//! (`ncacn_np`) or TCP (`ncacn_ip_tcp`), and called from the command line as Samba's
//! `rpcclient` would (`echoaddone`, `echodata`, `sinkdata`, `sourcedata`, ...).

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
    /// Call an rpcecho server, on a named pipe or with --tcp: prints the result as one line.
    Call {
        /// Pipe name (`\\.\pipe\NAME` or `NAME`); not needed with --tcp.
        #[arg(long, value_parser = names::pipe, required_unless_present = "tcp")]
        pipe: Option<String>,
        /// The server's TCP address instead.
        #[arg(long, value_name = "ADDR")]
        tcp: Option<SocketAddr>,
        #[command(subcommand)]
        op: Op,
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
        Command::Call { pipe, tcp, op } => match (tcp, pipe) {
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
                "pipework rpc call: give --pipe NAME or --tcp ADDR",
            )),
        },
    }
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

fn call<S: io::Read + io::Write>(mut echo: RpcechoClient<S>, op: &Op) -> io::Result<()> {
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
