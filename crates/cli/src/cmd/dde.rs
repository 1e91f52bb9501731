//! `pipework dde serve|request|poke|execute|advise`: a DDE server whose items come from
//! standard input, and a client for each transaction.
//!
//! Data is shown as text: `CF_UNICODETEXT` is converted from and to UTF-16LE, every other
//! format is given as it is (with `--json`, as text when it is UTF-8, else as hex).

use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Subcommand;
use pipework::dde::{self, Ack, AdviseFlags, DdeClient, DdeServer, ItemTable, CF_UNICODETEXT};
use serde_json::{json, Value};

use crate::output::{self, escape, note};

/// Options of `pipework dde`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// The clipboard format: TEXT, UNICODETEXT, a number, or a registered format's name.
    #[arg(long, global = true, default_value = "TEXT")]
    format: String,
    /// One JSON object per line.
    #[arg(long, global = true)]
    json: bool,
    /// Transaction timeout in milliseconds.
    #[arg(long, global = true, default_value_t = 10_000)]
    timeout_ms: u64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serves SERVICE with TOPIC (repeatable). Each line of standard input `ITEM VALUE` (or
    /// `TOPIC ITEM VALUE` with several topics) sets an item and updates its links; pokes and
    /// executes from clients are printed.
    Serve {
        /// The service name.
        service: String,
        /// A topic served (the first is the one stdin lines without a topic set).
        #[arg(long = "topic", required = true)]
        topics: Vec<String>,
    },
    /// Prints ITEM's data.
    Request {
        /// The service (`*`: any).
        service: String,
        /// The topic (`*`: any).
        topic: String,
        /// The item.
        item: String,
    },
    /// Gives ITEM new data (DATA, or standard input) and prints the server's answer.
    Poke {
        /// The service (`*`: any).
        service: String,
        /// The topic (`*`: any).
        topic: String,
        /// The item.
        item: String,
        /// The data; standard input when absent.
        data: Option<String>,
    },
    /// Sends COMMAND and prints the server's answer (ack, busy, not-processed).
    Execute {
        /// The service (`*`: any).
        service: String,
        /// The topic (`*`: any).
        topic: String,
        /// The command.
        command: String,
    },
    /// Watches ITEMs with hot links (or warm with --warm) and prints each change.
    Advise {
        /// The service (`*`: any).
        service: String,
        /// The topic (`*`: any).
        topic: String,
        /// The items.
        #[arg(required = true)]
        items: Vec<String>,
        /// Warm links: a notice per change, without its data.
        #[arg(long)]
        warm: bool,
        /// Exits after this many updates.
        #[arg(long)]
        count: Option<u64>,
    },
}

fn wild(s: &str) -> Option<&str> {
    (s != "*").then_some(s)
}

fn encode(format: u32, text: &str) -> Vec<u8> {
    if format == CF_UNICODETEXT {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    } else {
        text.as_bytes().to_vec()
    }
}

fn decode(format: u32, data: &[u8]) -> Option<String> {
    if format == CF_UNICODETEXT {
        let units: Vec<u16> = data
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).ok()
    } else {
        String::from_utf8(data.to_vec()).ok()
    }
}

fn data_json(format: u32, data: &[u8]) -> Value {
    match decode(format, data) {
        Some(text) => json!({ "text": text }),
        None => json!({ "hex": data.iter().map(|b| format!("{b:02x}")).collect::<String>() }),
    }
}

fn ack_name(a: Ack) -> &'static str {
    match a {
        Ack::Ack => "ack",
        Ack::Busy => "busy",
        Ack::NotProcessed => "not-processed",
    }
}

