//! The clipboard on X11, against `xclip` under `Xvfb`: targets and text both ways, images,
//! change notices, delayed rendering on demand, and 32 MiB transfers (INCR) both ways.
//!
//! Built with the `x11` feature; its tests run with the `interop` feature (they need `Xvfb`
//! and `xclip`: `apt-get install xvfb xclip`). Each test starts its own `Xvfb` on a free
//! display and waits for it to say it is ready (`-displayfd`).

#![cfg_attr(not(feature = "interop"), allow(dead_code, unused_imports))]

mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{wait, TIMEOUT};
use pipework::clipboard::{register_format, Backend, Session, CF_TEXT, CF_UNICODETEXT};

fn main() {
    common::main(
        &[
            #[cfg(feature = "interop")]
            (
                "interop_text_set_by_pipework_is_read_by_xclip",
                interop_text_set_by_pipework_is_read_by_xclip,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_text_and_image_set_by_xclip_are_read_by_pipework",
                interop_text_and_image_set_by_xclip_are_read_by_pipework,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_sequence_number_and_listener_follow_xclip",
                interop_sequence_number_and_listener_follow_xclip,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_delayed_format_is_rendered_once_when_xclip_asks",
                interop_delayed_format_is_rendered_once_when_xclip_asks,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_32_mib_cross_by_incr_both_ways",
                interop_32_mib_cross_by_incr_both_ways,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_owner_is_told_when_xclip_takes_the_clipboard",
                interop_owner_is_told_when_xclip_takes_the_clipboard,
            ),
        ],
        &[("destroy_watcher", destroy_watcher)],
    );
}

const WAIT: Duration = Duration::from_secs(10);

