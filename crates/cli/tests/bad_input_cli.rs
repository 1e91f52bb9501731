//! Bad input never makes `pipework` panic: a reader of its output that went away, lengths and
//! counts out of range. Each case runs the real binary and looks at its exit status and what it
//! said.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};

use common::{finish, pipework};

/// Runs `pipework ARGS` with nothing on stdin, within [`TIMEOUT`].
fn run(args: &[&str]) -> Output {
    let child = pipework()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, &format!("pipework {args:?}"))
}

/// A standard output whose reader is gone: every write to it fails with `EPIPE`.
fn closed_stdout() -> Stdio {
    let (reader, writer) = pipework::pipe::create().unwrap();
    drop(reader);
    Stdio::from(std::os::fd::OwnedFd::from(writer))
}

/// Runs `pipework ARGS` with a standard output nobody reads, within [`TIMEOUT`].
fn run_into_closed_stdout(args: &[&str]) -> Output {
    let child = pipework()
        .args(args)
        .stdin(Stdio::null())
        .stdout(closed_stdout())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, &format!("pipework {args:?}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Ended quietly, with status 0 (what `main` chose for a reader that went away).
fn assert_quiet(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
    assert!(out.stderr.is_empty(), "{what} said: {}", stderr(out));
}

/// Failed with a message (status 1, or 2 for clap's usage errors), without a panic.
fn assert_refused(out: &Output, status: i32, says: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(status), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for word in says {
        assert!(err.contains(word), "{word:?} not in {err}");
    }
}

fn unique(tag: &str) -> String {
    format!("pw-bad-{}-{tag}", std::process::id())
}

#[test]
fn every_printing_command_ends_quietly_when_its_reader_is_gone() {
    let mapping = format!("Local\\{}", unique("closed"));
    let _held = pipework::mapping::FileMapping::create(&mapping, 4096).unwrap();
    let pipe = unique("closed");
    let _server = pipework::named_pipe::ServerOptions::new()
        .create(&pipe)
        .unwrap();
    let created = format!("Local\\{}", unique("created"));
    for args in [
        &["mapping", "create", &created, "--size", "4096", "--no-hold"][..],
        &["mapping", "info", &mapping],
        &["mapping", "info", &mapping, "--json"],
        &["mapping", "open", &mapping],
        &["mapping", "open", &mapping, "--json"],
        &["mapping", "read", &mapping],
        &["mapping", "read", &mapping, "--hex"],
        &["pipe", "path", &pipe],
        &["pipe", "path", &pipe, "--json"],
        &["list"],
        &["list", "--json"],
        &["bench", "--list"],
        &["bench", "--list", "--json"],
    ] {
        assert_quiet(&run_into_closed_stdout(args), &args.join(" "));
    }
}

#[test]
fn a_mailslot_reader_ends_quietly_when_its_reader_is_gone() {
    let name = unique("slot");
    let mut reader = pipework()
        .args(["mailslot", "read", &name, "--timeout", "30000"])
        .stdout(closed_stdout())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut errors = BufReader::new(reader.stderr.take().unwrap());
    let mut announce = String::new();
    errors.read_line(&mut announce).unwrap();
    assert!(announce.contains("reading mailslot"), "{announce}");
    let client =
        pipework::mailslot::MailslotClient::open(&format!(r"\\.\mailslot\{name}")).unwrap();
    client.write_message(b"nobody reads this").unwrap();
    let out = finish(reader, "mailslot read");
    assert_eq!(out.status.code(), Some(0));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut errors, &mut rest).unwrap();
    assert!(rest.is_empty(), "{rest}");
}

#[test]
fn mapping_read_lengths_are_bounded_by_the_mapping() {
    let name = format!("Local\\{}", unique("len"));
    let _held = pipework::mapping::FileMapping::create(&name, 4096).unwrap();
    for len in ["18446744073709551615", "1099511627776", "4097"] {
        let out = run(&["mapping", "read", &name, "--len", len]);
        assert_refused(&out, 1, &[&name, len, "4096 bytes"]);
    }
    let out = run(&["mapping", "read", &name, "--offset", "4000", "--len", "97"]);
    assert_refused(&out, 1, &[&name, "at most 96"]);
    let out = run(&["mapping", "read", &name, "--offset", "18446744073709551615"]);
    assert_refused(&out, 1, &[&name, "past"]);
    let out = run(&["mapping", "write", &name, "xy", "--offset", "4095"]);
    assert_refused(&out, 1, &[&name, "at most 1"]);
    // Up to the end is fine.
    let out = run(&["mapping", "read", &name, "--offset", "4000", "--len", "96"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 96);
}

#[test]
fn pipe_instances_must_be_1_to_255() {
    for instances in ["0", "256", "4294967296", "many"] {
        let out = run(&["pipe", "serve", &unique("inst"), "--instances", instances]);
        assert_refused(&out, 2, &["--instances must be 1 to 255"]);
    }
}

#[test]
fn bench_runs_must_be_1_to_1000() {
    for runs in ["0", "1001", "99999999999"] {
        let out = run(&["bench", "--runs", runs, "sync"]);
        assert_refused(&out, 2, &["--runs", "1..=1000"]);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn an_shm_capacity_too_large_fails_before_listening() {
    let out = run(&[
        "shm",
        "listen",
        &unique("cap"),
        "--capacity",
        "99999999999999",
    ]);
    assert_refused(&out, 2, &["--capacity", "1 GiB"]);
    assert!(!stderr(&out).contains("listening"));
}

/// An error names the object as the user wrote it: backslashes single, no Rust quoting
/// (`"\\\\.\\mailslot\\"`), and control characters written out as `pipework list` writes them,
/// so that a name cannot reach the terminal as a command or forge a line.
#[test]
fn errors_print_names_plainly_with_controls_escaped() {
    let cases: [(&str, &[&str], &str); 4] = [
        (
            r"\\.\mailslot\",
            &["mailslot", "send", r"\\.\mailslot\", "x"],
            r"invalid mailslot name \\.\mailslot\:",
        ),
        (
            r"\\.\pip\x",
            &["pipe", "connect", r"\\.\pip\x"],
            r"\\.\pip\x: not a pipe name",
        ),
        (
            "ctl\x1b[2Jx",
            &["mapping", "info", "ctl\x1b[2Jx"],
            r"ctl\x1b[2Jx",
        ),
        (
            "two\nlines",
            &["pipe", "connect", "two\nlines"],
            r"\\.\pipe\two\nlines",
        ),
    ];
    for (name, args, says) in cases {
        let out = run(args);
        let err = stderr(&out);
        assert_refused(&out, 1, &[says]);
        assert!(
            !err.contains(r"\\\\"),
            "{name}: doubled backslashes in {err}"
        );
        assert!(!err.contains('"'), "{name}: quoted in {err}");
        assert!(
            !err.contains('\x1b'),
            "{name}: ESC reached the terminal: {err:?}"
        );
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err:?}");
    }
}
