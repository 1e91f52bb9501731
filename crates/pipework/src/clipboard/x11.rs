//! The X11 backend: the display's `CLIPBOARD` selection, with Win32's formats offered and read
//! as selection targets, over a pure-Rust X11 connection (x11rb) with XFixes.
//!
//! * Formats ↔ targets: the text formats ↔ `UTF8_STRING`, `text/plain;charset=utf-8`, `STRING`
//!   (Latin-1), `TEXT`, `text/plain`; the registered format `PNG` ↔ `image/png`; `CF_DIB` ↔
//!   `image/bmp` (a file header added or taken off); `CF_HDROP` ↔ `text/uri-list` (`file://`
//!   URIs); any other registered format ↔ the atom of its name (so `text/html` is a registered
//!   format named `text/html`); other formats ↔ `application/x-pipework-cf-N`.
//! * Owning: [`Clipboard::empty`](super::Clipboard::empty) takes the selection; a thread of this
//!   session, on its own connection and window, answers every `SelectionRequest` from the
//!   formats set since, rendering a delayed format (once) when it is first asked for, and
//!   sends data larger than a chunk by the INCR protocol. Reads convert the selection on a
//!   second connection and take INCR transfers too.
//! * Changes: XFixes `SelectionNotify` events on `CLIPBOARD` (a new owner, by any client) and
//!   this process's own changes count in the sequence number and wake listeners. The number is
//!   this process's count since it connected: X11 keeps no global one.
//! * After the owner exits: [`Renderer::render_all`](super::Renderer::render_all) renders every
//!   delayed format and, when a clipboard manager owns `CLIPBOARD_MANAGER`, hands the data to it
//!   (`SAVE_TARGETS`), so it stays. **Limitation:** without a clipboard manager the data goes
//!   with the owning process, as with any X11 program; `pipework clipboard set` stays in the
//!   background serving it (as `xclip` does) until another client takes the selection.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex as ProcessMutex};
use std::time::{Duration, Instant};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{
    Atom, AtomEnum, ChangeWindowAttributesAux, ClientMessageEvent, ConnectionExt as _,
    CreateWindowAux, EventMask, PropMode, Property, SelectionNotifyEvent, SelectionRequestEvent,
    Window, WindowClass, SELECTION_NOTIFY_EVENT,
};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::{CURRENT_TIME, NONE};

use super::format::{
    decode_hdrop, decode_text, encode_hdrop, encode_text, is_text, CF_DIB, CF_HDROP,
    CF_UNICODETEXT, PNG,
};
use super::listen::{Changes, Listener};
use super::mime::{self, bmp_to_dib, dib_to_bmp, paths_to_uri_list, uri_list_to_paths};
use super::render::{Shared, MAX_DATA, RENDER_TIMEOUT};
use crate::name::{file_key, fold};
use crate::sync::Mutex;
use crate::sys::error::error;

fn x_error(label: &str, e: impl std::fmt::Display) -> io::Error {
    error(ErrorKind::Other, label, format_args!("X11: {e}"))
}

/// The atoms the backend uses (interned once; atoms are the server's, the same on every
/// connection).
#[derive(Debug, Clone, Copy)]
struct Atoms {
    clipboard: Atom,
    targets: Atom,
    timestamp: Atom,
    incr: Atom,
    utf8_string: Atom,
    text: Atom,
    text_plain_utf8: Atom,
    text_plain: Atom,
    image_png: Atom,
    image_bmp: Atom,
    uri_list: Atom,
    manager: Atom,
    save_targets: Atom,
    data: Atom,
    save: Atom,
    wake: Atom,
}

