//! Message windows: what `WM_COPYDATA` and DDE stand on. A process creates a window with a class
//! name and a title (`CreateWindow` for a message-only window); other processes of the same
//! user find it (`FindWindow`, `EnumWindows`) and send it messages (`SendMessage`,
//! `SendMessageTimeout`, `PostMessage`, broadcasts), which its owner handles on a thread of its
//! own ([`Window::spawn`]) or pumps itself ([`Window::get_message`], [`Window::peek_message`]).
//!
//! ```
//! use pipework::window::{self, Window, WM_USER};
//!
//! let title = format!("doc-{}", std::process::id());
//! let window = Window::create("PipeworkDoc", &title)?;
//! let hwnd = window.hwnd();
//! // Double whatever wParam says.
//! let _thread = window.spawn(|m| m.wparam() as isize * 2);
//!
//! let found = window::find_window(Some("pipeworkdoc"), Some(&title))?.expect("found");
//! assert_eq!(found, hwnd);
//! assert_eq!(window::send_message(found, WM_USER, 21, 0)?, 42);
//! assert_eq!(window::copy_data(found, 7, b"some bytes", None)?, 0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreateWindowEx(HWND_MESSAGE, class, title)` / `DestroyWindow` | [`Window::create`], [`WindowOptions`] / drop |
//! | `FindWindow(class, title)` / `EnumWindows` | [`find_window`] / [`list`] |
//! | `SendMessage` / `SendMessageTimeout` (`SMTO_ABORTIFHUNG`) | [`send_message`] / [`send_message_timeout`], [`send`] |
//! | `PostMessage` | [`post_message`], [`post`] |
//! | `HWND_BROADCAST` | [`broadcast`], [`broadcast_post`] |
//! | `GetMessage` / `PeekMessage(PM_REMOVE)` / `MsgWaitForMultipleObjects` | [`Window::get_message`] / [`Window::peek_message`] / [`Window::get_message_timeout`] |
//! | a window procedure on the window's thread | [`Window::spawn`] |
//! | `ReplyMessage`, `InSendMessage` | [`Message::reply`], [`Message::is_sent`] |
//! | `WM_COPYDATA` (`COPYDATASTRUCT`) | [`copy_data`], [`Window::copy_data`], [`Message::copy_data`] |
//! | `IsHungAppWindow` | [`WindowOptions::hung_after`] |
//!
//! # Messages
//!
//! A message is what Win32 passes: a number `msg: u32`, `wparam: usize`, `lparam: isize`, and
//! the handler's result `isize`. Win32 messages that point at memory (`WM_COPYDATA`'s
//! `COPYDATASTRUCT`) become messages that carry bytes ([`Outgoing::data`], [`Message::data`]):
//! pointers mean nothing in another process. `WM_COPYDATA` is `msg` [`WM_COPYDATA`], `wparam`
//! the sending window's handle (0 for none), `lparam` the kind (`dwData`) and the bytes its data;
//! the receiver sees them read-only, valid only while it holds the message.
//!
//! Sent messages are handled before posted ones, each in the order it came, one at a time. A
//! window's posted queue holds at most 10,000 messages (Win32's default quota) and 64 MiB of
//! data; a post to a full queue fails with `QuotaExceeded`.
//!
//! # Where windows live
//!
//! A window is a Unix-domain socket in this user's private directory of the object layer
//! (`name::directory(Local, Kind::Window)`), named after its handle, with a note beside it
//! (`.<handle>`: the owner's pid, the class and the title). Only this user's processes reach
//! them: the session's windows are the user's. There is no daemon: each window's process
//! accepts its senders itself, on a thread of the library's, and each sender gets a reader
//! thread of its own there. A process that ends (even by `kill -9`) takes its sockets with it:
//! its windows stop being listed, their files are removed by the next [`list`], and a send to
//! them fails at once with `NotFound`.

mod blob;
pub(crate) mod recv;
mod send;
mod wire;