/// Runs `pipework dde`.
pub fn run(args: &Args) -> io::Result<()> {
    let format = dde::parse_format(&args.format)?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let json = args.json;
    let print = |line: String| -> io::Result<()> {
        let mut out = output::stdout();
        writeln!(out, "{line}")?;
        out.flush()
    };
    match &args.command {
        Command::Serve { service, topics } => serve(service, topics, format, json),
        Command::Request {
            service,
            topic,
            item,
        } => {
            let client = DdeClient::new(|_| {})?;
            let mut conv = client.connect(wild(service), wild(topic))?;
            conv.set_timeout(timeout);
            let data = conv.request(item, format)?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("DDE item {item:?}: the server gave no data (not processed)"),
                )
            })?;
            if json {
                print(json!({ "item": item, "data": data_json(format, &data) }).to_string())
            } else {
                let mut out = output::stdout();
                match decode(format, &data) {
                    Some(text) => writeln!(out, "{text}")?,
                    None => out.write_all(&data)?,
                }
                out.flush()
            }
        }
        Command::Poke {
            service,
            topic,
            item,
            data,
        } => {
            let text = match data {
                Some(d) => d.clone(),
                None => {
                    let mut s = String::new();
                    io::stdin().read_to_string(&mut s)?;
                    s
                }
            };
            let client = DdeClient::new(|_| {})?;
            let mut conv = client.connect(wild(service), wild(topic))?;
            conv.set_timeout(timeout);
            let ack = conv.poke(item, format, &encode(format, &text))?;
            answer(ack, json)
        }
        Command::Execute {
            service,
            topic,
            command,
        } => {
            let client = DdeClient::new(|_| {})?;
            let mut conv = client.connect(wild(service), wild(topic))?;
            conv.set_timeout(timeout);
            let ack = conv.execute(command.as_bytes())?;
            answer(ack, json)
        }
        Command::Advise {
            service,
            topic,
            items,
            warm,
            count,
        } => {
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            let client = DdeClient::new(move |u| {
                let line = if json {
                    json!({
                        "service": u.service,
                        "topic": u.topic,
                        "item": u.item,
                        "missed": u.missed,
                        "data": u.data.map(|d| data_json(u.format, d)),
                    })
                    .to_string()
                } else {
                    let value = u
                        .data
                        .map(|d| decode(u.format, d).unwrap_or_else(|| format!("{d:02x?}")));
                    format!(
                        "{}\t{}",
                        escape(u.item),
                        value.map_or("(changed)".to_string(), |v| escape(&v))
                    )
                };
                let _ = tx.send(line);
            })?;
            let mut conv = client.connect(wild(service), wild(topic))?;
            conv.set_timeout(timeout);
            let flags = AdviseFlags {
                nodata: *warm,
                ackreq: false,
            };
            for item in items {
                let ack = conv.advise_start(item, format, flags)?;
                if ack != Ack::Ack {
                    return Err(io::Error::other(format!(
                        "DDE item {item:?}: the server refused the link ({})",
                        ack_name(ack)
                    )));
                }
            }
            let mut seen = 0;
            while count.is_none_or(|c| seen < c) {
                let Ok(line) = rx.recv() else { break };
                print(line)?;
                seen += 1;
            }
            Ok(())
        }
    }
}

fn answer(ack: Ack, json: bool) -> io::Result<()> {
    let mut out = output::stdout();
    if json {
        writeln!(out, "{}", json!({ "result": ack_name(ack) }))?;
    } else {
        writeln!(out, "{}", ack_name(ack))?;
    }
    out.flush()?;
    if ack == Ack::Ack {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the server answered {}",
            ack_name(ack)
        )))
    }
}

fn serve(service: &str, topics: &[String], format: u32, json: bool) -> io::Result<()> {
    let table = ItemTable::new();
    for t in topics {
        table.add_topic(t);
    }
    let printed = Arc::new(Mutex::new(()));
    {
        let printed = Arc::clone(&printed);
        table.on_execute(move |topic, command| {
            let _guard = printed.lock();
            let text = String::from_utf8_lossy(command);
            let line = if json {
                json!({ "execute": text, "topic": topic }).to_string()
            } else {
                format!("execute\t{}\t{}", escape(topic), escape(&text))
            };
            let mut out = output::stdout();
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
            Ack::Ack
        });
    }
    let server = DdeServer::register(service, table.clone())?;
    note!(
        "serving DDE service {service:?}, topics {}",
        topics.join(", ")
    );
    for line in io::stdin().lock().lines() {
        let line = line?;
        let several = topics.len() > 1;
        let parts: Vec<&str> = line
            .splitn(if several { 3 } else { 2 }, char::is_whitespace)
            .collect();
        let (topic, item, value) = match parts[..] {
            [topic, item, value] => (topic, item, value),
            [item, value] => (topics[0].as_str(), item, value),
            _ => {
                note!(
                    "expected `ITEM VALUE` or `TOPIC ITEM VALUE`: {}",
                    escape(&line)
                );
                continue;
            }
        };
        table.set(topic, item, format, encode(format, value));
        let links = server.post_advise(topic, item);
        if json {
            let _guard = printed.lock();
            let mut out = output::stdout();
            writeln!(
                out,
                "{}",
                json!({ "set": item, "topic": topic, "links": links })
            )?;
            out.flush()?;
        }
    }
    Ok(())
}
