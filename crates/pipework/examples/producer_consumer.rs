//! A producer and a consumer in two processes sharing a ring of slots in a named mapping, guarded
//! by a pair of semaphores: `empty` counts free slots, `full` counts filled ones.
//!
//! `cargo run -p pipework --example producer_consumer`

use std::io;
use std::process::Command;
use std::time::Duration;

use pipework::mapping::{Access, FileMapping};
use pipework::sync::{Semaphore, WaitStatus};

const SLOTS: u32 = 8;
const SLOT_SIZE: usize = 64;
const ITEMS: u64 = 1_000;
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

fn names() -> (String, String, String) {
    let tag = std::env::var("PC_TAG").unwrap_or_else(|_| std::process::id().to_string());
    (
        format!("Local\\pc-ring-{tag}"),
        format!("Local\\pc-empty-{tag}"),
        format!("Local\\pc-full-{tag}"),
    )
}

fn main() -> io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("producer") {
        return producer();
    }
    // The consumer creates everything, then starts the producer.
    let (ring, empty, full) = names();
    let mapping = FileMapping::create(&ring, u64::from(SLOTS) * SLOT_SIZE as u64)?;
    let empty = Semaphore::create(&empty, SLOTS, SLOTS)?;
    let full = Semaphore::create(&full, 0, SLOTS)?;
    let view = mapping.map_view(Access::Read, 0, 0)?;
    let mut producer = Command::new(std::env::current_exe()?)
        .arg("producer")
        .env("PC_TAG", std::process::id().to_string())
        .spawn()?;

    let mut sum = 0u64;
    for i in 0..ITEMS {
        if full.wait(TIMEOUT)? != WaitStatus::Signaled {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the producer stalled",
            ));
        }
        let slot = (i % u64::from(SLOTS)) as usize * SLOT_SIZE;
        let item: u64 = view.read_pod(slot)?;
        if item != i {
            return Err(io::Error::other(format!("slot held {item}, expected {i}")));
        }
        sum += item;
        empty.release(1)?;
    }
    producer.wait()?;
    println!("consumed {ITEMS} items in order, sum {sum}");
    Ok(())
}

fn producer() -> io::Result<()> {
    let (ring, empty, full) = names();
    let mapping = FileMapping::open(&ring, Access::Write)?;
    let empty = Semaphore::open(&empty)?;
    let full = Semaphore::open(&full)?;
    let view = mapping.map_view(Access::Write, 0, 0)?;
    for i in 0..ITEMS {
        if empty.wait(TIMEOUT)? != WaitStatus::Signaled {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the consumer stalled",
            ));
        }
        let slot = (i % u64::from(SLOTS)) as usize * SLOT_SIZE;
        view.write_pod(slot, &i)?;
        full.release(1)?;
    }
    Ok(())
}
