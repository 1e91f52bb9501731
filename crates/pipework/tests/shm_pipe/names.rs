//! Meeting by name: connecting from another process, missing and taken names, names left by
//! a killed listener.

use super::*;

/// args: NAME COUNT — connects to NAME and writes COUNT pattern bytes.
pub(super) fn connect_and_write(args: &[String]) {
    let mut w = ShmWriter::connect(&args[0]).unwrap();
    w.write_all(&pattern(args[1].parse().unwrap())).unwrap();
}

/// args: NAME — listens on NAME, says so, and waits to be killed.
pub(super) fn listen_and_hold(args: &[String]) {
    let _listener = ShmPipeOptions::new().listen(&args[0]).unwrap();
    println!("listening");
    let mut forever = Vec::new();
    std::io::stdin().read_to_end(&mut forever).unwrap();
}

pub(super) fn a_writer_in_another_process_finds_the_pipe_by_name() {
    let name = format!("shm-test-{}-by-name", std::process::id());
    let listener = ShmPipeOptions::new()
        .capacity(32 * 1024)
        .listen(&name)
        .unwrap();
    let mut c = child("connect_and_write")
        .arg(&name)
        .arg("3000000")
        .spawn()
        .unwrap();
    let mut r = listener.accept().unwrap();
    assert_eq!(r.capacity(), 32 * 1024);
    assert!(read_all(&mut r).unwrap() == pattern(3_000_000));
    assert!(wait(&mut c).success());
    // The reader's handle can be passed on after a named set-up too.
    let mut c = child("connect_and_write")
        .arg(&name)
        .arg("10")
        .spawn()
        .unwrap();
    let r = listener.accept().unwrap();
    let mut r = ShmReader::try_from(OwnedFd::from(r)).unwrap();
    assert_eq!(read_all(&mut r).unwrap(), pattern(10));
    assert!(wait(&mut c).success());
}

pub(super) fn names_missing_taken_and_left_behind_by_a_killed_listener() {
    let name = format!("shm-test-{}-names", std::process::id());
    let err = ShmWriter::connect(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains(&name), "{err}");
    let err = ShmPipeOptions::new().listen("back\\slash").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // A live listener in another process holds the name.
    let mut c = common::spawn_piped("listen_and_hold", &name);
    let _stdin = c.stdin.take();
    assert_eq!(common::first_line(&mut c), "listening");
    let err = ShmPipeOptions::new().listen(&name).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert!(shm_pipe::list().unwrap().contains(&name));
    // Killed with -9, it leaves its socket behind: not listed, and a new listener takes the
    // name over.
    Process::from_child(&c).unwrap().kill().unwrap();
    let _ = wait(&mut c);
    assert!(!shm_pipe::list().unwrap().contains(&name));
    assert_eq!(
        ShmWriter::connect(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let listener = ShmPipeOptions::new().listen(&name).unwrap();
    assert!(shm_pipe::list().unwrap().contains(&name));
    drop(listener);
    assert!(!shm_pipe::list().unwrap().contains(&name));
    assert_eq!(
        ShmWriter::connect(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // A name the socket cannot carry as it is (long, mixed case, spaces) is listed as given.
    let long = format!("Shm Test {} {}", std::process::id(), "x".repeat(200));
    let listener = ShmPipeOptions::new().listen(&long).unwrap();
    assert!(shm_pipe::list().unwrap().contains(&long));
    drop(listener);
    assert!(!shm_pipe::list().unwrap().contains(&long));
}
