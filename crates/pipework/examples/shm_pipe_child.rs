//! A parent streams data to a child through a shared-memory pipe, and the child answers through
//! another: the anonymous-pipe pattern (a parent driving a child) at memory speed.
//!
//! The parent creates two pipes, hands the child the read end of one and the write end of the
//! other by inheritance (one handle each), sends 256 MiB in 64 KiB writes, and reads back the
//! child's count and checksum. The child reads with the zero-copy `fill_buf_in_place`: the
//! writer is this program's own parent, a pipework writer, which is what that call's contract
//! asks for.
//!
//! `cargo run --release -p pipework --example shm_pipe_child`

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Command;
use std::time::Instant;

use pipework::process::CommandExt;
use pipework::shm_pipe::{self, ShmReader, ShmWriter};

const TOTAL: usize = 256 << 20;
const CHUNK: usize = 64 << 10;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        return child(&args[2], &args[3]);
    }

    let (to_child_r, mut to_child) = shm_pipe::create()?;
    let (mut from_child, from_child_w) = shm_pipe::create()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("child");
    let input = command.inherit_handle(OwnedFd::from(to_child_r));
    let output = command.inherit_handle(OwnedFd::from(from_child_w));
    let mut child = command
        .arg(input.to_string())
        .arg(output.to_string())
        .spawn()?;
    drop(command); // the parent's copies of the child's ends go now

    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    for _ in 0..TOTAL / CHUNK {
        to_child.write_all(&chunk)?;
    }
    drop(to_child); // the child's end of data
    let mut answer = String::new();
    from_child.read_to_string(&mut answer)?;
    let took = start.elapsed();
    child.wait()?;

    let expected: u64 = chunk.iter().map(|&b| u64::from(b)).sum::<u64>() * (TOTAL / CHUNK) as u64;
    println!("child says: {}", answer.trim());
    println!("expected:   {TOTAL} bytes, sum {expected}");
    println!(
        "{:.1} GiB/s parent to child, checksum included",
        TOTAL as f64 / (1u64 << 30) as f64 / took.as_secs_f64()
    );
    Ok(())
}

fn child(input: &str, output: &str) -> io::Result<()> {
    let take = |n: &str| -> io::Result<OwnedFd> {
        let raw = n
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "handle number"))?;
        // SAFETY: the parent named this handle for this process alone; nothing here owns it yet.
        unsafe { pipework::handle::take_inherited(raw) }
    };
    let mut reader = ShmReader::try_from(take(input)?)?;
    let mut writer = ShmWriter::try_from(take(output)?)?;
    let (mut count, mut sum) = (0usize, 0u64);
    loop {
        // SAFETY: the writer is this program's parent writing through a ShmWriter, which never
        // touches bytes it has published before they are consumed.
        let data = unsafe { reader.fill_buf_in_place()? };
        if data.is_empty() {
            break;
        }
        sum += data.iter().map(|&b| u64::from(b)).sum::<u64>();
        let n = data.len();
        count += n;
        reader.consume(n);
    }
    writeln!(writer, "{count} bytes, sum {sum}")
}
