//! The Wayland backend: the seat's selection through the wlroots data-control protocol
//! (`zwlr_data_control_manager_v1`, offered by sway, Hyprland, river, labwc, KDE's KWin and
//! others), with Win32's formats offered and read as MIME types (the table of
//! [`super::mime`], shared with X11), over a pure-Rust Wayland connection (`wayland-client`).
//!
//! * Owning: [`Clipboard::empty`](super::Clipboard::empty) and each
//!   [`Clipboard::set`](super::Clipboard::set) put a new data source on the selection offering
//!   every format set since (a source's MIME types are fixed once it is the selection); the
//!   session's thread answers each `send` from a paster on a thread of its own, rendering a
//!   delayed format (once) when it is first asked for. Each write waits at most
//!   [`RENDER_TIMEOUT`] for a paster that stopped reading.
//! * Reading: `receive` on the compositor's offer of the current selection, through a pipe,
//!   at most [`RENDER_TIMEOUT`] and [`MAX_DATA`] bytes. While this process owns the clipboard
//!   it reads its own formats directly.
//! * Changes: every `selection` event (a new selection, by any client, this one included)
//!   counts in the sequence number and wakes listeners; the number is this process's count
//!   since it connected, as on X11. Each change of this process's waits for the compositor's
//!   answer (a `wl_display.sync`), so the count has moved when `set` returns; each read (of
//!   the formats, the data, the owner or the number) does the same first, so it sees every
//!   change the compositor had taken before it, by any client, as Win32's calls do.
//! * `WM_DESTROYCLIPBOARD`: the compositor's `cancelled` on this process's current source (another
//!   client took the selection) tells the owner's [`Renderer`](super::Renderer).
//! * After the owner exits: Wayland keeps no data of its own and has no clipboard-manager
//!   protocol. [`Renderer::render_all`](super::Renderer::render_all) renders every delayed
//!   format and then **hands the whole clipboard to a keeper**: a child process (forked, with
//!   every inherited descriptor closed and a connection of its own) that serves those formats
//!   until another client takes the selection, and then exits.
//!
//! `ext-data-control-v1` (wlroots 0.19, sway 1.11) is the same protocol under another name; this
//! backend speaks the wlroots one, which those compositors still offer.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex as ProcessMutex, MutexGuard};
use std::time::{Duration, Instant};

use wayland_client::backend::ObjectId;
use wayland_client::globals::{registry_queue_init, GlobalListContents};
use wayland_client::protocol::{wl_callback, wl_registry, wl_seat};
use wayland_client::{event_created_child, Connection, Dispatch, EventQueue, Proxy, QueueHandle};
use wayland_protocols_wlr::data_control::v1::client::{
    zwlr_data_control_device_v1::{self, ZwlrDataControlDeviceV1},
    zwlr_data_control_manager_v1::ZwlrDataControlManagerV1,
    zwlr_data_control_offer_v1::{self, ZwlrDataControlOfferV1},
    zwlr_data_control_source_v1::{self, ZwlrDataControlSourceV1},
};

use super::format::{is_text, CF_UNICODETEXT};
use super::listen::{Changes, Listener};
use super::mime;
use super::render::{Shared as RenderShared, MAX_DATA, RENDER_TIMEOUT};
use crate::name::{file_key, fold};
use crate::sync::Mutex;
use crate::sys::error::error;

fn wl_error(label: &str, e: impl std::fmt::Display) -> io::Error {
    error(ErrorKind::Other, label, format_args!("Wayland: {e}"))
}

/// How long a change of this process's waits for the compositor.
const SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// One format this process offers.
#[derive(Debug, Clone)]
struct Offer {
    format: u32,
    /// `None`: delayed, rendered when first asked for.
    data: Option<Arc<Vec<u8>>>,
}

#[derive(Debug, Default)]
struct Owned {
    owned: bool,
    /// The source that is (or is about to be) the selection, and its generation.
    source: Option<(ZwlrDataControlSourceV1, u64)>,
    generation: u64,
    offers: Vec<Offer>,
    renderer: Option<Arc<RenderShared>>,
    /// The compositor's offer of the current selection and its MIME types (`None`: no
    /// selection).
    selection: Option<(ZwlrDataControlOfferV1, Vec<String>)>,
    /// Offers introduced but not yet made the selection, with the types they listed so far.
    introduced: HashMap<ObjectId, (ZwlrDataControlOfferV1, Vec<String>)>,
    /// The connection or the data device is gone.
    gone: bool,
}

