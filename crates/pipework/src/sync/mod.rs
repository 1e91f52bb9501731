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
//! | `CloseHandle` | `drop` (the name goes with the last handle, in any process) |
//! | an object a peer wedged (its state word guarded past a second) | `ErrorKind::TimedOut` naming it |
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
//! How it works (one page and one state word per object, abandoned mutexes, atomic
//! [`wait_all`], the bounded loops, what a hostile process can and cannot do):
//! `docs/design/sync.md`.

mod event;
mod mutex;
pub(crate) mod object;
mod owner;
mod semaphore;
mod state;
mod wait;

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

pub use crate::name::{Kind, ObjectEntry as Entry};
pub use event::Event;
pub use mutex::{Mutex, MutexGuard};
pub use semaphore::Semaphore;

use object::Object;
use wait::{Member, Outcome};

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
    wait::wait_any(&members, timeout).map(result)
}

/// Waits until all of `objects` (1 to 64 distinct objects, of any kinds) are signaled at the same
/// time, and takes them all at once (`WaitForMultipleObjects(n, objects, TRUE, timeout)`).
///
/// Atomic across processes: no object changes until all of them can be taken together, so
/// another process never sees part of them taken by this wait. The same object twice is
/// `InvalidInput`.
pub fn wait_all(objects: &[&dyn Waitable], timeout: Option<Duration>) -> io::Result<WaitResult> {
    let members: Vec<Member<'_>> = objects.iter().map(|o| o.member()).collect();
    wait::wait_all(&members, timeout).map(result)
}

/// The slow path of a single-object wait.
fn wait_one(object: &Object, timeout: Option<Duration>) -> io::Result<WaitStatus> {
    Ok(match wait::wait_any(&[Member::Object(object)], timeout)? {
        Outcome::Taken {
            abandoned: false, ..
        } => WaitStatus::Signaled,
        Outcome::Taken {
            abandoned: true, ..
        } => WaitStatus::Abandoned,
        Outcome::TimedOut => WaitStatus::TimedOut,
    })
}

/// Every named mutex, semaphore and event this user can see (name, kind; size is the bytes of
/// its shared page).
pub fn list() -> io::Result<Vec<Entry>> {
    crate::name::object::list(&[Kind::Mutex, Kind::Semaphore, Kind::Event])
}
