//! Property tests of what a side reads from shared memory another process writes: ring
//! positions, header checks, and random headers written into a real ring between two ends.
//! Whatever the words hold, no call panics, touches memory outside the ring's data, or waits
//! longer than a bound.
//!
//! | property | cases |
//! |---|---|
//! | `spans_stay_inside_the_ring` | 4096 |
//! | `header_checks_accept_only_a_ring_that_fits` | 512 |
//! | `a_hostile_header_between_two_live_ends` | 256 |
//! | `a_hostile_header_with_the_peer_gone` | 64 |
//! | `messages_read_from_random_bytes` | 256 |

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;

use super::handover::{map_ring, Queued, ANONYMOUS};
use super::layout::{
    self, HEADER, MAGIC, MAX_CAPACITY, MIN_CAPACITY, OFF_CAPACITY, OFF_MAGIC, OFF_READER_CLOSED,
    OFF_READER_CPU, OFF_READER_WAITING, OFF_READ_POS, OFF_VERSION, OFF_WRITER_CLOSED,
    OFF_WRITER_CPU, OFF_WRITER_WAITING, OFF_WRITE_POS, VERSION,
};
use super::ring::spans;
use super::{ShmMessageReader, ShmPipeOptions, ShmReader, ShmWriter};
use crate::mapping::{Access, FileMapping, View};
use crate::named_pipe::MessageRead;

/// The longest one case's calls may take, all together. A call that waits on a gone peer
/// returns after one sleep slice (50 ms); a case makes at most a dozen calls.
const BOUND: Duration = Duration::from_secs(20);

/// Where unused header bytes start: nothing may ever write from here to the data.
const CANARY_AT: usize = 512;

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        // A failing case may take the whole bound: shrink it a little, not for ever.
        max_shrink_iters: 64,
        ..Config::default()
    }
}

/// A position a peer might write: near the real one (within a few ring lengths either way,
/// where the off-by-some mistakes live), or anything.
#[derive(Clone, Copy, Debug)]
enum Pos {
    Near(i64),
    Any(u64),
}

impl Pos {
    fn at(self, real: u64) -> u64 {
        match self {
            Pos::Near(delta) => real.wrapping_add_signed(delta),
            Pos::Any(p) => p,
        }
    }
}

fn position() -> impl Strategy<Value = Pos> {
    prop_oneof![
        3 => (-40_000i64..40_000).prop_map(Pos::Near),
        1 => prop_oneof![any::<u64>(), (u64::MAX - 200_000)..=u64::MAX].prop_map(Pos::Any),
    ]
}

/// A 32-bit header word a peer might write: the values the protocol uses, or anything.
fn word() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..4, any::<u32>()]
}

/// A hostile peer's writes into the header: each word left alone (`None`) or overwritten.
#[derive(Clone, Debug)]
struct Hostile {
    magic: Option<u64>,
    version: Option<u32>,
    capacity: Option<u64>,
    write_pos: Option<Pos>,
    read_pos: Option<Pos>,
    words: [Option<u32>; 6],
}

fn hostile() -> impl Strategy<Value = Hostile> {
    (
        proptest::option::of(prop_oneof![Just(MAGIC), any::<u64>()]),
        proptest::option::of(prop_oneof![Just(VERSION), any::<u32>()]),
        proptest::option::of(prop_oneof![
            any::<u64>(),
            (0u32..64).prop_map(|b| 1u64 << b),
            0u64..100_000,
        ]),
        proptest::option::of(position()),
        proptest::option::of(position()),
        proptest::array::uniform6(proptest::option::of(word())),
    )
        .prop_map(
            |(magic, version, capacity, write_pos, read_pos, words)| Hostile {
                magic,
                version,
                capacity,
                write_pos,
                read_pos,
                words,
            },
        )
}

impl Hostile {
    /// Writes these words into the header of `view` (positions near `real`, where both sides
    /// stand), and fills the unused header bytes with a canary.
    fn write(&self, view: &View, real: u64) {
        let u64_at = |off: usize, v: Option<u64>| {
            if let Some(v) = v {
                view.atomic_u64(off).unwrap().store(v, Ordering::SeqCst);
            }
        };
        u64_at(OFF_MAGIC, self.magic);
        u64_at(OFF_CAPACITY, self.capacity);
        u64_at(OFF_WRITE_POS, self.write_pos.map(|p| p.at(real)));
        u64_at(OFF_READ_POS, self.read_pos.map(|p| p.at(real)));
        if let Some(v) = self.version {
            view.atomic_u32(OFF_VERSION)
                .unwrap()
                .store(v, Ordering::SeqCst);
        }
        let offsets = [
            OFF_READER_WAITING,
            OFF_WRITER_WAITING,
            OFF_WRITER_CLOSED,
            OFF_READER_CLOSED,
            OFF_READER_CPU,
            OFF_WRITER_CPU,
        ];
        for (off, v) in offsets.into_iter().zip(self.words) {
            if let Some(v) = v {
                view.atomic_u32(off).unwrap().store(v, Ordering::SeqCst);
            }
        }
        view.write(CANARY_AT, &[0xA5; HEADER - CANARY_AT]).unwrap();
    }
}

