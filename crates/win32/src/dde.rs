//! The DDE management library (DDEML) on [`pipework::dde`]: `DdeInitialize`, string and data
//! handles, `DdeNameService`, `DdeConnect`, `DdeClientTransaction`, `DdePostAdvise`, ...
//!
//! An instance (`idInst`) is a pipework [`DdeClient`] (made at its first `DdeConnect`) and one
//! [`DdeServer`] per service it registers. Their transactions reach the instance's callback on
//! the thread that called `DdeInitialize`, as on Windows: the pipework threads hand each one to
//! that thread's queue (see `window::run_on`), and it runs there inside `GetMessage` /
//! `PeekMessage`, or inside a DDEML call of that thread that waits (`DdeConnect`,
//! `DdeClientTransaction`, `DdeDisconnect`, `DdeUninitialize`).
//!
//! String handles (`HSZ`) are process-wide: one handle per string, whatever its case, counted
//! by `DdeCreateStringHandle` / `DdeKeepStringHandle` and `DdeFreeStringHandle`. Data handles
//! (`HDDEDATA`) hold a copy of their bytes.

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_void};
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use pipework::dde::{
    Ack, Advise, AdviseFlags, Conversation, ConversationId, DdeClient, DdeHandler, DdeServer,
    Origin,
};

use crate::text::{ansi, wide};
use crate::types::*;
use crate::window::{pumping, run_on};

/// `HSZ`.
pub type HSZ = *mut c_void;
/// `HCONV`.
pub type HCONV = *mut c_void;
/// `HDDEDATA`.
pub type HDDEDATA = *mut c_void;
/// `PFNCALLBACK`: the instance's callback.
pub type PFNCALLBACK =
    Option<unsafe extern "C" fn(u32, u32, HCONV, HSZ, HSZ, HDDEDATA, usize, usize) -> HDDEDATA>;

const DMLERR_NO_ERROR: u32 = 0;
const DMLERR_ADVACKTIMEOUT: u32 = 0x4000;
const DMLERR_BUSY: u32 = 0x4001;
const DMLERR_DATAACKTIMEOUT: u32 = 0x4002;
const DMLERR_DLL_NOT_INITIALIZED: u32 = 0x4003;
const DMLERR_DLL_USAGE: u32 = 0x4004;
const DMLERR_EXECACKTIMEOUT: u32 = 0x4005;
const DMLERR_INVALIDPARAMETER: u32 = 0x4006;
const DMLERR_MEMORY_ERROR: u32 = 0x4008;
const DMLERR_NOTPROCESSED: u32 = 0x4009;
const DMLERR_NO_CONV_ESTABLISHED: u32 = 0x400a;
const DMLERR_POKEACKTIMEOUT: u32 = 0x400b;
const DMLERR_SYS_ERROR: u32 = 0x400f;
const DMLERR_UNADVACKTIMEOUT: u32 = 0x4010;
const DMLERR_UNFOUND_QUEUE_ID: u32 = 0x4011;

const XTYPF_NODATA: u32 = 0x0004;
const XTYPF_ACKREQ: u32 = 0x0008;
const XTYP_ADVDATA: u32 = 0x4010;
const XTYP_ADVREQ: u32 = 0x2022;
const XTYP_ADVSTART: u32 = 0x1030;
const XTYP_ADVSTOP: u32 = 0x8040;
const XTYP_EXECUTE: u32 = 0x4050;
const XTYP_CONNECT: u32 = 0x1062;
const XTYP_CONNECT_CONFIRM: u32 = 0x8072;
const XTYP_XACT_COMPLETE: u32 = 0x8080;
const XTYP_POKE: u32 = 0x4090;
const XTYP_REQUEST: u32 = 0x20B0;
const XTYP_DISCONNECT: u32 = 0x80C2;

const TIMEOUT_ASYNC: u32 = 0xFFFF_FFFF;
const DDE_FACK: u32 = 0x8000;
const DDE_FBUSY: u32 = 0x4000;
const CBR_BLOCK: usize = usize::MAX;

const CBF_FAIL_CONNECTIONS: u32 = 0x0000_2000;
const CBF_FAIL_ADVISES: u32 = 0x0000_4000;
const CBF_FAIL_EXECUTES: u32 = 0x0000_8000;
const CBF_FAIL_POKES: u32 = 0x0001_0000;
const CBF_FAIL_REQUESTS: u32 = 0x0002_0000;
const CBF_SKIP_CONNECT_CONFIRMS: u32 = 0x0004_0000;
const CBF_SKIP_DISCONNECTS: u32 = 0x0020_0000;
const APPCMD_CLIENTONLY: u32 = 0x0000_0010;
const APPCLASS_MONITOR: u32 = 0x0000_0001;
const APPCLASS_MASK: u32 = 0x0000_000F;

const DNS_REGISTER: u32 = 1;
const DNS_UNREGISTER: u32 = 2;
const HDATA_APPOWNED: u32 = 1;

/// One `DdeInitialize`.
struct Instance {
    id: u32,
    /// The thread that called `DdeInitialize`: where the callback runs.
    tid: u32,
    callback: unsafe extern "C" fn(u32, u32, HCONV, HSZ, HSZ, HDDEDATA, usize, usize) -> HDDEDATA,
    af_cmd: AtomicU32,
    error: AtomicU32,
    alive: AtomicBool,
    client: Mutex<Option<Arc<DdeClient>>>,
    /// Registered services: folded name → server.
    servers: Mutex<HashMap<String, DdeServer>>,
}

impl Instance {
    fn fail(&self, code: u32) {
        self.error.store(code, Ordering::Relaxed);
    }

    fn flags(&self) -> u32 {
        self.af_cmd.load(Ordering::Relaxed)
    }

    /// Calls the callback on the instance's thread; its answer (0 when the instance went).
    #[allow(clippy::too_many_arguments)]
    fn call(
        &self,
        ty: u32,
        fmt: u32,
        conv: usize,
        hsz1: usize,
        hsz2: usize,
        data: usize,
        d1: usize,
        d2: usize,
    ) -> usize {
        self.call_unless(None, ty, fmt, conv, hsz1, hsz2, data, d1, d2)
    }

