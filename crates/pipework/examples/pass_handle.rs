//! An unrelated process receives the read end of a pipe and reads from it.
//!
//! The parent listens on a Unix-domain socket, starts a process that inherits no pipe handle at
//! all, sends it the read end over the socket (Win32: `DuplicateHandle` into another process),
//! closes its own copy and writes into the pipe. The receiver reads until the end.
//!
//! `cargo run -p pipework --example pass_handle`. Or, in two terminals:
//! `cargo run -p pipework --example pass_handle -- serve` (prints a socket path) and
//! `cargo run -p pipework --example pass_handle -- receive PATH`.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("receive") => receive(Path::new(args.get(2).expect("receive PATH"))),
        Some("serve") => serve(false),
        _ => serve(true),
    }
}

fn serve(start_receiver: bool) -> io::Result<()> {
    let path: PathBuf = std::env::temp_dir().join(format!("pipework-pass-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    println!("waiting for a receiver on {}", path.display());

    let mut receiver = if start_receiver {
        Some(
            Command::new(std::env::current_exe()?)
                .arg("receive")
                .arg(&path)
                .spawn()?,
        )
    } else {
        None
    };

    let (conn, _) = listener.accept()?;
    let (reader, mut writer) = pipework::pipe::create()?;
    pipework::handle::send(&conn, &reader)?;
    drop(reader); // the receiver's copy keeps the read end alive

    for i in 1..=3 {
        writeln!(writer, "message {i} through a passed handle")?;
    }
    drop(writer); // end of data for the receiver
    if let Some(child) = receiver.as_mut() {
        child.wait()?;
    }
    std::fs::remove_file(&path)
}

fn receive(path: &Path) -> io::Result<()> {
    let conn = UnixStream::connect(path)?;
    let handle = pipework::handle::recv(&conn)?;
    let mut reader = pipework::pipe::PipeReader::try_from(handle)?;
    let mut text = String::new();
    reader.read_to_string(&mut text)?;
    print!("receiver {} read:\n{text}", std::process::id());
    Ok(())
}
