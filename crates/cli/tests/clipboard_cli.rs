//! `pipework clipboard ...` end to end: set, get, formats, clear and watch on a headless
//! clipboard between separate processes; and (interop) data set by a command that has exited,
//! read by `xclip` under Xvfb and by `wl-paste` under a headless sway.

mod common;

use std::io::Write;
#[cfg(feature = "interop")]
use std::process::Command;
use std::process::Stdio;

use common::{assert_success, finish, output as pipework, spawn_announced};

fn name(what: &str) -> String {
    format!("pw-cli-test-{}-{what}", std::process::id())
}

/// Runs `pipework clipboard --headless NAME ARGS` with `input` on stdin.
fn clip(clipboard: &str, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = common::pipework()
        .args(["clipboard", "--headless", clipboard])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    finish(child, "pipework clipboard")
}

fn remove(clipboard: &str) {
    pipework::clipboard::Session::headless(clipboard)
        .unwrap()
        .remove()
        .unwrap();
}

#[test]
fn set_get_formats_and_clear_between_processes() {
    let c = name("basic");
    assert_success(&clip(&c, &["set"], "héllo wörld".as_bytes()));
    let out = clip(&c, &["get"], b"");
    assert_success(&out);
    assert_eq!(out.stdout, "héllo wörld".as_bytes());
    let out = clip(&c, &["formats"], b"");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "13\tCF_UNICODETEXT\n1\tCF_TEXT\n7\tCF_OEMTEXT\n"
    );
    // A synthesized format, as text on stdout.
    let out = clip(&c, &["get", "--format", "CF_OEMTEXT"], b"");
    assert_eq!(out.stdout, "héllo wörld".as_bytes());
    let out = clip(&c, &["formats", "--json"], b"");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["name"], "CF_UNICODETEXT");
    assert_success(&clip(&c, &["clear"], b""));
    let out = clip(&c, &["get"], b"");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no CF_UNICODETEXT"),
        "{out:?}"
    );
    remove(&c);
}

#[test]
fn mime_types_and_file_lists() {
    let c = name("mime");
    let png = b"\x89PNG\r\n\x1a\nnot really";
    assert_success(&clip(&c, &["set", "--mime", "image/png"], png));
    let out = clip(&c, &["get", "--format", "PNG"], b"");
    assert_eq!(out.stdout, png);
    let out = clip(&c, &["formats"], b"");
    assert!(String::from_utf8(out.stdout).unwrap().ends_with("\tPNG\n"));
    assert_success(&clip(
        &c,
        &["set", "--mime", "text/uri-list"],
        b"# a comment\r\nfile:///tmp/a%20b\r\nfile:///x\r\n",
    ));
    let out = clip(&c, &["get", "--format", "hdrop"], b"");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "/tmp/a b\n/x\n");
    let out = clip(&c, &["get", "--mime", "text/uri-list"], b"");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "file:///tmp/a%20b\r\nfile:///x\r\n"
    );
    remove(&c);
}

#[test]
fn watch_prints_each_change() {
    let c = name("watch");
    let (watcher, said) = spawn_announced(
        common::pipework()
            .args(["clipboard", "--headless", &c, "watch", "--count", "2"])
            .stdin(Stdio::null()),
    );
    assert!(said.contains("watching"), "{said:?}");
    assert_success(&clip(&c, &["set"], b"one"));
    assert_success(&clip(&c, &["set", "--format", "0x200"], b"two"));
    let out = finish(watcher, "pipework clipboard watch");
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:?}");
    assert!(
        lines[0].ends_with(" CF_UNICODETEXT,CF_TEXT,CF_OEMTEXT"),
        "{text:?}"
    );
    assert!(lines[1].ends_with(" CF_PRIVATEFIRST+0"), "{text:?}");
    remove(&c);
}

