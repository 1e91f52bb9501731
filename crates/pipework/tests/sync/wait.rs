//! Multiple-object waits: wait_any (lowest signaled, processes), wait_all (all or nothing,
//! abandoned mutexes), argument limits.

use super::*;

pub(super) fn wait_any_takes_the_lowest_signaled() {
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
pub(super) fn exit_on_event(args: &[String]) {
    let e = Event::open(&args[0]).unwrap();
    assert_eq!(e.wait(Some(TIMEOUT)).unwrap(), WaitStatus::Signaled);
}

pub(super) fn wait_any_includes_processes() {
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

pub(super) fn wait_all_changes_nothing_until_all() {
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
pub(super) fn compete(args: &[String]) {
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

pub(super) fn wait_all_never_half_takes() {
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

pub(super) fn wait_all_reports_an_abandoned_mutex() {
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

pub(super) fn wait_argument_limits() {
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
