//! One sync object: its page of shared memory, the state word that futexes wait on, and the
//! compare-and-swap steps that take and change it (mutexes, semaphores and events share them).
//!
//! The whole waitable state is one 32-bit word (mutex: the owner's thread id, 0 free;
//! semaphore: the count; event: 1 signaled, 0 not), so taking an uncontended object is one
//! compare-and-swap and no system call. Bit 31 is the [`GUARD`] that a `wait_all` holds (see
//! [`super::wait`]). Another process can write anything into the page: the kind and parameters
//! are checked once at open and kept here, arithmetic on shared values wraps, and no shared
//! value is used as an index. More in `docs/design/sync.md`.

use std::io::{self, ErrorKind};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Instant;

use rustix::fs::{fcntl_add_seals, fstat, ftruncate, memfd_create, MemfdFlags, SealFlags};
use rustix::thread::futex;

use super::namespace::{self, Kind, Name};
use super::owner::{owner_is_dead, thread_is_dead, Me};
use crate::sys::shm::{Protection, Region};

// The calling thread's identity lives in `owner.rs`; mutexes, semaphores and events take it
// from here with the object.
pub(crate) use super::owner::me;

const MAGIC: u32 = 0x5057_534f;
const VERSION: u32 = 1;
/// Bytes of an object's file.
pub(crate) const OBJECT_SIZE: u64 = 4096;
/// The state word's guard bit: set by a `wait_all` on each of its objects while it checks and
/// takes them; every other change is a compare-and-swap that expects it clear.
pub(crate) const GUARD: u32 = 1 << 31;
/// The state word's value bits.
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
        Kind::Mapping => 0,
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
        if let Some(name) = &self.name {
            // This process's view and file are gone: the name goes too if no one else holds it.
            namespace::release(name);
        }
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
            Kind::Mapping => Take::No,
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
    pub(crate) fn wait_guard(&self, spins: &mut u32, deadline: Option<Instant>) -> io::Result<()> {
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
