//! Delayed rendering across processes: the owner's render pipe (its `WM_RENDERFORMAT`), a named
//! pipe of pipework's on which the owner answers one request at a time.
//!
//! A request is `PWRF` and the format number (4 bytes, little-endian); the answer is one status
//! byte (0: rendered, 1: the owner could not render it) and, when rendered, the length (8 bytes,
//! little-endian) and the data. `PWDC` and four zero bytes instead tell the owner another
//! process emptied the clipboard (`WM_DESTROYCLIPBOARD`), with no answer. The reader never allocates from a length the owner sent before
//! the bytes arrive.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex as ProcessMutex};
use std::time::{Duration, Instant};

use crate::named_pipe::{ClientOptions, NamedPipeClient, ServerOptions, WaitTimeout};
use crate::sys::error::error;

/// How long a reader waits for the owner to render a format (Win32 waits 30 seconds for
/// `WM_RENDERFORMAT`).
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(30);

const MAGIC: &[u8; 4] = b"PWRF";
/// The most data one format may carry from its owner (a bound on what a peer can make a reader
/// take in).
pub(crate) const MAX_DATA: u64 = 1 << 30;

/// A destroy notice's request (`WM_DESTROYCLIPBOARD`): the magic and a zero format.
const DESTROY: &[u8; 4] = b"PWDC";

/// A render callback: the data of a format, or `None` when it cannot be rendered.
pub(crate) type Render = Box<dyn FnMut(u32) -> Option<Vec<u8>> + Send>;
/// A `WM_DESTROYCLIPBOARD` callback.
pub(crate) type OnDestroy = Box<dyn FnMut() + Send>;

/// The part of a renderer its thread shares.
pub(crate) struct Shared {
    pub(crate) render: ProcessMutex<Render>,
    pub(crate) stop: AtomicBool,
    /// How many `WM_DESTROYCLIPBOARD` notices came, and how many were taken by a wait.
    pub(crate) destroyed: ProcessMutex<(u64, u64)>,
    pub(crate) destroyed_cv: Condvar,
    pub(crate) on_destroy: ProcessMutex<Option<OnDestroy>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(render: Render) -> Shared {
        Shared {
            render: ProcessMutex::new(render),
            stop: AtomicBool::new(false),
            destroyed: ProcessMutex::new((0, 0)),
            destroyed_cv: Condvar::new(),
            on_destroy: ProcessMutex::new(None),
        }
    }

    /// `WM_DESTROYCLIPBOARD` came: the callback runs (on the caller's thread) and waiters wake.
    pub(crate) fn destroy_notice(&self) {
        if let Some(f) = self
            .on_destroy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            f();
        }
        self.destroyed.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
        self.destroyed_cv.notify_all();
    }

    /// Waits up to `timeout` for a `WM_DESTROYCLIPBOARD` not yet taken; takes it.
    pub(crate) fn wait_destroyed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut counts = self.destroyed.lock().unwrap_or_else(|p| p.into_inner());
        while counts.0 == counts.1 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            counts = self
                .destroyed_cv
                .wait_timeout(counts, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        counts.1 += 1;
        true
    }

    pub(crate) fn render(&self, format: u32) -> Option<Vec<u8>> {
        let mut render = self.render.lock().unwrap_or_else(|p| p.into_inner());
        (*render)(format)
    }
}

/// Starts the render pipe `pipe` and the thread serving it; returns once it listens.
pub(crate) fn serve(pipe: &str, shared: Arc<Shared>) -> io::Result<()> {
    let mut server = ServerOptions::new()
        .first_pipe_instance(true)
        .max_instances(1)
        // Both ends wait on the socket (`poll`) before each blocking read: data that moved to
        // a shared-memory ring would not wake them. Render traffic is small: the socket it is.
        .shared_memory(false)
        .create(pipe)?;
    std::thread::Builder::new()
        .name("pipework-clipboard-render".into())
        .spawn(move || loop {
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            if server.connect().is_err() {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                continue;
            }
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            let _ = answer(&mut server, &shared);
            let _ = server.disconnect();
        })?;
    Ok(())
}

