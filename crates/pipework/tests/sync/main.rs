//! Mutexes, semaphores, events and multiple-object waits across real processes: one test per
//! behaviour of the Win32 contract (§4).

// The interop tests (foreign programs, root, network namespaces) build only with the
// `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

#[path = "../common/mod.rs"]
mod common;
mod event;
mod fast_path;
mod hostile;
mod mutex;
mod names;
mod semaphore;
mod wait;

use common::{await_byte, spawn};

use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use common::{child, inherited, wait, TIMEOUT};
use pipework::mapping::{Access, FileMapping};
use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework::process::{CommandExt, Process};
use pipework::sync::{
    self, wait_all, wait_any, Event, Kind, Mutex, Semaphore, WaitResult, WaitStatus, Waitable,
};

fn main() {
    common::main(
        &[
            (
                "four_processes_count_to_400000",
                mutex::four_processes_count_to_400000,
            ),
            (
                "killed_owner_abandons_the_mutex",
                mutex::killed_owner_abandons_the_mutex,
            ),
            (
                "mutex_is_recursive_and_owned",
                mutex::mutex_is_recursive_and_owned,
            ),
            (
                "semaphore_counts_and_maximum",
                semaphore::semaphore_counts_and_maximum,
            ),
            (
                "auto_reset_event_releases_one",
                event::auto_reset_event_releases_one,
            ),
            (
                "manual_reset_event_releases_all",
                event::manual_reset_event_releases_all,
            ),
            (
                "one_namespace_for_all_kinds",
                names::one_namespace_for_all_kinds,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_local_is_per_user_global_is_shared",
                names::local_is_per_user_global_is_shared,
            ),
            (
                "unnamed_objects_travel_by_inheritance",
                names::unnamed_objects_travel_by_inheritance,
            ),
            (
                "wait_any_takes_the_lowest_signaled",
                wait::wait_any_takes_the_lowest_signaled,
            ),
            (
                "wait_any_includes_processes",
                wait::wait_any_includes_processes,
            ),
            (
                "wait_all_changes_nothing_until_all",
                wait::wait_all_changes_nothing_until_all,
            ),
            ("wait_all_never_half_takes", wait::wait_all_never_half_takes),
            (
                "wait_all_reports_an_abandoned_mutex",
                wait::wait_all_reports_an_abandoned_mutex,
            ),
            (
                "hostile_peer_cannot_break_the_reader",
                hostile::hostile_peer_cannot_break_the_reader,
            ),
            (
                "kill_9_leaves_nothing_stale",
                names::kill_9_leaves_nothing_stale,
            ),
            ("wait_argument_limits", wait::wait_argument_limits),
            (
                "uncontended_paths_make_no_system_call",
                fast_path::uncontended_paths_make_no_system_call,
            ),
            (
                "a_forked_child_is_not_the_owner",
                mutex::a_forked_child_is_not_the_owner,
            ),
        ],
        &[
            ("increment", mutex::increment),
            ("hold_mutex", hold_mutex),
            ("release_foreign", mutex::release_foreign),
            ("wait_event", wait_event),
            ("wait_inherited", names::wait_inherited),
            ("compete", wait::compete),
            ("vandal", hostile::vandal),
            ("hold_objects", names::hold_objects),
            ("exit_on_event", wait::exit_on_event),
            ("other_user", names::other_user),
            ("no_syscalls", fast_path::no_syscalls),
            ("fork_while_owning", mutex::fork_while_owning),
        ],
    )
}

fn unique(tag: &str) -> String {
    format!("Local\\pw-sync-test-{}-{tag}", std::process::id())
}

/// A pipe the child signals on: the parent keeps the reader.
fn signal_pipe(cmd: &mut std::process::Command) -> PipeReader {
    let (r, w) = pipe::create().unwrap();
    let n = cmd.inherit_handle(w);
    cmd.arg(n.to_string());
    r
}

/// Child: `hold_mutex NAME SIGNAL`: takes the mutex, signals, then waits to be killed.
fn hold_mutex(args: &[String]) {
    let mutex = Mutex::open(&args[0]).unwrap();
    let mut signal = PipeWriter::try_from(inherited(&args[1])).unwrap();
    let guard = mutex.lock().unwrap();
    signal.write_all(b"L").unwrap();
    let mut forever = [0u8; 1];
    let _ = std::io::stdin().read(&mut forever);
    drop(guard);
}

/// Child: `wait_event KIND NAME [GO] SIGNAL`: opens the object, signals 'W', waits on it (after
/// GO, if given), signals 'D'.
fn wait_event(args: &[String]) {
    let (go, sig) = if args.len() == 4 {
        (Some(Event::open(&args[2]).unwrap()), &args[3])
    } else {
        (None, &args[2])
    };
    let mut signal = PipeWriter::try_from(inherited(sig)).unwrap();
    let status = match args[0].as_str() {
        "semaphore" => {
            let s = Semaphore::open(&args[1]).unwrap();
            signal.write_all(b"W").unwrap();
            go.unwrap().wait(Some(TIMEOUT)).unwrap();
            s.wait(Some(TIMEOUT)).unwrap()
        }
        _ => {
            let e = Event::open(&args[1]).unwrap();
            signal.write_all(b"W").unwrap();
            e.wait(Some(TIMEOUT)).unwrap()
        }
    };
    assert_eq!(status, WaitStatus::Signaled);
    signal.write_all(b"D").unwrap();
}