#[cfg(feature = "tokio")]
mod async_io;
#[cfg(feature = "tokio")]
pub use async_io::{copy_data_async, send_async};

pub use recv::{Message, Origin};
pub use send::{
    broadcast, broadcast_post, copy_data, post, post_message, send, send_message,
    send_message_timeout, set_memfd_threshold, Outgoing, SendOptions, MEMFD_THRESHOLD,
};

pub(crate) use send::transact;
pub(crate) use wire::Op;

use std::fmt;
use std::io::{self, ErrorKind};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::name::lease::{self, Lease};
use crate::name::{fold, Kind, Namespace};
use crate::sys::error::{invalid, named};

/// `WM_NULL`: does nothing; a cheap "are you there".
pub const WM_NULL: u32 = 0x0000;
/// `WM_CLOSE`.
pub const WM_CLOSE: u32 = 0x0010;
/// `WM_COPYDATA`: data handed to another process's window.
pub const WM_COPYDATA: u32 = 0x004A;
/// `WM_USER`: the first message number a window class may use for its own.
pub const WM_USER: u32 = 0x0400;
/// `WM_APP`: the first message number an application may use for its own.
pub const WM_APP: u32 = 0x8000;

/// A window's handle (`HWND`): unique among the windows of this machine's users for as long
/// as they run (64 random bits). Written as `0x` and 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hwnd(pub(crate) u64);

impl Hwnd {
    /// The handle as a number.
    pub fn as_raw(self) -> u64 {
        self.0
    }

    /// The handle with this number (whether such a window exists is found out when sending).
    pub fn from_raw(raw: u64) -> Hwnd {
        Hwnd(raw)
    }
}

impl fmt::Display for Hwnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:016x}", self.0)
    }
}

impl FromStr for Hwnd {
    type Err = io::Error;

    /// Parses `0x` and hex digits, or decimal digits.
    fn from_str(s: &str) -> io::Result<Hwnd> {
        let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        };
        parsed
            .map(Hwnd)
            .map_err(|_| invalid(format_args!("window handle {s:?}"), "not a number"))
    }
}

/// A window of this user's session, as [`list`] finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowInfo {
    /// Its handle.
    pub hwnd: Hwnd,
    /// Its class name.
    pub class: String,
    /// Its title (window text).
    pub title: String,
    /// The process that owns it.
    pub pid: u32,
    /// Whether `HWND_BROADCAST` reaches it ([`WindowOptions::top_level`]).
    pub top_level: bool,
}

/// How a window is made: `CreateWindowEx`'s class and title, and its queue's limits.
#[derive(Clone, Debug)]
pub struct WindowOptions {
    class: String,
    title: String,
    post_limit: usize,
    post_bytes: usize,
    hung_after: Duration,
    top_level: bool,
}

impl WindowOptions {
    /// A window of class `class` with an empty title.
    pub fn new(class: &str) -> WindowOptions {
        WindowOptions {
            class: class.to_string(),
            title: String::new(),
            post_limit: 10_000,
            post_bytes: 64 << 20,
            hung_after: Duration::from_secs(5),
            top_level: false,
        }
    }

    /// Marks it a top-level window, which a Win32 `HWND_BROADCAST` reaches (the C ABI's
    /// `CreateWindowEx` with no parent). By default a window is message-only, and Windows
    /// leaves message-only windows out of broadcasts. [`broadcast`] reaches every window.
    pub fn top_level(&mut self, top_level: bool) -> &mut Self {
        self.top_level = top_level;
        self
    }

    /// The title (`lpWindowName`).
    pub fn title(&mut self, title: &str) -> &mut Self {
        self.title = title.to_string();
        self
    }

    /// The most posted messages queued at once (10,000 by default, Win32's quota).
    pub fn post_limit(&mut self, messages: usize) -> &mut Self {
        self.post_limit = messages.max(1);
        self
    }

