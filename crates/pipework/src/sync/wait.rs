//! The wait algorithms: one object or any of many ([`wait_any`]), and all of many at once
//! ([`wait_all`]), over objects and processes.
//!
//! Waiters count themselves in the object's `waiters` word and sleep in `futex_wait` (one
//! object) or `futex_waitv` (many) on the state words; a change that can satisfy a waiter wakes
//! every sleeper on that word if the count is not zero. What the futex cannot report (a mutex
//! owner that died, a process among the members) is re-checked at growing intervals up to
//! 100 ms.
//!
//! `wait_all` sets the [`GUARD`] on each of its objects in one order every process shares
//! (device, inode), checks that all are signaled, then applies every change and clears the
//! guards: it takes all or nothing, without a global lock. A guard whose holder died is cleared
//! by the next process that meets it.

use std::io::{self, ErrorKind};
use std::os::fd::BorrowedFd;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::thread::futex;

use super::namespace::Kind;
use super::object::{Object, Take, GUARD, VALUE};
use super::owner::me;

/// The outcome of a wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Taken { index: usize, abandoned: bool },
    TimedOut,
}

/// How long one sleep lasts when something must be re-checked by hand (a mutex owner that may
/// have died, a process among the objects): starts short, grows.
fn slice(round: u32) -> Duration {
    Duration::from_millis((1u64 << round.min(7)).min(100))
}

fn deadline_of(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| {
        Instant::now()
            .checked_add(t)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86400 * 365))
    })
}

fn sleep_for(deadline: Option<Instant>, slice: Option<Duration>) -> Option<Duration> {
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    match (left, slice) {
        (Some(l), Some(s)) => Some(l.min(s)),
        (l, s) => l.or(s),
    }
}

