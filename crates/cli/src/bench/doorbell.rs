//! A futex ping-pong between two processes written by hand, carrying no data: one shared word
//! per direction, bumped and woken by the sender, slept on by the receiver. It is the floor of
//! any design that sleeps on a futex for every wait (one `FUTEX_WAKE` and one `FUTEX_WAIT` per
//! side per round trip, no ring, no copy), the baseline that tells how much of a blocking round
//! trip is the mechanism's own and how much is the sleep and the wake-up themselves.
//!
//! A doorbell is a [`Link`] so that the round-trip workload drives it unchanged: each ring stands
//! for one [`MESSAGE`]-byte message (the bytes themselves are not carried).

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};

use pipework::mapping::{Access, FileMapping, View};
use pipework_cli::workload::{self, Link, Session, Workload, MESSAGE};
use rustix::io::Errno;
use rustix::thread::futex;

use super::stream;

/// How a doorbell child is named in its role (`echo-futex`).
pub const HOW: &str = "futex";

/// Set in a direction's word once its sender has closed.
const CLOSED: u32 = 1 << 31;
/// The two directions' words, each on its own cache line.
const TO_CHILD: usize = 0;
const FROM_CHILD: usize = 64;
const SIZE: u64 = 4096;

/// The sending side of one direction.
struct Bell {
    view: View,
    offset: usize,
    sent: u32,
}

/// The receiving side of one direction.
struct Listener {
    view: View,
    offset: usize,
    seen: u32,
}

/// Both directions as seen from one side.
struct Doorbell {
    bell: Bell,
    listener: Listener,
}

fn word(view: &View, offset: usize) -> io::Result<&AtomicU32> {
    view.atomic_u32(offset)
}

impl Bell {
    fn ring(&mut self) -> io::Result<()> {
        self.sent = (self.sent + 1) & !CLOSED;
        let word = word(&self.view, self.offset)?;
        word.store(self.sent, Ordering::Release);
        futex::wake(word, futex::Flags::empty(), 1)?;
        Ok(())
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        if let Ok(word) = word(&self.view, self.offset) {
            word.fetch_or(CLOSED, Ordering::Release);
            let _ = futex::wake(word, futex::Flags::empty(), 1);
        }
    }
}

impl Listener {
    /// Sleeps until the bell rings (`true`) or its sender closes (`false`).
    fn wait(&mut self) -> io::Result<bool> {
        let word = word(&self.view, self.offset)?;
        loop {
            let now = word.load(Ordering::Acquire);
            if now & !CLOSED != self.seen {
                self.seen = (self.seen + 1) & !CLOSED;
                return Ok(true);
            }
            if now & CLOSED != 0 {
                return Ok(false);
            }
            match futex::wait(word, futex::Flags::empty(), now, None) {
                Ok(()) | Err(Errno::AGAIN) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Link for Doorbell {
    fn send(&mut self, _message: &[u8]) -> io::Result<()> {
        self.bell.ring()
    }

    fn recv(&mut self, f: &mut dyn FnMut(&[u8])) -> io::Result<bool> {
        let rang = self.listener.wait()?;
        if rang {
            f(&[0u8; MESSAGE]);
        }
        Ok(rang)
    }
}

/// One side of the doorbell in `mapping`: ringing at `bell`, listening at `listen`.
fn side(mapping: &FileMapping, bell: usize, listen: usize) -> io::Result<Doorbell> {
    Ok(Doorbell {
        bell: Bell {
            view: mapping.map_view(Access::Write, 0, 0)?,
            offset: bell,
            sent: 0,
        },
        listener: Listener {
            view: mapping.map_view(Access::Write, 0, 0)?,
            offset: listen,
            seen: 0,
        },
    })
}

/// The parent's side: starts a child of `mechanism` running `workload` (round trips: a doorbell
/// carries no volume) over a fresh doorbell.
pub fn session(mechanism: &'static str, workload: Workload) -> io::Result<Session> {
    let mapping = FileMapping::anonymous(SIZE)?;
    let link = side(&mapping, TO_CHILD, FROM_CHILD)?;
    stream::start(
        mechanism,
        &stream::role(workload, HOW),
        vec![OwnedFd::try_from(mapping)?],
        Box::new(link),
    )
}

/// The child's side of a doorbell handed over as `handle`.
pub fn child(workload: Workload, handle: OwnedFd) -> io::Result<()> {
    let mapping = FileMapping::try_from(handle)?;
    workload::serve(workload, Box::new(side(&mapping, FROM_CHILD, TO_CHILD)?))
}
