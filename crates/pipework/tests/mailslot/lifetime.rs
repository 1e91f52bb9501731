//! How long a slot lives: the last handle, servers killed with -9, files left behind, writes
//! after the close, the slot list, a squatted directory.

use super::*;

pub(super) fn name_and_messages_go_with_the_last_handle() {
    let name = unique("transient");
    let slot = server(&name);
    assert_eq!(run(sender(&name, &["a", "b", "c"])).0, 0);
    drop(slot);
    assert_eq!(
        run(sender(&name, &["late"])).0,
        code_of(ErrorKind::NotFound)
    );
    let mut again = server(&name);
    let info = again.info().unwrap();
    assert_eq!(info.message_count, 0, "unread messages outlived their slot");
    assert_eq!(info.next_message_size, None);
}

pub(super) fn killed_server_leaves_nothing_in_the_way() {
    let name = unique("killed");
    let mut c = child("create");
    c.arg(&name);
    let mut holder = start_ready(c);
    assert_eq!(run(sender(&name, &["before"])).0, 0);
    let opened_before = MailslotClient::open(&name).unwrap();
    holder.kill().unwrap(); // SIGKILL: no destructor runs
    holder.wait().unwrap();
    // A client that had the slot open learns at its next write that the server is gone.
    let e = opened_before.write_message(b"to nobody").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Also with a message too large for the socket, which would go to the spool.
    let e = opened_before.write_message(&[b'L'; 10_000]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(run(sender(&name, &["x"])).0, code_of(ErrorKind::NotFound));
    let mut slot = server(&name);
    assert_eq!(slot.info().unwrap().message_count, 0);
    assert_eq!(run(sender(&name, &["after"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"after");
}

/// Spools, sockets and unread messages of a server killed outright are removed by the next
/// server created (or `list`) in that directory.
pub(super) fn a_killed_server_leaves_no_files() {
    let dir = std::env::temp_dir().join(format!("pipework-ms-gc-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(dir.clone());
    let files = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("mailslot"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let in_dir = |mut c: Command| {
        c.env("PIPEWORK_RUNTIME_DIR", &dir);
        c
    };
    let mut victim = child("create");
    victim.arg(r"\\.\mailslot\gc\victim");
    let mut victim = start_ready(in_dir(victim));
    let (code, out) = run(in_dir(sender(
        r"\\.\mailslot\gc\victim",
        &["unread", "unread"],
    )));
    assert_eq!(code, 0, "{out}");
    assert_eq!(files().len(), 2, "a spool and a socket: {:?}", files());
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert_eq!(files().len(), 2, "kill -9 ran no destructor: {:?}", files());
    let mut next = child("create");
    next.arg(r"\\.\mailslot\gc\another");
    let mut next = start_ready(in_dir(next));
    let left = files();
    assert_eq!(left.len(), 2, "only the new server's files: {left:?}");
    drop(next.stdin.take());
    assert!(wait(&mut next).success());
    assert!(files().is_empty(), "{:?}", files());
}

pub(super) fn list_shows_slots_and_counts() {
    let name = unique("Listed");
    let mut slot = server(&name);
    assert_eq!(run(sender(&name, &["1", "2", "3"])).0, 0);
    let find = || {
        mailslot::list()
            .unwrap()
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.queued)
    };
    assert_eq!(find(), Some(3));
    slot.next_message().unwrap();
    assert_eq!(find(), Some(2));
    drop(slot);
    assert_eq!(find(), None);
}

pub(super) fn write_after_the_server_closed_fails() {
    let name = unique("closed");
    let slot = server(&name);
    let client = MailslotClient::open(&name).unwrap();
    client.write_message(b"fine").unwrap();
    drop(slot);
    let e = client.write_message(b"too late").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains(&name), "{e}");
}

pub(super) fn squatted_directory_is_refused() {
    let base = std::env::temp_dir().join(format!("pipework-squat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir(&base).unwrap();
    let _cleanup = RemoveOnDrop(base.clone());
    let name = unique("squat");
    // A directory anyone may write.
    let open_dir = base.join("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut c = child("create");
    c.arg(&name).env("PIPEWORK_RUNTIME_DIR", &open_dir);
    let (code, out) = run(c);
    assert_eq!(code, code_of(ErrorKind::PermissionDenied), "{out}");
    assert!(out.contains("writable by others"), "{out}");
    // A directory that belongs to someone else (this test runs as root in CI: chown needs it).
    let theirs = base.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534))
        .expect("chown to nobody (the test needs root)");
    let mut c = child("create");
    c.arg(&name).env("PIPEWORK_RUNTIME_DIR", &theirs);
    let (code, out) = run(c);
    assert_eq!(code, code_of(ErrorKind::PermissionDenied), "{out}");
    assert!(out.contains("owned by uid 65534"), "{out}");
    // A private directory of ours works.
    let ours = base.join("ours");
    let mut c = child("send");
    c.arg(&name).env("PIPEWORK_RUNTIME_DIR", &ours);
    assert_eq!(run(c).0, code_of(ErrorKind::NotFound));
    let mode = std::fs::metadata(ours.join("mailslot"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}
