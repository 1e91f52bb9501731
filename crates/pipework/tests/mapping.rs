//! File mappings and views across real processes: one test per behaviour of the Win32
//! contract (§4).

mod common;

use common::{await_byte, err_kind, spawn};

use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::atomic::Ordering::SeqCst;

use common::{child, inherited, wait};
use pipework::mapping::{self, allocation_granularity, Access, FileMapping, Protect};
use pipework::pipe::{self, PipeWriter};
use pipework::process::{CommandExt, Process};

fn main() {
    common::main(
        &[
            (
                "named_mapping_is_shared_and_zeroed",
                named_mapping_is_shared_and_zeroed,
            ),
            (
                "create_existing_says_it_existed",
                create_existing_says_it_existed,
            ),
            ("open_by_name_read_or_write", open_by_name_read_or_write),
            (
                "unnamed_mapping_travels_by_inheritance",
                unnamed_mapping_travels_by_inheritance,
            ),
            (
                "unnamed_mapping_travels_by_handle_passing",
                unnamed_mapping_travels_by_handle_passing,
            ),
            ("file_backed_views_and_growth", file_backed_views_and_growth),
            (
                "copy_on_write_pages_are_private",
                copy_on_write_pages_are_private,
            ),
            (
                "name_lives_until_last_handle_memory_until_last_view",
                name_lives_until_last_handle_memory_until_last_view,
            ),
            (
                "kill_9_of_every_holder_frees_the_name",
                kill_9_of_every_holder_frees_the_name,
            ),
            ("accesses_are_checked", accesses_are_checked),
            ("list_shows_named_mappings", list_shows_named_mappings),
            (
                "handles_are_private_and_never_leak",
                handles_are_private_and_never_leak,
            ),
        ],
        &[
            ("reader", reader),
            ("writer", writer),
            ("inherited_writer", inherited_writer),
            ("hold_view", hold_view),
            ("lifetime_probe", lifetime_probe),
            ("leak_check", leak_check),
            ("list_check", list_check),
        ],
    )
}

fn unique(tag: &str) -> String {
    format!("Local\\pw-map-test-{}-{tag}", std::process::id())
}

/// Child: `reader NAME TEXT`: opens read-only and checks the text at offset 100.
fn reader(args: &[String]) {
    let mapping = FileMapping::open(&args[0], Access::Read).unwrap();
    let view = mapping.map_view(Access::Read, 0, 0).unwrap();
    let mut buf = vec![0u8; args[1].len()];
    view.read(100, &mut buf).unwrap();
    assert_eq!(buf, args[1].as_bytes());
    assert_eq!(err_kind(view.write(0, b"x")), ErrorKind::PermissionDenied);
    assert_eq!(err_kind(view.atomic_u32(0)), ErrorKind::PermissionDenied);
    assert_eq!(
        err_kind(mapping.map_view(Access::Write, 0, 0)),
        ErrorKind::PermissionDenied
    );
}

/// Child: `writer NAME`: opens read-write, writes at the second page, bumps an atomic.
fn writer(args: &[String]) {
    let mapping = FileMapping::open(&args[0], Access::Write).unwrap();
    let g = allocation_granularity();
    let view = mapping.map_view(Access::Write, g, 0).unwrap();
    view.write(0, b"from the child").unwrap();
    view.atomic_u64(8 * 64).unwrap().fetch_add(41, SeqCst);
    view.flush().unwrap();
}

fn named_mapping_is_shared_and_zeroed() {
    let name = unique("shared");
    let g = allocation_granularity();
    let mapping = FileMapping::create(&name, 2 * g).unwrap();
    assert!(!mapping.already_existed());
    assert_eq!(mapping.size().unwrap(), 2 * g);
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    assert_eq!(view.len() as u64, 2 * g);
    let mut all = vec![1u8; view.len()];
    view.read(0, &mut all).unwrap();
    assert!(all.iter().all(|&b| b == 0), "a new mapping starts zeroed");
    view.write(100, b"Message from first process.").unwrap();
    let mut cmd = child("reader");
    cmd.arg(&name).arg("Message from first process.");
    assert!(wait(&mut spawn(cmd)).success());
    view.atomic_u64(g as usize + 8 * 64)
        .unwrap()
        .store(1, SeqCst);
    let mut cmd = child("writer");
    cmd.arg(&name);
    assert!(wait(&mut spawn(cmd)).success());
    let mut text = [0u8; 14];
    view.read(g as usize, &mut text).unwrap();
    assert_eq!(&text, b"from the child");
    assert_eq!(
        view.atomic_u64(g as usize + 8 * 64).unwrap().load(SeqCst),
        42
    );
}

