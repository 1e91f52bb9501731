//! Named and unnamed events between processes (`CreateEvent`, `SetEvent`, `ResetEvent`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use super::object::Object;
use super::owner::me;
use super::state::{self, Shape, Take};
use super::{WaitStatus, Waitable};
use crate::name::Kind;

/// An event shared between processes.
///
/// A manual-reset event stays signaled, releasing every waiter, until [`Event::reset`]; an
/// auto-reset event releases exactly one waiter and resets itself, or stays signaled until one
/// comes.
///
/// ```
/// use std::time::Duration;
/// use pipework::sync::{Event, WaitStatus};
///
/// let ready = Event::new(false, false)?; // auto-reset, not signaled
/// ready.set()?;
/// assert_eq!(ready.wait(Some(Duration::ZERO))?, WaitStatus::Signaled);
/// assert_eq!(ready.wait(Some(Duration::ZERO))?, WaitStatus::TimedOut); // it reset itself
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Event {
    object: Object,
}

impl Event {
    /// An unnamed event (`CreateEvent(NULL, manual_reset, initial_state, NULL)`).
    pub fn new(manual_reset: bool, initial_state: bool) -> io::Result<Event> {
        Ok(Event {
            object: Object::new_unnamed(Kind::Event, manual_reset as u32, initial_state as u32)?,
        })
    }

    /// Creates the event `name`, or opens it if it exists (then [`Event::already_existed`] is
    /// true and the settings given here are ignored).
    pub fn create(name: &str, manual_reset: bool, initial_state: bool) -> io::Result<Event> {
        Ok(Event {
            object: Object::create(name, Kind::Event, manual_reset as u32, initial_state as u32)?,
        })
    }

    /// Opens the existing event `name` (`OpenEvent`): `NotFound` when there is none.
    pub fn open(name: &str) -> io::Result<Event> {
        Ok(Event {
            object: Object::open(name, Kind::Event)?,
        })
    }

    /// Whether [`Event::create`] found it already there (`ERROR_ALREADY_EXISTS`).
    pub fn already_existed(&self) -> bool {
        self.object.existed
    }

    /// Whether this is a manual-reset event.
    pub fn is_manual_reset(&self) -> bool {
        self.object.shape == Shape::Event { manual: true }
    }

    /// Signals the event (`SetEvent`).
    ///
    /// `TimedOut`, naming the event, when its state word stayed guarded by a live thread for a
    /// second (a peer stuck in a change, or one that wrote the word): nothing changed.
    pub fn set(&self) -> io::Result<()> {
        let before = self.object.update(|value| Ok(state::set(value)))?;
        if before == 0 {
            self.object.wake_all();
        }
        Ok(())
    }

    /// Makes the event non-signaled (`ResetEvent`); `TimedOut` as for [`Event::set`].
    pub fn reset(&self) -> io::Result<()> {
        self.object.update(|value| Ok(state::reset(value)))?;
        Ok(())
    }

    /// Waits until the event is signaled (`WaitForSingleObject`); an auto-reset event resets.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<WaitStatus> {
        if let Ok(Take::Yes { .. }) = self.object.try_take(&me(), false) {
            return Ok(WaitStatus::Signaled);
        }
        super::wait_one(&self.object, timeout)
    }

    /// A second handle to the same event (`DuplicateHandle`).
    pub fn try_clone(&self) -> io::Result<Event> {
        Ok(Event {
            object: self.object.try_clone()?,
        })
    }
}

#[allow(private_interfaces)]
impl Waitable for Event {
    fn member(&self) -> super::Member<'_> {
        super::Member::Object(&self.object)
    }
}

impl AsFd for Event {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.object.as_fd()
    }
}

impl From<Event> for OwnedFd {
    fn from(e: Event) -> OwnedFd {
        e.object.into_fd()
    }
}

impl TryFrom<OwnedFd> for Event {
    type Error = io::Error;

    /// Adopts an event handle received from another process; `InvalidData` when it is not one.
    fn try_from(fd: OwnedFd) -> io::Result<Event> {
        Ok(Event {
            object: Object::from_fd(fd, Kind::Event, None, true)?,
        })
    }
}
