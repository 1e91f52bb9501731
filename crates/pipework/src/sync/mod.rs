//! Synchronization objects shared between processes: mutexes, semaphores and events, named or
//! unnamed, and waits on one object or on many at once (processes included).
//!
//! | Win32 | pipework |
//! |---|---|
//! | `CreateMutex` / `OpenMutex` | [`Mutex::new`], [`Mutex::create`] / [`Mutex::open`] |
//! | `ReleaseMutex` | [`Mutex::release`], or drop a [`MutexGuard`] |
//! | `CreateSemaphore` / `OpenSemaphore` | [`Semaphore::new`], [`Semaphore::create`] / [`Semaphore::open`] |
//! | `ReleaseSemaphore` | [`Semaphore::release`] |
//! | `CreateEvent` / `OpenEvent` | [`Event::new`], [`Event::create`] / [`Event::open`] |
//! | `SetEvent` / `ResetEvent` | [`Event::set`] / [`Event::reset`] |
//! | `WaitForSingleObject` | `wait` on each type ([`Mutex::wait`], ...); [`Mutex::lock`] |
//! | `WaitForMultipleObjects(.., FALSE, ..)` | [`wait_any`] |
//! | `WaitForMultipleObjects(.., TRUE, ..)` | [`wait_all`] |
//! | `WAIT_OBJECT_0 + i` / `WAIT_ABANDONED_0 + i` / `WAIT_TIMEOUT` | [`WaitResult`], [`WaitStatus`] |
//! | `GetLastError() == ERROR_ALREADY_EXISTS` after create | `already_existed()` |
//! | `ERROR_NOT_OWNER` | `ErrorKind::PermissionDenied` |
//! | `ERROR_TOO_MANY_POSTS` | `ErrorKind::InvalidInput` |
//! | `CloseHandle` | `drop` |
//!
//! Names: `Local\x` (this user; also plain `x`) and `Global\x` (every user), one namespace shared
//! with [`crate::mapping`]: a name held by an object of another kind cannot be created again as
//! this kind (`AlreadyExists`) nor opened as it (`InvalidInput`); opening a missing name is
//! `NotFound`. Each name is a file in `/dev/shm`, removed when its last holder lets go; after a
//! crash (even `kill -9` of every holder) it is reclaimed by the next create, open or [`list`].
//!
//! ```
//! use std::time::Duration;
//! use pipework::sync::{wait_any, Event, Semaphore, Waitable, WaitResult};
//!
//! let stop = Event::new(true, false)?;
//! let work = Semaphore::new(1, 10)?;
//! let objects: [&dyn Waitable; 2] = [&stop, &work];
//! assert_eq!(wait_any(&objects, Some(Duration::ZERO))?, WaitResult::Signaled(1));
//! stop.set()?;
//! assert_eq!(wait_any(&objects, None)?, WaitResult::Signaled(0));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # How it works
//! Each object is one page of shared memory (a sealed memfd when unnamed) whose state is one
//! 32-bit word: taking an uncontended object is a single compare-and-swap, and releasing one
//! makes a system call only when someone waits. Waiters sleep on the word with `futex`, and on
//! several words at once with `futex_waitv`.
//!
//! A mutex records its owner's thread id, process id and thread start time. A waiter that finds
//! the mutex owned checks, while it waits (at growing intervals up to 100 ms), whether that thread
//! still lives; if not, it takes the mutex with [`WaitStatus::Abandoned`]. (The kernel's robust
//! futex lists would need the list that the C library already registers for each thread.) The
//! check reads `/proc`, so every process sharing a mutex must live in the same pid namespace
//! (without `/proc`, no owner is ever declared dead). Each thread's identity is cached; a child
//! made by `fork` finds its own again.
//!
//! [`wait_all`] is atomic across processes without any global lock: it sets a *guard* bit in each
//! object's state word, in one order that every process shares (device, inode), checks that every
//! object is signaled, and then applies all the changes and clears the guards. Every other change
//! to a state word is a compare-and-swap that expects the guard clear, so no other process can
//! take one of the objects in between: the wait takes all of them or none. A guard whose holder
//! died is cleared by the next process that meets it. Processes are waited on through their
//! pidfd; a wait that includes processes re-checks them at growing intervals up to 100 ms.
//!
//! Another process that can open an object can write anything into its page. Its kind and
//! limits are checked when it is opened (`InvalidData` if they are wrong) and kept in this
//! process; nothing read from the page afterwards is used as an index or a length, so garbage can
//! spoil the object's meaning but not make this process misbehave. (Shrinking the file of a named
//! object under another process is not guarded against: unnamed objects are sealed memfds.)