fn create_existing_says_it_existed() {
    let name = unique("existing");
    let first = FileMapping::create(&name, 8192).unwrap();
    first
        .map_view(Access::Write, 0, 0)
        .unwrap()
        .write(0, b"kept")
        .unwrap();
    let second = FileMapping::create(&name, 100).unwrap();
    assert!(second.already_existed());
    assert_eq!(
        second.size().unwrap(),
        8192,
        "the existing mapping keeps its size"
    );
    assert_eq!(common::mapped_bytes::<4>(&second, 0), *b"kept");
    assert_eq!(
        err_kind(FileMapping::create(&unique("zero"), 0)),
        ErrorKind::InvalidInput
    );
    // One namespace with the sync objects: the name is a mapping's.
    assert_eq!(
        pipework::sync::Mutex::create(&name, false)
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        err_kind(pipework::sync::Event::open(&name)),
        ErrorKind::InvalidInput
    );
}

fn open_by_name_read_or_write() {
    assert_eq!(
        FileMapping::open(&unique("missing"), Access::Read)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let name = format!("Global\\pw-map-test-{}-global", std::process::id());
    let mapping = FileMapping::create(&name, 4096).unwrap();
    let ro = FileMapping::open(&name, Access::Read).unwrap();
    assert_eq!(ro.protect(), Protect::ReadOnly);
    assert_eq!(
        err_kind(ro.map_view(Access::Write, 0, 0)),
        ErrorKind::PermissionDenied
    );
    let rw = FileMapping::open(&name, Access::Write).unwrap();
    rw.map_view(Access::Write, 0, 0)
        .unwrap()
        .write(0, b"rw")
        .unwrap();
    let seen = ro.map_view(Access::Read, 0, 0).unwrap();
    assert_eq!(seen.read_pod::<[u8; 2]>(0).unwrap(), *b"rw");
    assert!(mapping.os_name().unwrap().starts_with("pipework-global-"));
}

/// Child: `inherited_writer HANDLE`: writes through an inherited unnamed mapping.
fn inherited_writer(args: &[String]) {
    let mapping = FileMapping::try_from(inherited(&args[0])).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    assert_eq!(view.read_pod::<u32>(0).unwrap(), 7);
    view.write_pod(4, &0xdead_beefu32).unwrap();
}

fn unnamed_mapping_travels_by_inheritance() {
    let mapping = FileMapping::anonymous(4096).unwrap();
    assert!(mapping.name().is_none());
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write_pod(0, &7u32).unwrap();
    let mut cmd = child("inherited_writer");
    let n = cmd.inherit_handle(OwnedFd::try_from(mapping.try_clone().unwrap()).unwrap());
    cmd.arg(n.to_string());
    assert!(wait(&mut spawn(cmd)).success());
    assert_eq!(view.read_pod::<u32>(4).unwrap(), 0xdead_beef);
}

fn unnamed_mapping_travels_by_handle_passing() {
    use std::os::unix::net::UnixStream;
    let (here, there) = UnixStream::pair().unwrap();
    let mapping = FileMapping::anonymous(8192).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    pipework::handle::send(&here, &mapping).unwrap();
    drop(mapping);
    let received = FileMapping::try_from(pipework::handle::recv(&there).unwrap()).unwrap();
    assert_eq!(received.size().unwrap(), 8192);
    let other = received
        .map_view(Access::Write, allocation_granularity(), 0)
        .unwrap();
    other.write(0, b"passed").unwrap();
    assert_eq!(
        view.read_pod::<[u8; 6]>(allocation_granularity() as usize)
            .unwrap(),
        *b"passed"
    );
}

fn temp_file(tag: &str, contents: &[u8]) -> (std::fs::File, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("pw-map-test-{}-{tag}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    (file, path)
}

fn file_backed_views_and_growth() {
    let g = allocation_granularity();
    let (file, path) = temp_file("file", b"hello file");
    // Larger than the file: the file grows.
    let mapping = FileMapping::from_file(&file, Protect::ReadWrite, 3 * g).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * g);
    let head = mapping.map_view(Access::Read, 0, 10).unwrap();
    assert_eq!(head.read_pod::<[u8; 10]>(0).unwrap(), *b"hello file");
    // Offsets must be multiples of the granularity; length 0 runs to the end.
    assert_eq!(
        err_kind(mapping.map_view(Access::Read, 1, 0)),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        err_kind(mapping.map_view(Access::Read, 3 * g, 0)),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        mapping
            .map_view(Access::Read, 2 * g, g as usize + 1)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let tail = mapping.map_view(Access::Write, g, 0).unwrap();
    assert_eq!(tail.len() as u64, 2 * g);
    tail.write(5, b"written through").unwrap();
    tail.flush().unwrap();
    tail.flush_range(0, 1).unwrap();
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(
        &on_disk[g as usize + 5..g as usize + 20],
        b"written through"
    );
    // A read-only mapping cannot grow the file nor write.
    let ro = FileMapping::from_file(&file, Protect::ReadOnly, 0).unwrap();
    assert_eq!(
        err_kind(ro.map_view(Access::Write, 0, 0)),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        FileMapping::from_file(&file, Protect::ReadOnly, 4 * g)
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    let read_only_file = std::fs::File::open(&path).unwrap();
    assert_eq!(
        FileMapping::from_file(&read_only_file, Protect::ReadWrite, 0)
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
    let (empty, empty_path) = temp_file("empty", b"");
    assert_eq!(
        FileMapping::from_file(&empty, Protect::ReadWrite, 0)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(empty_path);
}

fn copy_on_write_pages_are_private() {
    let (file, path) = temp_file("cow", b"original");
    let mapping = FileMapping::from_file(&file, Protect::WriteCopy, 0).unwrap();
    let shared = mapping.map_view(Access::Read, 0, 0).unwrap();
    let private = mapping.map_view(Access::Copy, 0, 0).unwrap();
    private.write(0, b"PRIVATE!").unwrap();
    assert_eq!(private.read_pod::<[u8; 8]>(0).unwrap(), *b"PRIVATE!");
    assert_eq!(shared.read_pod::<[u8; 8]>(0).unwrap(), *b"original");
    assert_eq!(std::fs::read(&path).unwrap(), b"original");
    // A named mapping opened for reading can still be viewed copy-on-write.
    let name = unique("cow");
    let named = FileMapping::create(&name, 4096).unwrap();
    let ro = FileMapping::open(&name, Access::Read).unwrap();
    let copy = ro.map_view(Access::Copy, 0, 0).unwrap();
    copy.write(0, b"mine").unwrap();
    assert_eq!(
        named
            .map_view(Access::Read, 0, 0)
            .unwrap()
            .read_pod::<u32>(0)
            .unwrap(),
        0
    );
    let _ = std::fs::remove_file(path);
}

fn name_lives_until_last_handle_memory_until_last_view() {
    // Run in a child of its own: a child that another test of this process is starting holds
    // copies of every handle between its fork and its exec, which would keep a name alive a
    // moment longer than this test's own handles.
    let c = child("lifetime_probe")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(common::output_of(c), "probed");
}

/// The body of `name_lives_until_last_handle_memory_until_last_view`.
fn lifetime_probe(_: &[String]) {
    // Handle first, then view.
    let name = unique("life-a");
    let mapping = FileMapping::create(&name, 4096).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"alive").unwrap();
    drop(mapping);
    // Win32: the name went with the last handle; the view keeps the memory.
    assert_eq!(
        err_kind(FileMapping::open(&name, Access::Read)),
        ErrorKind::NotFound
    );
    assert_eq!(view.read_pod::<[u8; 5]>(0).unwrap(), *b"alive");
    drop(view);
    assert_eq!(
        err_kind(FileMapping::open(&name, Access::Read)),
        ErrorKind::NotFound
    );
    // View first, then handle.
    let name = unique("life-b");
    let mapping = FileMapping::create(&name, 4096).unwrap();
    drop(mapping.map_view(Access::Write, 0, 0).unwrap());
    assert!(FileMapping::open(&name, Access::Read).is_ok());
    drop(mapping);
    assert_eq!(
        err_kind(FileMapping::open(&name, Access::Read)),
        ErrorKind::NotFound
    );
    print!("probed");
}

/// Child: `hold_view NAME SIGNAL`: maps a view, drops the handle, waits to be killed.
fn hold_view(args: &[String]) {
    let mapping = FileMapping::create(&args[0], 4096).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"old").unwrap();
    drop(mapping);
    let mut signal = PipeWriter::try_from(inherited(&args[1])).unwrap();
    signal.write_all(b"H").unwrap();
    let mut forever = [0u8; 1];
    let _ = std::io::stdin().read(&mut forever);
    drop(view);
}

fn kill_9_of_every_holder_frees_the_name() {
    let name = unique("killed");
    let mut kids = Vec::new();
    for _ in 0..3 {
        let (r, w) = pipe::create().unwrap();
        let mut signal = r;
        let mut cmd = child("hold_view");
        cmd.arg(&name);
        let n = cmd.inherit_handle(w);
        cmd.arg(n.to_string());
        let c = cmd.stdin(Stdio::piped()).spawn().unwrap();
        drop(cmd);
        assert_eq!(await_byte(&mut signal), b'H');
        kids.push(c);
    }
    for mut c in kids {
        Process::from_child(&c).unwrap().kill().unwrap();
        let _ = wait(&mut c);
    }
    assert!(!mapping::list().unwrap().iter().any(|e| e.name == name));
    let fresh = FileMapping::create(&name, 4096).unwrap();
    assert!(!fresh.already_existed());
    assert_eq!(common::mapped_bytes::<3>(&fresh, 0), [0; 3]);
}

fn accesses_are_checked() {
    let g = allocation_granularity();
    assert!(g >= 4096 && g.is_power_of_two());
    let mapping = FileMapping::anonymous(4096).unwrap();
    let view = mapping.map_view(Access::Write, 0, 100).unwrap();
    assert_eq!(view.len(), 100);
    let mut buf = [0u8; 8];
    assert_eq!(err_kind(view.read(96, &mut buf)), ErrorKind::InvalidInput);
    assert_eq!(
        err_kind(view.read(usize::MAX, &mut buf)),
        ErrorKind::InvalidInput
    );
    assert_eq!(err_kind(view.write(99, b"xy")), ErrorKind::InvalidInput);
    assert_eq!(err_kind(view.atomic_u32(2)), ErrorKind::InvalidInput);
    assert_eq!(err_kind(view.atomic_u64(4)), ErrorKind::InvalidInput);
    assert_eq!(err_kind(view.atomic_u64(96)), ErrorKind::InvalidInput);
    assert_eq!(err_kind(view.read_pod::<u64>(93)), ErrorKind::InvalidInput);
    view.write_pod(3, &0x0102_0304_0506_0708u64).unwrap();
    assert_eq!(view.read_pod::<u64>(3).unwrap(), 0x0102_0304_0506_0708);
    assert_eq!(
        err_kind(mapping.map_view(Access::Read, 0, 4097)),
        ErrorKind::InvalidInput
    );
    // An unnamed mapping is sealed: nobody can shrink it under a view.
    assert!(rustix::fs::ftruncate(&mapping, 0).is_err());
    // A raw pointer, for who takes on the contract.
    // SAFETY: in bounds of a live, writable view; no reference to the bytes is created.
    unsafe { view.as_ptr().add(50).write_volatile(9) };
    assert_eq!(view.read_pod::<u8>(50).unwrap(), 9);
}

fn list_shows_named_mappings() {
    // In a child of its own: a child that another test of this binary forks meanwhile holds a
    // copy of the mapping's handle until it execs, and the name rightly lives while it does.
    assert!(wait(&mut spawn(child("list_check"))).success());
}

fn list_check(_args: &[String]) {
    let name = unique("listed");
    let mapping = FileMapping::create(&name, 3 * 4096).unwrap();
    let entries = mapping::list().unwrap();
    let entry = entries.iter().find(|e| e.name == name).expect("listed");
    assert_eq!(entry.size, 3 * 4096);
    assert_eq!(entry.kind, pipework::sync::Kind::Mapping);
    assert_eq!(
        entry.path,
        format!("/dev/shm/{}", mapping.os_name().unwrap())
    );
    drop(mapping);
    assert!(!mapping::list().unwrap().iter().any(|e| e.name == name));
}

fn handles_are_private_and_never_leak() {
    // In a child of its own: the other tests of this binary open handles meanwhile.
    assert!(wait(&mut spawn(child("leak_check"))).success());
}

/// Child: creates, opens, maps and drops objects; checks that every handle is private and that
/// none is left open.
fn leak_check(_: &[String]) {
    let before = common::open_handles();
    for round in 0..3 {
        let name = unique(&format!("leak-{round}"));
        let named = FileMapping::create(&name, 4096).unwrap();
        let opened = FileMapping::open(&name, Access::Read).unwrap();
        let unnamed = FileMapping::anonymous(4096).unwrap();
        let mutex =
            pipework::sync::Mutex::create(&unique(&format!("leak-m-{round}")), false).unwrap();
        let event = pipework::sync::Event::new(true, false).unwrap();
        for handle in [
            pipework::handle::is_inheritable(&named),
            pipework::handle::is_inheritable(&opened),
            pipework::handle::is_inheritable(&unnamed),
            pipework::handle::is_inheritable(&mutex),
            pipework::handle::is_inheritable(&event),
        ] {
            assert!(!handle.unwrap(), "close-on-exec from birth");
        }
        let views: Vec<_> = [&named, &opened, &unnamed]
            .iter()
            .map(|m| m.map_view(Access::Read, 0, 0).unwrap())
            .collect();
        let _ = mapping::list().unwrap();
        let _ = pipework::sync::list().unwrap();
        drop((named, opened, unnamed, mutex, event, views));
    }
    assert_eq!(common::open_handles(), before);
}
