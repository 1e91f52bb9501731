//! The state word and the page header, decoded without I/O: what every operation does to values
//! that another process may have set to anything.
//!
//! Nothing here reads memory or the system: callers load the words from the page, ask these
//! functions what to do, and apply the answer with a compare-and-swap. Every function is total
//! (no panic, no overflow, no index) over all `u32` inputs, which the property tests below check.

/// The state word's guard bit: set by a `wait_all` on each of its objects while it checks and
/// takes them; every other change is a compare-and-swap that expects it clear.
pub(crate) const GUARD: u32 = 1 << 31;
/// The state word's value bits.
pub(crate) const VALUE: u32 = !GUARD;
/// The page's first word.
pub(crate) const MAGIC: u32 = 0x5057_534f;
/// The page layout's version.
pub(crate) const VERSION: u32 = 1;

/// A state word as read from the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word {
    /// A `wait_all` (or whoever wrote the word) holds the guard.
    pub(crate) guarded: bool,
    /// The value bits: a mutex owner's thread id (0 free), a semaphore's count, an event's
    /// signal (0 not signaled).
    pub(crate) value: u32,
}

/// Splits a raw state word into its guard bit and its value.
pub(crate) fn decode(raw: u32) -> Word {
    Word {
        guarded: raw & GUARD != 0,
        value: raw & VALUE,
    }
}

/// What an object is, with the parameters fixed when this process opened it (never re-read:
/// a peer that rewrites the header later changes nothing here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A recursive mutex.
    Mutex,
    /// A semaphore with this maximum count (1 to [`VALUE`]).
    Semaphore {
        /// The maximum count.
        max: u32,
    },
    /// An event.
    Event {
        /// Manual-reset (stays signaled) rather than auto-reset.
        manual: bool,
    },
}

/// The kind codes of the page header.
pub(crate) const MUTEX: u32 = 1;
/// See [`MUTEX`].
pub(crate) const SEMAPHORE: u32 = 2;
/// See [`MUTEX`].
pub(crate) const EVENT: u32 = 3;

/// Why a header is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadHeader {
    /// Magic or version wrong: not a pipework sync object.
    NotAnObject,
    /// A sync object, but of another kind (its code).
    OtherKind(u32),
    /// A semaphore's maximum count of 0 or above [`VALUE`].
    MaxOutOfRange,
    /// An event's reset mode neither 0 nor 1.
    ResetModeOutOfRange,
}

impl std::fmt::Display for BadHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadHeader::NotAnObject => f.write_str("not a pipework synchronization object"),
            BadHeader::OtherKind(code) => write!(f, "of another kind (kind code {code})"),
            BadHeader::MaxOutOfRange => f.write_str("its maximum count is out of range"),
            BadHeader::ResetModeOutOfRange => f.write_str("its reset mode is out of range"),
        }
    }
}

/// Checks the header words `[magic, version, kind, param]` for an object of kind code
/// `expected`, and returns its shape.
pub(crate) fn check_header(words: [u32; 4], expected: u32) -> Result<Shape, BadHeader> {
    let [magic, version, code, param] = words;
    if magic != MAGIC || version != VERSION {
        return Err(BadHeader::NotAnObject);
    }
    if code != expected {
        return Err(BadHeader::OtherKind(code));
    }
    match code {
        MUTEX => Ok(Shape::Mutex),
        SEMAPHORE if param == 0 || param > VALUE => Err(BadHeader::MaxOutOfRange),
        SEMAPHORE => Ok(Shape::Semaphore { max: param }),
        EVENT if param > 1 => Err(BadHeader::ResetModeOutOfRange),
        EVENT => Ok(Shape::Event { manual: param == 1 }),
        _ => Err(BadHeader::OtherKind(code)),
    }
}

/// What taking an object does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Take {
    /// Not signaled.
    No,
    /// Signaled: the state becomes `new`; `abandoned` for a mutex whose owner died;
    /// `recursive` when the mutex is already this thread's.
    Yes {
        /// The new value (guard clear).
        new: u32,
        /// The mutex's owner had died.
        abandoned: bool,
        /// The mutex was already the caller's.
        recursive: bool,
    },
}

