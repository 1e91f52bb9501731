//! The object layer across real processes: names folded as Win32 folds them, objects planted
//! under another name's key never taken for it, one listing of every kind, and (in the interop
//! suite, as root with children dropped to `nobody`) what another user cannot do to a name.

// The interop tests (root, other users) build only with the `interop` feature; without it,
// their helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Stdio};
use std::time::Duration;

use common::{child, err_kind, wait, TIMEOUT};
use pipework::mailslot::{Mailslot, MailslotClient, MailslotOptions};
use pipework::name::{self, Kind, Namespace, PipeName};
use pipework::named_pipe::{self, NamedPipeClient, NamedPipeServer, ServerOptions, WaitTimeout};
use pipework::shm_pipe::{ShmPipeOptions, ShmWriter};

const NOBODY: u32 = 65534;

fn main() {
    common::main(
        &[
            (
                "pipe_names_fold_as_win32_across_processes",
                pipe_names_fold_as_win32_across_processes,
            ),
            (
                "mailslot_names_fold_as_win32_across_processes",
                mailslot_names_fold_as_win32_across_processes,
            ),
            (
                "a_pipe_planted_under_another_names_key_is_never_joined",
                a_pipe_planted_under_another_names_key_is_never_joined,
            ),
            (
                "a_listener_planted_under_another_names_key_is_never_reached",
                a_listener_planted_under_another_names_key_is_never_reached,
            ),
            ("one_listing_of_every_kind", one_listing_of_every_kind),
            (
                "a_lookup_creates_no_global_directory",
                a_lookup_creates_no_global_directory,
            ),
            (
                "a_closed_server_reports_its_release",
                a_closed_server_reports_its_release,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_local_objects_another_user_planted_are_refused",
                local_objects_another_user_planted_are_refused,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_no_lock_another_user_holds_blocks_anyone",
                no_lock_another_user_holds_blocks_anyone,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_another_users_lookups_claim_no_global_directory",
                another_users_lookups_claim_no_global_directory,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_a_stranger_cannot_pin_a_dead_pipe",
                a_stranger_cannot_pin_a_dead_pipe,
            ),
        ],
        &[
            ("pipe_server", pipe_server),
            ("slot_server", slot_server),
            ("hold_files", hold_files),
            ("lookups", lookups),
            ("use_names", use_names),
            ("global_server", global_server),
            ("pin_attempt", pin_attempt),
            ("open_as_client", open_as_client),
        ],
    )
}

fn unique(tag: &str) -> String {
    format!("name-test-{}-{tag}", std::process::id())
}

/// Starts a child role with arguments, its stdin and stdout piped.
fn spawn(role: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    spawn_as(role, args, None)
}

fn spawn_as(role: &str, args: &[&str], uid: Option<u32>) -> (Child, BufReader<ChildStdout>) {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = child(role);
    cmd.args(args).stdout(Stdio::piped()).stdin(Stdio::piped());
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let mut c = cmd.spawn().expect("spawn child");
    let out = BufReader::new(c.stdout.take().unwrap());
    (c, out)
}

use common::line;

/// Ends a child that waits for its stdin to close, and checks it succeeded.
fn finish(mut c: Child) {
    drop(c.stdin.take());
    assert!(wait(&mut c).success());
}

/// Blocks until the parent closes this child's stdin.
fn until_stdin_closes() {
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
}

fn kind_name(e: &std::io::Error) -> String {
    format!("{:?}", e.kind())
}

// ---- folding (issue: case-insensitive as Win32 means it) ----

/// Child: `pipe_server NAME...`: serves one client on each pipe, in order, writing "served".
fn pipe_server(args: &[String]) {
    let mut servers: Vec<NamedPipeServer> = args
        .iter()
        .map(|n| ServerOptions::new().create(n).unwrap())
        .collect();
    println!("ready");
    for server in &mut servers {
        server.set_nonblocking(true).unwrap();
        loop {
            match server.connect() {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(common::readable_within(&*server, TIMEOUT), "no client");
                }
                Err(e) => panic!("connect: {e}"),
            }
        }
        server.set_nonblocking(false).unwrap();
        server.write_all(b"served").unwrap();
        server.flush().unwrap();
    }
    until_stdin_closes();
}

