//! `pipework mapping`: create, inspect, read, write and remove named file mappings.
//!
//! Every command that describes a mapping (`create`, `open`, `info`) prints, besides its name,
//! size and file, the Python line that attaches to it without removing it: up to Python 3.12,
//! `multiprocessing.shared_memory.SharedMemory(name=...)` hands what it attaches to its
//! resource tracker, which removes the name when the Python process exits.

use std::io::{self, Read, Write};

use clap::Subcommand;
use pipework::mapping::{Access, FileMapping};

use crate::output::{self, note};

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
        /// The info as one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Open an existing mapping and print its info (fails if there is none).
    Open {
        /// Its name.
        name: String,
        /// Open it for writing too.
        #[arg(long)]
        write: bool,
        /// The info as one JSON object instead of text.
        #[arg(long)]
        json: bool,
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
    /// Print a mapping's name, size, OS name and the Python line that attaches to it safely.
    ///
    /// Python's `multiprocessing.shared_memory.SharedMemory(name=OS_NAME)` attaches by the OS
    /// name, but up to Python 3.12 its resource tracker REMOVES the mapping's name when the
    /// Python process exits (later opens by name fail). Attach with `track=False` (Python 3.13
    /// and later) or unregister it from the tracker right after attaching (3.8 to 3.12), and
    /// never call `unlink()`: the lines printed here do it right.
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

/// Bytes copied out of a view at a time by `read` (a multiple of 16, the bytes of a hex line).
const PIECE: usize = 64 << 10;

/// Runs `pipework mapping ...`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::Create {
            name,
            size,
            no_hold,
            json,
        } => {
            let mapping = FileMapping::create(name, *size)?;
            print_info(&mapping, *json)?;
            if !no_hold {
                note!(
                    "holding {} until standard input ends ({})",
                    output::escape(name),
                    if mapping.already_existed() {
                        "it already existed"
                    } else {
                        "created"
                    }
                );
                io::copy(&mut io::stdin().lock(), &mut io::sink())?;
            }
            Ok(())
        }
        Command::Open { name, write, json } => {
            let access = if *write { Access::Write } else { Access::Read };
            print_info(&FileMapping::open(name, access)?, *json)
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
            let room = room(name, view.len(), *offset)?;
            let len = match *len {
                None => room,
                Some(len) if len <= room => len,
                Some(len) => {
                    return Err(invalid(format!(
                        "file mapping {name}: --len {len} from offset {offset} runs past its {} \
                         bytes (at most {room} from there)",
                        view.len()
                    )))
                }
            };
            // Piece by piece: the output never needs more memory than a piece, however large
            // the mapping.
            let mut out = output::stdout();
            let mut piece = vec![0u8; PIECE.min(len)];
            let mut done = 0;
            while done < len {
                let buf = &mut piece[..PIECE.min(len - done)];
                view.read(offset + done, buf)?;
                if *hex {
                    for line in buf.chunks(16) {
                        let text: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
                        writeln!(out, "{}", text.join(" "))?;
                    }
                } else {
                    out.write_all(buf)?;
                }
                done += buf.len();
            }
            out.flush()
        }
        Command::Write { name, data, offset } => {
            let mapping = FileMapping::open(name, Access::Write)?;
            let view = mapping.map_view(Access::Write, 0, 0)?;
            let room = room(name, view.len(), *offset)?;
            let bytes = match data {
                Some(text) => text.as_bytes().to_vec(),
                None => {
                    // One byte more than fits tells a too-long input from one that just fits,
                    // without reading an endless one for ever.
                    let mut all = Vec::new();
                    io::stdin()
                        .lock()
                        .take(room as u64 + 1)
                        .read_to_end(&mut all)?;
                    all
                }
            };
            if bytes.len() > room {
                return Err(invalid(format!(
                    "file mapping {name}: the data runs past its {} bytes (at most {room} from \
                     offset {offset})",
                    view.len()
                )));
            }
            view.write(*offset, &bytes)?;
            note!(
                "wrote {} bytes at offset {offset} of {}",
                bytes.len(),
                output::escape(name)
            );
            Ok(())
        }
        Command::Remove { name } => FileMapping::remove(name),
    }
}

/// The bytes of a mapping of `size` bytes from `offset` to its end; an error naming the mapping
/// when `offset` is past that end.
fn room(name: &str, size: usize, offset: usize) -> io::Result<usize> {
    size.checked_sub(offset).ok_or_else(|| {
        invalid(format!(
            "file mapping {name}: offset {offset} is past its {size} bytes"
        ))
    })
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The Python statements that attach to the POSIX shared-memory object `os_name` without
/// handing it to the resource tracker (which would remove it when Python exits): `(for Python
/// 3.13 and later, for Python 3.8 to 3.12)`. Each binds `shm`.
pub fn python_attach(os_name: &str) -> (String, String) {
    // A JSON string is a Python string literal too (the same escapes), whatever the name holds.
    let literal = serde_json::Value::from(os_name).to_string();
    (
        format!(
            "from multiprocessing.shared_memory import SharedMemory; \
             shm = SharedMemory(name={literal}, track=False)"
        ),
        format!(
            "from multiprocessing import shared_memory, resource_tracker; \
             shm = shared_memory.SharedMemory(name={literal}); \
             resource_tracker.unregister(shm._name, \"shared_memory\")"
        ),
    )
}

fn print_info(mapping: &FileMapping, json: bool) -> io::Result<()> {
    let name = mapping.name().unwrap_or("");
    let os_name = mapping.os_name().unwrap_or("");
    let size = mapping.size()?;
    let (python_3_13, python_3_8) = python_attach(os_name);
    let mut out = output::stdout();
    if json {
        let value = serde_json::json!({
            "name": name,
            "kind": "mapping",
            "size": size,
            "os_name": os_name,
            "path": format!("/dev/shm/{os_name}"),
            "python": {
                "3.13+": python_3_13,
                "3.8-3.12": python_3_8,
            },
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "name:    {}", output::escape(name))?;
        writeln!(out, "kind:    mapping")?;
        writeln!(out, "size:    {size}")?;
        writeln!(out, "os name: {}", output::escape(os_name))?;
        writeln!(out, "path:    /dev/shm/{}", output::escape(os_name))?;
        writeln!(
            out,
            "python:  attach with the line for your version (never call shm.unlink()):"
        )?;
        writeln!(out, "  3.13+:    {}", output::escape(&python_3_13))?;
        writeln!(out, "  3.8-3.12: {}", output::escape(&python_3_8))?;
    }
    out.flush()
}
