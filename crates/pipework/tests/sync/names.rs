//! Names: one namespace for every kind, Local and Global, unnamed objects by inheritance,
//! nothing stale after kill -9.

use super::*;

pub(super) fn one_namespace_for_all_kinds() {
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
pub(super) fn other_user(args: &[String]) {
    assert_eq!(
        Event::open(&args[0]).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let global = Event::open(&args[1]).unwrap();
    global.set().unwrap();
}

pub(super) fn local_is_per_user_global_is_shared() {
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
pub(super) fn wait_inherited(args: &[String]) {
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

pub(super) fn unnamed_objects_travel_by_inheritance() {
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

/// Child: `hold_objects MUTEX MAPPING SIGNAL`: creates both, holds the mutex and a view, waits
/// to be killed.
pub(super) fn hold_objects(args: &[String]) {
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

pub(super) fn kill_9_leaves_nothing_stale() {
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
