//! The DDE management library's model (DDEML) on message windows: a server registers a service
//! name and answers transactions on its topics' items; clients open conversations on (service,
//! topic), request, poke, execute, and hold advise links that push each change.
//!
//! ```
//! use pipework::dde::{AdviseFlags, Ack, DdeClient, DdeServer, ItemTable, CF_TEXT};
//!
//! let service = format!("Sheet{}", std::process::id());
//! let table = ItemTable::new();
//! table.set("Sheet1", "R1C1", CF_TEXT, b"42".to_vec());
//! let server = DdeServer::register(&service, table.clone())?;
//!
//! let (tx, rx) = std::sync::mpsc::channel();
//! let client = DdeClient::new(move |u| {
//!     let _ = tx.send((u.item.to_string(), u.data.map(<[u8]>::to_vec)));
//! })?;
//! let conv = client.connect(Some(&service), Some("sheet1"))?;
//! assert_eq!(conv.request("R1C1", CF_TEXT)?.as_deref(), Some(&b"42"[..]));
//! assert_eq!(conv.advise_start("R1C1", CF_TEXT, AdviseFlags::default())?, Ack::Ack);
//! assert_eq!(conv.poke("R1C1", CF_TEXT, b"43")?, Ack::Ack);
//! // A poke changes the table; the server tells the links.
//! server.post_advise("Sheet1", "R1C1");
//! let (item, data) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
//! assert_eq!((item.as_str(), data.as_deref()), ("R1C1", Some(&b"43"[..])));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | DDEML | pipework |
//! |---|---|
//! | `DdeInitialize` (server) + `DdeNameService(DNS_REGISTER)` | [`DdeServer::register`] with a [`DdeHandler`] ([`ItemTable`] is a ready one) |
//! | `DdeInitialize` (client) + its callback's `XTYP_ADVDATA` | [`DdeClient::new`], [`Advise`] |
//! | `DdeConnect` / `DdeConnectList` (null service or topic: wildcard) | [`DdeClient::connect`] / [`DdeClient::connect_list`] (`None`) |
//! | `DdeClientTransaction(XTYP_REQUEST / POKE / EXECUTE)` | [`Conversation::request`], [`Conversation::poke`], [`Conversation::execute`] |
//! | `XTYP_ADVSTART` (`XTYPF_NODATA`, `XTYPF_ACKREQ`) / `XTYP_ADVSTOP` | [`Conversation::advise_start`] ([`AdviseFlags`]) / [`Conversation::advise_stop`] |
//! | `TIMEOUT_ASYNC`, `XTYP_XACT_COMPLETE`, `DdeAbandonTransaction` | [`Conversation::start`], [`Pending`] |
//! | `DdePostAdvise` | [`DdeServer::post_advise`] |
//! | `DDE_FACK` / `DDE_FBUSY` / `DDE_FNOTPROCESSED` | [`Ack`] |
//! | `DdeDisconnect` | [`Conversation::disconnect`] |
//! | the `SYSTEM` topic: `Topics`, `SysItems`, `Formats` | answered by every server |
//!
//! # How it travels
//!
//! A server is a message window of class [`SERVER_CLASS`] titled with its service name; a client
//! instance is a window of class [`CLIENT_CLASS`]. Connecting sends `WM_DDE_INITIATE` to every
//! server window of the service (all of them for the wildcard), each answering with a
//! conversation per accepted topic. Transactions are `WM_DDE_REQUEST`, `WM_DDE_POKE`,
//! `WM_DDE_EXECUTE`, `WM_DDE_ADVISE`, `WM_DDE_UNADVISE` and `WM_DDE_TERMINATE` sent to the
//! server window (names and data in the message's bytes, not in atoms and global handles); the
//! server's thread answers them one at a time through its [`DdeHandler`].
//!
//! Advise updates go the other way, `WM_DDE_DATA` batches posted to the client's window by a
//! delivery thread per conversation (sent, waiting for the client's callback, when a link asked
//! for `ACKREQ`). **Drop policy**: [`DdeServer::post_advise`] never waits for a client; each
//! link queues at most [`LINK_QUEUE`] updates, and when a client does not keep up the link's
//! oldest queued update is dropped. Updates of a link always arrive in order; the first one
//! after a drop says how many were dropped before it ([`Advise::missed`]), and the last change
//! is never dropped. One client that stops reading fills only its own links' queues: the
//! server and the other clients go on at their own pace.
//!
//! Formats are clipboard format numbers: standard ones ([`CF_TEXT`], [`CF_UNICODETEXT`], ...)
//! and registered ones from the global atom table ([`parse_format`], [`format_name`] through
//! `crate::atom::register_clipboard_format`).

