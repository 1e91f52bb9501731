//! DDE across real processes: conversations, transactions, the SYSTEM topic, wildcards, hot and
//! warm links delivered in order to many clients, and a client that stops reading.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc;

use common::{child, line, wait, TIMEOUT};
use pipework::dde::{Ack, AdviseFlags, DdeClient, DdeServer, ItemTable, CF_TEXT, CF_UNICODETEXT};

fn main() {
    common::main(
        &[
            ("request_poke_execute_across_processes", transactions),
            ("the_system_topic", system_topic),
            ("wildcards_and_connect_list", wildcards),
            ("hot_and_warm_links", hot_and_warm),
            ("fifty_clients_advising_on_a_hundred_items", fifty_clients),
            (
                "a_client_that_stops_reading_slows_nobody",
                non_reading_client,
            ),
            ("registered_format_names", registered_formats),
            ("a_stranger_cannot_inject_advise_data", stranger_injection),
            (
                "the_server_ending_a_conversation_tells_the_client",
                server_hangs_up,
            ),
        ],
        &[
            ("server", role_server),
            ("watcher", role_watcher),
            ("stalled", role_stalled),
            ("reader", role_reader),
            ("injector", role_injector),
        ],
    )
}

fn table() -> ItemTable {
    let table = ItemTable::new();
    table.set("Sheet1", "R1C1", CF_TEXT, b"1".to_vec());
    table.set("Sheet1", "R1C2", CF_TEXT, b"2".to_vec());
    table.add_topic("Sheet2");
    table.on_execute(|topic, command| match command {
        b"[busy]" => Ack::Busy,
        b"[recalc]" if topic.eq_ignore_ascii_case("Sheet1") => Ack::Ack,
        _ => Ack::NotProcessed,
    });
    table
}

/// A server of the service in argument 0 until stdin ends.
fn role_server(args: &[String]) {
    let _server = DdeServer::register(&args[0], table()).unwrap();
    println!("ready");
    let mut s = String::new();
    while std::io::stdin().lock().read_line(&mut s).unwrap_or(0) > 0 {}
}

struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
}

fn start(role: &str, args: &[&str]) -> Peer {
    let mut child = child(role)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    assert_eq!(line(&mut out), "ready");
    Peer { child, out }
}

impl Peer {
    fn end(mut self) {
        drop(self.child.stdin.take());
        let status = wait(&mut self.child);
        assert!(status.success(), "{status}");
    }
}

fn service(tag: &str) -> String {
    format!("{tag}{}", std::process::id())
}

