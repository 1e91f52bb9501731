//! File mappings behaving as on Windows where a ported program can tell the difference: when a
//! name goes, what size a mapping keeps, where access is checked, what a create reserves, and
//! what a view does when its file is cut short. Every test crosses real processes.

// The interop test (root, its own mount namespace) builds only with the `interop` feature;
// without it, its helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::{await_byte, child, err_kind, inherited, output_of, spawn, wait};
use pipework::mapping::{allocation_granularity, Access, FileMapping, Protect};
use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework::process::CommandExt;

fn main() {
    common::main(
        &[
            (
                "name_goes_with_last_handle_not_last_view",
                name_goes_with_last_handle_not_last_view,
            ),
            (
                "duplicated_and_passed_handles_hold_the_name_views_do_not",
                duplicated_and_passed_handles_hold_the_name_views_do_not,
            ),
            (
                "sync_object_name_goes_with_its_last_handle",
                sync_object_name_goes_with_its_last_handle,
            ),
            (
                "file_mapping_keeps_its_created_size",
                file_mapping_keeps_its_created_size,
            ),
            (
                "from_file_refuses_a_protection_the_file_cannot_give",
                from_file_refuses_a_protection_the_file_cannot_give,
            ),
            (
                "write_only_handle_cannot_map_a_read_view",
                write_only_handle_cannot_map_a_read_view,
            ),
            (
                "create_beyond_memory_and_swap_fails_up_front",
                create_beyond_memory_and_swap_fails_up_front,
            ),
            (
                "view_of_a_file_cut_short_fails_a_copy_not_the_process",
                view_of_a_file_cut_short_fails_a_copy_not_the_process,
            ),
            (
                "view_of_a_named_mapping_cut_short_fails_a_copy_not_the_process",
                view_of_a_named_mapping_cut_short_fails_a_copy_not_the_process,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_create_beyond_free_space_fails_with_storage_full",
                create_beyond_free_space_fails_with_storage_full,
            ),
        ],
        &[
            ("view_keeper", view_keeper),
            ("handle_probe", handle_probe),
            ("adopt_and_view", adopt_and_view),
            ("sync_probe", sync_probe),
            ("from_file_access", from_file_access),
            ("write_only_opener", write_only_opener),
            ("missing", missing),
            ("cut_short_viewer", cut_short_viewer),
            ("named_cut_short_viewer", named_cut_short_viewer),
            ("small_shm", small_shm),
        ],
    )
}

fn unique(tag: &str) -> String {
    format!("Local\\pw-win32-test-{}-{tag}", std::process::id())
}

/// A file in the temporary directory, removed when dropped (even by a failing test).
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("pw-win32-test-{}-{tag}", std::process::id())))
    }
}

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A child of `role` with `args`, a pipe it signals on (its write end passed as the last
/// argument), and piped stdin and stdout.
fn signalling_child(role: &str, args: &[&str]) -> (Child, PipeReader) {
    let (r, w) = pipe::create().unwrap();
    let mut cmd = child(role);
    cmd.args(args);
    let n = cmd.inherit_handle(w);
    cmd.arg(n.to_string());
    let c = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    drop(cmd);
    (c, r)
}

/// Lets a child waiting on its stdin go on.
fn go_on(c: &mut Child) {
    c.stdin.as_mut().unwrap().write_all(b"g").unwrap();
}

/// Waits for the parent's word on stdin.
fn await_parent() {
    let mut byte = [0u8; 1];
    assert_eq!(std::io::stdin().read(&mut byte).unwrap(), 1, "parent gone");
}

fn signal(args: &[String]) -> PipeWriter {
    PipeWriter::try_from(inherited(args.last().unwrap())).unwrap()
}

// ---- 1. A name goes with its last handle, not its last view ----------------------------------

/// Child: `view_keeper NAME SIGNAL`: creates NAME, maps a view, writes "old", closes its only
/// handle, signals, and once told prints what its view holds.
fn view_keeper(args: &[String]) {
    let mapping = FileMapping::create(&args[0], 4096).unwrap();
    assert!(!mapping.already_existed());
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"old").unwrap();
    drop(mapping);
    signal(args).write_all(b"H").unwrap();
    await_parent();
    print!(
        "{}",
        String::from_utf8_lossy(&view.read_pod::<[u8; 3]>(0).unwrap())
    );
}

