//! Named and unnamed mutexes between processes (`CreateMutex`, `ReleaseMutex`).

use std::io::{self, ErrorKind};
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::Duration;

use super::object::Object;
use super::owner::{me, tid};
use super::state::{self, Take};
use super::{WaitStatus, Waitable};
use crate::name::Kind;
use crate::sys::error::error;

/// A mutex shared between processes: recursive, owned by one thread at a time, and abandoned
/// (handed to the next waiter with [`WaitStatus::Abandoned`]) when its owner dies without
/// releasing it, even by `kill -9`.
///
/// ```
/// use pipework::sync::Mutex;
///
/// let mutex = Mutex::new(false)?;
/// {
///     let guard = mutex.lock()?;
///     assert!(!guard.abandoned());
///     let _again = mutex.lock()?; // recursive: the owner may take it again
/// }
/// assert!(mutex.release().is_err()); // not the owner any more
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Mutex {
    object: Object,
}

impl Mutex {
    /// An unnamed mutex (`CreateMutex(NULL, initial_owner, NULL)`), shared by handing its handle
    /// to another process (inheritance or [`crate::handle::send`]).
    pub fn new(initial_owner: bool) -> io::Result<Mutex> {
        let me = me();
        let object = Object::new_unnamed(Kind::Mutex, 0, if initial_owner { me.tid } else { 0 })?;
        let mutex = Mutex { object };
        if initial_owner {
            mutex.record_owner();
        }
        Ok(mutex)
    }

    /// Creates the mutex `name` (`Local\x`, `Global\x`), or opens it if it exists
    /// (`CreateMutex`); then [`Mutex::already_existed`] is true and `initial_owner` is ignored.
    ///
    /// `AlreadyExists` when the name belongs to an object of another kind.
    pub fn create(name: &str, initial_owner: bool) -> io::Result<Mutex> {
        let me = me();
        let object = Object::create(name, Kind::Mutex, 0, if initial_owner { me.tid } else { 0 })?;
        let mutex = Mutex { object };
        if initial_owner && !mutex.already_existed() {
            mutex.record_owner();
        }
        Ok(mutex)
    }

    /// Opens the existing mutex `name` (`OpenMutex`): `NotFound` when there is none.
    pub fn open(name: &str) -> io::Result<Mutex> {
        Ok(Mutex {
            object: Object::open(name, Kind::Mutex)?,
        })
    }

    fn record_owner(&self) {
        let me = me();
        self.object.after_take(
            &me,
            Take::Yes {
                new: me.tid,
                abandoned: false,
                recursive: false,
            },
        );
    }

    /// Whether [`Mutex::create`] found the mutex already there (`ERROR_ALREADY_EXISTS`).
    pub fn already_existed(&self) -> bool {
        self.object.existed
    }

    /// Waits for the mutex (`WaitForSingleObject`), at most `timeout` (`None`: forever;
    /// `Some(Duration::ZERO)`: just try). On success this thread owns it once more and must
    /// [`release`](Mutex::release) it as many times as it took it.
    #[inline]
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<WaitStatus> {
        // The uncontended path, inlined: one compare-and-swap, no call, no system call.
        if self.object.take_free_mutex() {
            return Ok(WaitStatus::Signaled);
        }
        self.wait_slow(timeout)
    }

    /// Every other take: recursive, abandoned, guarded, contended.
    #[inline(never)]
    fn wait_slow(&self, timeout: Option<Duration>) -> io::Result<WaitStatus> {
        if let Ok(Take::Yes { abandoned, .. }) = self.object.try_take(&me(), false) {
            return Ok(if abandoned {
                WaitStatus::Abandoned
            } else {
                WaitStatus::Signaled
            });
        }
        super::wait_one(&self.object, timeout)
    }

    /// Takes the mutex, waiting as long as needed; released when the guard drops.
    #[inline]
    pub fn lock(&self) -> io::Result<MutexGuard<'_>> {
        let status = self.wait(None)?;
        Ok(MutexGuard {
            mutex: self,
            abandoned: status == WaitStatus::Abandoned,
            _not_send: PhantomData,
        })
    }

    /// Takes the mutex if it can within `timeout`; `None` when the time ran out.
    pub fn lock_timeout(&self, timeout: Duration) -> io::Result<Option<MutexGuard<'_>>> {
        Ok(match self.wait(Some(timeout))? {
            WaitStatus::TimedOut => None,
            status => Some(MutexGuard {
                mutex: self,
                abandoned: status == WaitStatus::Abandoned,
                _not_send: PhantomData,
            }),
        })
    }

    /// Releases one level of this thread's ownership (`ReleaseMutex`).
    ///
    /// `PermissionDenied` (Win32's `ERROR_NOT_OWNER`) when this thread does not own the mutex;
    /// `TimedOut`, naming the mutex, when its state word stayed guarded by a live thread for a
    /// second (a peer stuck in a change, or one that wrote the word).
    #[inline]
    pub fn release(&self) -> io::Result<()> {
        // The uncontended path, inlined: one compare-and-swap; a wake only if someone waits.
        if self.object.release_own_mutex(tid()) {
            return Ok(());
        }
        self.release_slow()
    }

    /// Every other release: recursive, guarded, not the owner's.
    #[inline(never)]
    fn release_slow(&self) -> io::Result<()> {
        let me = me();
        let h = self.object.header();
        if state::release_mutex(h.state.load(SeqCst), me.tid).is_none() {
            return Err(self.not_owner());
        }
        let depth = h.recursion.load(Relaxed);
        if depth > 1 {
            h.recursion.store(depth - 1, Relaxed);
            return Ok(());
        }
        let freed = self
            .object
            .update(|value| match state::release_mutex(value, me.tid) {
                Some(free) => Ok(Some(free)),
                None => Err(self.not_owner()),
            });
        freed?;
        self.object.wake_all();
        Ok(())
    }

    fn not_owner(&self) -> io::Error {
        error(
            ErrorKind::PermissionDenied,
            self.object.label(),
            "cannot release a mutex this thread does not own",
        )
    }

    /// A second handle to the same mutex (`DuplicateHandle`).
    pub fn try_clone(&self) -> io::Result<Mutex> {
        Ok(Mutex {
            object: self.object.try_clone()?,
        })
    }
}

/// Ownership of a [`Mutex`] by this thread, released on drop.
#[derive(Debug)]
#[must_use = "the mutex is released when the guard drops"]
pub struct MutexGuard<'a> {
    mutex: &'a Mutex,
    abandoned: bool,
    _not_send: PhantomData<*const ()>,
}

impl MutexGuard<'_> {
    /// Whether the previous owner died holding the mutex (`WAIT_ABANDONED`): the data it guards
    /// may be half-changed.
    pub fn abandoned(&self) -> bool {
        self.abandoned
    }
}

impl Drop for MutexGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let _ = self.mutex.release();
    }
}

#[allow(private_interfaces)]
impl Waitable for Mutex {
    fn member(&self) -> super::Member<'_> {
        super::Member::Object(&self.object)
    }
}

impl AsFd for Mutex {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.object.as_fd()
    }
}

impl From<Mutex> for OwnedFd {
    fn from(mutex: Mutex) -> OwnedFd {
        mutex.object.into_fd()
    }
}

impl TryFrom<OwnedFd> for Mutex {
    type Error = io::Error;

    /// Adopts a mutex handle received from another process; `InvalidData` when it is not one.
    fn try_from(fd: OwnedFd) -> io::Result<Mutex> {
        Ok(Mutex {
            object: Object::from_fd(fd, Kind::Mutex, None, true)?,
        })
    }
}
