//! Shared test harness: every test file is its own binary (`harness = false`) that runs its tests
//! through libtest-mimic and doubles as the child process its tests start.
//!
//! A test starts a child with [`child`]: the same binary, re-executed with `PIPEWORK_TEST_CHILD`
//! naming the child function to run. Waits always have a deadline that fails the test.
#![allow(dead_code)]

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

/// How long any wait on another process may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

const CHILD_ENV: &str = "PIPEWORK_TEST_CHILD";

/// A test: its name and its body (which panics on failure).
pub type Test = (&'static str, fn());
/// A child role: its name and its body, given the arguments after the binary name.
pub type Role = (&'static str, fn(&[String]));

/// Runs as the child named by `PIPEWORK_TEST_CHILD`, or else runs `tests`.
pub fn main(tests: &[Test], roles: &[Role]) -> ! {
    if let Ok(name) = std::env::var(CHILD_ENV) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let role = roles
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no child role {name}"));
        (role.1)(&args);
        std::process::exit(0);
    }
    let args = Arguments::from_args();
    let trials = tests
        .iter()
        .map(|&(name, body)| {
            Trial::test(name, move || {
                std::panic::catch_unwind(body).map_err(|panic| {
                    let text = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "test panicked".into());
                    Failed::from(text)
                })
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit()
}

/// A command that starts this test binary as the child `role`.
pub fn child(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("current exe"));
    command.env(CHILD_ENV, role);
    command
}

/// Waits for `child` to exit, failing (and killing it) after [`TIMEOUT`].
pub fn wait(child: &mut Child) -> ExitStatus {
    wait_within(child, TIMEOUT)
}

/// Waits for `child` to exit, failing (and killing it) after `timeout`.
pub fn wait_within(child: &mut Child, timeout: Duration) -> ExitStatus {
    let process = pipework::process::Process::from_child(child).expect("open child");
    if !process.wait_timeout(timeout).expect("wait child") {
        let _ = child.kill();
        let _ = child.wait();
        panic!("child {} still running after {timeout:?}", child.id());
    }
    child.wait().expect("reap child")
}

/// Waits until `fd` is readable (data, or the end of data), failing after [`TIMEOUT`].
/// One line a child printed (trailing newline trimmed), waiting at most [`TIMEOUT`] for it;
/// what the reader already holds is taken without waiting.
pub fn line(out: &mut std::io::BufReader<std::process::ChildStdout>) -> String {
    use std::io::BufRead as _;
    if out.buffer().is_empty() {
        wait_readable(out.get_ref());
    }
    let mut s = String::new();
    out.read_line(&mut s).expect("read child line");
    s.trim_end().to_string()
}

pub fn wait_readable(fd: impl AsFd) {
    assert!(
        readable_within(&fd, TIMEOUT),
        "nothing to read after {TIMEOUT:?}"
    );
}

/// Whether `fd` becomes readable (data, end of data, or an error) within `timeout`.
pub fn readable_within(fd: &impl AsFd, timeout: Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ts = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// Reads `reader` to its end, each read bounded by [`TIMEOUT`].
pub fn read_to_end<R: Read + AsFd>(reader: &mut R) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        wait_readable(&*reader);
        match reader.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Reads exactly `n` bytes, each read bounded by [`TIMEOUT`].
pub fn read_exact<R: Read + AsFd>(reader: &mut R, n: usize) -> Vec<u8> {
    let mut all = vec![0; n];
    let mut filled = 0;
    while filled < n {
        wait_readable(&*reader);
        match reader.read(&mut all[filled..]) {
            Ok(0) => panic!("end of data after {filled} of {n} bytes"),
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    all
}

/// The handle numbers open in this process, from `/proc/self/fd` (the listing's own handle left out).
pub fn open_handles() -> Vec<i32> {
    let dir = std::fs::read_dir("/proc/self/fd").expect("list /proc/self/fd");
    let mut numbers: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    numbers.retain(|&n| rustix::io::fcntl_getfd(borrow(n)).is_ok());
    numbers.sort();
    numbers
}

/// What a child started now would inherit without being given anything: stdio plus the
/// handles this process itself inherited without close-on-exec (a test runner may pass some,
/// such as a build jobserver's), plus `named`, as the sorted list a child reports.
pub fn expected_child_handles(named: &[i32]) -> String {
    let mut numbers: Vec<i32> = open_handles()
        .into_iter()
        .filter(|&n| {
            n < 3
                || rustix::io::fcntl_getfd(borrow(n))
                    .is_ok_and(|f| !f.contains(rustix::io::FdFlags::CLOEXEC))
        })
        .chain(named.iter().copied())
        .collect();
    numbers.sort();
    numbers.dedup();
    let text: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
    text.join(" ")
}

fn borrow(n: i32) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: used only to query flags of a number listed in /proc/self/fd; a number closed in
    // the meantime makes fcntl fail with EBADF, which is harmless.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(n) }
}

/// Takes a handle number passed to this child by its parent.
pub fn inherited(arg: &str) -> std::os::fd::OwnedFd {
    let raw: i32 = arg.parse().expect("handle number");
    // SAFETY: the parent passed this number for this child to own; nothing else here owns it.
    unsafe { pipework::handle::take_inherited(raw) }.expect("take inherited handle")
}

/// Sets this process's `SIGPIPE` disposition: the default (`true`, which kills on a write to a
/// pipe without readers) or ignored.
pub fn set_sigpipe(default: bool) {
    let disposition = if default {
        libc::SIG_DFL
    } else {
        libc::SIG_IGN
    };
    // SAFETY: installs a disposition constant (no handler function) for SIGPIPE in this child,
    // which runs single-threaded at this point.
    unsafe { libc::signal(libc::SIGPIPE, disposition) };
}

/// Drops this (root) child process to uid and gid `nobody` (65534).
pub fn become_nobody() {
    // SAFETY: plain system calls with integer arguments, in a single-threaded child; the
    // results are checked.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
        assert_eq!(libc::setgid(65534), 0, "setgid");
        assert_eq!(libc::setuid(65534), 0, "setuid");
    }
}

/// Waits for a child started with a piped stdout and returns what it printed; fails if it failed.
pub fn output_of(mut child: Child) -> String {
    let mut out = child.stdout.take().expect("piped stdout");
    let mut text = String::new();
    out.read_to_string(&mut text)
        .expect("read the child's output");
    let status = wait(&mut child);
    assert!(status.success(), "child failed: {status}, printed {text:?}");
    text
}

/// What the child `role` (its stdout piped) printed, once it succeeded.
pub fn output_of_role(role: &str) -> String {
    output_of(
        child(role)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Reads the one-byte signal a child sends when it reached a point, failing if the child ended
/// first or nothing came within [`TIMEOUT`].
pub fn await_byte(r: &mut pipework::pipe::PipeReader) -> u8 {
    wait_readable(&*r);
    let mut b = [0u8; 1];
    assert_eq!(
        r.read(&mut b).unwrap(),
        1,
        "the child ended before signalling"
    );
    b[0]
}

/// Starts `cmd` with stdin closed, then drops it (closing the parent's copies of the handles it
/// was given).
pub fn spawn(mut cmd: Command) -> Child {
    let c = cmd.stdin(std::process::Stdio::null()).spawn().unwrap();
    drop(cmd);
    c
}

/// The first line a child started with a piped stdout prints (without its newline); the rest of
/// its output stays unread. Fails if the child ends first.
pub fn first_line(child: &mut Child) -> String {
    let out = child.stdout.as_mut().expect("piped stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).expect("read the child's output") == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8(line).expect("a line of text")
}

/// A current-thread tokio runtime with I/O and timers, for the async tests.
#[cfg(feature = "tokio")]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The kind of the error `result` must be (failing the test when it is not an error).
pub fn err_kind<T: std::fmt::Debug>(result: io::Result<T>) -> io::ErrorKind {
    result.unwrap_err().kind()
}

/// `N` bytes at `offset` of `mapping`, through a read-only view of all of it.
pub fn mapped_bytes<const N: usize>(
    mapping: &pipework::mapping::FileMapping,
    offset: usize,
) -> [u8; N] {
    let mut bytes = [0u8; N];
    mapping
        .map_view(pipework::mapping::Access::Read, 0, 0)
        .unwrap()
        .read(offset, &mut bytes)
        .unwrap();
    bytes
}

/// The error `result` must be, which must say `says`.
pub fn err_saying<T: std::fmt::Debug>(result: io::Result<T>, says: &str) -> io::Error {
    let err = result.unwrap_err();
    assert!(err.to_string().contains(says), "{err}");
    err
}

/// Starts the child `role` with the one argument `arg`, its stdin and stdout piped.
pub fn spawn_piped(role: &str, arg: impl AsRef<std::ffi::OsStr>) -> Child {
    child(role)
        .arg(arg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A server child that announced itself with a first line on its standard output; killed and
/// reaped when dropped.
pub struct ServerChild {
    /// The child process.
    pub child: Child,
    /// The rest of its standard output.
    pub out: io::BufReader<std::process::ChildStdout>,
    /// The first line it wrote (its port, or "ready").
    pub first_line: String,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the child function `role` with `args` and waits (bounded) for its first line.
pub fn start_server(role: &str, args: &[&str]) -> ServerChild {
    let mut child = child(role)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start server child");
    let mut out = io::BufReader::new(child.stdout.take().expect("piped stdout"));
    let first_line = line(&mut out);
    ServerChild {
        child,
        out,
        first_line,
    }
}
