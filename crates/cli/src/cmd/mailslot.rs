//! `pipework mailslot read|send`: a mailslot server that prints what it receives, and a client
//! that drops messages into a slot.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use clap::Subcommand;
use pipework::mailslot::{Mailslot, MailslotClient, MailslotOptions, NetworkConfig};

use crate::names;
use crate::output::{self, note};

/// Options of `pipework mailslot`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Where network messages travel (names `\\host\...`, `\\*\...`, `\\domain\...`).
#[derive(clap::Args, Debug)]
struct NetArgs {
    /// UDP port of mailslot datagrams.
    #[arg(long, default_value_t = pipework::mailslot::DEFAULT_PORT)]
    port: u16,
    /// Multicast group (or broadcast address) of `\\*` and domain messages.
    #[arg(long, default_value_t = pipework::mailslot::DEFAULT_GROUP)]
    group: std::net::Ipv4Addr,
    /// Local address of the interface to send and join on (default: the kernel's choice).
    #[arg(long)]
    interface: Option<std::net::Ipv4Addr>,
    /// Domain of this computer (a server in it receives `\\domain\mailslot\...`).
    #[arg(long, default_value = pipework::mailslot::DEFAULT_DOMAIN)]
    domain: String,
    /// Multicast hops (1: this network segment only).
    #[arg(long, default_value_t = 1)]
    ttl: u32,
}

impl NetArgs {
    fn config(&self) -> NetworkConfig {
        NetworkConfig {
            port: self.port,
            group: self.group,
            interface: self.interface.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            domain: self.domain.clone(),
            ttl: self.ttl,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the mailslot NAME and print each message it receives, one per line.
    Read {
        /// `\\.\mailslot\[path\]name`, or just `[path\]name`.
        #[arg(value_parser = names::mailslot)]
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
        /// Also take messages from the network (UDP; off unless given).
        #[arg(long)]
        listen: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Drop each TEXT into the mailslot NAME as one message (without TEXT: each line of stdin).
    Send {
        /// `\\.\mailslot\[path\]name`, `\\host\mailslot\...` (one host over UDP),
        /// `\\*\mailslot\...` or `\\domain\mailslot\...` (every listening slot of the name);
        /// `[path\]name` alone is this computer's.
        #[arg(value_parser = names::mailslot)]
        name: String,
        /// The messages.
        text: Vec<String>,
        #[command(flatten)]
        net: NetArgs,
    },
}

/// Runs `pipework mailslot ...`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::Read {
            name,
            max_size,
            timeout,
            count,
            listen,
            net,
        } => {
            let mut slot = MailslotOptions::new()
                .max_message_size(*max_size)
                .read_timeout(timeout.map(Duration::from_millis))
                .create(name)?;
            if *listen {
                slot.serve_network(&net.config())?;
            }
            read(slot, *count)
        }
        Command::Send { name, text, net } => send(name, text, &net.config()),
    }
}

fn read(mut slot: Mailslot, count: Option<u64>) -> io::Result<()> {
    note!("pipework: reading mailslot {}", output::escape(slot.name()));
    let mut out = output::stdout();
    let mut received = 0;
    while count.is_none_or(|c| received < c) {
        let mut message = Vec::new();
        slot.read_message_to_end(&mut message)?;
        out.write_all(&message)?;
        out.write_all(b"\n")?;
        out.flush()?;
        received += 1;
    }
    Ok(())
}

fn send(name: &str, text: &[String], config: &NetworkConfig) -> io::Result<()> {
    let client = MailslotClient::open_with(name, config)?;
    if text.is_empty() {
        for line in io::stdin().lock().lines() {
            client.write_message(line?.as_bytes())?;
        }
    } else {
        for message in text {
            client.write_message(message.as_bytes())?;
        }
    }
    Ok(())
}
