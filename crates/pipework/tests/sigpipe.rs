//! No pipework write ever delivers `SIGPIPE`, and only exactly the right end of a pipe is adopted.
//!
//! Each write path runs in a child process whose `SIGPIPE` disposition changes after the ends are
//! made: to the default (a delivered signal kills the child), to a counting handler (which must
//! never run), or to a counting handler with `SIGPIPE` blocked in the writing thread (no signal
//! may be left pending for it). The reader goes away in the middle of the write: it reads a part
//! and closes, so a write meets a partial count and then `EPIPE`. The child must live to report
//! how the write ended, and the parent checks that no signal ended it.

mod common;

use std::fs::File;
use std::io::{self, ErrorKind, IoSlice, Read, Seek, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};

use common::{child, inherited, wait};
use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework::process::CommandExt;

/// A write larger than any pipe or socket buffer here, so that it is still going when the reader
/// leaves.
const BIG: usize = 8 << 20;
/// What a reader takes before it goes away.
const PART: usize = 1000;

/// Declares the write paths: the child body of each, what its write must end with, and for each
/// a test per `SIGPIPE` arrangement.
macro_rules! write_paths {
    ($( $(#[$attr:meta])* $path:ident => $outcome:literal, )*) => {
        /// Every write path: name, the outcome the child must report, the child's body.
        // Pushed one by one: a path may be left out by its `cfg`.
        #[allow(clippy::vec_init_then_push)]
        fn paths() -> Vec<(&'static str, &'static str, fn() -> io::Result<()>)> {
            let mut all: Vec<(&'static str, &'static str, fn() -> io::Result<()>)> = Vec::new();
            $(
                $(#[$attr])*
                all.push((stringify!($path), $outcome, $path));
            )*
            all
        }

        mod per_path {
            $(
                $(#[$attr])*
                pub mod $path {
                    pub fn default_disposition() {
                        super::super::check(stringify!($path), "default");
                    }
                    pub fn handler() {
                        super::super::check(stringify!($path), "handler");
                    }
                    pub fn blocked() {
                        super::super::check(stringify!($path), "blocked");
                    }
                }
            )*
        }

        fn sigpipe_tests() -> Vec<common::Test> {
            let mut tests: Vec<common::Test> = Vec::new();
            $(
                $(#[$attr])*
                {
                    tests.push((
                        concat!(stringify!($path), "_lives_with_sigpipe_at_its_default"),
                        per_path::$path::default_disposition,
                    ));
                    tests.push((
                        concat!(stringify!($path), "_never_runs_a_sigpipe_handler"),
                        per_path::$path::handler,
                    ));
                    tests.push((
                        concat!(stringify!($path), "_leaves_no_sigpipe_pending_when_blocked"),
                        per_path::$path::blocked,
                    ));
                }
            )*
            tests
        }
    };
}

write_paths! {
    pipe_write => "BrokenPipe",
    pipe_write_all => "BrokenPipe",
    pipe_write_vectored => "BrokenPipe",
    pipe_splice_from => "BrokenPipe",
    pipe_splice_to_pipe => "BrokenPipe",
    pipe_splice_all_to_socket => "BrokenPipe",
    pipe_tee_to => "BrokenPipe",
    #[cfg(feature = "tokio")]
    async_pipe_write_all => "BrokenPipe",
    #[cfg(feature = "tokio")]
    async_pipe_write_vectored => "BrokenPipe",
    named_pipe_server_write_all => "BrokenPipe",
    named_pipe_client_write_all => "BrokenPipe",
    named_pipe_write_message => "BrokenPipe",
    named_pipe_transact => "BrokenPipe",
    named_pipe_send_handle => "BrokenPipe",
    // The server's connect meets a pipework client that came and left without writing: it
    // reports it (Win32's ERROR_NO_DATA), with no signal.
    named_pipe_handshake_reply => "BrokenPipe",
    #[cfg(feature = "tokio")]
    async_named_pipe_server_write_all => "BrokenPipe",
    #[cfg(feature = "tokio")]
    async_named_pipe_client_write_all => "BrokenPipe",
    #[cfg(feature = "tokio")]
    async_named_pipe_transact => "BrokenPipe",
    mailslot_send_datagram => "NotFound",
    mailslot_send_spooled => "NotFound",
    handle_send => "BrokenPipe",
    shm_pipe_bell => "Ok",
}

fn main() {
    let mut tests = sigpipe_tests();
    tests.extend_from_slice(&[
        (
            "a_fifo_opened_read_write_is_neither_end",
            a_fifo_opened_read_write_is_neither_end as fn(),
        ),
        (
            "each_end_of_a_fifo_is_adopted_only_as_itself",
            each_end_of_a_fifo_is_adopted_only_as_itself,
        ),
        (
            "an_anonymous_pipe_reopened_read_write_is_refused",
            an_anonymous_pipe_reopened_read_write_is_refused,
        ),
        (
            "a_path_only_handle_to_a_fifo_is_refused",
            a_path_only_handle_to_a_fifo_is_refused,
        ),
    ]);
    common::main(&tests, &[("write", write_role), ("adopt", adopt_role)]);
}

// ---- the parent's side of the write tests ----

/// Runs the write path `path` in a child with the `SIGPIPE` arrangement `mode` and checks that
/// the child lived to report the path's outcome, with no handler run and nothing left pending.
fn check(path: &str, mode: &str) {
    let outcome = paths()
        .into_iter()
        .find(|p| p.0 == path)
        .expect("a declared path")
        .1;
    let mut c = child("write")
        .args([path, mode])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait(&mut c);
    let mut printed = String::new();
    c.stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert_eq!(
        status.signal(),
        None,
        "{path} ({mode}): the child was killed by signal {:?} (13 is SIGPIPE); it printed {printed:?}",
        status.signal()
    );
    assert!(
        status.success(),
        "{path} ({mode}): the child failed ({status}); it printed {printed:?}"
    );
    assert_eq!(
        printed.trim_end(),
        format!("{outcome} handler_runs=0 pending=false"),
        "{path} ({mode})"
    );
}

// ---- the child's side: SIGPIPE arrangements ----

static MODE: OnceLock<String> = OnceLock::new();
static ARMED: AtomicBool = AtomicBool::new(false);
static HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_sigpipe(_: libc::c_int) {
    HANDLER_RUNS.fetch_add(1, Ordering::SeqCst);
}

/// Sets the child's `SIGPIPE` arrangement; every path calls it once its ends exist and before it
/// writes, from the thread that writes.
fn arm() {
    let mode = MODE
        .get()
        .expect("the mode is set before the path runs")
        .as_str();
    let handler = count_sigpipe as extern "C" fn(libc::c_int) as libc::sighandler_t;
    let disposition = if mode == "default" {
        libc::SIG_DFL
    } else {
        handler
    };
    // SAFETY: a zeroed sigaction is a valid value to fill in; `count_sigpipe` only touches an
    // atomic (async-signal-safe); the old-action pointer may be null.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = disposition;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut()),
            0
        );
    }
    if mode == "blocked" {
        set_sigpipe_blocked(true);
    }
    ARMED.store(true, Ordering::SeqCst);
}

fn set_sigpipe_blocked(blocked: bool) {
    // SAFETY: the sets are initialised by sigemptyset before use; this changes the calling
    // thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        let how = if blocked {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        assert_eq!(libc::pthread_sigmask(how, &set, std::ptr::null_mut()), 0);
    }
}

fn sigpipe_pending() -> bool {
    // SAFETY: `set` is filled by sigpending before sigismember reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        assert_eq!(libc::sigpending(&mut set), 0);
        libc::sigismember(&set, libc::SIGPIPE) == 1
    }
}

/// args: PATH MODE — runs one write path and prints how its write ended, how often the handler
/// ran, and whether a `SIGPIPE` was left pending.
fn write_role(args: &[String]) {
    let (_, _, body) = paths()
        .into_iter()
        .find(|p| p.0 == args[0])
        .expect("a declared path");
    MODE.set(args[1].clone()).unwrap();
    let result = body();
    assert!(
        ARMED.load(Ordering::SeqCst),
        "the path failed before it wrote: {result:?}"
    );
    let pending = sigpipe_pending();
    if args[1] == "blocked" {
        // A SIGPIPE left pending would reach the handler now.
        set_sigpipe_blocked(false);
    }
    let outcome = match result {
        Ok(()) => "Ok".to_string(),
        Err(e) => format!("{:?}", e.kind()),
    };
    println!(
        "{outcome} handler_runs={} pending={pending}",
        HANDLER_RUNS.load(Ordering::SeqCst)
    );
}

// ---- helpers of the write paths ----

/// Reads `PART` bytes from `reader` in a thread, then closes it.
fn read_part_then_close<R: Read + Send + 'static>(mut reader: R) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut part = vec![0u8; PART];
        reader.read_exact(&mut part).expect("read a part");
        drop(reader);
    })
}