    /// As [`Instance::call`], for the completion of asynchronous transaction `xact` (if any):
    /// not made if the transaction was abandoned by the time the instance's thread gets to it.
    #[allow(clippy::too_many_arguments)]
    fn call_unless(
        &self,
        xact: Option<u32>,
        ty: u32,
        fmt: u32,
        conv: usize,
        hsz1: usize,
        hsz2: usize,
        data: usize,
        d1: usize,
        d2: usize,
    ) -> usize {
        let cb = self.callback;
        let run = move || {
            if let Some(id) = xact {
                let mut st = state();
                st.pending.remove(&id);
                if st.abandoned.remove(&id) {
                    return 0;
                }
            }
            // SAFETY: the application's callback, called as DDEML calls it, on the thread that
            // registered it; the handles it gets are valid during the call.
            unsafe {
                cb(
                    ty,
                    fmt,
                    conv as HCONV,
                    hsz1 as HSZ,
                    hsz2 as HSZ,
                    data as HDDEDATA,
                    d1,
                    d2,
                ) as usize
            }
        };
        run_on(self.tid, run, &|| !self.alive.load(Ordering::Acquire)).unwrap_or(0)
    }
}

/// A data handle's contents.
struct Data {
    bytes: Vec<u8>,
    item: usize,
    app_owned: bool,
}

/// What an `HCONV` stands for.
enum ConvKind {
    /// A conversation this instance opened as a client.
    Client(Conversation),
    /// A conversation a client opened with one of this instance's services.
    Server { service: String, id: u64 },
}

struct Conv {
    inst: u32,
    kind: ConvKind,
}

#[derive(Default)]
struct State {
    instances: HashMap<u32, Arc<Instance>>,
    next_instance: u32,
    /// folded string → handle; handle → (string, references).
    string_ids: HashMap<String, usize>,
    strings: HashMap<usize, (String, u32)>,
    next_string: usize,
    data: HashMap<usize, Data>,
    next_data: usize,
    convs: HashMap<usize, Conv>,
    /// (instance, client-side conversation) → HCONV, for advise updates.
    client_convs: HashMap<(u32, ConversationId), usize>,
    /// (instance, folded service, server-side conversation number) → HCONV.
    server_convs: HashMap<(u32, String, u64), usize>,
    next_conv: usize,
    next_transaction: u32,
    /// Asynchronous transactions not completed yet → their HCONV.
    pending: HashMap<u32, usize>,
    abandoned: HashSet<u32>,
}

fn state() -> MutexGuard<'static, State> {
    static S: OnceLock<Mutex<State>> = OnceLock::new();
    S.get_or_init(|| {
        Mutex::new(State {
            next_instance: 1,
            next_string: 0xC000,
            next_data: 0x10_0000,
            next_conv: 0x20_0000,
            next_transaction: 1,
            ..State::default()
        })
    })
    .lock()
    .unwrap_or_else(|e| e.into_inner())
}

fn instance(id: u32) -> Option<Arc<Instance>> {
    state().instances.get(&id).cloned()
}

/// Sets `code` on every instance of this thread (for a call whose handle names none).
fn fail_thread(code: u32) {
    let me = crate::process::GetCurrentThreadId();
    for inst in state().instances.values().filter(|i| i.tid == me) {
        inst.fail(code);
    }
}

fn fold(s: &str) -> String {
    pipework::name::fold(s)
}

// ---- string handles ----

/// The handle of `s` with one more reference.
fn intern(s: &str) -> usize {
    let mut st = state();
    let key = fold(s);
    if let Some(&id) = st.string_ids.get(&key) {
        if let Some(e) = st.strings.get_mut(&id) {
            e.1 += 1;
        }
        return id;
    }
    let id = st.next_string;
    st.next_string += 1;
    st.string_ids.insert(key, id);
    st.strings.insert(id, (s.to_string(), 1));
    id
}

/// Drops one reference of `id`; false when it is no string handle.
fn release(id: usize) -> bool {
    let mut st = state();
    let Some(e) = st.strings.get_mut(&id) else {
        return false;
    };
    e.1 -= 1;
    if e.1 == 0 {
        let key = fold(&e.0);
        st.strings.remove(&id);
        st.string_ids.remove(&key);
    }
    true
}

fn string_of(id: usize) -> Option<String> {
    state().strings.get(&id).map(|e| e.0.clone())
}

/// The string of an optional handle: `Ok(None)` for 0, `Err` for a handle that is none.
fn opt_string(h: HSZ) -> Result<Option<String>, u32> {
    if h.is_null() {
        return Ok(None);
    }
    string_of(h as usize)
        .map(Some)
        .ok_or(DMLERR_INVALIDPARAMETER)
}

/// A string handle that lives while it does (the handles a callback gets).
struct TempString(usize);

impl TempString {
    fn new(s: &str) -> TempString {
        TempString(intern(s))
    }
}

impl Drop for TempString {
    fn drop(&mut self) {
        release(self.0);
    }
}

fn create_string(inst: u32, s: Result<Option<String>, crate::error::Fail>) -> HSZ {
    let Some(inst) = instance(inst) else {
        return std::ptr::null_mut();
    };
    match s {
        Ok(Some(s)) if !s.is_empty() && s.chars().count() <= 255 => intern(&s) as HSZ,
        _ => {
            inst.fail(DMLERR_INVALIDPARAMETER);
            std::ptr::null_mut()
        }
    }
}

// ---- data handles ----

/// A new data handle (the format is the transaction's: DDEML keeps it beside the bytes, which
/// nothing here reads back).
fn new_data(bytes: Vec<u8>, _format: u32, item: usize, app_owned: bool) -> usize {
    let mut st = state();
    let id = st.next_data;
    st.next_data += 4;
    if item != 0 {
        if let Some(e) = st.strings.get_mut(&item) {
            e.1 += 1;
        }
    }
    st.data.insert(
        id,
        Data {
            bytes,
            item,
            app_owned,
        },
    );
    id
}

fn free_data(id: usize) -> bool {
    let removed = state().data.remove(&id);
    match removed {
        Some(d) => {
            if d.item != 0 {
                release(d.item);
            }
            true
        }
        None => false,
    }
}

/// A data handle that lives while it does (the handles a callback gets).
struct TempData(usize);

impl Drop for TempData {
    fn drop(&mut self) {
        free_data(self.0);
    }
}

