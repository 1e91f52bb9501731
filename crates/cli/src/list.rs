//! `pipework list`: the named objects of this user that are alive now.

use std::io;

/// Prints each mailslot with its count of queued messages, then the named pipes.
pub fn run() -> io::Result<()> {
    let slots = pipework::mailslot::list()?;
    println!("{:<10} {:>8}  name", "kind", "queued");
    for slot in slots {
        println!("{:<10} {:>8}  {}", "mailslot", slot.queued, slot.name);
    }
    println!();
    crate::pipe_cmd::list()
}