fn name_goes_with_last_handle_not_last_view() {
    let name = unique("last-handle");
    let (mut keeper, mut signalled) = signalling_child("view_keeper", &[&name]);
    assert_eq!(await_byte(&mut signalled), b'H');
    // Every handle is closed; a view of the object is still mapped in the keeper.
    let err = FileMapping::open(&name, Access::Read).unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::NotFound,
        "ERROR_FILE_NOT_FOUND: {err}"
    );
    let fresh = FileMapping::create(&name, 4096).unwrap();
    assert!(!fresh.already_existed(), "a fresh object, not the old one");
    let view = fresh.map_view(Access::Write, 0, 0).unwrap();
    assert_eq!(
        view.read_pod::<[u8; 3]>(0).unwrap(),
        [0; 3],
        "zeroed, not 'old'"
    );
    view.write(0, b"new").unwrap();
    // The keeper's view still shows the old object's memory.
    go_on(&mut keeper);
    assert_eq!(output_of(keeper), "old");
    assert_eq!(view.read_pod::<[u8; 3]>(0).unwrap(), *b"new");
}

/// Child: `adopt_and_view HANDLE SIGNAL`: adopts a mapping handle, writes through a view,
/// signals 'A'; once told, closes the handle and signals 'D'; then checks its view still works
/// until its stdin ends.
fn adopt_and_view(args: &[String]) {
    let mut signal = signal(args);
    let mapping = FileMapping::try_from(inherited(&args[0])).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"kid").unwrap();
    signal.write_all(b"A").unwrap();
    await_parent();
    drop(mapping);
    signal.write_all(b"D").unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    assert_eq!(view.read_pod::<[u8; 3]>(0).unwrap(), *b"kid");
}

/// Child: the body of `duplicated_and_passed_handles_hold_the_name_views_do_not`, in a process
/// of its own so that no child another test forks meanwhile holds a copy of its handles.
fn handle_probe(_: &[String]) {
    // DuplicateHandle in this process: the name lives while either handle does.
    let name = unique("duplicated");
    let first = FileMapping::create(&name, 4096).unwrap();
    let second = first.try_clone().unwrap();
    let view = first.map_view(Access::Write, 0, 0).unwrap();
    drop(first);
    drop(FileMapping::open(&name, Access::Read).expect("held by the duplicate"));
    drop(second);
    assert_eq!(
        FileMapping::open(&name, Access::Read).unwrap_err().kind(),
        ErrorKind::NotFound,
        "the view alone does not hold the name"
    );
    drop(view);

    // A handle passed to another process holds the name there; that process's view does not.
    let name = unique("passed");
    let mapping = FileMapping::create(&name, 4096).unwrap();
    let (r, w) = pipe::create().unwrap();
    let mut signalled = r;
    let mut cmd = child("adopt_and_view");
    let handle = cmd.inherit_handle(OwnedFd::try_from(mapping.try_clone().unwrap()).unwrap());
    let n = cmd.inherit_handle(w);
    cmd.arg(handle.to_string()).arg(n.to_string());
    let mut kid = cmd.stdin(Stdio::piped()).spawn().unwrap();
    drop(cmd);
    assert_eq!(await_byte(&mut signalled), b'A');
    drop(mapping);
    let held = FileMapping::open(&name, Access::Read).expect("held by the other process");
    assert_eq!(
        held.map_view(Access::Read, 0, 0)
            .unwrap()
            .read_pod::<[u8; 3]>(0)
            .unwrap(),
        *b"kid"
    );
    drop(held);
    go_on(&mut kid);
    assert_eq!(await_byte(&mut signalled), b'D');
    assert_eq!(
        FileMapping::open(&name, Access::Read).unwrap_err().kind(),
        ErrorKind::NotFound,
        "the other process's view does not hold the name"
    );
    drop(kid.stdin.take());
    assert!(wait(&mut kid).success());

    // The same with a view of this process's, mapped before the handle was passed and kept
    // after this process's handle closed: it holds neither the name nor the other's hold.
    let name = unique("passed-viewed");
    let mapping = FileMapping::create(&name, 4096).unwrap();
    let mine = mapping.map_view(Access::Write, 0, 0).unwrap();
    let (r, w) = pipe::create().unwrap();
    let mut signalled = r;
    let mut cmd = child("adopt_and_view");
    let handle = cmd.inherit_handle(OwnedFd::try_from(mapping.try_clone().unwrap()).unwrap());
    let n = cmd.inherit_handle(w);
    cmd.arg(handle.to_string()).arg(n.to_string());
    let mut kid = cmd.stdin(Stdio::piped()).spawn().unwrap();
    drop(cmd);
    assert_eq!(await_byte(&mut signalled), b'A');
    drop(mapping);
    drop(FileMapping::open(&name, Access::Read).expect("held by the other process"));
    assert_eq!(mine.read_pod::<[u8; 3]>(0).unwrap(), *b"kid");
    go_on(&mut kid);
    assert_eq!(await_byte(&mut signalled), b'D');
    assert_eq!(
        FileMapping::open(&name, Access::Read).unwrap_err().kind(),
        ErrorKind::NotFound,
        "neither process's view holds the name"
    );
    drop(kid.stdin.take());
    assert!(wait(&mut kid).success());
    drop(mine);
    print!("probed");
}