/// What the session's thread and its callers share.
#[derive(Debug)]
struct Shared {
    state: ProcessMutex<Owned>,
    /// Held while a delayed format is rendered, so it is rendered once.
    rendering: ProcessMutex<()>,
    changes: Changes,
    stop: AtomicBool,
}

/// The state the event queue dispatches into.
struct Events {
    shared: Arc<Shared>,
}

/// A `wl_display.sync` answer awaited by a caller.
#[derive(Debug, Default)]
struct Done {
    done: ProcessMutex<bool>,
    cv: Condvar,
}

/// A Wayland display's clipboard.
#[derive(Debug)]
pub(crate) struct Wayland {
    pub(crate) label: String,
    pub(crate) lock: Mutex,
    shared: Arc<Shared>,
    conn: Connection,
    qh: QueueHandle<Events>,
    manager: ZwlrDataControlManagerV1,
    device: ZwlrDataControlDeviceV1,
    /// Wakes the session's thread (an eventfd).
    wake: Arc<OwnedFd>,
    /// The socket's path, for a keeper's own connection.
    socket: PathBuf,
}

/// The socket path `display` names (`None`: `$WAYLAND_DISPLAY`), relative ones under
/// `$XDG_RUNTIME_DIR`.
fn socket_path(display: Option<&str>) -> io::Result<PathBuf> {
    let name = match display {
        Some(d) => d.to_string(),
        None => std::env::var("WAYLAND_DISPLAY").unwrap_or_default(),
    };
    if name.is_empty() {
        return Err(error(
            ErrorKind::NotFound,
            "clipboard of Wayland display",
            "no display named (WAYLAND_DISPLAY is not set)",
        ));
    }
    let path = PathBuf::from(&name);
    if path.is_absolute() {
        return Ok(path);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(path)),
        _ => Err(error(
            ErrorKind::NotFound,
            format_args!("clipboard of Wayland display {name}"),
            "XDG_RUNTIME_DIR is not set",
        )),
    }
}

/// A connection with the data-control manager and the first seat's data device bound.
struct Bound {
    conn: Connection,
    queue: EventQueue<Events>,
    manager: ZwlrDataControlManagerV1,
    device: ZwlrDataControlDeviceV1,
    shared: Arc<Shared>,
}

fn bind(socket: &std::path::Path, label: &str) -> io::Result<Bound> {
    let stream = UnixStream::connect(socket).map_err(|e| {
        error(
            ErrorKind::NotFound,
            label,
            format_args!("cannot connect to {}: {e}", socket.display()),
        )
    })?;
    let conn = Connection::from_socket(stream).map_err(|e| wl_error(label, e))?;
    let (globals, queue) = registry_queue_init::<Events>(&conn).map_err(|e| wl_error(label, e))?;
    let qh = queue.handle();
    let manager: ZwlrDataControlManagerV1 = globals.bind(&qh, 1..=2, ()).map_err(|_| {
        error(
            ErrorKind::Unsupported,
            label,
            "the compositor offers no data-control protocol (zwlr_data_control_manager_v1)",
        )
    })?;
    let seat: wl_seat::WlSeat = globals
        .bind(&qh, 1..=1, ())
        .map_err(|_| error(ErrorKind::Unsupported, label, "the compositor has no seat"))?;
    let device = manager.get_data_device(&seat, &qh, ());
    let shared = Arc::new(Shared {
        state: ProcessMutex::new(Owned::default()),
        rendering: ProcessMutex::new(()),
        changes: Changes::default(),
        stop: AtomicBool::new(false),
    });
    Ok(Bound {
        conn,
        queue,
        manager,
        device,
        shared,
    })
}

impl Wayland {
    pub(crate) fn connect(display: Option<&str>) -> io::Result<Wayland> {
        let socket = socket_path(display)?;
        let label = format!("clipboard of Wayland display {}", socket.display());
        let Bound {
            conn,
            mut queue,
            manager,
            device,
            shared,
        } = bind(&socket, &label)?;
        let mut events = Events {
            shared: shared.clone(),
        };
        // The first selection (if any) comes with the answer to this.
        queue
            .roundtrip(&mut events)
            .map_err(|e| wl_error(&label, e))?;
        let wake = Arc::new(
            rustix::event::eventfd(
                0,
                rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
            )
            .map_err(|e| crate::sys::error::named(&label, e))?,
        );
        let lock = Mutex::create(
            &format!(
                r"Local\pipework.clipboard.wayland-{}",
                file_key(&fold(&socket.to_string_lossy()))
            ),
            false,
        )?;
        let qh = queue.handle();
        let thread_wake = wake.clone();
        std::thread::Builder::new()
            .name("pipework-clipboard-wayland".into())
            .spawn(move || serve(queue, events, &thread_wake))?;
        Ok(Wayland {
            label,
            lock,
            shared,
            conn,
            qh,
            manager,
            device,
            wake,
            socket,
        })
    }