/// The bytes of a handle an application gave back (a callback's answer, a transaction's
/// `HDDEDATA`), which is freed unless the application owns it.
fn take_data(id: usize) -> Option<Vec<u8>> {
    let st = state();
    let owned = st.data.get(&id)?.app_owned;
    if owned {
        return st.data.get(&id).map(|d| d.bytes.clone());
    }
    drop(st);
    let d = state().data.remove(&id)?;
    if d.item != 0 {
        release(d.item);
    }
    Some(d.bytes)
}

// ---- the server side ----

/// The pipework handler of one registered service: each transaction goes to the instance's
/// callback, on the instance's thread.
struct Served {
    inst: Weak<Instance>,
    service: String,
}

impl Served {
    fn inst(&self) -> Option<Arc<Instance>> {
        self.inst
            .upgrade()
            .filter(|i| i.alive.load(Ordering::Acquire))
    }

    /// The server-side `HCONV` of the conversation being answered (0 when none).
    fn hconv(&self, inst: &Instance) -> usize {
        let Some(id) = pipework::dde::current_conversation() else {
            return 0;
        };
        state()
            .server_convs
            .get(&(inst.id, fold(&self.service), id))
            .copied()
            .unwrap_or(0)
    }

    fn render(&self, ty: u32, topic: &str, item: &str, format: u32) -> Option<Vec<u8>> {
        let inst = self.inst()?;
        if inst.flags() & CBF_FAIL_REQUESTS != 0 && ty == XTYP_REQUEST {
            return None;
        }
        let (t, i) = (TempString::new(topic), TempString::new(item));
        let h = inst.call(ty, format, self.hconv(&inst), t.0, i.0, 0, 0, 0);
        if h == 0 || h == CBR_BLOCK {
            return None;
        }
        take_data(h)
    }

    fn flags_call(
        &self,
        ty: u32,
        fail: u32,
        topic: &str,
        item: Option<&str>,
        format: u32,
        data: &[u8],
    ) -> Ack {
        let Some(inst) = self.inst() else {
            return Ack::NotProcessed;
        };
        if inst.flags() & fail != 0 {
            return Ack::NotProcessed;
        }
        let t = TempString::new(topic);
        let i = item.map(TempString::new);
        let d = TempData(new_data(
            data.to_vec(),
            format,
            i.as_ref().map_or(0, |i| i.0),
            false,
        ));
        let r = inst.call(
            ty,
            format,
            self.hconv(&inst),
            t.0,
            i.as_ref().map_or(0, |i| i.0),
            d.0,
            0,
            0,
        ) as u32;
        drop(d);
        if r & DDE_FACK != 0 {
            Ack::Ack
        } else if r & DDE_FBUSY != 0 {
            Ack::Busy
        } else {
            Ack::NotProcessed
        }
    }
}

impl DdeHandler for Served {
    /// DDEML asks its callback per topic (`XTYP_CONNECT`): no list to offer a wildcard.
    fn topics(&self) -> Vec<String> {
        Vec::new()
    }

    fn connect(&self, topic: &str, origin: Origin) -> bool {
        let Some(inst) = self.inst() else {
            return false;
        };
        if inst.flags() & CBF_FAIL_CONNECTIONS != 0 {
            return false;
        }
        let (t, s) = (TempString::new(topic), TempString::new(&self.service));
        let same = usize::from(origin.pid == std::process::id());
        inst.call(XTYP_CONNECT, 0, 0, t.0, s.0, 0, 0, same) != 0
    }

    fn connected(&self, topic: &str, origin: Origin) {
        let Some(inst) = self.inst() else { return };
        let Some(id) = pipework::dde::current_conversation() else {
            return;
        };
        let hconv = {
            let mut st = state();
            let h = st.next_conv;
            st.next_conv += 4;
            st.convs.insert(
                h,
                Conv {
                    inst: inst.id,
                    kind: ConvKind::Server {
                        service: self.service.clone(),
                        id,
                    },
                },
            );
            st.server_convs
                .insert((inst.id, fold(&self.service), id), h);
            h
        };
        if inst.flags() & CBF_SKIP_CONNECT_CONFIRMS == 0 {
            let (t, s) = (TempString::new(topic), TempString::new(&self.service));
            let same = usize::from(origin.pid == std::process::id());
            inst.call(XTYP_CONNECT_CONFIRM, 0, hconv, t.0, s.0, 0, 0, same);
        }
    }

    fn disconnect(&self, _topic: &str, origin: Origin) {
        let Some(inst) = self.inst() else { return };
        let h = self.hconv(&inst);
        if h == 0 {
            return;
        }
        if inst.flags() & CBF_SKIP_DISCONNECTS == 0 {
            let same = usize::from(origin.pid == std::process::id());
            inst.call(XTYP_DISCONNECT, 0, h, 0, 0, 0, 0, same);
        }
        forget_conv(h);
    }

    fn request(&self, topic: &str, item: &str, format: u32) -> Option<Vec<u8>> {
        self.render(XTYP_REQUEST, topic, item, format)
    }

    fn advise_request(&self, topic: &str, item: &str, format: u32) -> Option<Vec<u8>> {
        self.render(XTYP_ADVREQ, topic, item, format)
    }

    fn poke(&self, topic: &str, item: &str, format: u32, data: &[u8]) -> Ack {
        self.flags_call(XTYP_POKE, CBF_FAIL_POKES, topic, Some(item), format, data)
    }

    fn execute(&self, topic: &str, command: &[u8]) -> Ack {
        self.flags_call(XTYP_EXECUTE, CBF_FAIL_EXECUTES, topic, None, 0, command)
    }

    fn advise_start(&self, topic: &str, item: &str, format: u32) -> bool {
        let Some(inst) = self.inst() else {
            return false;
        };
        if inst.flags() & CBF_FAIL_ADVISES != 0 {
            return false;
        }
        let (t, i) = (TempString::new(topic), TempString::new(item));
        inst.call(XTYP_ADVSTART, format, self.hconv(&inst), t.0, i.0, 0, 0, 0) != 0
    }

    fn advise_stop(&self, topic: &str, item: &str, format: u32) {
        let Some(inst) = self.inst() else { return };
        let (t, i) = (TempString::new(topic), TempString::new(item));
        inst.call(XTYP_ADVSTOP, format, self.hconv(&inst), t.0, i.0, 0, 0, 0);
    }
}