    /// The most bytes of posted messages' data queued at once (64 MiB by default).
    pub fn post_bytes(&mut self, bytes: usize) -> &mut Self {
        self.post_bytes = bytes;
        self
    }

    /// How long a window may leave messages waiting without asking for one before it counts as
    /// hung (`IsHungAppWindow`; 5 seconds, as Win32): a send with `abort_if_hung` then fails at
    /// once.
    pub fn hung_after(&mut self, after: Duration) -> &mut Self {
        self.hung_after = after;
        self
    }

    /// Creates the window: from now on other processes of this user find it and send to it.
    pub fn create(&self) -> io::Result<Window> {
        let what: Arc<str> = format!("window class {:?}", self.class).into();
        crate::name::check_name("window class", &self.class)?;
        if self.title.contains('\0') || self.title.chars().count() > 4096 {
            return Err(invalid(
                &what,
                "a title holds at most 4096 characters and no NUL",
            ));
        }
        let dir = crate::name::directory(Namespace::Local, Kind::Window)?;
        let (hwnd, path, listener) = loop {
            let hwnd = Hwnd(random_u64()?);
            if hwnd.0 == 0 {
                continue;
            }
            let path = dir.join(file_name(hwnd));
            match UnixListener::bind(&path) {
                Ok(l) => break (hwnd, path, l),
                Err(e) if e.kind() == ErrorKind::AddrInUse => continue,
                Err(e) => return Err(named(&what, e)),
            }
        };
        let anchor = lease::identity_of(&path).map_err(|e| named(&what, e))?;
        let note = note_path(&path);
        let lease = Lease::sole(
            Kind::Window,
            format!("{}/{}", self.class, self.title),
            path,
            anchor,
            vec![note.clone()],
        );
        let temp = note.with_extension("new");
        let mut text = format!("{}\0{}\0{}", std::process::id(), self.class, self.title);
        if self.top_level {
            text.push_str("\0top");
        }
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, &note))
            .map_err(|e| named(&what, e))?;
        let what: Arc<str> = format!("window {hwnd} ({:?}, {:?})", self.class, self.title).into();
        let shared = Arc::new(recv::Shared::new(
            hwnd,
            self.post_limit,
            self.post_bytes,
            self.hung_after,
        ));
        let wake = listener.try_clone().map_err(|e| named(&what, e))?;
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("pipework-window-accept".into())
            .stack_size(128 << 10)
            .spawn(move || recv::accept_loop(listener, accepting))
            .map_err(|e| named(&what, e))?;
        Ok(Window {
            shared,
            class: self.class.clone(),
            title: self.title.clone(),
            listener: wake,
            lease: Some(lease),
        })
    }
}

/// A message window of this process: listed, found and sent to by other processes while it
/// lives; destroyed (`DestroyWindow`) when dropped, answering whatever still waits in its queue
/// with "destroyed".
#[derive(Debug)]
pub struct Window {
    shared: Arc<recv::Shared>,
    class: String,
    title: String,
    listener: UnixListener,
    lease: Option<Lease>,
}

impl Window {
    /// `CreateWindowEx` of a message-only window with `class` and `title`.
    pub fn create(class: &str, title: &str) -> io::Result<Window> {
        WindowOptions::new(class).title(title).create()
    }

    /// Its handle.
    pub fn hwnd(&self) -> Hwnd {
        self.shared.hwnd
    }

    /// Its class name.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// Its title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// `GetMessage`: the next message, waiting as long as it takes. Sent messages come before
    /// posted ones.
    pub fn get_message(&self) -> Message {
        loop {
            if let Some(m) = self.shared.wait(None) {
                return m;
            }
        }
    }

    /// The next message, waiting at most `timeout` (`None` when none came).
    pub fn get_message_timeout(&self, timeout: Duration) -> Option<Message> {
        self.shared.wait(Some(timeout))
    }

    /// `PeekMessage(PM_REMOVE)`: the next message if one waits, without waiting.
    pub fn peek_message(&self) -> Option<Message> {
        self.shared.take()
    }