fn canary_intact(view: &View) -> bool {
    let mut bytes = vec![0u8; HEADER - CANARY_AT];
    view.read(CANARY_AT, &mut bytes).unwrap();
    bytes.iter().all(|&b| b == 0xA5)
}

/// One call on an end.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Read (reader) or write (writer) this many bytes.
    Transfer(usize),
    /// `bytes_available` (reader) or `commit` of this many bytes (writer).
    Look(usize),
    /// In place: `fill_buf_in_place` + `consume`, or `reserve_in_place` + `commit`, of at most
    /// this many bytes.
    InPlace(usize),
    /// `consume` (reader) or `commit` (writer) of this many bytes, nothing lent before.
    Give(usize),
    /// The end converted to its handle and adopted again (which checks the header anew).
    Adopt,
}

fn op() -> impl Strategy<Value = Op> {
    let n = prop_oneof![0usize..16, 0usize..70_000, Just(usize::MAX)];
    prop_oneof![
        n.clone().prop_map(Op::Transfer),
        n.clone().prop_map(Op::Look),
        n.clone().prop_map(Op::InPlace),
        n.prop_map(Op::Give),
        Just(Op::Adopt),
    ]
}

/// The end under test.
enum Side {
    Reader(ShmReader),
    Writer(ShmWriter),
    /// Lost: an adoption refused the header.
    None,
}

/// Whether `e` is an error a hostile header or a gone peer may cause (anything else, such as
/// an access the bounds checks refused, is a bug).
fn expected(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::InvalidData | ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe
    )
}

/// Where the data of the ring `view` maps starts, as an address.
fn data_start(view: &View) -> usize {
    // SAFETY: only the address is taken, to compare; nothing is read or written through it.
    unsafe { view.as_ptr() as usize + HEADER }
}

/// Checks that `slice` lies inside the ring data that starts at address `base`.
fn inside_ring(base: usize, capacity: u64, slice: &[u8]) -> Result<(), String> {
    let start = slice.as_ptr() as usize;
    if slice.is_empty() || (start >= base && start + slice.len() <= base + capacity as usize) {
        Ok(())
    } else {
        Err(format!(
            "a slice of {} bytes at data offset {} leaves a {capacity}-byte ring",
            slice.len(),
            start as isize - base as isize
        ))
    }
}

/// A call's result, failing on an error a hostile header may not cause.
fn check(r: std::io::Result<()>) -> Result<(), String> {
    match r {
        Err(e) if !expected(&e) => Err(format!("unexpected error: {e:?}")),
        _ => Ok(()),
    }
}

/// The end behind `fd` adopted again as a `T` (which checks the header anew), made a side by
/// `side`; no side when the adoption fails as it may.
fn adopt_again<T: TryFrom<OwnedFd, Error = std::io::Error>>(
    fd: OwnedFd,
    side: fn(T) -> Side,
) -> Result<Side, String> {
    match T::try_from(fd) {
        Ok(end) => Ok(side(end)),
        Err(e) => {
            check(Err(e))?;
            Ok(Side::None)
        }
    }
}