fn forget_conv(h: usize) {
    let mut st = state();
    if let Some(c) = st.convs.remove(&h) {
        match c.kind {
            ConvKind::Client(conv) => {
                st.client_convs.remove(&(c.inst, conv.id()));
            }
            ConvKind::Server { service, id } => {
                st.server_convs.remove(&(c.inst, fold(&service), id));
            }
        }
    }
}

// ---- the client side ----

/// An advise update, on the client window's thread: `XTYP_ADVDATA` on the instance's.
fn advdata(inst: &Weak<Instance>, u: &Advise<'_>) {
    let Some(inst) = inst.upgrade().filter(|i| i.alive.load(Ordering::Acquire)) else {
        return;
    };
    let Some(h) = state()
        .client_convs
        .get(&(inst.id, u.conversation))
        .copied()
    else {
        return;
    };
    let (t, i) = (TempString::new(u.topic), TempString::new(u.item));
    let d = u
        .data
        .map(|b| TempData(new_data(b.to_vec(), u.format, i.0, false)));
    inst.call(
        XTYP_ADVDATA,
        u.format,
        h,
        t.0,
        i.0,
        d.as_ref().map_or(0, |d| d.0),
        0,
        0,
    );
}

/// A server ended a conversation of this client: `XTYP_DISCONNECT` on the instance's thread
/// (unless `CBF_SKIP_DISCONNECTS`), and its `HCONV` is no more.
fn disconnected(inst: &Weak<Instance>, id: ConversationId) {
    let Some(inst) = inst.upgrade().filter(|i| i.alive.load(Ordering::Acquire)) else {
        return;
    };
    let Some(h) = state().client_convs.get(&(inst.id, id)).copied() else {
        return;
    };
    // Gone before the callback hears of it: a client that learns of the hang-up there and
    // calls `DdeDisconnect` at once must find no conversation, whichever thread runs first.
    forget_conv(h);
    if inst.flags() & CBF_SKIP_DISCONNECTS == 0 {
        inst.call(XTYP_DISCONNECT, 0, h, 0, 0, 0, 0, 0);
    }
}

fn client_of(inst: &Arc<Instance>) -> std::io::Result<Arc<DdeClient>> {
    let mut c = inst.client.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = &*c {
        return Ok(c.clone());
    }
    let weak = Arc::downgrade(inst);
    let client = Arc::new(DdeClient::new(move |u| advdata(&weak, u))?);
    let weak = Arc::downgrade(inst);
    client.on_disconnect(move |id| disconnected(&weak, id));
    *c = Some(client.clone());
    Ok(client)
}

// ---- exported functions ----

unsafe fn initialize(pid: *mut DWORD, callback: PFNCALLBACK, af_cmd: DWORD) -> u32 {
    let Some(callback) = callback else {
        return DMLERR_INVALIDPARAMETER;
    };
    if pid.is_null() {
        return DMLERR_INVALIDPARAMETER;
    }
    if af_cmd & APPCLASS_MASK == APPCLASS_MONITOR {
        return DMLERR_DLL_USAGE;
    }
    // SAFETY: not NULL, a DWORD as the caller promises.
    let current = unsafe { *pid };
    let mut st = state();
    if current != 0 {
        // Reinitialising: only the callback filters change.
        return match st.instances.get(&current) {
            Some(inst) => {
                inst.af_cmd.store(af_cmd, Ordering::Relaxed);
                DMLERR_NO_ERROR
            }
            None => DMLERR_INVALIDPARAMETER,
        };
    }
    let id = st.next_instance;
    st.next_instance += 1;
    st.instances.insert(
        id,
        Arc::new(Instance {
            id,
            tid: crate::process::GetCurrentThreadId(),
            callback,
            af_cmd: AtomicU32::new(af_cmd),
            error: AtomicU32::new(0),
            alive: AtomicBool::new(true),
            client: Mutex::new(None),
            servers: Mutex::new(HashMap::new()),
        }),
    );
    // SAFETY: as above.
    unsafe { *pid = id };
    DMLERR_NO_ERROR
}

/// `DdeInitializeA`: a new instance (`*pidInst` 0) whose callback runs on this thread, or new
/// callback filters for an existing one. `APPCLASS_MONITOR` is not offered
/// (`DMLERR_DLL_USAGE`).
///
/// # Safety
/// `pid` points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn DdeInitializeA(
    pid: *mut DWORD,
    callback: PFNCALLBACK,
    af_cmd: DWORD,
    _reserved: DWORD,
) -> u32 {
    crate::boundary::guard(0x400f, move || {
        // SAFETY: as the caller promises.
        unsafe { initialize(pid, callback, af_cmd) }
    })
}

/// `DdeInitializeW`.
///
/// # Safety
/// `pid` points to a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn DdeInitializeW(
    pid: *mut DWORD,
    callback: PFNCALLBACK,
    af_cmd: DWORD,
    _reserved: DWORD,
) -> u32 {
    crate::boundary::guard(0x400f, move || {
        // SAFETY: as the caller promises.
        unsafe { initialize(pid, callback, af_cmd) }
    })
}

/// `DdeUninitialize`: ends the instance's conversations, unregisters its services.
#[no_mangle]
pub extern "C" fn DdeUninitialize(inst: DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let Some(instance) = state().instances.remove(&inst) else {
            return FALSE;
        };
        let convs: Vec<(usize, Option<Conversation>)> = {
            let st = state();
            st.convs
                .iter()
                .filter(|(_, c)| c.inst == inst)
                .map(|(h, c)| {
                    let conv = match &c.kind {
                        ConvKind::Client(conv) => Some(conv.clone()),
                        ConvKind::Server { .. } => None,
                    };
                    (*h, conv)
                })
                .collect()
        };
        let clients: Vec<Conversation> = convs.iter().filter_map(|(_, c)| c.clone()).collect();
        let _ = pumping(move || {
            for conv in clients {
                let _ = conv.disconnect();
            }
        });
        for (h, _) in convs {
            forget_conv(h);
        }
        instance.alive.store(false, Ordering::Release);
        let servers: Vec<DdeServer> = instance
            .servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        close_servers(servers);
        drop(
            instance
                .client
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        TRUE
    })
}