    fn state(&self) -> MutexGuard<'_, Owned> {
        self.shared.state()
    }

    fn err(&self, e: impl std::fmt::Display) -> io::Error {
        wl_error(&self.label, e)
    }

    pub(crate) fn sequence_number(&self) -> io::Result<u64> {
        self.sync()?;
        Ok(self.shared.changes.count())
    }

    pub(crate) fn owner(&self) -> io::Result<Option<u32>> {
        self.sync()?;
        Ok(self.state().owned.then(std::process::id))
    }

    pub(crate) fn listen(&self) -> io::Result<Listener> {
        let keep: Arc<dyn std::any::Any + Send + Sync> = self.shared.clone();
        self.shared.changes.listen(&self.label, keep)
    }

    pub(crate) fn owned_by(&self, renderer: &Arc<RenderShared>) -> bool {
        let state = self.state();
        state.owned
            && state
                .renderer
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(r, renderer))
    }

    /// Puts a new source offering the current formats on the selection and waits until the
    /// compositor has answered (the `selection` event that follows has been counted).
    fn publish(&self) -> io::Result<()> {
        {
            let mut state = self.state();
            if state.gone {
                return Err(error(
                    ErrorKind::BrokenPipe,
                    &self.label,
                    "the connection to the compositor is gone",
                ));
            }
            let mut names: Vec<String> = Vec::new();
            for offer in &state.offers {
                for name in mime::names_of_format(offer.format)? {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            state.generation += 1;
            let generation = state.generation;
            let source = self.manager.create_data_source(&self.qh, generation);
            for name in names {
                source.offer(name);
            }
            self.device.set_selection(Some(&source));
            state.source = Some((source, generation));
            state.owned = true;
        }
        self.sync()
    }

    /// A `wl_display.sync` round trip, answered on the session's thread.
    fn sync(&self) -> io::Result<()> {
        let done = Arc::new(Done::default());
        self.conn.display().sync(&self.qh, done.clone());
        self.conn.flush().map_err(|e| self.err(e))?;
        let deadline = Instant::now() + SYNC_TIMEOUT;
        let mut finished = done.done.lock().unwrap_or_else(|p| p.into_inner());
        while !*finished {
            if self.state().gone {
                return Err(error(
                    ErrorKind::BrokenPipe,
                    &self.label,
                    "the connection to the compositor is gone",
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(error(
                    ErrorKind::TimedOut,
                    &self.label,
                    format_args!("the compositor did not answer within {SYNC_TIMEOUT:?}"),
                ));
            }
            finished = done
                .cv
                .wait_timeout(finished, left.min(Duration::from_millis(200)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }

    pub(crate) fn empty(&self, renderer: Option<Arc<RenderShared>>) -> io::Result<()> {
        let previous = {
            let mut state = self.state();
            state.offers.clear();
            let previous = if state.owned {
                state.renderer.take()
            } else {
                None
            };
            state.renderer = renderer.clone();
            previous
        };
        // WM_DESTROYCLIPBOARD for an owner of this process that another renderer replaces.
        if let Some(previous) = previous {
            if !renderer.as_ref().is_some_and(|r| Arc::ptr_eq(r, &previous)) {
                previous.destroy_notice();
            }
        }
        self.publish()
    }

    pub(crate) fn put(&self, format: u32, data: Option<&[u8]>) -> io::Result<()> {
        if !self.state().owned {
            self.empty(None)?;
        }
        {
            let mut state = self.state();
            let data = data.map(|d| Arc::new(d.to_vec()));
            match state.offers.iter_mut().find(|o| o.format == format) {
                Some(offer) => offer.data = data,
                None => state.offers.push(Offer { format, data }),
            }
        }
        self.publish()
    }

    /// The formats on the clipboard: this process's offers when it owns it, else those the
    /// selection's MIME types stand for.
    pub(crate) fn formats(&self) -> io::Result<Vec<u32>> {
        self.sync()?;
        let names = {
            let state = self.state();
            if state.owned {
                return Ok(state.offers.iter().map(|o| o.format).collect());
            }
            match &state.selection {
                Some((_, names)) => names.clone(),
                None => return Ok(Vec::new()),
            }
        };
        let mut formats = Vec::new();
        for name in names {
            if let Some(format) = mime::format_of_name(&name)? {
                if !formats.contains(&format) {
                    formats.push(format);
                }
            }
        }
        Ok(formats)
    }

    pub(crate) fn get(&self, format: u32) -> io::Result<Option<Vec<u8>>> {
        self.sync()?;
        let (offer, names) = {
            let state = self.state();
            if state.owned {
                let Some(i) = state.offers.iter().position(|o| o.format == format) else {
                    return Ok(None);
                };
                let offer = state.offers[i].clone();
                drop(state);
                return Ok(self.shared.data_of(&offer).map(|d| d.to_vec()));
            }
            match &state.selection {
                Some((offer, names)) => (offer.clone(), names.clone()),
                None => return Ok(None),
            }
        };
        let wanted = mime::names_of_format(format)?;
        let mut candidates: Vec<&String> = wanted.iter().filter(|n| names.contains(n)).collect();
        if is_text(format) {
            // Any spelling of UTF-8 text the owner offers.
            candidates.extend(
                names
                    .iter()
                    .filter(|n| mime::is_text_name(n) && !wanted.contains(n)),
            );
        }
        for name in candidates {
            let data = self.receive(&offer, name)?;
            if let Some(win32) = mime::from_wire(format, name, data) {
                return Ok(Some(win32));
            }
        }
        Ok(None)
    }

    /// The selection's data as `name`, through a pipe.
    fn receive(&self, offer: &ZwlrDataControlOfferV1, name: &str) -> io::Result<Vec<u8>> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| crate::sys::error::named(&self.label, e))?;
        offer.receive(name.to_string(), write.as_fd());
        self.conn.flush().map_err(|e| self.err(e))?;
        drop(write);
        read_all(read, &self.label)
    }

    pub(crate) fn render_all(
        &self,
        renderer: &Arc<RenderShared>,
        timeout: Duration,
    ) -> io::Result<usize> {
        if !self.owned_by(renderer) {
            return Ok(0);
        }
        let delayed: Vec<u32> = self
            .state()
            .offers
            .iter()
            .filter(|o| o.data.is_none())
            .map(|o| o.format)
            .collect();
        let mut rendered = 0;
        for format in delayed {
            let data = renderer.render(format).map(Arc::new);
            let mut state = self.state();
            match data {
                Some(d) => {
                    rendered += 1;
                    if let Some(o) = state.offers.iter_mut().find(|o| o.format == format) {
                        o.data = Some(d);
                    }
                }
                None => state.offers.retain(|o| o.format != format),
            }
        }
        let offers = {
            let mut state = self.state();
            state.renderer = None;
            state.offers.clone()
        };
        self.hand_to_keeper(offers, timeout.max(SYNC_TIMEOUT))?;
        Ok(rendered)
    }

    /// Starts the keeper that serves `offers` after this process, and waits until its source is
    /// the selection.
    fn hand_to_keeper(&self, offers: Vec<Offer>, timeout: Duration) -> io::Result<()> {
        let offers: Vec<(u32, Arc<Vec<u8>>)> = offers
            .into_iter()
            .filter_map(|o| Some((o.format, o.data?)))
            .collect();
        let mut names: Vec<(String, u32)> = Vec::new();
        for (format, _) in &offers {
            for name in mime::names_of_format(*format)? {
                if !names.iter().any(|(n, _)| *n == name) {
                    names.push((name, *format));
                }
            }
        }
        let keeper = Keeper {
            socket: self.socket.clone(),
            offers,
            names,
        };
        let mut listener = self.listen()?;
        crate::sys::keeper::fork_detached(move || keeper.run())
            .map_err(|e| crate::sys::error::named(&self.label, e))?;
        // The keeper's selection cancels this process's source: wait for that.
        let deadline = Instant::now() + timeout;
        while self.state().owned {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || listener.wait(Some(left))?.is_none() {
                return Err(error(
                    ErrorKind::TimedOut,
                    &self.label,
                    "the keeper of the clipboard did not take it in time",
                ));
            }
        }
        Ok(())
    }
}

impl Drop for Wayland {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        let _ = rustix::io::write(&*self.wake, &1u64.to_ne_bytes());
    }
}

/// Reads `fd` to its end, at most [`MAX_DATA`] bytes, each read waiting at most
/// [`RENDER_TIMEOUT`].
fn read_all(fd: OwnedFd, label: &str) -> io::Result<Vec<u8>> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + RENDER_TIMEOUT;
    let mut data = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(error(
                ErrorKind::TimedOut,
                label,
                format_args!(
                    "the selection's owner did not send its data within {RENDER_TIMEOUT:?}"
                ),
            ));
        }
        let ts = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(crate::sys::error::named(label, e)),
        }
        match rustix::io::read(&fd, &mut chunk) {
            Ok(0) => return Ok(data),
            Ok(n) => {
                data.extend_from_slice(&chunk[..n]);
                if data.len() as u64 > MAX_DATA {
                    return Err(error(
                        ErrorKind::InvalidData,
                        label,
                        format_args!("the selection's owner sent more than {MAX_DATA} bytes"),
                    ));
                }
            }
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
            Err(e) => return Err(crate::sys::error::named(label, e)),
        }
    }
}

