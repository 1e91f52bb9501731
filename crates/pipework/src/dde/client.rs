//! The DDE client: a window of class [`CLIENT_CLASS`] that receives advise updates (handed to
//! the client's callback on the window's thread), and conversations whose transactions are
//! messages sent to a server's window.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::wire::{self, Reader, Writer};
use super::{Ack, Advise, ADVISE_ACKREQ, ADVISE_NODATA, CLIENT_CLASS, SERVER_CLASS};
use crate::sys::error::error;
use crate::window::{self, Hwnd, Op, Outgoing, SendOptions, WindowThread};

/// How long a transaction waits by default (`DdeClientTransaction`'s timeout).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

type Callback = Box<dyn FnMut(&Advise<'_>) + Send>;

/// What [`DdeClient::on_disconnect`] set.
type OnDisconnect = Arc<Mutex<Option<Box<dyn FnMut(ConversationId) + Send>>>>;

/// What the client knows of each conversation, for the updates it receives: (server window,
/// id) → (service, topic, the server's process).
type Names = Arc<Mutex<HashMap<(Hwnd, u64), (String, String, u32)>>>;

/// Which conversation an advise update came on ([`Conversation::id`], [`Advise::conversation`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConversationId {
    /// The server's window.
    pub server: Hwnd,
    /// The server's number for the conversation.
    pub id: u64,
}

/// A DDE client instance (`DdeInitialize` as a client): its window receives advise updates,
/// which go to its callback, one at a time, on the window's thread.
pub struct DdeClient {
    thread: Option<WindowThread>,
    hwnd: Hwnd,
    names: Names,
    on_disconnect: OnDisconnect,
}

impl std::fmt::Debug for DdeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DdeClient")
            .field("hwnd", &self.hwnd)
            .finish()
    }
}

impl DdeClient {
    /// A client whose advise updates go to `callback` (`XTYP_ADVDATA`). A callback that does
    /// not return holds up only this client: the server keeps at most
    /// [`super::LINK_QUEUE`] updates per link for it and drops the oldest.
    pub fn new(callback: impl FnMut(&Advise<'_>) + Send + 'static) -> io::Result<DdeClient> {
        let mut options = window::WindowOptions::new(CLIENT_CLASS);
        options
            .title(&format!("pid {}", std::process::id()))
            .post_limit(64);
        let window = options.create()?;
        let hwnd = window.hwnd();
        let names: Names = Arc::default();
        let mut callback: Callback = Box::new(callback);
        let known = Arc::clone(&names);
        let on_disconnect: OnDisconnect = Arc::default();
        let ended = Arc::clone(&on_disconnect);
        let thread = window.spawn(move |m| {
            if m.msg() == wire::WM_DDE_TERMINATE {
                return terminated(m, &known, &ended);
            }
            if m.msg() != wire::WM_DDE_DATA {
                return 0;
            }
            let key = (Hwnd::from_raw(m.wparam() as u64), m.lparam() as u64);
            let Some((service, topic, server_pid)) = known
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .cloned()
            else {
                return 0;
            };
            // wParam names the server window, but anyone may write that: the update counts
            // only when the kernel says it came from the server's own process.
            if m.origin().pid != server_pid {
                return 0;
            }
            let Ok(updates) = wire::read_batch(m.data()) else {
                return 0;
            };
            for u in updates {
                callback(&Advise {
                    conversation: ConversationId {
                        server: key.0,
                        id: key.1,
                    },
                    service: &service,
                    topic: &topic,
                    item: u.item,
                    format: u.format,
                    data: u.data,
                    missed: u.missed,
                });
            }
            Ack::Ack.code()
        });
        Ok(DdeClient {
            thread: Some(thread),
            hwnd,
            names,
            on_disconnect,
        })
    }

    /// `XTYP_DISCONNECT` at a client: `f` is told, on the client window's thread, of each
    /// conversation the server ended ([`super::DdeServer::disconnect`] or
    /// [`super::DdeServer::close`]; a server that just goes away is found out at the next
    /// transaction). Replaces what an earlier call set.
    pub fn on_disconnect(&self, f: impl FnMut(ConversationId) + Send + 'static) {
        *self
            .on_disconnect
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Box::new(f));
    }

    /// The client window's handle.
    pub fn hwnd(&self) -> Hwnd {
        self.hwnd
    }