fn answer(conn: &mut crate::named_pipe::NamedPipeServer, shared: &Shared) -> io::Result<()> {
    let mut request = [0u8; 8];
    read_exact_within(conn, &mut request, Instant::now() + RENDER_TIMEOUT)?;
    if &request[..4] == DESTROY {
        shared.destroy_notice();
        return Ok(());
    }
    if &request[..4] != MAGIC {
        return Ok(());
    }
    let format = u32::from_le_bytes([request[4], request[5], request[6], request[7]]);
    match shared.render(format) {
        Some(data) => {
            conn.write_all(&[0])?;
            conn.write_all(&(data.len() as u64).to_le_bytes())?;
            conn.write_all(&data)?;
        }
        None => conn.write_all(&[1])?,
    }
    conn.flush()
}

/// Tells the owner whose render pipe is `pipe` that the clipboard was emptied
/// (`WM_DESTROYCLIPBOARD`). Nothing when it is gone; it waits for no answer.
pub(crate) fn notify_destroy(pipe: &str) {
    if let Ok(mut conn) = ClientOptions::new()
        .wait(WaitTimeout::After(Duration::from_millis(500)))
        .open(pipe)
    {
        let mut request = [0u8; 8];
        request[..4].copy_from_slice(DESTROY);
        let _ = conn.write_all(&request);
    }
}

/// Wakes the render thread of `pipe` so that it sees its stop flag.
pub(crate) fn wake(pipe: &str) {
    let _ = ClientOptions::new()
        .wait(WaitTimeout::After(Duration::from_millis(200)))
        .open(pipe);
}

fn read_exact_within(
    conn: &mut (impl Read + AsFd),
    buf: &mut [u8],
    deadline: Instant,
) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        wait_readable(&*conn, deadline)?;
        match conn.read(&mut buf[filled..]) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn wait_readable(fd: &impl AsFd, deadline: Instant) -> io::Result<()> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        let ts = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) => continue,
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Asks the owner at `pipe` to render `format` (`WM_RENDERFORMAT`): `Ok(None)` when the owner is
/// gone or could not render it, `TimedOut` when it did not answer within [`RENDER_TIMEOUT`].
pub(crate) fn request(label: &str, pipe: &str, format: u32) -> io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + RENDER_TIMEOUT;
    let mut conn: NamedPipeClient = match ClientOptions::new()
        .wait(WaitTimeout::After(RENDER_TIMEOUT))
        .open(pipe)
    {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let timed = |e: io::Error| {
        if e.kind() == ErrorKind::TimedOut {
            error(
                ErrorKind::TimedOut,
                label,
                format_args!(
                    "the owner did not render format {format:#x} within {RENDER_TIMEOUT:?}"
                ),
            )
        } else if e.kind() == ErrorKind::UnexpectedEof {
            // The owner died or dropped the request mid-way: the format is not to be had.
            error(
                ErrorKind::UnexpectedEof,
                label,
                "the owner went away while rendering",
            )
        } else {
            e
        }
    };
    let mut request = [0u8; 8];
    request[..4].copy_from_slice(MAGIC);
    request[4..].copy_from_slice(&format.to_le_bytes());
    if conn.write_all(&request).is_err() {
        return Ok(None);
    }
    let mut status = [0u8; 1];
    match read_exact_within(&mut conn, &mut status, deadline) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(timed(e)),
    }
    if status[0] != 0 {
        return Ok(None);
    }
    let mut len = [0u8; 8];
    read_exact_within(&mut conn, &mut len, deadline).map_err(timed)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_DATA {
        return Err(error(
            ErrorKind::InvalidData,
            label,
            format_args!("the owner announced {len} bytes of format {format:#x}, past the {MAX_DATA}-byte limit"),
        ));
    }
    let mut data = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    while (data.len() as u64) < len {
        let want = chunk.len().min((len - data.len() as u64) as usize);
        read_exact_within(&mut conn, &mut chunk[..want], deadline).map_err(timed)?;
        data.extend_from_slice(&chunk[..want]);
    }
    Ok(Some(data))
}
