//! Sync objects against hostile peers, across real processes: a child writes values into an
//! object's page (its file in `/dev/shm`, opened by path) and every call of the victim returns, at
//! worst with an error that names the object; random pages (property tests) never make a call
//! panic or hang; `Duration::MAX` waits; a name goes with its last handle.

// The interop tests (foreign programs, root, network namespaces) build only with the
// `interop` feature; without it, their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{await_byte, child, inherited, spawn, wait, TIMEOUT};
use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework::process::{CommandExt, Process};
use pipework::sync::{
    self, wait_all, wait_any, Event, Mutex, Semaphore, WaitResult, WaitStatus, Waitable,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The page layout (docs/design/sync.md): byte offsets of the words a peer can write.
const MAGIC: u64 = 0;
const VERSION: u64 = 4;
const KIND: u64 = 8;
const PARAM: u64 = 12;
const STATE: u64 = 16;
const WAITERS: u64 = 20;
const OWNER_TID: u64 = 24;
const OWNER_PID: u64 = 28;
const OWNER_START: u64 = 32;
const RECURSION: u64 = 40;
const GUARD_TID: u64 = 44;
/// The state word's guard bit.
const GUARD: u32 = 1 << 31;

fn main() {
    common::main(
        &[
            (
                "a_guard_held_by_a_live_thread_fails_every_call_within_the_bound",
                a_guard_held_by_a_live_thread_fails_every_call_within_the_bound,
            ),
            (
                "absurd_counts_and_owners_are_answers_or_errors",
                absurd_counts_and_owners_are_answers_or_errors,
            ),
            (
                "duration_max_waits_never_panic_or_fail",
                duration_max_waits_never_panic_or_fail,
            ),
            (
                "a_name_goes_with_its_last_handle",
                a_name_goes_with_its_last_handle,
            ),
            (
                "random_pages_never_panic_or_hang",
                random_pages_never_panic_or_hang,
            ),
            (
                "random_headers_are_refused_or_kept",
                random_headers_are_refused_or_kept,
            ),
            (
                "an_owner_record_left_by_a_look_alike_is_rewritten",
                an_owner_record_left_by_a_look_alike_is_rewritten,
            ),
            (
                "a_recursion_depth_a_peer_wrote_is_counted_down",
                a_recursion_depth_a_peer_wrote_is_counted_down,
            ),
        ],
        &[
            ("retake", retake),
            ("guard", guard),
            ("poke", poke),
            ("hold", hold),
            ("hold_inherited", hold_inherited),
            ("set_event", set_event),
            ("exit", |_| {}),
        ],
    )
}

fn unique(tag: &str) -> String {
    format!("Local\\pw-hostile-{}-{tag}", std::process::id())
}

/// The file in `/dev/shm` behind the named object `name`.
fn path_of(name: &str) -> String {
    let listed = sync::list().unwrap();
    let entry = listed.iter().find(|e| e.name == name);
    entry
        .unwrap_or_else(|| panic!("{name} is not listed: {listed:?}"))
        .path
        .clone()
}

fn read_u32(file: &File, offset: u64) -> u32 {
    let mut word = [0u8; 4];
    file.read_exact_at(&mut word, offset).unwrap();
    u32::from_ne_bytes(word)
}

fn write_u32(file: &File, offset: u64, value: u32) {
    file.write_all_at(&value.to_ne_bytes(), offset).unwrap();
}

fn open_page(path: &str) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

/// A pipe the child signals on: the parent keeps the reader.
fn signal_pipe(cmd: &mut std::process::Command) -> PipeReader {
    let (r, w) = pipe::create().unwrap();
    let n = cmd.inherit_handle(w);
    cmd.arg(n.to_string());
    r
}

/// Starts `cmd` with a stdin pipe the child waits on: the child lives until it is killed.
fn spawn_held(mut cmd: std::process::Command) -> Child {
    let c = cmd.stdin(Stdio::piped()).spawn().unwrap();
    drop(cmd);
    c
}

fn kill(mut c: Child) {
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
}

fn wait_for_stdin_end() {
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
}

/// Runs `body` on its own thread and fails the test if it has not returned within `limit`: a
/// call that hangs fails instead of hanging the run.
fn within<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("a call did not return within {limit:?}"),
    }
}

