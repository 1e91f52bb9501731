//! The clipboard, with Win32's rules: one opener at a time, the emptier becomes the owner, data
//! in several formats at once (most descriptive first), text formats made from one another,
//! registered and private formats, delayed rendering by the owner, a sequence number and change
//! listeners. On the desktop's own clipboard (Wayland's selection through the data-control
//! protocol, feature `wayland`; X11's `CLIPBOARD` selection, feature `x11`) when there is a
//! display, else on a headless clipboard of the session ([`Session::system`] says the order).
//!
//! ```
//! use std::time::Duration;
//! use pipework::clipboard::{Session, CF_TEXT, CF_UNICODETEXT};
//!
//! let session = Session::headless(&format!("doc-{}", std::process::id()))?;
//! {
//!     let mut clipboard = session.open(Duration::from_secs(5))?; // OpenClipboard
//!     clipboard.empty()?; // EmptyClipboard: this process owns it now
//!     clipboard.set_text("hello")?; // SetClipboardData(CF_UNICODETEXT, ..)
//! } // CloseClipboard
//! let clipboard = session.open(Duration::from_secs(5))?;
//! assert_eq!(clipboard.get_text()?.as_deref(), Some("hello"));
//! assert_eq!(clipboard.get(CF_TEXT)?.as_deref(), Some(&b"hello\0"[..])); // synthesized
//! assert_eq!(clipboard.formats()?[0], CF_UNICODETEXT);
//! # drop(clipboard); session.remove()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Win32 | pipework |
//! |---|---|
//! | `OpenClipboard` / `CloseClipboard` | [`Session::open`], [`Renderer::open`] / drop the [`Clipboard`] |
//! | `EmptyClipboard` | [`Clipboard::empty`] |
//! | `SetClipboardData(format, data)` | [`Clipboard::set`], [`Clipboard::set_text`] |
//! | `SetClipboardData(format, NULL)` (delayed rendering) | [`Clipboard::set_delayed`] |
//! | `GetClipboardData` | [`Clipboard::get`], [`Clipboard::get_text`] |
//! | `EnumClipboardFormats` / `CountClipboardFormats` | [`Clipboard::formats`] / [`Session::count_formats`] |
//! | `IsClipboardFormatAvailable` | [`Session::is_format_available`] |
//! | `GetClipboardSequenceNumber` | [`Session::sequence_number`] |
//! | `GetClipboardOwner` | [`Session::owner`] (a process id) |
//! | `RegisterClipboardFormat` / `GetClipboardFormatName` | [`register_format`] / [`format_name`] |
//! | `WM_RENDERFORMAT` | the callback of a [`Renderer`] |
//! | `WM_RENDERALLFORMATS` | [`Renderer::render_all`] |
//! | `WM_DESTROYCLIPBOARD` | [`Renderer::on_destroy`], [`Renderer::wait_destroyed`] |
//! | `AddClipboardFormatListener` / `WM_CLIPBOARDUPDATE` | [`Session::listen`], [`Listener::wait`]; `AsyncListener` (feature `tokio`) |
//!
//! # The rules
//! * **One opener at a time** across every process: [`Session::open`] waits up to its timeout
//!   while another holds the clipboard open and then fails with `ResourceBusy`
//!   (`OpenClipboard` fails at once; `Duration::ZERO` does the same here). The same thread may
//!   open it again while it has it open.
//! * **Ownership**: [`Clipboard::empty`] removes every format and makes the opener the owner.
//!   Win32 refuses `SetClipboardData` to an opener without a window; pipework lets any opener
//!   set data (the owner is then its process), and only delayed rendering needs a
//!   [`Renderer`] (the owner's window).
//! * **Formats** keep the order they were first set in ([`Clipboard::formats`]); setting a
//!   format again replaces its data in place. After them come the formats Win32 synthesizes:
//!   any one of `CF_UNICODETEXT`, `CF_TEXT`, `CF_OEMTEXT` makes the others available, converted
//!   from `CF_UNICODETEXT` when present (else from the first text format set). pipework's ANSI
//!   code page is UTF-8; its OEM code page is 437.
//! * **Delayed rendering**: [`Clipboard::set_delayed`] announces a format without data; the first
//!   [`Clipboard::get`] of it asks the owner's [`Renderer`] (its `WM_RENDERFORMAT`, over a named
//!   pipe), stores what it renders, and later gets read that. The owner calls
//!   [`Renderer::render_all`] before it exits cleanly (`WM_RENDERALLFORMATS`), so the data
//!   outlives it. A format whose owner died before rendering it reads as `None`. A render does
//!   not change the sequence number.
//! * **`WM_DESTROYCLIPBOARD`**: the owner's [`Renderer`] is told when another opener empties the
//!   clipboard (another process's [`Clipboard::empty`] on the headless clipboard, over the
//!   render pipe; another X11 client's selection, on `SelectionClear`; another Wayland
//!   client's, on the source's `cancelled`), and when an opener of its own process without it
//!   does. Its own emptying tells it nothing. An owner without a renderer (no window) is told
//!   nothing, as in Win32.
//! * **Sequence number**: every [`Clipboard::empty`], [`Clipboard::set`] and
//!   [`Clipboard::set_delayed`], by any process, counts one; listeners hear of the changes when
//!   the changer closes the clipboard, as `WM_CLIPBOARDUPDATE` is sent.
//!
//! # The headless clipboard
//! [`Session::headless`] (and [`Session::system`] without a display) keep the clipboard in a
//! private directory of this user (`$XDG_RUNTIME_DIR/pipework/clipboard/<name>/`, see
//! [`crate::name`]): a state file replaced whole on each change, one file per format's data, and
//! the opener lock as a named mutex (`Local\pipework.clipboard.<name>`), so a holder killed
//! with the clipboard open leaves it free. Its contents stay until the session's runtime
//! directory goes (or [`Session::remove`]). Listeners watch the directory (inotify). Data of up
//! to 256 bytes lives in the state file itself; larger data in a file of its own, read only at
//! the length the state declares (at most 1 GiB). A process re-reads the state only when its
//! file changed (the `lstat` identity of the file: each change renames a new one into place).
//!
//! # Wayland
//! The seat's selection through `zwlr_data_control_manager_v1` (`Session::wayland`);
//! [`Renderer::render_all`] hands the data to a keeper process that serves it after the owner
//! exits, as Wayland keeps no data of its own and has no clipboard-manager protocol.

