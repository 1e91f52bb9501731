//! Named pipes under concurrent creation: several processes creating instances of one pipe at
//! once, refused creates (another access mode, first instance only) mixed with accepted ones,
//! while the pipe lives on or comes and goes. No create may hang, and no refused create may
//! leave a lock behind that keeps the pipe's name alive.

mod common;

use std::io::{BufRead, BufReader, ErrorKind};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Stdio};

use common::{child, wait, TIMEOUT};
use pipework::name::{Kind, Namespace, PipeName};
use pipework::named_pipe::ServerOptions;

/// Child processes creating instances at once.
const PROCESSES: usize = 6;
/// Rounds of create, two refused creates and a drop, in each child.
const ROUNDS: usize = 150;

fn main() {
    common::main(
        &[
            (
                "a_refused_create_leaves_no_lock_behind",
                a_refused_create_leaves_no_lock_behind,
            ),
            (
                "concurrent_creates_while_the_pipe_lives",
                concurrent_creates_while_the_pipe_lives,
            ),
            (
                "concurrent_creates_while_the_pipe_comes_and_goes",
                concurrent_creates_while_the_pipe_comes_and_goes,
            ),
        ],
        &[("churn", churn)],
    )
}

fn unique(tag: &str) -> String {
    format!(r"\\.\pipe\np-race-{}-{tag}", std::process::id())
}

/// The directory of this user's pipe `name`.
fn pipe_dir(name: &str) -> PathBuf {
    pipework::name::directory(Namespace::Local, Kind::Pipe)
        .unwrap()
        .join(PipeName::parse(name).unwrap().file_key())
}

/// The two refused creates of the reported hang: another access mode, and the first instance
/// only on a name that exists.
fn refused_creates(name: &str) {
    let e = ServerOptions::new()
        .access_inbound(false)
        .create(name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("another access mode"), "{e}");
    let e = ServerOptions::new()
        .first_pipe_instance(true)
        .create(name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("exists already"), "{e}");
}

/// Child: `args[1]` rounds of an accepted create, the two refused ones, and a drop of the
/// instance, on the pipe `args[0]`; prints `done` at the end.
fn churn(args: &[String]) {
    let name = &args[0];
    let rounds: usize = args[1].parse().unwrap();
    for _ in 0..rounds {
        let server = ServerOptions::new().create(name).unwrap();
        refused_creates(name);
        // Its own instance keeps the pipe alive: joining again works.
        let again = ServerOptions::new().create(name).unwrap();
        assert!(!again.created_pipe());
        drop(again);
        drop(server);
    }
    println!("done");
}

/// Starts `PROCESSES` churning children on `name` and waits for each to finish in time.
fn churn_in_children(name: &str) {
    let rounds = ROUNDS.to_string();
    let children: Vec<(Child, BufReader<ChildStdout>)> = (0..PROCESSES)
        .map(|_| {
            let mut c = child("churn")
                .args([name, rounds.as_str()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn child");
            let out = BufReader::new(c.stdout.take().unwrap());
            (c, out)
        })
        .collect();
    for (mut c, mut out) in children {
        // A child stuck in a create fails the test here, not hangs it.
        if !common::readable_within(out.get_ref(), TIMEOUT) {
            let _ = c.kill();
            let _ = c.wait();
            panic!("a child creating instances of {name} hung for {TIMEOUT:?}");
        }
        let mut line = String::new();
        out.read_line(&mut line).expect("read child line");
        assert_eq!(line.trim_end(), "done", "child {} failed", c.id());
        assert!(wait(&mut c).success(), "child failed");
    }
}

/// A refused create lets go of everything it took: once the only instance goes, the name goes
/// with it, and a new first instance takes it.
fn a_refused_create_leaves_no_lock_behind() {
    let name = unique("left");
    let first = ServerOptions::new().create(&name).unwrap();
    assert!(first.created_pipe());
    refused_creates(&name);
    assert_eq!(first.instances().unwrap(), 1);
    drop(first);
    assert!(
        !pipe_dir(&name).exists(),
        "{} left behind",
        pipe_dir(&name).display()
    );
    let again = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap();
    assert!(again.created_pipe());
}

/// The pipe lives throughout (this process holds its first instance): every child's creates
/// join it or are refused, at the same time, and none waits for long.
fn concurrent_creates_while_the_pipe_lives() {
    let name = unique("lives");
    let first = ServerOptions::new().create(&name).unwrap();
    churn_in_children(&name);
    // Every child's instance is gone, and no refused create holds the pipe.
    assert_eq!(first.instances().unwrap(), 1);
    drop(first);
    assert!(
        !pipe_dir(&name).exists(),
        "{} left behind",
        pipe_dir(&name).display()
    );
}

/// Nobody else holds the pipe: it is created, joined, refused and removed by the children
/// alone, over and over, at the same time.
fn concurrent_creates_while_the_pipe_comes_and_goes() {
    let name = unique("comes");
    churn_in_children(&name);
    // The last child's instance removed the name, or left it to be reclaimed: the next
    // server is its first instance either way.
    let server = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap();
    assert!(server.created_pipe());
    assert_eq!(server.instances().unwrap(), 1);
}