fn duplicated_and_passed_handles_hold_the_name_views_do_not() {
    assert_eq!(common::output_of_role("handle_probe"), "probed");
}

/// Child: sync objects' names go with their last handle too (they have no views).
fn sync_probe(_: &[String]) {
    use pipework::sync::{Event, Mutex};
    let name = unique("event");
    let first = Event::create(&name, true, false).unwrap();
    let second = Event::open(&name).unwrap();
    drop(first);
    let third = Event::open(&name).expect("held by the second handle");
    drop((second, third));
    assert_eq!(Event::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    let again = Event::create(&name, true, false).unwrap();
    assert!(!again.already_existed());

    let name = unique("mutex");
    let first = Mutex::create(&name, false).unwrap();
    let second = first.try_clone().unwrap();
    drop(first);
    drop(Mutex::open(&name).expect("held by the duplicate"));
    drop(second);
    assert_eq!(Mutex::open(&name).unwrap_err().kind(), ErrorKind::NotFound);
    print!("probed");
}

fn sync_object_name_goes_with_its_last_handle() {
    let c = child("sync_probe").stdout(Stdio::piped()).spawn().unwrap();
    assert_eq!(output_of(c), "probed");
}

// ---- 2. A file-backed mapping keeps the size it was created with -----------------------------

fn set_len_elsewhere(path: &Path, len: u64) {
    // Another process changes the file's length: a shell's `truncate`.
    let status = std::process::Command::new("truncate")
        .arg("-s")
        .arg(len.to_string())
        .arg(path)
        .status()
        .expect("truncate(1)");
    assert!(status.success());
}

fn file_mapping_keeps_its_created_size() {
    let g = allocation_granularity();
    let path = TempFile::new("size");
    std::fs::write(&path, vec![7u8; 3 * g as usize]).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();

    // Smaller than the file: the mapping is that size, the file keeps its length.
    let size = g + 10;
    let mapping = FileMapping::from_file(&file, Protect::ReadWrite, size).unwrap();
    assert_eq!(mapping.size().unwrap(), size);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        3 * g,
        "never shrunk"
    );
    assert_eq!(
        mapping.map_view(Access::Read, 0, 0).unwrap().len() as u64,
        size
    );
    let past = mapping
        .map_view(Access::Read, 0, size as usize + 1)
        .unwrap_err();
    assert_eq!(past.kind(), ErrorKind::InvalidInput, "{past}");
    assert!(past.to_string().contains("invalid view size"), "{past}");
    assert_eq!(
        err_kind(mapping.map_view(Access::Read, g, 11)),
        ErrorKind::InvalidInput
    );
    assert_eq!(mapping.map_view(Access::Read, g, 10).unwrap().len(), 10);
    // The file grows under it: the mapping does not.
    set_len_elsewhere(&path, 5 * g);
    assert_eq!(mapping.size().unwrap(), size);
    assert_eq!(
        mapping.map_view(Access::Read, 0, 0).unwrap().len() as u64,
        size
    );
    assert_eq!(
        err_kind(mapping.map_view(Access::Read, 2 * g, 0)),
        ErrorKind::InvalidInput
    );
    // Size 0: the file's length now.
    let whole = FileMapping::from_file(&file, Protect::ReadOnly, 0).unwrap();
    assert_eq!(whole.size().unwrap(), 5 * g);

    // Larger than the file: the file grows to it; shrinking the file later does not shrink the
    // mapping.
    set_len_elsewhere(&path, 10);
    let grown = FileMapping::from_file(&file, Protect::ReadWrite, 4 * g).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * g);
    set_len_elsewhere(&path, 10);
    assert_eq!(grown.size().unwrap(), 4 * g);
    assert_eq!(
        grown.map_view(Access::Read, 0, 0).unwrap().len() as u64,
        4 * g
    );
    assert_eq!(whole.size().unwrap(), 5 * g);
}

