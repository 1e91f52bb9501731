//! Message windows across real processes: finding, sending, posting, `WM_COPYDATA`, and what
//! happens when a window's process dies, hangs or stops reading.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Stdio};
use std::time::Duration;

use common::{child, line, wait, TIMEOUT};
use pipework::window::{self, Hwnd, Outgoing, SendOptions, Window, WindowOptions, WM_USER};

const DOUBLE: u32 = WM_USER + 1;
const HANG: u32 = WM_USER + 2;
const DIE: u32 = WM_USER + 3;
const PID: u32 = WM_USER + 4;

fn main() {
    // Every window of this run lives in a directory of its own, so that a broadcast reaches
    // only this run's windows (children inherit it).
    if std::env::var_os("PIPEWORK_RUNTIME_DIR").is_none() {
        // Directories of earlier runs whose process is gone.
        for entry in std::fs::read_dir(std::env::temp_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("pipework-window-test-") {
                if !std::path::Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = std::env::temp_dir().join(format!("pipework-window-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        std::env::set_var("PIPEWORK_RUNTIME_DIR", &dir);
    }
    common::main(
        &[
            ("found_by_class_and_title_and_sent_to", found_and_sent),
            ("a_killed_owners_window_fails_at_once", killed_owner),
            (
                "a_hung_handler_times_out_and_the_sender_goes_on",
                hung_handler,
            ),
            ("sixteen_processes_send_a_thousand_each", sixteen_senders),
            (
                "copydata_of_every_size_with_the_senders_identity",
                copydata_sizes,
            ),
            ("a_receiver_that_dies_mid_call_is_told_apart", dies_mid_call),
            ("a_full_post_queue_is_a_clear_error", post_queue_full),
            ("sent_messages_come_before_posted_ones", pump_order),
            ("a_destroyed_window_is_gone", destroyed),
            ("broadcast_reaches_every_window", broadcast),
            ("tokio_receives_and_sends", tokio_front_end),
        ],
        &[
            ("window", role_window),
            ("sender", role_sender),
            ("broadcast", role_broadcast),
        ],
    )
}

/// A child window: class and title from the arguments; prints its handle, then handles
/// messages until its stdin closes (or a `DIE` message).
fn role_window(args: &[String]) {
    let mut options = WindowOptions::new(&args[0]);
    options.title(&args[1]).hung_after(Duration::ZERO);
    let window = options.create().unwrap();
    println!("{}", window.hwnd());
    let (release, released) = std::sync::mpsc::channel::<()>();
    let _thread = window.spawn(move |m| match m.msg() {
        DOUBLE => m.wparam() as isize * 2 + m.lparam(),
        PID => std::process::id() as isize,
        HANG => {
            // Stays in the handler until the parent writes a line.
            let _ = released.recv();
            -1
        }
        DIE => std::process::exit(3),
        window::WM_COPYDATA => {
            let (kind, data) = m.copy_data().unwrap();
            let origin = m.origin();
            assert_eq!(origin.uid, rustix::process::geteuid().as_raw());
            // The sender's pid and window come back through the result's parts.
            checked(data, kind, origin.pid, origin.window)
        }
        _ => 0,
    });
    // Lives until stdin ends; each line releases a hung handler.
    let mut rest = String::new();
    while std::io::stdin().lock().read_line(&mut rest).unwrap_or(0) > 0 {
        rest.clear();
        let _ = release.send(());
    }
}

/// A child sender: 1,000 sends to the window in argument 0, each reply checked.
fn role_sender(args: &[String]) {
    let target: Hwnd = args[0].parse().unwrap();
    let me = std::process::id() as usize;
    for i in 0..1000usize {
        let got = window::send_message(target, DOUBLE, me * 1000 + i, 1).unwrap();
        assert_eq!(got, ((me * 1000 + i) * 2 + 1) as isize);
    }
}

struct Owner {
    child: Child,
    out: BufReader<ChildStdout>,
    hwnd: Hwnd,
}

fn window_child(class: &str, title: &str) -> Owner {
    let mut child = child("window")
        .args([class, title])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let hwnd = line(&mut out).parse().unwrap();
    Owner { child, out, hwnd }
}

impl Owner {
    fn end(mut self) {
        drop(self.child.stdin.take());
        let status = wait(&mut self.child);
        assert!(status.success(), "{status}");
        drop(self.out);
    }
}

/// Data of `size` bytes: one 4 KiB block of varying bytes, repeated.
fn pattern(size: usize) -> Vec<u8> {
    let block: Vec<u8> = (0..4096).map(|i| (i * 7 + size) as u8).collect();
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        let n = (size - data.len()).min(block.len());
        data.extend_from_slice(&block[..n]);
    }
    data
}

/// What the receiver answers for `data`: a checksum of its first block, its length, kind and
/// sender, or -1 when a later block differs from the first (cheap enough for 64 MiB).
fn checked(data: &[u8], kind: usize, pid: u32, from: Option<Hwnd>) -> isize {
    let first = &data[..data.len().min(4096)];
    if !data.chunks(4096).all(|c| c == &first[..c.len()]) {
        return -1;
    }
    let sum = first.iter().fold(data.len() as u64, |a, &b| {
        a.wrapping_mul(31).wrapping_add(b as u64)
    });
    (sum ^ kind as u64 ^ pid as u64 ^ from.map_or(0, |h| h.as_raw())) as isize
}

fn found_and_sent() {
    let title = format!("found-{}", std::process::id());
    let owner = window_child("PipeworkTest", &title);
    let found = window::find_window(Some("pipeworktest"), Some(&title.to_uppercase()))
        .unwrap()
        .expect("found");
    assert_eq!(found, owner.hwnd);
    assert_eq!(
        window::find_window(Some("PipeworkTest"), Some("no such")).unwrap(),
        None
    );
    let listed = window::list().unwrap();
    let info = listed.iter().find(|w| w.hwnd == found).expect("listed");
    assert_eq!(
        (info.class.as_str(), info.title.as_str()),
        ("PipeworkTest", title.as_str())
    );
    assert_eq!(info.pid, owner.child.id());
    assert_eq!(window::send_message(found, DOUBLE, 20, 2).unwrap(), 42);
    assert_eq!(
        window::send_message(found, PID, 0, 0).unwrap(),
        owner.child.id() as isize
    );
    window::post_message(found, DOUBLE, 1, 1).unwrap();
    owner.end();
}

fn killed_owner() {
    let title = format!("killed-{}", std::process::id());
    let mut owner = window_child("PipeworkTest", &title);
    assert_eq!(window::send_message(owner.hwnd, DOUBLE, 1, 0).unwrap(), 2);
    owner.child.kill().unwrap(); // SIGKILL
    owner.child.wait().unwrap();
    // Fails at once: a wait here would time out instead (30 s), which the kind tells apart.
    let e = window::send_message_timeout(owner.hwnd, DOUBLE, 1, 0, TIMEOUT, false).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains(&owner.hwnd.to_string()), "{e}");
    let e = window::post_message(owner.hwnd, DOUBLE, 1, 0).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    assert!(window::list().unwrap().iter().all(|w| w.hwnd != owner.hwnd));
    assert_eq!(window::find_window(None, Some(&title)).unwrap(), None);
}

fn hung_handler() {
    let title = format!("hung-{}", std::process::id());
    let mut owner = window_child("PipeworkTest", &title);
    let e = window::send_message_timeout(owner.hwnd, HANG, 0, 0, Duration::from_millis(200), false)
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    // The handler is still stuck: with abort-if-hung the send fails at once, saying why.
    let e = window::send_message_timeout(owner.hwnd, DOUBLE, 1, 0, TIMEOUT, true).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    assert!(e.to_string().contains("not responding"), "{e}");
    // Released, the window answers again.
    writeln!(owner.child.stdin.as_mut().unwrap()).unwrap();
    let got = window::send_message_timeout(owner.hwnd, DOUBLE, 5, 0, TIMEOUT, false).unwrap();
    assert_eq!(got, 10);
    owner.end();
}

fn sixteen_senders() {
    let window = Window::create("PipeworkTest", &format!("busy-{}", std::process::id())).unwrap();
    let hwnd = window.hwnd();
    let thread = window.spawn(|m| m.wparam() as isize * 2 + m.lparam());
    let mut senders: Vec<Child> = (0..16)
        .map(|_| child("sender").arg(hwnd.to_string()).spawn().unwrap())
        .collect();
    for s in &mut senders {
        let status = wait(s);
        assert!(status.success(), "a sender failed: {status}");
    }
    thread.close();
}

fn copydata_sizes() {
    let title = format!("copydata-{}", std::process::id());
    let owner = window_child("PipeworkTest", &title);
    let me = std::process::id();
    let sizes = [
        0,
        1,
        64,
        window::MEMFD_THRESHOLD - 1,
        window::MEMFD_THRESHOLD,
        1 << 20,
        64 << 20,
    ];
    for size in sizes {
        let data = pattern(size);
        let want = checked(&data, 9, me, None);
        let got = window::copy_data(owner.hwnd, 9, &data, Some(TIMEOUT)).unwrap();
        assert_eq!(got, want, "{size} bytes");
    }
    // From a window of ours: the receiver sees it.
    let mine = Window::create("PipeworkTest", "sender").unwrap();
    let got = mine.copy_data(owner.hwnd, 1, b"hi", Some(TIMEOUT)).unwrap();
    assert_eq!(got, checked(b"hi", 1, me, Some(mine.hwnd())));
    // WM_COPYDATA cannot be posted.
    let e = window::post(
        owner.hwnd,
        &Outgoing::new(window::WM_COPYDATA, 0, 0).with_data(b"x"),
    )
    .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    owner.end();
}

fn dies_mid_call() {
    let title = format!("dies-{}", std::process::id());
    let mut owner = window_child("PipeworkTest", &title);
    let e = window::send_message_timeout(owner.hwnd, DIE, 0, 0, TIMEOUT, false).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted, "{e}");
    assert!(e.to_string().contains("ended during the call"), "{e}");
    let status = wait(&mut owner.child);
    assert_eq!(status.code(), Some(3));
    let e = window::copy_data(owner.hwnd, 0, b"x", Some(TIMEOUT)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
}

fn post_queue_full() {
    let mut options = WindowOptions::new("PipeworkTest");
    options.title("full").post_limit(10);
    let window = options.create().unwrap();
    for i in 0..10 {
        window::post_message(window.hwnd(), WM_USER, i, 0).unwrap();
    }
    let e = window::post_message(window.hwnd(), WM_USER, 10, 0).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::QuotaExceeded, "{e}");
    assert!(e.to_string().contains("queue is full"), "{e}");
    assert_eq!(window.queued(), 10);
    // Taking one makes room for one.
    assert_eq!(window.peek_message().unwrap().wparam(), 0);
    window::post_message(window.hwnd(), WM_USER, 11, 0).unwrap();
    let order: Vec<usize> =
        std::iter::from_fn(|| window.peek_message().map(|m| m.wparam())).collect();
    assert_eq!(order, [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
}

fn pump_order() {
    let window = Window::create("PipeworkTest", "pump").unwrap();
    let hwnd = window.hwnd();
    window::post_message(hwnd, WM_USER, 1, 0).unwrap();
    window::post(
        hwnd,
        &Outgoing::new(WM_USER, 2, 0).with_data(b"posted bytes"),
    )
    .unwrap();
    let sender = std::thread::spawn(move || {
        window::send(
            hwnd,
            &Outgoing::new(WM_USER + 9, 3, -3).with_data(b"sent bytes"),
            SendOptions::default(),
        )
    });
    // The sent message first, although it came last.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while window.queued() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sent message never came"
        );
        std::thread::yield_now();
    }
    let m = window.get_message_timeout(TIMEOUT).expect("sent");
    assert!(m.is_sent());
    assert_eq!(
        (m.msg(), m.wparam(), m.lparam(), m.data()),
        (WM_USER + 9, 3, -3, &b"sent bytes"[..])
    );
    assert_eq!(m.origin().pid, std::process::id());
    m.reply(77);
    assert_eq!(sender.join().unwrap().unwrap(), 77);
    let m = window.get_message();
    assert!(!m.is_sent());
    assert_eq!(m.wparam(), 1);
    let m = window.get_message();
    assert_eq!((m.wparam(), m.data()), (2, &b"posted bytes"[..]));
    assert!(window.peek_message().is_none());
    assert!(window
        .get_message_timeout(Duration::from_millis(1))
        .is_none());
    // A sent message dropped unanswered answers 0.
    let sender = std::thread::spawn(move || window::send_message(hwnd, WM_USER, 0, 0));
    drop(window.get_message());
    assert_eq!(sender.join().unwrap().unwrap(), 0);
}

fn destroyed() {
    let window = Window::create("PipeworkTest", "destroyed").unwrap();
    let hwnd = window.hwnd();
    assert!(window::list().unwrap().iter().any(|w| w.hwnd == hwnd));
    // A sent message waiting in the queue when the window goes is answered "destroyed".
    let sender = std::thread::spawn(move || window::send_message(hwnd, WM_USER, 0, 0));
    while window.queued() == 0 {
        std::thread::yield_now();
    }
    drop(window);
    let e = sender.join().unwrap().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted, "{e}");
    let e = window::send_message(hwnd, WM_USER, 0, 0).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    assert!(window::list().unwrap().iter().all(|w| w.hwnd != hwnd));
}

