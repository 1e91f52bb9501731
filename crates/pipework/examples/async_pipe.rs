//! Async anonymous pipes on tokio: a child process writes lines, the parent reads them without
//! blocking its runtime. Run with `cargo run -p pipework --features tokio --example async_pipe`.

use std::process::Command;

use pipework::process::CommandExt;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let (reader, writer) = pipework::pipe::create()?;
    let mut command = Command::new("sh");
    let number = command.inherit_handle(writer);
    command.args([
        "-c",
        &format!("for i in 1 2 3; do echo line $i >&{number}; done"),
    ]);
    let mut child = command.spawn()?;
    drop(command); // the parent's copy of the write end goes, so the reader sees the end

    let mut lines = BufReader::new(reader.into_async()?).lines();
    while let Some(line) = lines.next_line().await? {
        println!("parent got: {line}");
    }
    child.wait()?;
    Ok(())
}
