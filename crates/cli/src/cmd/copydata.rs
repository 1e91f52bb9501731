//! `pipework copydata listen|send`: a window that prints the `WM_COPYDATA` it receives, and a
//! sender of `WM_COPYDATA` to a window found by handle, class or title.

use std::io::{self, Read, Write};
use std::time::Duration;

use clap::Subcommand;
use pipework::window::{self, Hwnd, Window};
use serde_json::json;

use crate::output::{self, note};

/// Options of `pipework copydata`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Creates a window and writes the data of each WM_COPYDATA it receives to standard output
    /// (as it is, or one JSON object per message with --json).
    Listen {
        /// The window's class.
        #[arg(long, default_value = "pipework.CopyData")]
        class: String,
        /// The window's title.
        #[arg(long, default_value = "")]
        title: String,
        /// What each message is answered with (the sender's result).
        #[arg(long, default_value_t = 1)]
        result: isize,
        /// Exits after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// One JSON object per message: sender, kind, size, data (UTF-8 text, else hex).
        #[arg(long)]
        json: bool,
    },
    /// Sends DATA (or standard input) as one WM_COPYDATA and prints the receiver's result.
    Send {
        /// The target's handle (as `window list` prints it).
        #[arg(long, conflicts_with_all = ["class", "title"])]
        to: Option<String>,
        /// The target's class (the first window of it, with --title if given).
        #[arg(long)]
        class: Option<String>,
        /// The target's title.
        #[arg(long)]
        title: Option<String>,
        /// The kind (`dwData`).
        #[arg(long, default_value_t = 0)]
        kind: usize,
        /// Gives up after this many milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
        /// The data; standard input when absent.
        data: Option<String>,
        /// Prints `{"result": N}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `pipework copydata`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::Listen {
            class,
            title,
            result,
            count,
            json,
        } => listen(class, title, *result, *count, *json),
        Command::Send {
            to,
            class,
            title,
            kind,
            timeout_ms,
            data,
            json,
        } => {
            let target = match to {
                Some(h) => h.parse::<Hwnd>()?,
                None => window::find_window(
                    Some(class.as_deref().unwrap_or("pipework.CopyData")),
                    title.as_deref(),
                )?
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such window"))?,
            };
            let bytes = match data {
                Some(d) => d.clone().into_bytes(),
                None => {
                    let mut v = Vec::new();
                    io::stdin().read_to_end(&mut v)?;
                    v
                }
            };
            let r = window::copy_data(
                target,
                *kind,
                &bytes,
                Some(Duration::from_millis(*timeout_ms)),
            )?;
            let mut out = output::stdout();
            if *json {
                writeln!(out, "{}", json!({ "result": r }))?;
            } else {
                writeln!(out, "{r}")?;
            }
            out.flush()
        }
    }
}

fn listen(
    class: &str,
    title: &str,
    result: isize,
    count: Option<u64>,
    json: bool,
) -> io::Result<()> {
    let window = Window::create(class, title)?;
    note!(
        "listening: window {} class {class:?} title {title:?}",
        window.hwnd()
    );
    let mut seen = 0;
    while count.is_none_or(|c| seen < c) {
        let m = window.get_message();
        let Some((kind, data)) = m.copy_data() else {
            continue;
        };
        let origin = m.origin();
        let mut out = output::stdout();
        if json {
            let data_field = match std::str::from_utf8(data) {
                Ok(text) => json!({ "text": text }),
                Err(_) => {
                    json!({ "hex": data.iter().map(|b| format!("{b:02x}")).collect::<String>() })
                }
            };
            let line = json!({
                "pid": origin.pid,
                "uid": origin.uid,
                "window": origin.window.map(|h| h.to_string()),
                "kind": kind,
                "size": data.len(),
                "data": data_field,
            });
            writeln!(out, "{line}")?;
        } else {
            out.write_all(data)?;
        }
        out.flush()?;
        drop(out);
        m.reply(result);
        seen += 1;
    }
    Ok(())
}
