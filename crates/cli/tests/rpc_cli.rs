//! `pipework rpc` end to end, every side a real `pipework` process: `serve-demo` serves the
//! example gRPC service with server reflection on a named pipe (or TCP); `list` and `call` find
//! its methods by reflection and call them with JSON in and JSON out; an error status, an
//! unknown method or service, a bad request and a deadline are clear messages and a failing
//! exit. The DCE/RPC form of `call` (`--pipe NAME add-one N`) against `serve-echo` still works.
#![cfg(feature = "rpc")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{pipework, Running};

/// A unique pipe name for this test process.
fn pipe(tag: &str) -> String {
    format!("pw-rpc-cli-{tag}-{}", std::process::id())
}

/// Starts `pipework rpc ARGS` as a server and waits for its first line on standard output
/// (`demo on TARGET` / `rpcecho on ...`); returns it with the running process.
fn serve(args: &[&str]) -> (Running, String) {
    let mut child = pipework()
        .arg("rpc")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pipework rpc server");
    let mut line = String::new();
    // Printed once the server listens; an exit ends the line empty instead.
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        !line.is_empty(),
        "pipework rpc {args:?} exited before listening"
    );
    (Running(child), line.trim_end().to_string())
}

/// Runs `pipework rpc ARGS` to its end (failing the test after the common timeout).
fn rpc(args: &[&str]) -> Output {
    let child = pipework()
        .arg("rpc")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pipework rpc");
    common::finish(child, &format!("pipework rpc {args:?}"))
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The error line of a command that had to fail.
fn failure_of(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

const SAY: &str = "pipework.demo.v1.Demo/Say";

#[test]
fn list_and_call_by_reflection_over_a_pipe_json_in_json_out() {
    let name = pipe("call");
    let (_server, said) = serve(&["serve-demo", &name]);
    assert!(said.starts_with("demo on "), "{said}");

    let listed = stdout_of(&rpc(&["list", &name]));
    for line in [
        "pipework.demo.v1.Demo/Say  unary  pipework.demo.v1.SayRequest -> pipework.demo.v1.SayReply",
        "pipework.demo.v1.Demo/Count  server streaming  pipework.demo.v1.CountRequest -> pipework.demo.v1.CountReply",
        "pipework.demo.v1.Demo/Chat  bidirectional streaming  pipework.demo.v1.SayRequest -> pipework.demo.v1.SayReply",
        "pipework.demo.v1.Demo/WhoAmI  unary  pipework.demo.v1.WhoAmIRequest -> pipework.demo.v1.WhoAmIReply",
    ] {
        assert!(listed.lines().any(|l| l == line), "{line:?} not in:\n{listed}");
    }

    // Unary: JSON in, the reply as one line of JSON.
    let said = json_lines(&stdout_of(&rpc(&[
        "call",
        &name,
        SAY,
        r#"{"text":"héllo \"pipe\""}"#,
    ])));
    assert_eq!(said, vec![serde_json::json!({"text": "héllo \"pipe\""})]);

    // The full pipe name works as well as the short one.
    let full = format!(r"\\.\pipe\{name}");
    let said = json_lines(&stdout_of(&rpc(&["call", &full, SAY, r#"{"text":"x"}"#])));
    assert_eq!(said, vec![serde_json::json!({"text": "x"})]);

    // Server streaming: one line per response, in order.
    let counted = json_lines(&stdout_of(&rpc(&[
        "call",
        &name,
        "pipework.demo.v1.Demo/Count",
        r#"{"count":5}"#,
    ])));
    let expected: Vec<_> = (1..=5).map(|n| serde_json::json!({ "n": n })).collect();
    assert_eq!(counted, expected);

    // Bidirectional: an array sends one message per element.
    let chat = json_lines(&stdout_of(&rpc(&[
        "call",
        &name,
        "pipework.demo.v1.Demo/Chat",
        r#"[{"text":"a"},{"text":"bb"}]"#,
    ])));
    assert_eq!(
        chat,
        vec![
            serde_json::json!({"text": "a"}),
            serde_json::json!({"text": "bb"})
        ]
    );

    // No JSON is the empty message; --emit-defaults prints zero fields too.
    let who = json_lines(&stdout_of(&rpc(&[
        "call",
        &name,
        "pipework.demo.v1.Demo/WhoAmI",
        "--emit-defaults",
    ])));
    assert_eq!(who.len(), 1);
    assert_eq!(who[0]["transport"], "pipe");
    assert_eq!(who[0]["uid"], u64::from(rustix::process::getuid().as_raw()));
    assert_eq!(who[0]["peer"], full);
}

#[test]
fn an_error_status_is_a_clear_message_and_a_failing_exit() {
    let name = pipe("status");
    let (_server, _) = serve(&["serve-demo", &name]);
    let err = failure_of(&rpc(&[
        "call",
        &name,
        SAY,
        r#"{"text":"nope","fail":true}"#,
    ]));
    assert!(
        err.contains(
            "gRPC pipework.demo.v1.Demo/Say: FAILED_PRECONDITION (9): asked to fail: nope"
        ),
        "{err}"
    );
    let err = failure_of(&rpc(&[
        "call",
        &name,
        "pipework.demo.v1.Demo/Count",
        r#"{"count":2000000}"#,
    ]));
    assert!(err.contains("OUT_OF_RANGE"), "{err}");
}

#[test]
fn unknown_method_service_or_field_is_named() {
    let name = pipe("unknown");
    let (_server, _) = serve(&["serve-demo", &name]);
    let err = failure_of(&rpc(&["call", &name, "pipework.demo.v1.Demo/Shout", "{}"]));
    assert!(
        err.contains("service pipework.demo.v1.Demo has no method Shout")
            && err.contains("Say, Count, Chat, WhoAmI"),
        "{err}"
    );
    let err = failure_of(&rpc(&["call", &name, "pipework.demo.v1.Nothing/Say", "{}"]));
    assert!(
        err.contains("has no service pipework.demo.v1.Nothing")
            && err.contains("pipework.demo.v1.Demo"),
        "{err}"
    );
    let err = failure_of(&rpc(&["call", &name, SAY, r#"{"txt":"x"}"#]));
    assert!(
        err.contains("not a pipework.demo.v1.SayRequest") && err.contains("txt"),
        "{err}"
    );
    let err = failure_of(&rpc(&["call", &name, "Say", "{}"]));
    assert!(err.contains("SERVICE/METHOD"), "{err}");
}

#[test]
fn a_deadline_over_the_pipe_ends_the_call() {
    let name = pipe("deadline");
    let (_server, _) = serve(&["serve-demo", &name]);
    // The handler waits a minute; the call's deadline is a fifth of a second.
    let child = pipework()
        .args(["rpc", "call", &name, SAY])
        .arg(r#"{"text":"slow","delayMs":60000}"#)
        .args(["--timeout", "0.2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = failure_of(&common::finish_within(
        child,
        "a call past its deadline",
        Duration::from_secs(20),
    ));
    assert!(err.contains("DEADLINE_EXCEEDED (4)"), "{err}");
    // The server is still there for the next call.
    let said = json_lines(&stdout_of(&rpc(&[
        "call",
        &name,
        SAY,
        r#"{"text":"after"}"#,
    ])));
    assert_eq!(said, vec![serde_json::json!({"text": "after"})]);
}

#[test]
fn the_same_calls_over_tcp() {
    let (_server, said) = serve(&["serve-demo", "--tcp", "127.0.0.1:0"]);
    let target = said.strip_prefix("demo on ").expect(&said).to_string();
    assert!(target.starts_with("http://127.0.0.1:"), "{target}");
    let listed = stdout_of(&rpc(&["list", &target]));
    assert!(
        listed.contains("pipework.demo.v1.Demo/Say  unary"),
        "{listed}"
    );
    let who = json_lines(&stdout_of(&rpc(&[
        "call",
        &target,
        "pipework.demo.v1.Demo/WhoAmI",
        "{}",
    ])));
    assert_eq!(who[0]["transport"], "tcp");
}

#[test]
fn missing_and_remote_targets_are_clear_errors() {
    let err = failure_of(&rpc(&["call", &pipe("absent"), SAY, "{}"]));
    assert!(err.contains("does not exist"), "{err}");
    // A pipe on another machine: not reachable from gRPC yet, and the error names the pipe.
    let err = failure_of(&rpc(&["call", r"\\far\pipe\demo", SAY, "{}"]));
    assert!(err.contains(r"named pipe \\far\pipe\demo"), "{err}");
}

#[test]
fn the_dce_form_of_call_still_calls_rpcecho() {
    let name = pipe("dce");
    let (_server, said) = serve(&["serve-echo", &name]);
    assert!(said.starts_with("rpcecho on ncacn_np:"), "{said}");
    let out = stdout_of(&rpc(&["call", "--pipe", &name, "add-one", "41"]));
    assert_eq!(out, "42\n");
    let out = stdout_of(&rpc(&["call", "--pipe", &name, "echo-data", "20000"]));
    assert_eq!(out, "20000 bytes echoed\n");
}
