//! `WM_COPYDATA` between two processes: a receiver window that prints what it gets, and a
//! sender that finds it by class and title and hands it a few messages.
//!
//! `cargo run -p pipework --example copydata` runs the receiver here and the sender as a child process.

use std::io;
use std::time::Duration;

use pipework::window::{self, Window};

const CLASS: &str = "PipeworkExampleReceiver";

fn receiver() -> io::Result<()> {
    let title = format!("receiver {}", std::process::id());
    let window = Window::create(CLASS, &title)?;
    let me = std::env::current_exe()?;
    let mut sender = std::process::Command::new(me)
        .args(["send", &title])
        .spawn()?;
    for _ in 0..3 {
        let m = window.get_message();
        if let Some((kind, data)) = m.copy_data() {
            let origin = m.origin();
            println!(
                "receiver: kind {kind}, {} bytes from pid {} (window {:?}): {:?}",
                data.len(),
                origin.pid,
                origin.window.map(|h| h.to_string()),
                String::from_utf8_lossy(&data[..data.len().min(40)])
            );
            let answer = data.len() as isize;
            m.reply(answer);
        }
    }
    sender.wait()?;
    Ok(())
}

fn send(title: &str) -> io::Result<()> {
    let target = window::find_window(Some(CLASS), Some(title))?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no receiver"))?;
    // From a window of our own, so the receiver can tell who sent it (wParam).
    let me = Window::create("PipeworkExampleSender", "sender")?;
    let timeout = Some(Duration::from_secs(5));
    for (kind, data) in [
        (1, b"hello from the sender".to_vec()),
        (2, "naïve UTF-8 text".as_bytes().to_vec()),
        (3, vec![b'x'; 8 << 20]),
    ] {
        let result = me.copy_data(target, kind, &data, timeout)?;
        println!("sender: kind {kind} answered {result}");
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("send") => send(&args[2]),
        _ => receiver(),
    }
}
