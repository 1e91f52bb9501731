//! `pipework mapping`: create, inspect, read, write and remove named file mappings.

use std::io::{self, Read, Write};

use clap::Subcommand;
use pipework::mapping::{Access, FileMapping};

/// Options of `pipework mapping`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a named memory-backed mapping (or open it if it exists) and hold it until standard
    /// input ends or the process is stopped: a mapping lives as long as someone holds it.
    Create {
        /// `Local\name` (or just `name`), `Global\name`, or `/name` for a POSIX shared-memory
        /// name.
        name: String,
        /// Size in bytes.
        #[arg(long)]
        size: u64,
        /// Print the info and exit at once instead of holding the mapping (it is then removed,
        /// unless another process holds it).
        #[arg(long)]
        no_hold: bool,
    },
    /// Open an existing mapping and print its info (fails if there is none).
    Open {
        /// Its name.
        name: String,
        /// Open it for writing too.
        #[arg(long)]
        write: bool,
    },
    /// Copy bytes out of a mapping to standard output.
    Read {
        /// Its name.
        name: String,
        /// Where to start.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// How many bytes (default: to the end).
        #[arg(long)]
        len: Option<usize>,
        /// Print as hexadecimal instead of raw bytes.
        #[arg(long)]
        hex: bool,
    },
    /// Copy bytes into a mapping: DATA, or standard input when DATA is absent.
    Write {
        /// Its name.
        name: String,
        /// The bytes to write (as text).
        data: Option<String>,
        /// Where to start.
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Print a mapping's name, size and OS name (the name Python's
    /// `multiprocessing.shared_memory.SharedMemory(name=...)` attaches by).
    Info {
        /// Its name.
        name: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove a mapping's name now (holders keep their views; the name is free again).
    Remove {
        /// Its name.
        name: String,
    },
}

/// Runs `pipework mapping ...`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::Create {
            name,
            size,
            no_hold,
        } => {
            let mapping = FileMapping::create(name, *size)?;
            print_info(&mapping, false)?;
            if !no_hold {
                eprintln!(
                    "holding {name} until standard input ends ({})",
                    if mapping.already_existed() {
                        "it already existed"
                    } else {
                        "created"
                    }
                );
                io::stdout().flush()?;
                let mut sink = Vec::new();
                io::stdin().read_to_end(&mut sink)?;
            }
            Ok(())
        }
        Command::Open { name, write } => {
            let access = if *write { Access::Write } else { Access::Read };
            print_info(&FileMapping::open(name, access)?, false)
        }
        Command::Info { name, json } => print_info(&FileMapping::open(name, Access::Read)?, *json),
        Command::Read {
            name,
            offset,
            len,
            hex,
        } => {
            let mapping = FileMapping::open(name, Access::Read)?;
            let view = mapping.map_view(Access::Read, 0, 0)?;
            let len = match len {
                Some(len) => *len,
                None => view.len().checked_sub(*offset).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{name}: offset {offset} is past its {} bytes", view.len()),
                    )
                })?,
            };
            let mut buf = vec![0u8; len];
            view.read(*offset, &mut buf)?;
            let mut out = io::stdout().lock();
            if *hex {
                for line in buf.chunks(16) {
                    let text: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
                    writeln!(out, "{}", text.join(" "))?;
                }
            } else {
                out.write_all(&buf)?;
            }
            out.flush()
        }
        Command::Write { name, data, offset } => {
            let bytes = match data {
                Some(text) => text.as_bytes().to_vec(),
                None => {
                    let mut all = Vec::new();
                    io::stdin().read_to_end(&mut all)?;
                    all
                }
            };
            let mapping = FileMapping::open(name, Access::Write)?;
            let view = mapping.map_view(Access::Write, 0, 0)?;
            view.write(*offset, &bytes)?;
            eprintln!("wrote {} bytes at offset {offset} of {name}", bytes.len());
            Ok(())
        }
        Command::Remove { name } => FileMapping::remove(name),
    }
}

fn print_info(mapping: &FileMapping, json: bool) -> io::Result<()> {
    let name = mapping.name().unwrap_or("");
    let os_name = mapping.os_name().unwrap_or("");
    let size = mapping.size()?;
    if json {
        let value = serde_json::json!({
            "name": name,
            "kind": "mapping",
            "size": size,
            "os_name": os_name,
            "path": format!("/dev/shm/{os_name}"),
        });
        println!("{value}");
    } else {
        println!("name:    {name}");
        println!("kind:    mapping");
        println!("size:    {size}");
        println!("os name: {os_name}");
        println!("path:    /dev/shm/{os_name}");
    }
    Ok(())
}
