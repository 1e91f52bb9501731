//! Change listeners (`AddClipboardFormatListener`): a blocking [`Listener`] and, with the `tokio`
//! feature, an [`AsyncListener`] that is a stream of sequence numbers.
//!
//! A listener holds a readable handle (an inotify watch on the headless clipboard's directory,
//! or the read end of a pipe fed by the X11 watcher) and a way to read the current change count;
//! a wake-up without a new count is ignored, several changes between two looks come as one.

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::headless::Store;

/// Where a listener reads the change count.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The headless clipboard's `update` file.
    Headless(Arc<Store>),
    /// A count kept by a watcher thread (X11).
    #[cfg_attr(not(feature = "x11"), allow(dead_code))]
    Counter(Arc<AtomicU64>),
}

impl Source {
    fn current(&self) -> io::Result<u64> {
        match self {
            Source::Headless(store) => store.update_count(),
            Source::Counter(count) => Ok(count.load(Ordering::Acquire)),
        }
    }
}

/// A watcher thread's count of this process's clipboard changes and the listeners it wakes
/// (the X11 and Wayland sessions): a change bumps the count and writes a byte to each
/// listener's socket; a listener whose reader is gone is dropped at the next change.
#[cfg(any(feature = "x11", feature = "wayland"))]
#[derive(Debug, Default)]
pub(crate) struct Changes {
    count: Arc<AtomicU64>,
    listeners: std::sync::Mutex<Vec<OwnedFd>>,
}

#[cfg(any(feature = "x11", feature = "wayland"))]
impl Changes {
    fn listeners(&self) -> std::sync::MutexGuard<'_, Vec<OwnedFd>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The number of changes so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Counts a change and wakes every listener.
    pub(crate) fn changed(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.listeners().retain(|fd| {
            !matches!(
                rustix::net::send(
                    fd,
                    &[1],
                    rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT
                ),
                Err(rustix::io::Errno::PIPE) | Err(rustix::io::Errno::CONNRESET)
            )
        });
    }

    /// The watcher is gone: every listener's socket closes, so its waits end.
    pub(crate) fn close(&self) {
        self.listeners().clear();
    }

    /// A new listener of these changes; `keep` keeps the watcher running while it lives.
    /// `label` names the clipboard in an error.
    pub(crate) fn listen(
        &self,
        label: &str,
        keep: Arc<dyn std::any::Any + Send + Sync>,
    ) -> io::Result<Listener> {
        use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
        let (read, write) = socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(|e| crate::sys::error::named(label, e))?;
        self.listeners().push(write);
        Listener::new(read, Source::Counter(self.count.clone()), Some(keep))
    }
}

/// The inotify watch of a headless clipboard's directory (nonblocking).
pub(crate) fn watch_store(store: &Store) -> io::Result<OwnedFd> {
    use rustix::fs::inotify;
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)
        .map_err(|e| crate::sys::error::named(&store.label, e))?;
    inotify::add_watch(&fd, &store.dir, inotify::WatchFlags::MOVED_TO)
        .map_err(|e| crate::sys::error::named(&store.label, e))?;
    Ok(fd)
}

/// Reads whatever is waiting on the nonblocking `fd`; `BrokenPipe` once its writer is gone
/// (the X11 watcher ended with its connection), which inotify never is.
fn drain(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Err(io::Error::new(
                ErrorKind::BrokenPipe,
                "clipboard listener: the clipboard's watcher is gone (its X11 connection closed)",
            )),
            Ok(_) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return Ok(()),
        }
    }
}

/// A clipboard change listener (`AddClipboardFormatListener` and its `WM_CLIPBOARDUPDATE`):
/// [`wait`](Listener::wait) returns the clipboard's change count after each change made since
/// the listener was made (or since the last `wait` returned).
///
/// Dropping it is `RemoveClipboardFormatListener`.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    source: Source,
    last: u64,
    // Keeps a watcher (the X11 one) running while the listener lives.
    _keep: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl Listener {
    pub(crate) fn new(
        fd: OwnedFd,
        source: Source,
        keep: Option<Arc<dyn std::any::Any + Send + Sync>>,
    ) -> io::Result<Listener> {
        let last = source.current()?;
        Ok(Listener {
            fd,
            source,
            last,
            _keep: keep,
        })
    }

    fn check(&mut self) -> io::Result<Option<u64>> {
        let now = self.source.current()?;
        if now != self.last {
            self.last = now;
            return Ok(Some(now));
        }
        Ok(None)
    }

    /// Waits for the next change, at most `timeout` (`None`: forever); `Ok(None)` when the time
    /// ran out. The number returned is the count of changes the clipboard has seen (the headless
    /// clipboard's sequence number, or this process's count of X11 changes).
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<Option<u64>> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(seq) = self.check()? {
                return Ok(Some(seq));
            }
            let ts = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(Timespec {
                        tv_sec: left.as_secs() as _,
                        tv_nsec: left.subsec_nanos() as _,
                    })
                }
            };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match poll(&mut fds, ts.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            drain(self.fd.as_fd())?;
        }
    }

    /// The async form of this listener, on the current tokio runtime.
    #[cfg(feature = "tokio")]
    pub fn into_async(self) -> io::Result<AsyncListener> {
        let fd = crate::sys::register_async(self.fd, tokio::io::Interest::READABLE)?;
        Ok(AsyncListener {
            fd,
            source: self.source,
            last: self.last,
            _keep: self._keep,
        })
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A clipboard change listener for tokio: a [`futures_core::Stream`] of change counts, or
/// [`changed`](AsyncListener::changed) to await the next one.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct AsyncListener {
    fd: tokio::io::unix::AsyncFd<OwnedFd>,
    source: Source,
    last: u64,
    _keep: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

#[cfg(feature = "tokio")]
impl AsyncListener {
    fn check(&mut self) -> io::Result<Option<u64>> {
        let now = self.source.current()?;
        if now != self.last {
            self.last = now;
            return Ok(Some(now));
        }
        Ok(None)
    }

    /// Waits for the next change and returns the change count.
    pub async fn changed(&mut self) -> io::Result<u64> {
        std::future::poll_fn(|cx| self.poll_changed(cx)).await
    }

    fn poll_changed(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<u64>> {
        use std::task::Poll;
        loop {
            match self.check() {
                Ok(Some(seq)) => return Poll::Ready(Ok(seq)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            match self.fd.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(mut guard)) => {
                    let drained = drain(guard.get_inner().as_fd());
                    guard.clear_ready();
                    if let Err(e) = drained {
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }
    }
}

#[cfg(feature = "tokio")]
impl futures_core::Stream for AsyncListener {
    type Item = io::Result<u64>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.get_mut().poll_changed(cx).map(Some)
    }
}