/// Writes with `write` until it fails; checks that bytes went in first (the reader left in the
/// middle of the writing) and returns the failure.
fn until_error(mut write: impl FnMut() -> io::Result<usize>) -> io::Error {
    let mut written = 0;
    loop {
        match write() {
            Ok(n) => written += n,
            Err(e) => {
                assert!(
                    written >= PART,
                    "only {written} bytes went in before the write failed: {e}"
                );
                return e;
            }
        }
    }
}

/// A pipe that a thread keeps full for as long as the process lives.
fn fed_pipe() -> PipeReader {
    let (r, mut w) = pipe::create().unwrap();
    thread::spawn(move || {
        let chunk = vec![5u8; 1 << 16];
        while w.write_all(&chunk).is_ok() {}
    });
    r
}

fn payload() -> Vec<u8> {
    vec![7u8; BIG]
}

fn pipe_name(path: &str) -> String {
    format!(r"\\.\pipe\pipework-sigpipe-{}-{path}", std::process::id())
}

fn joined(reader: JoinHandle<()>, result: io::Result<()>) -> io::Result<()> {
    reader.join().expect("the reader thread");
    result
}

/// Arms, has `reader` read a part and close, and writes with `write` until it fails (see
/// [`until_error`]).
fn writes_until_error<R: Read + Send + 'static>(
    reader: R,
    write: impl FnMut() -> io::Result<usize>,
) -> io::Result<()> {
    arm();
    let reader = read_part_then_close(reader);
    let e = until_error(write);
    joined(reader, Err(e))
}

