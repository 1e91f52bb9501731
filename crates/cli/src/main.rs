//! `pipework`: benchmarks, servers and clients for every pipework mechanism.
//!
//! One module per subcommand in [`cmd`], all the same shape; the measuring behind
//! `pipework bench` in [`bench`]; short object names made full in [`names`]; everything printed
//! goes through [`output`].

mod bench;
mod cmd;
mod names;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The Windows interprocess-communication model on Linux.
#[derive(Parser)]
#[command(name = "pipework", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure every mechanism between real processes, beside its raw baseline.
    Bench(cmd::bench::Args),
    /// Named file mappings: create, open, read, write, info, remove.
    Mapping(cmd::mapping::Args),
    /// Mailslots: `read` creates one and prints its messages, `send` drops messages into one.
    Mailslot(cmd::mailslot::Args),
    /// Named pipes: serve, connect, call, path.
    Pipe(cmd::pipe::Args),
    /// Shared-memory pipes met by name: listen, send.
    Shm(cmd::shm::Args),
    /// RPC: gRPC by server reflection (list, call, serve-demo) and Samba's rpcecho DCE/RPC
    /// interface (serve-echo, call --pipe/--tcp).
    Rpc(cmd::rpc::Args),
    /// The smb.conf lines that let other machines reach this one's pipes through Samba.
    SmbSetup(cmd::smb_setup::Args),
    /// This user's live named objects: pipes, shared-memory pipes, mailslots, mappings, sync
    /// objects.
    List(cmd::list::Args),
    /// Message windows of this session: list.
    Window(cmd::window::Args),
    /// WM_COPYDATA: `listen` creates a window and prints what it receives, `send` sends.
    Copydata(cmd::copydata::Args),
    /// DDE: serve items, request, poke, execute, advise.
    Dde(cmd::dde::Args),
    /// The clipboard (X11's, or a headless one): set, get, formats, watch, clear.
    Clipboard(cmd::clipboard::Args),
    /// Internal: the far side of a benchmark, started by `pipework bench`.
    #[command(name = "__bench-child", hide = true)]
    BenchChild(cmd::bench_child::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Bench(args) => cmd::bench::run(args),
        Command::Mapping(args) => cmd::mapping::run(args),
        Command::Mailslot(args) => cmd::mailslot::run(args),
        Command::Pipe(args) => cmd::pipe::run(args),
        Command::Shm(args) => cmd::shm::run(args),
        Command::Rpc(args) => cmd::rpc::run(args),
        Command::SmbSetup(args) => cmd::smb_setup::run(args),
        Command::List(args) => cmd::list::run(args),
        Command::Clipboard(args) => cmd::clipboard::run(args),
        Command::BenchChild(args) => cmd::bench_child::run(args),
        Command::Window(args) => cmd::window::run(args),
        Command::Copydata(args) => cmd::copydata::run(args),
        Command::Dde(args) => cmd::dde::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`pipework list | head -1`): the command ends
        // quietly with status 0, as `ls | head` does from the caller's point of view. Not 141
        // (128 + SIGPIPE): nothing failed, the reader simply wanted no more.
        Err(e) if output::is_closed(&e) => ExitCode::SUCCESS,
        Err(e) => {
            output::note!("pipework: {}", output::error(&e));
            ExitCode::FAILURE
        }
    }
}