// ---- 3. Access checked where Windows checks it ------------------------------------------------

/// Child: `from_file_access WRITE_ONLY READ_ONLY PATH_ONLY SIGNAL`: three inherited handles of
/// one file, opened for writing only, reading only, and as a path only.
fn from_file_access(args: &[String]) {
    let write_only = std::fs::File::from(inherited(&args[0]));
    let read_only = std::fs::File::from(inherited(&args[1]));
    let path_only = std::fs::File::from(inherited(&args[2]));
    for protect in [Protect::ReadOnly, Protect::WriteCopy, Protect::ReadWrite] {
        for file in [&write_only, &path_only] {
            let err = FileMapping::from_file(file, protect, 0).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::PermissionDenied,
                "{protect:?}: {err}"
            );
        }
    }
    let err = FileMapping::from_file(&read_only, Protect::ReadWrite, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    let ro = FileMapping::from_file(&read_only, Protect::ReadOnly, 0).unwrap();
    assert_eq!(
        ro.map_view(Access::Read, 0, 0)
            .unwrap()
            .read_pod::<[u8; 4]>(0)
            .unwrap(),
        *b"data"
    );
    let wc = FileMapping::from_file(&read_only, Protect::WriteCopy, 0).unwrap();
    let private = wc.map_view(Access::Copy, 0, 0).unwrap();
    private.write(0, b"mine").unwrap();
    assert_eq!(private.read_pod::<[u8; 4]>(0).unwrap(), *b"mine");
    assert_eq!(
        err_kind(wc.map_view(Access::Write, 0, 0)),
        ErrorKind::PermissionDenied
    );
    print!("checked");
}

fn from_file_refuses_a_protection_the_file_cannot_give() {
    let path = TempFile::new("access");
    std::fs::write(&path, b"data").unwrap();
    let open = |read: bool, write: bool| {
        std::fs::OpenOptions::new()
            .read(read)
            .write(write)
            .open(&path)
            .unwrap()
    };
    let path_only = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(&path)
        .unwrap();
    let mut cmd = child("from_file_access");
    for file in [open(false, true), open(true, false), path_only] {
        let n = cmd.inherit_handle(OwnedFd::from(file));
        cmd.arg(n.to_string());
    }
    let c = cmd.stdout(Stdio::piped()).spawn().unwrap();
    drop(cmd);
    assert_eq!(output_of(c), "checked");
    assert_eq!(std::fs::read(&path).unwrap(), b"data");
}

