//! The DDE server: a window of class [`SERVER_CLASS`] titled with the service name, whose
//! thread answers transactions through a [`DdeHandler`], and one delivery thread per
//! conversation that pushes advise updates out of that conversation's bounded link queues.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::wire::{self, Reader, Update, Writer};
use super::{
    in_conversation, Ack, DdeHandler, Origin, ADVISE_ACKREQ, ADVISE_NODATA, CF_TEXT, SERVER_CLASS,
    SYSTEM_TOPIC,
};
use crate::name::fold;
use crate::window::{self, Hwnd, Message, Op, Outgoing, SendOptions, Window, WindowOptions};

/// Updates a link keeps queued for a client that does not keep up; past that the oldest is
/// dropped (and counted in the next update's `missed`).
pub const LINK_QUEUE: usize = 1024;
/// Updates one `WM_DDE_DATA` message carries at most.
const BATCH: usize = 256;
/// How long a delivery thread that has just sent waits for more changes to send with the next.
const GATHER: Duration = Duration::from_millis(1);

/// A registered DDE service (`DdeNameService(DNS_REGISTER)`): clients connect to its topics
/// while it lives. Dropping it unregisters the service and ends its conversations.
pub struct DdeServer {
    state: Arc<State>,
    window: Hwnd,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    queue: Arc<crate::window::recv::Shared>,
}

impl std::fmt::Debug for DdeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DdeServer")
            .field("service", &self.state.service)
            .field("window", &self.window)
            .finish()
    }
}

struct State {
    service: String,
    handler: Arc<dyn DdeHandler>,
    conversations: Mutex<HashMap<u64, Arc<Conversation>>>,
    next: AtomicU64,
    window: Hwnd,
}

/// One conversation's links and their queues.
struct Conversation {
    id: u64,
    client: Hwnd,
    topic: String,
    queues: Mutex<Links>,
    ready: Condvar,
}

#[derive(Default)]
struct Links {
    links: HashMap<(String, u32), Link>,
    /// The formats linked per item (folded): `post_advise` finds an item's links at once.
    formats: HashMap<String, Vec<u32>>,
    /// Links with queued updates, in the order they became non-empty (round robin).
    pending: VecDeque<(String, u32)>,
    closed: bool,
}

struct Link {
    item: String,
    flags: u32,
    queue: VecDeque<(Option<Arc<Vec<u8>>>, u64)>,
    /// Updates dropped since the last one that went out.
    missed: u64,
    /// Dropped in all.
    dropped: u64,
}

