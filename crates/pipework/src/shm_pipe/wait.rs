//! How a side waits for its peer: a short adaptive spin, then a futex sleep bounded so that a
//! vanished peer is noticed; for a task under tokio, a bell instead of the futex.
//!
//! A side that finds nothing to do spins a while (the other side is usually about to act). The
//! budget doubles when spinning pays off, drops to nothing when it keeps failing (a loaded
//! machine, where the peer waits for a CPU), and returns in full when a sleep ends sooner than
//! the full budget, since a spin would have caught that answer without paying for a wake-up
//! (which, under a hypervisor, can take tens of microseconds). A side whose peer last acted on
//! the same CPU does not spin but yields the CPU each turn: the answer cannot come before the
//! spinner gives the CPU up. Each side notes its CPU in the header (a hint: whatever a peer
//! writes there only changes how this side waits) when it starts a wait and when it wakes a
//! sleeper. The other side wakes a sleeper only when its waiting word says it sleeps.
//!
//! Sleeps last at most [`SLEEP_SLICE`], after which the side looks at its lifeline: a writer
//! that dies without closing leaves the reader with `UnexpectedEof` after the data it
//! published, and a reader that dies leaves the writer with `BrokenPipe`; neither hangs.
//!
//! A task cannot sleep on a futex: it marks its waiting word "awaiting the bell" and waits for
//! its bell (an eventfd queued with the ring, see [`super::handover`]); the side that publishes
//! rings the bell instead of waking the futex.

use std::io;
#[cfg(feature = "tokio")]
use std::os::fd::OwnedFd;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};

use super::ends::End;
use super::handover::{checked_bell, Queued, READER_BELL, WRITER_BELL};
use super::layout::{
    OFF_READER_CLOSED, OFF_READER_CPU, OFF_READER_WAITING, OFF_READ_POS, OFF_WRITER_CLOSED,
    OFF_WRITER_CPU, OFF_WRITER_WAITING, OFF_WRITER_WAKE_AT, OFF_WRITE_POS,
};
use super::ring::Ring;
use crate::sys::futex::{self, Woke};
use crate::sys::retry;

/// The spin budget an end starts with.
pub(super) const DEFAULT_SPIN: Duration = Duration::from_micros(50);
/// The shortest spin worth making; below it a side sleeps at once.
const MIN_SPIN: Duration = Duration::from_micros(2);
/// The longest a side sleeps before it looks at its lifeline for a vanished peer.
pub(super) const SLEEP_SLICE: Duration = Duration::from_millis(50);
/// The longest spin a caller may ask for: a spin does not look at the lifeline, so it is kept
/// within one sleep slice (a longer one would also leave a vanished peer unnoticed longer).
pub(super) const MAX_SPIN: Duration = SLEEP_SLICE;
/// Once failed spins brought the budget to nothing, every this many sleeps a quarter of the
/// full budget is tried again: a wake-up slower than the full budget (a loaded machine, a slow
/// hypervisor) would otherwise keep a side sleeping at every wait for good, even after the
/// peer went back to answering within a spin (seen as a stream stuck at a fifth of its rate).
const PROBE_EVERY: u32 = 16;

/// What a reader at `pos` waits for: the writer moved on from `pos`, or closed.
fn readable_since(pos: u64) -> impl Fn(&Ring) -> bool {
    move |ring: &Ring| {
        ring.position(OFF_WRITE_POS).load(Ordering::SeqCst) != pos
            || ring.word(OFF_WRITER_CLOSED).load(Ordering::SeqCst) != 0
    }
}

/// What a writer facing a full ring waits for: the reader moved on from `full_at`, or closed.
fn writable_since(full_at: u64) -> impl Fn(&Ring) -> bool {
    move |ring: &Ring| {
        ring.position(OFF_READ_POS).load(Ordering::SeqCst) != full_at
            || ring.word(OFF_READER_CLOSED).load(Ordering::SeqCst) != 0
    }
}