impl Atoms {
    fn intern(conn: &RustConnection, label: &str) -> io::Result<Atoms> {
        let names: [&[u8]; 16] = [
            b"CLIPBOARD",
            b"TARGETS",
            b"TIMESTAMP",
            b"INCR",
            b"UTF8_STRING",
            b"TEXT",
            b"text/plain;charset=utf-8",
            b"text/plain",
            b"image/png",
            b"image/bmp",
            b"text/uri-list",
            b"CLIPBOARD_MANAGER",
            b"SAVE_TARGETS",
            b"PIPEWORK_DATA",
            b"PIPEWORK_SAVE",
            b"PIPEWORK_WAKE",
        ];
        let cookies: Vec<_> = names
            .iter()
            .map(|n| conn.intern_atom(false, n))
            .collect::<Result<_, _>>()
            .map_err(|e| x_error(label, e))?;
        let mut atoms = Vec::new();
        for cookie in cookies {
            atoms.push(cookie.reply().map_err(|e| x_error(label, e))?.atom);
        }
        Ok(Atoms {
            clipboard: atoms[0],
            targets: atoms[1],
            timestamp: atoms[2],
            incr: atoms[3],
            utf8_string: atoms[4],
            text: atoms[5],
            text_plain_utf8: atoms[6],
            text_plain: atoms[7],
            image_png: atoms[8],
            image_bmp: atoms[9],
            uri_list: atoms[10],
            manager: atoms[11],
            save_targets: atoms[12],
            data: atoms[13],
            save: atoms[14],
            wake: atoms[15],
        })
    }

    fn text_targets(&self) -> [Atom; 5] {
        [
            self.utf8_string,
            self.text_plain_utf8,
            AtomEnum::STRING.into(),
            self.text,
            self.text_plain,
        ]
    }
}

/// One format this process offers.
#[derive(Debug)]
struct Offer {
    format: u32,
    /// `None`: delayed, rendered when first asked for.
    data: Option<Arc<Vec<u8>>>,
}

/// An INCR transfer under way to a requestor.
#[derive(Debug)]
struct Transfer {
    data: Arc<Vec<u8>>,
    kind: Atom,
    offset: usize,
}

#[derive(Debug, Default)]
struct Owned {
    owned: bool,
    offers: Vec<Offer>,
    renderer: Option<Arc<Shared>>,
    transfers: HashMap<(Window, Atom), Transfer>,
    /// Set when the clipboard manager answered `SAVE_TARGETS`.
    saved: bool,
}

/// The owner side: the connection and window of the serving thread.
#[derive(Debug)]
struct Owner {
    label: String,
    conn: RustConnection,
    window: Window,
    atoms: Atoms,
    state: ProcessMutex<Owned>,
    saved: Condvar,
    changes: Changes,
    stop: AtomicBool,
    chunk: usize,
}

/// The reading side: a second connection and window.
#[derive(Debug)]
struct Reader {
    conn: RustConnection,
    window: Window,
}

/// An X11 display's clipboard.
#[derive(Debug)]
pub(crate) struct X11 {
    pub(crate) label: String,
    pub(crate) lock: Mutex,
    owner: Arc<Owner>,
    reader: ProcessMutex<Reader>,
}

fn window(conn: &RustConnection, screen: usize, label: &str) -> io::Result<Window> {
    let root = conn
        .setup()
        .roots
        .get(screen)
        .ok_or_else(|| x_error(label, "no such screen"))?
        .root;
    let window = conn.generate_id().map_err(|e| x_error(label, e))?;
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        window,
        root,
        0,
        0,
        1,
        1,
        0,
        WindowClass::INPUT_OUTPUT,
        x11rb::COPY_FROM_PARENT,
        &CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE),
    )
    .map_err(|e| x_error(label, e))?;
    Ok(window)
}

