//! The Win32 documentation's mailslot client ("Writing to a Mailslot"): drops three messages into
//! `\\.\mailslot\sample_mailslot` (or the slot named on the command line, which may be
//! `\\host\mailslot\...` or `\\*\mailslot\...` for a server listening to the network).
//!
//! `cargo run -p pipework --example mailslot_client -- [SLOT]`, with `mailslot_server` running.

use std::io::{self, Write};

use pipework::mailslot::MailslotClient;

fn main() -> io::Result<()> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| r"\\.\mailslot\sample_mailslot".to_string());
    // CreateFile(GENERIC_WRITE, FILE_SHARE_READ, OPEN_EXISTING)
    let mut slot = MailslotClient::open(&name)?;
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