mod format;
mod headless;
mod listen;
mod mime;
mod render;
mod state;
#[cfg(feature = "wayland")]
mod wayland;
#[cfg(feature = "x11")]
mod x11;

use std::io::{self, ErrorKind};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub use format::{
    decode_hdrop, decode_text, encode_hdrop, encode_text, format_by_name, format_name,
    register_format, standard_name, CF_BITMAP, CF_DIB, CF_DIBV5, CF_GDIOBJFIRST, CF_GDIOBJLAST,
    CF_HDROP, CF_LOCALE, CF_OEMTEXT, CF_PRIVATEFIRST, CF_PRIVATELAST, CF_TEXT, CF_UNICODETEXT, PNG,
    REGISTERED_FIRST,
};
#[cfg(feature = "tokio")]
pub use listen::AsyncListener;
pub use listen::Listener;
pub use render::RENDER_TIMEOUT;

use crate::sync::MutexGuard;
use crate::sys::error::{error, invalid};
use headless::Store;
use state::{Data, Entry, State};

/// A clipboard: the session's ([`Session::system`]) or a named headless one
/// ([`Session::headless`]).
#[derive(Debug, Clone)]
pub struct Session {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    Headless(Arc<Store>),
    #[cfg(feature = "x11")]
    X11(Arc<x11::X11>),
    #[cfg(feature = "wayland")]
    Wayland(Arc<wayland::Wayland>),
}

/// Which backend a [`Session`] is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A headless clipboard of this user.
    Headless,
    /// The X11 `CLIPBOARD` selection.
    X11,
    /// The Wayland seat's selection (data-control protocol).
    Wayland,
}

