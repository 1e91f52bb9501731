//! The Win32 documentation's "Multithreaded Pipe Server": each client gets its own instance and
//! thread, reads requests as messages and answers each one.
//!
//! Run it, then the client in another terminal:
//! `cargo run -p pipework --example named_pipe_server` and
//! `cargo run -p pipework --example named_pipe_client -- "hello"`.

use std::io;
use std::thread;

use pipework::named_pipe::{MessageRead, NamedPipeServer, PipeMode, ServerOptions};

const NAME: &str = r"\\.\pipe\mynamedpipe";
const BUFSIZE: u32 = 512;

fn main() -> io::Result<()> {
    let name = std::env::args().nth(1).unwrap_or_else(|| NAME.to_string());
    let mut options = ServerOptions::new();
    options
        .pipe_mode(PipeMode::Message)
        .in_buffer_size(BUFSIZE)
        .out_buffer_size(BUFSIZE);
    loop {
        // A new instance for the next client: CreateNamedPipe, then ConnectNamedPipe.
        let mut instance = options.create(&name)?;
        println!("Pipe server: awaiting client connection on {name}");
        match instance.connect() {
            Ok(_) => {
                println!("Client connected, creating a processing thread.");
                thread::spawn(move || {
                    if let Err(e) = serve(&mut instance) {
                        eprintln!("InstanceThread: {e}");
                    }
                });
            }
            // The client came and went: close this instance and make another.
            Err(e) => eprintln!("ConnectNamedPipe: {e}"),
        }
    }
}

fn serve(pipe: &mut NamedPipeServer) -> io::Result<()> {
    let who = pipe.client().expect("connected");
    let mut request = vec![0u8; BUFSIZE as usize];
    loop {
        match pipe.read_message(&mut request)? {
            MessageRead::Complete(n) => {
                println!(
                    "Client request (pid {}, uid {}): \"{}\"",
                    who.pid,
                    who.uid,
                    String::from_utf8_lossy(&request[..n])
                );
                pipe.write_message(b"default answer from server")?;
            }
            MessageRead::MoreData { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request too long",
                ))
            }
            MessageRead::End => break,
        }
    }
    // Let the client read the last answer before the instance goes away.
    std::io::Write::flush(pipe)?;
    pipe.disconnect()?;
    println!("InstanceThread exiting.");
    Ok(())
}
