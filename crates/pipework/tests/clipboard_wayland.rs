//! The clipboard on Wayland, against `wl-copy` / `wl-paste` (wl-clipboard) under a headless
//! `sway` (which offers the wlroots data-control protocol): types and text both ways, images,
//! change notices, delayed rendering on demand, 32 MiB both ways, data that outlives its
//! owner, the owner told when another client takes the clipboard, and the backend order.
//!
//! Built with the `wayland` feature; its tests run with the `interop` feature (they need
//! `sway` and `wl-clipboard`: `apt-get install sway wl-clipboard`). Each test starts its own
//! sway on the headless backend, in a runtime directory of its own (0700), and waits for the
//! `exec` line of its config to say it runs. sway refuses to run as root: as root the test runs
//! it as `nobody` (`setpriv`), and reaches its socket as root.

#![cfg_attr(not(feature = "interop"), allow(dead_code, unused_imports))]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
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
                "interop_wayland_text_set_by_pipework_is_read_by_wl_paste",
                interop_wayland_text_set_by_pipework_is_read_by_wl_paste,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_wayland_text_and_image_set_by_wl_copy_are_read_by_pipework",
                interop_wayland_text_and_image_set_by_wl_copy_are_read_by_pipework,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_wayland_sequence_number_and_listener_follow_wl_copy",
                interop_wayland_sequence_number_and_listener_follow_wl_copy,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_wayland_delayed_format_is_rendered_once_when_wl_paste_asks",
                interop_wayland_delayed_format_is_rendered_once_when_wl_paste_asks,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_wayland_32_mib_cross_both_ways",
                interop_wayland_32_mib_cross_both_ways,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_wayland_data_outlives_an_owner_that_exits_cleanly",
                interop_wayland_data_outlives_an_owner_that_exits_cleanly,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_wayland_owner_is_told_when_wl_copy_takes_the_clipboard",
                interop_wayland_owner_is_told_when_wl_copy_takes_the_clipboard,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_wayland_system_prefers_wayland_then_falls_back",
                interop_wayland_system_prefers_wayland_then_falls_back,
            ),
        ],
        &[
            ("exiting_owner", exiting_owner),
            ("destroy_watcher", destroy_watcher),
            ("system_backend", system_backend),
        ],
    );
}

const WAIT: Duration = Duration::from_secs(10);

/// A headless sway of this test's, killed (and its directory removed) when dropped.
struct Sway {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Sway {
    fn start() -> Sway {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pw-sway-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let root = rustix::process::getuid().is_root();
        if root {
            std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        }
        // sway's `exec` runs once it serves clients: it writes into this FIFO.
        let ready = dir.join("ready");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &ready,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        if root {
            std::os::unix::fs::chown(&ready, Some(65534), Some(65534)).unwrap();
        }
        let fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ready)
            .unwrap();
        let config = dir.join("config");
        std::fs::write(&config, format!("exec echo ready > {}\n", ready.display())).unwrap();
        let log = std::fs::File::create(dir.join("log")).unwrap();
        let mut command = if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "sway"]);
            c
        } else {
            Command::new("sway")
        };
        let child = command
            .arg("-c")
            .arg(&config)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("XDG_RUNTIME_DIR", &dir)
            .env("WLR_BACKENDS", "headless")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_RENDERER", "pixman")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sway is needed for the Wayland interop tests (apt-get install sway)");
        let mut sway = Sway {
            child,
            dir,
            socket: PathBuf::new(),
        };
        if !common::readable_within(&fifo, TIMEOUT) {
            let log = std::fs::read_to_string(sway.dir.join("log")).unwrap_or_default();
            panic!("sway did not start within {TIMEOUT:?}: {log}");
        }
        sway.socket = std::fs::read_dir(&sway.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("wayland-") && !name.ends_with(".lock")
            })
            .expect("sway made no wayland socket");
        sway
    }

    fn display(&self) -> &str {
        self.socket.to_str().unwrap()
    }

    fn session(&self) -> Session {
        let session = Session::wayland(Some(self.display())).unwrap();
        assert_eq!(session.backend(), Backend::Wayland);
        session
    }

    fn env(&self, command: &mut Command) {
        command
            .env("WAYLAND_DISPLAY", &self.socket)
            .env("XDG_RUNTIME_DIR", &self.dir)
            .env_remove("DISPLAY");
    }

    /// What `wl-paste ARGS` prints.
    fn wl_paste(&self, args: &[&str]) -> Vec<u8> {
        let mut command = Command::new("wl-paste");
        self.env(&mut command);
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect(
                "wl-paste is needed for the Wayland interop tests (apt-get install wl-clipboard)",
            );
        let mut out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            out.read_to_end(&mut all).unwrap();
            all
        });
        let status = wait(&mut child);
        assert!(status.success(), "wl-paste {args:?}: {status}");
        reader.join().unwrap()
    }

    /// Puts `data` on the clipboard with `wl-copy ARGS` (it goes on serving it in the
    /// background), and waits until `session` hears that the clipboard changed hands.
    fn wl_copy(&self, session: &Session, args: &[&str], data: &[u8]) {
        let mut listener = session.listen().unwrap();
        let seen = session.sequence_number().unwrap();
        let mut command = Command::new("wl-copy");
        self.env(&mut command);
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = data.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
        writer.join().unwrap();
        let status = wait(&mut child);
        assert!(status.success(), "wl-copy {args:?}: {status}");
        while session.sequence_number().unwrap() == seen || session.owner().unwrap().is_some() {
            assert!(
                listener.wait(Some(TIMEOUT)).unwrap().is_some(),
                "wl-copy never took the clipboard"
            );
        }
    }

    fn list_types(&self) -> Vec<String> {
        String::from_utf8(self.wl_paste(&["--list-types"]))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

use std::os::unix::fs::OpenOptionsExt as _;

fn interop_wayland_text_set_by_pipework_is_read_by_wl_paste() {
    let sway = Sway::start();
    let session = sway.session();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set_text("Grüße from pipework").unwrap();
    }
    assert_eq!(session.owner().unwrap(), Some(std::process::id()));
    let types = sway.list_types();
    for t in [
        "text/plain;charset=utf-8",
        "text/plain",
        "UTF8_STRING",
        "STRING",
        "TEXT",
    ] {
        assert!(types.iter().any(|l| l == t), "{t} not in {types:?}");
    }
    assert_eq!(sway.wl_paste(&["-n"]), "Grüße from pipework".as_bytes());
    assert_eq!(
        sway.wl_paste(&["-n", "-t", "UTF8_STRING"]),
        "Grüße from pipework".as_bytes()
    );
    // STRING is Latin-1.
    assert_eq!(
        sway.wl_paste(&["-n", "-t", "STRING"]),
        b"Gr\xfc\xdfe from pipework"
    );
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.formats().unwrap()[0], CF_UNICODETEXT);
    assert_eq!(
        clipboard.get(CF_TEXT).unwrap().unwrap(),
        "Grüße from pipework\0".as_bytes()
    );
}