impl Session {
    /// The session's clipboard, the first of:
    /// 1. the Wayland display's selection, when `WAYLAND_DISPLAY` is set, the `wayland` feature
    ///    is built, and the compositor offers the data-control protocol;
    /// 2. the X11 display's `CLIPBOARD` selection, when `DISPLAY` is set and the `x11` feature
    ///    is built (under Xwayland too, when the compositor offers no data-control);
    /// 3. the headless clipboard named `default`.
    pub fn system() -> io::Result<Session> {
        #[cfg(feature = "wayland")]
        if std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty()) {
            if let Ok(session) = Session::wayland(None) {
                return Ok(session);
            }
        }
        #[cfg(feature = "x11")]
        if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) {
            return Session::x11(None);
        }
        Session::headless("default")
    }

    /// The headless clipboard `name` of this user (1 to 256 characters, no backslash),
    /// shared by every process of the user that opens the same name.
    pub fn headless(name: &str) -> io::Result<Session> {
        Ok(Session {
            inner: Inner::Headless(Arc::new(Store::open(name)?)),
        })
    }

    /// The `CLIPBOARD` selection of the X11 display `display` (`None`: `$DISPLAY`).
    #[cfg(feature = "x11")]
    pub fn x11(display: Option<&str>) -> io::Result<Session> {
        Ok(Session {
            inner: Inner::X11(Arc::new(x11::X11::connect(display)?)),
        })
    }

    /// The selection of the Wayland display `display` (`None`: `$WAYLAND_DISPLAY`; a relative
    /// name is under `$XDG_RUNTIME_DIR`), through the compositor's data-control protocol
    /// (`Unsupported` when it offers none).
    #[cfg(feature = "wayland")]
    pub fn wayland(display: Option<&str>) -> io::Result<Session> {
        Ok(Session {
            inner: Inner::Wayland(Arc::new(wayland::Wayland::connect(display)?)),
        })
    }

    /// Which backend it is on.
    pub fn backend(&self) -> Backend {
        match &self.inner {
            Inner::Headless(_) => Backend::Headless,
            #[cfg(feature = "x11")]
            Inner::X11(_) => Backend::X11,
            #[cfg(feature = "wayland")]
            Inner::Wayland(_) => Backend::Wayland,
        }
    }

    fn label(&self) -> &str {
        match &self.inner {
            Inner::Headless(s) => &s.label,
            #[cfg(feature = "x11")]
            Inner::X11(x) => &x.label,
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => &w.label,
        }
    }

    fn lock(&self) -> &crate::sync::Mutex {
        match &self.inner {
            Inner::Headless(s) => &s.lock,
            #[cfg(feature = "x11")]
            Inner::X11(x) => &x.lock,
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => &w.lock,
        }
    }

    /// `OpenClipboard`: opens the clipboard for this thread, waiting up to `timeout` while
    /// another opener has it (`Duration::ZERO`: not at all). `ResourceBusy` when it stayed busy.
    pub fn open(&self, timeout: Duration) -> io::Result<Clipboard<'_>> {
        self.open_as(None, timeout)
    }

    fn open_as<'a>(
        &'a self,
        renderer: Option<&'a Renderer>,
        timeout: Duration,
    ) -> io::Result<Clipboard<'a>> {
        // A holder killed with the clipboard open leaves the lock abandoned: the state it
        // protects is replaced whole on each change, so nothing is half-written.
        let guard = self.lock().lock_timeout(timeout)?.ok_or_else(|| {
            error(
                ErrorKind::ResourceBusy,
                self.label(),
                format_args!("another process has it open (waited {timeout:?})"),
            )
        })?;
        Ok(Clipboard {
            session: self,
            renderer,
            changed: false,
            _guard: guard,
            _not_send: PhantomData,
        })
    }

    /// `GetClipboardSequenceNumber`: the count of changes. Headless: every change by any
    /// process counts, and the number lives as long as the clipboard. X11: the changes this
    /// process has seen since it first asked (see the `x11` module notes).
    pub fn sequence_number(&self) -> io::Result<u64> {
        match &self.inner {
            Inner::Headless(s) => Ok(s.state()?.seq),
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.sequence_number(),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.sequence_number(),
        }
    }

    /// `IsClipboardFormatAvailable` (the clipboard need not be open): whether `format` can be
    /// had, set, delayed or synthesized.
    pub fn is_format_available(&self, format: u32) -> io::Result<bool> {
        Ok(self.available()?.contains(&format))
    }

    /// `CountClipboardFormats`: how many formats are on the clipboard (not counting synthesized
    /// ones).
    pub fn count_formats(&self) -> io::Result<usize> {
        match &self.inner {
            Inner::Headless(s) => Ok(s.state()?.formats.len()),
            #[cfg(feature = "x11")]
            Inner::X11(x) => Ok(x.formats()?.len()),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => Ok(w.formats()?.len()),
        }
    }

    /// Every format available, in order, synthesized ones last.
    fn available(&self) -> io::Result<Vec<u32>> {
        let mut formats = match &self.inner {
            Inner::Headless(s) => placed(&s.state()?),
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.formats()?,
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.formats()?,
        };
        formats.extend(format::synthesized(&formats));
        Ok(formats)
    }

    /// `GetClipboardOwner`: the owning process's id, `None` when nobody owns the clipboard
    /// (or, on X11, when the owner is not a pipework process of this machine).
    pub fn owner(&self) -> io::Result<Option<u32>> {
        match &self.inner {
            Inner::Headless(s) => Ok(Some(s.state()?.owner).filter(|&p| p != 0)),
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.owner(),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.owner(),
        }
    }

    /// `AddClipboardFormatListener`: a listener that hears of every later change.
    pub fn listen(&self) -> io::Result<Listener> {
        match &self.inner {
            Inner::Headless(s) => {
                let fd = listen::watch_store(s)?;
                Listener::new(fd, listen::Source::Headless(s.clone()), None)
            }
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.listen(),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.listen(),
        }
    }

    /// A renderer for delayed formats (the owner window's `WM_RENDERFORMAT`): `render` is
    /// called with a format number, on a thread of the renderer's, whenever another process
    /// first asks for a format this owner announced with [`Clipboard::set_delayed`]; it returns
    /// the data, or `None` if it cannot. It must not open the clipboard (the asker holds it).
    pub fn renderer(
        &self,
        render: impl FnMut(u32) -> Option<Vec<u8>> + Send + 'static,
    ) -> io::Result<Renderer> {
        let shared = Arc::new(render::Shared::new(Box::new(render)));
        let pipe = match &self.inner {
            Inner::Headless(_) => {
                let mut random = [0u8; 8];
                let _ = rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty());
                let pipe = format!(
                    r"\\.\pipe\pipework.clipboard-render.{}.{:016x}",
                    std::process::id(),
                    u64::from_le_bytes(random)
                );
                render::serve(&pipe, shared.clone())?;
                Some(pipe)
            }
            #[cfg(feature = "x11")]
            Inner::X11(_) => None,
            #[cfg(feature = "wayland")]
            Inner::Wayland(_) => None,
        };
        Ok(Renderer {
            session: self.clone(),
            pipe,
            shared,
        })
    }

    /// The directory of a headless clipboard's files (`None` for X11 and Wayland).
    pub fn directory(&self) -> Option<&std::path::Path> {
        match &self.inner {
            Inner::Headless(s) => Some(&s.dir),
            #[cfg(feature = "x11")]
            Inner::X11(_) => None,
            #[cfg(feature = "wayland")]
            Inner::Wayland(_) => None,
        }
    }

    /// Removes a headless clipboard's files (its contents and sequence number); a later use
    /// starts it afresh. Nothing for X11 and Wayland.
    pub fn remove(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Headless(s) => match std::fs::remove_dir_all(&s.dir) {
                Err(e) if e.kind() != ErrorKind::NotFound => {
                    Err(crate::sys::error::named(&s.label, e))
                }
                _ => Ok(()),
            },
            #[cfg(feature = "x11")]
            Inner::X11(_) => Ok(()),
            #[cfg(feature = "wayland")]
            Inner::Wayland(_) => Ok(()),
        }
    }
}

