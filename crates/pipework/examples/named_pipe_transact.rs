//! The Win32 documentation's "Transactions on Named Pipes" client: one `TransactNamedPipe`
//! writes the request and reads the reply; a reply longer than the buffer comes in more reads.
//! With `--call`, the one-shot form (`CallNamedPipe`).
//!
//! `cargo run -p pipework --example named_pipe_transact -- [--call] [pipe name]`

use std::io;

use pipework::named_pipe::{self, ClientOptions, MessageRead, ReadMode, WaitTimeout};

const NAME: &str = r"\\.\pipe\mynamedpipe";

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let call = args.iter().any(|a| a == "--call");
    let name = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| NAME.to_string());
    let request = b"Default message from client.";
    if call {
        // Open (waiting once if busy), transact, close.
        let reply = named_pipe::call(&name, request, WaitTimeout::Forever)?;
        println!("{}", String::from_utf8_lossy(&reply));
        return Ok(());
    }
    let mut pipe = ClientOptions::new()
        .wait(WaitTimeout::Forever)
        .open(&name)?;
    pipe.set_read_mode(ReadMode::Message)?;
    let mut reply = [0u8; 8];
    let mut outcome = pipe.transact(request, &mut reply)?;
    loop {
        match outcome {
            MessageRead::Complete(n) => {
                println!("{}", String::from_utf8_lossy(&reply[..n]));
                return Ok(());
            }
            MessageRead::MoreData { read, .. } => {
                print!("{}", String::from_utf8_lossy(&reply[..read]));
                outcome = pipe.read_message(&mut reply)?;
            }
            MessageRead::End => return Ok(()),
        }
    }
}