fn interop_wayland_text_and_image_set_by_wl_copy_are_read_by_pipework() {
    let sway = Sway::start();
    let session = sway.session();
    sway.wl_copy(&session, &[], "text from wl-copy ✓".as_bytes());
    assert_eq!(session.owner().unwrap(), None);
    {
        let clipboard = session.open(WAIT).unwrap();
        assert!(clipboard.formats().unwrap().contains(&CF_UNICODETEXT));
        assert_eq!(
            clipboard.get_text().unwrap().as_deref(),
            Some("text from wl-copy ✓")
        );
        assert_eq!(
            clipboard.get(CF_TEXT).unwrap().unwrap(),
            "text from wl-copy ✓\0".as_bytes()
        );
    }
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain((0..5000u32).map(|i| (i * 7) as u8))
        .collect();
    sway.wl_copy(&session, &["--type", "image/png"], &png);
    let png_format = register_format("PNG").unwrap();
    let clipboard = session.open(WAIT).unwrap();
    assert_eq!(clipboard.formats().unwrap(), [png_format]);
    assert!(session.is_format_available(png_format).unwrap());
    assert!(!session.is_format_available(CF_UNICODETEXT).unwrap());
    assert_eq!(clipboard.get(png_format).unwrap().unwrap(), png);
}

fn interop_wayland_sequence_number_and_listener_follow_wl_copy() {
    let sway = Sway::start();
    let session = sway.session();
    let mut listener = session.listen().unwrap();
    let before = session.sequence_number().unwrap();
    let mut command = Command::new("wl-copy");
    sway.env(&mut command);
    let mut child = command
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
    // pipework's own changes count, one each (empty, set), when they return.
    let mine = session.sequence_number().unwrap();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        assert_eq!(session.sequence_number().unwrap(), mine + 1);
        clipboard.set_text("mine").unwrap();
        assert_eq!(session.sequence_number().unwrap(), mine + 2);
    }
    assert!(listener.wait(Some(TIMEOUT)).unwrap().unwrap() > seen);
    // And so does wl-copy's next.
    sway.wl_copy(&session, &[], b"theirs");
    assert_eq!(session.owner().unwrap(), None);
    assert!(session.sequence_number().unwrap() > mine + 2);
}

fn interop_wayland_delayed_format_is_rendered_once_when_wl_paste_asks() {
    let sway = Sway::start();
    let session = sway.session();
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
        clipboard
            .set(
                CF_UNICODETEXT,
                &pipework::clipboard::encode_text(CF_UNICODETEXT, "placed"),
            )
            .unwrap();
        clipboard.set_delayed(format).unwrap();
    }
    let types = sway.list_types();
    assert!(
        types.iter().any(|l| l == "text/x-pipework-delayed"),
        "{types:?}"
    );
    // Listing the types, and pasting another format, renders nothing.
    assert_eq!(sway.wl_paste(&["-n"]), b"placed");
    assert_eq!(renders.load(Ordering::SeqCst), 0);
    for _ in 0..2 {
        assert_eq!(
            sway.wl_paste(&["-n", "-t", "text/x-pipework-delayed"]),
            b"rendered on demand"
        );
    }
    assert_eq!(renders.load(Ordering::SeqCst), 1);
}