fn placed(state: &State) -> Vec<u32> {
    state.formats.iter().map(|e| e.format).collect()
}

/// An owner's renderer of delayed formats (its window, for `WM_RENDERFORMAT` and
/// `WM_RENDERALLFORMATS`): made by [`Session::renderer`]. Open the clipboard through it
/// ([`Renderer::open`]) to own the clipboard with the right to announce delayed formats.
///
/// Dropping it stops its thread (waking it with a short, bounded connection); formats it had
/// not rendered are then gone, as when a Win32 owner's window is destroyed without
/// `WM_RENDERALLFORMATS`. Call [`Renderer::render_all`] first to keep them.
pub struct Renderer {
    session: Session,
    pipe: Option<String>,
    shared: Arc<render::Shared>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("pipe", &self.pipe)
            .finish()
    }
}

impl Renderer {
    /// `OpenClipboard(hwnd)`: opens the clipboard as this renderer's owner, so that
    /// [`Clipboard::set_delayed`] may follow [`Clipboard::empty`].
    pub fn open(&self, timeout: Duration) -> io::Result<Clipboard<'_>> {
        self.session.open_as(Some(self), timeout)
    }

    /// `WM_RENDERALLFORMATS`: if this renderer still owns the clipboard, opens it (waiting up to
    /// `timeout`) and renders every format it announced and nobody asked for yet, so the data
    /// outlives this process. Returns how many formats it rendered.
    ///
    /// Where the data then lives: headless, in the clipboard's files; on X11, with a clipboard
    /// manager when one runs (else it goes with this process); on Wayland, with a keeper: a
    /// process forked from this one (every inherited descriptor closed) that serves every
    /// format until another client takes the selection; this call returns once the keeper has
    /// it (`TimedOut` after `timeout`, at least 10 s).
    pub fn render_all(&self, timeout: Duration) -> io::Result<usize> {
        match &self.session.inner {
            Inner::Headless(store) => {
                let clipboard = self.open(timeout)?;
                let mut state = store.state()?;
                if state.renderer != self.pipe {
                    return Ok(0);
                }
                let mut rendered = 0;
                for i in 0..state.formats.len() {
                    if state.formats[i].data != Data::Delayed {
                        continue;
                    }
                    let format = state.formats[i].format;
                    if let Some(data) = self.shared.render(format) {
                        state.formats[i].data = store.write_data(&data)?;
                        rendered += 1;
                    }
                }
                state.formats.retain(|e| e.data != Data::Delayed);
                state.renderer = None;
                store.write_state(&state)?;
                drop(clipboard);
                Ok(rendered)
            }
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.render_all(&self.shared, timeout),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.render_all(&self.shared, timeout),
        }
    }

    /// `WM_DESTROYCLIPBOARD`: `f` is called (on a thread of pipework's) each time the clipboard
    /// this renderer owns is emptied by another opener (another process's
    /// [`Clipboard::empty`], another X11 client taking the selection, another Wayland client
    /// replacing it), or by an opener of this process without this renderer. It replaces an
    /// earlier callback; it must not open the clipboard.
    pub fn on_destroy(&self, f: impl FnMut() + Send + 'static) {
        *self
            .shared
            .on_destroy
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// Waits up to `timeout` for a `WM_DESTROYCLIPBOARD` (see [`on_destroy`](Self::on_destroy))
    /// that no earlier wait took; whether one came.
    pub fn wait_destroyed(&self, timeout: Duration) -> bool {
        self.shared.wait_destroyed(timeout)
    }

    #[cfg(any(feature = "x11", feature = "wayland"))]
    pub(crate) fn shared(&self) -> &Arc<render::Shared> {
        &self.shared
    }
}

