//! `copydata`: `WM_COPYDATA` round trips (the data to a window of a child process, the
//! handler's result back) at 64 B and 1 MiB, beside the same exchange on a pipework message
//! named pipe (the data as one message to the child, an 8-byte answer back).

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Child;
use std::time::{Duration, Instant};

use pipework::named_pipe::{ClientOptions, MessageRead, PipeMode, ServerOptions};
use pipework::pipe::{self, PipeWriter};
use pipework::window::{self, Hwnd, Window};
use pipework_cli::workload::inherited;

use super::{spawn_child, Figure, Mechanism, Settings};

/// The `copydata` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new(NAME, run, child);

const NAME: &str = "copydata";

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for (size, trips, label) in [(64, 2000, "copydata/64B"), (1 << 20, 200, "copydata/1MiB")] {
        let (target, mut window_child) = start_window()?;
        let name = format!("pipework-bench-copydata-{}-{size}", std::process::id());
        let mut server = ServerOptions::new()
            .pipe_mode(PipeMode::Message)
            .create(&name)?;
        let mut pipe_child = spawn_child(NAME, "pipe", &[name], Vec::new())?;
        server.connect()?;
        let data = vec![0x5au8; size];
        let mut answer = [0u8; 8];
        let samples = settings.collect(
            label,
            settings.runs,
            || {
                let start = Instant::now();
                for _ in 0..trips {
                    window::copy_data(target, 1, &data, Some(Duration::from_secs(30)))?;
                }
                Ok(start.elapsed().as_secs_f64() * 1e6 / trips as f64)
            },
            || {
                let start = Instant::now();
                for _ in 0..trips {
                    server.write_message(&data)?;
                    match server.read_message(&mut answer)? {
                        MessageRead::Complete(8) => {}
                        _ => return Err(io::Error::other("the pipe child answered wrongly")),
                    }
                }
                Ok(start.elapsed().as_secs_f64() * 1e6 / trips as f64)
            },
        )?;
        let _ = window::post_message(target, window::WM_CLOSE, 0, 0);
        drop(server);
        finish(&mut window_child)?;
        finish(&mut pipe_child)?;
        let mut figure =
            Figure::lower_is_better(NAME, "round_trip", "us", "pipework named pipe", &samples);
        figure.mechanism = label;
        figures.push(figure);
    }
    Ok(figures)
}

fn finish(child: &mut Child) -> io::Result<()> {
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("a {NAME} child failed: {status}")))
    }
}

/// A child with a window that answers each `WM_COPYDATA` with its size; its handle.
fn start_window() -> io::Result<(Hwnd, Child)> {
    let (mut ready_r, ready_w) = pipe::create()?;
    let child = spawn_child(NAME, "window", &[], vec![OwnedFd::from(ready_w)])?;
    let mut text = String::new();
    ready_r.read_to_string(&mut text)?;
    Ok((text.trim().parse()?, child))
}

fn child(args: &[String]) -> io::Result<()> {
    match args.first().map(String::as_str) {
        Some("window") => {
            let mut ready = PipeWriter::try_from(inherited(args.get(1))?)?;
            let window = Window::create("pipework.BenchCopyData", "bench")?;
            write!(ready, "{}", window.hwnd())?;
            drop(ready);
            loop {
                let m = window.get_message();
                if m.msg() == window::WM_CLOSE {
                    return Ok(());
                }
                let n = m.data().len() as isize;
                m.reply(n);
            }
        }
        Some("pipe") => {
            let name = args
                .get(1)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no pipe name"))?;
            let mut client = ClientOptions::new().open(name)?;
            client.set_read_mode(pipework::named_pipe::ReadMode::Message)?;
            let mut buf = vec![0u8; 2 << 20];
            loop {
                match client.read_message(&mut buf)? {
                    MessageRead::Complete(n) => client.write_message(&(n as u64).to_le_bytes())?,
                    MessageRead::End => return Ok(()),
                    MessageRead::MoreData { .. } => {
                        return Err(io::Error::other("a message over 2 MiB"))
                    }
                }
            }
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no {NAME} role {other:?}"),
        )),
    }
}