/// Unregisters `servers`, each answering the transaction under way first (its answer may be
/// this thread's callback, run meanwhile).
fn close_servers(servers: Vec<DdeServer>) {
    if servers.is_empty() {
        return;
    }
    let _ = pumping(move || {
        for s in servers {
            s.close();
        }
    });
}

/// `DdeGetLastError`: the instance's last DDEML error, cleared
/// (`DMLERR_DLL_NOT_INITIALIZED` for an unknown instance).
#[no_mangle]
pub extern "C" fn DdeGetLastError(inst: DWORD) -> u32 {
    crate::boundary::guard(0, move || match instance(inst) {
        Some(i) => i.error.swap(0, Ordering::Relaxed),
        None => DMLERR_DLL_NOT_INITIALIZED,
    })
}

/// `DdeCreateStringHandleA`: the handle of `s` (the same for every case of it), one more
/// reference.
///
/// # Safety
/// `s` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn DdeCreateStringHandleA(inst: DWORD, s: *const c_char, _cp: i32) -> HSZ {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as the caller promises.
        create_string(inst, unsafe { ansi(s) })
    })
}

/// `DdeCreateStringHandleW`.
///
/// # Safety
/// `s` is NULL or a NUL-terminated wide string.
#[no_mangle]
pub unsafe extern "C" fn DdeCreateStringHandleW(inst: DWORD, s: *const WCHAR, _cp: i32) -> HSZ {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        // SAFETY: as the caller promises.
        create_string(inst, unsafe { wide(s) })
    })
}

/// `DdeFreeStringHandle`.
#[no_mangle]
pub extern "C" fn DdeFreeStringHandle(inst: DWORD, hsz: HSZ) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        if instance(inst).is_none() {
            return FALSE;
        }
        if release(hsz as usize) {
            TRUE
        } else {
            FALSE
        }
    })
}

/// `DdeKeepStringHandle`: one more reference.
#[no_mangle]
pub extern "C" fn DdeKeepStringHandle(inst: DWORD, hsz: HSZ) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        if instance(inst).is_none() {
            return FALSE;
        }
        match state().strings.get_mut(&(hsz as usize)) {
            Some(e) => {
                e.1 += 1;
                TRUE
            }
            None => FALSE,
        }
    })
}

/// `DdeCmpStringHandles`: 0 when both stand for the same string (whatever its case), else -1
/// or 1 by handle value.
#[no_mangle]
pub extern "C" fn DdeCmpStringHandles(a: HSZ, b: HSZ) -> i32 {
    crate::boundary::guard(0, move || (a as usize).cmp(&(b as usize)) as i32)
}

fn query(inst: DWORD, hsz: HSZ) -> Option<String> {
    instance(inst)?;
    string_of(hsz as usize)
}

/// `DdeQueryStringA`: the string's length without NUL (`psz` NULL), or copies at most
/// `cch - 1` bytes and a NUL and returns how many; 0 for an unknown handle.
///
/// # Safety
/// `psz` is NULL or holds `cch` bytes.
#[no_mangle]
pub unsafe extern "C" fn DdeQueryStringA(
    inst: DWORD,
    hsz: HSZ,
    psz: *mut c_char,
    cch: DWORD,
    _cp: i32,
) -> DWORD {
    crate::boundary::guard(0, move || {
        let Some(s) = query(inst, hsz) else { return 0 };
        let b = s.as_bytes();
        if psz.is_null() {
            return b.len() as DWORD;
        }
        if cch == 0 {
            return 0;
        }
        let n = b.len().min(cch as usize - 1);
        // SAFETY: `psz` holds `cch` bytes, and n + 1 <= cch.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), psz.cast::<u8>(), n);
            *psz.add(n) = 0;
        }
        n as DWORD
    })
}

/// `DdeQueryStringW`: as `DdeQueryStringA`, in UTF-16 units.
///
/// # Safety
/// `psz` is NULL or holds `cch` units.
#[no_mangle]
pub unsafe extern "C" fn DdeQueryStringW(
    inst: DWORD,
    hsz: HSZ,
    psz: *mut WCHAR,
    cch: DWORD,
    _cp: i32,
) -> DWORD {
    crate::boundary::guard(0, move || {
        let Some(s) = query(inst, hsz) else { return 0 };
        let units: Vec<u16> = s.encode_utf16().collect();
        if psz.is_null() {
            return units.len() as DWORD;
        }
        if cch == 0 {
            return 0;
        }
        let n = units.len().min(cch as usize - 1);
        // SAFETY: `psz` holds `cch` units, and n + 1 <= cch.
        unsafe {
            std::ptr::copy_nonoverlapping(units.as_ptr(), psz, n);
            *psz.add(n) = 0;
        }
        n as DWORD
    })
}

/// `DdeNameService`: `DNS_REGISTER` a service (a pipework [`DdeServer`] answering through the
/// callback), `DNS_UNREGISTER` one (or all, `hsz1` NULL); `DNS_FILTERON`/`OFF` are accepted
/// (only registered services are ever connected). Nonzero on success.
#[no_mangle]
pub extern "C" fn DdeNameService(inst: DWORD, hsz1: HSZ, _hsz2: HSZ, af_cmd: u32) -> HDDEDATA {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let Some(instance) = instance(inst) else {
            return std::ptr::null_mut();
        };
        let result = (|| {
            if instance.flags() & APPCMD_CLIENTONLY != 0 {
                return Err(DMLERR_DLL_USAGE);
            }
            let service = opt_string(hsz1)?;
            if af_cmd & DNS_REGISTER != 0 {
                let service = service.ok_or(DMLERR_INVALIDPARAMETER)?;
                let key = fold(&service);
                if instance
                    .servers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains_key(&key)
                {
                    return Ok(());
                }
                let handler = Served {
                    inst: Arc::downgrade(&instance),
                    service: service.clone(),
                };
                let server = DdeServer::register(&service, handler).map_err(|e| {
                    if e.kind() == ErrorKind::InvalidInput {
                        DMLERR_INVALIDPARAMETER
                    } else {
                        DMLERR_SYS_ERROR
                    }
                })?;
                instance
                    .servers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, server);
            } else if af_cmd & DNS_UNREGISTER != 0 {
                let gone: Vec<DdeServer> = {
                    let mut servers = instance.servers.lock().unwrap_or_else(|e| e.into_inner());
                    match service {
                        None => servers.drain().map(|(_, s)| s).collect(),
                        Some(s) => servers
                            .remove(&fold(&s))
                            .map(|s| vec![s])
                            .ok_or(DMLERR_INVALIDPARAMETER)?,
                    }
                };
                close_servers(gone);
            }
            Ok(())
        })();
        match result {
            Ok(()) => 1 as HDDEDATA,
            Err(code) => {
                instance.fail(code);
                std::ptr::null_mut()
            }
        }
    })
}