/// Writes all of `data` to a paster's `fd`, waiting at most [`RENDER_TIMEOUT`] for it to read;
/// a paster that went away ends it (no `SIGPIPE`).
fn write_all(fd: &OwnedFd, data: &[u8]) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + RENDER_TIMEOUT;
    if let Ok(flags) = rustix::fs::fcntl_getfl(fd) {
        let _ = rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK);
    }
    let mut at = 0;
    while at < data.len() {
        match crate::sys::write_no_sigpipe(fd.as_fd(), &data[at..]) {
            Ok(n) => at += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                let ts = Timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                };
                let mut fds = [PollFd::new(fd, PollFlags::OUT)];
                let _ = poll(&mut fds, Some(&ts));
            }
            Err(_) => return,
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, Owned> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a change and wakes every listener.
    fn changed(&self) {
        self.changes.changed();
    }

    /// An offer's data, rendered now (once, then kept) if it was delayed.
    fn data_of(&self, offer: &Offer) -> Option<Arc<Vec<u8>>> {
        if let Some(data) = &offer.data {
            return Some(data.clone());
        }
        let _rendering = self.rendering.lock().unwrap_or_else(|p| p.into_inner());
        let renderer = {
            let state = self.state();
            let current = state.offers.iter().find(|o| o.format == offer.format)?;
            if let Some(data) = &current.data {
                return Some(data.clone());
            }
            // A dropped renderer (the owner's window destroyed) renders nothing.
            state
                .renderer
                .clone()
                .filter(|r| !r.stop.load(Ordering::Acquire))?
        };
        let rendered = Arc::new(renderer.render(offer.format)?);
        let mut state = self.state();
        if let Some(o) = state.offers.iter_mut().find(|o| o.format == offer.format) {
            o.data = Some(rendered.clone());
        }
        Some(rendered)
    }

    /// A paster asks for `name` of the source of `generation`: sent on a thread of its own.
    fn send(self: &Arc<Self>, generation: u64, name: String, fd: OwnedFd) {
        let offer = {
            let state = self.state();
            if state.source.as_ref().map(|(_, g)| *g) != Some(generation) {
                return;
            }
            let text = mime::is_text_name(&name);
            let found = if text {
                state
                    .offers
                    .iter()
                    .find(|o| o.format == CF_UNICODETEXT)
                    .or_else(|| state.offers.iter().find(|o| is_text(o.format)))
            } else {
                state
                    .offers
                    .iter()
                    .find(|o| mime::name_of_format(o.format).ok().as_deref() == Some(&name))
            };
            match found {
                Some(o) => o.clone(),
                None => return,
            }
        };
        let shared = self.clone();
        let _ = std::thread::Builder::new()
            .name("pipework-clipboard-wayland-send".into())
            .spawn(move || {
                let Some(data) = shared.data_of(&offer) else {
                    return;
                };
                if let Some(bytes) = mime::to_wire(offer.format, &name, &data) {
                    write_all(&fd, &bytes);
                }
            });
    }
}

