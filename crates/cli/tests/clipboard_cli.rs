//! `pipework clipboard ...` end to end: set, get, formats, clear and watch on a headless
//! clipboard between separate processes; and (interop, under Xvfb) data set on X11 by a command
//! that has exited, read by `xclip`.

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
