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
//! guards: it takes all or nothing, without a global lock. It never sleeps holding guards: meeting
//! one held elsewhere, it puts its own back and waits for that one alone. A guard whose holder
//! died is cleared by the next process that meets it; one held by a live thread is waited for at
//! most [`super::object::GUARD_PATIENCE`].

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;

use super::object::{GuardWait, Object, Patience};
use super::owner::me;
use super::state::{self, Shape, Take};
use crate::sys::error::{invalid, named};
use crate::sys::{futex, retry, time};

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

/// The sleep before the next look: what is left of the deadline, cut to `slice` if given.
fn sleep_for(deadline: Option<Instant>, slice: Option<Duration>) -> Option<Duration> {
    match (time::left(deadline), slice) {
        (Some(l), Some(s)) => Some(l.min(s)),
        (l, s) => l.or(s),
    }
}

fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// A member of a multiple-object wait.
pub(crate) enum Member<'a> {
    /// A mutex, semaphore or event.
    Object(&'a Object),
    /// A process, by pidfd.
    Process(BorrowedFd<'a>),
}

fn process_exited(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let now = time::timespec(Duration::ZERO);
    let ready = retry(|| poll(&mut fds, Some(&now))).map_err(|e| named("process handle", e))?;
    Ok(ready > 0)
}

/// Sleeps until one of `words` may have changed from the raw value seen, or the time is up.
/// With no words to watch, sleeps until one of `processes` exits instead (a pidfd is readable
/// once it has). A signal ends the sleep early: callers look again anyway.
fn sleep_on(
    words: &[(&Object, u32)],
    processes: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> io::Result<()> {
    for (object, _) in words {
        object.header().waiters.fetch_add(1, SeqCst);
    }
    let result = match words {
        [] if processes.is_empty() => {
            std::thread::sleep(timeout.unwrap_or(Duration::from_millis(100)));
            Ok(())
        }
        [] => {
            let mut fds: Vec<PollFd<'_>> = processes
                .iter()
                .map(|fd| PollFd::new(fd, PollFlags::IN))
                .collect();
            let ts = timeout.map(time::timespec);
            match poll(&mut fds, ts.as_ref()) {
                Ok(_) | Err(Errno::INTR) => Ok(()),
                Err(e) => Err(named("process handle", e)),
            }
        }
        [(object, seen)] => {
            futex::wait(&object.header().state, *seen, timeout);
            Ok(())
        }
        _ => {
            let watched: Vec<(&AtomicU32, u32)> = words
                .iter()
                .map(|(object, seen)| (&object.header().state, *seen))
                .collect();
            futex::waitv(&watched, timeout).map(|_| ()).map_err(|e| {
                let first = words[0].0.label();
                named(format!("{first} (and {} more)", words.len() - 1), e)
            })
        }
    };
    for (object, _) in words {
        object.header().waiters.fetch_sub(1, SeqCst);
    }
    result
}

/// Waits for any of `members`: the lowest-index signaled one is taken.
pub(crate) fn wait_any(members: &[Member<'_>], timeout: Option<Duration>) -> io::Result<Outcome> {
    check_count("wait_any", members.len())?;
    let deadline = timeout.and_then(time::deadline);
    let me = me();
    let processes: Vec<BorrowedFd<'_>> = members
        .iter()
        .filter_map(|m| match m {
            Member::Process(fd) => Some(*fd),
            Member::Object(_) => None,
        })
        .collect();
    let mut round = 0u32;
    loop {
        let mut seen = Vec::new();
        let mut needs_slice = !processes.is_empty();
        for (index, member) in members.iter().enumerate() {
            let object = match member {
                Member::Process(fd) if process_exited(*fd)? => {
                    return Ok(Outcome::Taken {
                        index,
                        abandoned: false,
                    })
                }
                Member::Process(_) => continue,
                Member::Object(object) => *object,
            };
            let mut patience = Patience::new();
            loop {
                match object.try_take(&me, true) {
                    Ok(Take::Yes { abandoned, .. }) => {
                        return Ok(Outcome::Taken { index, abandoned })
                    }
                    Ok(Take::No) => {
                        return Err(io::Error::other(format!(
                            "{}: internal: an empty take",
                            object.label()
                        )))
                    }
                    Err(raw) if state::decode(raw).guarded => {
                        if object.wait_guard(raw, &mut patience, deadline)?
                            == GuardWait::DeadlinePassed
                        {
                            seen.push((object, raw));
                            break;
                        }
                    }
                    Err(raw) => {
                        // Not signaled (or changed under every attempt: the sleep returns at once).
                        if object.shape == Shape::Mutex && state::decode(raw).value != 0 {
                            needs_slice = true;
                        }
                        seen.push((object, raw));
                        break;
                    }
                }
            }
        }
        if passed(deadline) {
            return Ok(Outcome::TimedOut);
        }
        let slice = needs_slice.then(|| slice(round));
        sleep_on(&seen, &processes, sleep_for(deadline, slice))?;
        round = round.saturating_add(1);
    }
}

fn check_count(call: &str, n: usize) -> io::Result<()> {
    if n == 0 || n > 64 {
        return Err(invalid(call, format!("takes 1 to 64 objects, not {n}")));
    }
    Ok(())
}

/// Puts back the states under the guards this wait holds on the first `held.len()` objects.
fn unguard_all(objects: &[(usize, &Object)], held: &mut Vec<u32>) {
    for ((_, object), raw) in objects.iter().zip(held.iter()) {
        object.unguard(*raw);
    }
    held.clear();
}

/// Waits until every one of `members` is signaled at once, then takes them all in one step.
pub(crate) fn wait_all(members: &[Member<'_>], timeout: Option<Duration>) -> io::Result<Outcome> {
    check_count("wait_all", members.len())?;
    let deadline = timeout.and_then(time::deadline);
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
    if let Some(w) = objects
        .windows(2)
        .find(|w| w[0].1.identity == w[1].1.identity)
    {
        return Err(invalid(
            "wait_all",
            format!("{} appears twice", w[0].1.label()),
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
        // The raw words under this wait's guards, in `objects` order.
        let mut held: Vec<u32> = Vec::with_capacity(objects.len());
        let mut patience = Patience::new();
        while all_exited && held.len() < objects.len() {
            let object = objects[held.len()].1;
            let raw = match object.try_guard(&me) {
                Ok(raw) => {
                    held.push(raw);
                    patience = Patience::new();
                    continue;
                }
                Err(raw) => raw,
            };
            if !held.is_empty() && patience.spinning() {
                // Held for an instant by another wait: worth a short spin with ours held.
                object.wait_guard(raw, &mut patience, None)?;
                continue;
            }
            // Never sleep holding guards: put ours back, wait for this one alone, start again.
            unguard_all(&objects, &mut held);
            let mut raw = raw;
            loop {
                if object.wait_guard(raw, &mut patience, deadline)? == GuardWait::DeadlinePassed {
                    return Ok(Outcome::TimedOut);
                }
                raw = object.header().state.load(SeqCst);
                if !state::decode(raw).guarded {
                    break;
                }
            }
        }
        if all_exited {
            let takes: Vec<Take> = objects
                .iter()
                .zip(&held)
                .map(|((_, o), raw)| o.take(*raw, &me, true))
                .collect();
            if takes.iter().all(|t| *t != Take::No) {
                let mut abandoned_index = None;
                for ((index, object), take) in objects.iter().zip(&takes) {
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
        let seen: Vec<(&Object, u32)> = objects
            .iter()
            .enumerate()
            .map(|(i, (_, o))| {
                let raw = match held.get(i) {
                    Some(raw) => *raw & state::VALUE,
                    None => o.header().state.load(SeqCst),
                };
                (*o, raw)
            })
            .collect();
        unguard_all(&objects, &mut held);
        if passed(deadline) {
            return Ok(Outcome::TimedOut);
        }
        let needs_slice = !processes.is_empty()
            || seen
                .iter()
                .any(|(o, raw)| o.shape == Shape::Mutex && state::decode(*raw).value != 0);
        let running: Vec<BorrowedFd<'_>> = processes
            .iter()
            .copied()
            .filter(|fd| !process_exited(*fd).unwrap_or(true))
            .collect();
        let slice = needs_slice.then(|| slice(round));
        sleep_on(&seen, &running, sleep_for(deadline, slice))?;
        round = round.saturating_add(1);
    }
}
