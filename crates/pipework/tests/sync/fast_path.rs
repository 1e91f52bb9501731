//! The uncontended paths make no system call (checked under seccomp strict mode).

use super::*;

/// Child: `no_syscalls SIGNAL`: makes its objects, then enters seccomp strict mode, where any
/// system call but read, write and exit kills the process at once; runs every uncontended
/// operation many times, and only then writes "ok".
pub(super) fn no_syscalls(args: &[String]) {
    // A plain file: pipework's pipe writes block SIGPIPE around the write (rt_sigprocmask),
    // which strict mode forbids; a bare write(2) is all this signal needs.
    let mut signal = std::fs::File::from(inherited(&args[0]));
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

pub(super) fn uncontended_paths_make_no_system_call() {
    let mut cmd = child("no_syscalls");
    let mut signal = signal_pipe(&mut cmd);
    let mut c = spawn(cmd);
    let got = common::read_to_end(&mut signal);
    let _ = wait(&mut c);
    assert_eq!(got, b"ok", "an uncontended operation made a system call");
}