fn open_and_read(name: &str) -> String {
    let mut client = named_pipe::ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .open(name)
        .unwrap();
    let mut got = [0u8; 6];
    client.read_exact(&mut got).unwrap();
    String::from_utf8_lossy(&got).into_owned()
}

fn pipe_names_fold_as_win32_across_processes() {
    let sigma = format!(r"\\.\pipe\{}-ΣΑΣ", unique("fold"));
    let k = format!(r"\\.\pipe\{}-k", unique("fold"));
    let (c, mut out) = spawn("pipe_server", &[&sigma, &k]);
    assert_eq!(line(&mut out), "ready");
    // The Kelvin sign is upper case already: it is not the letter k.
    let kelvin = format!("\\\\.\\pipe\\{}-\u{212A}", unique("fold"));
    assert_eq!(
        err_kind(NamedPipeClient::open(&kelvin)),
        ErrorKind::NotFound
    );
    // σ and the final ς both upper-case to Σ.
    let lower = format!(r"\\.\pipe\{}-σασ", unique("fold"));
    assert_eq!(open_and_read(&lower), "served");
    // An ASCII k in the other case is the same name.
    let upper_k = format!(r"\\.\pipe\{}-K", unique("fold"));
    assert_eq!(open_and_read(&upper_k), "served");
    finish(c);
}

/// Child: `slot_server NAME...`: creates the slots, then prints each slot's first message.
fn slot_server(args: &[String]) {
    let mut slots: Vec<Mailslot> = args
        .iter()
        .map(|n| {
            MailslotOptions::new()
                .read_timeout(Some(TIMEOUT))
                .create(n)
                .unwrap()
        })
        .collect();
    println!("ready");
    for slot in &mut slots {
        let mut message = Vec::new();
        slot.read_message_to_end(&mut message).unwrap();
        println!("{}", String::from_utf8_lossy(&message));
    }
    until_stdin_closes();
}

fn mailslot_names_fold_as_win32_across_processes() {
    let base = format!(r"\\.\mailslot\{}", unique("fold"));
    let sigma = format!(r"{base}\ΣΑΣ");
    let k = format!(r"{base}\k");
    let (c, mut out) = spawn("slot_server", &[&sigma, &k]);
    assert_eq!(line(&mut out), "ready");
    let kelvin = format!("{base}\\\u{212A}");
    assert_eq!(err_kind(MailslotClient::open(&kelvin)), ErrorKind::NotFound);
    MailslotClient::open(&format!(r"{base}\σασ"))
        .unwrap()
        .write_message(b"to sigma")
        .unwrap();
    assert_eq!(line(&mut out), "to sigma");
    MailslotClient::open(&format!(r"{base}\K"))
        .unwrap()
        .write_message(b"to k")
        .unwrap();
    assert_eq!(line(&mut out), "to k");
    finish(c);
}

// ---- hashed keys (issue: long names collide into the wrong object) ----

/// Two long names (hashed keys) that differ only at the end.
fn long_pair(tag: &str) -> (String, String) {
    let stem = format!("{}-{}", unique(tag), "x".repeat(120));
    (format!("{stem}-A"), format!("{stem}-B"))
}

