//! The Win32 documentation's mailslot client ("Writing to a Mailslot"): drops three messages into
//! `\\.\mailslot\sample_mailslot` (or the slot named on the command line, which may be
//! `\\host\mailslot\...` or `\\*\mailslot\...` for a server listening to the network, when an
//! interface to send on follows the name).
//!
//! `cargo run -p pipework --example mailslot_client -- [SLOT [INTERFACE]]`, with
//! `mailslot_server` running.

use std::io::{self, Write};

use pipework::mailslot::{MailslotClient, NetworkConfig};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .unwrap_or_else(|| r"\\.\mailslot\sample_mailslot".to_string());
    let config = NetworkConfig {
        interface: args.next(),
        ..NetworkConfig::default()
    };
    // CreateFile(GENERIC_WRITE, FILE_SHARE_READ, OPEN_EXISTING)
    let mut slot = MailslotClient::open_with(&name, &config)?;
    // WriteSlot: one WriteFile, one message.
    for text in [
        "Message one for mailslot.",
        "Message two for mailslot.",
        "Message three for mailslot.",
    ] {
        slot.write_all(text.as_bytes())?;
        println!("Slot written to successfully: {text}");
    }
    Ok(())
}