/// Arms, has `reader` read a part and close, and returns how `write` ended.
fn writes_while_reading<R: Read + Send + 'static>(
    reader: R,
    write: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    arm();
    let reader = read_part_then_close(reader);
    let result = write();
    joined(reader, result)
}

/// Arms, and returns how `write` ended once `reader` (already reading) is done.
fn armed_write(reader: JoinHandle<()>, write: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
    arm();
    let result = write();
    joined(reader, result)
}

/// A thread that opens the named pipe `name` as a client, reads a part and closes it.
fn client_reads_part(name: &str) -> JoinHandle<()> {
    let name = name.to_string();
    thread::spawn(move || {
        let client = pipework::named_pipe::NamedPipeClient::open(&name).expect("open the pipe");
        read_part_then_close(client).join().unwrap();
    })
}

/// A thread that admits the client of `server`, reads a part and closes it.
fn server_reads_part(mut server: pipework::named_pipe::NamedPipeServer) -> JoinHandle<()> {
    thread::spawn(move || {
        server.connect().expect("accept the client");
        read_part_then_close(server).join().unwrap();
    })
}

/// A message-type named pipe server for `name`.
fn message_server(name: &str) -> io::Result<pipework::named_pipe::NamedPipeServer> {
    use pipework::named_pipe::{PipeMode, ServerOptions};
    ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(name)
}

// ---- the write paths (child bodies) ----

fn pipe_write() -> io::Result<()> {
    let (r, mut w) = pipe::create()?;
    let big = payload();
    writes_until_error(r, || w.write(&big))
}

fn pipe_write_all() -> io::Result<()> {
    let (r, mut w) = pipe::create()?;
    writes_while_reading(r, || w.write_all(&payload()))
}

fn pipe_write_vectored() -> io::Result<()> {
    let (r, mut w) = pipe::create()?;
    let big = payload();
    let (a, b) = big.split_at(BIG / 3);
    writes_until_error(r, || w.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]))
}