    /// Messages waiting in the queue now (`GetQueueStatus`).
    pub fn queued(&self) -> usize {
        self.shared.queued()
    }

    /// `WM_COPYDATA` to `target` naming this window as the sender.
    pub fn copy_data(
        &self,
        target: Hwnd,
        kind: usize,
        data: &[u8],
        timeout: Option<Duration>,
    ) -> io::Result<isize> {
        send::copy_data_as(Some(self.hwnd()), target, kind, data, timeout)
    }

    /// Runs `handler` (the window procedure) on a thread of its own for every message, its
    /// result answering each sent one. The window lives until the returned [`WindowThread`]
    /// is dropped or closed.
    pub fn spawn<F>(self, mut handler: F) -> WindowThread
    where
        F: FnMut(&Message) -> isize + Send + 'static,
    {
        let hwnd = self.hwnd();
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::clone(&self.shared);
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("pipework-window-proc".into())
            .spawn(move || {
                let window = self;
                while !stopping.load(Ordering::Acquire) {
                    let Some(m) = window.shared.wait(None) else {
                        break;
                    };
                    let result = handler(&m);
                    m.reply(result);
                }
                drop(window);
            })
            .ok();
        WindowThread {
            hwnd,
            stop,
            shared,
            thread,
        }
    }

    pub(crate) fn shared(&self) -> &Arc<recv::Shared> {
        &self.shared
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        self.shared.close();
        // Wakes the accepting thread, which then ends (and closes its copy of the socket).
        let _ = rustix::net::shutdown(&self.listener, rustix::net::Shutdown::Both);
        drop(self.lease.take());
    }
}

/// A window whose handler runs on its own thread ([`Window::spawn`]). Dropping it destroys the
/// window without waiting for the thread; [`WindowThread::close`] waits.
#[derive(Debug)]
pub struct WindowThread {
    hwnd: Hwnd,
    stop: Arc<AtomicBool>,
    shared: Arc<recv::Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WindowThread {
    /// The window's handle.
    pub fn hwnd(&self) -> Hwnd {
        self.hwnd
    }

    /// Destroys the window once its handler returns, and waits for that.
    pub fn close(mut self) {
        self.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn signal(&self) {
        self.stop.store(true, Ordering::Release);
        self.shared.close();
    }
}

impl Drop for WindowThread {
    fn drop(&mut self) {
        self.signal();
    }
}

fn random_u64() -> io::Result<u64> {
    use rustix::rand::{getrandom, GetRandomFlags};
    let mut b = [0u8; 8];
    let mut got = 0;
    while got < b.len() {
        got += crate::sys::retry(|| getrandom(&mut b[got..], GetRandomFlags::empty()))?;
    }
    Ok(u64::from_le_bytes(b))
}

fn file_name(hwnd: Hwnd) -> String {
    format!("{:016x}", hwnd.0)
}

fn note_path(socket: &Path) -> PathBuf {
    let mut note = std::ffi::OsString::from(".");
    note.push(socket.file_name().unwrap_or_default());
    socket.with_file_name(note)
}

/// The socket of window `hwnd`.
pub(crate) fn socket_path(hwnd: Hwnd) -> io::Result<PathBuf> {
    Ok(crate::name::directory(Namespace::Local, Kind::Window)?.join(file_name(hwnd)))
}

/// The note of a window: (pid, class, title, top level).
fn read_note(note: &Path) -> Option<(u32, String, String, bool)> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut text = String::new();
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(note)
        .ok()?
        .take(64 << 10)
        .read_to_string(&mut text)
        .ok()?;
    // A title holds no NUL: a fourth field is a mark.
    let mut parts = text.splitn(4, '\0');
    let pid = parts.next()?.parse().ok()?;
    let class = parts.next()?.to_string();
    let title = parts.next()?.to_string();
    let top_level = parts.next() == Some("top");
    Some((pid, class, title, top_level))
}

/// The paths of the Unix-domain sockets listening now (`/proc/net/unix`, `__SO_ACCEPTCON`).
fn listening_sockets() -> io::Result<std::collections::HashSet<PathBuf>> {
    const ACCEPTING: u32 = 1 << 16;
    let table = std::fs::read_to_string("/proc/net/unix")?;
    Ok(table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(fields.get(3)?, 16).ok()?;
            let path = fields.get(7..)?.join(" ");
            (flags & ACCEPTING != 0 && path.starts_with('/')).then(|| PathBuf::from(path))
        })
        .collect())
}