impl Conversation {
    fn lock(&self) -> MutexGuard<'_, Links> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl DdeServer {
    /// Registers `service` with `handler` answering its transactions.
    pub fn register(service: &str, handler: impl DdeHandler) -> io::Result<DdeServer> {
        let mut options = WindowOptions::new(SERVER_CLASS);
        options.title(service);
        let window = options.create()?;
        let hwnd = window.hwnd();
        let queue = Arc::clone(window.shared());
        let state = Arc::new(State {
            service: service.to_string(),
            handler: Arc::new(handler),
            conversations: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            window: hwnd,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("pipework-dde-server".into())
                .spawn(move || serve(window, &state, &stop))?
        };
        Ok(DdeServer {
            state,
            window: hwnd,
            thread: Some(thread),
            stop,
            queue,
        })
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.state.service
    }

    /// The server window's handle.
    pub fn hwnd(&self) -> Hwnd {
        self.window
    }

    /// Conversations open now.
    pub fn conversations(&self) -> usize {
        self.state.convs().len()
    }

    /// `DdePostAdvise`: `item` of `topic` changed. Every link on it gets an update: a hot
    /// link the data its handler's [`DdeHandler::request`] gives now (asked once per format),
    /// a warm link a notice. Never waits for a client: each update goes into its link's queue
    /// ([`LINK_QUEUE`] long, the oldest dropped when full). The number of links updated.
    pub fn post_advise(&self, topic: &str, item: &str) -> usize {
        let (topic_f, item_f) = (fold(topic), fold(item));
        let convs: Vec<Arc<Conversation>> = self
            .state
            .convs()
            .values()
            .filter(|c| fold(&c.topic) == topic_f)
            .cloned()
            .collect();
        let mut rendered: HashMap<u32, Option<Arc<Vec<u8>>>> = HashMap::new();
        let mut count = 0;
        for conv in convs {
            let mut links = conv.lock();
            if links.closed {
                continue;
            }
            let keys: Vec<(String, u32)> = match links.formats.get(&item_f) {
                Some(formats) => formats.iter().map(|f| (item_f.clone(), *f)).collect(),
                None => continue,
            };
            for key in keys {
                let format = key.1;
                let Some(link) = links.links.get_mut(&key) else {
                    continue;
                };
                let data = if link.flags & ADVISE_NODATA != 0 {
                    None
                } else {
                    rendered
                        .entry(format)
                        .or_insert_with(|| {
                            self.state
                                .handler
                                .advise_request(topic, item, format)
                                .map(Arc::new)
                        })
                        .clone()
                };
                let was_empty = link.queue.is_empty();
                if link.queue.len() >= LINK_QUEUE {
                    // Drop policy: the oldest update goes; its count and its own misses ride
                    // with the update now first in line.
                    if let Some((_, before)) = link.queue.pop_front() {
                        link.dropped += 1;
                        match link.queue.front_mut() {
                            Some(front) => front.1 += before + 1,
                            None => link.missed += before + 1,
                        }
                    }
                }
                let missed = std::mem::take(&mut link.missed);
                link.queue.push_back((data, missed));
                if was_empty {
                    links.pending.push_back(key);
                }
                count += 1;
            }
            conv.ready.notify_one();
        }
        count
    }

    /// Ends conversation `conversation` from the server's side (`DdeDisconnect` of a
    /// server-side `HCONV`, the number [`super::current_conversation`] gave): its links stop,
    /// the client is told (`WM_DDE_TERMINATE`, its [`super::DdeClient::on_disconnect`]) and its
    /// next transaction on it fails with `NotConnected`. `false` when no such conversation is
    /// open.
    pub fn disconnect(&self, conversation: u64) -> bool {
        let removed = self.state.convs().remove(&conversation);
        match removed {
            Some(conv) => {
                close(&conv);
                tell_client(&self.state, &conv);
                true
            }
            None => false,
        }
    }

    /// Updates dropped so far on the links to the client window `client` (it did not keep
    /// up), in all its conversations.
    pub fn dropped_for(&self, client: Hwnd) -> u64 {
        self.state
            .convs()
            .values()
            .filter(|c| c.client == client)
            .map(|c| c.lock().links.values().map(|l| l.dropped).sum::<u64>())
            .sum()
    }
}

impl DdeServer {
    /// Unregisters the service as dropping it does, waits for the transaction its thread may
    /// be answering to be answered first, then tells each client its conversation ended
    /// (`WM_DDE_TERMINATE`, posted: [`super::DdeClient::on_disconnect`]). Dropping the server
    /// tells nobody (no I/O in `Drop`): clients find out at their next transaction.
    pub fn close(mut self) {
        let convs: Vec<Arc<Conversation>> = self.state.convs().values().cloned().collect();
        self.shut();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for conv in convs {
            tell_client(&self.state, &conv);
        }
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Closes the window's queue: its thread wakes, ends and destroys the window.
        self.queue.close();
        for conv in self.state.convs().drain().map(|(_, c)| c) {
            close(&conv);
        }
    }
}

impl Drop for DdeServer {
    fn drop(&mut self) {
        self.shut();
        drop(self.thread.take());
    }
}

impl State {
    fn convs(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conversation>>> {
        self.conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Posts `WM_DDE_TERMINATE` for `conv` to its client (a client gone, or whose queue is full,
/// misses it and finds out at its next transaction).
fn tell_client(state: &State, conv: &Conversation) {
    let out = Outgoing::new(
        wire::WM_DDE_TERMINATE,
        state.window.as_raw() as usize,
        conv.id as isize,
    );
    let _ = window::post(conv.client, &out);
}

fn close(conv: &Conversation) {
    conv.lock().closed = true;
    conv.ready.notify_all();
}

/// The server window's procedure.
fn serve(window: Window, state: &Arc<State>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        let Some(m) = window.shared().wait(None) else {
            break;
        };
        let (code, data) = handle(&m, state);
        m.reply_with(code, data);
    }
}

fn origin_of(m: &Message) -> Origin {
    let o = m.origin();
    Origin {
        pid: o.pid,
        uid: o.uid,
    }
}

/// Handles one message: the answer's code and data.
fn handle(m: &Message, state: &Arc<State>) -> (isize, Vec<u8>) {
    let client = Hwnd::from_raw(m.wparam() as u64);
    match m.msg() {
        wire::WM_DDE_INITIATE => initiate(m, state, client),
        wire::WM_DDE_TERMINATE => {
            let removed = state.convs().remove(&(m.lparam() as u64));
            if let Some(conv) = removed {
                close(&conv);
                let links: Vec<_> = {
                    let mut l = conv.lock();
                    l.formats.clear();
                    l.links.drain().collect()
                };
                in_conversation(conv.id, || {
                    for ((_, format), link) in links {
                        state.handler.advise_stop(&conv.topic, &link.item, format);
                    }
                    state.handler.disconnect(&conv.topic, origin_of(m));
                });
            }
            (Ack::Ack.code(), Vec::new())
        }
        _ => {
            let conv = state.convs().get(&(m.lparam() as u64)).cloned();
            match conv {
                Some(conv) if conv.client == client => in_conversation(conv.id, || {
                    transaction(m, state, &conv).unwrap_or((-2, Vec::new()))
                }),
                _ => (-1, Vec::new()),
            }
        }
    }
}

fn initiate(m: &Message, state: &Arc<State>, client: Hwnd) -> (isize, Vec<u8>) {
    let mut r = Reader::new(m.data());
    let parsed = (|| -> io::Result<(String, String, bool)> {
        Ok((r.str()?.to_string(), r.str()?.to_string(), r.u8()? != 0))
    })();
    let Ok((service, topic, all)) = parsed else {
        return (-2, Vec::new());
    };
    if !service.is_empty() && fold(&service) != fold(&state.service) {
        return (0, Vec::new());
    }
    let mut topics = state.handler.topics();
    if !topics.iter().any(|t| fold(t) == fold(SYSTEM_TOPIC)) {
        topics.push(SYSTEM_TOPIC.to_string());
    }
    let origin = origin_of(m);
    // A named topic is the handler's to accept (listed or not: a DDEML server decides in its
    // XTYP_CONNECT); the wildcard offers the listed ones.
    let candidates: Vec<String> = if topic.is_empty() {
        topics
    } else {
        vec![topics
            .into_iter()
            .find(|t| fold(t) == fold(&topic))
            .unwrap_or(topic)]
    };
    let mut w = Writer::default();
    w.str(&state.service);
    let mut made = 0;
    for topic in candidates {
        if !all && made == 1 {
            break;
        }
        let id = state.next.fetch_add(1, Ordering::Relaxed);
        let system = fold(&topic) == fold(SYSTEM_TOPIC);
        if !system && !in_conversation(id, || state.handler.connect(&topic, origin)) {
            continue;
        }
        let conv = Arc::new(Conversation {
            id,
            client,
            topic: topic.clone(),
            queues: Mutex::new(Links::default()),
            ready: Condvar::new(),
        });
        let spawned = {
            let conv = Arc::clone(&conv);
            let state = Arc::clone(state);
            std::thread::Builder::new()
                .name("pipework-dde-deliver".into())
                .stack_size(256 << 10)
                .spawn(move || deliver(&conv, &state))
        };
        if spawned.is_err() {
            continue;
        }
        state.convs().insert(id, conv);
        w.u64(id).str(&topic);
        made += 1;
        in_conversation(id, || state.handler.connected(&topic, origin));
    }
    (made, w.0)
}

fn transaction(m: &Message, state: &State, conv: &Conversation) -> io::Result<(isize, Vec<u8>)> {
    let mut r = Reader::new(m.data());
    let topic = conv.topic.as_str();
    let system = fold(topic) == fold(SYSTEM_TOPIC);
    Ok(match m.msg() {
        wire::WM_DDE_REQUEST => {
            let item = r.str()?;
            let format = r.u32()?;
            let data = if system {
                system_item(state, item, format)
            } else {
                state.handler.request(topic, item, format)
            };
            match data {
                Some(d) => (Ack::Ack.code(), d),
                None => (Ack::NotProcessed.code(), Vec::new()),
            }
        }
        wire::WM_DDE_POKE => {
            let item = r.str()?;
            let format = r.u32()?;
            let data = r.bytes()?;
            (
                state.handler.poke(topic, item, format, data).code(),
                Vec::new(),
            )
        }
        wire::WM_DDE_EXECUTE => {
            let command = r.bytes()?;
            (state.handler.execute(topic, command).code(), Vec::new())
        }
        wire::WM_DDE_ADVISE => {
            let item = r.str()?;
            let format = r.u32()?;
            let flags = r.u32()?;
            if flags & !(ADVISE_NODATA | ADVISE_ACKREQ) != 0 {
                return Ok((Ack::NotProcessed.code(), Vec::new()));
            }
            if !state.handler.advise_start(topic, item, format) {
                return Ok((Ack::NotProcessed.code(), Vec::new()));
            }
            let mut links = conv.lock();
            let formats = links.formats.entry(fold(item)).or_default();
            if !formats.contains(&format) {
                formats.push(format);
            }
            links
                .links
                .entry((fold(item), format))
                .and_modify(|l| l.flags = flags)
                .or_insert_with(|| Link {
                    item: item.to_string(),
                    flags,
                    queue: VecDeque::new(),
                    missed: 0,
                    dropped: 0,
                });
            (Ack::Ack.code(), Vec::new())
        }
        wire::WM_DDE_UNADVISE => {
            let item = r.str()?;
            let format = r.u32()?;
            let mut links = conv.lock();
            let keys: Vec<(String, u32)> = links
                .links
                .keys()
                .filter(|(i, f)| item.is_empty() || (*i == fold(item) && *f == format))
                .cloned()
                .collect();
            if keys.is_empty() {
                return Ok((Ack::NotProcessed.code(), Vec::new()));
            }
            for key in keys {
                if let Some(formats) = links.formats.get_mut(&key.0) {
                    formats.retain(|f| *f != key.1);
                    if formats.is_empty() {
                        links.formats.remove(&key.0);
                    }
                }
                if let Some(link) = links.links.remove(&key) {
                    state.handler.advise_stop(topic, &link.item, key.1);
                }
            }
            (Ack::Ack.code(), Vec::new())
        }
        _ => (Ack::NotProcessed.code(), Vec::new()),
    })
}

/// The items of the `SYSTEM` topic, as tab-separated text.
fn system_item(state: &State, item: &str, format: u32) -> Option<Vec<u8>> {
    if format != CF_TEXT && format != super::CF_UNICODETEXT {
        return None;
    }
    let text = match fold(item).as_str() {
        "TOPICS" => {
            let mut topics = state.handler.topics();
            if !topics.iter().any(|t| fold(t) == fold(SYSTEM_TOPIC)) {
                topics.push(SYSTEM_TOPIC.to_string());
            }
            topics.join("\t")
        }
        "SYSITEMS" => "Topics\tSysItems\tFormats".to_string(),
        "FORMATS" => state
            .handler
            .formats()
            .iter()
            .map(|f| super::format_name(*f))
            .collect::<Vec<_>>()
            .join("\t"),
        _ => return None,
    };
    Some(if format == CF_TEXT {
        text.into_bytes()
    } else {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    })
}

/// The delivery thread of one conversation: batches of updates out of its link queues, in
/// order per link, posted to the client's window (sent, waiting for the client, when a link
/// asked for acknowledgements). A client whose queue is full is retried after a pause while
/// the link queues fill and drop; a client that is gone ends the conversation.
fn deliver(conv: &Conversation, state: &State) {
    let mut last_sent: Option<Instant> = None;
    loop {
        let recent = last_sent.is_some_and(|t| t.elapsed() < GATHER * 4);
        let (batch, count, ackreq) = {
            let mut links = conv.lock();
            while links.pending.is_empty() && !links.closed {
                links = conv
                    .ready
                    .wait(links)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if links.closed {
                return;
            }
            // Under a stream of changes, a moment's wait gathers more of them into one
            // message; a lone change goes out at once.
            if recent && links.pending.len() < BATCH {
                links = conv
                    .ready
                    .wait_timeout(links, GATHER)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                if links.closed {
                    return;
                }
            }
            let mut updates = Vec::new();
            let mut ackreq = false;
            let mut budget = BATCH;
            let Links { links, pending, .. } = &mut *links;
            let rounds = pending.len();
            for _ in 0..rounds {
                if budget == 0 {
                    break;
                }
                let Some(key) = pending.pop_front() else {
                    break;
                };
                let Some(link) = links.get_mut(&key) else {
                    continue;
                };
                ackreq |= link.flags & ADVISE_ACKREQ != 0;
                while budget > 0 {
                    let Some((data, missed)) = link.queue.pop_front() else {
                        break;
                    };
                    updates.push((link.item.clone(), key.1, missed, data));
                    budget -= 1;
                }
                if !link.queue.is_empty() {
                    pending.push_back(key);
                }
            }
            let mut w = Writer::default();
            w.u32(updates.len() as u32);
            for (item, format, missed, data) in &updates {
                wire::write_update(
                    &mut w,
                    &Update {
                        item,
                        format: *format,
                        missed: *missed,
                        data: data.as_deref().map(Vec::as_slice),
                    },
                );
            }
            (w.0, updates.len(), ackreq)
        };
        if count == 0 {
            continue;
        }
        let out = Outgoing::new(
            wire::WM_DDE_DATA,
            state.window.as_raw() as usize,
            conv.id as isize,
        )
        .with_data(&batch);
        loop {
            let sent = if ackreq {
                window::transact(
                    conv.client,
                    Op::Send,
                    &out,
                    SendOptions {
                        timeout: Some(Duration::from_secs(5)),
                        abort_if_hung: false,
                    },
                )
                .map(drop)
            } else {
                window::post(conv.client, &out)
            };
            match sent {
                Ok(()) => {
                    last_sent = Some(Instant::now());
                    break;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::QuotaExceeded | io::ErrorKind::TimedOut
                    ) =>
                {
                    // The client is not keeping up: wait, unless the conversation ends.
                    let links = conv.lock();
                    if links.closed {
                        return;
                    }
                    let (links, _) = conv
                        .ready
                        .wait_timeout(links, Duration::from_millis(20))
                        .unwrap_or_else(PoisonError::into_inner);
                    if links.closed {
                        return;
                    }
                }
                Err(_) => {
                    // The client window is gone: the conversation ends.
                    if let Some(conv) = state.convs().remove(&conv.id) {
                        close(&conv);
                    }
                    return;
                }
            }
        }
    }
}