/// Runs `ops` on `side`. With `peer_alive`, a call that would wait for the (idle) peer is
/// skipped: waiting for a live peer that does nothing is the pipe's contract, not a hang.
fn run(mut side: Side, ops: &[Op], peer_alive: bool) -> Result<(), String> {
    for &op in ops {
        side = match side {
            Side::None => return Ok(()),
            Side::Reader(mut r) => {
                let would_wait =
                    peer_alive && !r.writer_closed() && matches!(r.bytes_available(), Ok(0));
                match op {
                    Op::Transfer(n) if !would_wait => {
                        let mut buf = vec![0u8; n.min(70_000)];
                        check(r.read(&mut buf).map(drop))?;
                    }
                    Op::Look(_) => check(r.bytes_available().map(drop))?,
                    Op::InPlace(n) if !would_wait => {
                        let (base, capacity) = (data_start(&r.end.ring.view), r.end.ring.capacity);
                        // SAFETY: the writer is this test's own idle end (or gone), and the
                        // hostile view is not written while the slice is borrowed.
                        match unsafe { r.fill_buf_in_place() } {
                            Ok(data) => {
                                inside_ring(base, capacity, data)?;
                                let k = data.len().min(n);
                                r.consume(k);
                            }
                            Err(e) => check(Err(e))?,
                        }
                    }
                    Op::Give(n) => r.consume(n),
                    Op::Adopt => {
                        side = adopt_again(OwnedFd::from(r), Side::Reader)?;
                        continue;
                    }
                    _ => {}
                }
                Side::Reader(r)
            }
            Side::Writer(mut w) => {
                // A write returns once all of it is in the ring: with the reader alive (and
                // idle), only what fits now.
                let room = match w.free() {
                    Ok(free) if peer_alive && !w.reader_closed() => free,
                    _ => usize::MAX,
                };
                let would_wait = room == 0;
                match op {
                    Op::Transfer(n) if !would_wait => {
                        let data = vec![7u8; n.min(70_000).min(room)];
                        check(w.write(&data).map(drop))?;
                    }
                    Op::Look(n) | Op::Give(n) => check(w.commit(n))?,
                    Op::InPlace(n) if !would_wait => {
                        let (base, capacity) = (data_start(&w.end.ring.view), w.end.ring.capacity);
                        // SAFETY: the reader is this test's own idle end (or gone), and the
                        // hostile view is not written while the slice is borrowed.
                        match unsafe { w.reserve_in_place() } {
                            Ok(room) => {
                                inside_ring(base, capacity, room)?;
                                let k = room.len().min(n);
                                room[..k].fill(9);
                                check(w.commit(k))?;
                            }
                            Err(e) => check(Err(e))?,
                        }
                    }
                    Op::Adopt => {
                        side = adopt_again(OwnedFd::from(w), Side::Writer)?;
                        continue;
                    }
                    _ => {}
                }
                Side::Writer(w)
            }
        };
    }
    Ok(())
}

/// A hostile's own view of the ring behind `end` (taken from the handles queued on it).
fn hostile_view(end: impl AsFd) -> View {
    let queued = Queued::peek(end.as_fd(), ANONYMOUS).unwrap();
    map_ring(queued.ring, ANONYMOUS).unwrap()
}

/// What a hostile case is made of (see [`hostile_case`]).
#[derive(Clone, Debug)]
struct Case {
    capacity: usize,
    traffic: usize,
    header: Hostile,
    on_reader: bool,
    ops: Vec<Op>,
}

/// A hostile case with fewer than `max_ops` calls.
fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(4096usize), Just(8192usize)],
        0usize..40_000,
        hostile(),
        any::<bool>(),
        proptest::collection::vec(op(), 1..max_ops),
    )
        .prop_map(|(capacity, traffic, header, on_reader, ops)| Case {
            capacity,
            traffic,
            header,
            on_reader,
            ops,
        })
}

/// One case: a pipe with `traffic` bytes through it, the header overwritten, then `ops` on the
/// reader (`on_reader`) or the writer, with the other end idle or gone. Fails when a call
/// panics, errs unexpectedly, lends memory outside the ring, writes into the header's unused
/// bytes, or the calls take longer than [`BOUND`].
fn hostile_case(case: Case, peer_alive: bool) -> Result<(), TestCaseError> {
    let Case {
        capacity,
        traffic,
        header,
        on_reader,
        ops,
    } = case;
    let (mut r, mut w) = ShmPipeOptions::new()
        .capacity(capacity)
        .spin(Duration::ZERO)
        .create()
        .unwrap();
    let mut moved = 0;
    let mut buf = vec![0u8; capacity];
    while moved < traffic {
        let n = (traffic - moved).min(capacity);
        w.write_all(&buf[..n]).unwrap();
        r.read_exact(&mut buf[..n]).unwrap();
        moved += n;
    }
    let view = hostile_view(&r);
    let (side, peer) = if on_reader {
        (Side::Reader(r), OwnedFd::from(w))
    } else {
        (Side::Writer(w), OwnedFd::from(r))
    };
    // A gone peer: its handle closed without its close flag, as after `kill -9`.
    let peer = peer_alive.then_some(peer);
    header.write(&view, traffic as u64);
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(side, &ops, peer_alive)))
                .unwrap_or_else(|_| Err("a call panicked".to_string()));
        let _ = done.send(result);
    });
    let result = outcome
        .recv_timeout(BOUND)
        .map_err(|_| TestCaseError::fail(format!("calls still running after {BOUND:?}")))?;
    drop(peer);
    result.map_err(TestCaseError::fail)?;
    prop_assert!(canary_intact(&view), "a write landed in the header");
    Ok(())
}

