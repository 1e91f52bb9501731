//! The shared core of mutexes, semaphores and events: one page of shared memory per object, the
//! state word that futexes wait on, and the wait algorithms (one object, any of many, all of
//! many) that every kind shares.
//!
//! # The state word
//! Every object's whole waitable state is one 32-bit word, so taking an uncontended object is one
//! compare-and-swap and no system call:
//!
//! * mutex: the owning thread's id (0: free);
//! * semaphore: the count;
//! * event: 1 signaled, 0 not.
//!
//! Bit 31 is the *guard*: a `wait_all` sets it on each of its objects (in a fixed order: device
//! and inode), checks that all are signaled, then applies every change and clears the guards.
//! Every other change to a word is a compare-and-swap that expects the guard clear, so while a
//! wait-all holds the guards nothing else can change its objects: it takes all or nothing.
//! A guard holder that dies is detected by its thread id and the guard is cleared.
//!
//! Waiters count themselves in a second word and sleep in `futex_wait` (one object) or
//! `futex_waitv` (many) on the state words; a change that can satisfy a waiter wakes all the
//! sleepers on that word if the count is not zero.
//!
//! # Trust
//! Another process can write anything into the page. Everything read from it is treated as a
//! hint: the kind and parameters are checked once when the object is opened and then kept in
//! this process, arithmetic on shared values wraps, and no shared value is used as an index.

use std::fs;
use std::io::{self, ErrorKind};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

use rustix::fs::{fcntl_add_seals, fstat, ftruncate, memfd_create, MemfdFlags, SealFlags};
use rustix::io::Errno;
use rustix::thread::futex;

use crate::name::object::{self as namespace, ObjectName as Name};
use crate::name::{Kind, Lease};
use crate::sys::shm::{Protection, Region};

const MAGIC: u32 = 0x5057_534f;
const VERSION: u32 = 1;
/// Bytes of an object's file.
pub(crate) const OBJECT_SIZE: u64 = 4096;
pub(crate) const GUARD: u32 = 1 << 31;
pub(crate) const VALUE: u32 = !GUARD;

/// The page every sync object lives in.
#[repr(C)]
pub(crate) struct Header {
    magic: AtomicU32,
    version: AtomicU32,
    kind: AtomicU32,
    /// Semaphore: maximum count. Event: 1 manual-reset, 0 auto-reset.
    param: AtomicU32,
    pub(crate) state: AtomicU32,
    pub(crate) waiters: AtomicU32,
    /// Mutex: the last owner's thread id, written after its pid and start time (a record kept
    /// after release: it is only believed while the state word names the same thread).
    pub(crate) owner_tid: AtomicU32,
    pub(crate) owner_pid: AtomicU32,
    pub(crate) owner_start: AtomicU64,
    pub(crate) recursion: AtomicU32,
    pub(crate) guard_tid: AtomicU32,
}

fn kind_code(kind: Kind) -> u32 {
    match kind {
        Kind::Mapping | Kind::Pipe | Kind::Mailslot | Kind::ShmPipe => 0,
        Kind::Mutex => 1,
        Kind::Semaphore => 2,
        Kind::Event => 3,
    }
}

/// One opened sync object.
#[derive(Debug)]
pub(crate) struct Object {
    region: ManuallyDrop<Region>,
    /// Always `Some` until drop or [`Object::into_fd`].
    fd: Option<OwnedFd>,
    pub(crate) kind: Kind,
    pub(crate) param: u32,
    pub(crate) name: Option<Name>,
    /// This process's hold on the name, released after the view and the file are closed.
    lease: Option<Lease>,
    pub(crate) existed: bool,
    pub(crate) identity: (u64, u64),
}