mod event;
mod mutex;
pub(crate) mod object;
mod semaphore;

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use crate::name::{Kind, ObjectEntry as Entry};
pub use semaphore::Semaphore;

use object::{Member, Object, Outcome};

/// The outcome of waiting on one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStatus {
    /// The object was signaled and is now taken (`WAIT_OBJECT_0`).
    Signaled,
    /// A mutex whose owner died without releasing it: it is now this thread's
    /// (`WAIT_ABANDONED`).
    Abandoned,
    /// The time ran out (`WAIT_TIMEOUT`).
    TimedOut,
}

/// The outcome of waiting on several objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// [`wait_any`]: the object at this index (the lowest signaled one) was taken.
    /// [`wait_all`]: every object was taken (the index is 0).
    Signaled(usize),
    /// The mutex at this index had been abandoned by a dead owner and is now this thread's (for
    /// [`wait_all`], every other object was taken as well).
    Abandoned(usize),
    /// The time ran out; no object changed.
    TimedOut,
}

/// Something a thread can wait on: [`Mutex`], [`Semaphore`], [`Event`],
/// [`crate::process::Process`] (signaled when it has exited).
#[allow(private_interfaces)]
pub trait Waitable: sealed::Sealed {
    #[doc(hidden)]
    fn member(&self) -> Member<'_>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Mutex {}
    impl Sealed for super::Semaphore {}
    impl Sealed for super::Event {}
    impl Sealed for crate::process::Process {}
}

#[allow(private_interfaces)]
impl Waitable for crate::process::Process {
    fn member(&self) -> Member<'_> {
        Member::Process(self.as_fd())
    }
}

fn result(outcome: Outcome) -> WaitResult {
    match outcome {
        Outcome::Taken {
            index,
            abandoned: false,
        } => WaitResult::Signaled(index),
        Outcome::Taken {
            index,
            abandoned: true,
        } => WaitResult::Abandoned(index),
        Outcome::TimedOut => WaitResult::TimedOut,
    }
}

/// Waits until any of `objects` (1 to 64, of any kinds) is signaled, and takes the one with the
/// lowest index (`WaitForMultipleObjects(n, objects, FALSE, timeout)`). Only that object changes.
///
/// `timeout`: `None` waits forever, `Some(Duration::ZERO)` only looks.
pub fn wait_any(objects: &[&dyn Waitable], timeout: Option<Duration>) -> io::Result<WaitResult> {
    let members: Vec<Member<'_>> = objects.iter().map(|o| o.member()).collect();
    object::wait_any(&members, timeout).map(result)
}

/// Waits until all of `objects` (1 to 64 distinct objects, of any kinds) are signaled at the same
/// time, and takes them all at once (`WaitForMultipleObjects(n, objects, TRUE, timeout)`).
///
/// Atomic across processes: no object changes until all of them can be taken together, so
/// another process never sees part of them taken by this wait. The same object twice is
/// `InvalidInput`.
pub fn wait_all(objects: &[&dyn Waitable], timeout: Option<Duration>) -> io::Result<WaitResult> {
    let members: Vec<Member<'_>> = objects.iter().map(|o| o.member()).collect();
    object::wait_all(&members, timeout).map(result)
}

/// The slow path of a single-object wait.
fn wait_one(object: &Object, timeout: Option<Duration>) -> io::Result<WaitStatus> {
    Ok(
        match object::wait_any(&[Member::Object(object)], timeout)? {
            Outcome::Taken {
                abandoned: false, ..
            } => WaitStatus::Signaled,
            Outcome::Taken {
                abandoned: true, ..
            } => WaitStatus::Abandoned,
            Outcome::TimedOut => WaitStatus::TimedOut,
        },
    )
}

/// Every named mutex, semaphore and event this user can see (name, kind; size is the bytes of
/// its shared page).
pub fn list() -> io::Result<Vec<Entry>> {
    crate::name::object::list(&[Kind::Mutex, Kind::Semaphore, Kind::Event])
}