/// `err` is a `TimedOut` that names the object `name`.
fn assert_stuck(err: std::io::Error, name: &str) {
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains(name), "{err} does not name {name}");
    assert!(err.to_string().contains("guarded"), "{err}");
}

/// Child: `guard PATH... SIGNAL`: sets the guard bit in each object's state word, names itself
/// (alive) as the guard's holder, signals 'G', then lives until killed.
fn guard(args: &[String]) {
    let (signal, paths) = args.split_last().unwrap();
    for path in paths {
        let page = open_page(path);
        let state = read_u32(&page, STATE);
        write_u32(&page, STATE, state | GUARD);
        write_u32(&page, GUARD_TID, std::process::id());
    }
    let mut signal = PipeWriter::try_from(inherited(signal)).unwrap();
    signal.write_all(b"G").unwrap();
    wait_for_stdin_end();
}

/// Child: `poke PATH OFFSET VALUE [OFFSET VALUE]...`: writes each 32-bit value at its offset.
fn poke(args: &[String]) {
    let page = open_page(&args[0]);
    for pair in args[1..].chunks(2) {
        write_u32(&page, pair[0].parse().unwrap(), pair[1].parse().unwrap());
    }
}

fn poke_child(path: &str, words: &[(u64, u32)]) {
    let mut cmd = child("poke");
    cmd.arg(path);
    for (offset, value) in words {
        cmd.arg(offset.to_string()).arg(value.to_string());
    }
    assert!(wait(&mut spawn(cmd)).success());
}