fn pipe_splice_from() -> io::Result<()> {
    let (r, w) = pipe::create()?;
    let fd = rustix::fs::memfd_create("sigpipe-source", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut source = File::from(fd);
    source.write_all(&payload())?;
    source.rewind()?;
    writes_until_error(r, || w.splice_from(&source, BIG))
}

fn pipe_splice_to_pipe() -> io::Result<()> {
    let source = fed_pipe();
    let (r, w) = pipe::create()?;
    writes_until_error(r, || source.splice_to(&w, BIG))
}

fn pipe_splice_all_to_socket() -> io::Result<()> {
    let source = fed_pipe();
    let (near, far) = UnixStream::pair()?;
    writes_while_reading(far, || pipe::splice_all(&source, &near).map(|_| ()))
}

fn pipe_tee_to() -> io::Result<()> {
    let (source, mut fill) = pipe::create()?;
    fill.write_all(&[3u8; 16 << 10])?;
    let (r, w) = pipe::create()?;
    writes_until_error(r, || source.tee_to(&w, 16 << 10))
}

#[cfg(feature = "tokio")]
fn async_pipe_write_all() -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let (r, w) = pipe::create()?;
    let (reader, result) = common::runtime().block_on(async {
        let mut w = w.into_async()?;
        arm();
        let reader = read_part_then_close(r);
        let result = w.write_all(&payload()).await;
        Ok::<_, io::Error>((reader, result))
    })?;
    joined(reader, result)
}

#[cfg(feature = "tokio")]
fn async_pipe_write_vectored() -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let (r, w) = pipe::create()?;
    let (reader, result) = common::runtime().block_on(async {
        let mut w = w.into_async()?;
        arm();
        let reader = read_part_then_close(r);
        let big = payload();
        let (a, b) = big.split_at(BIG / 3);
        let mut written = 0;
        let result = loop {
            match w.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]).await {
                Ok(n) => written += n,
                Err(e) => break e,
            }
        };
        assert!(written >= PART, "only {written} bytes went in: {result}");
        Ok::<_, io::Error>((reader, Err(result)))
    })?;
    joined(reader, result)
}

fn named_pipe_server_write_all() -> io::Result<()> {
    use pipework::named_pipe::ServerOptions;
    let name = pipe_name("server-write");
    let mut server = ServerOptions::new().create(&name)?;
    let reader = client_reads_part(&name);
    server.connect()?;
    armed_write(reader, || server.write_all(&payload()))
}

fn named_pipe_client_write_all() -> io::Result<()> {
    use pipework::named_pipe::{NamedPipeClient, ServerOptions};
    let name = pipe_name("client-write");
    let server = ServerOptions::new().create(&name)?;
    let reader = server_reads_part(server);
    let mut client = NamedPipeClient::open(&name)?;
    armed_write(reader, || client.write_all(&payload()))
}

fn named_pipe_write_message() -> io::Result<()> {
    let name = pipe_name("message");
    let mut server = message_server(&name)?;
    let reader = client_reads_part(&name);
    server.connect()?;
    armed_write(reader, || server.write_message(&payload()))
}

fn named_pipe_transact() -> io::Result<()> {
    use pipework::named_pipe::{NamedPipeClient, ReadMode};
    let name = pipe_name("transact");
    let server = message_server(&name)?;
    let reader = server_reads_part(server);
    let mut client = NamedPipeClient::open(&name)?;
    client.set_read_mode(ReadMode::Message)?;
    armed_write(reader, || {
        let mut reply = [0u8; 16];
        client.transact(&payload(), &mut reply).map(|_| ())
    })
}

fn named_pipe_send_handle() -> io::Result<()> {
    use pipework::named_pipe::{NamedPipeClient, ServerOptions};
    let name = pipe_name("handle");
    let mut server = ServerOptions::new().create(&name)?;
    let gone = {
        let name = name.clone();
        // Opens, writes a byte (so that the server's connect finds a client, not one that came
        // and went) and closes at once.
        thread::spawn(move || {
            let mut client = NamedPipeClient::open(&name).expect("open the pipe");
            client.write_all(b"!").expect("write to the pipe");
        })
    };
    gone.join().unwrap();
    server.connect()?;
    arm();
    let (r, _w) = pipe::create()?;
    server.send_handle(&r)
}

fn named_pipe_handshake_reply() -> io::Result<()> {
    use pipework::named_pipe::ServerOptions;
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let mut server = ServerOptions::new().create(&pipe_name("handshake"))?;
    // A client that asks for read-write access, as pipework clients do (by the abstract address
    // it binds), and leaves before the server connects it.
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let asks = format!("pipework-np2 rw {} 4000000000", std::process::id());
    rustix::net::bind(&sock, &SocketAddrUnix::new_abstract_name(asks.as_bytes())?)?;
    rustix::net::connect(&sock, &SocketAddrUnix::new(server.socket_path())?)?;
    drop(sock);
    arm();
    server.connect().map(|_| ())
}