fn transactions() {
    let name = service("Trans");
    let server = start("server", &[&name]);
    let client = DdeClient::new(|_| {}).unwrap();
    let conv = client
        .connect(Some(&name.to_lowercase()), Some("SHEET1"))
        .unwrap();
    assert_eq!(conv.service(), name);
    assert_eq!(conv.topic(), "Sheet1");
    assert_eq!(
        conv.request("r1c1", CF_TEXT).unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(conv.request("R9C9", CF_TEXT).unwrap(), None);
    assert_eq!(conv.request("R1C1", CF_UNICODETEXT).unwrap(), None);
    assert_eq!(conv.poke("R1C1", CF_TEXT, b"99").unwrap(), Ack::Ack);
    assert_eq!(
        conv.request("R1C1", CF_TEXT).unwrap().as_deref(),
        Some(&b"99"[..])
    );
    assert_eq!(conv.execute(b"[recalc]").unwrap(), Ack::Ack);
    assert_eq!(conv.execute(b"[busy]").unwrap(), Ack::Busy);
    assert_eq!(conv.execute(b"[nonsense]").unwrap(), Ack::NotProcessed);
    // Asynchronous, completed later.
    let pending = conv.start(|c| c.request("R1C2", CF_TEXT));
    assert_eq!(pending.wait(TIMEOUT).unwrap().as_deref(), Some(&b"2"[..]));
    // A topic the server does not have, a service nobody serves.
    let e = client.connect(Some(&name), Some("Sheet9")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    let e = client
        .connect(Some("NoSuchService"), Some("x"))
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    // Disconnected, the conversation is gone.
    let again = conv.clone();
    conv.disconnect().unwrap();
    let e = again.request("R1C1", CF_TEXT).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotConnected, "{e}");
    server.end();
    // The server gone, a transaction fails at once.
    let e = again.request("R1C1", CF_TEXT).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
}

fn system_topic() {
    let name = service("Sys");
    let server = start("server", &[&name]);
    let client = DdeClient::new(|_| {}).unwrap();
    let conv = client.connect(Some(&name), Some("system")).unwrap();
    let text =
        |item: &str| String::from_utf8(conv.request(item, CF_TEXT).unwrap().unwrap()).unwrap();
    assert_eq!(text("Topics"), "Sheet1\tSheet2\tSystem");
    assert_eq!(text("SysItems"), "Topics\tSysItems\tFormats");
    assert_eq!(text("Formats"), "TEXT");
    let wide = conv.request("Topics", CF_UNICODETEXT).unwrap().unwrap();
    let units: Vec<u16> = wide
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(
        String::from_utf16(&units).unwrap(),
        "Sheet1\tSheet2\tSystem"
    );
    server.end();
}

fn wildcards() {
    let name = service("Wild");
    let a = start("server", &[&name]);
    let b = start("server", &[&name]);
    let client = DdeClient::new(|_| {}).unwrap();
    // Every (server, topic) pair of the service.
    let all = client.connect_list(Some(&name), None).unwrap();
    assert_eq!(all.len(), 6, "two servers × Sheet1, Sheet2, System");
    let servers: std::collections::HashSet<_> = all.iter().map(|c| c.server()).collect();
    assert_eq!(servers.len(), 2);
    // One topic at every server.
    let sheet2 = client.connect_list(Some(&name), Some("Sheet2")).unwrap();
    assert_eq!(sheet2.len(), 2);
    // Any service with this topic: at least these two (other tests' servers may join).
    let any = client.connect_list(None, Some("Sheet1")).unwrap();
    assert!(any.iter().filter(|c| c.service() == name).count() == 2);
    // DdeConnect with a wildcard topic: the first topic of a server.
    let first = client.connect(Some(&name), None).unwrap();
    assert_eq!(first.service(), name);
    a.end();
    b.end();
}

fn hot_and_warm() {
    let name = service("Links");
    // A table with a topic of its own: `wildcards` connects to every server that accepts
    // Sheet1 at the same time, and its conversation would count here.
    let table = ItemTable::new();
    table.set("Links", "R1C1", CF_TEXT, b"1".to_vec());
    table.set("Links", "R1C2", CF_TEXT, b"2".to_vec());
    let server = DdeServer::register(&name, table.clone()).unwrap();
    let (tx, rx) = mpsc::channel();
    let client = DdeClient::new(move |u| {
        let _ = tx.send((u.item.to_string(), u.data.map(<[u8]>::to_vec), u.missed));
    })
    .unwrap();
    let conv = client.connect(Some(&name), Some("Links")).unwrap();
    assert_eq!(
        conv.advise_start("R1C1", CF_TEXT, AdviseFlags::default())
            .unwrap(),
        Ack::Ack
    );
    let warm = AdviseFlags {
        nodata: true,
        ackreq: true,
    };
    assert_eq!(conv.advise_start("R1C2", CF_TEXT, warm).unwrap(), Ack::Ack);
    table.set("Links", "R1C1", CF_TEXT, b"hot".to_vec());
    assert_eq!(server.post_advise("links", "r1c1"), 1);
    let got = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(got, ("R1C1".to_string(), Some(b"hot".to_vec()), 0));
    table.set("Links", "R1C2", CF_TEXT, b"warm".to_vec());
    assert_eq!(server.post_advise("Links", "R1C2"), 1);
    let got = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(got, ("R1C2".to_string(), None, 0));
    assert_eq!(
        conv.request("R1C2", CF_TEXT).unwrap().as_deref(),
        Some(&b"warm"[..])
    );
    // Stopped, the link gets nothing more; an item never advised is refused.
    assert_eq!(conv.advise_stop("R1C1", CF_TEXT).unwrap(), Ack::Ack);
    assert_eq!(server.post_advise("Links", "R1C1"), 0);
    assert_eq!(
        conv.advise_stop("R1C1", CF_TEXT).unwrap(),
        Ack::NotProcessed
    );
    assert_eq!(server.conversations(), 1);
    drop(client);
}

const ITEMS: usize = 100;
const ROUNDS: usize = 10;

/// A client watching `ITEMS` items of the service in argument 0 with hot links, until every
/// item has shown the value `ROUNDS`; each link's values must come in order, none missed.
fn role_watcher(args: &[String]) {
    let (tx, rx) = mpsc::channel();
    let client = DdeClient::new(move |u| {
        let value: usize = std::str::from_utf8(u.data.unwrap())
            .unwrap()
            .parse()
            .unwrap();
        let _ = tx.send((u.item.to_string(), value, u.missed));
    })
    .unwrap();
    let conv = client.connect(Some(&args[0]), Some("Grid")).unwrap();
    for i in 0..ITEMS {
        let ack = conv
            .advise_start(&format!("I{i}"), CF_TEXT, AdviseFlags::default())
            .unwrap();
        assert_eq!(ack, Ack::Ack);
    }
    println!("ready");
    let mut last = vec![0usize; ITEMS];
    let mut done = 0;
    while done < ITEMS {
        let (item, value, missed) = rx.recv_timeout(TIMEOUT).expect("an update");
        assert_eq!(missed, 0);
        let i: usize = item[1..].parse().unwrap();
        assert_eq!(value, last[i] + 1, "item {item}: in order, none lost");
        last[i] = value;
        if value == ROUNDS {
            done += 1;
        }
    }
}

fn fifty_clients() {
    let name = service("Grid");
    let table = ItemTable::new();
    for i in 0..ITEMS {
        table.set("Grid", &format!("I{i}"), CF_TEXT, b"0".to_vec());
    }
    let server = DdeServer::register(&name, table.clone()).unwrap();
    let mut watchers: Vec<Peer> = (0..50).map(|_| start("watcher", &[&name])).collect();
    for round in 1..=ROUNDS {
        for i in 0..ITEMS {
            let item = format!("I{i}");
            table.set("Grid", &item, CF_TEXT, round.to_string().into_bytes());
            assert_eq!(server.post_advise("Grid", &item), 50);
        }
    }
    for w in &mut watchers {
        let status = wait(&mut w.child);
        assert!(status.success(), "a watcher failed: {status}");
    }
}

/// A client whose callback stops at its first update until stdin gives a line; then it reads
/// on until the value in argument 1 and prints how many updates it got and how many were
/// reported missed.
fn role_stalled(args: &[String]) {
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let client = DdeClient::new(move |u| {
        static FIRST: std::sync::Once = std::sync::Once::new();
        FIRST.call_once(|| {
            let _ = gate_rx.recv();
        });
        let value: u64 = std::str::from_utf8(u.data.unwrap())
            .unwrap()
            .parse()
            .unwrap();
        let _ = tx.send((value, u.missed));
    })
    .unwrap();
    let conv = client.connect(Some(&args[0]), Some("Feed")).unwrap();
    conv.advise_start("Tick", CF_TEXT, AdviseFlags::default())
        .unwrap();
    println!("ready");
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s).unwrap();
    gate_tx.send(()).unwrap();
    let last: u64 = args[1].parse().unwrap();
    let (mut got, mut missed, mut prev) = (0u64, 0u64, 0u64);
    loop {
        let (value, m) = rx.recv_timeout(TIMEOUT).expect("an update");
        assert!(value > prev, "in order");
        assert_eq!(value, prev + m + 1, "the gap is what missed says");
        prev = value;
        got += 1;
        missed += m;
        if value == last {
            break;
        }
    }
    println!("{got} {missed}");
}