fn a_guard_held_by_a_live_thread_fails_every_call_within_the_bound() {
    let names: Vec<String> = ["m", "s", "e"]
        .iter()
        .map(|t| unique(&format!("live-guard-{t}")))
        .collect();
    let (mname, sname, ename) = (names[0].clone(), names[1].clone(), names[2].clone());
    let sem = Semaphore::create(&sname, 0, 5).unwrap();
    let event = Event::create(&ename, true, false).unwrap();
    // The mutex is owned by a thread of this process that keeps it while the guard is set.
    let (to_owner, owner_rx) = mpsc::channel::<()>();
    let (owner_tx, from_owner) = mpsc::channel::<()>();
    let owner_name = mname.clone();
    let owner = std::thread::spawn(move || {
        let mutex = Mutex::create(&owner_name, true).unwrap();
        owner_tx.send(()).unwrap();
        owner_rx.recv().unwrap(); // the guard is set
        let release = mutex.release().unwrap_err();
        let wait = mutex.wait(None).unwrap_err();
        owner_tx.send(()).unwrap();
        owner_rx.recv().unwrap(); // the guard's holder is dead
                                  // Recovered as before: the mutex is still this thread's, once more after the wait.
        assert_eq!(
            mutex.wait(Some(Duration::ZERO)).unwrap(),
            WaitStatus::Signaled
        );
        mutex.release().unwrap();
        mutex.release().unwrap();
        assert!(mutex.release().is_err());
        (release, wait)
    });
    from_owner.recv_timeout(TIMEOUT).unwrap();
    let mut cmd = child("guard");
    for name in &names {
        cmd.arg(path_of(name));
    }
    let mut signal = signal_pipe(&mut cmd);
    let holder = spawn_held(cmd);
    assert_eq!(await_byte(&mut signal), b'G');

    // Every call that changes or waits on a guarded object gives up with TimedOut naming it.
    // Each takes up to the bound (a second): the groups run side by side.
    to_owner.send(()).unwrap();
    let limit = TIMEOUT;
    let (e1, e2) = (event.try_clone().unwrap(), event.try_clone().unwrap());
    let (s1, s2) = (sem.try_clone().unwrap(), sem.try_clone().unwrap());
    let events = std::thread::spawn(move || {
        within(limit, move || {
            (
                e1.set().unwrap_err(),
                e1.reset().unwrap_err(),
                e1.wait(None).unwrap_err(),
            )
        })
    });
    let sems = std::thread::spawn(move || {
        within(limit, move || {
            (
                s1.release(1).unwrap_err(),
                s1.wait(Some(TIMEOUT)).unwrap_err(),
            )
        })
    });
    let many = std::thread::spawn(move || {
        within(limit, move || {
            let objects: [&dyn Waitable; 2] = [&s2, &e2];
            (
                wait_any(&objects, None).unwrap_err(),
                wait_all(&objects, Some(Duration::MAX)).unwrap_err(),
            )
        })
    });
    let (set, reset, ewait) = events.join().unwrap();
    let (release, swait) = sems.join().unwrap();
    let (any, all) = many.join().unwrap();
    from_owner.recv_timeout(TIMEOUT).unwrap();
    for err in [set, reset, ewait] {
        assert_stuck(err, &ename);
    }
    for err in [release, swait] {
        assert_stuck(err, &sname);
    }
    assert_stuck(any, &sname); // the lowest index meets its guard first
                               // The first in the guards' order (device, inode) is either.
    let first = if all.to_string().contains(&sname) {
        &sname
    } else {
        &ename
    };
    assert_stuck(all, first);
    // A wait with a timeout shorter than the bound ends as a plain timeout.
    assert_eq!(
        event.wait(Some(Duration::from_millis(1))).unwrap(),
        WaitStatus::TimedOut
    );

    // The holder dies: its guards are cleared by the next call, and everything works again.
    kill(holder);
    to_owner.send(()).unwrap();
    let (mrelease, mwait) = owner.join().unwrap();
    assert_stuck(mrelease, &mname);
    assert_stuck(mwait, &mname);
    event.set().unwrap();
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    event.reset().unwrap();
    assert_eq!(sem.release(2).unwrap(), 0);
    let objects: [&dyn Waitable; 2] = [&sem, &event];
    assert_eq!(
        wait_any(&objects, Some(TIMEOUT)).unwrap(),
        WaitResult::Signaled(0)
    );
    event.set().unwrap();
    assert_eq!(
        wait_all(&objects, Some(TIMEOUT)).unwrap(),
        WaitResult::Signaled(0)
    );
    assert_eq!(
        sem.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
}

fn absurd_counts_and_owners_are_answers_or_errors() {
    let sname = unique("absurd-s");
    let ename = unique("absurd-e");
    let mname = unique("absurd-m");
    let sem = Semaphore::create(&sname, 0, 3).unwrap();
    let event = Event::create(&ename, false, false).unwrap();
    let mutex = Mutex::create(&mname, false).unwrap();
    // A count far past the maximum, at the top of the value bits: every release is refused and
    // nothing wraps; waits still take one each.
    poke_child(&path_of(&sname), &[(STATE, !GUARD), (WAITERS, u32::MAX)]);
    let err = sem.release(1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains(&sname), "{err}");
    assert_eq!(
        sem.release(u32::MAX).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        sem.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::Signaled
    );
    // A count just below the maximum: one more fits, two do not.
    poke_child(&path_of(&sname), &[(STATE, 2)]);
    assert_eq!(sem.release(2).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(sem.release(1).unwrap(), 2);
    // An event state that is neither 0 nor 1: signaled; set leaves it, reset clears it.
    poke_child(&path_of(&ename), &[(STATE, 0x7fff_ffff)]);
    event.set().unwrap();
    event.reset().unwrap();
    assert_eq!(
        event.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
    // A mutex owned by a live thread that is not its recorded owner (the peer itself):
    // waits time out, release is refused, nothing spins.
    let mut cmd = child("hold");
    cmd.arg(&mname).arg("mutex");
    let mut signal = signal_pipe(&mut cmd);
    let peer = spawn_held(cmd);
    assert_eq!(await_byte(&mut signal), b'H');
    poke_child(
        &path_of(&mname),
        &[
            (STATE, peer.id()),
            (RECURSION, u32::MAX),
            (OWNER_TID, 1),
            (OWNER_PID, 1),
        ],
    );
    assert_eq!(
        mutex.wait(Some(Duration::from_millis(20))).unwrap(),
        WaitStatus::TimedOut
    );
    assert_eq!(
        mutex.release().unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    // Then that thread dies: the mutex is abandoned to the next waiter.
    kill(peer);
    assert_eq!(mutex.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Abandoned);
    mutex.release().unwrap();
    // An owner id beyond any thread id: dead at once.
    poke_child(&path_of(&mname), &[(STATE, 0x7fff_fff0), (OWNER_START, 0)]);
    assert_eq!(mutex.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Abandoned);
    mutex.release().unwrap();
}

/// Child: `hold NAME KIND SIGNAL`: opens the object, signals 'H', lives until killed or its
/// stdin ends.
fn hold(args: &[String]) {
    let held: Box<dyn std::any::Any> = match args[1].as_str() {
        "mutex" => Box::new(Mutex::open(&args[0]).unwrap()),
        "semaphore" => Box::new(Semaphore::open(&args[0]).unwrap()),
        _ => Box::new(Event::open(&args[0]).unwrap()),
    };
    let mut signal = PipeWriter::try_from(inherited(&args[2])).unwrap();
    signal.write_all(b"H").unwrap();
    wait_for_stdin_end();
    drop(held);
}

/// Child: `retake MUTEX GO SIGNAL`: takes and releases the mutex, signals 'R'; once the event
/// GO is set, takes it again, signals 'L', and holds it until killed.
fn retake(args: &[String]) {
    let mutex = Mutex::open(&args[0]).unwrap();
    let go = Event::open(&args[1]).unwrap();
    let mut signal = PipeWriter::try_from(inherited(&args[2])).unwrap();
    drop(mutex.lock().unwrap());
    signal.write_all(b"R").unwrap();
    assert_eq!(go.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
    let guard = mutex.lock().unwrap();
    signal.write_all(b"L").unwrap();
    wait_for_stdin_end();
    drop(guard);
}

/// The uncontended lock only reads the owner record when it already names the taking thread:
/// a record with the owner's thread id but another start time or process id (what a dead
/// thread whose id was reused leaves, or a peer writes) is rewritten, so the live owner is never
/// taken as abandoned; a record that is right is kept, and still tells a `kill -9` apart.
fn an_owner_record_left_by_a_look_alike_is_rewritten() {
    for look_alike in ["none", "start time", "process id"] {
        let mname = unique(&format!("record-{}", look_alike.replace(' ', "-")));
        let gname = unique(&format!("record-go-{}", look_alike.replace(' ', "-")));
        let mutex = Mutex::create(&mname, false).unwrap();
        let go = Event::create(&gname, false, false).unwrap();
        let mut cmd = child("retake");
        cmd.arg(&mname).arg(&gname);
        let mut signal = signal_pipe(&mut cmd);
        let owner = spawn_held(cmd);
        assert_eq!(await_byte(&mut signal), b'R');
        // The child's one thread: its id is its process id.
        let page = open_page(&path_of(&mname));
        assert_eq!(read_u32(&page, OWNER_TID), owner.id(), "{look_alike}");
        assert_eq!(read_u32(&page, OWNER_PID), owner.id(), "{look_alike}");
        let start = read_u32(&page, OWNER_START);
        match look_alike {
            "start time" => write_u32(&page, OWNER_START, start ^ 1),
            "process id" => write_u32(&page, OWNER_PID, std::process::id()),
            _ => {}
        }
        go.set().unwrap();
        assert_eq!(await_byte(&mut signal), b'L');
        assert_eq!(
            mutex.wait(Some(Duration::ZERO)).unwrap(),
            WaitStatus::TimedOut,
            "a live owner taken as abandoned (look-alike: {look_alike})"
        );
        assert_eq!(read_u32(&page, OWNER_TID), owner.id(), "{look_alike}");
        assert_eq!(read_u32(&page, OWNER_PID), owner.id(), "{look_alike}");
        assert_eq!(read_u32(&page, OWNER_START), start, "{look_alike}");
        kill(owner);
        assert_eq!(
            mutex.wait(Some(TIMEOUT)).unwrap(),
            WaitStatus::Abandoned,
            "{look_alike}"
        );
        mutex.release().unwrap();
    }
}

/// The uncontended release frees the mutex only at depth 1: a depth a peer raised is counted
/// down first (the owner keeps the mutex meanwhile), and a depth it cleared releases at once.
fn a_recursion_depth_a_peer_wrote_is_counted_down() {
    let p = page(0, 0);
    let Object::Mutex(mutex) = &p.object else {
        unreachable!("page(0, _) is a mutex")
    };
    let taken_elsewhere = || {
        std::thread::scope(|s| {
            s.spawn(|| {
                let guard = mutex.lock_timeout(Duration::ZERO).unwrap();
                guard.is_some()
            })
            .join()
            .unwrap()
        })
    };
    let guard = mutex.lock().unwrap();
    write_u32(&p.file, RECURSION, 3);
    drop(guard);
    assert!(!taken_elsewhere(), "released at a depth of 3");
    mutex.release().unwrap();
    assert!(!taken_elsewhere(), "released at a depth of 2");
    mutex.release().unwrap();
    assert!(taken_elsewhere());
    assert_eq!(
        mutex.release().unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    let guard = mutex.lock().unwrap();
    write_u32(&p.file, RECURSION, 0);
    drop(guard);
    assert!(taken_elsewhere(), "not released at a depth of 0");
    assert_eq!(
        mutex.release().unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
}

/// Child: `hold_inherited HANDLE SIGNAL`: keeps an inherited handle until its stdin ends.
fn hold_inherited(args: &[String]) {
    let handle = inherited(&args[0]);
    let mut signal = PipeWriter::try_from(inherited(&args[1])).unwrap();
    signal.write_all(b"H").unwrap();
    wait_for_stdin_end();
    drop(handle);
}

/// Child: `set_event NAME`: sets the event.
fn set_event(args: &[String]) {
    Event::open(&args[0]).unwrap().set().unwrap();
}

fn duration_max_waits_never_panic_or_fail() {
    within(TIMEOUT, || {
        let forever = Some(Duration::MAX);
        let mutex = Mutex::new(false).unwrap();
        assert_eq!(mutex.wait(forever).unwrap(), WaitStatus::Signaled);
        assert!(mutex.lock_timeout(Duration::MAX).unwrap().is_some());
        mutex.release().unwrap();
        let sem = Semaphore::new(1, 1).unwrap();
        assert_eq!(sem.wait(forever).unwrap(), WaitStatus::Signaled);
        // Asleep on one word, then on two (futex_waitv), with the largest timeout, until a
        // child sets the event.
        for many in [false, true] {
            let name = unique(&format!("max-{many}"));
            let event = Event::create(&name, false, false).unwrap();
            let mut cmd = child("set_event");
            cmd.arg(&name);
            let mut c = spawn(cmd);
            if many {
                let objects: [&dyn Waitable; 2] = [&sem, &event];
                assert_eq!(
                    wait_any(&objects, forever).unwrap(),
                    WaitResult::Signaled(1)
                );
            } else {
                assert_eq!(event.wait(forever).unwrap(), WaitStatus::Signaled);
            }
            assert!(wait(&mut c).success());
            sem.release(1).unwrap();
            event.set().unwrap();
            let objects: [&dyn Waitable; 2] = [&sem, &event];
            assert_eq!(
                wait_all(&objects, forever).unwrap(),
                WaitResult::Signaled(0)
            );
        }
        let mut c = spawn(child("exit"));
        assert!(Process::from_child(&c)
            .unwrap()
            .wait_timeout(Duration::MAX)
            .unwrap());
        let _ = c.wait();
    });
}

fn a_name_goes_with_its_last_handle() {
    for kind in ["mutex", "semaphore", "event"] {
        let name = unique(&format!("last-{kind}"));
        let create = |initial: u32| -> (Box<dyn Waitable>, bool, OwnedFd) {
            match kind {
                "mutex" => {
                    let m = Mutex::create(&name, false).unwrap();
                    let fd = pipework::handle::duplicate(&m, false).unwrap();
                    let existed = m.already_existed();
                    (Box::new(m), existed, fd)
                }
                "semaphore" => {
                    let s = Semaphore::create(&name, initial, 7 + initial).unwrap();
                    let fd = pipework::handle::duplicate(&s, false).unwrap();
                    let existed = s.already_existed();
                    (Box::new(s), existed, fd)
                }
                _ => {
                    let e = Event::create(&name, initial == 1, initial == 1).unwrap();
                    let fd = pipework::handle::duplicate(&e, false).unwrap();
                    let existed = e.already_existed();
                    (Box::new(e), existed, fd)
                }
            }
        };
        let open_kind = || -> std::io::Result<()> {
            match kind {
                "mutex" => Mutex::open(&name).map(drop),
                "semaphore" => Semaphore::open(&name).map(drop),
                _ => Event::open(&name).map(drop),
            }
        };
        // Handles: the creator's, a duplicate of it, one opened by name in a child, and one
        // inherited by another child (a handle without the name).
        let (object, existed, duplicate) = create(0);
        assert!(!existed);
        let mut cmd = child("hold");
        cmd.arg(&name).arg(kind);
        let mut by_name_signal = signal_pipe(&mut cmd);
        let by_name = spawn_held(cmd);
        assert_eq!(await_byte(&mut by_name_signal), b'H');
        let mut cmd = child("hold_inherited");
        let n = cmd.inherit_handle(pipework::handle::duplicate(&duplicate, false).unwrap());
        cmd.arg(n.to_string());
        let mut inherited_signal = signal_pipe(&mut cmd);
        let inheritor = spawn_held(cmd);
        assert_eq!(await_byte(&mut inherited_signal), b'H');
        // While any handle lives, in any process, the name opens the same object.
        drop(object);
        open_kind().unwrap();
        kill(by_name);
        open_kind().unwrap();
        drop(duplicate);
        open_kind().unwrap();
        // The last handle (inherited, nameless) closes: the name is gone.
        kill(inheritor);
        let err = open_kind().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{kind}: {err}");
        assert!(!sync::list().unwrap().iter().any(|e| e.name == name));
        // And a create makes a new object with the new settings.
        let (object, existed, duplicate) = create(1);
        assert!(!existed, "{kind}: the create found the old object");
        match kind {
            "semaphore" => {
                let s = Semaphore::try_from(duplicate).unwrap();
                assert_eq!(s.max_count(), 8);
                assert_eq!(s.wait(Some(Duration::ZERO)).unwrap(), WaitStatus::Signaled);
            }
            "event" => {
                let e = Event::try_from(duplicate).unwrap();
                assert!(e.is_manual_reset());
                assert_eq!(e.wait(Some(Duration::ZERO)).unwrap(), WaitStatus::Signaled);
            }
            _ => {
                let m = Mutex::try_from(duplicate).unwrap();
                assert_eq!(m.wait(Some(Duration::ZERO)).unwrap(), WaitStatus::Signaled);
                m.release().unwrap();
            }
        }
        drop(object);
        assert_eq!(open_kind().unwrap_err().kind(), ErrorKind::NotFound);
    }
}

/// One object of each kind (unnamed: a sealed memfd) and a writable copy of its file.
enum Object {
    Mutex(Mutex),
    Semaphore(Semaphore),
    Event(Event),
}

struct Page {
    object: Object,
    file: File,
}

impl Page {
    fn waitable(&self) -> &dyn Waitable {
        match &self.object {
            Object::Mutex(m) => m,
            Object::Semaphore(s) => s,
            Object::Event(e) => e,
        }
    }
}

fn page(kind: u8, param: u32) -> Page {
    let object = match kind % 3 {
        0 => Object::Mutex(Mutex::new(false).unwrap()),
        1 => Object::Semaphore(Semaphore::new(0, param.clamp(1, GUARD - 1)).unwrap()),
        _ => Object::Event(Event::new(param & 1 == 1, false).unwrap()),
    };
    let fd = match &object {
        Object::Mutex(m) => pipework::handle::duplicate(m, false),
        Object::Semaphore(s) => pipework::handle::duplicate(s, false),
        Object::Event(e) => pipework::handle::duplicate(e, false),
    };
    Page {
        object,
        file: File::from(fd.unwrap()),
    }
}

/// Values a peer might write: edges, small numbers, guard-bit forms, anything.
fn word() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1u32),
        Just(u32::MAX),
        Just(GUARD),
        Just(!GUARD),
        0u32..8,
        any::<u32>(),
        any::<u32>().prop_map(|v| v | GUARD),
    ]
}

/// A thread id no thread has: above the kernel's limit on ids (2^22), or 0.
fn dead_tid() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), (1u32 << 22) + 1..=u32::MAX]
}

/// An error from a hostile page: one of the documented kinds, naming the object.
fn check_error(err: &std::io::Error, kind: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(
            err.kind(),
            ErrorKind::InvalidInput | ErrorKind::PermissionDenied | ErrorKind::TimedOut
        ),
        "{err}"
    );
    prop_assert!(
        err.to_string().contains(kind),
        "{err} does not name the {kind}"
    );
    Ok(())
}