#[test]
fn bad_format_is_refused() {
    let out = pipework(&[
        "clipboard",
        "--headless",
        &name("bad"),
        "get",
        "--format",
        "0",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("clipboard format"),
        "{out:?}"
    );
}

/// Under Xvfb: `pipework clipboard set` exits at once, and its data is still there for `xclip`
/// (a background holder serves it until another program takes the clipboard).
#[cfg(feature = "interop")]
#[test]
fn interop_x11_data_outlives_the_set_command() {
    let (mut xvfb, display) = start_xvfb();
    let mut set = common::pipework()
        .args(["clipboard", "--display", &display, "set"])
        .env("DISPLAY", &display)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin
        .take()
        .unwrap()
        .write_all(b"kept after exit")
        .unwrap();
    let out = finish(set, "pipework clipboard set");
    assert_success(&out);
    // "holding the clipboard in process N until another program takes it"
    let said = String::from_utf8_lossy(&out.stderr);
    let holder: u32 = said
        .split_whitespace()
        .skip_while(|w| *w != "process")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no holder in {said:?}"));
    let holder = pipework::process::Process::open(holder).unwrap();
    let xclip = Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .env("DISPLAY", &display)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("xclip (apt-get install xclip)");
    let out = finish(xclip, "xclip -o");
    assert_eq!(out.stdout, b"kept after exit");
    let out = pipework(&["clipboard", "--display", &display, "get"]);
    assert_eq!(out.stdout, b"kept after exit");
    // Another program takes the clipboard: the holder's work is done and it ends.
    let mut take = Command::new("xclip")
        .args(["-i", "-selection", "clipboard"])
        .env("DISPLAY", &display)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    take.stdin.take().unwrap().write_all(b"taken").unwrap();
    assert!(finish(take, "xclip -i").status.success());
    assert!(
        holder.wait_timeout(common::TIMEOUT).unwrap(),
        "the holder still runs after losing the clipboard"
    );
    let _ = xvfb.kill();
    let _ = xvfb.wait();
}

#[cfg(feature = "interop")]
fn start_xvfb() -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let base = 3000 + (std::process::id() % 400) * 8;
    for n in base..base + 50 {
        if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            continue;
        }
        let mut child = Command::new("Xvfb")
            .args([&format!(":{n}"), "-nolisten", "tcp", "-displayfd", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (apt-get install xvfb)");
        // -displayfd: one line with the display number once it listens; nothing if it fails.
        let stdout = child.stdout.take().unwrap();
        let ready = {
            use rustix::event::{poll, PollFd, PollFlags, Timespec};
            let mut fds = [PollFd::new(&stdout, PollFlags::IN)];
            let limit = Timespec {
                tv_sec: common::TIMEOUT.as_secs() as _,
                tv_nsec: 0,
            };
            poll(&mut fds, Some(&limit)).unwrap_or(0) > 0
        };
        assert!(ready, "Xvfb said nothing within {:?}", common::TIMEOUT);
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() == n.to_string() {
            return (child, format!(":{n}"));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("no free display for Xvfb");
}

/// A headless sway (run as `nobody` when root: sway refuses root) in a runtime directory of its
/// own; returns it, the directory and the socket's path once its config's `exec` ran.
#[cfg(feature = "interop")]
fn start_sway() -> (std::process::Child, std::path::PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("pw-cli-sway-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let root = rustix::process::getuid().is_root();
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
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        std::os::unix::fs::chown(&ready, Some(65534), Some(65534)).unwrap();
    }
    let fifo = rustix::fs::open(
        &ready,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let config = dir.join("config");
    std::fs::write(&config, format!("exec echo ready > {}\n", ready.display())).unwrap();
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
        .stderr(Stdio::null())
        .spawn()
        .expect("sway (apt-get install sway)");
    let started = {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&fifo, PollFlags::IN)];
        let limit = Timespec {
            tv_sec: common::TIMEOUT.as_secs() as _,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&limit)).unwrap_or(0) > 0
    };
    assert!(started, "sway did not start within {:?}", common::TIMEOUT);
    let socket = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("wayland-") && !name.ends_with(".lock")
        })
        .expect("sway made no socket");
    (child, dir, socket.to_str().unwrap().to_string())
}

/// Under a headless sway: `pipework clipboard set` exits at once, its data is read by
/// `wl-paste` with the text types, `formats` and `get` read it on Wayland, and the background
/// holder ends when `wl-copy` takes the clipboard.
#[cfg(feature = "interop")]
#[test]
fn interop_wayland_data_outlives_the_set_command() {
    let (mut sway, dir, socket) = start_sway();
    let wl = |program: &str, args: &[&str], input: Option<&[u8]>| {
        let mut child = Command::new(program)
            .args(args)
            .env("WAYLAND_DISPLAY", &socket)
            .env("XDG_RUNTIME_DIR", &dir)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("wl-clipboard (apt-get install wl-clipboard)");
        if let Some(input) = input {
            child.stdin.take().unwrap().write_all(input).unwrap();
        }
        finish(child, program)
    };
    let mut set = common::pipework()
        .args(["clipboard", "--wayland", &socket, "set"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    set.stdin
        .take()
        .unwrap()
        .write_all("kept after exit ✓".as_bytes())
        .unwrap();
    let out = finish(set, "pipework clipboard set");
    assert_success(&out);
    let said = String::from_utf8_lossy(&out.stderr);
    let holder: u32 = said
        .split_whitespace()
        .skip_while(|w| *w != "process")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no holder in {said:?}"));
    let holder = pipework::process::Process::open(holder).unwrap();
    let types = String::from_utf8(wl("wl-paste", &["--list-types"], None).stdout).unwrap();
    assert!(
        types.lines().any(|t| t == "text/plain;charset=utf-8"),
        "{types:?}"
    );
    assert_eq!(
        wl("wl-paste", &["-n"], None).stdout,
        "kept after exit ✓".as_bytes()
    );
    let out = pipework(&["clipboard", "--wayland", &socket, "get"]);
    assert_eq!(out.stdout, "kept after exit ✓".as_bytes());
    let out = pipework(&["clipboard", "--wayland", &socket, "formats"]);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("13\tCF_UNICODETEXT\n"),);
    // wl-copy takes the clipboard: the holder ends, and pipework reads wl-copy's text.
    assert!(wl("wl-copy", &[], Some(b"taken")).status.success());
    assert!(
        holder.wait_timeout(common::TIMEOUT).unwrap(),
        "the holder still runs after losing the clipboard"
    );
    let out = pipework(&["clipboard", "--wayland", &socket, "get"]);
    assert_eq!(out.stdout, b"taken");
    let _ = sway.kill();
    let _ = sway.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