/// The session's thread: dispatches events until the connection ends or the session is dropped.
fn serve(mut queue: EventQueue<Events>, mut events: Events, wake: &OwnedFd) {
    use rustix::event::{poll, PollFd, PollFlags};
    loop {
        if events.shared.stop.load(Ordering::Acquire) {
            break;
        }
        if queue.dispatch_pending(&mut events).is_err() {
            break;
        }
        if let Err(e) = queue.flush() {
            if !matches!(&e, wayland_client::backend::WaylandError::Io(io) if io.kind() == ErrorKind::WouldBlock)
            {
                break;
            }
        }
        let Some(guard) = queue.prepare_read() else {
            continue;
        };
        let (readable, woken) = {
            let conn_fd = guard.connection_fd();
            let mut fds = [
                PollFd::new(&conn_fd, PollFlags::IN),
                PollFd::new(wake, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break,
            }
            (!fds[0].revents().is_empty(), !fds[1].revents().is_empty())
        };
        if woken {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(wake, &mut buf);
        }
        if readable {
            if let Err(e) = guard.read() {
                if !matches!(&e, wayland_client::backend::WaylandError::Io(io) if io.kind() == ErrorKind::WouldBlock)
                {
                    break;
                }
            }
        }
    }
    let shared = &events.shared;
    {
        let mut state = shared.state();
        state.gone = true;
        state.owned = false;
    }
    shared.changes.close();
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for Events {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<wl_seat::WlSeat, ()> for Events {
    fn event(
        _: &mut Self,
        _: &wl_seat::WlSeat,
        _: wl_seat::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<wl_callback::WlCallback, Arc<Done>> for Events {
    fn event(
        _: &mut Self,
        _: &wl_callback::WlCallback,
        _: wl_callback::Event,
        done: &Arc<Done>,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        *done.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        done.cv.notify_all();
    }
}

impl Dispatch<ZwlrDataControlManagerV1, ()> for Events {
    fn event(
        _: &mut Self,
        _: &ZwlrDataControlManagerV1,
        _: <ZwlrDataControlManagerV1 as Proxy>::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZwlrDataControlDeviceV1, ()> for Events {
    fn event(
        events: &mut Self,
        _: &ZwlrDataControlDeviceV1,
        event: zwlr_data_control_device_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_data_control_device_v1::Event;
        let shared = &events.shared;
        match event {
            Event::DataOffer { id } => {
                shared.state().introduced.insert(id.id(), (id, Vec::new()));
            }
            Event::Selection { id } => {
                {
                    let mut state = shared.state();
                    let new = id.and_then(|o| state.introduced.remove(&o.id()));
                    if let Some((old, _)) = std::mem::replace(&mut state.selection, new) {
                        old.destroy();
                    }
                }
                shared.changed();
            }
            Event::PrimarySelection { id: Some(o) } => {
                if let Some((o, _)) = shared.state().introduced.remove(&o.id()) {
                    o.destroy();
                }
            }
            Event::Finished => {
                let mut state = shared.state();
                state.gone = true;
                state.owned = false;
            }
            _ => {}
        }
    }

    event_created_child!(Events, ZwlrDataControlDeviceV1, [
        zwlr_data_control_device_v1::EVT_DATA_OFFER_OPCODE => (ZwlrDataControlOfferV1, ()),
    ]);
}

impl Dispatch<ZwlrDataControlOfferV1, ()> for Events {
    fn event(
        events: &mut Self,
        offer: &ZwlrDataControlOfferV1,
        event: zwlr_data_control_offer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwlr_data_control_offer_v1::Event::Offer { mime_type } = event {
            let mut state = events.shared.state();
            if let Some((_, names)) = state.introduced.get_mut(&offer.id()) {
                // A bound on what one offer may list.
                if names.len() < 4096 {
                    names.push(mime_type);
                }
            }
        }
    }
}

impl Dispatch<ZwlrDataControlSourceV1, u64> for Events {
    fn event(
        events: &mut Self,
        source: &ZwlrDataControlSourceV1,
        event: zwlr_data_control_source_v1::Event,
        generation: &u64,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_data_control_source_v1::Event;
        let shared = &events.shared;
        match event {
            Event::Send { mime_type, fd } => shared.send(*generation, mime_type, fd),
            Event::Cancelled => {
                source.destroy();
                let renderer = {
                    let mut state = shared.state();
                    if state.source.as_ref().map(|(_, g)| *g) != Some(*generation) {
                        // An earlier source of this process's, replaced by a later one.
                        return;
                    }
                    // Another client took the selection (Win32's WM_DESTROYCLIPBOARD).
                    state.source = None;
                    state.owned = false;
                    state.offers.clear();
                    state.renderer.take()
                };
                if let Some(renderer) = renderer {
                    renderer.destroy_notice();
                }
            }
            _ => {}
        }
    }
}

/// What a keeper serves: the formats with their data, and the MIME types offered.
struct Keeper {
    socket: PathBuf,
    offers: Vec<(u32, Arc<Vec<u8>>)>,
    names: Vec<(String, u32)>,
}

/// The keeper's event state: serves its source until it is cancelled.
struct KeeperEvents {
    keeper: Arc<Keeper>,
    done: bool,
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Keeper {
    /// Runs in the forked keeper: its own connection, one source, answers until cancelled.
    fn run(self) -> i32 {
        let Ok(stream) = UnixStream::connect(&self.socket) else {
            return 1;
        };
        let Ok(conn) = Connection::from_socket(stream) else {
            return 1;
        };
        let Ok((globals, mut queue)) = registry_queue_init::<KeeperEvents>(&conn) else {
            return 1;
        };
        let qh = queue.handle();
        let Ok(manager) = globals.bind::<ZwlrDataControlManagerV1, _, _>(&qh, 1..=2, ()) else {
            return 1;
        };
        let Ok(seat) = globals.bind::<wl_seat::WlSeat, _, _>(&qh, 1..=1, ()) else {
            return 1;
        };
        let device = manager.get_data_device(&seat, &qh, ());
        let keeper = Arc::new(self);
        let source = manager.create_data_source(&qh, ());
        for (name, _) in &keeper.names {
            source.offer(name.clone());
        }
        device.set_selection(Some(&source));
        let mut events = KeeperEvents {
            keeper,
            done: false,
            writers: Vec::new(),
        };
        while !events.done {
            if queue.blocking_dispatch(&mut events).is_err() {
                break;
            }
        }
        // Pastes under way finish before the keeper goes.
        for writer in events.writers.drain(..) {
            let _ = writer.join();
        }
        0
    }
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for KeeperEvents {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<wl_seat::WlSeat, ()> for KeeperEvents {
    fn event(
        _: &mut Self,
        _: &wl_seat::WlSeat,
        _: wl_seat::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZwlrDataControlManagerV1, ()> for KeeperEvents {
    fn event(
        _: &mut Self,
        _: &ZwlrDataControlManagerV1,
        _: <ZwlrDataControlManagerV1 as Proxy>::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZwlrDataControlDeviceV1, ()> for KeeperEvents {
    fn event(
        _: &mut Self,
        _: &ZwlrDataControlDeviceV1,
        event: zwlr_data_control_device_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_data_control_device_v1::Event;
        match event {
            Event::DataOffer { id } => id.destroy(),
            Event::Finished => {}
            _ => {}
        }
    }

    event_created_child!(KeeperEvents, ZwlrDataControlDeviceV1, [
        zwlr_data_control_device_v1::EVT_DATA_OFFER_OPCODE => (ZwlrDataControlOfferV1, ()),
    ]);
}

impl Dispatch<ZwlrDataControlOfferV1, ()> for KeeperEvents {
    fn event(
        _: &mut Self,
        _: &ZwlrDataControlOfferV1,
        _: zwlr_data_control_offer_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ZwlrDataControlSourceV1, ()> for KeeperEvents {
    fn event(
        events: &mut Self,
        _: &ZwlrDataControlSourceV1,
        event: zwlr_data_control_source_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use zwlr_data_control_source_v1::Event;
        match event {
            Event::Send { mime_type, fd } => {
                let keeper = events.keeper.clone();
                events.writers.retain(|w| !w.is_finished());
                let writer = std::thread::Builder::new().spawn(move || {
                    let Some(format) = keeper
                        .names
                        .iter()
                        .find(|(n, _)| *n == mime_type)
                        .map(|(_, f)| *f)
                    else {
                        return;
                    };
                    let Some((_, data)) = keeper.offers.iter().find(|(f, _)| *f == format) else {
                        return;
                    };
                    if let Some(bytes) = mime::to_wire(format, &mime_type, data) {
                        write_all(&fd, &bytes);
                    }
                });
                if let Ok(writer) = writer {
                    events.writers.push(writer);
                }
            }
            Event::Cancelled => events.done = true,
            _ => {}
        }
    }
}