    /// `DdeConnect`: a conversation with the first server of `service` that accepts `topic`.
    /// `None` for either is the wildcard (any service, any topic). `NotFound` when none does.
    pub fn connect(&self, service: Option<&str>, topic: Option<&str>) -> io::Result<Conversation> {
        self.initiate(service, topic, false)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                error(
                    ErrorKind::NotFound,
                    format_args!(
                        "DDE service {:?} topic {:?}",
                        service.unwrap_or("*"),
                        topic.unwrap_or("*")
                    ),
                    "no server accepted the conversation (DMLERR_NO_CONV_ESTABLISHED)",
                )
            })
    }

    /// `DdeConnectList`: a conversation with every server of `service` for every topic it
    /// accepts that matches `topic` (`None`: any).
    pub fn connect_list(
        &self,
        service: Option<&str>,
        topic: Option<&str>,
    ) -> io::Result<Vec<Conversation>> {
        self.initiate(service, topic, true)
    }

    fn initiate(
        &self,
        service: Option<&str>,
        topic: Option<&str>,
        all: bool,
    ) -> io::Result<Vec<Conversation>> {
        let servers = window::find_windows(Some(SERVER_CLASS), service)?;
        let mut w = Writer::default();
        w.str(service.unwrap_or(""))
            .str(topic.unwrap_or(""))
            .u8(all as u8);
        let mut out = Vec::new();
        for server in servers {
            let message = Outgoing::new(wire::WM_DDE_INITIATE, self.hwnd.as_raw() as usize, 0)
                .with_data(&w.0);
            let options = SendOptions {
                timeout: Some(DEFAULT_TIMEOUT),
                abort_if_hung: true,
            };
            // A server that went or hangs is skipped, as a broadcast would.
            let Ok(answer) = window::transact(server.hwnd, Op::Send, &message, options) else {
                continue;
            };
            let mut r = Reader::new(&answer.data);
            let Ok(name) = r.str() else { continue };
            for _ in 0..answer.result.max(0) {
                let (Ok(id), Ok(topic)) = (r.u64(), r.str()) else {
                    break;
                };
                self.names
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        (server.hwnd, id),
                        (name.to_string(), topic.to_string(), server.pid),
                    );
                out.push(Conversation {
                    client: self.hwnd,
                    server: server.hwnd,
                    id,
                    service: name.to_string(),
                    topic: topic.to_string(),
                    timeout: DEFAULT_TIMEOUT,
                });
                if !all {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// Ends the client: its window goes (servers end its conversations when they next write
    /// to it) once the callback returns.
    pub fn close(mut self) {
        if let Some(t) = self.thread.take() {
            t.close();
        }
    }
}

/// A `WM_DDE_TERMINATE` from a server: the conversation it names ends, if the server's own
/// process sent it.
fn terminated(m: &window::Message, known: &Names, ended: &OnDisconnect) -> isize {
    let key = (Hwnd::from_raw(m.wparam() as u64), m.lparam() as u64);
    {
        let mut names = known.lock().unwrap_or_else(PoisonError::into_inner);
        match names.get(&key) {
            Some((_, _, pid)) if *pid == m.origin().pid => {
                names.remove(&key);
            }
            _ => return 0,
        }
    }
    if let Some(f) = ended
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        f(ConversationId {
            server: key.0,
            id: key.1,
        });
    }
    Ack::Ack.code()
}

/// One conversation (`HCONV`): transactions on one topic of one server.
#[derive(Clone, Debug)]
pub struct Conversation {
    client: Hwnd,
    server: Hwnd,
    id: u64,
    service: String,
    topic: String,
    timeout: Duration,
}

/// How an advise link is made (`XTYP_ADVSTART` and its flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdviseFlags {
    /// `XTYPF_NODATA`: a warm link, notices only (ask with [`Conversation::request`]).
    pub nodata: bool,
    /// `XTYPF_ACKREQ`: the server waits for this client's callback to return before it sends
    /// the link's next update.
    pub ackreq: bool,
}

impl Conversation {
    /// The server's service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The server window.
    pub fn server(&self) -> Hwnd {
        self.server
    }

    /// Which conversation this is (what [`Advise::conversation`] says of its updates).
    pub fn id(&self) -> ConversationId {
        ConversationId {
            server: self.server,
            id: self.id,
        }
    }

