//! A spreadsheet-like DDE server and a client that watches its cells with hot links, as in the
//! DDEML documentation's examples: the server registers service "Sheet" with topic "Sheet1",
//! the client asks for advise links on R1C1..R1C3 and prints each change the server makes.
//!
//! Run `cargo run -p pipework --example dde_spreadsheet` (both sides in one run: the server in this
//! process, the client in a child process of the same program), or the two sides apart:
//! `cargo run -p pipework --example dde_spreadsheet -- server` and `... -- client`.

use std::io;
use std::time::Duration;

use pipework::dde::{AdviseFlags, DdeClient, DdeServer, ItemTable, CF_TEXT};

const SERVICE: &str = "Sheet";
const TOPIC: &str = "Sheet1";
const CELLS: [&str; 3] = ["R1C1", "R1C2", "R1C3"];

fn server(rounds: u32, wait_for_client: bool) -> io::Result<()> {
    let table = ItemTable::new();
    for cell in CELLS {
        table.set(TOPIC, cell, CF_TEXT, b"0".to_vec());
    }
    let server = DdeServer::register(SERVICE, table.clone())?;
    println!("server: service {SERVICE}, topic {TOPIC}");
    if wait_for_client {
        let me = std::env::current_exe()?;
        let mut child = std::process::Command::new(me).arg("client").spawn()?;
        // The client opens its conversation and its links; wait until they are there.
        while server.conversations() == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        recalc(&server, &table, rounds);
        child.wait()?;
    } else {
        recalc(&server, &table, rounds);
    }
    Ok(())
}

/// Changes every cell `rounds` times, telling the links each time (`DdePostAdvise`).
fn recalc(server: &DdeServer, table: &ItemTable, rounds: u32) {
    for round in 1..=rounds {
        for (i, cell) in CELLS.iter().enumerate() {
            let value = round * 10 + i as u32;
            table.set(TOPIC, cell, CF_TEXT, value.to_string().into_bytes());
            server.post_advise(TOPIC, cell);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn client(updates: usize) -> io::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let client = DdeClient::new(move |u| {
        let value = String::from_utf8_lossy(u.data.unwrap_or_default()).into_owned();
        let _ = tx.send(format!("client: {}!{} = {value}", u.topic, u.item));
    })?;
    let conv = client.connect(Some(SERVICE), Some(TOPIC))?;
    for cell in CELLS {
        conv.advise_start(cell, CF_TEXT, AdviseFlags::default())?;
    }
    for _ in 0..updates {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => println!("{line}"),
            Err(_) => break,
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    match std::env::args().nth(1).as_deref() {
        Some("server") => server(1000, false),
        Some("client") => client(CELLS.len() * 5),
        _ => server(5, true),
    }
}