impl Drop for Renderer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(pipe) = &self.pipe {
            render::wake(pipe);
        }
    }
}

/// The open clipboard (`OpenClipboard` succeeded); dropping it is `CloseClipboard`. It belongs
/// to the thread that opened it.
pub struct Clipboard<'a> {
    session: &'a Session,
    renderer: Option<&'a Renderer>,
    changed: bool,
    _guard: MutexGuard<'a>,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for Clipboard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clipboard")
            .field("session", &self.session.label())
            .finish()
    }
}

fn registered_name(format: u32) -> io::Result<Option<String>> {
    if format >= REGISTERED_FIRST {
        return crate::atom::clipboard_format_name(format).map(Some);
    }
    Ok(None)
}

fn check_format(label: &str, format: u32) -> io::Result<()> {
    if format == 0 || format > 0xFFFF {
        return Err(invalid(
            label,
            format_args!("{format:#x} is no clipboard format (1 to 0xFFFF)"),
        ));
    }
    Ok(())
}

impl Clipboard<'_> {
    /// `EmptyClipboard`: removes every format; the opener becomes the owner.
    ///
    /// On the headless clipboard, a state file that cannot be read (damaged, or written by
    /// another version of pipework), which every read reports as `InvalidData`, is replaced:
    /// emptying starts the clipboard afresh, its sequence number counting on from the last
    /// change listeners were told of.
    pub fn empty(&mut self) -> io::Result<()> {
        self.changed = true;
        match &self.session.inner {
            Inner::Headless(store) => {
                // A state that cannot be read (damaged, or written by another version of
                // pipework) holds nothing anyone can have: emptying starts the clipboard
                // afresh, counting on from the last change its listeners were told of.
                let (old, readable) = match store.state() {
                    Ok(old) => (old, true),
                    Err(e) if e.kind() == ErrorKind::InvalidData => (
                        State {
                            seq: store.update_count()?,
                            ..State::default()
                        },
                        false,
                    ),
                    Err(e) => return Err(e),
                };
                let state = State {
                    seq: old.seq + 1,
                    owner: std::process::id(),
                    renderer: self.renderer.and_then(|r| r.pipe.clone()),
                    formats: Vec::new(),
                };
                store.write_state(&state)?;
                // WM_DESTROYCLIPBOARD to the owner's window, unless it empties it itself.
                if let Some(pipe) = &old.renderer {
                    if old.renderer != state.renderer {
                        render::notify_destroy(pipe);
                    }
                }
                if readable {
                    store.sweep_after(&old, &state)
                } else {
                    store.sweep(&state)
                }
            }
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.empty(self.renderer.map(|r| r.shared().clone())),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.empty(self.renderer.map(|r| r.shared().clone())),
        }
    }

    fn put(&mut self, format: u32, data: Option<&[u8]>) -> io::Result<()> {
        let label = self.session.label();
        check_format(label, format)?;
        self.changed = true;
        match &self.session.inner {
            Inner::Headless(store) => {
                let mut state = store.state()?;
                let data = match data {
                    Some(bytes) => store.write_data(bytes)?,
                    None => Data::Delayed,
                };
                let name = registered_name(format)?;
                let old = match state.formats.iter_mut().find(|e| e.format == format) {
                    Some(entry) => Some(std::mem::replace(&mut entry.data, data)),
                    None => {
                        if state.formats.len() == state::MAX_FORMATS {
                            return Err(error(
                                ErrorKind::OutOfMemory,
                                label,
                                format_args!("it holds {} formats already", state::MAX_FORMATS),
                            ));
                        }
                        state.formats.push(Entry { format, name, data });
                        None
                    }
                };
                state.seq += 1;
                store.write_state(&state)?;
                if let Some(Data::File(file, _)) = old {
                    store.remove_data(&file);
                }
                Ok(())
            }
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.put(format, data),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.put(format, data),
        }
    }

    /// `SetClipboardData(format, data)`: puts `data` on the clipboard as `format` (1 to 0xFFFF),
    /// after the formats already there, or in place of the data `format` had. Text formats hold
    /// their NUL terminator, as in Win32 ([`encode_text`]).
    pub fn set(&mut self, format: u32, data: &[u8]) -> io::Result<()> {
        self.put(format, Some(data))
    }

    /// `SetClipboardData(CF_UNICODETEXT, text)`: `text` as UTF-16LE with its NUL.
    pub fn set_text(&mut self, text: &str) -> io::Result<()> {
        self.set(CF_UNICODETEXT, &encode_text(CF_UNICODETEXT, text))
    }

    /// `SetClipboardData(format, NULL)`: announces `format` without data, for the owner's
    /// [`Renderer`] to render when first asked. Only for a clipboard opened through a renderer
    /// ([`Renderer::open`]) that owns it (after [`empty`](Self::empty)): else `PermissionDenied`.
    pub fn set_delayed(&mut self, format: u32) -> io::Result<()> {
        let label = self.session.label();
        let Some(renderer) = self.renderer else {
            return Err(error(
                ErrorKind::PermissionDenied,
                label,
                "delayed rendering needs the clipboard opened through a Renderer",
            ));
        };
        let owner = match &self.session.inner {
            Inner::Headless(store) => {
                let state = store.state()?;
                state.renderer == renderer.pipe && state.owner == std::process::id()
            }
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.owned_by(renderer.shared()),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.owned_by(renderer.shared()),
        };
        if !owner {
            return Err(error(
                ErrorKind::PermissionDenied,
                label,
                "only the owner (empty the clipboard first) can announce delayed formats",
            ));
        }
        self.put(format, None)
    }

    /// `GetClipboardData`: the data of `format`, rendered by its owner if it was delayed, or
    /// synthesized from another text format; `None` when the clipboard has no such format (or its
    /// owner went away without rendering it). `TimedOut` when the owner did not render within
    /// [`RENDER_TIMEOUT`].
    pub fn get(&self, format: u32) -> io::Result<Option<Vec<u8>>> {
        check_format(self.session.label(), format)?;
        let placed_formats = match &self.session.inner {
            Inner::Headless(store) => placed(&store.state()?),
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.formats()?,
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.formats()?,
        };
        if placed_formats.contains(&format) {
            return self.get_placed(format);
        }
        match format::synthesis_source(format, &placed_formats) {
            Some(source) => Ok(self
                .get_placed(source)?
                .map(|data| encode_text(format, &decode_text(source, &data)))),
            None => Ok(None),
        }
    }

    fn get_placed(&self, format: u32) -> io::Result<Option<Vec<u8>>> {
        match &self.session.inner {
            Inner::Headless(store) => {
                let mut state = store.state()?;
                let Some(i) = state.formats.iter().position(|e| e.format == format) else {
                    return Ok(None);
                };
                match &state.formats[i].data {
                    Data::File(file, len) => store.read_data(file, *len).map(Some),
                    Data::Inline(data) => Ok(Some(data.clone())),
                    Data::Delayed => {
                        let Some(pipe) = state.renderer.clone() else {
                            return Ok(None);
                        };
                        let Some(data) = render::request(&store.label, &pipe, format)? else {
                            return Ok(None);
                        };
                        // Rendered once: kept for every later reader.
                        state.formats[i].data = store.write_data(&data)?;
                        store.write_state(&state)?;
                        Ok(Some(data))
                    }
                }
            }
            #[cfg(feature = "x11")]
            Inner::X11(x) => x.get(format),
            #[cfg(feature = "wayland")]
            Inner::Wayland(w) => w.get(format),
        }
    }

    /// The text on the clipboard (from `CF_UNICODETEXT`, or converted from another text format).
    pub fn get_text(&self) -> io::Result<Option<String>> {
        Ok(self
            .get(CF_UNICODETEXT)?
            .map(|d| decode_text(CF_UNICODETEXT, &d)))
    }

    /// `EnumClipboardFormats`: every format available, in the order they were set, then the
    /// synthesized ones.
    pub fn formats(&self) -> io::Result<Vec<u32>> {
        self.session.available()
    }
}

impl Drop for Clipboard<'_> {
    fn drop(&mut self) {
        if !self.changed {
            return;
        }
        match &self.session.inner {
            Inner::Headless(store) => {
                if let Ok(state) = store.state() {
                    let _ = store.notify(state.seq);
                }
            }
            #[cfg(feature = "x11")]
            Inner::X11(_) => {}
            #[cfg(feature = "wayland")]
            Inner::Wayland(_) => {}
        }
    }
}
