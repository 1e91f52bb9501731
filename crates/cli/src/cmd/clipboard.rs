//! `pipework clipboard`: set, get, list, watch and clear the clipboard from a shell, as
//! `xclip` / `wl-copy` do, with Win32's formats.
//!
//! The clipboard is the Wayland compositor's (`WAYLAND_DISPLAY` set and the compositor offers
//! the data-control protocol), else the X11 display's (`DISPLAY` set), else this user's
//! headless one named `default`; `--headless NAME`, `--wayland D` and `--display D` choose. Text goes in and out as UTF-8 (the
//! text formats are stored as Win32 holds them: UTF-16 with a NUL for `CF_UNICODETEXT`), file
//! lists (`CF_HDROP`) as one path a line (`--mime text/uri-list`: as `file://` URIs), anything
//! else as raw bytes.
//!
//! On X11 and Wayland the owner must stay to serve the data: `set` leaves a copy of itself in
//! the background holding the clipboard until another program takes it (as `xclip` and
//! `wl-copy` do); `--foreground` holds it in this process instead.

use std::io::{self, Read, Write};
use std::time::Duration;

use clap::Subcommand;
use pipework::clipboard::{
    decode_hdrop, decode_text, encode_hdrop, encode_text, format_by_name, format_name,
    register_format, Backend, Session, CF_DIB, CF_HDROP, CF_UNICODETEXT, PNG,
};

use crate::output::{self, note};

/// How long a command waits for another process to close the clipboard.
const OPEN_WAIT: Duration = Duration::from_secs(10);

/// Options of `pipework clipboard`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Use this user's headless clipboard NAME (default when no display: `default`).
    #[arg(long, global = true, conflicts_with_all = ["display", "wayland"])]
    headless: Option<String>,
    /// Use the X11 display D's clipboard (default: $DISPLAY).
    #[arg(long, global = true, conflicts_with = "wayland")]
    display: Option<String>,
    /// Use the Wayland display D's clipboard (a socket name under $XDG_RUNTIME_DIR, or a path;
    /// default: $WAYLAND_DISPLAY).
    #[arg(long, global = true)]
    wayland: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug, Clone)]
struct Which {
    /// The format: a standard name (`CF_TEXT`, `unicodetext`, `hdrop`), a number (`13`,
    /// `0x200`), or a registered format's name. Default: text.
    #[arg(long, conflicts_with = "mime")]
    format: Option<String>,
    /// The format as a MIME type: text/plain, image/png (the registered `PNG`), image/bmp
    /// (`CF_DIB`), text/uri-list (`CF_HDROP`); any other is a registered format of that name.
    #[arg(long)]
    mime: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Empty the clipboard and put standard input on it (as text unless --format/--mime).
    Set {
        #[command(flatten)]
        which: Which,
        /// On X11 and Wayland: hold the clipboard in this process until another program takes
        /// it, instead of in a background copy of this command.
        #[arg(long)]
        foreground: bool,
    },
    /// Write the clipboard's data in one format to standard output (status 1 if it has none).
    Get {
        #[command(flatten)]
        which: Which,
    },
    /// List the formats available, in order (synthesized ones last): number and name.
    Formats {
        /// One JSON array of {"format", "name"} objects.
        #[arg(long)]
        json: bool,
    },
    /// Print a line (the sequence number and the formats) on each change, until stopped.
    Watch {
        /// Stop after this many changes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Empty the clipboard.
    Clear,
    /// Internal: the background holder of `set` on X11 and Wayland (reads the data on stdin).
    #[command(name = "__hold", hide = true)]
    Hold {
        /// The format number.
        format: u32,
    },
}

fn session(args: &Args) -> io::Result<Session> {
    if let Some(name) = &args.headless {
        return Session::headless(name);
    }
    if let Some(display) = &args.display {
        return x11(display);
    }
    if let Some(display) = &args.wayland {
        return wayland(display);
    }
    Session::system()
}

#[cfg(feature = "wayland")]
fn wayland(display: &str) -> io::Result<Session> {
    Session::wayland(Some(display))
}

#[cfg(not(feature = "wayland"))]
fn wayland(_display: &str) -> io::Result<Session> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this pipework was built without the wayland feature",
    ))
}

#[cfg(feature = "x11")]
fn x11(display: &str) -> io::Result<Session> {
    Session::x11(Some(display))
}

#[cfg(not(feature = "x11"))]
fn x11(_display: &str) -> io::Result<Session> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this pipework was built without the x11 feature",
    ))
}

/// The format a `--format`/`--mime` pair names, and whether its data is a file list in URIs.
fn format_of(which: &Which) -> io::Result<(u32, bool)> {
    if let Some(mime) = &which.mime {
        let lower = mime.to_ascii_lowercase();
        return Ok(match lower.as_str() {
            m if m == "text/plain" || m.starts_with("text/plain;") => (CF_UNICODETEXT, false),
            "image/png" => (register_format(PNG)?, false),
            "image/bmp" => (CF_DIB, false),
            "text/uri-list" => (CF_HDROP, true),
            _ => (register_format(mime)?, false),
        });
    }
    match &which.format {
        Some(name) => Ok((format_by_name(name)?, false)),
        None => Ok((CF_UNICODETEXT, false)),
    }
}