fn a_pipe_planted_under_another_names_key_is_never_joined() {
    let (a, b) = long_pair("plant");
    let (a, b) = (format!(r"\\.\pipe\{a}"), format!(r"\\.\pipe\{b}"));
    let pipes = name::directory(Namespace::Local, Kind::Pipe).unwrap();
    let key_a = pipes.join(PipeName::parse(&a).unwrap().file_key());
    let key_b = pipes.join(PipeName::parse(&b).unwrap().file_key());
    assert_ne!(key_a, key_b);
    // A's server lives in a child; its directory is moved to B's key.
    let (c, mut out) = spawn("pipe_server", &[&a]);
    assert_eq!(line(&mut out), "ready");
    std::fs::rename(&key_a, &key_b).unwrap();
    // B's server refuses the place instead of joining A's pipe as more instances of it.
    let e = ServerOptions::new().create(&b).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert!(e.to_string().contains("another pipe"), "{e}");
    // B's clients find no pipe B (and never reach A's server).
    assert_eq!(err_kind(NamedPipeClient::open(&b)), ErrorKind::NotFound);
    assert_eq!(
        named_pipe::wait(&b, WaitTimeout::Default)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(err_kind(named_pipe::socket_path(&b)), ErrorKind::NotFound);
    // Back in its place, A serves its own client.
    std::fs::rename(&key_b, &key_a).unwrap();
    assert_eq!(open_and_read(&a), "served");
    finish(c);
}

fn a_listener_planted_under_another_names_key_is_never_reached() {
    let (a, b) = long_pair("shm-plant");
    let listener = ShmPipeOptions::new().listen(&a).unwrap();
    let dir = name::directory(Namespace::Local, Kind::ShmPipe).unwrap();
    let key = |n: &str| name::file_key(&name::fold(n));
    let (socket_a, socket_b) = (dir.join(key(&a)), dir.join(key(&b)));
    let note =
        |p: &PathBuf| p.with_file_name(format!(".{}", p.file_name().unwrap().to_string_lossy()));
    assert_ne!(socket_a, socket_b);
    std::fs::rename(&socket_a, &socket_b).unwrap();
    // Without a note at B's key, and then with A's note copied there: B is absent.
    for with_note in [false, true] {
        if with_note {
            std::fs::copy(note(&socket_a), note(&socket_b)).unwrap();
        }
        let e = ShmWriter::connect(&b).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        // B's listener does not take over a live socket it does not own, either.
        assert!(ShmPipeOptions::new().listen(&b).is_err());
    }
    assert!(!pipework::shm_pipe::list().unwrap().contains(&b));
    std::fs::remove_file(note(&socket_b)).unwrap();
    std::fs::rename(&socket_b, &socket_a).unwrap();
    // A still works by its own name.
    let writer = std::thread::spawn({
        let a = a.clone();
        move || ShmWriter::connect(&a).map(drop)
    });
    let _reader = listener.accept().unwrap();
    writer.join().unwrap().unwrap();
}

// ---- the one listing ----

fn one_listing_of_every_kind() {
    let me = rustix::process::geteuid().as_raw();
    let pipe = format!(r"\\.\pipe\{}", unique("all"));
    let slot = format!(r"\\.\mailslot\{}", unique("all"));
    let shm = unique("all-shm");
    let mapping = format!(r"Local\{}", unique("all-map"));
    let event = format!(r"Local\{}", unique("all-event"));
    let _server = ServerOptions::new().create(&pipe).unwrap();
    let _slot = MailslotOptions::new().create(&slot).unwrap();
    let _listener = ShmPipeOptions::new().listen(&shm).unwrap();
    let _mapping = pipework::mapping::FileMapping::create(&mapping, 4096).unwrap();
    let _event = pipework::sync::Event::create(&event, true, false).unwrap();
    let all = name::list().unwrap();
    for (kind, n) in [
        (Kind::Pipe, &pipe),
        (Kind::Mailslot, &slot),
        (Kind::ShmPipe, &shm),
        (Kind::Mapping, &mapping),
        (Kind::Event, &event),
    ] {
        let entry = all
            .iter()
            .find(|e| e.kind == kind && &e.name == n)
            .unwrap_or_else(|| panic!("{kind} {n} not listed in {all:#?}"));
        assert_eq!(entry.namespace, Namespace::Local);
        assert_eq!(entry.owner, me, "{entry:?}");
        assert!(
            std::fs::symlink_metadata(&entry.path).is_ok(),
            "{entry:?}: no such path"
        );
    }
    let mapping_entry = all.iter().find(|e| e.name == mapping).unwrap();
    assert!(
        mapping_entry.details.contains("4096 bytes"),
        "{mapping_entry:?}"
    );
}

// ---- global pipes: lookups create nothing ----

fn global_pipe_dir(pipe: &str) -> PathBuf {
    PathBuf::from("/tmp").join(format!(
        "pipework-pipe-{}",
        PipeName::parse(pipe).unwrap().file_key()
    ))
}

fn a_lookup_creates_no_global_directory() {
    let pipe = format!(r"\\.\pipe\{}", unique("lookup"));
    assert_eq!(err_kind(NamedPipeClient::open(&pipe)), ErrorKind::NotFound);
    let _ = named_pipe::list().unwrap();
    let _ = name::list().unwrap();
    assert!(!global_pipe_dir(&pipe).exists());
    // Its first server makes the pipe's own directory, which goes with its last instance.
    let server = ServerOptions::new().global(true).create(&pipe).unwrap();
    let dir = global_pipe_dir(&pipe);
    let meta = std::fs::symlink_metadata(&dir).unwrap();
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
    server.close().unwrap();
    assert!(!dir.exists());
}

fn a_closed_server_reports_its_release() {
    let pipe = format!(r"\\.\pipe\{}", unique("close"));
    let a = ServerOptions::new().create(&pipe).unwrap();
    let b = ServerOptions::new().create(&pipe).unwrap();
    let dir = name::directory(Namespace::Local, Kind::Pipe)
        .unwrap()
        .join(PipeName::parse(&pipe).unwrap().file_key());
    a.close().unwrap();
    assert!(dir.exists(), "the pipe lives while an instance does");
    b.close().unwrap();
    assert!(!dir.exists(), "the last instance removes the name");
}

// ---- other users (interop suite: root, children dropped to nobody) ----

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test drops children to uid nobody or chowns files: it must run as root (as CI does)"
    );
}