/// What taking an object of `shape` whose value is `value` does for thread `me`.
///
/// `owner_dead` is asked, for a mutex owned by another thread, whether that owner is gone; pass
/// `|_| false` to never take a mutex as abandoned. The new value never has the guard set.
pub(crate) fn take(
    shape: Shape,
    value: u32,
    me: u32,
    owner_dead: impl FnOnce(u32) -> bool,
) -> Take {
    let value = value & VALUE;
    let yes = |new: u32, abandoned, recursive| Take::Yes {
        new: new & VALUE,
        abandoned,
        recursive,
    };
    match shape {
        Shape::Mutex if value == 0 => yes(me, false, false),
        Shape::Mutex if value == me & VALUE => yes(value, false, true),
        Shape::Mutex if owner_dead(value) => yes(me, true, false),
        Shape::Mutex => Take::No,
        Shape::Semaphore { .. } if value > 0 => yes(value - 1, false, false),
        Shape::Event { manual } if value != 0 => yes(if manual { value } else { 0 }, false, false),
        Shape::Semaphore { .. } | Shape::Event { .. } => Take::No,
    }
}

/// `SetEvent`: the new value, or `None` when the event is signaled already.
pub(crate) fn set(value: u32) -> Option<u32> {
    (value & VALUE == 0).then_some(1)
}

/// `ResetEvent`: the new value, or `None` when the event is not signaled.
pub(crate) fn reset(value: u32) -> Option<u32> {
    (value & VALUE != 0).then_some(0)
}

/// `ReleaseSemaphore(n)` on a count of `count` with maximum `max`: the new count, or `None` when
/// it would pass the maximum (or `n` is 0; a count a peer set above the maximum refuses every
/// release).
pub(crate) fn release_semaphore(count: u32, n: u32, max: u32) -> Option<u32> {
    if n == 0 {
        return None;
    }
    (count & VALUE)
        .checked_add(n)
        .filter(|after| *after <= max.min(VALUE))
}

