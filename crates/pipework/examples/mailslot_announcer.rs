//! A broadcast announcer: every computer on the network segment running `listen` learns who is
//! there, through `\\*\mailslot\announce` (the classic use of domain mailslots), as NetBIOS
//! datagrams that Windows machines on the segment could send and receive too.
//!
//! ```text
//! cargo run -p pipework --example mailslot_announcer -- listen INTERFACE [PORT]    # show announcements as they arrive
//! cargo run -p pipework --example mailslot_announcer -- announce INTERFACE [PORT]  # announce this computer every 2 seconds
//! ```
//!
//! INTERFACE is the interface's name (`eth0`) or one of its addresses: the announcements are
//! broadcast on its subnet, and only when this is run. PORT is the datagram port (138, the
//! NetBIOS datagram service, unless given; below 1024 it needs the right to bind it).
//! Announcements are datagrams of a few hundred bytes at most: some may be lost, none waits for
//! a listener.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pipework::mailslot::{MailslotClient, MailslotOptions, NetworkConfig};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: mailslot_announcer listen|announce INTERFACE [PORT]",
        )
    };
    let mut config = NetworkConfig {
        interface: Some(args.get(1).ok_or_else(usage)?.clone()),
        ..NetworkConfig::default()
    };
    if let Some(port) = args.get(2) {
        config.port = port.parse().map_err(io::Error::other)?;
    }
    match args.first().map(String::as_str) {
        Some("listen") => listen(&config),
        Some("announce") => announce(&config),
        _ => Err(usage()),
    }
}

fn listen(config: &NetworkConfig) -> io::Result<()> {
    // Announcements are short: refuse anything longer than a broadcast may be.
    let mut slot = MailslotOptions::new()
        .max_message_size(pipework::mailslot::MAX_BROADCAST_MESSAGE)
        .create(r"\\.\mailslot\announce")?;
    slot.serve_network(config)?;
    println!("listening for announcements on UDP port {}", config.port);
    loop {
        let mut message = Vec::new();
        slot.read_message_to_end(&mut message)?;
        println!("{}", String::from_utf8_lossy(&message));
    }
}

fn announce(config: &NetworkConfig) -> io::Result<()> {
    let everyone = MailslotClient::open_with(r"\\*\mailslot\announce", config)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let text = format!("{host} (pid {}) is here at {now}", std::process::id());
        everyone.write_message(text.as_bytes())?;
        std::thread::sleep(Duration::from_secs(2));
    }
}
