//! Mutexes: counting together across processes, abandoned by a killed owner, recursion and
//! ownership, a forked child.

use super::*;

const INCREMENTS: u64 = 100_000;

/// Child: `increment MUTEX MAPPING GO READY`: once all are ready, 100,000 times, under the
/// mutex, reads the counter, adds one, writes it back (two separate accesses: only the mutex
/// keeps them together).
pub(super) fn increment(args: &[String]) {
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

pub(super) fn four_processes_count_to_400000() {
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

pub(super) fn killed_owner_abandons_the_mutex() {
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
pub(super) fn release_foreign(args: &[String]) {
    let mutex = Mutex::open(&args[0]).unwrap();
    let err = mutex.release().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert_eq!(
        mutex.wait(Some(Duration::ZERO)).unwrap(),
        WaitStatus::TimedOut
    );
}

pub(super) fn mutex_is_recursive_and_owned() {
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

/// Child (single-threaded, so it may fork): takes a mutex, forks; the forked process is another
/// thread and must neither own nor release it. Exits 0 when all held.
pub(super) fn fork_while_owning(_: &[String]) {
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

pub(super) fn a_forked_child_is_not_the_owner() {
    assert!(wait(&mut spawn(child("fork_while_owning"))).success());
}