mod client;
mod server;
mod table;
mod wire;

pub use client::{AdviseFlags, Conversation, ConversationId, DdeClient, Pending, DEFAULT_TIMEOUT};
pub use server::{DdeServer, LINK_QUEUE};
pub use table::ItemTable;

std::thread_local! {
    static CURRENT: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// While a [`DdeHandler`] method runs on a server's thread: the number of the conversation it
/// answers for (DDEML's server-side `HCONV`), the same from [`DdeHandler::connect`] to
/// [`DdeHandler::disconnect`] and the one [`DdeServer::disconnect`] takes. `None` elsewhere,
/// and in the [`DdeHandler::advise_request`] that [`DdeServer::post_advise`] makes (one
/// rendering serves every conversation's links).
pub fn current_conversation() -> Option<u64> {
    CURRENT.with(std::cell::Cell::get)
}

/// Runs `f` with [`current_conversation`] saying `id`.
pub(crate) fn in_conversation<R>(id: u64, f: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|c| c.replace(Some(id)));
    let r = f();
    CURRENT.with(|c| c.set(before));
    r
}

/// `CF_TEXT`: 8-bit text.
pub const CF_TEXT: u32 = 1;
/// `CF_BITMAP`.
pub const CF_BITMAP: u32 = 2;
/// `CF_SYLK`: Microsoft symbolic link format (spreadsheets).
pub const CF_SYLK: u32 = 4;
/// `CF_DIF`: data interchange format.
pub const CF_DIF: u32 = 5;
/// `CF_OEMTEXT`.
pub const CF_OEMTEXT: u32 = 7;
/// `CF_UNICODETEXT`: UTF-16LE text.
pub const CF_UNICODETEXT: u32 = 13;

/// The window class of DDE server windows (their title is the service name).
pub const SERVER_CLASS: &str = "pipework.DDEServer";
/// The window class of DDE client windows.
pub const CLIENT_CLASS: &str = "pipework.DDEClient";
/// The topic every server answers (`SZDDESYS_TOPIC`).
pub const SYSTEM_TOPIC: &str = "System";

/// Advise flag `XTYPF_NODATA`.
pub(crate) const ADVISE_NODATA: u32 = 1;
/// Advise flag `XTYPF_ACKREQ`.
pub(crate) const ADVISE_ACKREQ: u32 = 2;

/// The name of a standard format (`TEXT`, `UNICODETEXT`, ...), or its number.
pub fn format_name(format: u32) -> String {
    match format {
        CF_TEXT => "TEXT".into(),
        CF_BITMAP => "BITMAP".into(),
        CF_SYLK => "SYLK".into(),
        CF_DIF => "DIF".into(),
        CF_OEMTEXT => "OEMTEXT".into(),
        CF_UNICODETEXT => "UNICODETEXT".into(),
        n if n >= 0xC000 => {
            crate::atom::clipboard_format_name(n).unwrap_or_else(|_| format!("#{n}"))
        }
        n => format!("#{n}"),
    }
}

/// The format a name or number stands for (`TEXT`, `CF_TEXT`, `13`, `#13`); any other name is
/// a registered format (`RegisterClipboardFormat`: the same id in every process).
pub fn parse_format(text: &str) -> std::io::Result<u32> {
    let t = text.trim().to_ascii_uppercase();
    let t = t.strip_prefix("CF_").unwrap_or(&t);
    if let Ok(n) = t.trim_start_matches('#').parse() {
        return Ok(n);
    }
    let standard = [
        CF_TEXT,
        CF_BITMAP,
        CF_SYLK,
        CF_DIF,
        CF_OEMTEXT,
        CF_UNICODETEXT,
    ]
    .into_iter()
    .find(|f| format_name(*f) == t);
    match standard {
        Some(f) => Ok(f),
        None => crate::atom::register_clipboard_format(text.trim()),
    }
}