#[cfg(feature = "tokio")]
fn async_named_pipe_server_write_all() -> io::Result<()> {
    use pipework::named_pipe::ServerOptions;
    use tokio::io::AsyncWriteExt;
    let name = pipe_name("async-server");
    let (reader, result) = common::runtime().block_on(async {
        let mut server = ServerOptions::new().create_async(&name)?;
        let reader = client_reads_part(&name);
        server.connect().await?;
        arm();
        let result = server.write_all(&payload()).await;
        Ok::<_, io::Error>((reader, result))
    })?;
    joined(reader, result)
}

#[cfg(feature = "tokio")]
fn async_named_pipe_client_write_all() -> io::Result<()> {
    use pipework::named_pipe::{AsyncNamedPipeClient, ServerOptions};
    use tokio::io::AsyncWriteExt;
    let name = pipe_name("async-client");
    let server = ServerOptions::new().create(&name)?;
    let reader = server_reads_part(server);
    let result = common::runtime().block_on(async {
        let mut client = AsyncNamedPipeClient::open(&name).await?;
        arm();
        client.write_all(&payload()).await
    });
    joined(reader, result)
}

#[cfg(feature = "tokio")]
fn async_named_pipe_transact() -> io::Result<()> {
    use pipework::named_pipe::{AsyncNamedPipeClient, ReadMode};
    let name = pipe_name("async-transact");
    let server = message_server(&name)?;
    let reader = server_reads_part(server);
    let result = common::runtime().block_on(async {
        let mut client = AsyncNamedPipeClient::open(&name).await?;
        client.get_mut().set_read_mode(ReadMode::Message)?;
        arm();
        let mut reply = [0u8; 16];
        client.transact(&payload(), &mut reply).await.map(|_| ())
    });
    joined(reader, result)
}

fn mailslot_send(message: &[u8]) -> io::Result<()> {
    use pipework::mailslot::{MailslotClient, MailslotOptions};
    let name = format!(
        r"\\.\mailslot\pipework-sigpipe-{}-{}",
        std::process::id(),
        message.len()
    );
    let slot = MailslotOptions::new().create(&name)?;
    let client = MailslotClient::open(&name)?;
    client.write_message(b"while the server lives")?;
    arm();
    drop(slot);
    client.write_message(message)
}

fn mailslot_send_datagram() -> io::Result<()> {
    mailslot_send(b"a datagram to a closed slot")
}

fn mailslot_send_spooled() -> io::Result<()> {
    mailslot_send(&[9u8; 64 << 10])
}

fn handle_send() -> io::Result<()> {
    let (near, far) = UnixStream::pair()?;
    arm();
    drop(far);
    let (r, _w) = pipe::create()?;
    pipework::handle::send(&near, &r)
}