/// `DdeConnect`: a conversation with the first server of `hszService` that accepts
/// `hszTopic` (NULL: any); NULL and `DMLERR_NO_CONV_ESTABLISHED` when none does. The
/// callbacks of this thread's own servers run meanwhile. `pCC` is ignored.
#[no_mangle]
pub extern "C" fn DdeConnect(
    inst: DWORD,
    hsz_service: HSZ,
    hsz_topic: HSZ,
    _cc: *mut c_void,
) -> HCONV {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let Some(instance) = instance(inst) else {
            return std::ptr::null_mut();
        };
        let result = (|| {
            let service = opt_string(hsz_service)?;
            let topic = opt_string(hsz_topic)?;
            let client = client_of(&instance).map_err(|_| DMLERR_SYS_ERROR)?;
            let conv = pumping(|| client.connect(service.as_deref(), topic.as_deref()))
                .map_err(|_| DMLERR_SYS_ERROR)?
                .map_err(|_| DMLERR_NO_CONV_ESTABLISHED)?;
            let mut st = state();
            let h = st.next_conv;
            st.next_conv += 4;
            st.client_convs.insert((inst, conv.id()), h);
            st.convs.insert(
                h,
                Conv {
                    inst,
                    kind: ConvKind::Client(conv),
                },
            );
            Ok(h)
        })();
        match result {
            Ok(h) => h as HCONV,
            Err(code) => {
                instance.fail(code);
                std::ptr::null_mut()
            }
        }
    })
}

/// `DdeDisconnect`: ends a conversation from either side (the partner's callback gets
/// `XTYP_DISCONNECT` when it is a client ending it).
#[no_mangle]
pub extern "C" fn DdeDisconnect(hconv: HCONV) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let h = hconv as usize;
        let found = {
            let st = state();
            st.convs.get(&h).map(|c| {
                (
                    c.inst,
                    match &c.kind {
                        ConvKind::Client(conv) => Ok(conv.clone()),
                        ConvKind::Server { service, id } => Err((service.clone(), *id)),
                    },
                )
            })
        };
        let Some((inst, kind)) = found else {
            fail_thread(DMLERR_NO_CONV_ESTABLISHED);
            return FALSE;
        };
        forget_conv(h);
        match kind {
            Ok(conv) => {
                let _ = pumping(move || conv.disconnect());
            }
            Err((service, id)) => {
                if let Some(instance) = instance(inst) {
                    if let Some(server) = instance
                        .servers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&fold(&service))
                    {
                        server.disconnect(id);
                    }
                }
            }
        }
        TRUE
    })
}

/// What a client transaction does.
enum Op {
    Request,
    Poke(Vec<u8>),
    Execute(Vec<u8>),
    AdviseStart(AdviseFlags),
    AdviseStop,
}

/// A transaction's outcome: a data handle (requests), TRUE, or the DMLERR code; and the
/// `DDE_F*` status for `pdwResult`.
type Outcome = (Result<usize, u32>, u32);

fn run(
    conv: &Conversation,
    op: &Op,
    inst: u32,
    item: Option<&str>,
    item_h: usize,
    fmt: u32,
) -> Outcome {
    let item = item.unwrap_or("");
    let timeout_code = match op {
        Op::Request => DMLERR_DATAACKTIMEOUT,
        Op::Poke(_) => DMLERR_POKEACKTIMEOUT,
        Op::Execute(_) => DMLERR_EXECACKTIMEOUT,
        Op::AdviseStart(_) => DMLERR_ADVACKTIMEOUT,
        Op::AdviseStop => DMLERR_UNADVACKTIMEOUT,
    };
    let err = |e: std::io::Error| match e.kind() {
        ErrorKind::TimedOut => timeout_code,
        ErrorKind::InvalidInput => DMLERR_INVALIDPARAMETER,
        _ => DMLERR_NO_CONV_ESTABLISHED,
    };
    let ack = |r: std::io::Result<Ack>| -> Outcome {
        match r {
            Ok(Ack::Ack) => (Ok(1), DDE_FACK),
            Ok(Ack::Busy) => (Err(DMLERR_BUSY), DDE_FBUSY),
            Ok(Ack::NotProcessed) => (Err(DMLERR_NOTPROCESSED), 0),
            Err(e) => (Err(err(e)), 0),
        }
    };
    let _ = inst;
    match op {
        Op::Request => match conv.request(item, fmt) {
            Ok(Some(bytes)) => (Ok(new_data(bytes, fmt, item_h, false)), DDE_FACK),
            Ok(None) => (Err(DMLERR_NOTPROCESSED), 0),
            Err(e) => (Err(err(e)), 0),
        },
        Op::Poke(data) => ack(conv.poke(item, fmt, data)),
        Op::Execute(data) => ack(conv.execute(data)),
        Op::AdviseStart(flags) => ack(conv.advise_start(item, fmt, *flags)),
        Op::AdviseStop => ack(conv.advise_stop(item, fmt)),
    }
}

