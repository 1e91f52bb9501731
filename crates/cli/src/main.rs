//! `pipework`: benchmarks, servers and clients for every pipework mechanism.

mod bench;
mod list;
mod mailslot;
mod mapping;
mod pipe_cmd;
mod shm_cmd;

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
    Bench(bench::BenchArgs),
    /// Named file mappings: create, open, read, write, info, remove.
    Mapping(mapping::MappingArgs),
    /// Mailslots: `read` creates one and prints its messages, `send` drops messages into one.
    Mailslot(mailslot::MailslotArgs),
    /// Named pipes: serve, connect, call, path.
    Pipe {
        #[command(subcommand)]
        command: pipe_cmd::PipeCommand,
    },
    /// Shared-memory pipes met by name: listen, send.
    Shm {
        #[command(subcommand)]
        command: shm_cmd::ShmCommand,
    },
    /// This user's live named objects: pipes, shared-memory pipes, mailslots, mappings, sync
    /// objects.
    List,
    /// Internal: the far side of a benchmark, started by `pipework bench`.
    #[command(name = "__bench-child", hide = true)]
    BenchChild {
        /// Mechanism, role and role arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Mapping(args) => mapping::run(&args),
        Command::Mailslot(args) => mailslot::run(&args),
        Command::List => list::run(),
        Command::BenchChild { args } => bench::child(&args),
        Command::Pipe { command } => pipe_cmd::run(&command),
        Command::Shm { command } => shm_cmd::run(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipework: {e}");
            ExitCode::FAILURE
        }
    }
}
