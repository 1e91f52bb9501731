//! One sync object: its page of shared memory, the state word that futexes wait on, and the
//! compare-and-swap steps that take and change it (mutexes, semaphores and events share them).
//!
//! What each step does to a value is decided by the I/O-free [`super::state`]; this file loads
//! the words, applies the answers, and bounds every loop over a word that another process can
//! write: a guard held by a live thread, or a word that keeps changing, is waited for at most
//! [`GUARD_PATIENCE`] per call, then the call fails with `TimedOut` naming the object. More in
//! `docs/design/sync.md`.

use std::io::{self, ErrorKind};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::{Duration, Instant};

use rustix::fs::{fcntl_add_seals, fstat, ftruncate, memfd_create, MemfdFlags, SealFlags};

use super::owner::{me, owner_is_dead, thread_is_dead, Me};
use super::state::{self, Shape, Take, Word, GUARD, MAGIC, VALUE, VERSION};
use crate::name::object::{self as namespace, ObjectName as Name};
use crate::name::{Kind, Lease};
use crate::sys::error::{error, named};
use crate::sys::futex;
use crate::sys::shm::{Protection, Region};

/// Bytes of an object's file.
pub(crate) const OBJECT_SIZE: u64 = 4096;

/// How long one call waits, in all, for guards held by live threads and for a state word that
/// keeps changing under its compare-and-swap, before it fails with `TimedOut`.
///
/// A `wait_all` holds its guards for a few microseconds (check, then change, no system call in
/// between); a second covers a holder that the scheduler preempted on a loaded machine, and is
/// short enough that a peer that wrote "guarded by a live thread" into the page costs each call
/// at most that long.
pub(crate) const GUARD_PATIENCE: Duration = Duration::from_secs(1);

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
        Kind::Mapping | Kind::Pipe | Kind::Mailslot | Kind::ShmPipe | Kind::Window => 0,
        Kind::Mutex => state::MUTEX,
        Kind::Semaphore => state::SEMAPHORE,
        Kind::Event => state::EVENT,
    }
}

/// One opened sync object.
#[derive(Debug)]
pub(crate) struct Object {
    region: ManuallyDrop<Region>,
    /// Always `Some` until drop or [`Object::into_fd`].
    fd: Option<OwnedFd>,
    pub(crate) kind: Kind,
    /// The kind and parameters, as checked when this process opened the object.
    pub(crate) shape: Shape,
    pub(crate) name: Option<Name>,
    /// This process's hold on the name, released after the view and the file are closed.
    lease: Option<Lease>,
    pub(crate) existed: bool,
    pub(crate) identity: (u64, u64),
}

impl Object {
    /// A new unnamed object (a sealed memfd).
    pub(crate) fn new_unnamed(kind: Kind, param: u32, value: u32) -> io::Result<Object> {
        let made = || -> io::Result<OwnedFd> {
            let fd = memfd_create(
                format!("pipework-{kind}"),
                MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
            )?;
            init(&fd, kind, param, value)?;
            fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
            Ok(fd)
        };
        let fd = made().map_err(|e| named(label(kind, None), e))?;
        Object::from_fd(fd, kind, None, false)
    }