/// `DdeClientTransaction`: `XTYP_REQUEST` (the data handle, the caller's to free),
/// `XTYP_POKE`, `XTYP_EXECUTE`, `XTYP_ADVSTART` (with `XTYPF_NODATA`, `XTYPF_ACKREQ`),
/// `XTYP_ADVSTOP` (TRUE). Synchronous with `dwTimeout` milliseconds (the callbacks of this
/// thread run meanwhile), or `TIMEOUT_ASYNC`: TRUE at once, the transaction's id in
/// `*pdwResult`, and `XTYP_XACT_COMPLETE` to the callback later. `cbData` -1 passes `pData`
/// as an `HDDEDATA`.
///
/// # Safety
/// `data` holds `cb` bytes (or is an `HDDEDATA` when `cb` is -1); `result` is NULL or a
/// `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn DdeClientTransaction(
    data: *const u8,
    cb: DWORD,
    hconv: HCONV,
    hsz_item: HSZ,
    fmt: u32,
    ty: u32,
    timeout: DWORD,
    result: *mut DWORD,
) -> HDDEDATA {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let h = hconv as usize;
        let found = {
            let st = state();
            st.convs.get(&h).map(|c| {
                (
                    c.inst,
                    match &c.kind {
                        ConvKind::Client(conv) => Some(conv.clone()),
                        ConvKind::Server { .. } => None,
                    },
                )
            })
        };
        let Some((inst, conv)) = found else {
            fail_thread(DMLERR_NO_CONV_ESTABLISHED);
            return std::ptr::null_mut();
        };
        let Some(instance) = instance(inst) else {
            return std::ptr::null_mut();
        };
        let fail = |code: u32| {
            instance.fail(code);
            std::ptr::null_mut()
        };
        let Some(mut conv) = conv else {
            return fail(DMLERR_INVALIDPARAMETER);
        };
        let item = match opt_string(hsz_item) {
            Ok(i) => i,
            Err(code) => return fail(code),
        };
        let bytes = || -> Option<Vec<u8>> {
            if cb == u32::MAX {
                take_data(data as usize)
            } else if data.is_null() || cb == 0 {
                Some(Vec::new())
            } else {
                // SAFETY: `data` holds `cb` bytes, as the caller promises.
                Some(unsafe { std::slice::from_raw_parts(data, cb as usize) }.to_vec())
            }
        };
        let base = ty & !(XTYPF_NODATA | XTYPF_ACKREQ);
        let needs_item = base != XTYP_EXECUTE;
        if needs_item && item.is_none() {
            return fail(DMLERR_INVALIDPARAMETER);
        }
        let op = match base {
            XTYP_REQUEST => Op::Request,
            XTYP_POKE => match bytes() {
                Some(b) => Op::Poke(b),
                None => return fail(DMLERR_INVALIDPARAMETER),
            },
            XTYP_EXECUTE => match bytes() {
                Some(b) => Op::Execute(b),
                None => return fail(DMLERR_INVALIDPARAMETER),
            },
            XTYP_ADVSTART => Op::AdviseStart(AdviseFlags {
                nodata: ty & XTYPF_NODATA != 0,
                ackreq: ty & XTYPF_ACKREQ != 0,
            }),
            XTYP_ADVSTOP => Op::AdviseStop,
            _ => return fail(DMLERR_INVALIDPARAMETER),
        };
        let item_h = hsz_item as usize;
        if timeout == TIMEOUT_ASYNC {
            let id = {
                let mut st = state();
                let id = st.next_transaction;
                st.next_transaction = st.next_transaction.wrapping_add(1).max(1);
                st.pending.insert(id, h);
                id
            };
            if item_h != 0 {
                DdeKeepStringHandle(inst, hsz_item);
            }
            let weak = Arc::downgrade(&instance);
            let topic = conv.topic().to_string();
            drop(conv.start(move |c| {
                let (r, status) = run(c, &op, inst, item.as_deref(), item_h, fmt);
                complete(&weak, h, &topic, item_h, fmt, id, r, status);
                if item_h != 0 {
                    release(item_h);
                }
                Ok(())
            }));
            if !result.is_null() {
                // SAFETY: not NULL, a DWORD as the caller promises.
                unsafe { *result = id };
            }
            return 1 as HDDEDATA;
        }
        conv.set_timeout(Duration::from_millis(timeout.max(1).into()));
        let outcome = pumping(|| run(&conv, &op, inst, item.as_deref(), item_h, fmt));
        let (r, status) = outcome.unwrap_or((Err(DMLERR_SYS_ERROR), 0));
        if !result.is_null() {
            // SAFETY: not NULL, a DWORD as the caller promises.
            unsafe { *result = status };
        }
        match r {
            Ok(h) => h as HDDEDATA,
            Err(code) => fail(code),
        }
    })
}

/// An asynchronous transaction ended: `XTYP_XACT_COMPLETE` on the instance's thread (unless
/// abandoned).
#[allow(clippy::too_many_arguments)]
fn complete(
    inst: &Weak<Instance>,
    hconv: usize,
    topic: &str,
    item: usize,
    fmt: u32,
    id: u32,
    r: Result<usize, u32>,
    status: u32,
) {
    let data = match r {
        Ok(h) if h != 1 => Some(TempData(h)),
        _ => None,
    };
    let Some(inst) = inst.upgrade().filter(|i| i.alive.load(Ordering::Acquire)) else {
        let mut st = state();
        st.pending.remove(&id);
        st.abandoned.remove(&id);
        return;
    };
    if let Err(code) = r {
        inst.fail(code);
    }
    let hdata = match (&data, r) {
        (Some(d), _) => d.0,
        (None, Ok(_)) => 1,
        (None, Err(_)) => 0,
    };
    let t = TempString::new(topic);
    inst.call_unless(
        Some(id),
        XTYP_XACT_COMPLETE,
        fmt,
        hconv,
        t.0,
        item,
        hdata,
        id as usize,
        status as usize,
    );
}

/// `DdeAbandonTransaction`: the asynchronous transaction `id` (0: every one of `hConv`, or of
/// the instance when `hConv` is NULL) gets no `XTYP_XACT_COMPLETE` from now on, even if it has
/// completed and its callback waits for this thread; `DMLERR_UNFOUND_QUEUE_ID` when no such
/// transaction is pending.
#[no_mangle]
pub extern "C" fn DdeAbandonTransaction(inst: DWORD, hconv: HCONV, id: DWORD) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let Some(instance) = instance(inst) else {
            return FALSE;
        };
        let mut st = state();
        let ids: Vec<u32> = st
            .pending
            .iter()
            .filter(|(i, h)| {
                let conv_of_inst = st.convs.get(h).is_some_and(|c| c.inst == inst);
                conv_of_inst
                    && (if id == 0 {
                        hconv.is_null() || **h == hconv as usize
                    } else {
                        **i == id
                    })
            })
            .map(|(i, _)| *i)
            .collect();
        if ids.is_empty() {
            drop(st);
            instance.fail(DMLERR_UNFOUND_QUEUE_ID);
            return FALSE;
        }
        st.abandoned.extend(ids);
        TRUE
    })
}