/// A client that reads every update and prints each thousandth value it reached.
fn role_reader(args: &[String]) {
    let (tx, rx) = mpsc::channel();
    let client = DdeClient::new(move |u| {
        let value: u64 = std::str::from_utf8(u.data.unwrap())
            .unwrap()
            .parse()
            .unwrap();
        let _ = tx.send((value, u.missed));
    })
    .unwrap();
    let conv = client.connect(Some(&args[0]), Some("Feed")).unwrap();
    conv.advise_start("Tick", CF_TEXT, AdviseFlags::default())
        .unwrap();
    println!("ready");
    let last: u64 = args[1].parse().unwrap();
    let mut prev = 0;
    while prev < last {
        let (value, missed) = rx.recv_timeout(TIMEOUT).expect("an update");
        assert_eq!((value, missed), (prev + 1, 0), "in order, none dropped");
        prev = value;
        if value % 1000 == 0 {
            println!("{value}");
        }
    }
}

fn non_reading_client() {
    const TOTAL: u64 = 6000;
    let name = service("Feed");
    let table = ItemTable::new();
    table.set("Feed", "Tick", CF_TEXT, b"0".to_vec());
    let server = DdeServer::register(&name, table.clone()).unwrap();
    let total = TOTAL.to_string();
    let mut stalled = start("stalled", &[&name, &total]);
    let mut readers: Vec<Peer> = (0..3).map(|_| start("reader", &[&name, &total])).collect();
    // Each thousand updates goes out once every reader has taken the previous thousand: the
    // readers never fall behind, while the stalled client takes none.
    for value in 1..=TOTAL {
        table.set("Feed", "Tick", CF_TEXT, value.to_string().into_bytes());
        assert_eq!(server.post_advise("Feed", "Tick"), 4);
        if value % 1000 == 0 {
            for r in &mut readers {
                assert_eq!(line(&mut r.out), value.to_string());
            }
        }
    }
    // Every reader got all of it, in order, while the stalled client still holds its first.
    for r in &mut readers {
        let status = wait(&mut r.child);
        assert!(status.success(), "{status}");
    }
    let stalled_hwnd = {
        let clients =
            pipework::window::find_windows(Some(pipework::dde::CLIENT_CLASS), None).unwrap();
        clients
            .into_iter()
            .find(|w| w.pid == stalled.child.id())
            .expect("the stalled client's window")
            .hwnd
    };
    let dropped = server.dropped_for(stalled_hwnd);
    assert!(dropped > 0, "the stalled client's link dropped updates");
    // Released, it catches up: the last value arrives, and what it got plus what it was told
    // it missed is every update.
    writeln!(stalled.child.stdin.as_mut().unwrap()).unwrap();
    let report = line(&mut stalled.out);
    let (got, missed) = report.split_once(' ').unwrap();
    let (got, missed): (u64, u64) = (got.parse().unwrap(), missed.parse().unwrap());
    assert_eq!(got + missed, TOTAL, "{report}");
    assert_eq!(missed, dropped);
    eprintln!("stalled client: {got} updates delivered, {missed} dropped; readers: {TOTAL} each, none dropped");
    stalled.end();
}

