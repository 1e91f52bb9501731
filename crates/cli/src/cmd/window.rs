//! `pipework window list`: the message windows of this user's session (what `FindWindow` and
//! `EnumWindows` see), optionally only those of a class or title.

use std::io::{self, Write};

use clap::Subcommand;
use serde_json::json;

use crate::output::{self, escape};

/// Options of `pipework window`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Lists the windows: handle, owner pid, class, title.
    List {
        /// Only windows of this class (compared without regard to case).
        #[arg(long)]
        class: Option<String>,
        /// Only windows with this title (compared without regard to case).
        #[arg(long)]
        title: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `pipework window`.
pub fn run(args: &Args) -> io::Result<()> {
    let Command::List { class, title, json } = &args.command;
    let windows = pipework::window::find_windows(class.as_deref(), title.as_deref())?;
    let mut out = output::stdout();
    for w in windows {
        if *json {
            let line = json!({
                "hwnd": w.hwnd.to_string(),
                "pid": w.pid,
                "class": w.class,
                "title": w.title,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{}  {:>7}  {}  {}",
                w.hwnd,
                w.pid,
                escape(&w.class),
                escape(&w.title)
            )?;
        }
    }
    out.flush()
}