impl Object {
    /// A new unnamed object (a sealed memfd).
    pub(crate) fn new_unnamed(kind: Kind, param: u32, state: u32) -> io::Result<Object> {
        let fd = memfd_create(
            format!("pipework-{kind}"),
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        init(&fd, kind, param, state)?;
        fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        Object::from_fd(fd, kind, None, false)
    }

    /// Creates the named object, or opens the existing one of the same kind.
    pub(crate) fn create(name: &str, kind: Kind, param: u32, state: u32) -> io::Result<Object> {
        let name = Name::parse(name)?;
        let created = namespace::create(&name, kind, |fd| init(fd, kind, param, state))?;
        Object::from_fd(created.fd, kind, Some(name), created.existed)
    }

    /// Opens the existing named object.
    pub(crate) fn open(name: &str, kind: Kind) -> io::Result<Object> {
        let name = Name::parse(name)?;
        let fd = namespace::open(&name, kind, true)?;
        Object::from_fd(fd, kind, Some(name), true)
    }

    /// Maps and validates an object's file. `InvalidData` when it is not a `kind`.
    pub(crate) fn from_fd(
        fd: OwnedFd,
        kind: Kind,
        name: Option<Name>,
        existed: bool,
    ) -> io::Result<Object> {
        let label = name
            .as_ref()
            .map(|n| n.display.clone())
            .unwrap_or_else(|| format!("unnamed {kind}"));
        let invalid = |why: &str| io::Error::new(ErrorKind::InvalidData, format!("{label}: {why}"));
        let st = fstat(&fd)?;
        if (st.st_size as u64) < OBJECT_SIZE {
            return Err(invalid("not a pipework synchronization object (too small)"));
        }
        let region = Region::map(&fd, 0, OBJECT_SIZE as usize, Protection::ReadWrite)?;
        let object = Object {
            region: ManuallyDrop::new(region),
            fd: Some(fd),
            kind,
            param: 0,
            lease: name.as_ref().map(|n| Lease::object(n, kind)),
            name,
            existed,
            identity: (st.st_dev, st.st_ino),
        };
        let h = object.header();
        if h.magic.load(SeqCst) != MAGIC || h.version.load(SeqCst) != VERSION {
            return Err(invalid("not a pipework synchronization object"));
        }
        let code = h.kind.load(SeqCst);
        if code != kind_code(kind) {
            return Err(invalid(&format!("not a {kind} (kind code {code})")));
        }
        let param = h.param.load(SeqCst);
        match kind {
            Kind::Semaphore if param == 0 || param > VALUE => {
                return Err(invalid("its maximum count is out of range"))
            }
            Kind::Event if param > 1 => return Err(invalid("its reset mode is out of range")),
            _ => {}
        }
        let mut object = object;
        object.param = param;
        Ok(object)
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the region is at least OBJECT_SIZE bytes (checked in `from_fd` before mapping),
        // page-aligned, and lives as long as `&self`; `Header` is all atomics, so sharing it with
        // other processes that write anything at any time is sound.
        unsafe { &*self.region.as_ptr().cast::<Header>() }
    }

    pub(crate) fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} {}", self.kind, n.display),
            None => format!("unnamed {}", self.kind),
        }
    }

    pub(crate) fn try_clone(&self) -> io::Result<Object> {
        // The copy shares this open file, and so its hold on the name.
        let fd = self.as_fd().try_clone_to_owned()?;
        Object::from_fd(fd, self.kind, self.name.clone(), true)
    }

    /// Gives up the object's file (its hold on the name goes with it).
    pub(crate) fn into_fd(mut self) -> OwnedFd {
        self.name = None;
        if let Some(lease) = self.lease.take() {
            lease.disarm();
        }
        let fd = self.fd.take();
        drop(self);
        fd.expect("an object owns its file until dropped")
    }

    /// Wakes every sleeper on the state word, if any process counts itself as waiting.
    pub(crate) fn wake_all(&self) {
        let h = self.header();
        if h.waiters.load(SeqCst) != 0 {
            let _ = futex::wake(&h.state, futex::Flags::empty(), i32::MAX as u32);
        }
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: the region is dropped exactly once, here, and never used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.region) };
        drop(self.fd.take());
        // This process's view and file are gone: the name goes too if no one else holds it.
        drop(self.lease.take());
    }
}

impl AsFd for Object {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.fd {
            Some(fd) => fd.as_fd(),
            None => unreachable!("an object owns its file until dropped"),
        }
    }
}

fn init(fd: &OwnedFd, kind: Kind, param: u32, state: u32) -> io::Result<()> {
    ftruncate(fd, OBJECT_SIZE)?;
    let region = Region::map(fd, 0, OBJECT_SIZE as usize, Protection::ReadWrite)?;
    let words = [MAGIC, VERSION, kind_code(kind), param, state];
    for (i, w) in words.iter().enumerate() {
        region.atomic_u32(i * 4)?.store(*w, SeqCst);
    }
    Ok(())
}

/// The calling thread's identity: thread id, process id, and the thread's start time (which
/// tells a live thread from a later one that reused its id).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Me {
    pub(crate) tid: u32,
    pub(crate) pid: u32,
    pub(crate) start: u64,
}