/// A writer whose pipe was set up by a forger: the ring is genuine, but the reader's bell (an
/// eventfd in a pipework pipe) is the write end of a kernel pipe whose reader is gone, and the
/// reader's waiting word says "ring my bell". Every publish then writes into that pipe.
fn shm_pipe_bell() -> io::Result<()> {
    use rustix::net::{
        recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
        RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
    };
    use std::mem::MaybeUninit;
    use std::os::unix::fs::FileExt;
    /// Where the reader's waiting word lies in the ring's header.
    const OFF_READER_WAITING: u64 = 192;

    let (reader, writer) = pipework::shm_pipe::create()?;
    // The genuine ring, as queued on the writer's handle.
    let writer_handle = OwnedFd::from(writer);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    recvmsg(
        &writer_handle,
        &mut [io::IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::PEEK | RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut queued: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            queued.extend(fds);
        }
    }
    let ring = queued.remove(0);
    // The forged bell: a nonblocking pipe without a reader.
    let (bell_read, bell) = pipe::PipeOptions::new().nonblocking(true).create()?;
    drop(bell_read);
    let (forged_end, forger) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [ring.as_fd(), bell.as_fd(), bell.as_fd()];
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    sendmsg(
        &forger,
        &[IoSlice::new(b"R")],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    File::from(ring).write_all_at(&0xdead_u32.to_ne_bytes(), OFF_READER_WAITING)?;

    let mut writer = pipework::shm_pipe::ShmWriter::try_from(forged_end)?;
    arm();
    writer.write_all(b"rings the forged bell")?;
    drop(writer);
    drop((reader, forger, writer_handle));
    Ok(())
}

// ---- adopting pipe ends ----

/// args: HANDLE END — tries to adopt the handle as the `read` or `write` end of a pipe and
/// prints how it went: `ok`, or the error's kind and message.
fn adopt_role(args: &[String]) {
    let fd = inherited(&args[0]);
    let result = match args[1].as_str() {
        "read" => PipeReader::try_from(fd).map(drop),
        _ => PipeWriter::try_from(fd).map(drop),
    };
    match result {
        Ok(()) => println!("ok"),
        Err(e) => println!("{:?}: {e}", e.kind()),
    }
}

/// Hands a copy of `handle` to an `adopt` child that adopts it as `end`, and returns the child's
/// report and the handle number the child saw.
fn adopt_in_child(handle: &OwnedFd, end: &str) -> (String, i32) {
    let mut cmd = child("adopt");
    cmd.stdout(Stdio::piped());
    let n = cmd.inherit_handle(handle.try_clone().unwrap());
    cmd.args([n.to_string().as_str(), end]);
    let c = common::spawn(cmd);
    (common::output_of(c).trim_end().to_string(), n)
}

/// Checks that an `adopt` child refuses `handle` as either end, with the report `expected` gives
/// for the handle number the child saw and the end it tried.
fn refused_as_either_end(handle: &OwnedFd, expected: impl Fn(i32, &str) -> String) {
    for end in ["read", "write"] {
        let (report, n) = adopt_in_child(handle, end);
        assert_eq!(report, expected(n, end));
    }
}

struct Fifo {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl Fifo {
    fn new(tag: &str) -> Fifo {
        let dir =
            std::env::temp_dir().join(format!("pipework-sigpipe-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        Fifo { dir, path }
    }

    fn open(&self, flags: rustix::fs::OFlags) -> OwnedFd {
        rustix::fs::open(
            &self.path,
            flags | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap()
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn a_fifo_opened_read_write_is_neither_end() {
    use rustix::fs::OFlags;
    let fifo = Fifo::new("rdwr");
    let both = fifo.open(OFlags::RDWR);
    refused_as_either_end(&both, |n, end| {
        format!(
            "InvalidInput: handle {n} is a pipe opened for reading and writing, not only its {end} end"
        )
    });
    // In this process too, blocking or not.
    for flags in [OFlags::RDWR, OFlags::RDWR | OFlags::NONBLOCK] {
        let e = PipeReader::try_from(fifo.open(flags)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let e = PipeWriter::try_from(fifo.open(flags)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
}

fn each_end_of_a_fifo_is_adopted_only_as_itself() {
    use rustix::fs::OFlags;
    let fifo = Fifo::new("ends");
    // A nonblocking open for reading succeeds without a writer; then one for writing does too.
    let read_end = fifo.open(OFlags::RDONLY | OFlags::NONBLOCK);
    let write_end = fifo.open(OFlags::WRONLY);
    assert_eq!(adopt_in_child(&read_end, "read").0, "ok");
    let (report, n) = adopt_in_child(&read_end, "write");
    assert_eq!(
        report,
        format!("InvalidInput: handle {n} is the read end of a pipe, not its write end")
    );
    assert_eq!(adopt_in_child(&write_end, "write").0, "ok");
    let (report, n) = adopt_in_child(&write_end, "read");
    assert_eq!(
        report,
        format!("InvalidInput: handle {n} is the write end of a pipe, not its read end")
    );
}

fn an_anonymous_pipe_reopened_read_write_is_refused() {
    use rustix::fs::OFlags;
    let (r, _w) = pipe::create().unwrap();
    // Reopening a pipe through /proc gives a new open of the same pipe, here for both directions.
    let again = rustix::fs::open(
        format!("/proc/self/fd/{}", r.as_raw_fd()),
        OFlags::RDWR | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    refused_as_either_end(&again, |n, end| {
        format!(
            "InvalidInput: handle {n} is a pipe opened for reading and writing, not only its {end} end"
        )
    });
}

fn a_path_only_handle_to_a_fifo_is_refused() {
    use rustix::fs::OFlags;
    let fifo = Fifo::new("path");
    let path_only = fifo.open(OFlags::PATH);
    refused_as_either_end(&path_only, |n, _| {
        format!(
            "InvalidInput: handle {n} names a pipe (O_PATH) but is open for neither reading nor writing"
        )
    });
}
