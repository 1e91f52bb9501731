//! `pipework mailslot read|send`: a mailslot server that prints what it receives, and a client
//! that drops messages into a slot.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use pipework::mailslot::{Mailslot, MailslotClient};

/// `pipework mailslot ...`.
#[derive(Args, Debug)]
pub struct MailslotArgs {
    #[command(subcommand)]
    command: MailslotCommand,
}

#[derive(Subcommand, Debug)]
enum MailslotCommand {
    /// Create the mailslot NAME and print each message it receives, one per line.
    Read {
        /// `\\.\mailslot\[path\]name`.
        name: String,
        /// Largest message writers may send (0: any size).
        #[arg(long, default_value_t = 0)]
        max_size: usize,
        /// Give up when no message arrives for this many milliseconds (default: wait forever).
        #[arg(long)]
        timeout: Option<u64>,
        /// Stop after this many messages (default: never).
        #[arg(long)]
        count: Option<u64>,
    },
    /// Drop each TEXT into the mailslot NAME as one message (without TEXT: each line of stdin).
    Send {
        /// `\\.\mailslot\[path\]name`.
        name: String,
        /// The messages.
        text: Vec<String>,
    },
}

/// Runs `pipework mailslot ...`.
pub fn run(args: &MailslotArgs) -> io::Result<()> {
    match &args.command {
        MailslotCommand::Read {
            name,
            max_size,
            timeout,
            count,
        } => read(name, *max_size, timeout.map(Duration::from_millis), *count),
        MailslotCommand::Send { name, text } => send(name, text),
    }
}

fn read(
    name: &str,
    max_size: usize,
    timeout: Option<Duration>,
    count: Option<u64>,
) -> io::Result<()> {
    let mut slot = Mailslot::create(name, max_size, timeout)?;
    eprintln!("pipework: reading mailslot {}", slot.name());
    let stdout = io::stdout();
    let mut received = 0;
    while count.is_none_or(|c| received < c) {
        let message = slot.read_message()?;
        let mut out = stdout.lock();
        out.write_all(&message)?;
        out.write_all(b"\n")?;
        out.flush()?;
        received += 1;
    }
    Ok(())
}

fn send(name: &str, text: &[String]) -> io::Result<()> {
    let client = MailslotClient::open(name)?;
    if text.is_empty() {
        for line in io::stdin().lock().lines() {
            client.send(line?.as_bytes())?;
        }
    } else {
        for message in text {
            client.send(message.as_bytes())?;
        }
    }
    Ok(())
}
