//! A futex ping-pong between two processes written by hand, carrying no data: one shared word
//! per direction, bumped and woken by the sender, slept on by the receiver. It is the floor of
//! any design that sleeps on a futex for every wait (one `FUTEX_WAKE` and one `FUTEX_WAIT` per
//! side per round trip, no ring, no copy), the baseline that tells how much of a blocking round
//! trip is the mechanism's own and how much is the sleep and the wake-up themselves.
//!
//! Each direction is a [`Write`] (bump and wake) and a [`Read`] (sleep until bumped) so the
//! round-trip workload of [`super::stream`] drives it unchanged: one write is one message of
//! whatever length was asked, one read takes one message.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};

use pipework::mapping::{Access, FileMapping, View};
use rustix::io::Errno;
use rustix::thread::futex;

use super::stream::Peer;

/// Set in a direction's word once its sender has closed.
const CLOSED: u32 = 1 << 31;
/// The two directions' words, each on its own cache line.
const TO_CHILD: usize = 0;
const FROM_CHILD: usize = 64;
const SIZE: u64 = 4096;

/// The sending side of one direction.
pub struct Bell {
    view: View,
    offset: usize,
    sent: u32,
}

/// The receiving side of one direction.
pub struct Listener {
    view: View,
    offset: usize,
    seen: u32,
}

fn word(view: &View, offset: usize) -> &AtomicU32 {
    view.atomic_u32(offset)
        .expect("the doorbell words are in bounds and aligned")
}

impl Write for Bell {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sent = (self.sent + 1) & !CLOSED;
        let word = word(&self.view, self.offset);
        word.store(self.sent, Ordering::Release);
        futex::wake(word, futex::Flags::empty(), 1)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        let word = word(&self.view, self.offset);
        word.fetch_or(CLOSED, Ordering::Release);
        let _ = futex::wake(word, futex::Flags::empty(), 1);
    }
}

impl Read for Listener {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let word = word(&self.view, self.offset);
        loop {
            let now = word.load(Ordering::Acquire);
            if now & !CLOSED != self.seen {
                self.seen = (self.seen + 1) & !CLOSED;
                return Ok(buf.len());
            }
            if now & CLOSED != 0 {
                return Ok(0);
            }
            match futex::wait(word, futex::Flags::empty(), now, None) {
                Ok(()) | Err(Errno::AGAIN) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The parent's side: starts `role` (ending in `-futex`) of `mechanism` with a fresh doorbell.
pub fn peer(mechanism: &'static str, role: &str) -> io::Result<Peer> {
    let mapping = FileMapping::anonymous(SIZE)?;
    let to = Bell {
        view: mapping.map_view(Access::Write, 0, 0)?,
        offset: TO_CHILD,
        sent: 0,
    };
    let from = Listener {
        view: mapping.map_view(Access::Write, 0, 0)?,
        offset: FROM_CHILD,
        seen: 0,
    };
    Peer::start(
        mechanism,
        &format!("{role}-futex"),
        vec![OwnedFd::try_from(mapping)?],
        Box::new(to),
        Box::new(from),
    )
}

/// The child's side of a doorbell handed over as `handle`: `(from the parent, to the parent)`.
pub fn child_ends(handle: OwnedFd) -> io::Result<(Listener, Bell)> {
    let mapping = FileMapping::try_from(handle)?;
    Ok((
        Listener {
            view: mapping.map_view(Access::Write, 0, 0)?,
            offset: TO_CHILD,
            seen: 0,
        },
        Bell {
            view: mapping.map_view(Access::Write, 0, 0)?,
            offset: FROM_CHILD,
            sent: 0,
        },
    ))
}
