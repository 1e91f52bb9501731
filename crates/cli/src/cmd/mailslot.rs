//! `pipework mailslot read|send`: a mailslot server that prints what it receives, and a client
//! that drops messages into a slot.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use clap::Subcommand;
use pipework::mailslot::{Mailslot, MailslotClient, MailslotOptions, NetworkConfig, Wire};

use crate::names;
use crate::output::{self, note};

/// Options of `pipework mailslot`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Where network messages travel (names `\\host\...`, `\\*\...`, `\\domain\...`) and the
/// names this computer answers to.
#[derive(clap::Args, Debug)]
struct NetArgs {
    /// Interface to listen and send on: its name (eth0) or one of its IPv4 addresses. Nothing
    /// reaches the network without it.
    #[arg(long)]
    interface: Option<String>,
    /// This computer's NetBIOS name (default: the host name, upper-cased, at most 15 characters).
    #[arg(long)]
    netbios_name: Option<String>,
    /// This computer's workgroup or domain (`\\*\mailslot\...` goes to it).
    #[arg(long, default_value = pipework::mailslot::DEFAULT_WORKGROUP)]
    workgroup: String,
    /// NetBIOS scope (dot-separated labels; default none).
    #[arg(long, default_value = "")]
    scope: String,
    /// Suffix (hex) of the group name that domain and `\\*` messages go to: 0 (what Windows
    /// sends), 1d (the master browser), 1e (browser elections).
    #[arg(long, default_value = "0", value_parser = suffix)]
    group_suffix: u8,
    /// Also take datagrams sent to this NetBIOS name, as NAME<hex suffix> (for instance
    /// WORKGROUP<1d>, the master browser's name, to hear host announcements). Repeatable.
    #[arg(long = "also-receive", value_parser = extra_name)]
    extra_names: Vec<(String, u8)>,
    /// The datagram format: netbios (what Windows and Samba speak) or pipework (pipework's own:
    /// up to 64 KB to one host, multicast groups).
    #[arg(long, value_enum, default_value_t = WireArg::Netbios)]
    wire: WireArg,
    /// UDP port of mailslot datagrams.
    #[arg(long, default_value_t = pipework::mailslot::DATAGRAM_PORT)]
    port: u16,
    /// UDP port of NetBIOS name queries.
    #[arg(long, default_value_t = pipework::mailslot::NAME_SERVICE_PORT)]
    name_port: u16,
    /// With --wire pipework: multicast group (or broadcast address) of `\\*` and domain
    /// messages.
    #[arg(long, default_value_t = pipework::mailslot::DEFAULT_GROUP)]
    group: std::net::Ipv4Addr,
    /// With --wire pipework: multicast hops (1: this network segment only).
    #[arg(long, default_value_t = 1)]
    ttl: u32,
}

/// `--wire`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum WireArg {
    Netbios,
    Pipework,
}

fn suffix(text: &str) -> Result<u8, String> {
    let digits = text.trim_start_matches("0x");
    u8::from_str_radix(digits, 16).map_err(|_| format!("{text:?} is not a hex byte (00 to ff)"))
}

fn extra_name(text: &str) -> Result<(String, u8), String> {
    let (name, rest) = text
        .split_once('<')
        .ok_or_else(|| format!("{text:?} is not NAME<suffix>, as WORKGROUP<1d>"))?;
    let digits = rest
        .strip_suffix('>')
        .ok_or_else(|| format!("{text:?} is not NAME<suffix>, as WORKGROUP<1d>"))?;
    Ok((name.to_string(), suffix(digits)?))
}

impl NetArgs {
    fn config(&self) -> NetworkConfig {
        NetworkConfig {
            wire: match self.wire {
                WireArg::Netbios => Wire::Netbios,
                WireArg::Pipework => Wire::Pipework,
            },
            interface: self.interface.clone(),
            netbios_name: self.netbios_name.clone(),
            workgroup: self.workgroup.clone(),
            scope: self.scope.clone(),
            group_suffix: self.group_suffix,
            extra_names: self.extra_names.clone(),
            port: self.port,
            name_port: self.name_port,
            group: self.group,
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
        /// Also take messages from the network (NetBIOS datagrams on UDP 138 of --interface;
        /// off unless given).
        #[arg(long)]
        listen: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Drop each TEXT into the mailslot NAME as one message (without TEXT: each line of stdin).
    Send {
        /// `\\.\mailslot\[path\]name`, `\\host\mailslot\...` (one host, found by a NetBIOS
        /// name query then the resolver), `\\*\mailslot\...` or `\\domain\mailslot\...`
        /// (every listening slot of the name, by broadcast on --interface); `[path\]name` alone
        /// is this computer's.
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