/// `DdePostAdvise`: `hszItem` of `hszTopic` changed: the links on it get an update, each hot
/// link the data of an `XTYP_ADVREQ` to the callback (called here, once per format).
#[no_mangle]
pub extern "C" fn DdePostAdvise(inst: DWORD, hsz_topic: HSZ, hsz_item: HSZ) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        let Some(instance) = instance(inst) else {
            return FALSE;
        };
        let (Ok(Some(topic)), Ok(Some(item))) = (opt_string(hsz_topic), opt_string(hsz_item))
        else {
            instance.fail(DMLERR_INVALIDPARAMETER);
            return FALSE;
        };
        let servers = instance.servers.lock().unwrap_or_else(|e| e.into_inner());
        for server in servers.values() {
            server.post_advise(&topic, &item);
        }
        TRUE
    })
}

/// `DdeCreateDataHandle`: a handle holding `cbOff` zero bytes then the `cb` bytes at `pSrc`
/// (zeros for NULL); `HDATA_APPOWNED` keeps it alive across transactions until
/// `DdeFreeDataHandle`.
///
/// # Safety
/// `src` is NULL or holds `cb` bytes.
#[no_mangle]
pub unsafe extern "C" fn DdeCreateDataHandle(
    inst: DWORD,
    src: *const u8,
    cb: DWORD,
    off: DWORD,
    hsz_item: HSZ,
    fmt: u32,
    af_cmd: u32,
) -> HDDEDATA {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let Some(instance) = instance(inst) else {
            return std::ptr::null_mut();
        };
        if !hsz_item.is_null() && string_of(hsz_item as usize).is_none() {
            instance.fail(DMLERR_INVALIDPARAMETER);
            return std::ptr::null_mut();
        }
        let len = off as usize + cb as usize;
        let mut bytes = Vec::new();
        if bytes.try_reserve_exact(len).is_err() {
            instance.fail(DMLERR_MEMORY_ERROR);
            return std::ptr::null_mut();
        }
        bytes.resize(len, 0);
        if !src.is_null() && cb > 0 {
            // SAFETY: `src` holds `cb` bytes, as the caller promises.
            let s = unsafe { std::slice::from_raw_parts(src, cb as usize) };
            bytes[off as usize..].copy_from_slice(s);
        }
        new_data(bytes, fmt, hsz_item as usize, af_cmd & HDATA_APPOWNED != 0) as HDDEDATA
    })
}

/// `DdeAddData`: writes `cb` bytes at `cbOff`, growing the handle as needed; the handle.
///
/// # Safety
/// `src` holds `cb` bytes.
#[no_mangle]
pub unsafe extern "C" fn DdeAddData(
    h: HDDEDATA,
    src: *const u8,
    cb: DWORD,
    off: DWORD,
) -> HDDEDATA {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let mut st = state();
        let Some(d) = st.data.get_mut(&(h as usize)) else {
            drop(st);
            fail_thread(DMLERR_INVALIDPARAMETER);
            return std::ptr::null_mut();
        };
        let end = off as usize + cb as usize;
        if d.bytes.len() < end {
            if d.bytes.try_reserve_exact(end - d.bytes.len()).is_err() {
                drop(st);
                fail_thread(DMLERR_MEMORY_ERROR);
                return std::ptr::null_mut();
            }
            d.bytes.resize(end, 0);
        }
        if !src.is_null() && cb > 0 {
            // SAFETY: `src` holds `cb` bytes, as the caller promises.
            let s = unsafe { std::slice::from_raw_parts(src, cb as usize) };
            d.bytes[off as usize..end].copy_from_slice(s);
        }
        h
    })
}

/// `DdeAccessData`: a pointer to the handle's bytes (valid until `DdeFreeDataHandle` or
/// `DdeAddData`), their size in `*pcbDataSize`.
///
/// # Safety
/// `size` is NULL or a `DWORD`.
#[no_mangle]
pub unsafe extern "C" fn DdeAccessData(h: HDDEDATA, size: *mut DWORD) -> *mut u8 {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let mut st = state();
        let Some(d) = st.data.get_mut(&(h as usize)) else {
            drop(st);
            fail_thread(DMLERR_INVALIDPARAMETER);
            return std::ptr::null_mut();
        };
        if !size.is_null() {
            // SAFETY: not NULL, a DWORD as the caller promises.
            unsafe { *size = d.bytes.len() as DWORD };
        }
        d.bytes.as_mut_ptr()
    })
}

/// `DdeUnaccessData`.
#[no_mangle]
pub extern "C" fn DdeUnaccessData(h: HDDEDATA) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        if state().data.contains_key(&(h as usize)) {
            TRUE
        } else {
            fail_thread(DMLERR_INVALIDPARAMETER);
            FALSE
        }
    })
}

/// `DdeGetData`: copies at most `cbMax` bytes from `cbOff` and returns how many; with `pDst`
/// NULL, the handle's size.
///
/// # Safety
/// `dst` is NULL or holds `max` bytes.
#[no_mangle]
pub unsafe extern "C" fn DdeGetData(h: HDDEDATA, dst: *mut u8, max: DWORD, off: DWORD) -> DWORD {
    crate::boundary::guard(0, move || {
        let st = state();
        let Some(d) = st.data.get(&(h as usize)) else {
            drop(st);
            fail_thread(DMLERR_INVALIDPARAMETER);
            return 0;
        };
        if dst.is_null() {
            return d.bytes.len() as DWORD;
        }
        let Some(rest) = d.bytes.get(off as usize..) else {
            drop(st);
            fail_thread(DMLERR_INVALIDPARAMETER);
            return 0;
        };
        let n = rest.len().min(max as usize);
        // SAFETY: `dst` holds `max` bytes and n <= max.
        unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), dst, n) };
        n as DWORD
    })
}

/// `DdeFreeDataHandle`.
#[no_mangle]
pub extern "C" fn DdeFreeDataHandle(h: HDDEDATA) -> BOOL {
    crate::boundary::guard(FALSE, move || {
        if free_data(h as usize) {
            TRUE
        } else {
            fail_thread(DMLERR_INVALIDPARAMETER);
            FALSE
        }
    })
}