thread_local! {
    static ME: std::cell::Cell<Option<Me>> = const { std::cell::Cell::new(None) };
}

/// This thread's identity, found once per thread (and again in a child made by `fork`).
#[inline]
pub(crate) fn me() -> Me {
    ME.with(|cell| match cell.get() {
        Some(me) => me,
        None => {
            static FORGET_AFTER_FORK: std::sync::Once = std::sync::Once::new();
            FORGET_AFTER_FORK.call_once(|| crate::sys::at_fork_in_child(forget_me));
            let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
            let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
            let start = start_time(pid, tid).unwrap_or(0);
            let me = Me { tid, pid, start };
            cell.set(Some(me));
            me
        }
    })
}

/// In a child just made by `fork`: its one thread is a new thread with its own id.
extern "C" fn forget_me() {
    // A plain write to a constant-initialised thread-local without destructor: allowed here.
    let _ = ME.try_with(|cell| cell.set(None));
}

/// Whether `/proc` can tell which threads live; without it no owner is ever declared dead.
fn proc_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| std::path::Path::new("/proc/self/stat").exists())
}

/// A thread's start time (clock ticks since boot), from `/proc/PID/task/TID/stat`.
fn start_time(pid: u32, tid: u32) -> Option<u64> {
    let stat = fs::read(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: fields after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After ')': field 3 (state) is the first; start time is field 22.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Whether the thread `tid` (which is on record as of process `pid`, started at `start`) is gone.
pub(crate) fn thread_is_dead(tid: u32, pid: u32, start: u64) -> bool {
    if tid == 0 || tid > VALUE {
        return true;
    }
    if !proc_available() {
        return false;
    }
    if !std::path::Path::new(&format!("/proc/{tid}")).exists() {
        return true;
    }
    if pid == 0 || start == 0 {
        return false;
    }
    match start_time(pid, tid) {
        Some(now) => now != start,
        None => !std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists(),
    }
}

/// Whether a mutex owned by `owner` (a state value) has lost its owner.
pub(crate) fn owner_is_dead(h: &Header, owner: u32) -> bool {
    if h.owner_tid.load(SeqCst) == owner {
        let pid = h.owner_pid.load(SeqCst);
        let start = h.owner_start.load(SeqCst);
        // Re-check that the record is still this owner's after reading it.
        if h.owner_tid.load(SeqCst) == owner {
            return thread_is_dead(owner, pid, start);
        }
    }
    // The owner has not written its record yet (or is mid-change): dead only if its thread is.
    thread_is_dead(owner, 0, 0)
}

/// What taking an object does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Take {
    /// Not signaled.
    No,
    /// Signaled: the state becomes `new`; `abandoned` for a mutex whose owner died.
    Yes {
        new: u32,
        abandoned: bool,
        recursive: bool,
    },
}

impl Object {
    /// What taking the object in state `state` (guard clear) would do, for thread `me`.
    pub(crate) fn take(&self, state: u32, me: &Me, check_owner: bool) -> Take {
        match self.kind {
            Kind::Mutex => {
                if state == 0 {
                    Take::Yes {
                        new: me.tid,
                        abandoned: false,
                        recursive: false,
                    }
                } else if state == me.tid {
                    Take::Yes {
                        new: state,
                        abandoned: false,
                        recursive: true,
                    }
                } else if check_owner && owner_is_dead(self.header(), state) {
                    Take::Yes {
                        new: me.tid,
                        abandoned: true,
                        recursive: false,
                    }
                } else {
                    Take::No
                }
            }
            Kind::Semaphore => {
                if state > 0 {
                    Take::Yes {
                        new: state.wrapping_sub(1) & VALUE,
                        abandoned: false,
                        recursive: false,
                    }
                } else {
                    Take::No
                }
            }
            Kind::Event => {
                if state != 0 {
                    Take::Yes {
                        new: if self.param == 1 { state } else { 0 },
                        abandoned: false,
                        recursive: false,
                    }
                } else {
                    Take::No
                }
            }
            Kind::Mapping | Kind::Pipe | Kind::Mailslot | Kind::ShmPipe => Take::No,
        }
    }

    /// Bookkeeping after a take succeeded (the state word already changed).
    ///
    /// The owner record is a hint for other processes' liveness checks, written with plain
    /// (release) stores: on the uncontended path it costs no locked instruction, and when this
    /// thread took the mutex last time too, it is already right and is not written at all.
    #[inline]
    pub(crate) fn after_take(&self, me: &Me, take: Take) {
        if let (Kind::Mutex, Take::Yes { recursive, .. }) = (self.kind, take) {
            let h = self.header();
            if recursive {
                let depth = h.recursion.load(Relaxed).wrapping_add(1).max(1);
                h.recursion.store(depth, Relaxed);
                return;
            }
            h.recursion.store(1, Relaxed);
            if h.owner_tid.load(Relaxed) != me.tid
                || h.owner_pid.load(Relaxed) != me.pid
                || h.owner_start.load(Relaxed) != me.start
            {
                h.owner_tid.store(0, Release);
                h.owner_pid.store(me.pid, Release);
                h.owner_start.store(me.start, Release);
                h.owner_tid.store(me.tid, Release);
            }
        }
    }

    /// One attempt to take the object without sleeping. `Err(state)` when it is guarded or not
    /// signaled (`state` is what was seen).
    pub(crate) fn try_take(&self, me: &Me, check_owner: bool) -> Result<Take, u32> {
        let h = self.header();
        let mut state = h.state.load(SeqCst);
        loop {
            if state & GUARD != 0 {
                return Err(state);
            }
            let take = self.take(state, me, check_owner);
            match take {
                Take::No => return Err(state),
                Take::Yes {
                    new,
                    recursive: true,
                    ..
                } if new == state => {
                    self.after_take(me, take);
                    return Ok(take);
                }
                Take::Yes { new, .. } => {
                    match h.state.compare_exchange(state, new, SeqCst, SeqCst) {
                        Ok(_) => {
                            self.after_take(me, take);
                            return Ok(take);
                        }
                        Err(seen) => state = seen,
                    }
                }
            }
        }
    }

    /// Changes the state word with `change` (given the current value, guard clear; `None` leaves
    /// it), waiting out any guard. Returns the old value.
    pub(crate) fn update(
        &self,
        mut change: impl FnMut(u32) -> Result<Option<u32>, io::Error>,
    ) -> io::Result<u32> {
        let h = self.header();
        let mut spins = 0u32;
        loop {
            let state = h.state.load(SeqCst);
            if state & GUARD != 0 {
                self.wait_guard(&mut spins, None)?;
                continue;
            }
            let Some(new) = change(state)? else {
                return Ok(state);
            };
            if h.state
                .compare_exchange(state, new & VALUE, SeqCst, SeqCst)
                .is_ok()
            {
                return Ok(state);
            }
        }
    }

    /// Waits a little for a guard on this object to clear; clears it if its holder died.
    fn wait_guard(&self, spins: &mut u32, deadline: Option<Instant>) -> io::Result<()> {
        let h = self.header();
        *spins = spins.wrapping_add(1);
        if *spins < 64 {
            std::hint::spin_loop();
        } else if *spins < 256 {
            rustix::thread::sched_yield();
        } else {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let state = h.state.load(SeqCst);
            if state & GUARD != 0 {
                let holder = h.guard_tid.load(SeqCst);
                if thread_is_dead(holder, 0, 0) {
                    let _ = h
                        .state
                        .compare_exchange(state, state & VALUE, SeqCst, SeqCst);
                } else {
                    let ts = futex::Timespec {
                        tv_sec: 0,
                        tv_nsec: 1_000_000,
                    };
                    let _ = futex::wait(&h.state, futex::Flags::empty(), state, Some(&ts));
                }
            }
        }
        Ok(())
    }

    /// Sets the guard; returns the state under it. `TimedOut` past the deadline.
    pub(crate) fn guard(&self, me: &Me, deadline: Option<Instant>) -> io::Result<u32> {
        let h = self.header();
        let mut spins = 0;
        loop {
            let state = h.state.load(SeqCst);
            if state & GUARD != 0 {
                self.wait_guard(&mut spins, deadline)?;
                continue;
            }
            if h.state
                .compare_exchange(state, state | GUARD, SeqCst, SeqCst)
                .is_ok()
            {
                h.guard_tid.store(me.tid, SeqCst);
                return Ok(state);
            }
        }
    }

    /// Clears this process's guard, setting the state to `state`.
    pub(crate) fn unguard(&self, state: u32) {
        self.header().state.store(state & VALUE, SeqCst);
    }
}

/// The outcome of a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Taken { index: usize, abandoned: bool },
    TimedOut,
}