fn registered_formats() {
    let f = pipework::dde::parse_format("Pipework Test Format").unwrap();
    assert!(f >= 0xC000);
    assert_eq!(
        pipework::dde::parse_format("pipework test format").unwrap(),
        f
    );
    assert_eq!(pipework::dde::format_name(f), "Pipework Test Format");
    assert_eq!(
        pipework::dde::parse_format("cf_unicodetext").unwrap(),
        CF_UNICODETEXT
    );
    assert_eq!(pipework::dde::parse_format("#7").unwrap(), 7);
}

/// Posts a forged `WM_DDE_DATA` to the client window in argument 0, naming the server window
/// in argument 1 and the conversation in argument 2 as a real update would.
fn role_injector(args: &[String]) {
    let client: pipework::window::Hwnd = args[0].parse().unwrap();
    let server: pipework::window::Hwnd = args[1].parse().unwrap();
    let id: u64 = args[2].parse().unwrap();
    // One update: item "R1C1", CF_TEXT, nothing missed, hot data "forged".
    let mut batch = Vec::new();
    batch.extend_from_slice(&1u32.to_le_bytes());
    batch.extend_from_slice(&4u32.to_le_bytes());
    batch.extend_from_slice(b"R1C1");
    batch.extend_from_slice(&CF_TEXT.to_le_bytes());
    batch.extend_from_slice(&0u64.to_le_bytes());
    batch.push(1);
    batch.extend_from_slice(&6u32.to_le_bytes());
    batch.extend_from_slice(b"forged");
    const WM_DDE_DATA: u32 = 0x03E5;
    let message =
        pipework::window::Outgoing::new(WM_DDE_DATA, server.as_raw() as usize, id as isize)
            .with_data(&batch);
    pipework::window::post(client, &message).unwrap();
    println!("ready");
}