/// Does everything a caller can do to a page whose words hold anything, and checks each answer.
fn exercise(p: &Page, n: u32) -> Result<(), TestCaseError> {
    let short = Some(Duration::from_millis(2));
    let objects: [&dyn Waitable; 1] = [p.waitable()];
    let label = match p.object {
        Object::Mutex(_) => "unnamed mutex",
        Object::Semaphore(_) => "unnamed semaphore",
        Object::Event(_) => "unnamed event",
    };
    let any = |r: std::io::Result<()>| match r {
        Ok(()) => Ok(()),
        Err(e) => check_error(&e, label),
    };
    any(wait_any(&objects, Some(Duration::ZERO)).map(drop))?;
    any(wait_all(&objects, short).map(drop))?;
    match &p.object {
        Object::Mutex(m) => {
            match m.wait(short) {
                Ok(WaitStatus::TimedOut) => {}
                // Taken (perhaps as abandoned, or once more): this thread may release it.
                Ok(_) => prop_assert!(m.release().is_ok()),
                Err(e) => check_error(&e, label)?,
            }
            any(m.release())?;
        }
        Object::Semaphore(s) => {
            match s.release(n) {
                Ok(before) => {
                    prop_assert!(u64::from(before) + u64::from(n) <= u64::from(s.max_count()));
                }
                Err(e) => check_error(&e, label)?,
            }
            any(s.wait(short).map(drop))?;
        }
        Object::Event(e) => {
            match e.set() {
                Ok(()) => {
                    prop_assert_eq!(e.wait(Some(Duration::ZERO)).unwrap(), WaitStatus::Signaled)
                }
                Err(err) => check_error(&err, label)?,
            }
            let _ = e.set();
            match e.reset() {
                Ok(()) => {
                    prop_assert_eq!(e.wait(Some(Duration::ZERO)).unwrap(), WaitStatus::TimedOut)
                }
                Err(err) => check_error(&err, label)?,
            }
        }
    }
    Ok(())
}