fn timespec(d: Duration) -> futex::Timespec {
    futex::Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// A member of a multiple-object wait.
pub(crate) enum Member<'a> {
    /// A mutex, semaphore or event.
    Object(&'a Object),
    /// A process, by pidfd.
    Process(BorrowedFd<'a>),
}

fn process_exited(fd: BorrowedFd<'_>) -> io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        match poll(&mut fds, Some(&zero)) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sleeps until one of `words` may have changed from `seen`, or the time is up. With no words to
/// watch, sleeps until one of `processes` exits instead (a pidfd is readable once it has).
fn sleep_on(
    words: &[(&Object, u32)],
    processes: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> io::Result<()> {
    for (object, _) in words {
        object.header().waiters.fetch_add(1, SeqCst);
    }
    let ts = timeout.map(timespec);
    let result = if words.len() == 1 {
        let (object, seen) = words[0];
        futex::wait(
            &object.header().state,
            futex::Flags::empty(),
            seen,
            ts.as_ref(),
        )
    } else if words.is_empty() && !processes.is_empty() {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut fds: Vec<PollFd<'_>> = processes
            .iter()
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        match poll(&mut fds, ts.as_ref()) {
            Ok(_) | Err(Errno::INTR) => Ok(()),
            Err(e) => Err(e),
        }
    } else if words.is_empty() {
        std::thread::sleep(timeout.unwrap_or(Duration::from_millis(100)));
        Ok(())
    } else {
        let mut waits = Vec::with_capacity(words.len());
        for (object, seen) in words {
            let mut w = futex::Wait::new();
            w.val = u64::from(*seen);
            w.uaddr = futex::WaitPtr::new(object.header().state.as_ptr().cast());
            w.flags = futex::WaitFlags::SIZE_U32;
            waits.push(w);
        }
        // futex_waitv takes an absolute time on the monotonic clock.
        let abs = timeout.map(|t| {
            let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            let ns = now.tv_nsec as u64 + u64::from(t.subsec_nanos());
            futex::Timespec {
                tv_sec: now.tv_sec + t.as_secs() as i64 + (ns / 1_000_000_000) as i64,
                tv_nsec: (ns % 1_000_000_000) as _,
            }
        });
        futex::waitv(
            &waits,
            futex::WaitvFlags::empty(),
            abs.as_ref(),
            futex::ClockId::Monotonic,
        )
        .map(|_| ())
    };
    for (object, _) in words {
        object.header().waiters.fetch_sub(1, SeqCst);
    }
    match result {
        Ok(()) | Err(Errno::AGAIN) | Err(Errno::INTR) | Err(Errno::TIMEDOUT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Waits for any of `members`: the lowest-index signaled one is taken.
pub(crate) fn wait_any(members: &[Member<'_>], timeout: Option<Duration>) -> io::Result<Outcome> {
    check_count(members.len())?;
    let deadline = deadline_of(timeout);
    let me = me();
    let mut round = 0u32;
    loop {
        let mut seen = Vec::new();
        let mut needs_slice = false;
        for (index, member) in members.iter().enumerate() {
            match member {
                Member::Process(fd) => {
                    needs_slice = true;
                    if process_exited(*fd)? {
                        return Ok(Outcome::Taken {
                            index,
                            abandoned: false,
                        });
                    }
                }
                Member::Object(object) => {
                    let mut spins = 0;
                    loop {
                        match object.try_take(&me, true) {
                            Ok(Take::Yes { abandoned, .. }) => {
                                return Ok(Outcome::Taken { index, abandoned })
                            }
                            Ok(Take::No) => return Err(io::Error::other("internal: empty take")),
                            Err(state) if state & GUARD != 0 => {
                                match object.wait_guard(&mut spins, deadline) {
                                    Ok(()) => {}
                                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                                        seen.push((*object, state));
                                        break;
                                    }
                                    Err(e) => return Err(e),
                                }
                            }
                            Err(state) => {
                                if object.kind == Kind::Mutex && state != 0 {
                                    needs_slice = true;
                                }
                                seen.push((*object, state));
                                break;
                            }
                        }
                    }
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Outcome::TimedOut);
        }
        let slice = needs_slice.then(|| slice(round));
        let processes: Vec<BorrowedFd<'_>> = members
            .iter()
            .filter_map(|m| match m {
                Member::Process(fd) => Some(*fd),
                Member::Object(_) => None,
            })
            .collect();
        sleep_on(&seen, &processes, sleep_for(deadline, slice))?;
        round = round.saturating_add(1);
    }
}

fn check_count(n: usize) -> io::Result<()> {
    if n == 0 || n > 64 {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("a wait takes 1 to 64 objects, not {n}"),
        ));
    }
    Ok(())
}

/// Waits until every one of `members` is signaled at once, then takes them all in one step.
pub(crate) fn wait_all(members: &[Member<'_>], timeout: Option<Duration>) -> io::Result<Outcome> {
    check_count(members.len())?;
    let deadline = deadline_of(timeout);
    let me = me();
    let mut objects: Vec<(usize, &Object)> = Vec::new();
    let mut processes = Vec::new();
    for (index, member) in members.iter().enumerate() {
        match member {
            Member::Object(o) => objects.push((index, *o)),
            Member::Process(fd) => processes.push(*fd),
        }
    }
    // Guards are taken in one global order (device, inode), so two wait-alls never deadlock.
    objects.sort_by_key(|(_, o)| o.identity);
    if objects
        .windows(2)
        .any(|w| w[0].1.identity == w[1].1.identity)
    {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "wait_all: the same object appears twice",
        ));
    }
    let mut round = 0u32;
    loop {
        let mut all_exited = true;
        for fd in &processes {
            if !process_exited(*fd)? {
                all_exited = false;
            }
        }
        let mut states = Vec::with_capacity(objects.len());
        let mut guarded_all = true;
        if all_exited {
            for (_, object) in &objects {
                match object.guard(&me, deadline) {
                    Ok(state) => states.push(state),
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        guarded_all = false;
                        break;
                    }
                    Err(e) => {
                        for ((_, o), s) in objects.iter().zip(&states) {
                            o.unguard(*s);
                        }
                        return Err(e);
                    }
                }
            }
        }
        if all_exited && guarded_all {
            let takes: Vec<Take> = objects
                .iter()
                .zip(&states)
                .map(|((_, o), s)| o.take(*s, &me, true))
                .collect();
            if takes.iter().all(|t| *t != Take::No) {
                let mut abandoned_index = None;
                for (((index, object), take), _) in objects.iter().zip(&takes).zip(&states) {
                    if let Take::Yes { new, abandoned, .. } = *take {
                        object.after_take(&me, *take);
                        object.unguard(new);
                        if abandoned && abandoned_index.is_none_or(|i| *index < i) {
                            abandoned_index = Some(*index);
                        }
                    }
                }
                return Ok(match abandoned_index {
                    Some(index) => Outcome::Taken {
                        index,
                        abandoned: true,
                    },
                    None => Outcome::Taken {
                        index: 0,
                        abandoned: false,
                    },
                });
            }
        }
        // Not all signaled: put every state back untouched.
        for ((_, o), s) in objects.iter().zip(&states) {
            o.unguard(*s);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Outcome::TimedOut);
        }
        let needs_slice = !processes.is_empty()
            || objects
                .iter()
                .zip(&states)
                .any(|((_, o), s)| o.kind == Kind::Mutex && *s != 0);
        let seen: Vec<(&Object, u32)> = objects
            .iter()
            .enumerate()
            .map(|(i, (_, o))| {
                (
                    *o,
                    states
                        .get(i)
                        .copied()
                        .unwrap_or_else(|| o.header().state.load(SeqCst) & VALUE),
                )
            })
            .collect();
        let slice = (needs_slice || !guarded_all).then(|| slice(round));
        let running: Vec<BorrowedFd<'_>> = processes
            .iter()
            .copied()
            .filter(|fd| !process_exited(*fd).unwrap_or(true))
            .collect();
        sleep_on(&seen, &running, sleep_for(deadline, slice))?;
        round = round.saturating_add(1);
    }
}
