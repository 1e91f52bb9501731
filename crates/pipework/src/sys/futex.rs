//! Futex waits and wakes on 32-bit words that may live in memory shared between processes.
//!
//! Shared (not process-private) futexes, since the words live in mappings other processes see.

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
}