/// Child: `write_only_opener NAME`: opens NAME for writing only, then for reading only.
fn write_only_opener(args: &[String]) {
    let write_only = FileMapping::open(&args[0], Access::Write).unwrap();
    for access in [Access::Read, Access::Copy] {
        let err = write_only.map_view(access, 0, 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{access:?}: {err}");
    }
    let view = write_only.map_view(Access::Write, 0, 0).unwrap();
    assert_eq!(view.read_pod::<[u8; 4]>(0).unwrap(), *b"seen");
    view.write(4, b"back").unwrap();
    let read_only = FileMapping::open(&args[0], Access::Read).unwrap();
    assert_eq!(
        err_kind(read_only.map_view(Access::Write, 0, 0)),
        ErrorKind::PermissionDenied
    );
    read_only.map_view(Access::Read, 0, 0).unwrap();
    read_only.map_view(Access::Copy, 0, 0).unwrap();
}

fn write_only_handle_cannot_map_a_read_view() {
    let name = unique("write-only");
    let mapping = FileMapping::create(&name, 4096).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"seen").unwrap();
    let mut cmd = child("write_only_opener");
    cmd.arg(&name);
    assert!(wait(&mut spawn(cmd)).success());
    assert_eq!(view.read_pod::<[u8; 4]>(4).unwrap(), *b"back");
}

// ---- 5. A create reserves its size, or fails up front -----------------------------------------

/// Child: `missing NAME`: NAME is not there.
fn missing(args: &[String]) {
    assert_eq!(
        FileMapping::open(&args[0], Access::Read)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

fn create_beyond_memory_and_swap_fails_up_front() {
    let name = unique("huge");
    let err = FileMapping::create(&name, 99_999_999_999_999_999).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfMemory, "{err}");
    assert!(err.to_string().contains(&name), "{err}");
    let mut cmd = child("missing");
    cmd.arg(&name);
    assert!(
        wait(&mut spawn(cmd)).success(),
        "nothing left under the name"
    );
    assert_eq!(
        err_kind(FileMapping::create(&name, u64::MAX)),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        FileMapping::anonymous(99_999_999_999_999_999)
            .unwrap_err()
            .kind(),
        ErrorKind::OutOfMemory
    );
    let fine = FileMapping::create(&name, 4096).unwrap();
    assert!(!fine.already_existed());
}

/// Child, run by `unshare` in a mount namespace of its own whose `/dev/shm` is a 1 MiB tmpfs.
fn small_shm(_: &[String]) {
    let shm_files = || -> Vec<String> {
        std::fs::read_dir("/dev/shm")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    // More than the whole tmpfs.
    let name = "Local\\big";
    let err = FileMapping::create(name, 10_000_000).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull, "{err}");
    assert!(err.to_string().contains(name), "{err}");
    assert_eq!(shm_files(), Vec::<String>::new(), "nothing left behind");
    assert_eq!(
        err_kind(FileMapping::open(name, Access::Read)),
        ErrorKind::NotFound
    );
    // What fits is reserved: every byte of it can be written.
    let half = FileMapping::create("Local\\half", 600 << 10).unwrap();
    let view = half.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, &vec![0xa5; 600 << 10]).unwrap();
    // The rest does not hold another such mapping.
    let err = FileMapping::create("Local\\more", 600 << 10).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull, "{err}");
    assert_eq!(shm_files().len(), 1);
    // Another program's segment, never reserved, larger than the room left: a copy into it
    // fails where the room ends, and the process lives.
    let sparse = std::fs::File::create("/dev/shm/sparse").unwrap();
    sparse.set_len(2 << 20).unwrap();
    let foreign = FileMapping::open("/sparse", Access::Write).unwrap();
    let view = foreign.map_view(Access::Write, 0, 0).unwrap();
    let err = view.write(0, &vec![1; 2 << 20]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
    drop((view, foreign));
    std::fs::remove_file("/dev/shm/sparse").unwrap();
    // A file grown by a file-backed mapping is reserved on its filesystem too.
    let dir = std::env::temp_dir().join(format!("pw-win32-small-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1M", "pw-win32-test"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(mounted.success());
    let path = dir.join("file");
    std::fs::write(&path, b"ten bytes!").unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let err = FileMapping::from_file(&file, Protect::ReadWrite, 10_000_000).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StorageFull, "{err}");
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        10,
        "left as it was"
    );
    drop(file);
    let unmounted = std::process::Command::new("umount")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(unmounted.success());
    std::fs::remove_dir(&dir).unwrap();
    print!("reserved");
}