fn random_pages_never_panic_or_hang() {
    const CASES: u32 = 512;
    within(TIMEOUT * 4, || {
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        let strategy = (
            any::<u8>(),
            word(),
            prop::array::uniform8(word()),
            dead_tid(),
            any::<u32>(),
        );
        runner
            .run(&strategy, |(kind, param, words, guard_tid, n)| {
                let p = page(kind, param);
                // Everything after the header: state, waiters, owner record, recursion; the
                // guard's holder is a thread that does not exist (a live one: the test above).
                let offsets = [
                    STATE,
                    WAITERS,
                    OWNER_TID,
                    OWNER_PID,
                    OWNER_START,
                    OWNER_START + 4,
                    RECURSION,
                    PARAM,
                ];
                for (offset, value) in offsets.iter().zip(words) {
                    write_u32(&p.file, *offset, value);
                }
                write_u32(&p.file, GUARD_TID, guard_tid);
                exercise(&p, n)?;
                // Twice: after the first round's changes too.
                exercise(&p, n.max(1))
            })
            .unwrap();
    });
}

fn random_headers_are_refused_or_kept() {
    const CASES: u32 = 1024;
    within(TIMEOUT * 2, || {
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        });
        let header = prop_oneof![
            prop::array::uniform4(word()),
            (0u32..5, word()).prop_map(|(kind, param)| [0x5057_534f, 1, kind, param]),
        ];
        runner
            .run(&(header, 0u8..3), |(header, kind)| {
                let memfd =
                    rustix::fs::memfd_create("hostile", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
                let file = File::from(memfd);
                file.set_len(4096).unwrap();
                for (offset, value) in [MAGIC, VERSION, KIND, PARAM].iter().zip(header) {
                    write_u32(&file, *offset, value);
                }
                let fd = OwnedFd::from(file.try_clone().unwrap());
                let opened = match kind {
                    0 => Mutex::try_from(fd).map(|_| ()),
                    1 => Semaphore::try_from(fd)
                        .map(|s| assert!(s.max_count() >= 1 && s.max_count() < GUARD)),
                    _ => {
                        Event::try_from(fd).map(|e| assert_eq!(e.is_manual_reset(), header[3] == 1))
                    }
                };
                match opened {
                    Ok(()) => {
                        prop_assert_eq!(header[0], 0x5057_534f);
                        prop_assert_eq!(header[2], u32::from(kind) + 1);
                    }
                    Err(e) => {
                        prop_assert_eq!(e.kind(), ErrorKind::InvalidData);
                        prop_assert!(e.to_string().starts_with("unnamed "), "{e}");
                    }
                }
                Ok(())
            })
            .unwrap();
    });
}
