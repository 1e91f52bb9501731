//! Futex waits and wakes on 32-bit words that may live in memory shared between processes.
//!
//! Shared (not process-private) futexes, since the words live in mappings other processes see.
//! Timeouts saturate (see [`super::time`]): `Duration::MAX` sleeps as long as the kernel can.

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

/// Why [`wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woke {
    /// Woken, or the word no longer held `expected` (a spurious return is possible: recheck).
    Woken,
    /// `timeout` passed.
    TimedOut,
}

/// Sleeps while `word` holds `expected`, for at most `timeout` (`None`: no limit). A signal ends
/// the sleep early as a [`Woke::Woken`]: callers recheck their condition in a loop anyway.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Woke {
    let ts = timeout.map(super::time::timespec);
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Err(Errno::TIMEDOUT) => Woke::TimedOut,
        // AGAIN: the word had already changed; INTR: a signal. Both are "look again".
        _ => Woke::Woken,
    }
}

/// The most words one [`waitv`] can watch (the kernel's limit).
pub(crate) const WAITV_MAX: usize = 128;

/// Sleeps while every word of `words` holds its expected value (`futex_waitv`), for at most
/// `timeout` (`None`: no limit). Returns at once, as [`Woke::Woken`], when any word already
/// differs; a signal ends the sleep early as [`Woke::Woken`] too. Errors: more than
/// [`WAITV_MAX`] words (`InvalidInput`), or a kernel without `futex_waitv` (before 5.16).
pub(crate) fn waitv(words: &[(&AtomicU32, u32)], timeout: Option<Duration>) -> io::Result<Woke> {
    if words.is_empty() || words.len() > WAITV_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "futex_waitv watches 1 to {WAITV_MAX} words, not {}",
                words.len()
            ),
        ));
    }
    let mut waits = [futex::Wait::new(); WAITV_MAX];
    for (wait, (word, expected)) in waits.iter_mut().zip(words) {
        wait.val = u64::from(*expected);
        // SAFETY (no `unsafe` is needed, but this raw pointer goes to the kernel): it comes from
        // a live `&AtomicU32` that outlives the call, so it is valid, aligned and 32 bits wide,
        // which `SIZE_U32` tells the kernel; the kernel only reads the word, atomically, the
        // same way the other processes that share it do.
        wait.uaddr = futex::WaitPtr::new(word.as_ptr().cast());
        wait.flags = futex::WaitFlags::SIZE_U32;
    }
    // futex_waitv takes an absolute time on the given clock.
    let deadline = timeout.map(|t| {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let now = Duration::new(
            now.tv_sec.max(0) as u64,
            now.tv_nsec.clamp(0, 999_999_999) as u32,
        );
        super::time::timespec(now.saturating_add(t))
    });
    match futex::waitv(
        &waits[..words.len()],
        futex::WaitvFlags::empty(),
        deadline.as_ref(),
        futex::ClockId::Monotonic,
    ) {
        Ok(_) | Err(Errno::AGAIN) | Err(Errno::INTR) => Ok(Woke::Woken),
        Err(Errno::TIMEDOUT) => Ok(Woke::TimedOut),
        Err(e) => Err(e.into()),
    }
}

/// Wakes up to `count` sleepers on `word`; returns how many were woken.
pub(crate) fn wake(word: &AtomicU32, count: u32) -> usize {
    futex::wake(word, futex::Flags::empty(), count).unwrap_or(0)
}

/// Wakes every sleeper on `word`.
pub(crate) fn wake_all(word: &AtomicU32) -> usize {
    wake(word, i32::MAX as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_word_returns_at_once_and_a_timeout_times_out() {
        let word = AtomicU32::new(1);
        assert_eq!(wait(&word, 0, None), Woke::Woken);
        assert_eq!(
            wait(&word, 1, Some(Duration::from_millis(1))),
            Woke::TimedOut
        );
        assert_eq!(
            wait(&word, 1, Some(Duration::MAX.min(Duration::from_millis(1)))),
            Woke::TimedOut
        );
        assert_eq!(wake_all(&word), 0);
    }

    #[test]
    fn the_kernel_takes_the_largest_timeout() {
        // The kernel checks the timeout before it compares the word: a word that differs answers
        // EAGAIN with a timeout it accepts, EINVAL with one it refuses.
        let word = AtomicU32::new(1);
        let forever = super::super::time::timespec(Duration::MAX);
        let answer = futex::wait(&word, futex::Flags::empty(), 0, Some(&forever));
        assert_eq!(answer, Err(Errno::AGAIN));
    }

    #[test]
    fn waitv_sees_a_changed_word_times_out_and_saturates() {
        let a = AtomicU32::new(1);
        let b = AtomicU32::new(2);
        assert_eq!(waitv(&[(&a, 1), (&b, 0)], None).unwrap(), Woke::Woken);
        let short = Some(Duration::from_millis(1));
        assert_eq!(waitv(&[(&a, 1), (&b, 2)], short).unwrap(), Woke::TimedOut);
        // A changed word answers at once even with the largest timeout, which must not overflow.
        assert_eq!(waitv(&[(&a, 0)], Some(Duration::MAX)).unwrap(), Woke::Woken);
        assert_eq!(
            waitv(&[], None).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
