//! A counter in a named mapping, incremented by several processes under a named mutex; the
//! total comes out exact.
//!
//! `cargo run -p pipework --example mutex_counter`

use std::io;
use std::process::Command;
use std::sync::atomic::Ordering::Relaxed;

use pipework::mapping::{Access, FileMapping};
use pipework::sync::Mutex;

const WORKERS: u64 = 4;
const INCREMENTS: u64 = 50_000;

fn names(tag: &str) -> (String, String) {
    (
        format!("Local\\counter-lock-{tag}"),
        format!("Local\\counter-{tag}"),
    )
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        return worker(&args[2]);
    }
    let tag = std::process::id().to_string();
    let (lock, counter) = names(&tag);
    let _mutex = Mutex::create(&lock, false)?;
    let mapping = FileMapping::create(&counter, 8)?;
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        workers.push(
            Command::new(std::env::current_exe()?)
                .arg("worker")
                .arg(&tag)
                .spawn()?,
        );
    }
    for mut w in workers {
        if !w.wait()?.success() {
            return Err(io::Error::other("a worker failed"));
        }
    }
    let total: u64 = mapping.map_view(Access::Read, 0, 0)?.read_pod(0)?;
    println!("{WORKERS} processes x {INCREMENTS} increments = {total}");
    assert_eq!(total, WORKERS * INCREMENTS);
    Ok(())
}

fn worker(tag: &str) -> io::Result<()> {
    let (lock, counter) = names(tag);
    let mutex = Mutex::open(&lock)?;
    let mapping = FileMapping::open(&counter, Access::Write)?;
    let view = mapping.map_view(Access::Write, 0, 0)?;
    let value = view.atomic_u64(0)?;
    for _ in 0..INCREMENTS {
        let guard = mutex.lock()?;
        if guard.abandoned() {
            eprintln!("a worker died holding the lock; the count may be off by its last step");
        }
        // Load and store apart: only the mutex makes the increment whole.
        value.store(value.load(Relaxed) + 1, Relaxed);
    }
    Ok(())
}
