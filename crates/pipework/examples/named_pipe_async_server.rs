//! The Win32 documentation's overlapped server, in its Rust form: one thread, several instances,
//! each waiting for its client and its messages without blocking the others (tokio tasks where
//! Win32 uses events and `WaitForMultipleObjects`).
//!
//! `cargo run -p pipework --features tokio --example named_pipe_async_server`

use std::io;

use pipework::named_pipe::{AsyncNamedPipeServer, MessageRead, PipeMode, ServerOptions};

const NAME: &str = r"\\.\pipe\mynamedpipe";
const INSTANCES: usize = 4;

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let name = std::env::args().nth(1).unwrap_or_else(|| NAME.to_string());
    let mut options = ServerOptions::new();
    options
        .pipe_mode(PipeMode::Message)
        .max_instances(INSTANCES);
    let mut tasks = Vec::new();
    for i in 0..INSTANCES {
        let server = options.create_async(&name)?;
        tasks.push(tokio::spawn(instance(i, server)));
    }
    println!("{INSTANCES} instances of {name} waiting for clients");
    for task in tasks {
        task.await.map_err(io::Error::other)??;
    }
    Ok(())
}

async fn instance(i: usize, mut server: AsyncNamedPipeServer) -> io::Result<()> {
    let mut request = vec![0u8; 4096];
    loop {
        server.connect().await?;
        println!("instance {i}: client {:?}", server.client());
        loop {
            match server.read_message(&mut request).await {
                Ok(MessageRead::Complete(n)) => {
                    let mut answer = b"answer to: ".to_vec();
                    answer.extend_from_slice(&request[..n]);
                    server.write_message(&answer).await?;
                }
                Ok(MessageRead::MoreData { .. }) => break, // too long: drop this client
                Ok(MessageRead::End) | Err(_) => break,
            }
        }
        server.disconnect()?;
    }
}