/// How long one sleep lasts when something must be re-checked by hand (a mutex owner that may
/// have died, a process among the objects): starts short, grows.
fn slice(round: u32) -> Duration {
    Duration::from_millis((1u64 << round.min(7)).min(100))
}

fn deadline_of(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| {
        Instant::now()
            .checked_add(t)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86400 * 365))
    })
}

fn sleep_for(deadline: Option<Instant>, slice: Option<Duration>) -> Option<Duration> {
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    match (left, slice) {
        (Some(l), Some(s)) => Some(l.min(s)),
        (l, s) => l.or(s),
    }
}

fn timespec(d: Duration) -> futex::Timespec {
    futex::Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// A member of a multiple-object wait.
pub(crate) enum Member<'a> {
    /// A mutex, semaphore or event.
    Object(&'a Object),
    /// A process, by pidfd.
    Process(BorrowedFd<'a>),
}

fn process_exited(fd: BorrowedFd<'_>) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        match poll(&mut fds, Some(&zero)) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sleeps until one of `words` may have changed from `seen`, or the time is up. With no words to
/// watch, sleeps until one of `processes` exits instead (a pidfd is readable once it has).
fn sleep_on(
    words: &[(&Object, u32)],
    processes: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> io::Result<()> {
    for (object, _) in words {
        object.header().waiters.fetch_add(1, SeqCst);
    }
    let ts = timeout.map(timespec);
    let result = if words.len() == 1 {
        let (object, seen) = words[0];
        futex::wait(
            &object.header().state,
            futex::Flags::empty(),
            seen,
            ts.as_ref(),
        )
    } else if words.is_empty() && !processes.is_empty() {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut fds: Vec<PollFd<'_>> = processes
            .iter()
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        match poll(&mut fds, ts.as_ref()) {
            Ok(_) | Err(Errno::INTR) => Ok(()),
            Err(e) => Err(e),
        }
    } else if words.is_empty() {
        std::thread::sleep(timeout.unwrap_or(Duration::from_millis(100)));
        Ok(())
    } else {
        let mut waits = Vec::with_capacity(words.len());
        for (object, seen) in words {
            let mut w = futex::Wait::new();
            w.val = u64::from(*seen);
            w.uaddr = futex::WaitPtr::new(object.header().state.as_ptr().cast());
            w.flags = futex::WaitFlags::SIZE_U32;
            waits.push(w);
        }
        // futex_waitv takes an absolute time on the monotonic clock.
        let abs = timeout.map(|t| {
            let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            let ns = now.tv_nsec as u64 + u64::from(t.subsec_nanos());
            futex::Timespec {
                tv_sec: now.tv_sec + t.as_secs() as i64 + (ns / 1_000_000_000) as i64,
                tv_nsec: (ns % 1_000_000_000) as _,
            }
        });
        futex::waitv(
            &waits,
            futex::WaitvFlags::empty(),
            abs.as_ref(),
            futex::ClockId::Monotonic,
        )
        .map(|_| ())
    };
    for (object, _) in words {
        object.header().waiters.fetch_sub(1, SeqCst);
    }
    match result {
        Ok(()) | Err(Errno::AGAIN) | Err(Errno::INTR) | Err(Errno::TIMEDOUT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Waits for any of `members`: the lowest-index signaled one is taken.
pub(crate) fn wait_any(members: &[Member<'_>], timeout: Option<Duration>) -> io::Result<Outcome> {
    check_count(members.len())?;
    let deadline = deadline_of(timeout);
    let me = me();
    let mut round = 0u32;
    loop {
        let mut seen = Vec::new();
        let mut needs_slice = false;
        for (index, member) in members.iter().enumerate() {
            match member {
                Member::Process(fd) => {
                    needs_slice = true;
                    if process_exited(*fd)? {
                        return Ok(Outcome::Taken {
                            index,
                            abandoned: false,
                        });
                    }
                }
                Member::Object(object) => {
                    let mut spins = 0;
                    loop {
                        match object.try_take(&me, true) {
                            Ok(Take::Yes { abandoned, .. }) => {
                                return Ok(Outcome::Taken { index, abandoned })
                            }
                            Ok(Take::No) => return Err(io::Error::other("internal: empty take")),
                            Err(state) if state & GUARD != 0 => {
                                match object.wait_guard(&mut spins, deadline) {
                                    Ok(()) => {}
                                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                                        seen.push((*object, state));
                                        break;
                                    }
                                    Err(e) => return Err(e),
                                }
                            }
                            Err(state) => {
                                if object.kind == Kind::Mutex && state != 0 {
                                    needs_slice = true;
                                }
                                seen.push((*object, state));
                                break;
                            }
                        }
                    }
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Outcome::TimedOut);
        }
        let slice = needs_slice.then(|| slice(round));
        let processes: Vec<BorrowedFd<'_>> = members
            .iter()
            .filter_map(|m| match m {
                Member::Process(fd) => Some(*fd),
                Member::Object(_) => None,
            })
            .collect();
        sleep_on(&seen, &processes, sleep_for(deadline, slice))?;
        round = round.saturating_add(1);
    }
}

fn check_count(n: usize) -> io::Result<()> {
    if n == 0 || n > 64 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("a wait takes 1 to 64 objects, not {n}"),
        ));
    }
    Ok(())
}

/// Waits until every one of `members` is signaled at once, then takes them all in one step.
pub(crate) fn wait_all(members: &[Member<'_>], timeout: Option<Duration>) -> io::Result<Outcome> {
    check_count(members.len())?;
    let deadline = deadline_of(timeout);
    let me = me();
    let mut objects: Vec<(usize, &Object)> = Vec::new();
    let mut processes = Vec::new();
    for (index, member) in members.iter().enumerate() {
        match member {
            Member::Object(o) => objects.push((index, *o)),
            Member::Process(fd) => processes.push(*fd),
        }
    }
    // Guards are taken in one global order (device, inode), so two wait-alls never deadlock.
    objects.sort_by_key(|(_, o)| o.identity);
    if objects
        .windows(2)
        .any(|w| w[0].1.identity == w[1].1.identity)
    {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "wait_all: the same object appears twice",
        ));
    }
    let mut round = 0u32;
    loop {
        let mut all_exited = true;
        for fd in &processes {
            if !process_exited(*fd)? {
                all_exited = false;
            }
        }
        let mut states = Vec::with_capacity(objects.len());
        let mut guarded_all = true;
        if all_exited {
            for (_, object) in &objects {
                match object.guard(&me, deadline) {
                    Ok(state) => states.push(state),
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        guarded_all = false;
                        break;
                    }
                    Err(e) => {
                        for ((_, o), s) in objects.iter().zip(&states) {
                            o.unguard(*s);
                        }
                        return Err(e);
                    }
                }
            }
        }
        if all_exited && guarded_all {
            let takes: Vec<Take> = objects
                .iter()
                .zip(&states)
                .map(|((_, o), s)| o.take(*s, &me, true))
                .collect();
            if takes.iter().all(|t| *t != Take::No) {
                let mut abandoned_index = None;
                for (((index, object), take), _) in objects.iter().zip(&takes).zip(&states) {
                    if let Take::Yes { new, abandoned, .. } = *take {
                        object.after_take(&me, *take);
                        object.unguard(new);
                        if abandoned && abandoned_index.is_none_or(|i| *index < i) {
                            abandoned_index = Some(*index);
                        }
                    }
                }
                return Ok(match abandoned_index {
                    Some(index) => Outcome::Taken {
                        index,
                        abandoned: true,
                    },
                    None => Outcome::Taken {
                        index: 0,
                        abandoned: false,
                    },
                });
            }
        }
        // Not all signaled: put every state back untouched.
        for ((_, o), s) in objects.iter().zip(&states) {
            o.unguard(*s);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Outcome::TimedOut);
        }
        let needs_slice = !processes.is_empty()
            || objects
                .iter()
                .zip(&states)
                .any(|((_, o), s)| o.kind == Kind::Mutex && *s != 0);
        let seen: Vec<(&Object, u32)> = objects
            .iter()
            .enumerate()
            .map(|(i, (_, o))| {
                (
                    *o,
                    states
                        .get(i)
                        .copied()
                        .unwrap_or_else(|| o.header().state.load(SeqCst) & VALUE),
                )
            })
            .collect();
        let slice = (needs_slice || !guarded_all).then(|| slice(round));
        let running: Vec<BorrowedFd<'_>> = processes
            .iter()
            .copied()
            .filter(|fd| !process_exited(*fd).unwrap_or(true))
            .collect();
        sleep_on(&seen, &running, sleep_for(deadline, slice))?;
        round = round.saturating_add(1);
    }
}