/// `ReleaseMutex` by thread `me` of a mutex whose value is `value`, at the last level of
/// recursion: the new value (free), or `None` when `me` is not the owner.
pub(crate) fn release_mutex(value: u32, me: u32) -> Option<u32> {
    (value & VALUE == me & VALUE && value & VALUE != 0).then_some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    fn shape() -> impl Strategy<Value = Shape> {
        prop_oneof![
            Just(Shape::Mutex),
            (1..=VALUE).prop_map(|max| Shape::Semaphore { max }),
            any::<bool>().prop_map(|manual| Shape::Event { manual }),
        ]
    }

    #[test]
    fn decode_splits_guard_and_value() {
        assert_eq!(
            decode(GUARD | 7),
            Word {
                guarded: true,
                value: 7
            }
        );
        assert_eq!(
            decode(u32::MAX),
            Word {
                guarded: true,
                value: VALUE
            }
        );
        assert_eq!(
            decode(0),
            Word {
                guarded: false,
                value: 0
            }
        );
    }

    #[test]
    fn headers() {
        let ok = |code, param| check_header([MAGIC, VERSION, code, param], code);
        assert_eq!(ok(MUTEX, 99), Ok(Shape::Mutex));
        assert_eq!(ok(SEMAPHORE, 5), Ok(Shape::Semaphore { max: 5 }));
        assert_eq!(ok(SEMAPHORE, 0), Err(BadHeader::MaxOutOfRange));
        assert_eq!(ok(SEMAPHORE, GUARD), Err(BadHeader::MaxOutOfRange));
        assert_eq!(ok(EVENT, 1), Ok(Shape::Event { manual: true }));
        assert_eq!(ok(EVENT, 2), Err(BadHeader::ResetModeOutOfRange));
        assert_eq!(
            check_header([MAGIC, VERSION, EVENT, 0], MUTEX),
            Err(BadHeader::OtherKind(EVENT))
        );
        assert_eq!(
            check_header([MAGIC, 2, MUTEX, 0], MUTEX),
            Err(BadHeader::NotAnObject)
        );
        assert_eq!(ok(0, 0), Err(BadHeader::OtherKind(0)));
    }

    #[test]
    fn the_win32_rules() {
        let never = |_| false;
        let mutex = Shape::Mutex;
        assert_eq!(
            take(mutex, 0, 42, never),
            Take::Yes {
                new: 42,
                abandoned: false,
                recursive: false
            }
        );
        assert_eq!(
            take(mutex, 42, 42, never),
            Take::Yes {
                new: 42,
                abandoned: false,
                recursive: true
            }
        );
        assert_eq!(take(mutex, 41, 42, never), Take::No);
        assert_eq!(
            take(mutex, 41, 42, |owner| owner == 41),
            Take::Yes {
                new: 42,
                abandoned: true,
                recursive: false
            }
        );
        let auto = Shape::Event { manual: false };
        assert!(matches!(take(auto, 1, 0, never), Take::Yes { new: 0, .. }));
        assert!(matches!(
            take(Shape::Event { manual: true }, 1, 0, never),
            Take::Yes { new: 1, .. }
        ));
        assert_eq!(take(auto, 0, 0, never), Take::No);
        assert_eq!(set(0), Some(1));
        assert_eq!(set(1), None);
        assert_eq!(reset(1), Some(0));
        assert_eq!(reset(0), None);
        assert_eq!(release_semaphore(0, 2, 2), Some(2));
        assert_eq!(release_semaphore(1, 2, 2), None);
        assert_eq!(release_semaphore(VALUE, u32::MAX, VALUE), None);
        assert_eq!(release_semaphore(0, 0, 2), None);
        assert_eq!(release_mutex(42, 42), Some(0));
        assert_eq!(release_mutex(41, 42), None);
    }

    proptest! {
        #![proptest_config(Config { cases: 4096, ..Config::default() })]

        /// Any state a peer wrote: a take never sets the guard, never raises a count, and
        /// hands a mutex only to the caller.
        #[test]
        fn take_is_total_and_keeps_the_rules(
            shape in shape(),
            raw in any::<u32>(),
            me in 1..=VALUE,
            dead in any::<bool>(),
        ) {
            let value = decode(raw).value;
            match take(shape, raw, me, |_| dead) {
                Take::No => match shape {
                    Shape::Mutex => prop_assert!(value != 0 && value != me && !dead),
                    _ => prop_assert_eq!(value, 0),
                },
                Take::Yes { new, abandoned, recursive } => {
                    prop_assert_eq!(new & GUARD, 0);
                    match shape {
                        Shape::Mutex => {
                            prop_assert_eq!(new, me);
                            prop_assert_eq!(recursive, value == me);
                            prop_assert_eq!(abandoned, value != 0 && value != me);
                        }
                        Shape::Semaphore { .. } => prop_assert_eq!(new, value - 1),
                        Shape::Event { manual } => {
                            prop_assert_eq!(new, if manual { value } else { 0 })
                        }
                    }
                }
            }
        }

        /// Releases and set/reset never overflow, never set the guard, never pass a maximum.
        #[test]
        fn changes_are_total(raw in any::<u32>(), n in any::<u32>(), max in any::<u32>(), me in any::<u32>()) {
            if let Some(after) = release_semaphore(raw, n, max) {
                prop_assert!(after <= max && after <= VALUE);
                prop_assert_eq!(after, decode(raw).value + n);
            }
            for new in [set(raw), reset(raw), release_mutex(raw, me)].into_iter().flatten() {
                prop_assert_eq!(new & GUARD, 0);
            }
            prop_assert_eq!(set(raw).is_some(), reset(raw).is_none());
        }

        /// Any header words: either a shape that matches them, or a refusal; never a panic.
        #[test]
        fn any_header_is_checked(
            words in prop_oneof![
                any::<[u32; 4]>(),
                (any::<u32>(), any::<u32>()).prop_map(|(code, param)| [MAGIC, VERSION, code % 5, param]),
            ],
            expected in MUTEX..=EVENT,
        ) {
            if let Ok(shape) = check_header(words, expected) {
                prop_assert_eq!(words[2], expected);
                match shape {
                    Shape::Semaphore { max } => prop_assert!((1..=VALUE).contains(&max)),
                    Shape::Event { manual } => prop_assert_eq!(manual, words[3] == 1),
                    Shape::Mutex => {}
                }
            }
        }
    }
}
