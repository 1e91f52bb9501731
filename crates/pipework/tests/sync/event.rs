//! Events: auto-reset releases one waiter, manual-reset releases all.

use super::*;

pub(super) fn auto_reset_event_releases_one() {
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

pub(super) fn manual_reset_event_releases_all() {
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
