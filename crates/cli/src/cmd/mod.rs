//! One module per subcommand, each the same shape: an [`clap::Args`] struct named `Args` and a
//! `run(&Args) -> io::Result<()>`; a command with subcommands of its own keeps them in a private
//! `Command` enum inside its `Args`.

pub mod bench;
pub mod bench_child;
pub mod clipboard;
pub mod copydata;
pub mod dde;
pub mod list;
pub mod mailslot;
pub mod mapping;
pub mod pipe;
pub mod rpc;
pub mod shm;
pub mod smb_setup;
pub mod window;