/// Standard input's bytes as `format` holds them.
fn to_clipboard(format: u32, uris: bool, input: &[u8]) -> Vec<u8> {
    let text = || String::from_utf8_lossy(input).into_owned();
    match format {
        1 | 7 | 13 => encode_text(format, &text()),
        CF_HDROP => {
            let paths: Vec<String> = text()
                .lines()
                .filter(|l| !(l.is_empty() || uris && l.starts_with('#')))
                .map(|l| {
                    if uris {
                        uri_to_path(l.trim())
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            encode_hdrop(&paths)
        }
        _ => input.to_vec(),
    }
}

/// `format`'s data as it goes to standard output.
fn from_clipboard(format: u32, uris: bool, data: &[u8]) -> io::Result<Vec<u8>> {
    Ok(match format {
        1 | 7 | 13 => decode_text(format, data).into_bytes(),
        CF_HDROP => {
            let mut out = String::new();
            for path in decode_hdrop(data)? {
                if uris {
                    out.push_str("file://");
                    for b in path.bytes() {
                        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
                            out.push(char::from(b));
                        } else {
                            out.push_str(&format!("%{b:02X}"));
                        }
                    }
                    out.push_str("\r\n");
                } else {
                    out.push_str(&path);
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
        _ => data.to_vec(),
    })
}

fn uri_to_path(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("file://") else {
        return uri.to_string();
    };
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or(rest);
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn put(session: &Session, format: u32, data: &[u8]) -> io::Result<()> {
    let mut clipboard = session.open(OPEN_WAIT)?;
    clipboard.empty()?;
    clipboard.set(format, data)
}

/// Holds an X11 or Wayland clipboard until another program takes it.
fn hold(session: &Session) -> io::Result<()> {
    let mut listener = session.listen()?;
    while session.owner()?.is_some() {
        listener.wait(None)?;
    }
    Ok(())
}

/// Runs `pipework clipboard ...`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::Set { which, foreground } => {
            let (format, uris) = format_of(which)?;
            let mut input = Vec::new();
            io::stdin().read_to_end(&mut input)?;
            let data = to_clipboard(format, uris, &input);
            let session = session(args)?;
            if session.backend() != Backend::Headless && !foreground {
                return hold_in_background(args, format, &data);
            }
            put(&session, format, &data)?;
            if session.backend() != Backend::Headless {
                note!("holding the clipboard until another program takes it");
                hold(&session)?;
            }
            Ok(())
        }
        Command::Hold { format } => {
            let mut data = Vec::new();
            io::stdin().read_to_end(&mut data)?;
            let session = session(args)?;
            put(&session, *format, &data)?;
            // Tell the parent the clipboard is held, then let go of the shared output.
            let mut out = output::stdout();
            writeln!(out, "held")?;
            out.flush()?;
            drop(out);
            hold(&session)
        }
        Command::Get { which } => {
            let (format, uris) = format_of(which)?;
            let session = session(args)?;
            let clipboard = session.open(OPEN_WAIT)?;
            match clipboard.get(format)? {
                Some(data) => {
                    let mut out = output::stdout();
                    out.write_all(&from_clipboard(format, uris, &data)?)?;
                    out.flush()
                }
                None => Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("clipboard: no {} on it", format_name(format)),
                )),
            }
        }
        Command::Formats { json } => {
            let session = session(args)?;
            let formats = session.open(OPEN_WAIT)?.formats()?;
            let mut out = output::stdout();
            if *json {
                let list: Vec<serde_json::Value> = formats
                    .iter()
                    .map(|&f| serde_json::json!({"format": f, "name": format_name(f)}))
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(list))?;
            } else {
                for f in formats {
                    writeln!(out, "{f}\t{}", output::escape(&format_name(f)))?;
                }
            }
            out.flush()
        }
        Command::Watch { count } => {
            let session = session(args)?;
            let mut listener = session.listen()?;
            note!("watching the clipboard");
            let mut seen = 0;
            while count.is_none_or(|c| seen < c) {
                let Some(seq) = listener.wait(None)? else {
                    continue;
                };
                seen += 1;
                let formats = session
                    .open(OPEN_WAIT)?
                    .formats()?
                    .into_iter()
                    .map(format_name)
                    .collect::<Vec<_>>()
                    .join(",");
                let mut out = output::stdout();
                writeln!(out, "{seq} {}", output::escape(&formats))?;
                out.flush()?;
            }
            Ok(())
        }
        Command::Clear => {
            let session = session(args)?;
            let mut clipboard = session.open(OPEN_WAIT)?;
            clipboard.empty()
        }
    }
}

/// Starts `pipework clipboard __hold` in the background with the data and returns once it holds
/// the clipboard.
fn hold_in_background(args: &Args, format: u32, data: &[u8]) -> io::Result<()> {
    use std::process::{Command as Process, Stdio};
    let mut command = Process::new(std::env::current_exe()?);
    command.arg("clipboard");
    if let Some(display) = &args.display {
        command.args(["--display", display]);
    }
    if let Some(display) = &args.wayland {
        command.args(["--wayland", display]);
    }
    command
        .args(["__hold", &format.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(data)?;
    drop(stdin);
    let mut said = String::new();
    let mut stdout = child.stdout.take().expect("piped");
    // The holder says "held" once it owns the clipboard, or ends (a failure).
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte)? == 1 && byte[0] != b'\n' {
        said.push(char::from(byte[0]));
    }
    if said != "held" {
        let status = child.wait()?;
        return Err(io::Error::other(format!(
            "the background holder of the clipboard failed ({status})"
        )));
    }
    note!(
        "holding the clipboard in process {} until another program takes it",
        child.id()
    );
    Ok(())
}