/// What a writer at `pos` sleeping on a full ring waits for: at most `half` bytes unread, or
/// the reader closed.
fn half_free(pos: u64, half: u64) -> impl Fn(&Ring) -> bool {
    move |ring: &Ring| {
        pos.wrapping_sub(ring.position(OFF_READ_POS).load(Ordering::SeqCst)) <= half
            || ring.word(OFF_READER_CLOSED).load(Ordering::SeqCst) != 0
    }
}

/// What an end's waiting word holds: nobody waits, a thread sleeps on the word (futex), or a
/// task waits for the end's bell (async).
const NOT_WAITING: u32 = 0;
const SLEEPING: u32 = 1;
#[cfg(feature = "tokio")]
const AWAITING_BELL: u32 = 2;
/// A named pipe's reader that another poller watches through its socket: the writer sends one
/// wake-up byte on the connection (see `named_pipe::ring`).
const AWAITING_LIFELINE: u32 = 3;
/// The wake-up byte.
pub(crate) const WAKE_BYTE: u8 = b'W';

/// Why a wait ended.
pub(super) enum Woken {
    /// The watched position or a close flag may have changed: look again.
    Recheck,
    /// The peer's every handle is closed.
    PeerGone,
}

impl End {
    /// Waits, as the reader, until the writer moves on from this side's position or closes.
    pub(super) fn wait_for_writer(&mut self) -> io::Result<Woken> {
        self.wait(OFF_READER_WAITING, readable_since(self.pos))
    }

    /// Waits, as the writer facing a full ring, until the reader moves on or closes. A spin
    /// ends at the first byte read; a sleep lasts until half the ring is free (as a socket
    /// wakes a blocked writer only once much of its buffer is free): the reader makes one
    /// wake-up call per half ring instead of one per read, and the writer then refills in
    /// bulk. The reader empties the ring before it waits itself, so this never holds both.
    pub(super) fn wait_for_reader(&mut self) -> io::Result<Woken> {
        let full_at = self.pos.wrapping_sub(self.ring.capacity);
        let start = Instant::now();
        if self.spin(OFF_WRITER_WAITING, &writable_since(full_at), start) {
            return Ok(Woken::Recheck);
        }
        let half = self.ring.capacity / 2;
        // Published by the `SeqCst` store of the waiting word that follows, in `sleep`.
        self.ring
            .position(OFF_WRITER_WAKE_AT)
            .store(self.pos.wrapping_sub(half), Ordering::Relaxed);
        self.sleep(
            OFF_WRITER_WAITING,
            &half_free(self.pos, half),
            start,
            SLEEP_SLICE,
        )
    }

    /// Wakes the reader if it waits. Called by the writer after publishing a position or its
    /// close flag.
    pub(super) fn wake_reader(&self) {
        self.wake(OFF_READER_WAITING, None);
    }

    /// Wakes the writer if it waits. Called by the reader after setting its close flag.
    pub(super) fn wake_writer(&self) {
        self.wake(OFF_WRITER_WAITING, None);
    }

    /// Wakes the writer if it waits for room this reader's position `read` gives it: one
    /// sleeping on a full ring only once the position reached its mark. Called by the reader
    /// after handing bytes back.
    pub(super) fn wake_writer_for_room(&self, read: u64) {
        self.wake(OFF_WRITER_WAITING, Some(read));
    }

    /// For an async reader: announces that it awaits its bell, unless there is already
    /// something to read (`false`: look again instead of waiting).
    #[cfg(feature = "tokio")]
    pub(super) fn arm_reader_bell(&self) -> bool {
        self.arm_bell(OFF_READER_WAITING, readable_since(self.pos))
    }

    /// For an async writer facing a full ring: announces that it awaits its bell, unless there
    /// is already room (`false`: look again instead of waiting).
    #[cfg(feature = "tokio")]
    pub(super) fn arm_writer_bell(&self) -> bool {
        let full_at = self.pos.wrapping_sub(self.ring.capacity);
        self.arm_bell(OFF_WRITER_WAITING, writable_since(full_at))
    }

