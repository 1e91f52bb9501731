//! Semaphores: counts and the maximum.

use super::*;

pub(super) fn semaphore_counts_and_maximum() {
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