proptest! {
    #![proptest_config(config(4096))]

    /// Where `len` bytes at any position fall: inside the data, the two pieces not overlapping,
    /// and nothing at all for more than the ring holds.
    #[test]
    fn spans_stay_inside_the_ring(
        shift in 12u32..=30,
        pos in any::<u64>(),
        len in prop_oneof![0usize..(1 << 13), any::<usize>()],
    ) {
        let capacity = 1u64 << shift;
        match spans(capacity, pos, len) {
            None => prop_assert!(len as u64 > capacity),
            Some((start, first)) => {
                prop_assert!(len as u64 <= capacity);
                prop_assert!((start as u64) < capacity);
                prop_assert!(first <= len);
                prop_assert!(start as u64 + first as u64 <= capacity);
                // The rest wraps to the data's start and stops before `start`.
                prop_assert!(len - first <= start);
                prop_assert!(first == len || start as u64 + first as u64 == capacity);
            }
        }
        prop_assert!(spans(capacity | 1 << 40 | 3, pos, len).is_none());
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// The header check on a real mapping of any size with any words: it accepts exactly a
    /// header whose magic and version are right and whose capacity, a power of two, is what
    /// the mapping holds after the header.
    #[test]
    fn header_checks_accept_only_a_ring_that_fits(
        pages in 1usize..=9,
        magic in prop_oneof![Just(MAGIC), any::<u64>()],
        version in prop_oneof![Just(VERSION), any::<u32>()],
        capacity in prop_oneof![
            (0u32..64).prop_map(|b| 1u64 << b),
            (0usize..=8).prop_map(|p| (p * 4096) as u64),
            any::<u64>(),
        ],
    ) {
        let size = pages * 4096;
        let mapping = FileMapping::anonymous(size as u64).unwrap();
        let view = mapping.map_view(Access::Write, 0, 0).unwrap();
        view.atomic_u64(OFF_MAGIC).unwrap().store(magic, Ordering::SeqCst);
        view.atomic_u32(OFF_VERSION).unwrap().store(version, Ordering::SeqCst);
        view.atomic_u64(OFF_CAPACITY).unwrap().store(capacity, Ordering::SeqCst);
        let fits = magic == MAGIC
            && version == VERSION
            && capacity.is_power_of_two()
            && capacity >= MIN_CAPACITY as u64
            && capacity <= MAX_CAPACITY as u64
            && capacity == (size - HEADER) as u64;
        match layout::checked_capacity(&view, ANONYMOUS) {
            Ok(c) => prop_assert!(fits && c == capacity),
            Err(e) => {
                prop_assert!(!fits);
                prop_assert_eq!(e.kind(), ErrorKind::InvalidData);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Random header words written between two live ends: calls that would wait for the idle
    /// peer are left out; every other call returns data or an error, never panics, never lends
    /// memory outside the ring.
    #[test]
    fn a_hostile_header_between_two_live_ends(case in case(10)) {
        hostile_case(case, true)?;
    }

    /// Random bytes through a message pipe: `read_message` with buffers of any size returns
    /// messages, `MoreData` or `End`, or an error, and never runs past the bytes written.
    #[test]
    fn messages_read_from_random_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..20_000),
        sizes in proptest::collection::vec(0usize..3000, 1..40),
    ) {
        let (r, mut w) = ShmPipeOptions::new().capacity(32 * 1024).create().unwrap();
        w.write_all(&bytes).unwrap();
        drop(w);
        let mut reader = ShmMessageReader::new(r);
        let mut taken = 0usize;
        for size in sizes.iter().cycle().take(bytes.len() + 2) {
            let mut buf = vec![0u8; *size];
            match reader.read_message(&mut buf) {
                Ok(MessageRead::Complete(n)) | Ok(MessageRead::MoreData { read: n, .. }) => {
                    prop_assert!(n <= *size);
                    taken += n;
                    prop_assert!(taken <= bytes.len());
                }
                Ok(MessageRead::End) => break,
                Err(e) => {
                    prop_assert_eq!(e.kind(), ErrorKind::BrokenPipe);
                    break;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Random header words, the peer gone without closing (as after `kill -9`): every call,
    /// waiting ones included, returns data or an error within the bound.
    #[test]
    fn a_hostile_header_with_the_peer_gone(case in case(8)) {
        hostile_case(case, false)?;
    }
}