    /// The timeout of this conversation's synchronous transactions (10 s by default).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn what(&self) -> String {
        format!("DDE conversation {}|{}", self.service, self.topic)
    }

    fn call(&self, msg: u32, data: &[u8]) -> io::Result<(isize, Vec<u8>)> {
        let message =
            Outgoing::new(msg, self.client.as_raw() as usize, self.id as isize).with_data(data);
        let options = SendOptions {
            timeout: Some(self.timeout),
            abort_if_hung: false,
        };
        let answer = window::transact(self.server, Op::Send, &message, options)
            .map_err(|e| crate::sys::error::named(self.what(), e))?;
        match answer.result {
            -1 => Err(error(
                ErrorKind::NotConnected,
                self.what(),
                "the server knows no such conversation (terminated)",
            )),
            -2 => Err(error(
                ErrorKind::InvalidData,
                self.what(),
                "the server could not read the transaction",
            )),
            r => Ok((r, answer.data)),
        }
    }

    /// `XTYP_REQUEST`: `item`'s data in `format`; `None` when the server does not give it
    /// (`DMLERR_NOTPROCESSED`).
    pub fn request(&self, item: &str, format: u32) -> io::Result<Option<Vec<u8>>> {
        let mut w = Writer::default();
        w.str(item).u32(format);
        let (code, data) = self.call(wire::WM_DDE_REQUEST, &w.0)?;
        Ok((Ack::from_code(code) == Ack::Ack).then_some(data))
    }

    /// `XTYP_POKE`: gives `item` new data; the server's answer.
    pub fn poke(&self, item: &str, format: u32, data: &[u8]) -> io::Result<Ack> {
        let mut w = Writer::default();
        w.str(item).u32(format).bytes(data);
        Ok(Ack::from_code(self.call(wire::WM_DDE_POKE, &w.0)?.0))
    }

    /// `XTYP_EXECUTE`: a command for the server; its answer.
    pub fn execute(&self, command: &[u8]) -> io::Result<Ack> {
        let mut w = Writer::default();
        w.bytes(command);
        Ok(Ack::from_code(self.call(wire::WM_DDE_EXECUTE, &w.0)?.0))
    }

    /// `XTYP_ADVSTART`: a link on `item` in `format`: hot (each change's data) unless
    /// `flags.nodata` (warm: a notice per change). Updates go to the client's callback.
    pub fn advise_start(&self, item: &str, format: u32, flags: AdviseFlags) -> io::Result<Ack> {
        let mut bits = 0;
        if flags.nodata {
            bits |= ADVISE_NODATA;
        }
        if flags.ackreq {
            bits |= ADVISE_ACKREQ;
        }
        let mut w = Writer::default();
        w.str(item).u32(format).u32(bits);
        Ok(Ack::from_code(self.call(wire::WM_DDE_ADVISE, &w.0)?.0))
    }

    /// `XTYP_ADVSTOP`: ends the link on `item` in `format`.
    pub fn advise_stop(&self, item: &str, format: u32) -> io::Result<Ack> {
        let mut w = Writer::default();
        w.str(item).u32(format);
        Ok(Ack::from_code(self.call(wire::WM_DDE_UNADVISE, &w.0)?.0))
    }

    /// Any transaction run on a thread of its own (`TIMEOUT_ASYNC`): wait for it with
    /// [`Pending::wait`] or look with [`Pending::poll`] (`DdeAbandonTransaction`: drop it).
    pub fn start<T, F>(&self, transaction: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conversation) -> io::Result<T> + Send + 'static,
    {
        let conv = self.clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("pipework-dde-async".into())
            .spawn(move || {
                let _ = tx.send(transaction(&conv));
            });
        Pending {
            rx,
            failed: spawned.err(),
        }
    }

    /// `DdeDisconnect`: ends the conversation (its links stop).
    pub fn disconnect(self) -> io::Result<()> {
        self.call(wire::WM_DDE_TERMINATE, &[]).map(drop)
    }
}

/// An asynchronous transaction ([`Conversation::start`]).
#[derive(Debug)]
pub struct Pending<T> {
    rx: std::sync::mpsc::Receiver<io::Result<T>>,
    failed: Option<io::Error>,
}

impl<T> Pending<T> {
    /// Waits at most `timeout` for the outcome (`TimedOut` if it has not come).
    pub fn wait(mut self, timeout: Duration) -> io::Result<T> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.rx.recv_timeout(timeout).unwrap_or_else(|e| {
            Err(io::Error::new(
                ErrorKind::TimedOut,
                format!("DDE transaction: {e}"),
            ))
        })
    }

    /// The outcome if it has come (`XTYP_XACT_COMPLETE`), else `None`.
    pub fn poll(&mut self) -> Option<io::Result<T>> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        self.rx.try_recv().ok()
    }
}