fn stranger_injection() {
    let name = service("Inject");
    let table = table();
    let server = DdeServer::register(&name, table.clone()).unwrap();
    let (tx, rx) = mpsc::channel();
    let client = DdeClient::new(move |u| {
        let _ = tx.send(u.data.map(<[u8]>::to_vec));
    })
    .unwrap();
    let conv = client.connect(Some(&name), Some("Sheet1")).unwrap();
    assert_eq!(
        conv.advise_start("R1C1", CF_TEXT, AdviseFlags::default())
            .unwrap(),
        Ack::Ack
    );
    let id = conv.id();
    assert_eq!(id.server, server.hwnd());
    // Another process posts an update that names the conversation; it is not the server's.
    let injector = start(
        "injector",
        &[
            &client.hwnd().to_string(),
            &id.server.to_string(),
            &id.id.to_string(),
        ],
    );
    injector.end();
    // The server's own update, posted after the forged one, is the first the callback sees.
    table.set("Sheet1", "R1C1", CF_TEXT, b"real".to_vec());
    assert_eq!(server.post_advise("Sheet1", "R1C1"), 1);
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap().as_deref(),
        Some(&b"real"[..])
    );
    conv.disconnect().unwrap();
}

fn server_hangs_up() {
    let name = service("HangUp");
    // A topic of its own (see `hot_and_warm`): `wildcards` would add a conversation on Sheet1.
    let table = ItemTable::new();
    table.set("HangUp", "R1C1", CF_TEXT, b"1".to_vec());
    let server = DdeServer::register(&name, table).unwrap();
    let client = DdeClient::new(|_| {}).unwrap();
    let (tx, rx) = mpsc::channel();
    client.on_disconnect(move |id| {
        let _ = tx.send(id);
    });
    let first = client.connect(Some(&name), Some("HangUp")).unwrap();
    let second = client.connect(Some(&name), Some("HangUp")).unwrap();
    assert_eq!(server.conversations(), 2);
    // DdeDisconnect on the server's side: the client hears of that conversation only.
    assert!(server.disconnect(first.id().id));
    assert!(!server.disconnect(first.id().id));
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), first.id());
    let e = first.request("R1C1", CF_TEXT).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotConnected, "{e}");
    assert_eq!(
        second.request("R1C1", CF_TEXT).unwrap().as_deref(),
        Some(&b"1"[..])
    );
    // Unregistered with close: the rest.
    server.close();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap(), second.id());
    assert!(rx.try_recv().is_err());
}