fn interop_wayland_32_mib_cross_both_ways() {
    let sway = Sway::start();
    let session = sway.session();
    let big: Vec<u8> = (0..32u32 << 20).map(|i| (i % 253) as u8).collect();
    let format = register_format("application/x-pipework-big").unwrap();
    {
        let mut clipboard = session.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set(format, &big).unwrap();
    }
    let out = sway.wl_paste(&["-n", "-t", "application/x-pipework-big"]);
    assert_eq!(out.len(), big.len());
    assert!(out == big);
    // The other way: wl-copy serves 32 MiB, pipework reads it.
    let other: Vec<u8> = big.iter().map(|b| b.wrapping_add(1)).collect();
    sway.wl_copy(&session, &["--type", "application/x-pipework-big"], &other);
    let clipboard = session.open(WAIT).unwrap();
    let got = clipboard.get(format).unwrap().unwrap();
    assert_eq!(got.len(), other.len());
    assert!(got == other);
}

// Child: owns the clipboard of display args[0] with text placed and a registered format
// delayed, renders all and exits.
fn exiting_owner(args: &[String]) {
    let session = Session::wayland(Some(&args[0])).unwrap();
    let format = register_format("text/x-pipework-kept").unwrap();
    let renderer = session
        .renderer(move |f| (f == format).then(|| b"rendered at exit".to_vec()))
        .unwrap();
    {
        let mut clipboard = renderer.open(WAIT).unwrap();
        clipboard.empty().unwrap();
        clipboard.set_text("kept after exit").unwrap();
        clipboard.set_delayed(format).unwrap();
    }
    let rendered = renderer.render_all(WAIT).unwrap();
    println!("rendered {rendered}");
}

fn interop_wayland_data_outlives_an_owner_that_exits_cleanly() {
    let sway = Sway::start();
    let out = common::output_of(
        common::child("exiting_owner")
            .arg(sway.display())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(out.trim(), "rendered 1");
    // The owner is gone; its keeper serves both formats.
    let types = sway.list_types();
    assert!(
        types.iter().any(|t| t == "text/x-pipework-kept"),
        "{types:?}"
    );
    assert_eq!(sway.wl_paste(&["-n"]), b"kept after exit");
    assert_eq!(
        sway.wl_paste(&["-n", "-t", "text/x-pipework-kept"]),
        b"rendered at exit"
    );
    let session = sway.session();
    {
        let clipboard = session.open(WAIT).unwrap();
        assert_eq!(
            clipboard.get_text().unwrap().as_deref(),
            Some("kept after exit")
        );
    }
    // The keeper lets go when another client takes the clipboard.
    sway.wl_copy(&session, &[], b"next");
    assert_eq!(sway.wl_paste(&["-n"]), b"next");
}

// Child: owns the clipboard of display args[0] through a renderer, says so, and prints
// "destroyed" when told (WM_DESTROYCLIPBOARD), by callback and by wait.
fn destroy_watcher(args: &[String]) {
    let session = Session::wayland(Some(&args[0])).unwrap();
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
    assert!(!renderer.wait_destroyed(Duration::ZERO));
    println!("destroyed {:?}", session.owner().unwrap());
}

fn interop_wayland_owner_is_told_when_wl_copy_takes_the_clipboard() {
    let sway = Sway::start();
    let session = sway.session();
    let mut child = common::child("destroy_watcher")
        .arg(sway.display())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    assert_eq!(common::line(&mut out), "owner");
    sway.wl_copy(&session, &[], b"taken");
    assert_eq!(common::line(&mut out), "destroyed None");
    assert!(wait(&mut child).success());
    let mut rest = String::new();
    let _ = out.read_line(&mut rest);
}

// Child: prints the backend Session::system() chose.
fn system_backend(_: &[String]) {
    println!("{:?}", Session::system().unwrap().backend());
}

fn interop_wayland_system_prefers_wayland_then_falls_back() {
    let sway = Sway::start();
    let run = |wayland: &str, display: Option<&str>| {
        let mut command = common::child("system_backend");
        command
            .env("WAYLAND_DISPLAY", wayland)
            .env("XDG_RUNTIME_DIR", &sway.dir)
            .stdout(Stdio::piped());
        match display {
            Some(d) => command.env("DISPLAY", d),
            None => command.env_remove("DISPLAY"),
        };
        common::output_of(command.spawn().unwrap())
            .trim()
            .to_string()
    };
    let name = sway
        .socket
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // Wayland first, even with DISPLAY set (a relative name is under XDG_RUNTIME_DIR).
    assert_eq!(run(&name, Some(":12345")), "Wayland");
    assert_eq!(run(sway.display(), None), "Wayland");
    // No compositor there: the next in line (headless without DISPLAY).
    let missing = Path::new(&sway.dir).join("wayland-none");
    assert_eq!(run(missing.to_str().unwrap(), None), "Headless");
}
