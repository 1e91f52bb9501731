//! The Win32 documentation's "Named Pipe Client": opens the pipe (waiting if every instance is
//! busy), switches to message-read mode, sends a message and reads the answer, part by part
//! if it is longer than the buffer.
//!
//! `cargo run -p pipework --example named_pipe_client -- "message" [pipe name]`

use std::io;
use std::time::Duration;

use pipework::named_pipe::{ClientOptions, MessageRead, ReadMode, WaitTimeout};

const NAME: &str = r"\\.\pipe\mynamedpipe";

fn main() -> io::Result<()> {
    let message = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Default message from client.".into());
    let name = std::env::args().nth(2).unwrap_or_else(|| NAME.to_string());
    // CreateFile, and WaitNamedPipe for up to 20 seconds while all instances are busy.
    let mut pipe = ClientOptions::new()
        .wait(WaitTimeout::After(Duration::from_secs(20)))
        .open(&name)?;
    println!("Connected to server pid {}", pipe.server().pid);
    pipe.set_read_mode(ReadMode::Message)?; // SetNamedPipeHandleState
    pipe.write_message(message.as_bytes())?;
    println!("Message sent to server, receiving reply as follows:");
    let mut chunk = [0u8; 16];
    loop {
        match pipe.read_message(&mut chunk)? {
            MessageRead::Complete(n) => {
                println!("{}", String::from_utf8_lossy(&chunk[..n]));
                break;
            }
            // ERROR_MORE_DATA: the rest waits for the next read.
            MessageRead::MoreData { read, .. } => {
                print!("{}", String::from_utf8_lossy(&chunk[..read]));
            }
            MessageRead::End => {
                eprintln!("the server closed the pipe");
                break;
            }
        }
    }
    Ok(())
}
