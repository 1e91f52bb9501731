//! The Win32 documentation's mailslot server ("Creating a Mailslot", "Reading from a Mailslot"):
//! creates `\\.\mailslot\sample_mailslot` and prints every message with its place in the queue.
//!
//! ```text
//! cargo run -p pipework --example mailslot_server            # then, elsewhere:
//! cargo run -p pipework --example mailslot_client
//! ```
//!
//! An optional argument stops the server after that many messages:
//! `cargo run -p pipework --example mailslot_server -- 3`.

use std::io;

use pipework::mailslot::MailslotOptions;

const SLOT: &str = r"\\.\mailslot\sample_mailslot";

fn main() -> io::Result<()> {
    let stop_after: Option<usize> = std::env::args().nth(1).and_then(|a| a.parse().ok());
    // MakeSlot: any message size, reads wait forever (MAILSLOT_WAIT_FOREVER).
    let mut slot = MailslotOptions::new().create(SLOT)?;
    println!("waiting for messages on {SLOT}");
    let mut seen = 0;
    loop {
        // ReadSlot: wait for the first message, then take everything GetMailslotInfo reports.
        let mut first = Vec::new();
        slot.read_message_to_end(&mut first)?;
        let info = slot.info()?;
        let total = info.message_count + 1;
        println!("Message #1 of {total}: {}", String::from_utf8_lossy(&first));
        for i in 2..=total {
            let mut message = Vec::new();
            slot.read_message_to_end(&mut message)?;
            println!(
                "Message #{i} of {total}: {}",
                String::from_utf8_lossy(&message)
            );
        }
        seen += total;
        if stop_after.is_some_and(|n| seen >= n) {
            return Ok(());
        }
    }
}
