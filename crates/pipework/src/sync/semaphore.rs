//! Named and unnamed semaphores between processes (`CreateSemaphore`, `ReleaseSemaphore`).

use std::io::{self, ErrorKind};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use super::object::Object;
use super::owner::me;
use super::state::{self, Shape, Take, VALUE};
use super::{WaitStatus, Waitable};
use crate::name::Kind;
use crate::sys::error::{error, invalid};

/// A counting semaphore shared between processes, with a maximum count.
///
/// ```
/// use std::time::Duration;
/// use pipework::sync::{Semaphore, WaitStatus};
///
/// let slots = Semaphore::new(1, 2)?;
/// assert_eq!(slots.wait(Some(Duration::ZERO))?, WaitStatus::Signaled);
/// assert_eq!(slots.wait(Some(Duration::ZERO))?, WaitStatus::TimedOut);
/// assert_eq!(slots.release(2)?, 0);               // the count was 0, now 2
/// assert!(slots.release(1).is_err());             // beyond the maximum: nothing changes
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Semaphore {
    object: Object,
}

fn check_counts(label: &str, initial: u32, max: u32) -> io::Result<()> {
    if max == 0 || max > VALUE || initial > max {
        return Err(invalid(
            label,
            format!("needs 0 <= initial ({initial}) <= max ({max}), 1 <= max <= 2^31-1"),
        ));
    }
    Ok(())
}

impl Semaphore {
    /// An unnamed semaphore (`CreateSemaphore(NULL, initial, max, NULL)`).
    pub fn new(initial: u32, max: u32) -> io::Result<Semaphore> {
        check_counts("unnamed semaphore", initial, max)?;
        Ok(Semaphore {
            object: Object::new_unnamed(Kind::Semaphore, max, initial)?,
        })
    }

    /// Creates the semaphore `name`, or opens it if it exists (then
    /// [`Semaphore::already_existed`] is true and the counts given here are ignored).
    pub fn create(name: &str, initial: u32, max: u32) -> io::Result<Semaphore> {
        check_counts(&format!("semaphore {name}"), initial, max)?;
        Ok(Semaphore {
            object: Object::create(name, Kind::Semaphore, max, initial)?,
        })
    }

    /// Opens the existing semaphore `name` (`OpenSemaphore`): `NotFound` when there is none.
    pub fn open(name: &str) -> io::Result<Semaphore> {
        Ok(Semaphore {
            object: Object::open(name, Kind::Semaphore)?,
        })
    }

    /// Whether [`Semaphore::create`] found it already there (`ERROR_ALREADY_EXISTS`).
    pub fn already_existed(&self) -> bool {
        self.object.existed
    }

    /// The maximum count.
    pub fn max_count(&self) -> u32 {
        match self.object.shape {
            Shape::Semaphore { max } => max,
            Shape::Mutex | Shape::Event { .. } => 0,
        }
    }

    /// Waits until the count is above zero and takes one (`WaitForSingleObject`).
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<WaitStatus> {
        if let Ok(Take::Yes { .. }) = self.object.try_take(&me(), false) {
            return Ok(WaitStatus::Signaled);
        }
        super::wait_one(&self.object, timeout)
    }

    /// Adds `n` to the count and returns the count before (`ReleaseSemaphore`).
    ///
    /// When the count would pass the maximum nothing changes and the error says so
    /// (`InvalidInput`; Win32's `ERROR_TOO_MANY_POSTS`). `TimedOut`, naming the semaphore,
    /// when its state word stayed guarded by a live thread for a second (a peer stuck in a
    /// change, or one that wrote the word): nothing changed.
    pub fn release(&self, n: u32) -> io::Result<u32> {
        let max = self.max_count();
        if n == 0 {
            return Err(invalid(self.object.label(), "a release adds at least 1"));
        }
        let before = self.object.update(|count| {
            match state::release_semaphore(count, n, max) {
                Some(after) => Ok(Some(after)),
                None => Err(error(
                    ErrorKind::InvalidInput,
                    self.object.label(),
                    format!("releasing {n} would pass the maximum count {max} (the count stays {count})"),
                )),
            }
        })?;
        self.object.wake_all();
        Ok(before)
    }

    /// A second handle to the same semaphore (`DuplicateHandle`).
    pub fn try_clone(&self) -> io::Result<Semaphore> {
        Ok(Semaphore {
            object: self.object.try_clone()?,
        })
    }
}

#[allow(private_interfaces)]
impl Waitable for Semaphore {
    fn member(&self) -> super::Member<'_> {
        super::Member::Object(&self.object)
    }
}

impl AsFd for Semaphore {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.object.as_fd()
    }
}

impl From<Semaphore> for OwnedFd {
    fn from(s: Semaphore) -> OwnedFd {
        s.object.into_fd()
    }
}

impl TryFrom<OwnedFd> for Semaphore {
    type Error = io::Error;

    /// Adopts a semaphore handle received from another process; `InvalidData` when it is not one.
    fn try_from(fd: OwnedFd) -> io::Result<Semaphore> {
        Ok(Semaphore {
            object: Object::from_fd(fd, Kind::Semaphore, None, true)?,
        })
    }
}
