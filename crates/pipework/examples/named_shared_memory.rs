//! The Win32 documentation's "Creating Named Shared Memory", both processes: the first creates
//! the mapping `Local\MyFileMappingObject` and writes a message; the second (this program started
//! again with `second`) opens it by name and prints the message.
//!
//! `cargo run -p pipework --example named_shared_memory`

use std::io;
use std::process::Command;

use pipework::mapping::{Access, FileMapping};

const NAME: &str = "Local\\MyFileMappingObject";
const BUF_SIZE: u64 = 256;
const MESSAGE: &[u8] = b"Message from first process.";

fn main() -> io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("second") {
        return second_process();
    }
    // First process: create the mapping and a view, copy the message in.
    let mapping = FileMapping::create(NAME, BUF_SIZE)?;
    let view = mapping.map_view(Access::Write, 0, BUF_SIZE as usize)?;
    view.write(0, MESSAGE)?;
    println!(
        "first process: wrote {:?} to {NAME}",
        String::from_utf8_lossy(MESSAGE)
    );

    // The mapping lives while this process holds it: start the second process meanwhile.
    let status = Command::new(std::env::current_exe()?)
        .arg("second")
        .status()?;
    if !status.success() {
        return Err(io::Error::other("the second process failed"));
    }
    Ok(())
}

fn second_process() -> io::Result<()> {
    let mapping = FileMapping::open(NAME, Access::Read)?;
    let view = mapping.map_view(Access::Read, 0, BUF_SIZE as usize)?;
    let mut text = vec![0u8; MESSAGE.len()];
    view.read(0, &mut text)?;
    println!("second process: read {:?}", String::from_utf8_lossy(&text));
    Ok(())
}