/// A transaction's outcome (`DDE_FACK`, `DDE_FBUSY`, `DDE_FNOTPROCESSED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Done.
    Ack,
    /// The server is busy: try again later.
    Busy,
    /// Refused or not understood.
    NotProcessed,
}

impl Ack {
    pub(crate) fn code(self) -> isize {
        match self {
            Ack::Ack => 1,
            Ack::Busy => 2,
            Ack::NotProcessed => 0,
        }
    }

    pub(crate) fn from_code(code: isize) -> Ack {
        match code {
            1 => Ack::Ack,
            2 => Ack::Busy,
            _ => Ack::NotProcessed,
        }
    }
}

/// Who a server's transaction came from, as the kernel tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The client's process.
    pub pid: u32,
    /// The client's user.
    pub uid: u32,
}

/// One advise update, as a client's callback gets it (`XTYP_ADVDATA`).
#[derive(Clone, Copy, Debug)]
pub struct Advise<'a> {
    /// The conversation it came on ([`Conversation::id`]).
    pub conversation: ConversationId,
    /// The server's service.
    pub service: &'a str,
    /// The conversation's topic.
    pub topic: &'a str,
    /// The item that changed.
    pub item: &'a str,
    /// The link's format.
    pub format: u32,
    /// The new data (hot link), or `None` (warm link: ask with a request).
    pub data: Option<&'a [u8]>,
    /// Updates of this link the server dropped just before this one (the client was slow).
    pub missed: u64,
}

/// A server's callback (DDEML's `XTYP_*` transactions to a server). Every method has a default
/// that refuses, but [`DdeHandler::topics`]; the handler runs on the server's own thread.
pub trait DdeHandler: Send + Sync + 'static {
    /// The topics served (the `SYSTEM` topic is added).
    fn topics(&self) -> Vec<String>;

    /// `XTYP_CONNECT`: whether a client may open a conversation on `topic` (by default: yes
    /// for the topics of [`DdeHandler::topics`], no for others). The `SYSTEM` topic is always
    /// accepted without asking.
    fn connect(&self, topic: &str, origin: Origin) -> bool {
        let _ = origin;
        let topic = crate::name::fold(topic);
        self.topics().iter().any(|t| crate::name::fold(t) == topic)
    }

    /// `XTYP_CONNECT_CONFIRM`: the conversation on `topic` that [`DdeHandler::connect`]
    /// accepted is open ([`current_conversation`] is its number).
    fn connected(&self, topic: &str, origin: Origin) {
        let _ = (topic, origin);
    }

    /// `XTYP_DISCONNECT`: a conversation on `topic` ended.
    fn disconnect(&self, topic: &str, origin: Origin) {
        let _ = (topic, origin);
    }

    /// `XTYP_REQUEST` and `XTYP_ADVREQ`: `item`'s data in `format`, or `None`.
    fn request(&self, topic: &str, item: &str, format: u32) -> Option<Vec<u8>> {
        let _ = (topic, item, format);
        None
    }

    /// `XTYP_ADVREQ`: `item`'s data in `format` for the hot links of a
    /// [`DdeServer::post_advise`] (by default what [`DdeHandler::request`] gives).
    fn advise_request(&self, topic: &str, item: &str, format: u32) -> Option<Vec<u8>> {
        self.request(topic, item, format)
    }

    /// `XTYP_POKE`.
    fn poke(&self, topic: &str, item: &str, format: u32, data: &[u8]) -> Ack {
        let _ = (topic, item, format, data);
        Ack::NotProcessed
    }

    /// `XTYP_EXECUTE`.
    fn execute(&self, topic: &str, command: &[u8]) -> Ack {
        let _ = (topic, command);
        Ack::NotProcessed
    }

    /// `XTYP_ADVSTART`: whether a link on `item` may start (yes by default).
    fn advise_start(&self, topic: &str, item: &str, format: u32) -> bool {
        let _ = (topic, item, format);
        true
    }

    /// `XTYP_ADVSTOP`: a link ended.
    fn advise_stop(&self, topic: &str, item: &str, format: u32) {
        let _ = (topic, item, format);
    }

    /// The formats served, for the `SYSTEM` topic's `Formats` item (`CF_TEXT` by default).
    fn formats(&self) -> Vec<u32> {
        vec![CF_TEXT]
    }
}