/// `EnumWindows`: every window of this user's session, sorted by class, then title. The files
/// of windows whose process ended are removed on the way.
pub fn list() -> io::Result<Vec<WindowInfo>> {
    let dir = crate::name::directory(Namespace::Local, Kind::Window)?;
    // The directory first, then which sockets listen: a window made meanwhile is not seen at
    // all, rather than seen without its listener. A note is written after its socket listens,
    // so a socket whose note was there before the look at the listeners, and which did not
    // listen then, has lost its owner.
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| named(dir.display(), e))? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(text) = name.to_str() else { continue };
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Ok(raw) = u64::from_str_radix(text, 16) else {
            continue;
        };
        let path = entry.path();
        let note = note_path(&path);
        let noted = note.exists();
        found.push((raw, path, note, noted));
    }
    let listening = listening_sockets().map_err(|e| named("window list", e))?;
    let mut out = Vec::new();
    for (raw, path, note, noted) in found {
        if !listening.contains(&path) {
            // Its owner ended, or (no note yet) it is being made. Removed when it was made
            // whole, or is old enough that its maker cannot still be at it, and refuses a
            // connection now.
            let old = std::fs::symlink_metadata(&path).is_ok_and(|m| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .is_ok_and(|now| now.as_secs() as i64 - m.mtime() > 60)
            });
            if (noted || old) && !listener_alive(&path) {
                if let Ok(anchor) = lease::identity_of(&path) {
                    if let Err(e) = lease::reclaim_sole(anchor, &path, std::slice::from_ref(&note))
                    {
                        lease::keep(e);
                    }
                }
            }
            continue;
        }
        let Some((pid, class, title, top_level)) = read_note(&note) else {
            continue;
        };
        out.push(WindowInfo {
            hwnd: Hwnd(raw),
            class,
            title,
            pid,
            top_level,
        });
    }
    out.sort_by(|a, b| {
        (fold(&a.class), fold(&a.title), a.hwnd).cmp(&(fold(&b.class), fold(&b.title), b.hwnd))
    });
    Ok(out)
}

/// Whether a listener answers at `path`, asked without waiting (a socket left by a process
/// that ended refuses).
fn listener_alive(path: &Path) -> bool {
    use rustix::io::Errno;
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let Ok(probe) = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    ) else {
        return true;
    };
    let Ok(addr) = SocketAddrUnix::new(path) else {
        return true;
    };
    !matches!(
        crate::sys::retry(|| rustix::net::connect(&probe, &addr)),
        Err(Errno::CONNREFUSED) | Err(Errno::NOENT)
    )
}

/// `FindWindow(class, title)`: the first window (in [`list`]'s order) whose class and title
/// match, compared without regard to case; `None` for either matches any.
pub fn find_window(class: Option<&str>, title: Option<&str>) -> io::Result<Option<Hwnd>> {
    Ok(find_windows(class, title)?.first().map(|w| w.hwnd))
}

/// Every window whose class and title match, as [`find_window`] compares them.
pub fn find_windows(class: Option<&str>, title: Option<&str>) -> io::Result<Vec<WindowInfo>> {
    let class = class.map(fold);
    let title = title.map(fold);
    Ok(list()?
        .into_iter()
        .filter(|w| {
            class.as_ref().is_none_or(|c| *c == fold(&w.class))
                && title.as_ref().is_none_or(|t| *t == fold(&w.title))
        })
        .collect())
}
