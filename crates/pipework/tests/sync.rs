//! Mutexes, semaphores, events and multiple-object waits across real processes: one test per
//! behaviour of the Win32 contract (§4).

// The interop tests (foreign programs, root, network namespaces) build only with the
// `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

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
                four_processes_count_to_400000,
            ),
            (
                "killed_owner_abandons_the_mutex",
                killed_owner_abandons_the_mutex,
            ),
            ("mutex_is_recursive_and_owned", mutex_is_recursive_and_owned),
            ("semaphore_counts_and_maximum", semaphore_counts_and_maximum),
            (
                "auto_reset_event_releases_one",
                auto_reset_event_releases_one,
            ),
            (
                "manual_reset_event_releases_all",
                manual_reset_event_releases_all,
            ),
            ("one_namespace_for_all_kinds", one_namespace_for_all_kinds),
            #[cfg(feature = "interop")]
            (
                "interop_local_is_per_user_global_is_shared",
                local_is_per_user_global_is_shared,
            ),
            (
                "unnamed_objects_travel_by_inheritance",
                unnamed_objects_travel_by_inheritance,
            ),
            (
                "wait_any_takes_the_lowest_signaled",
                wait_any_takes_the_lowest_signaled,
            ),
            ("wait_any_includes_processes", wait_any_includes_processes),
            (
                "wait_all_changes_nothing_until_all",
                wait_all_changes_nothing_until_all,
            ),
            ("wait_all_never_half_takes", wait_all_never_half_takes),
            (
                "wait_all_reports_an_abandoned_mutex",
                wait_all_reports_an_abandoned_mutex,
            ),
            (
                "hostile_peer_cannot_break_the_reader",
                hostile_peer_cannot_break_the_reader,
            ),
            ("kill_9_leaves_nothing_stale", kill_9_leaves_nothing_stale),
            ("wait_argument_limits", wait_argument_limits),
            (
                "uncontended_paths_make_no_system_call",
                uncontended_paths_make_no_system_call,
            ),
            (
                "a_forked_child_is_not_the_owner",
                a_forked_child_is_not_the_owner,
            ),
        ],
        &[
            ("increment", increment),
            ("hold_mutex", hold_mutex),
            ("release_foreign", release_foreign),
            ("wait_event", wait_event),
            ("wait_inherited", wait_inherited),
            ("compete", compete),
            ("vandal", vandal),
            ("hold_objects", hold_objects),
            ("exit_on_event", exit_on_event),
            ("other_user", other_user),
            ("no_syscalls", no_syscalls),
            ("fork_while_owning", fork_while_owning),
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

// ---------------------------------------------------------------- mutex

const INCREMENTS: u64 = 100_000;

/// Child: `increment MUTEX MAPPING GO READY`: once all are ready, 100,000 times, under the
/// mutex, reads the counter, adds one, writes it back (two separate accesses: only the mutex
/// keeps them together).
fn increment(args: &[String]) {
    let mutex = Mutex::open(&args[0]).unwrap();
    let mapping = FileMapping::open(&args[1], Access::Write).unwrap();
    let view = mapping.map_view(Access::Write, 0, 8).unwrap();
    let counter = view.atomic_u64(0).unwrap();
    // Everyone starts at once.
    Semaphore::open(&args[3]).unwrap().release(1).unwrap();
    let go = Event::open(&args[2]).unwrap();
    assert_eq!(go.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
    for _ in 0..INCREMENTS {
        let guard = mutex.lock().unwrap();
        assert!(!guard.abandoned());
        let v = counter.load(SeqCst);
        counter.store(v + 1, SeqCst);
        drop(guard);
    }
}

fn four_processes_count_to_400000() {
    let mname = unique("counter-mutex");
    let vname = unique("counter-map");
    let (gname, rname) = (unique("counter-go"), unique("counter-ready"));
    let mutex = Mutex::create(&mname, false).unwrap();
    let mapping = FileMapping::create(&vname, 4096).unwrap();
    let go = Event::create(&gname, true, false).unwrap();
    let ready = Semaphore::create(&rname, 0, 4).unwrap();
    let view = mapping.map_view(Access::Read, 0, 0).unwrap();
    let children: Vec<Child> = (0..4)
        .map(|_| {
            let mut cmd = child("increment");
            cmd.arg(&mname).arg(&vname).arg(&gname).arg(&rname);
            spawn(cmd)
        })
        .collect();
    for _ in 0..4 {
        assert_eq!(ready.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
    }
    go.set().unwrap();
    for mut c in children {
        assert!(wait(&mut c).success());
    }
    assert_eq!(view.read_pod::<u64>(0).unwrap(), 4 * INCREMENTS);
    drop(mutex);
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

fn killed_owner_abandons_the_mutex() {
    let name = unique("abandon");
    let mutex = Mutex::create(&name, false).unwrap();
    let mut cmd = child("hold_mutex");
    cmd.arg(&name);
    let mut signal = signal_pipe(&mut cmd);
    let mut c = cmd.stdin(Stdio::piped()).spawn().unwrap();
    drop(cmd);
    assert_eq!(await_byte(&mut signal), b'L');
    assert_eq!(
        mutex.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
    // The next waiter gets it, abandoned...
    assert_eq!(mutex.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Abandoned);
    mutex.release().unwrap();
    // ...and from then on it behaves normally.
    assert_eq!(
        mutex.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    mutex.release().unwrap();
    let guard = mutex.lock().unwrap();
    assert!(!guard.abandoned());
}

/// Child: `release_foreign NAME`: releasing a mutex another process owns must fail.
fn release_foreign(args: &[String]) {
    let mutex = Mutex::open(&args[0]).unwrap();
    let err = mutex.release().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert_eq!(
        mutex.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
}

fn mutex_is_recursive_and_owned() {
    let name = unique("recursive");
    let mutex = Mutex::create(&name, true).unwrap();
    assert!(!mutex.already_existed());
    assert_eq!(
        mutex.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    assert_eq!(mutex.wait(None).unwrap(), WaitStatus::Signaled);
    // Owned three times by this thread: another process can neither release nor take it.
    let mut cmd = child("release_foreign");
    cmd.arg(&name);
    assert!(wait(&mut spawn(cmd)).success());
    // Another thread of this process is not the owner either.
    std::thread::scope(|s| {
        s.spawn(|| {
            let err = mutex.release().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::PermissionDenied);
            assert!(err.to_string().contains(&name), "{err}");
        });
    });
    mutex.release().unwrap();
    mutex.release().unwrap();
    mutex.release().unwrap();
    let err = mutex.release().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    // Free now: another thread takes it at once.
    std::thread::scope(|s| {
        s.spawn(|| {
            let guard = mutex.lock_timeout(Duration::ZERO).unwrap();
            assert!(guard.is_some());
        });
    });
}

// ---------------------------------------------------------------- semaphore

fn semaphore_counts_and_maximum() {
    assert_eq!(
        Semaphore::new(3, 2).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        Semaphore::new(0, 0).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let name = unique("semaphore");
    let sem = Semaphore::create(&name, 1, 3).unwrap();
    assert_eq!(sem.max_count(), 3);
    // A release beyond the maximum changes nothing and says so.
    assert_eq!(sem.release(2).unwrap(), 1);
    let err = sem.release(1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("maximum"), "{err}");
    for _ in 0..3 {
        assert_eq!(
            sem.wait(Some(Duration::ZERO)).unwrap(),
            WaitStatus::Signaled
        );
    }
    assert_eq!(
        sem.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
    // A waiter in another process is released by a release here.
    let event = unique("semaphore-go");
    let go = Event::create(&event, true, false).unwrap();
    let mut cmd = child("wait_event");
    cmd.arg("semaphore").arg(&name).arg(&event);
    let mut signal = signal_pipe(&mut cmd);
    let mut c = spawn(cmd);
    assert_eq!(await_byte(&mut signal), b'W');
    go.set().unwrap();
    assert_eq!(sem.release(1).unwrap(), 0);
    assert!(wait(&mut c).success());
    assert_eq!(
        sem.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
}

// ---------------------------------------------------------------- event

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

fn auto_reset_event_releases_one() {
    let name = unique("auto");
    let event = Event::create(&name, false, false).unwrap();
    assert!(!event.is_manual_reset());
    // With no waiter, it stays signaled until one comes, then resets.
    event.set().unwrap();
    event.set().unwrap();
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
    // Two waiters in two processes: each set releases exactly one.
    let (r, w) = pipe::create().unwrap();
    let mut done = r;
    let mut kids = Vec::new();
    for _ in 0..2 {
        let mut cmd = child("wait_event");
        cmd.arg("event").arg(&name);
        let n = cmd.inherit_handle(w.try_clone().unwrap());
        cmd.arg(n.to_string());
        kids.push(spawn(cmd));
    }
    drop(w);
    let mut waiting = 0;
    while waiting < 2 {
        if await_byte(&mut done) == b'W' {
            waiting += 1;
        }
    }
    event.set().unwrap();
    assert_eq!(await_byte(&mut done), b'D');
    // The one release consumed the signal: it is reset, and the other child still waits.
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
    event.set().unwrap();
    assert_eq!(await_byte(&mut done), b'D');
    for mut k in kids {
        assert!(wait(&mut k).success());
    }
}

fn manual_reset_event_releases_all() {
    let name = unique("manual");
    let event = Event::create(&name, true, false).unwrap();
    assert!(event.is_manual_reset());
    let (r, w) = pipe::create().unwrap();
    let mut done = r;
    let mut kids = Vec::new();
    for _ in 0..3 {
        let mut cmd = child("wait_event");
        cmd.arg("event").arg(&name);
        let n = cmd.inherit_handle(w.try_clone().unwrap());
        cmd.arg(n.to_string());
        kids.push(spawn(cmd));
    }
    drop(w);
    event.set().unwrap();
    for mut k in kids {
        assert!(wait(&mut k).success());
    }
    let all = common::read_to_end(&mut done);
    assert_eq!(all.iter().filter(|&&b| b == b'D').count(), 3);
    // Stays signaled until reset.
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    event.reset().unwrap();
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
}

// ---------------------------------------------------------------- names

fn one_namespace_for_all_kinds() {
    for prefix in ["Local\\", "Global\\"] {
        let name = format!("{prefix}pw-sync-test-{}-ns", std::process::id());
        let mutex = Mutex::create(&name, false).unwrap();
        assert!(!mutex.already_existed());
        let again = Mutex::create(&name, false).unwrap();
        assert!(again.already_existed());
        assert_eq!(
            Semaphore::create(&name, 0, 1).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            Event::create(&name, true, false).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            FileMapping::create(&name, 4096).unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        let err = Event::open(&name).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("mutex"), "{err}");
        assert_eq!(
            FileMapping::open(&name, Access::Read).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let listed = sync::list().unwrap();
        assert!(
            listed
                .iter()
                .any(|e| e.name == name && e.kind == Kind::Mutex),
            "{listed:?}"
        );
        // Open in another process; then, every handle gone, the name is gone.
        let opened = Mutex::open(&name).unwrap();
        drop((mutex, again, opened));
        assert_eq!(Mutex::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
        assert!(!sync::list().unwrap().iter().any(|e| e.name == name));
    }
    // Names are case-sensitive.
    let lower = Event::create(&unique("case"), true, false).unwrap();
    let upper = Event::create(&unique("CASE"), true, false).unwrap();
    assert!(!upper.already_existed());
    drop((lower, upper));
    assert_eq!(
        Semaphore::open(&unique("missing")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        Mutex::create("Local\\", false).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

/// Child, run as `nobody`: `other_user LOCAL GLOBAL`.
fn other_user(args: &[String]) {
    assert_eq!(
        Event::open(&args[0]).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let global = Event::open(&args[1]).unwrap();
    global.set().unwrap();
}

fn local_is_per_user_global_is_shared() {
    use std::os::unix::process::CommandExt as _;
    assert!(
        rustix::process::getuid().is_root(),
        "this test starts a process as user nobody, which needs root"
    );
    let tag = format!("pw-sync-test-{}-users", std::process::id());
    let local = Event::create(&format!("Local\\{tag}"), true, false).unwrap();
    let global = Event::create(&format!("Global\\{tag}"), true, false).unwrap();
    let mut cmd = child("other_user");
    cmd.arg(format!("Local\\{tag}"))
        .arg(format!("Global\\{tag}"));
    cmd.uid(65534).gid(65534);
    assert!(wait(&mut spawn(cmd)).success());
    assert_eq!(
        global.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    assert_eq!(
        local.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
}

/// Child: `wait_inherited MUTEX SEMAPHORE EVENT SIGNAL`.
fn wait_inherited(args: &[String]) {
    let mutex = Mutex::try_from(inherited(&args[0])).unwrap();
    let sem = Semaphore::try_from(inherited(&args[1])).unwrap();
    let event = Event::try_from(inherited(&args[2])).unwrap();
    let mut signal = PipeWriter::try_from(inherited(&args[3])).unwrap();
    assert_eq!(event.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
    assert_eq!(sem.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
    let guard = mutex.lock().unwrap();
    signal.write_all(b"D").unwrap();
    drop(guard);
    // A handle of the wrong kind is refused.
    let wrong = Event::try_from(OwnedFd::from(mutex));
    assert_eq!(wrong.unwrap_err().kind(), ErrorKind::InvalidData);
}

fn unnamed_objects_travel_by_inheritance() {
    let mutex = Mutex::new(true).unwrap();
    let sem = Semaphore::new(0, 1).unwrap();
    let event = Event::new(false, false).unwrap();
    let mut cmd = child("wait_inherited");
    for fd in [
        pipework::handle::duplicate(&mutex, false).unwrap(),
        pipework::handle::duplicate(&sem, false).unwrap(),
        pipework::handle::duplicate(&event, false).unwrap(),
    ] {
        let n = cmd.inherit_handle(fd);
        cmd.arg(n.to_string());
    }
    let mut signal = signal_pipe(&mut cmd);
    let mut c = spawn(cmd);
    event.set().unwrap();
    sem.release(1).unwrap();
    mutex.release().unwrap();
    assert_eq!(await_byte(&mut signal), b'D');
    assert!(wait(&mut c).success());
    // A file that is not an object is refused.
    let file = std::fs::File::open("/proc/self/stat").unwrap();
    assert_eq!(
        Mutex::try_from(OwnedFd::from(file)).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
}

// ---------------------------------------------------------------- multiple objects

fn wait_any_takes_the_lowest_signaled() {
    let e0 = Event::new(false, false).unwrap();
    let e1 = Event::new(false, true).unwrap();
    let e2 = Event::new(false, true).unwrap();
    let objects: [&dyn Waitable; 3] = [&e0, &e1, &e2];
    assert_eq!(
        wait_any(&objects, Some(Duration::ZERO)).unwrap(),
        WaitResult::Signaled(1)
    );
    // Only the object that satisfied the wait changed.
    assert_eq!(e2.wait(Some(Duration::ZERO)).unwrap(), WaitStatus::Signaled);
    assert_eq!(
        wait_any(&objects, Some(Duration::ZERO)).unwrap(),
        WaitResult::TimedOut
    );
    // A mutex owned by a dead process reports its index as abandoned.
    let name = unique("any-abandoned");
    let mutex = Mutex::create(&name, false).unwrap();
    let mut cmd = child("hold_mutex");
    cmd.arg(&name);
    let mut signal = signal_pipe(&mut cmd);
    let mut c = cmd.stdin(Stdio::piped()).spawn().unwrap();
    drop(cmd);
    await_byte(&mut signal);
    let mixed: [&dyn Waitable; 2] = [&e0, &mutex];
    assert_eq!(
        wait_any(&mixed, Some(Duration::ZERO)).unwrap(),
        WaitResult::TimedOut
    );
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
    assert_eq!(
        wait_any(&mixed, Some(TIMEOUT)).unwrap(),
        WaitResult::Abandoned(1)
    );
    mutex.release().unwrap();
}

/// Child: `exit_on_event NAME`: exits once the event is set.
fn exit_on_event(args: &[String]) {
    let e = Event::open(&args[0]).unwrap();
    assert_eq!(e.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
}

fn wait_any_includes_processes() {
    let name = unique("process-exit");
    let go = Event::create(&name, false, false).unwrap();
    let never = Event::new(true, false).unwrap();
    let mut cmd = child("exit_on_event");
    cmd.arg(&name);
    let mut c = spawn(cmd);
    let process = Process::from_child(&c).unwrap();
    let objects: [&dyn Waitable; 2] = [&never, &process];
    assert_eq!(
        wait_any(&objects, Some(Duration::ZERO)).unwrap(),
        WaitResult::TimedOut
    );
    go.set().unwrap();
    assert_eq!(
        wait_any(&objects, Some(TIMEOUT)).unwrap(),
        WaitResult::Signaled(1)
    );
    // A process stays signaled; wait-all over it and a signaled event takes both.
    let ready = Event::new(false, true).unwrap();
    let both: [&dyn Waitable; 2] = [&process, &ready];
    assert_eq!(
        wait_all(&both, Some(TIMEOUT)).unwrap(),
        WaitResult::Signaled(0)
    );
    assert_eq!(
        ready.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
    assert!(wait(&mut c).success());
}

fn wait_all_changes_nothing_until_all() {
    let mutex = Mutex::new(false).unwrap();
    let sem = Semaphore::new(1, 1).unwrap();
    let event = Event::new(false, false).unwrap();
    let objects: [&dyn Waitable; 3] = [&mutex, &sem, &event];
    assert_eq!(
        wait_all(&objects, Some(Duration::ZERO)).unwrap(),
        WaitResult::TimedOut
    );
    assert_eq!(
        wait_all(&objects, Some(Duration::from_millis(20))).unwrap(),
        WaitResult::TimedOut
    );
    // Nothing was taken: the mutex is free for another thread, the semaphore still counts 1.
    std::thread::scope(|s| {
        s.spawn(|| assert!(mutex.lock_timeout(Duration::ZERO).unwrap().is_some()));
    });
    assert_eq!(sem.release(1).unwrap_err().kind(), ErrorKind::InvalidInput);
    // Once the event is set, all three are taken together.
    event.set().unwrap();
    assert_eq!(
        wait_all(&objects, Some(Duration::ZERO)).unwrap(),
        WaitResult::Signaled(0)
    );
    assert_eq!(sem.release(1).unwrap(), 0);
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
    mutex.release().unwrap();
    assert_eq!(
        mutex.release().unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
}

const ROUNDS: usize = 1000;

/// Child: `compete MUTEX SEMAPHORE EVENT MAPPING GO READY ROLE`: once every competitor is
/// ready, takes the three objects (all at once, or one or two at a time) many times, checking
/// through counters in the mapping that no one else holds what it holds.
fn compete(args: &[String]) {
    let mutex = Mutex::open(&args[0]).unwrap();
    let sem = Semaphore::open(&args[1]).unwrap();
    let event = Event::open(&args[2]).unwrap();
    let mapping = FileMapping::open(&args[3], Access::Write).unwrap();
    let go = Event::open(&args[4]).unwrap();
    let ready = Semaphore::open(&args[5]).unwrap();
    let role: usize = args[6].parse().unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    let held: Vec<_> = (0..3).map(|i| view.atomic_u32(i * 4).unwrap()).collect();
    let all_taken = view.atomic_u32(16).unwrap();
    let all_timed_out = view.atomic_u32(20).unwrap();
    let take = |i: usize| assert_eq!(held[i].fetch_add(1, SeqCst), 0, "object {i} held twice");
    let give = |i: usize| assert_eq!(held[i].fetch_sub(1, SeqCst), 1);
    let objects: [&dyn Waitable; 3] = [&mutex, &sem, &event];
    ready.release(1).unwrap();
    assert_eq!(go.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
    for round in 0..ROUNDS {
        match (role + round) % 4 {
            0 | 1 => {
                // All three at once; a timeout must leave everything untouched.
                let timeout = if round % 3 == 0 {
                    Duration::ZERO
                } else {
                    Duration::from_millis(2)
                };
                match wait_all(&objects, Some(timeout)).unwrap() {
                    WaitResult::Signaled(0) => {
                        (0..3).for_each(take);
                        std::thread::yield_now();
                        (0..3).for_each(give);
                        all_taken.fetch_add(1, SeqCst);
                        mutex.release().unwrap();
                        sem.release(1).unwrap();
                        event.set().unwrap();
                    }
                    WaitResult::TimedOut => {
                        all_timed_out.fetch_add(1, SeqCst);
                        assert_eq!(
                            mutex.release().unwrap_err().kind(),
                            ErrorKind::PermissionDenied
                        );
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            2 => {
                // Two of the three, one after the other: a wait-all must not slip in between.
                let guard = mutex.lock().unwrap();
                take(0);
                assert_eq!(sem.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
                take(1);
                std::thread::yield_now();
                give(1);
                sem.release(1).unwrap();
                give(0);
                drop(guard);
            }
            _ => {
                assert_eq!(event.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
                take(2);
                std::thread::yield_now();
                give(2);
                event.set().unwrap();
            }
        }
    }
}

fn wait_all_never_half_takes() {
    let names: Vec<String> = ["m", "s", "e", "v", "go", "ready"]
        .iter()
        .map(|t| unique(&format!("compete-{t}")))
        .collect();
    let mutex = Mutex::create(&names[0], false).unwrap();
    let sem = Semaphore::create(&names[1], 1, 1).unwrap();
    let event = Event::create(&names[2], false, true).unwrap();
    let mapping = FileMapping::create(&names[3], 4096).unwrap();
    let go = Event::create(&names[4], true, false).unwrap();
    let ready = Semaphore::create(&names[5], 0, 4).unwrap();
    let kids: Vec<Child> = (0..4)
        .map(|role| {
            let mut cmd = child("compete");
            cmd.args(&names).arg(role.to_string());
            spawn(cmd)
        })
        .collect();
    // All start at once, so that they really compete.
    for _ in 0..4 {
        assert_eq!(ready.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
    }
    go.set().unwrap();
    for mut k in kids {
        assert!(wait(&mut k).success());
    }
    let view = mapping.map_view(Access::Read, 0, 0).unwrap();
    let [taken, timed_out] = view.read_pod::<[u32; 2]>(16).unwrap();
    eprintln!("wait_all: {taken} took all three, {timed_out} timed out");
    assert!(taken > 0);
    // Every token is back: a wait-all that had half-taken and given up would have lost one.
    let objects: [&dyn Waitable; 3] = [&mutex, &sem, &event];
    assert_eq!(
        wait_all(&objects, Some(Duration::ZERO)).unwrap(),
        WaitResult::Signaled(0)
    );
    let view = mapping.map_view(Access::Read, 0, 0).unwrap();
    assert_eq!(view.read_pod::<[u32; 3]>(0).unwrap(), [0, 0, 0]);
}

fn wait_all_reports_an_abandoned_mutex() {
    let name = unique("all-abandoned");
    let mutex = Mutex::create(&name, false).unwrap();
    let ready = Event::new(false, true).unwrap();
    let mut cmd = child("hold_mutex");
    cmd.arg(&name);
    let mut signal = signal_pipe(&mut cmd);
    let mut c = cmd.stdin(Stdio::piped()).spawn().unwrap();
    drop(cmd);
    await_byte(&mut signal);
    let objects: [&dyn Waitable; 2] = [&ready, &mutex];
    assert_eq!(
        wait_all(&objects, Some(Duration::ZERO)).unwrap(),
        WaitResult::TimedOut
    );
    assert_eq!(
        ready.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    ready.set().unwrap();
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
    assert_eq!(
        wait_all(&objects, Some(TIMEOUT)).unwrap(),
        WaitResult::Abandoned(1)
    );
    // Both were taken: the event reset itself and the mutex is this thread's.
    assert_eq!(
        ready.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
    mutex.release().unwrap();
    assert_eq!(
        mutex.release().unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
}

// ---------------------------------------------------------------- hostile peers

/// Child: `vandal PATH PATTERN`: writes garbage over an object's shared page.
fn vandal(args: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&args[0])
        .unwrap();
    let page: Vec<u8> = match args[1].as_str() {
        "ones" => vec![0xff; 4096],
        "random" => {
            let mut x: u32 = 0x9e37_79b9;
            (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        }
        // A valid-looking header whose state is guarded by a dead thread, with huge counts.
        _ => {
            let mut page = std::fs::read(&args[0]).unwrap();
            page[16..20].copy_from_slice(&0xffff_fff0u32.to_ne_bytes()); // state: guard + garbage
            page[20..24].copy_from_slice(&u32::MAX.to_ne_bytes()); // waiters
            page[24..28].copy_from_slice(&0x7fff_fff0u32.to_ne_bytes()); // owner tid
            page[40..44].copy_from_slice(&u32::MAX.to_ne_bytes()); // recursion
            page[44..48].copy_from_slice(&0x3fff_fff0u32.to_ne_bytes()); // guard holder: none
            page
        }
    };
    file.write_all(&page).unwrap();
}

fn poke_everything(mutex: &Mutex, sem: &Semaphore, event: &Event) {
    let short = Some(Duration::from_millis(5));
    let _ = mutex.wait(Some(Duration::ZERO));
    let _ = mutex.wait(short);
    let _ = mutex.release();
    let _ = mutex.release();
    let _ = sem.wait(short);
    let _ = sem.release(1);
    let _ = sem.release(u32::MAX);
    let _ = event.set();
    let _ = event.reset();
    let _ = event.wait(short);
    let objects: [&dyn Waitable; 3] = [mutex, sem, event];
    let _ = wait_any(&objects, short);
    let _ = wait_all(&objects, short);
    let _ = wait_all(&objects, Some(Duration::ZERO));
}

fn hostile_peer_cannot_break_the_reader() {
    for pattern in ["guard", "ones", "random"] {
        let names: Vec<String> = ["m", "s", "e"]
            .iter()
            .map(|t| unique(&format!("vandal-{pattern}-{t}")))
            .collect();
        let mutex = Mutex::create(&names[0], false).unwrap();
        let sem = Semaphore::create(&names[1], 1, 2).unwrap();
        let event = Event::create(&names[2], false, false).unwrap();
        let listed = sync::list().unwrap();
        for name in &names {
            let entry = listed.iter().find(|e| &e.name == name).unwrap();
            let mut cmd = child("vandal");
            cmd.arg(&entry.path).arg(pattern);
            assert!(wait(&mut spawn(cmd)).success());
        }
        // Whatever the garbage, every call returns (an answer or an error) without panicking.
        poke_everything(&mutex, &sem, &event);
        poke_everything(&mutex, &sem, &event);
        // Opening a wrecked object is refused as invalid data.
        if pattern != "guard" {
            assert_eq!(
                Mutex::open(&names[0]).unwrap_err().kind(),
                ErrorKind::InvalidData
            );
            assert_eq!(
                Semaphore::open(&names[1]).unwrap_err().kind(),
                ErrorKind::InvalidData
            );
            assert_eq!(
                Event::open(&names[2]).unwrap_err().kind(),
                ErrorKind::InvalidData
            );
        }
    }
    // Something other than a file planted at a name: refused, never waited on.
    let uid = rustix::process::getuid().as_raw();
    for planted in ["fifo", "dir", "symlink"] {
        let name = unique(&format!("planted-{planted}"));
        let path = format!("/dev/shm/pipework-{uid}-{}", &name["Local\\".len()..]);
        match planted {
            "fifo" => rustix::fs::mknodat(
                rustix::fs::CWD,
                path.as_str(),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .unwrap(),
            "dir" => std::fs::create_dir(&path).unwrap(),
            _ => std::os::unix::fs::symlink("/etc/passwd", &path).unwrap(),
        }
        assert_eq!(
            Mutex::create(&name, false).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert_eq!(
            Event::open(&name).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert_eq!(
            FileMapping::open(&name, Access::Read).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&path);
    }
    // A short file is refused before it is mapped.
    let memfd = rustix::fs::memfd_create("short", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&memfd, 16).unwrap();
    assert_eq!(
        Event::try_from(memfd).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
}

/// Child: `hold_objects MUTEX MAPPING SIGNAL`: creates both, holds the mutex and a view, waits
/// to be killed.
fn hold_objects(args: &[String]) {
    let mutex = Mutex::create(&args[0], true).unwrap();
    let mapping = FileMapping::create(&args[1], 8192).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"stale").unwrap();
    drop(mapping);
    let mut signal = PipeWriter::try_from(inherited(&args[2])).unwrap();
    signal.write_all(b"H").unwrap();
    let mut forever = [0u8; 1];
    let _ = std::io::stdin().read(&mut forever);
    drop((mutex, view));
}

fn kill_9_leaves_nothing_stale() {
    let mname = unique("stale-mutex");
    let vname = unique("stale-map");
    let mut kids = Vec::new();
    for _ in 0..2 {
        let mut cmd = child("hold_objects");
        cmd.arg(&mname).arg(&vname);
        let mut signal = signal_pipe(&mut cmd);
        let c = cmd.stdin(Stdio::piped()).spawn().unwrap();
        drop(cmd);
        assert_eq!(await_byte(&mut signal), b'H');
        kids.push(c);
    }
    for mut c in kids {
        Process::from_child(&c).unwrap().kill().unwrap();
        let _ = wait(&mut c);
    }
    // Every holder is dead: the names are free, nothing is listed, and creating starts afresh.
    assert!(!sync::list().unwrap().iter().any(|e| e.name == mname));
    assert!(!pipework::mapping::list()
        .unwrap()
        .iter()
        .any(|e| e.name == vname));
    let mutex = Mutex::create(&mname, false).unwrap();
    assert!(!mutex.already_existed());
    assert_eq!(
        mutex.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    let mapping = FileMapping::create(&vname, 4096).unwrap();
    assert!(!mapping.already_existed());
    let view = mapping.map_view(Access::Read, 0, 0).unwrap();
    assert_eq!(view.read_pod::<[u8; 5]>(0).unwrap(), [0; 5]);
}

fn wait_argument_limits() {
    let events: Vec<Event> = (0..65).map(|_| Event::new(true, true).unwrap()).collect();
    let refs: Vec<&dyn Waitable> = events.iter().map(|e| e as &dyn Waitable).collect();
    assert_eq!(
        wait_any(&refs, Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        wait_any(&refs[..64], Some(Duration::ZERO)).unwrap(),
        WaitResult::Signaled(0)
    );
    assert_eq!(
        wait_all(&refs[..64], Some(Duration::ZERO)).unwrap(),
        WaitResult::Signaled(0)
    );
    assert_eq!(
        wait_any(&[], None).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let twice: [&dyn Waitable; 2] = [&events[0], &events[0]];
    assert_eq!(
        wait_all(&twice, None).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        wait_any(&twice, Some(Duration::ZERO)).unwrap(),
        WaitResult::Signaled(0)
    );
}

/// Child: `no_syscalls SIGNAL`: makes its objects, then enters seccomp strict mode, where any
/// system call but read, write and exit kills the process at once; runs every uncontended
/// operation many times, and only then writes "ok".
fn no_syscalls(args: &[String]) {
    let mut signal = PipeWriter::try_from(inherited(&args[0])).unwrap();
    let mutex = Mutex::new(false).unwrap();
    let sem = Semaphore::new(1, 1).unwrap();
    let manual = Event::new(true, false).unwrap();
    let auto = Event::new(false, false).unwrap();
    // Warm up: the thread's identity is looked up once, on first use.
    drop(mutex.lock().unwrap());
    let zero = Some(Duration::ZERO);
    // SAFETY: prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) only restricts this process's own
    // future system calls; it touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_STRICT) };
    assert_eq!(rc, 0);
    for _ in 0..1000 {
        let guard = mutex.lock().unwrap();
        let again = mutex.lock().unwrap();
        drop(again);
        drop(guard);
        assert_eq!(mutex.wait(zero).unwrap(), WaitStatus::Signaled);
        mutex.release().unwrap();
        assert_eq!(sem.wait(zero).unwrap(), WaitStatus::Signaled);
        sem.release(1).unwrap();
        manual.set().unwrap();
        assert_eq!(manual.wait(zero).unwrap(), WaitStatus::Signaled);
        manual.reset().unwrap();
        auto.set().unwrap();
        assert_eq!(auto.wait(None).unwrap(), WaitStatus::Signaled);
    }
    // write(2) is allowed; anything earlier would have killed the process before this.
    let _ = signal.write_all(b"ok");
    // Exiting is exit_group(2), which strict mode forbids: the process ends by SIGKILL here.
}

fn uncontended_paths_make_no_system_call() {
    let mut cmd = child("no_syscalls");
    let mut signal = signal_pipe(&mut cmd);
    let mut c = spawn(cmd);
    let got = common::read_to_end(&mut signal);
    let _ = wait(&mut c);
    assert_eq!(got, b"ok", "an uncontended operation made a system call");
}

/// Child (single-threaded, so it may fork): takes a mutex, forks; the forked process is another
/// thread and must neither own nor release it. Exits 0 when all held.
fn fork_while_owning(_: &[String]) {
    let mutex = Mutex::new(false).unwrap();
    let guard = mutex.lock().unwrap();
    // SAFETY: this process has one thread; the child only uses the mutex and then _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = mutex.wait(Some(Duration::ZERO)).ok() == Some(WaitStatus::TimedOut)
            && mutex.release().map_err(|e| e.kind()) == Err(ErrorKind::PermissionDenied);
        // SAFETY: ends the forked child at once, without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let forked = Process::open(pid as u32).unwrap();
    assert!(
        forked.wait_timeout(TIMEOUT).unwrap(),
        "the forked child hung"
    );
    let mut status = 0;
    // SAFETY: reaps the child just forked; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked child took or released the mutex"
    );
    drop(guard);
}

fn a_forked_child_is_not_the_owner() {
    assert!(wait(&mut spawn(child("fork_while_owning"))).success());
}
