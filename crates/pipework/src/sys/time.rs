//! Deadlines and kernel timeouts that saturate instead of overflowing: a caller's
//! `Duration::MAX` means "no limit", never a panic or a negative `timespec`.

use std::time::{Duration, Instant};

use rustix::time::Timespec;

/// The instant `timeout` from now; `None` when that is beyond what an `Instant` can hold
/// (which callers treat as "no deadline").
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// What is left until `deadline` (zero once it passed); `None` for no deadline.
pub(crate) fn left(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// `d` as a kernel `timespec`, saturating at the largest one.
pub(crate) fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_saturate() {
        assert_eq!(deadline(Duration::MAX), None);
        assert!(deadline(Duration::from_secs(1)).is_some());
        assert_eq!(timespec(Duration::MAX).tv_sec, i64::MAX);
        assert_eq!(left(None), None);
        let past = Instant::now();
        assert_eq!(left(Some(past)), Some(Duration::ZERO));
    }
}
