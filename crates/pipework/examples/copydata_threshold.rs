//! Where `WM_COPYDATA` should switch from copying through the socket to a sealed memfd:
//! round trips of each size both ways, between this process and a child. Run it with
//! `cargo run --release -p pipework --example copydata_threshold`.
//!
//! Each size is timed twice in the same run: with the data through the socket (the switch
//! moved past it) and through a memfd (the switch moved to 1 byte).

use std::io;
use std::time::{Duration, Instant};

use pipework::window::{self, Window};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let window = Window::create("PipeworkThreshold", &args[2])?;
        println!("{}", window.hwnd());
        let t = window.spawn(|m| m.data().len() as isize);
        let mut s = String::new();
        io::stdin().read_line(&mut s)?;
        t.close();
        return Ok(());
    }
    let title = format!("threshold {}", std::process::id());
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["child", &title])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    io::BufRead::read_line(
        &mut io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )?;
    let target: window::Hwnd = line.trim().parse()?;
    println!("threshold now: {} bytes", window::MEMFD_THRESHOLD);
    println!("{:>10}  {:>12}  {:>12}", "bytes", "socket", "memfd");
    for size in [
        64usize,
        4 << 10,
        16 << 10,
        64 << 10,
        128 << 10,
        256 << 10,
        512 << 10,
        1 << 20,
        4 << 20,
        8 << 20,
        (16 << 20) - 1,
    ] {
        let data = vec![7u8; size];
        let rounds = (256 << 20) / size.max(64 << 10) + 200;
        let time = |threshold: usize| -> io::Result<Duration> {
            window::set_memfd_threshold(threshold);
            window::copy_data(target, 0, &data, Some(Duration::from_secs(30)))?;
            let start = Instant::now();
            for _ in 0..rounds {
                window::copy_data(target, 0, &data, Some(Duration::from_secs(30)))?;
            }
            Ok(start.elapsed() / rounds as u32)
        };
        let socket = time(usize::MAX)?;
        let memfd = time(1)?;
        println!("{size:>10}  {socket:>12.1?}  {memfd:>12.1?}");
    }
    drop(child.stdin.take());
    child.wait()?;
    Ok(())
}