    /// Creates the named object, or opens the existing one of the same kind.
    pub(crate) fn create(name: &str, kind: Kind, param: u32, value: u32) -> io::Result<Object> {
        let name = Name::parse(name)?;
        let created = namespace::create(&name, kind, |fd| {
            init(fd, kind, param, value).map_err(|e| named(label(kind, Some(&name)), e))
        })?;
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
        let label = label(kind, name.as_ref());
        let invalid = |why: &dyn std::fmt::Display| error(ErrorKind::InvalidData, &label, why);
        let st = fstat(&fd).map_err(|e| named(&label, e))?;
        if (st.st_size as u64) < OBJECT_SIZE {
            return Err(invalid(
                &"not a pipework synchronization object (too small)",
            ));
        }
        let region = Region::map(&fd, 0, OBJECT_SIZE as usize, Protection::ReadWrite)
            .map_err(|e| named(&label, e))?;
        let mut object = Object {
            region: ManuallyDrop::new(region),
            fd: Some(fd),
            kind,
            shape: Shape::Mutex,
            lease: name.as_ref().map(|n| Lease::object(n, kind)),
            name,
            existed,
            identity: (st.st_dev, st.st_ino),
        };
        let h = object.header();
        let words = [&h.magic, &h.version, &h.kind, &h.param].map(|w| w.load(SeqCst));
        object.shape = state::check_header(words, kind_code(kind)).map_err(|e| invalid(&e))?;
        Ok(object)
    }

    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the region is at least OBJECT_SIZE bytes (checked in `from_fd` before mapping),
        // page-aligned, and lives as long as `&self`; `Header` is all atomics, so sharing it with
        // other processes that write anything at any time is sound.
        unsafe { &*self.region.as_ptr().cast::<Header>() }
    }

    /// The object as error messages name it: `mutex Local\x`, `unnamed event`.
    pub(crate) fn label(&self) -> String {
        label(self.kind, self.name.as_ref())
    }

    pub(crate) fn try_clone(&self) -> io::Result<Object> {
        // The copy shares this open file, and so its hold on the name.
        let fd = self
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| named(self.label(), e))?;
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
    #[inline]
    pub(crate) fn wake_all(&self) {
        let h = self.header();
        if h.waiters.load(SeqCst) != 0 {
            wake_sleepers(h);
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

/// The system call of [`Object::wake_all`], out of the inlined path.
#[cold]
#[inline(never)]
fn wake_sleepers(h: &Header) {
    futex::wake_all(&h.state);
}

fn label(kind: Kind, name: Option<&Name>) -> String {
    match name {
        Some(n) => format!("{kind} {}", n.display),
        None => format!("unnamed {kind}"),
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

fn init(fd: &OwnedFd, kind: Kind, param: u32, value: u32) -> io::Result<()> {
    ftruncate(fd, OBJECT_SIZE)?;
    let region = Region::map(fd, 0, OBJECT_SIZE as usize, Protection::ReadWrite)?;
    let words = [MAGIC, VERSION, kind_code(kind), param, value];
    for (i, w) in words.iter().enumerate() {
        region.atomic_u32(i * 4)?.store(*w, SeqCst);
    }
    Ok(())
}

/// Waiting out, within one call, the guards and the compare-and-swap races it meets: spins
/// first, then sleeps on the futex in growing slices; [`GUARD_PATIENCE`] in all.
#[derive(Debug, Default)]
pub(crate) struct Patience {
    rounds: u32,
    since: Option<Instant>,
}

/// How a wait for a guard ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GuardWait {
    /// Look at the word again.
    Again,
    /// The caller's deadline passed first.
    DeadlinePassed,
}

impl Patience {
    /// Before the first wait: spinning, no time taken.
    pub(crate) fn new() -> Patience {
        Patience::default()
    }

    /// Whether the next wait will only spin or yield (no sleep, no clock, no error).
    pub(crate) fn spinning(&self) -> bool {
        self.rounds.saturating_add(1) < SPINS + YIELDS
    }

    /// The time used so far, starting the clock on the first call.
    fn used(&mut self) -> Duration {
        self.since.get_or_insert_with(Instant::now).elapsed()
    }
}

impl Object {
    /// What taking the object whose value is `value` (guard ignored) would do, for thread `me`;
    /// `check_owner`: find out whether a mutex's other owner died (reads `/proc`).
    pub(crate) fn take(&self, value: u32, me: &Me, check_owner: bool) -> Take {
        state::take(self.shape, value, me.tid, |owner| {
            check_owner && owner_is_dead(self.header(), owner)
        })
    }

    /// Bookkeeping after a take succeeded (the state word already changed).
    #[inline]
    pub(crate) fn after_take(&self, me: &Me, take: Take) {
        if let (Shape::Mutex, Take::Yes { recursive, .. }) = (self.shape, take) {
            if recursive {
                let h = self.header();
                let depth = h.recursion.load(Relaxed).wrapping_add(1).max(1);
                h.recursion.store(depth, Relaxed);
                return;
            }
            self.mutex_taken(me);
        }
    }

    /// A mutex just became `me`'s (the caller's; not recursively): depth 1, and the owner
    /// record names `me`.
    ///
    /// The owner record is a hint for other processes' liveness checks, written with plain
    /// (release) stores: it costs no locked instruction, and when this thread took the mutex
    /// last time too, it is already right and is only read.
    #[inline]
    fn mutex_taken(&self, me: &Me) {
        let h = self.header();
        h.recursion.store(1, Relaxed);
        if h.owner_tid.load(Relaxed) != me.tid
            || h.owner_pid.load(Relaxed) != me.pid
            || h.owner_start.load(Relaxed) != me.start
        {
            self.write_owner_record();
        }
    }

    /// Writes the caller's thread into the owner record.
    #[cold]
    #[inline(never)]
    fn write_owner_record(&self) {
        let me = me();
        let h = self.header();
        h.owner_tid.store(0, Release);
        h.owner_pid.store(me.pid, Release);
        h.owner_start.store(me.start, Release);
        h.owner_tid.store(me.tid, Release);
    }

    /// The uncontended lock of a mutex by the calling thread: one compare-and-swap of a word
    /// that is exactly 0 (free, unguarded) to the thread's id (never with the guard bit: see
    /// [`super::owner::me`]), then the bookkeeping of [`Object::after_take`]. `false`, having
    /// changed nothing, for any other word (owned, by this thread too; guarded; written by a
    /// peer): the caller goes on to the general path, which tells these apart.
    ///
    /// Inlined into the caller's crate with [`super::Mutex::lock`]: no call, no system call;
    /// the thread's identity is read from its thread-local in place.
    #[inline]
    pub(crate) fn take_free_mutex(&self) -> bool {
        let me = me();
        let taken = self
            .header()
            .state
            .compare_exchange(0, me.tid, SeqCst, Relaxed)
            .is_ok();
        if taken {
            self.mutex_taken(&me);
        }
        taken
    }

    /// The uncontended release of a mutex by thread `tid` (the caller's, from
    /// [`super::owner::tid`]): at recursion depth 1, one compare-and-swap of a word that is
    /// exactly `tid` (unguarded) to 0, and a wake only when someone counts
    /// itself waiting. `false`, having changed nothing, otherwise (deeper recursion, a guard,
    /// another owner, a peer's write): the caller goes on to the general path.
    ///
    /// The depth is left at 1: it is only read by the mutex's owner, and every take that is not
    /// recursive sets it to 1 first.
    #[inline]
    pub(crate) fn release_own_mutex(&self, tid: u32) -> bool {
        let h = self.header();
        let released = h.recursion.load(Relaxed) == 1
            && h.state.compare_exchange(tid, 0, SeqCst, Relaxed).is_ok();
        if released {
            self.wake_all();
        }
        released
    }

    /// One attempt to take the object without sleeping. `Err(raw)` when it is guarded, not
    /// signaled, or changed under every one of a few compare-and-swaps (`raw`: the word seen).
    pub(crate) fn try_take(&self, me: &Me, check_owner: bool) -> Result<Take, u32> {
        let h = self.header();
        let mut raw = h.state.load(SeqCst);
        for _ in 0..RACES {
            let Word { guarded, value } = state::decode(raw);
            if guarded {
                return Err(raw);
            }
            let take = self.take(value, me, check_owner);
            match take {
                Take::No => return Err(raw),
                Take::Yes { new, .. } if new == raw => {
                    self.after_take(me, take);
                    return Ok(take);
                }
                Take::Yes { new, .. } => match h.state.compare_exchange(raw, new, SeqCst, SeqCst) {
                    Ok(_) => {
                        self.after_take(me, take);
                        return Ok(take);
                    }
                    Err(seen) => raw = seen,
                },
            }
        }
        Err(raw)
    }

    /// Changes the state word with `change` (given the current value, guard clear; `None` leaves
    /// it), waiting out guards and races within [`GUARD_PATIENCE`]. Returns the old value.
    pub(crate) fn update(
        &self,
        mut change: impl FnMut(u32) -> io::Result<Option<u32>>,
    ) -> io::Result<u32> {
        let h = self.header();
        let mut patience = Patience::new();
        loop {
            let raw = h.state.load(SeqCst);
            let Word { guarded, value } = state::decode(raw);
            if !guarded {
                let Some(new) = change(value)? else {
                    return Ok(value);
                };
                if h.state
                    .compare_exchange(raw, new & VALUE, SeqCst, SeqCst)
                    .is_ok()
                {
                    return Ok(value);
                }
            }
            // Guarded, or changed since it was read.
            self.wait_guard(h.state.load(SeqCst), &mut patience, None)?;
        }
    }

    /// Waits a little for the word, last seen as `raw`, to be free of its guard (or, unguarded,
    /// to stop racing): spins, then sleeps on the futex; clears a guard whose holder died.
    ///
    /// `Ok(DeadlinePassed)` once `deadline` passed (checked after the spinning, so a guard held
    /// for an instant never fails a zero-timeout wait); `TimedOut` naming the object once this
    /// call has waited [`GUARD_PATIENCE`] in all.
    pub(crate) fn wait_guard(
        &self,
        raw: u32,
        patience: &mut Patience,
        deadline: Option<Instant>,
    ) -> io::Result<GuardWait> {
        let h = self.header();
        patience.rounds = patience.rounds.saturating_add(1);
        if patience.rounds < SPINS {
            std::hint::spin_loop();
            return Ok(GuardWait::Again);
        }
        if patience.rounds < SPINS + YIELDS {
            rustix::thread::sched_yield();
            return Ok(GuardWait::Again);
        }
        let holder = h.guard_tid.load(SeqCst);
        let guarded = state::decode(raw).guarded;
        if guarded && thread_is_dead(holder, 0, 0) {
            // Its holder died between setting and clearing it: clear it, unless it changed.
            let _ = h.state.compare_exchange(raw, raw & VALUE, SeqCst, SeqCst);
            return Ok(GuardWait::Again);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(GuardWait::DeadlinePassed);
        }
        let used = patience.used();
        if !guarded {
            // Not guarded: the word changed under a compare-and-swap. Look again at once.
            if used >= GUARD_PATIENCE {
                return Err(self.stuck(raw, holder));
            }
            rustix::thread::sched_yield();
            return Ok(GuardWait::Again);
        }
        let Some(left) = GUARD_PATIENCE.checked_sub(used).filter(|l| !l.is_zero()) else {
            return Err(self.stuck(raw, holder));
        };
        // Sleep until the word changes (an unguard wakes counted waiters), a little while at
        // most: the holder may die, and the deadline or the patience may run out.
        let slice = Duration::from_millis(1 << (patience.rounds - SPINS - YIELDS).min(4));
        let mut sleep = slice.min(left);
        if let Some(d) = crate::sys::time::left(deadline) {
            sleep = sleep.min(d);
        }
        h.waiters.fetch_add(1, SeqCst);
        futex::wait(&h.state, raw, Some(sleep));
        h.waiters.fetch_sub(1, SeqCst);
        Ok(GuardWait::Again)
    }

    fn stuck(&self, raw: u32, holder: u32) -> io::Error {
        let why = if state::decode(raw).guarded {
            format!(
                "its state word stayed guarded by live thread {holder} for {GUARD_PATIENCE:?} \
                 (a peer is stuck in the middle of a change, or wrote the word)"
            )
        } else {
            format!(
                "its state word kept changing under this call for {GUARD_PATIENCE:?} \
                 (a peer is writing it without pause)"
            )
        };
        error(ErrorKind::TimedOut, self.label(), why)
    }

    /// One attempt to set the guard: `Ok(raw)` with the word under it, or `Err(raw)` with the
    /// word seen when it is guarded already or changed under every one of a few attempts.
    pub(crate) fn try_guard(&self, me: &Me) -> Result<u32, u32> {
        let h = self.header();
        let mut raw = h.state.load(SeqCst);
        for _ in 0..RACES {
            if state::decode(raw).guarded {
                return Err(raw);
            }
            match h.state.compare_exchange(raw, raw | GUARD, SeqCst, SeqCst) {
                Ok(_) => {
                    h.guard_tid.store(me.tid, SeqCst);
                    return Ok(raw);
                }
                Err(seen) => raw = seen,
            }
        }
        Err(raw)
    }

    /// Clears this thread's guard, setting the value to `value`, and wakes whoever waits.
    pub(crate) fn unguard(&self, value: u32) {
        self.header().state.store(value & VALUE, SeqCst);
        self.wake_all();
    }
}

/// How many compare-and-swaps one step tries before it counts as contended.
const RACES: u32 = 16;
/// How many times a contended step spins, then yields, before it sleeps.
const SPINS: u32 = 64;
/// See [`SPINS`].
const YIELDS: u32 = 64;