#[cfg(feature = "interop")]
fn local_objects_another_user_planted_are_refused() {
    use pipework::mapping::{Access, FileMapping};
    use pipework::sync::{Event, Mutex};
    use std::os::unix::fs::PermissionsExt as _;
    require_root();
    // Another user pre-creates this user's Local\ names in /dev/shm: any mode, with or without
    // the kind attribute, even a well-formed object copied from a real one.
    let genuine_name = format!(r"Local\{}", unique("genuine"));
    let genuine = Event::create(&genuine_name, true, false).unwrap();
    let genuine_path = name::ObjectName::parse(&genuine_name).unwrap().path();
    for (i, (mode, attribute)) in [(0o600, false), (0o666, false), (0o600, true), (0o644, true)]
        .into_iter()
        .enumerate()
    {
        let planted = format!(r"Local\{}", unique(&format!("planted-{i}")));
        let path = name::ObjectName::parse(&planted).unwrap().path();
        std::fs::copy(&genuine_path, &path).unwrap();
        if attribute {
            xattr_set(&path, "user.pipework.kind", b"event");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
        for e in [
            Event::create(&planted, true, false).map(drop).unwrap_err(),
            Event::open(&planted).map(drop).unwrap_err(),
            Mutex::create(&planted, false).map(drop).unwrap_err(),
            FileMapping::create(&planted, 4096).map(drop).unwrap_err(),
            FileMapping::open(&planted, Access::Read)
                .map(drop)
                .unwrap_err(),
        ] {
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{planted}: {e}");
            assert!(e.to_string().contains("65534"), "{e}");
        }
        assert!(!pipework::sync::list()
            .unwrap()
            .iter()
            .any(|e| e.name == planted));
        assert!(!pipework::mapping::list()
            .unwrap()
            .iter()
            .any(|e| e.name == planted));
        // This user's own object opened up to others is refused as well.
        std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
        if mode & 0o077 != 0 {
            let e = FileMapping::open(&planted, Access::Read).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        }
        std::fs::remove_file(&path).unwrap();
    }
    drop(genuine);
    // POSIX names stay open to other programs' files (shm_open's rules).
    let posix = format!("/{}", unique("posix"));
    let path = PathBuf::from(format!("/dev/shm{posix}"));
    std::fs::write(&path, vec![0u8; 4096]).unwrap();
    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
    FileMapping::open(&posix, Access::Read).unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[cfg(feature = "interop")]
fn xattr_set(path: &std::path::Path, key: &str, value: &[u8]) {
    rustix::fs::setxattr(path, key, value, rustix::fs::XattrFlags::empty()).unwrap();
}

/// Child (as another user): `hold_files PATH...`: opens each file it can and holds an exclusive
/// `flock` on it (creating missing ones), printing "held" or "not held" for each, and keeps
/// them until its stdin closes.
fn hold_files(args: &[String]) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut held = Vec::new();
    for path in args {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(path)
            .or_else(|_| std::fs::File::open(path));
        match file {
            Ok(file)
                if rustix::fs::flock(
                    &file,
                    rustix::fs::FlockOperation::NonBlockingLockExclusive,
                )
                .is_ok() =>
            {
                held.push(file);
                println!("held");
            }
            _ => println!("not held"),
        }
    }
    until_stdin_closes();
}

/// Child: `use_names TAG`: creates, opens and lists names of every namespace, then prints
/// "done" (the parent's wait on it fails the test if anything here blocks).
fn use_names(args: &[String]) {
    use pipework::mapping::FileMapping;
    let tag = &args[0];
    drop(FileMapping::create(&format!(r"Local\{tag}-local"), 4096).unwrap());
    drop(FileMapping::create(&format!(r"Global\{tag}-global"), 4096).unwrap());
    drop(pipework::sync::Event::create(&format!(r"Global\{tag}-event"), true, false).unwrap());
    drop(pipework::sync::Mutex::create(&format!(r"Local\{tag}-mutex"), false).unwrap());
    pipework::mapping::list().unwrap();
    pipework::sync::list().unwrap();
    name::list().unwrap();
    println!("done");
}

#[cfg(feature = "interop")]
fn no_lock_another_user_holds_blocks_anyone() {
    use pipework::mapping::FileMapping;
    require_root();
    let tag = unique("held");
    let global = format!(r"Global\{tag}");
    let object_path = name::ObjectName::parse(&global).unwrap().path();
    // A stranger pre-creates and holds the namespace lock files of old, and the file of a
    // global name nobody holds yet.
    let (c, mut out) = spawn_as(
        "hold_files",
        &[
            "/dev/shm/.pipework-global.lock",
            "/dev/shm/.pipework-0.lock",
            object_path.to_str().unwrap(),
        ],
        Some(NOBODY),
    );
    // (The old lock files are held when no older pipework process made them first.)
    let _old_global_lock = line(&mut out);
    let _old_user_lock = line(&mut out);
    assert_eq!(line(&mut out), "held");
    // Every create, open and list of other names goes on as if nobody held anything.
    let (mut user, mut user_out) = spawn("use_names", &[&unique("free")]);
    assert_eq!(line(&mut user_out), "done");
    assert!(wait(&mut user).success());
    // The one name whose file the stranger holds: a bounded wait, then an error naming it.
    let e = FileMapping::create(&global, 4096).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(e.to_string().contains(&global), "{e}");
    // Listed (as the stranger's), not waited on.
    let listed = name::list().unwrap();
    let entry = listed.iter().find(|e| e.name == global).expect("listed");
    assert_eq!(entry.owner, NOBODY);
    finish(c);
    std::fs::remove_file(&object_path).unwrap();
}

/// Child (as another user): `lookups PIPE`: looks for a listening instance of the pipe (and
/// opens it when there is none), lists everything, and prints each outcome.
fn lookups(args: &[String]) {
    match named_pipe::wait(&args[0], WaitTimeout::After(Duration::ZERO)) {
        Ok(()) => println!("listening"),
        Err(e) => {
            println!("{}", kind_name(&e));
            let e = NamedPipeClient::open(&args[0]).unwrap_err();
            println!("{}", kind_name(&e));
        }
    }
    named_pipe::list().unwrap();
    name::list().unwrap();
    pipework::sync::list().unwrap();
    println!("done");
}

/// Child: `open_as_client PIPE`: opens the pipe and prints the outcome.
fn open_as_client(args: &[String]) {
    match named_pipe::ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .open(&args[0])
    {
        Ok(mut client) => {
            let mut got = [0u8; 6];
            client.read_exact(&mut got).unwrap();
            println!("{}", String::from_utf8_lossy(&got));
        }
        Err(e) => println!("{}", kind_name(&e)),
    }
}

#[cfg(feature = "interop")]
fn another_users_lookups_claim_no_global_directory() {
    use std::os::unix::fs::MetadataExt as _;
    require_root();
    let pipe = format!(r"\\.\pipe\{}", unique("claim"));
    let before = pipework_dirs_in_tmp();
    let (mut c, mut out) = spawn_as("lookups", &[&pipe], Some(NOBODY));
    assert_eq!(line(&mut out), "NotFound");
    assert_eq!(line(&mut out), "NotFound");
    assert_eq!(line(&mut out), "done");
    assert!(wait(&mut c).success());
    // Nothing of the stranger's appeared in /tmp: no shared directory it now owns.
    let after = pipework_dirs_in_tmp();
    for path in after.difference(&before) {
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert_ne!(
            meta.uid(),
            NOBODY,
            "{} claimed by the stranger",
            path.display()
        );
    }
    assert!(!global_pipe_dir(&pipe).exists());
    // Root then creates the global pipe, and the stranger, admitted, reaches it.
    let mut server = ServerOptions::new()
        .global(true)
        .allow_everyone()
        .create(&pipe)
        .unwrap();
    let (c, mut out) = spawn_as("open_as_client", &[&pipe], Some(NOBODY));
    server.set_nonblocking(true).unwrap();
    loop {
        match server.connect() {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(common::readable_within(&server, TIMEOUT), "no client");
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
    server.set_nonblocking(false).unwrap();
    server.write_all(b"served").unwrap();
    assert_eq!(line(&mut out), "served");
    finish(c);
}

fn pipework_dirs_in_tmp() -> std::collections::HashSet<PathBuf> {
    std::fs::read_dir("/tmp")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("pipework"))
        .map(|e| e.path())
        .collect()
}

/// Child: `global_server PIPE`: a global pipe of one instance that admits everyone; prints
/// "ready" and keeps it until killed or its stdin closes.
fn global_server(args: &[String]) {
    let _server = ServerOptions::new()
        .global(true)
        .allow_everyone()
        .max_instances(1)
        .create(&args[0])
        .unwrap();
    println!("ready");
    until_stdin_closes();
}

/// Child (as a stranger): `pin_attempt DIR`: tries to open the pipe's lock file to lock its
/// bytes; prints what happened, then holds whatever it got until its stdin closes.
fn pin_attempt(args: &[String]) {
    let lock = PathBuf::from(&args[0]).join("lock");
    let mut held = None;
    for write in [false, true] {
        match std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .open(&lock)
        {
            Ok(file) => held = Some(file),
            Err(e) => println!("{}", kind_name(&e)),
        }
    }
    if let Some(file) = &held {
        use std::os::fd::AsRawFd as _;
        // What a stranger would do with it: a read lock on the alive byte and every slot.
        // SAFETY: an all-zero `flock` is a valid value; the call reads it and the descriptor,
        // both valid for its duration.
        unsafe {
            let mut fl: libc::flock = std::mem::zeroed();
            fl.l_type = libc::F_RDLCK as _;
            fl.l_len = 3;
            libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl);
        }
        println!("pinned");
    }
    println!("done");
    until_stdin_closes();
}

#[cfg(feature = "interop")]
fn a_stranger_cannot_pin_a_dead_pipe() {
    require_root();
    let pipe = format!(r"\\.\pipe\{}", unique("pin"));
    let (mut server, mut out) = spawn("global_server", &[&pipe]);
    assert_eq!(line(&mut out), "ready");
    let dir = global_pipe_dir(&pipe);
    // The stranger cannot open the lock file at all.
    let (pinner, mut pin_out) = spawn_as("pin_attempt", &[dir.to_str().unwrap()], Some(NOBODY));
    assert_eq!(line(&mut pin_out), "PermissionDenied");
    assert_eq!(line(&mut pin_out), "PermissionDenied");
    assert_eq!(line(&mut pin_out), "done");
    // ... yet sees the pipe alive, from the kernel's lock table.
    let (mut c, mut out2) = spawn_as("lookups", &[&pipe], Some(NOBODY));
    assert_eq!(line(&mut out2), "listening");
    assert_eq!(line(&mut out2), "done");
    assert!(wait(&mut c).success());
    // The server is killed outright; the stranger's process still runs.
    server.kill().unwrap();
    assert!(!wait(&mut server).success());
    // A stranger's client finds no pipe (not a busy one)...
    let (mut c, mut out2) = spawn_as("lookups", &[&pipe], Some(NOBODY));
    assert_eq!(line(&mut out2), "NotFound");
    assert_eq!(line(&mut out2), "NotFound");
    assert_eq!(line(&mut out2), "done");
    assert!(wait(&mut c).success());
    // ... and a new server takes the name as its first instance.
    let new = ServerOptions::new()
        .global(true)
        .allow_everyone()
        .max_instances(1)
        .first_pipe_instance(true)
        .create(&pipe)
        .unwrap();
    assert!(new.created_pipe());
    assert_eq!(new.instances().unwrap(), 1);
    drop(new);
    finish(pinner);
}