/// An Xvfb server of this test's, killed when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        // A display number nobody uses (no socket, no lock file), different for each test of
        // this binary; a number taken meanwhile makes Xvfb exit at once, and the next is tried.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let base = 100 + (std::process::id() % 400) * 8;
        for _ in 0..50 {
            let n = base + NEXT.fetch_add(1, Ordering::SeqCst);
            if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                || std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
            {
                continue;
            }
            let mut child = Command::new("Xvfb")
                .args([
                    format!(":{n}").as_str(),
                    "-nolisten",
                    "tcp",
                    "-screen",
                    "0",
                    "64x64x24",
                    "-displayfd",
                    "1",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("Xvfb is needed for the X11 interop tests (apt-get install xvfb)");
            // -displayfd: Xvfb writes the display number once it listens (or ends, on failure).
            let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
            if common::line(&mut out) == n.to_string() {
                return Xvfb {
                    child,
                    display: format!(":{n}"),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no display number was free for Xvfb");
    }

    fn session(&self) -> Session {
        let session = Session::x11(Some(&self.display)).unwrap();
        assert_eq!(session.backend(), Backend::X11);
        session
    }

    fn xclip(&self, args: &[&str]) -> Command {
        let mut command = Command::new("xclip");
        command
            .env("DISPLAY", &self.display)
            .args(["-selection", "clipboard"])
            .args(args);
        command
    }

    /// What `xclip -o ARGS` prints.
    fn xclip_out(&self, args: &[&str]) -> Vec<u8> {
        let mut child = self
            .xclip(&[&["-o"], args].concat())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("xclip is needed for the X11 interop tests (apt-get install xclip)");
        let mut out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            out.read_to_end(&mut all).unwrap();
            all
        });
        let status = wait(&mut child);
        assert!(status.success(), "xclip -o {args:?}: {status}");
        reader.join().unwrap()
    }

    /// Puts `data` on the clipboard with `xclip -i ARGS` (xclip goes on serving it in the
    /// background), and waits until the X server says the clipboard changed hands.
    fn xclip_in(&self, session: &Session, args: &[&str], data: &[u8]) {
        let mut listener = session.listen().unwrap();
        let mut child = self
            .xclip(&[&["-i"], args].concat())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        let writer = std::thread::spawn(move || {
            stdin.write_all(&data).unwrap();
        });
        writer.join().unwrap();
        let status = wait(&mut child);
        assert!(status.success(), "xclip -i {args:?}: {status}");
        // A notice of this process's own earlier change may still come first: wait until the
        // clipboard has left it.
        loop {
            assert!(
                listener.wait(Some(TIMEOUT)).unwrap().is_some(),
                "xclip never took the clipboard"
            );
            if session.owner().unwrap().is_none() {
                break;
            }
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn interop_text_set_by_pipework_is_read_by_xclip() {
    let x = Xvfb::start();
    let session = x.session();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set_text("Grüße from pipework").unwrap();
    }
    assert_eq!(session.owner().unwrap(), Some(std::process::id()));
    let targets = String::from_utf8(x.xclip_out(&["-t", "TARGETS"])).unwrap();
    for t in [
        "TARGETS",
        "UTF8_STRING",
        "text/plain;charset=utf-8",
        "STRING",
    ] {
        assert!(targets.lines().any(|l| l == t), "{t} not in {targets:?}");
    }
    assert_eq!(x.xclip_out(&[]), "Grüße from pipework".as_bytes());
    assert_eq!(
        x.xclip_out(&["-t", "UTF8_STRING"]),
        "Grüße from pipework".as_bytes()
    );
    // And read back through X by pipework itself, in every text format.
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.formats().unwrap()[0], CF_UNICODETEXT);
    assert_eq!(
        clipboard.get(CF_TEXT).unwrap().unwrap(),
        "Grüße from pipework\0".as_bytes()
    );
}

fn interop_text_and_image_set_by_xclip_are_read_by_pipework() {
    let x = Xvfb::start();
    let session = x.session();
    x.xclip_in(&session, &[], "text from xclip ✓".as_bytes());
    assert_eq!(session.owner().unwrap(), None);
    {
        let clipboard = session.open(WAIT).unwrap();
        assert!(clipboard.formats().unwrap().contains(&CF_UNICODETEXT));
        assert_eq!(
            clipboard.get_text().unwrap().as_deref(),
            Some("text from xclip ✓")
        );
    }
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain((0..5000u32).map(|i| (i * 7) as u8))
        .collect();
    x.xclip_in(&session, &["-t", "image/png"], &png);
    let png_format = register_format("PNG").unwrap();
    let clipboard = session.open(WAIT).unwrap();
    assert!(clipboard.formats().unwrap().contains(&png_format));
    assert!(session.is_format_available(png_format).unwrap());
    assert_eq!(clipboard.get(png_format).unwrap().unwrap(), png);
}

fn interop_sequence_number_and_listener_follow_xclip() {
    let x = Xvfb::start();
    let session = x.session();
    let mut listener = session.listen().unwrap();
    let before = session.sequence_number().unwrap();
    let mut child = x
        .xclip(&["-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"changed").unwrap();
    assert!(wait(&mut child).success());
    let seen = listener
        .wait(Some(TIMEOUT))
        .unwrap()
        .expect("a change notice");
    assert!(seen > before);
    assert!(session.sequence_number().unwrap() > before);
    // pipework's own change is one too, and so is xclip's next.
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set_text("mine").unwrap();
    }
    assert!(listener.wait(Some(TIMEOUT)).unwrap().unwrap() > seen);
    x.xclip_in(&session, &[], b"theirs");
    assert_eq!(session.owner().unwrap(), None);
}

fn interop_delayed_format_is_rendered_once_when_xclip_asks() {
    let x = Xvfb::start();
    let session = x.session();
    let format = register_format("text/x-pipework-delayed").unwrap();
    let renders = Arc::new(AtomicUsize::new(0));
    let counted = renders.clone();
    let renderer = session
        .renderer(move |f| {
            counted.fetch_add(1, Ordering::SeqCst);
            (f == format).then(|| b"rendered on demand".to_vec())
        })
        .unwrap();
    {
        let mut clipboard = renderer.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set_delayed(format).unwrap();
    }
    let targets = String::from_utf8(x.xclip_out(&["-t", "TARGETS"])).unwrap();
    assert!(
        targets.lines().any(|l| l == "text/x-pipework-delayed"),
        "{targets:?}"
    );
    // Listing the targets renders nothing.
    assert_eq!(renders.load(Ordering::SeqCst), 0);
    for _ in 0..2 {
        assert_eq!(
            x.xclip_out(&["-t", "text/x-pipework-delayed"]),
            b"rendered on demand"
        );
    }
    assert_eq!(renders.load(Ordering::SeqCst), 1);
}

fn interop_32_mib_cross_by_incr_both_ways() {
    let x = Xvfb::start();
    let session = x.session();
    let big: Vec<u8> = (0..32u32 << 20).map(|i| (i % 253) as u8).collect();
    let format = register_format("application/x-pipework-big").unwrap();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set(format, &big).unwrap();
    }
    let out = x.xclip_out(&["-t", "application/x-pipework-big"]);
    assert_eq!(out.len(), big.len());
    assert!(out == big);
    // The other way: xclip serves 32 MiB, pipework reads it.
    let other: Vec<u8> = big.iter().map(|b| b.wrapping_add(1)).collect();
    x.xclip_in(&session, &["-t", "application/x-pipework-big"], &other);
    let clipboard = session.open(WAIT).unwrap();
    let got = clipboard.get(format).unwrap().unwrap();
    assert_eq!(got.len(), other.len());
    assert!(got == other);
}

// Child: owns the clipboard of X11 display args[0] through a renderer, says so, and prints
// "destroyed" when told (WM_DESTROYCLIPBOARD, on SelectionClear), by callback and by wait.
fn destroy_watcher(args: &[String]) {
    let session = Session::x11(Some(&args[0])).unwrap();
    let renderer = session.renderer(|_| None).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    renderer.on_destroy(move || {
        let _ = tx.send(());
    });
    {
        let mut clipboard = renderer.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set_text("about to go").unwrap();
    }
    println!("owner");
    assert!(renderer.wait_destroyed(TIMEOUT), "no WM_DESTROYCLIPBOARD");
    rx.recv_timeout(TIMEOUT).expect("the callback ran");
    println!("destroyed {:?}", session.owner().unwrap());
}

fn interop_owner_is_told_when_xclip_takes_the_clipboard() {
    let x = Xvfb::start();
    let session = x.session();
    let mut child = common::child("destroy_watcher")
        .arg(&x.display)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    assert_eq!(common::line(&mut out), "owner");
    x.xclip_in(&session, &[], b"taken");
    assert_eq!(common::line(&mut out), "destroyed None");
    assert!(wait(&mut child).success());
}