/// Runs the broadcast in a child with a runtime directory of its own, so that it reaches no
/// window of the other tests.
fn broadcast() {
    let dir = std::env::temp_dir().join(format!("pipework-broadcast-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let mut c = child("broadcast")
        .env("PIPEWORK_RUNTIME_DIR", &dir)
        .spawn()
        .unwrap();
    let status = wait(&mut c);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{status}");
}

fn role_broadcast(_: &[String]) {
    let a = window_child("PipeworkBroadcast", "a");
    let b = window_child("PipeworkBroadcast", "b");
    let mine = Window::create("PipeworkBroadcast", "mine").unwrap();
    let mine = mine.spawn(|m| if m.msg() == DOUBLE { 1000 } else { 0 });
    let results = window::broadcast(DOUBLE, 4, 0, TIMEOUT).unwrap();
    for (hwnd, want) in [(a.hwnd, 8), (b.hwnd, 8), (mine.hwnd(), 1000)] {
        let got = results.iter().find(|(h, _)| *h == hwnd).expect("reached");
        assert_eq!(*got.1.as_ref().unwrap(), want);
    }
    let posted = window::broadcast_post(WM_USER, 0, 0).unwrap();
    assert_eq!(posted.len(), 3);
    assert!(posted.iter().all(|(_, r)| r.is_ok()));
    a.end();
    b.end();
    mine.close();
}

fn tokio_front_end() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let window = Window::create("PipeworkTest", "tokio").unwrap();
        let hwnd = window.hwnd();
        let send = tokio::spawn(window::send_async(
            hwnd,
            WM_USER,
            6,
            0,
            b"abc".to_vec(),
            SendOptions::default(),
        ));
        let m = tokio::time::timeout(TIMEOUT, window.recv()).await.unwrap();
        assert_eq!(m.data(), b"abc");
        let result = m.wparam() as isize + 1;
        m.reply(result);
        assert_eq!(send.await.unwrap().unwrap(), 7);
        let copy = tokio::spawn(window::copy_data_async(hwnd, 2, vec![1; 10], Some(TIMEOUT)));
        let m = tokio::time::timeout(TIMEOUT, window.recv()).await.unwrap();
        assert_eq!(m.copy_data().unwrap(), (2, &[1u8; 10][..]));
        m.reply(5);
        assert_eq!(copy.await.unwrap().unwrap(), 5);
    });
}