fn create_beyond_free_space_fails_with_storage_full() {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount -t tmpfs -o size=1M,mode=1777 pw-win32-test /dev/shm && exec \"$0\"")
        .arg(exe)
        .env("PIPEWORK_TEST_CHILD", "small_shm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let c = cmd.spawn().expect("unshare(1) from util-linux");
    assert_eq!(output_of(c), "reserved");
}

// ---- 6. A view of a file cut short fails a copy, not the process -----------------------------

/// Checks, in a view whose file was cut to 100 bytes, that copies past the first page fail
/// with `UnexpectedEof` and those inside it work.
fn check_cut_short(view: &pipework::mapping::View) {
    let g = allocation_granularity() as usize;
    let mut buf = vec![0u8; 16];
    view.read(0, &mut buf).unwrap();
    assert_eq!(&buf[..4], b"head");
    for err in [
        view.read(g, &mut buf).unwrap_err(),
        view.write(g + 5, b"x").unwrap_err(),
        view.read_pod::<u64>(2 * g).unwrap_err(),
        view.write_pod(2 * g + 8, &1u64).unwrap_err(),
        view.read(0, &mut vec![0u8; 3 * g]).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
        assert!(err.to_string().starts_with("file mapping"), "{err}");
    }
}

/// Child: `cut_short_viewer PATH SIGNAL`: maps the file, signals, and once told (the file was
/// cut short meanwhile) copies in and out of the view.
fn cut_short_viewer(args: &[String]) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&args[0])
        .unwrap();
    let mapping = FileMapping::from_file(&file, Protect::ReadWrite, 0).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"head").unwrap();
    let copy = mapping.map_view(Access::Copy, 0, 0).unwrap();
    signal(args).write_all(b"M").unwrap();
    await_parent();
    check_cut_short(&view);
    check_cut_short(&copy);
    print!("survived");
}

fn view_of_a_file_cut_short_fails_a_copy_not_the_process() {
    let g = allocation_granularity() as usize;
    let path = TempFile::new("cut");
    std::fs::write(&path, vec![1u8; 3 * g]).unwrap();
    let (mut viewer, mut signalled) =
        signalling_child("cut_short_viewer", &[path.to_str().unwrap()]);
    assert_eq!(await_byte(&mut signalled), b'M');
    set_len_elsewhere(&path, 100);
    go_on(&mut viewer);
    assert_eq!(output_of(viewer), "survived", "no SIGBUS");
}

/// Child: `named_cut_short_viewer NAME SIGNAL`: like `cut_short_viewer`, for a named mapping.
fn named_cut_short_viewer(args: &[String]) {
    let mapping = FileMapping::open(&args[0], Access::Write).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"head").unwrap();
    signal(args).write_all(b"M").unwrap();
    await_parent();
    check_cut_short(&view);
    print!("survived");
}

fn view_of_a_named_mapping_cut_short_fails_a_copy_not_the_process() {
    let g = allocation_granularity();
    // A `Global\` name: any user may write its file, and so cut it short.
    let name = format!("Global\\pw-win32-test-{}-cut", std::process::id());
    let mapping = FileMapping::create(&name, 3 * g).unwrap();
    let path = format!("/dev/shm/{}", mapping.os_name().unwrap());
    let (mut viewer, mut signalled) = signalling_child("named_cut_short_viewer", &[&name]);
    assert_eq!(await_byte(&mut signalled), b'M');
    set_len_elsewhere(Path::new(&path), 100);
    go_on(&mut viewer);
    assert_eq!(output_of(viewer), "survived", "no SIGBUS");
    assert_eq!(
        mapping.size().unwrap(),
        3 * g,
        "the size it was created with"
    );
}