    /// For a named pipe's reader whose socket another poller watches: announces that it awaits
    /// a wake-up byte there, unless there is already something to read (`false`).
    pub(super) fn arm_reader_lifeline(&self) -> bool {
        let waiting = self.ring.word(OFF_READER_WAITING);
        waiting.store(AWAITING_LIFELINE, Ordering::SeqCst);
        if readable_since(self.pos)(&self.ring) {
            waiting.store(NOT_WAITING, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// A copy of the reader's own bell, for an async reader.
    #[cfg(feature = "tokio")]
    pub(super) fn reader_bell(&self) -> io::Result<OwnedFd> {
        self.own_bell(READER_BELL)
    }

    /// A copy of the writer's own bell, for an async writer.
    #[cfg(feature = "tokio")]
    pub(super) fn writer_bell(&self) -> io::Result<OwnedFd> {
        self.own_bell(WRITER_BELL)
    }

    /// Whether every handle of the other end is closed.
    pub(super) fn peer_gone(&self) -> io::Result<bool> {
        let lifeline = self.lifeline();
        let mut fds = [PollFd::new(&lifeline, PollFlags::RDHUP)];
        let now = crate::sys::time::timespec(Duration::ZERO);
        let gone = if self.hup_only {
            PollFlags::HUP
        } else {
            PollFlags::RDHUP | PollFlags::HUP
        };
        Ok(retry(|| poll(&mut fds, Some(&now)))? > 0 && fds[0].revents().intersects(gone))
    }

    /// The header words holding this side's and the peer's CPU hints, for the side that sleeps
    /// on the futex word at `waiting_off`.
    fn cpu_words(&self, waiting_off: usize) -> (&AtomicU32, &AtomicU32) {
        let (own, peer) = if waiting_off == OFF_READER_WAITING {
            (OFF_READER_CPU, OFF_WRITER_CPU)
        } else {
            (OFF_WRITER_CPU, OFF_READER_CPU)
        };
        (self.ring.word(own), self.ring.word(peer))
    }

    /// Records the CPU this side runs on in `word` (written only when it changes, so the line
    /// stays shared while nobody migrates) and returns it.
    fn note_cpu(word: &AtomicU32) -> u32 {
        let cpu = u32::try_from(rustix::thread::sched_getcpu())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1);
        if word.load(Ordering::Relaxed) != cpu {
            word.store(cpu, Ordering::Relaxed);
        }
        cpu
    }

    /// Whether the peer last acted on the CPU this side runs on: then spinning would only keep
    /// the peer from running, and a waiting side yields the CPU instead. Each side notes its
    /// CPU when it starts a wait and when it wakes a sleeping peer, the two moments the other
    /// side's decision depends on.
    fn peer_shares_cpu(&self, waiting_off: usize) -> bool {
        let (own, peer) = self.cpu_words(waiting_off);
        End::note_cpu(own) == peer.load(Ordering::Relaxed)
    }

    /// Waits until `ready()` holds, or the peer is gone. Spins first (adapting the budget), then
    /// sleeps on the futex word at `waiting_off`, which the peer clears and wakes.
    fn wait(&mut self, waiting_off: usize, ready: impl Fn(&Ring) -> bool) -> io::Result<Woken> {
        let start = Instant::now();
        if self.spin(waiting_off, &ready, start) {
            return Ok(Woken::Recheck);
        }
        self.sleep(waiting_off, &ready, start, SLEEP_SLICE)
    }

    /// The spin of a wait that started at `start`: `true` once `ready()` holds within the
    /// budget (which then grows back), `false` when the budget ran out (it shrinks). Makes no
    /// system call unless the peer last ran on this CPU (then it yields the CPU each turn).
    fn spin(&mut self, waiting_off: usize, ready: &impl Fn(&Ring) -> bool, start: Instant) -> bool {
        if self.spin.is_zero() {
            return false;
        }
        // With the peer on this CPU, a spin would only keep it from running: yield the CPU
        // to it instead, each turn (no flag is raised, so the peer makes no wake-up call).
        let shared = self.peer_shares_cpu(waiting_off);
        let mut turns = 0u32;
        loop {
            if ready(&self.ring) {
                // Spinning paid off: let the budget grow back.
                self.spin = self.spin.saturating_mul(2).min(self.max_spin);
                return true;
            }
            // No PAUSE here: under a hypervisor, PAUSE loops trigger pause-loop exits that
            // deschedule this vCPU for microseconds, longer than the wait itself.
            turns = turns.wrapping_add(1);
            if shared {
                rustix::thread::sched_yield();
                if start.elapsed() >= self.spin {
                    break;
                }
            } else if turns.is_multiple_of(64) && start.elapsed() >= self.spin {
                break;
            }
        }
        // The peer was slower than the budget: spin less next time, and not at all once the
        // budget is down to nothing.
        self.spin /= 4;
        if self.spin < MIN_SPIN {
            self.spin = Duration::ZERO;
        }
        false
    }

    /// The sleep of a wait that started at `start`: on the futex word at `waiting_off`, at most
    /// `slice` (no longer than [`SLEEP_SLICE`]); a sleep that times out looks at the lifeline.
    fn sleep(
        &mut self,
        waiting_off: usize,
        ready: &impl Fn(&Ring) -> bool,
        start: Instant,
        slice: Duration,
    ) -> io::Result<Woken> {
        let waiting = self.ring.word(waiting_off);
        waiting.store(SLEEPING, Ordering::SeqCst);
        if ready(&self.ring) {
            waiting.store(NOT_WAITING, Ordering::Relaxed);
            return Ok(Woken::Recheck);
        }
        let woke = futex::wait(waiting, SLEEPING, Some(slice.min(SLEEP_SLICE)));
        waiting.store(NOT_WAITING, Ordering::Relaxed);
        if self.spin.is_zero() && !self.max_spin.is_zero() {
            self.sleeps = self.sleeps.wrapping_add(1);
            if self.sleeps.is_multiple_of(PROBE_EVERY) {
                self.spin = (self.max_spin / 4).max(MIN_SPIN);
            }
        }
        match woke {
            Woke::Woken => {
                if start.elapsed() <= self.max_spin {
                    // The peer answered within what this side is willing to spin: a spin would
                    // have caught it without the sleep and the wake-up, so spin in full again.
                    self.spin = self.max_spin;
                }
                Ok(Woken::Recheck)
            }
            Woke::TimedOut => {
                if ready(&self.ring) {
                    Ok(Woken::Recheck)
                } else if self.peer_gone()? {
                    Ok(Woken::PeerGone)
                } else {
                    Ok(Woken::Recheck)
                }
            }
        }
    }

    /// A reader's spin, alone (no system call while the peer runs elsewhere): `true` once the
    /// writer moved on from this side's position or closed.
    pub(super) fn spin_for_writer(&mut self, start: Instant) -> bool {
        let ready = readable_since(self.pos);
        self.spin(OFF_READER_WAITING, &ready, start)
    }

    /// A reader's sleep, alone: at most `slice` (and [`SLEEP_SLICE`]) on the futex.
    pub(super) fn sleep_for_writer(
        &mut self,
        start: Instant,
        slice: Duration,
    ) -> io::Result<Woken> {
        let ready = readable_since(self.pos);
        self.sleep(OFF_READER_WAITING, &ready, start, slice)
    }

    /// Wakes the peer if it waits on the word at `waiting_off` (sleeping on it, or awaiting its
    /// bell). Called after publishing a position or a close flag.
    /// `read`: the reader's new position, for a writer sleeping until it reaches its mark.
    fn wake(&self, waiting_off: usize, read: Option<u64>) {
        // The one full barrier of a publication: the position (or flag) stored before it is
        // visible before the waiting word is looked at, so a waiter that stored its word and
        // then found no news is always seen here (the store itself needs only `Release`).
        fence(Ordering::SeqCst);
        let waiting = self.ring.word(waiting_off);
        match waiting.load(Ordering::SeqCst) {
            NOT_WAITING => return,
            SLEEPING => {
                if let Some(read) = read {
                    // The mark was stored before the word said SLEEPING (seen above).
                    let mark = self
                        .ring
                        .position(OFF_WRITER_WAKE_AT)
                        .load(Ordering::Relaxed);
                    if (read.wrapping_sub(mark) as i64) < 0 {
                        return;
                    }
                }
            }
            _ => {}
        }
        let was = waiting.swap(NOT_WAITING, Ordering::SeqCst);
        if was == NOT_WAITING {
            return;
        }
        // This side is the one the waiter waits for: tell it where this side runs.
        let own_waiting = if waiting_off == OFF_READER_WAITING {
            OFF_WRITER_WAITING
        } else {
            OFF_READER_WAITING
        };
        End::note_cpu(self.cpu_words(own_waiting).0);
        if was == SLEEPING {
            futex::wake(waiting, 1);
        } else if was == AWAITING_LIFELINE && self.hup_only && waiting_off == OFF_READER_WAITING {
            // A named pipe's writer, past its switch point: the byte is a control byte there.
            let _ = rustix::net::send(
                self.lifeline(),
                &[WAKE_BYTE],
                rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL,
            );
        } else {
            // Any other value is a task awaiting its bell (or a peer's garbage, for which one
            // spurious ring is harmless).
            let bell = if waiting_off == OFF_READER_WAITING {
                READER_BELL
            } else {
                WRITER_BELL
            };
            if let Ok(bell) = self.peer_bell_fd(bell) {
                if self.bell_is_eventfd {
                    let _ = rustix::io::write(bell, &1u64.to_ne_bytes());
                } else {
                    // A peer may have queued a pipe without readers as the bell: no SIGPIPE.
                    let _ = crate::sys::write_no_sigpipe(bell, &1u64.to_ne_bytes());
                }
            }
        }
    }

    /// The peer's bell (`which`: [`READER_BELL`] or [`WRITER_BELL`]), taken from the lifeline
    /// on first use and kept.
    fn peer_bell_fd(&self, which: usize) -> io::Result<BorrowedFd<'_>> {
        if let Some(bell) = self.peer_bell.get() {
            return Ok(bell.as_fd());
        }
        let [reader_bell, writer_bell] = Queued::peek(self.lifeline(), &self.ring.what)?.bells;
        let bell = checked_bell(
            if which == READER_BELL {
                reader_bell
            } else {
                writer_bell
            },
            &self.ring.what,
        )?;
        Ok(self.peer_bell.get_or_init(|| bell).as_fd())
    }

    /// Announces that a task awaits this side's bell (word at `waiting_off`), unless `ready()`
    /// already holds: `true` when the task should wait for the bell.
    #[cfg(feature = "tokio")]
    fn arm_bell(&self, waiting_off: usize, ready: impl Fn(&Ring) -> bool) -> bool {
        let waiting = self.ring.word(waiting_off);
        waiting.store(AWAITING_BELL, Ordering::SeqCst);
        if ready(&self.ring) {
            waiting.store(NOT_WAITING, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// A copy of this side's own bell (the one the peer rings), for an async front-end.
    #[cfg(feature = "tokio")]
    fn own_bell(&self, which: usize) -> io::Result<OwnedFd> {
        let [reader_bell, writer_bell] = Queued::peek(self.lifeline(), &self.ring.what)?.bells;
        checked_bell(
            if which == READER_BELL {
                reader_bell
            } else {
                writer_bell
            },
            &self.ring.what,
        )
    }
}