impl X11 {
    pub(crate) fn connect(display: Option<&str>) -> io::Result<X11> {
        let shown = display
            .map(str::to_string)
            .or_else(|| std::env::var("DISPLAY").ok())
            .unwrap_or_default();
        let label = format!("clipboard of X11 display {shown}");
        let (conn, screen) = RustConnection::connect(display).map_err(|e| {
            error(
                ErrorKind::NotFound,
                &label,
                format_args!("cannot connect: {e}"),
            )
        })?;
        let (rconn, rscreen) = RustConnection::connect(display).map_err(|e| x_error(&label, e))?;
        let atoms = Atoms::intern(&conn, &label)?;
        conn.xfixes_query_version(5, 0)
            .map_err(|e| x_error(&label, e))?
            .reply()
            .map_err(|e| x_error(&label, format_args!("no XFixes extension: {e}")))?;
        let owner_window = window(&conn, screen, &label)?;
        let reader_window = window(&rconn, rscreen, &label)?;
        conn.xfixes_select_selection_input(
            owner_window,
            atoms.clipboard,
            xfixes::SelectionEventMask::SET_SELECTION_OWNER
                | xfixes::SelectionEventMask::SELECTION_WINDOW_DESTROY
                | xfixes::SelectionEventMask::SELECTION_CLIENT_CLOSE,
        )
        .map_err(|e| x_error(&label, e))?;
        conn.flush().map_err(|e| x_error(&label, e))?;
        rconn.flush().map_err(|e| x_error(&label, e))?;
        // Chunks well under the largest request, and at most 1 MiB.
        let chunk = (conn.maximum_request_bytes() / 4).clamp(4096, 1 << 20);
        let lock = Mutex::create(
            &format!(r"Local\pipework.clipboard.x11-{}", file_key(&fold(&shown))),
            false,
        )?;
        let owner = Arc::new(Owner {
            label: label.clone(),
            conn,
            window: owner_window,
            atoms,
            state: ProcessMutex::new(Owned::default()),
            saved: Condvar::new(),
            changes: Changes::default(),
            stop: AtomicBool::new(false),
            chunk,
        });
        let serving = owner.clone();
        std::thread::Builder::new()
            .name("pipework-clipboard-x11".into())
            .spawn(move || serving.serve())?;
        Ok(X11 {
            label,
            lock,
            owner,
            reader: ProcessMutex::new(Reader {
                conn: rconn,
                window: reader_window,
            }),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> io::Error {
        x_error(&self.label, e)
    }

    pub(crate) fn sequence_number(&self) -> io::Result<u64> {
        Ok(self.owner.changes.count())
    }

    pub(crate) fn owner(&self) -> io::Result<Option<u32>> {
        Ok(self.owner.owns().then(std::process::id))
    }

    pub(crate) fn listen(&self) -> io::Result<Listener> {
        let keep: Arc<dyn std::any::Any + Send + Sync> = self.owner.clone();
        self.owner.changes.listen(&self.label, keep)
    }

    pub(crate) fn owned_by(&self, renderer: &Arc<Shared>) -> bool {
        let state = self.owner.state();
        state.owned
            && state
                .renderer
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(r, renderer))
    }

    pub(crate) fn empty(&self, renderer: Option<Arc<Shared>>) -> io::Result<()> {
        let previous = {
            let mut state = self.owner.state();
            state.offers.clear();
            let previous = if state.owned {
                state.renderer.take()
            } else {
                None
            };
            state.renderer = renderer.clone();
            state.owned = true;
            previous
        };
        // WM_DESTROYCLIPBOARD for an owner of this process that another renderer replaces.
        if let Some(previous) = previous {
            if !renderer.as_ref().is_some_and(|r| Arc::ptr_eq(r, &previous)) {
                previous.destroy_notice();
            }
        }
        let conn = &self.owner.conn;
        conn.set_selection_owner(self.owner.window, self.owner.atoms.clipboard, CURRENT_TIME)
            .map_err(|e| self.err(e))?;
        let now = conn
            .get_selection_owner(self.owner.atoms.clipboard)
            .map_err(|e| self.err(e))?
            .reply()
            .map_err(|e| self.err(e))?
            .owner;
        if now != self.owner.window {
            self.owner.state().owned = false;
            return Err(error(
                ErrorKind::PermissionDenied,
                &self.label,
                "the X server did not give this client the CLIPBOARD selection",
            ));
        }
        Ok(())
    }

    pub(crate) fn put(&self, format: u32, data: Option<&[u8]>) -> io::Result<()> {
        if !self.owner.owns() {
            self.empty(None)?;
        }
        {
            let mut state = self.owner.state();
            let data = data.map(|d| Arc::new(d.to_vec()));
            match state.offers.iter_mut().find(|o| o.format == format) {
                Some(offer) => offer.data = data,
                None => state.offers.push(Offer { format, data }),
            }
        }
        self.owner.changed();
        Ok(())
    }

    /// The formats on the clipboard: this process's offers when it owns it, else those the
    /// owner's `TARGETS` stand for.
    pub(crate) fn formats(&self) -> io::Result<Vec<u32>> {
        if self.owner.owns() {
            return Ok(self.owner.state().offers.iter().map(|o| o.format).collect());
        }
        let Some((targets, _)) = self.convert(self.owner.atoms.targets)? else {
            return Ok(Vec::new());
        };
        let atoms: Vec<Atom> = targets
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut formats = Vec::new();
        for atom in atoms {
            if let Some(format) = self.format_of_target(atom)? {
                if !formats.contains(&format) {
                    formats.push(format);
                }
            }
        }
        Ok(formats)
    }

    fn format_of_target(&self, target: Atom) -> io::Result<Option<u32>> {
        let a = &self.owner.atoms;
        if a.text_targets().contains(&target) {
            return Ok(Some(CF_UNICODETEXT));
        }
        if target == a.image_png {
            return super::register_format(PNG).map(Some);
        }
        if target == a.image_bmp {
            return Ok(Some(CF_DIB));
        }
        if target == a.uri_list {
            return Ok(Some(CF_HDROP));
        }
        if [a.targets, a.timestamp, a.save_targets].contains(&target) {
            return Ok(None);
        }
        let name = self.atom_name(target)?;
        mime::format_of_name(&name)
    }

    fn atom_name(&self, atom: Atom) -> io::Result<String> {
        let reader = self.reader();
        let name = reader
            .conn
            .get_atom_name(atom)
            .map_err(|e| self.err(e))?
            .reply()
            .map_err(|e| self.err(e))?
            .name;
        Ok(String::from_utf8_lossy(&name).into_owned())
    }

    fn reader(&self) -> std::sync::MutexGuard<'_, Reader> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, format: u32) -> io::Result<Option<Vec<u8>>> {
        let a = self.owner.atoms;
        let candidates: Vec<Atom> = if is_text(format) {
            vec![a.utf8_string, a.text_plain_utf8, AtomEnum::STRING.into()]
        } else {
            vec![self.target_of_format(format)?]
        };
        for target in candidates {
            let Some((data, _)) = self.convert(target)? else {
                continue;
            };
            let win32 = if target == AtomEnum::STRING.into() {
                let text: String = data.iter().map(|&b| char::from(b)).collect();
                encode_text(CF_UNICODETEXT, &text)
            } else if is_text(format) {
                encode_text(CF_UNICODETEXT, &String::from_utf8_lossy(&data))
            } else if format == CF_DIB {
                match bmp_to_dib(&data) {
                    Some(dib) => dib,
                    None => continue,
                }
            } else if format == CF_HDROP {
                encode_hdrop(&uri_list_to_paths(&data))
            } else {
                data
            };
            return Ok(Some(win32));
        }
        Ok(None)
    }

    fn target_of_format(&self, format: u32) -> io::Result<Atom> {
        target_of_format(&self.owner.conn, &self.owner.atoms, format, &self.label)
    }

    /// Converts the selection to `target` on the reading connection: the data and its type, or
    /// `None` when the owner refused (or there is none). Takes INCR transfers.
    fn convert(&self, target: Atom) -> io::Result<Option<(Vec<u8>, Atom)>> {
        let reader = self.reader();
        let conn = &reader.conn;
        let a = &self.owner.atoms;
        let deadline = Instant::now() + RENDER_TIMEOUT;
        let e = |e: &dyn std::fmt::Display| x_error(&self.label, e);
        conn.delete_property(reader.window, a.data)
            .map_err(|x| e(&x))?;
        conn.convert_selection(reader.window, a.clipboard, target, a.data, CURRENT_TIME)
            .map_err(|x| e(&x))?;
        conn.flush().map_err(|x| e(&x))?;
        let property = loop {
            match next_event(conn, deadline, &self.label)? {
                Event::SelectionNotify(n) if n.requestor == reader.window && n.target == target => {
                    break n.property;
                }
                _ => {}
            }
        };
        if property == NONE {
            return Ok(None);
        }
        let (data, kind) = read_property(conn, reader.window, property, true, &self.label)?;
        if kind != a.incr {
            return Ok(Some((data, kind)));
        }
        // INCR: the property was deleted by the read above, which starts the transfer; each
        // new value is one chunk, and an empty one ends it.
        let mut all = Vec::new();
        let mut kind = NONE;
        loop {
            match next_event(conn, deadline, &self.label)? {
                Event::PropertyNotify(p)
                    if p.window == reader.window
                        && p.atom == property
                        && p.state == Property::NEW_VALUE =>
                {
                    let (chunk, k) =
                        read_property(conn, reader.window, property, true, &self.label)?;
                    if chunk.is_empty() {
                        return Ok(Some((all, kind)));
                    }
                    kind = k;
                    all.extend_from_slice(&chunk);
                    if all.len() as u64 > MAX_DATA {
                        return Err(too_much(&self.label));
                    }
                }
                _ => {}
            }
        }
    }

    pub(crate) fn render_all(
        &self,
        renderer: &Arc<Shared>,
        timeout: Duration,
    ) -> io::Result<usize> {
        if !self.owned_by(renderer) {
            return Ok(0);
        }
        let delayed: Vec<u32> = self
            .owner
            .state()
            .offers
            .iter()
            .filter(|o| o.data.is_none())
            .map(|o| o.format)
            .collect();
        let mut rendered = 0;
        for format in delayed {
            let data = renderer.render(format).map(Arc::new);
            let mut state = self.owner.state();
            if data.is_some() {
                rendered += 1;
            }
            match data {
                Some(d) => {
                    if let Some(o) = state.offers.iter_mut().find(|o| o.format == format) {
                        o.data = Some(d);
                    }
                }
                None => state.offers.retain(|o| o.format != format),
            }
        }
        self.owner.state().renderer = None;
        // Hand the data to a clipboard manager, when there is one.
        let conn = &self.owner.conn;
        let a = &self.owner.atoms;
        let manager = conn
            .get_selection_owner(a.manager)
            .map_err(|e| self.err(e))?
            .reply()
            .map_err(|e| self.err(e))?
            .owner;
        if manager != NONE {
            self.owner.state().saved = false;
            conn.convert_selection(
                self.owner.window,
                a.manager,
                a.save_targets,
                a.save,
                CURRENT_TIME,
            )
            .map_err(|e| self.err(e))?;
            conn.flush().map_err(|e| self.err(e))?;
            let deadline = Instant::now() + timeout;
            let mut state = self.owner.state();
            while !state.saved {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(error(
                        ErrorKind::TimedOut,
                        &self.label,
                        "the clipboard manager did not take the data in time",
                    ));
                }
                state = self
                    .owner
                    .saved
                    .wait_timeout(state, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        Ok(rendered)
    }
}

impl Drop for X11 {
    fn drop(&mut self) {
        self.owner.stop.store(true, Ordering::Release);
        let wake = ClientMessageEvent::new(32, self.owner.window, self.owner.atoms.wake, [0u32; 5]);
        let _ = self
            .owner
            .conn
            .send_event(false, self.owner.window, EventMask::NO_EVENT, wake);
        let _ = self.owner.conn.flush();
    }
}

fn target_of_format(
    conn: &RustConnection,
    a: &Atoms,
    format: u32,
    label: &str,
) -> io::Result<Atom> {
    let name = match format {
        CF_DIB => return Ok(a.image_bmp),
        CF_HDROP => return Ok(a.uri_list),
        _ => mime::name_of_format(format)?,
    };
    if name == "image/png" {
        return Ok(a.image_png);
    }
    Ok(conn
        .intern_atom(false, name.as_bytes())
        .map_err(|e| x_error(label, e))?
        .reply()
        .map_err(|e| x_error(label, e))?
        .atom)
}

fn too_much(label: &str) -> io::Error {
    error(
        ErrorKind::InvalidData,
        label,
        format_args!("the selection's owner sent more than {MAX_DATA} bytes"),
    )
}

/// The next event of `conn`, waiting until `deadline` at most.
fn next_event(conn: &RustConnection, deadline: Instant, label: &str) -> io::Result<Event> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    loop {
        if let Some(event) = conn.poll_for_event().map_err(|e| x_error(label, e))? {
            return Ok(event);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(error(
                ErrorKind::TimedOut,
                label,
                format_args!("the selection's owner did not answer within {RENDER_TIMEOUT:?}"),
            ));
        }
        let ts = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        };
        let mut fds = [PollFd::new(conn.stream(), PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A whole property's value and type, read in pieces; deleted after when `delete`.
fn read_property(
    conn: &RustConnection,
    window: Window,
    property: Atom,
    delete: bool,
    label: &str,
) -> io::Result<(Vec<u8>, Atom)> {
    let mut data = Vec::new();
    let mut kind;
    loop {
        let reply = conn
            .get_property(
                delete,
                window,
                property,
                AtomEnum::ANY,
                (data.len() / 4) as u32,
                1 << 20,
            )
            .map_err(|e| x_error(label, e))?
            .reply()
            .map_err(|e| x_error(label, e))?;
        kind = reply.type_;
        data.extend_from_slice(&reply.value);
        if data.len() as u64 > MAX_DATA {
            return Err(too_much(label));
        }
        if reply.bytes_after == 0 || reply.value.is_empty() {
            break;
        }
    }
    Ok((data, kind))
}

impl Owner {
    fn state(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn owns(&self) -> bool {
        self.state().owned
    }

    /// Counts a change and wakes every listener.
    fn changed(&self) {
        self.changes.changed();
    }

    /// The serving thread: its loop, then (the connection closed, or the session dropped) this
    /// process owns nothing any more and its listeners hear that the watcher is gone.
    fn serve(&self) {
        self.serve_events();
        self.state().owned = false;
        self.changes.close();
    }

    fn serve_events(&self) {
        loop {
            let event = match self.conn.wait_for_event() {
                Ok(event) => event,
                Err(_) => return,
            };
            if self.stop.load(Ordering::Acquire) {
                return;
            }
            match event {
                Event::SelectionRequest(request) => {
                    let _ = self.answer(&request);
                }
                Event::SelectionClear(clear) if clear.selection == self.atoms.clipboard => {
                    // Another client took the clipboard (Win32's WM_DESTROYCLIPBOARD).
                    let renderer = {
                        let mut state = self.state();
                        state.owned = false;
                        state.offers.clear();
                        state.renderer.take()
                    };
                    if let Some(renderer) = renderer {
                        renderer.destroy_notice();
                    }
                    // Listeners hear of it once this process no longer owns the clipboard.
                    self.changed();
                }
                Event::XfixesSelectionNotify(n) if n.selection == self.atoms.clipboard => {
                    self.changed();
                }
                Event::PropertyNotify(p) if p.state == Property::DELETE => {
                    let _ = self.continue_transfer(p.window, p.atom);
                }
                Event::SelectionNotify(n)
                    if n.requestor == self.window && n.selection == self.atoms.manager =>
                {
                    self.state().saved = true;
                    self.saved.notify_all();
                }
                _ => {}
            }
        }
    }

    fn targets(&self) -> Vec<Atom> {
        let a = &self.atoms;
        let formats: Vec<u32> = self.state().offers.iter().map(|o| o.format).collect();
        let mut targets = vec![a.targets, a.timestamp];
        for format in formats {
            let more: Vec<Atom> = if is_text(format) {
                a.text_targets().to_vec()
            } else {
                target_of_format(&self.conn, a, format, &self.label)
                    .map(|t| vec![t])
                    .unwrap_or_default()
            };
            for t in more {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        targets
    }

    /// The data for `target`, rendered now if it was delayed (and kept); with its type.
    fn data_for(&self, target: Atom) -> Option<(Arc<Vec<u8>>, Atom)> {
        let a = &self.atoms;
        let text = a.text_targets().contains(&target);
        let (format, data, renderer) = {
            let state = self.state();
            let offer = if text {
                state
                    .offers
                    .iter()
                    .find(|o| o.format == CF_UNICODETEXT)
                    .or_else(|| state.offers.iter().find(|o| is_text(o.format)))
            } else {
                state.offers.iter().find(|o| {
                    target_of_format(&self.conn, a, o.format, &self.label).ok() == Some(target)
                })
            }?;
            (offer.format, offer.data.clone(), state.renderer.clone())
        };
        let data = match data {
            Some(d) => d,
            None => {
                // WM_RENDERFORMAT: rendered once, then kept.
                // A dropped renderer (the owner's window destroyed) renders nothing.
                let renderer = renderer.filter(|r| !r.stop.load(Ordering::Acquire))?;
                let rendered = Arc::new(renderer.render(format)?);
                let mut state = self.state();
                if let Some(o) = state.offers.iter_mut().find(|o| o.format == format) {
                    o.data = Some(rendered.clone());
                }
                rendered
            }
        };
        if text {
            let s = decode_text(format, &data);
            let bytes = if target == AtomEnum::STRING.into() {
                s.chars()
                    .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                    .collect()
            } else {
                s.into_bytes()
            };
            let kind = if target == AtomEnum::STRING.into() {
                AtomEnum::STRING.into()
            } else {
                a.utf8_string
            };
            return Some((Arc::new(bytes), kind));
        }
        if format == CF_DIB {
            return dib_to_bmp(&data).map(|b| (Arc::new(b), target));
        }
        if format == CF_HDROP {
            let paths = decode_hdrop(&data).ok()?;
            return Some((Arc::new(paths_to_uri_list(&paths)), target));
        }
        Some((data, target))
    }

    fn answer(&self, request: &SelectionRequestEvent) -> io::Result<()> {
        let a = &self.atoms;
        let label = &self.label;
        let e = |x: &dyn std::fmt::Display| x_error(label, x);
        // Obsolete clients name no property: the target is the property then.
        let property = if request.property == NONE {
            request.target
        } else {
            request.property
        };
        let mut answered = property;
        if request.selection != a.clipboard || !self.owns() {
            answered = NONE;
        } else if request.target == a.targets {
            let targets = self.targets();
            self.conn
                .change_property32(
                    PropMode::REPLACE,
                    request.requestor,
                    property,
                    AtomEnum::ATOM,
                    &targets,
                )
                .map_err(|x| e(&x))?;
        } else if request.target == a.timestamp {
            self.conn
                .change_property32(
                    PropMode::REPLACE,
                    request.requestor,
                    property,
                    AtomEnum::INTEGER,
                    &[0],
                )
                .map_err(|x| e(&x))?;
        } else {
            match self.data_for(request.target) {
                None => answered = NONE,
                Some((data, kind)) if data.len() > self.chunk => {
                    // INCR: announce the size, then send a chunk each time the requestor
                    // deletes the property.
                    self.conn
                        .change_window_attributes(
                            request.requestor,
                            &ChangeWindowAttributesAux::new()
                                .event_mask(EventMask::PROPERTY_CHANGE),
                        )
                        .map_err(|x| e(&x))?;
                    self.conn
                        .change_property32(
                            PropMode::REPLACE,
                            request.requestor,
                            property,
                            a.incr,
                            &[u32::try_from(data.len()).unwrap_or(u32::MAX)],
                        )
                        .map_err(|x| e(&x))?;
                    self.state().transfers.insert(
                        (request.requestor, property),
                        Transfer {
                            data,
                            kind,
                            offset: 0,
                        },
                    );
                }
                Some((data, kind)) => {
                    self.conn
                        .change_property8(
                            PropMode::REPLACE,
                            request.requestor,
                            property,
                            kind,
                            &data,
                        )
                        .map_err(|x| e(&x))?;
                }
            }
        }
        let notify = SelectionNotifyEvent {
            response_type: SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: request.time,
            requestor: request.requestor,
            selection: request.selection,
            target: request.target,
            property: answered,
        };
        self.conn
            .send_event(false, request.requestor, EventMask::NO_EVENT, notify)
            .map_err(|x| e(&x))?;
        self.conn.flush().map_err(|x| e(&x))?;
        Ok(())
    }

    fn continue_transfer(&self, window: Window, property: Atom) -> io::Result<()> {
        let (chunk, kind, done) = {
            let mut state = self.state();
            let Some(t) = state.transfers.get_mut(&(window, property)) else {
                return Ok(());
            };
            let end = (t.offset + self.chunk).min(t.data.len());
            let chunk = t.data[t.offset..end].to_vec();
            t.offset = end;
            let kind = t.kind;
            let done = chunk.is_empty();
            if done {
                state.transfers.remove(&(window, property));
            }
            (chunk, kind, done)
        };
        let e = |x: &dyn std::fmt::Display| x_error(&self.label, x);
        self.conn
            .change_property8(PropMode::REPLACE, window, property, kind, &chunk)
            .map_err(|x| e(&x))?;
        if done {
            let _ = self.conn.change_window_attributes(
                window,
                &ChangeWindowAttributesAux::new().event_mask(EventMask::NO_EVENT),
            );
        }
        self.conn.flush().map_err(|x| e(&x))?;
        Ok(())
    }
}
