//! Python beside pipework, with the standard library only (`python3` from PATH): the message-pipe
//! client module in `python/` against a real `pipework pipe serve --message`, and the line
//! `pipework mapping info` prints for attaching to a mapping without removing it.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::pipework;

/// Python may take longer than `pipework` alone.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The repository's `python/` directory.
fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python")
}

/// Waits for `child` within [`TIMEOUT`] (killing it and failing the test after that) and
/// collects what it wrote.
fn finish(child: Child, what: &str) -> Output {
    common::finish_within(child, what, TIMEOUT)
}

fn python3() -> Command {
    let mut command = Command::new("python3");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn run_python(mut command: Command, what: &str) -> Output {
    let child = command
        .spawn()
        .expect("python3 is needed (apt-get install python3)");
    finish(child, what)
}

/// Starts `pipework pipe serve NAME ARGS` and waits until it listens; killed when dropped.
fn serve(name: &str, args: &[&str]) -> common::Running {
    let mut server = common::Running(
        pipework()
            .args(["pipe", "serve", name])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start pipework pipe serve"),
    );
    // The server prints this once its instances exist (or exits, which ends the line empty).
    let line = common::first_line(server.0.stdout.take().unwrap());
    assert!(line.starts_with("listening"), "serve said {line:?}");
    server
}

/// The Python module's own tests (python/pipework_pipe_test.py) against an echo server of a
/// message pipe: message boundaries round-trip, empty and large messages included, and the
/// end of the pipe reads as the end.
#[test]
fn python_module_speaks_a_message_pipe() {
    let name = format!("pw-python-{}", std::process::id());
    let _server = serve(&name, &["--message", "--instances", "2"]);
    let mut command = python3();
    command
        .arg(python_dir().join("pipework_pipe_test.py"))
        .env("PIPEWORK", env!("CARGO_BIN_EXE_pipework"))
        .env("PIPEWORK_PIPE", &name)
        // Python's own bytecode cache stays out of the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = run_python(command, "python3 pipework_pipe_test.py");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    // Every test ran: none skipped for want of the server.
    assert!(report.contains("Ran 10 tests"), "{report}");
    assert!(report.trim_end().ends_with("OK"), "{report}");
}

/// An inline script with nothing but the module: what a Python user writes.
#[test]
fn an_inline_script_gets_each_message_back_whole() {
    let name = format!("pw-python-inline-{}", std::process::id());
    let _server = serve(&name, &["--message"]);
    let script = "\
import sys
from pipework_pipe import MessagePipe
with MessagePipe.open(sys.argv[1], pipework=sys.argv[2], timeout=30, wait=30) as pipe:
    for m in [b'first', b'', b'a\\nb', b'x' * 100000]:
        pipe.send(m)
    pipe.shutdown_write()
    print([len(m) for m in pipe])
";
    let mut command = python3();
    command
        .arg("-c")
        .arg(script)
        .arg(&name)
        .arg(env!("CARGO_BIN_EXE_pipework"))
        .env("PYTHONPATH", python_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = run_python(command, "python3 -c");
    common::assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[5, 0, 3, 100000]\n");
}

/// `pipework pipe path` on a message pipe says on standard error what a foreign client must
/// speak; `--json` gives the type and the framing.
#[test]
fn pipe_path_on_a_message_pipe_tells_the_framing() {
    let name = format!("pw-python-path-{}", std::process::id());
    let _server = serve(&name, &["--message"]);
    let out = common::output(&["pipe", "path", &name]);
    assert!(out.status.success());
    let path = String::from_utf8(out.stdout).unwrap();
    assert!(std::path::Path::new(path.trim()).is_absolute(), "{path}");
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("message pipe") && note.contains("4-byte little-endian length"),
        "{note}"
    );
    let out = common::output(&["pipe", "path", &name, "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["type"], "message");
    assert_eq!(json["path"].as_str(), Some(path.trim()));
    assert!(json["framing"].as_str().unwrap().contains("little-endian"));
}

/// The Python line `pipework mapping info` prints for this interpreter's version attaches to
/// the mapping, and the mapping's name is still there after Python exits (up to 3.12 a bare
/// `SharedMemory(name=...)` would have removed it then).
#[test]
fn mapping_info_prints_a_python_line_that_leaves_the_name() {
    let name = format!("Local\\pw-python-map-{}", std::process::id());
    let mapping = pipework::mapping::FileMapping::create(&name, 4096).unwrap();
    mapping
        .map_view(pipework::mapping::Access::Write, 0, 0)
        .unwrap()
        .write(0, b"from pipework")
        .unwrap();

    let out = common::output(&["mapping", "info", &name, "--json"]);
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let os_name = info["os_name"].as_str().unwrap().to_string();
    let mut version = python3();
    version
        .arg("-c")
        .arg("import sys; print(sys.version_info >= (3, 13))");
    let new = String::from_utf8(run_python(version, "python3 version").stdout).unwrap();
    let key = if new.trim() == "True" {
        "3.13+"
    } else {
        "3.8-3.12"
    };
    let line = info["python"][key].as_str().unwrap();
    assert!(line.contains(&format!("name=\"{os_name}\"")), "{line}");

    let script = format!("{line}\nassert bytes(shm.buf[:13]) == b'from pipework'\nshm.close()\n");
    let mut command = python3();
    command.arg("-c").arg(&script);
    let out = run_python(command, "python3 attaching");
    common::assert_success(&out);
    // Python has exited (and its resource tracker with it): the name is still there.
    assert!(
        std::path::Path::new("/dev/shm").join(&os_name).exists(),
        "Python removed {os_name}"
    );
    pipework::mapping::FileMapping::open(&name, pipework::mapping::Access::Read)
        .expect("the mapping still opens by name after Python exited");

    // The text form prints both lines.
    let out = common::output(&["mapping", "info", &name]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("track=False"), "{text}");
    assert!(text.contains("resource_tracker.unregister"), "{text}");
    drop(mapping);
}
