//! Property tests of the parsers that read bytes another process or machine wrote: NetBIOS
//! datagrams and name packets (`nbt`), pipework's own datagrams (`pwms::decode`), the spool's
//! header page (`spool::parse_header`), spool records (`queue`'s record walk, merge and queue),
//! the spool read planner (`spool::next_step`) and a direct datagram's `after` word.
//! Random and truncated inputs never panic, never loop without progress, and every slice or
//! offset they produce stays inside the input.

use proptest::prelude::*;

use super::pwms::{self, Kind};
use super::queue::{
    admitted_records, decode_after, encode_after, merge_by_sequence, record_size, scan_records,
    Queue,
};
use super::spool::{self, Header, Step, DATA, DRAIN_CHUNK, RECORD_HEADER};

/// Case counts, explicit so that a run's cost and coverage are known.
const DATAGRAM_CASES: u32 = 4096;
const HEADER_CASES: u32 = 1024;
const RECORD_CASES: u32 = 2048;
const STEP_CASES: u32 = 8192;

/// `cases` cases; failures are reported, not written to files beside the sources.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn record(len: usize, seq: u64, fill: u8) -> Vec<u8> {
    let mut r = Vec::with_capacity(RECORD_HEADER + len);
    r.extend_from_slice(&(len as u32).to_le_bytes());
    r.extend_from_slice(&seq.to_le_bytes());
    r.extend(std::iter::repeat_n(fill, len));
    r
}

/// Runs of well-formed records, then cut anywhere and with random bytes spliced in.
fn record_runs() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((0usize..64, any::<u64>(), any::<u8>()), 0..12),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..24),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(records, cut, junk, at)| {
            let mut bytes: Vec<u8> = records
                .into_iter()
                .flat_map(|(len, seq, fill)| record(len, seq, fill))
                .collect();
            let at = at.index(bytes.len() + 1);
            bytes.splice(at..at, junk);
            let cut = cut.index(bytes.len() + 1);
            bytes.truncate(cut);
            bytes
        })
}

fn kinds() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Host),
        Just(Kind::Everyone),
        "[a-zA-Z0-9]{1,12}".prop_map(Kind::Domain),
    ]
}

proptest! {
    #![proptest_config(config(DATAGRAM_CASES))]

    #[test]
    fn datagrams_of_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Some(d) = pwms::decode(&bytes) {
            prop_assert!(d.name.len() + d.message.len() <= bytes.len());
        }
    }

    #[test]
    fn datagrams_round_trip_and_their_cuts_stay_inside(
        name in "[a-z0-9\\\\]{1,40}",
        kind in kinds(),
        message in prop::collection::vec(any::<u8>(), 0..128),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut datagram = pwms::header(&name, &kind);
        datagram.extend_from_slice(&message);
        let d = pwms::decode(&datagram).expect("a datagram pipework encodes decodes");
        prop_assert_eq!(d.name, name.as_str());
        prop_assert_eq!(d.message, &message[..]);
        let expected = match kind {
            Kind::Domain(domain) => Kind::Domain(domain.to_lowercase()),
            other => other,
        };
        prop_assert_eq!(d.kind, expected);
        let cut = cut.index(datagram.len());
        if let Some(d) = pwms::decode(&datagram[..cut]) {
            prop_assert!(d.name.len() + d.message.len() <= cut);
        }
        let at = flip.index(datagram.len());
        datagram[at] ^= 1 << bit;
        if let Some(d) = pwms::decode(&datagram) {
            prop_assert!(d.name.len() + d.message.len() <= datagram.len());
        }
    }
}

proptest! {
    #![proptest_config(config(HEADER_CASES))]

    #[test]
    fn spool_headers_round_trip_and_lies_are_refused(
        max_size in any::<u64>(),
        token in any::<u64>(),
        pid in 1u32..=i32::MAX as u32,
        state_fd in 0u32..=i32::MAX as u32,
        state_dev in any::<u64>(),
        state_ino in any::<u64>(),
        rings in 0usize..=super::ring::RINGS,
        name in "[a-zA-Z0-9\\\\ é]{1,200}",
        cut in 0usize..DATA as usize,
        spoil in prop::collection::vec((0usize..DATA as usize, any::<u8>()), 0..16),
    ) {
        let header = Header { max_size, token, pid, state_fd, state_dev, state_ino, rings, name };
        let page = spool::encode_header(&header);
        prop_assert_eq!(page.len(), DATA as usize);
        prop_assert_eq!(spool::parse_header(&page), Ok(header.clone()));
        // A page cut anywhere is refused, never read past.
        prop_assert!(spool::parse_header(&page[..cut]).is_err());
        // Bytes spoiled anywhere: a header or a refusal, never a panic.
        let mut spoiled = page.clone();
        for (at, byte) in spoil {
            spoiled[at] = byte;
        }
        if let Ok(h) = spool::parse_header(&spoiled) {
            prop_assert!(h.name.len() <= DATA as usize);
            prop_assert!(h.pid != 0 && h.pid <= i32::MAX as u32);
            prop_assert!(h.rings <= super::ring::RINGS);
        }
    }

    #[test]
    fn spool_header_pages_of_random_bytes_never_panic(
        page in prop::collection::vec(any::<u8>(), 0..(DATA as usize + 64)),
        magic in any::<bool>(),
    ) {
        let mut page = page;
        if magic && page.len() >= 8 {
            page[..8].copy_from_slice(b"PWMSLOT4");
        }
        let _ = spool::parse_header(&page);
    }
}

proptest! {
    #![proptest_config(config(RECORD_CASES))]

    #[test]
    fn record_walks_stay_inside_and_make_progress(bytes in record_runs(), max in 0usize..80) {
        let scan = scan_records(&bytes, max);
        prop_assert!(scan.span <= bytes.len());
        // What is left after the span is never a whole record.
        prop_assert!(record_size(&bytes[scan.span..]).is_none());
        let admitted = admitted_records(&bytes, max);
        prop_assert!(admitted.len() <= scan.span);
        prop_assert_eq!(scan_records(&admitted, max).count, scan.count);
        prop_assert!(!scan_records(&admitted, max).oversized);
    }

    #[test]
    fn queued_records_read_back_whole_or_in_parts(
        first in record_runs(),
        second in record_runs(),
        max in 0usize..80,
        buf_len in 1usize..40,
    ) {
        let merged = merge_by_sequence(&first, &second);
        prop_assert!(merged.len() <= first.len() + second.len());
        let expected = scan_records(&first, max).count + scan_records(&second, max).count;
        let mut queue = Queue::default();
        queue.push_batch(first, max);
        queue.push_batch(second, max);
        prop_assert_eq!(queue.count, expected);
        // An empty buffer takes nothing and leaves the message whole.
        if let Some(size) = queue.front_size().filter(|&s| s > 0) {
            prop_assert_eq!(queue.read_front(&mut []), Some((0, size)));
            prop_assert_eq!(queue.front_size(), Some(size));
        }
        let mut buf = vec![0u8; buf_len];
        let mut messages = 0;
        // Every step reads a byte or ends a message: bounded by the bytes queued.
        let mut steps = 0;
        while let Some(size) = queue.front_size() {
            prop_assert!(max == 0 || size <= max);
            let (read, left) = queue.read_front(&mut buf).expect("a message is queued");
            prop_assert_eq!(read + left, size);
            prop_assert!(read <= buf.len());
            if left == 0 {
                messages += 1;
            } else {
                prop_assert!(read > 0);
            }
            steps += 1;
            prop_assert!(steps <= 10_000);
        }
        prop_assert_eq!(messages, expected);
        prop_assert_eq!(queue.count, 0);
    }
}

proptest! {
    #![proptest_config(config(STEP_CASES))]

    #[test]
    fn spool_reads_are_bounded_by_the_chunk_the_file_and_the_end(
        from in DATA..(1u64 << 41),
        extra in prop_oneof![0u64..64, 0u64..(1 << 26), any::<u64>()],
        file_len in prop_oneof![0u64..(1 << 27), any::<u64>()],
        first_len in prop::option::of(any::<u32>()),
        max in prop_oneof![Just(0u64), any::<u32>().prop_map(u64::from)],
    ) {
        let end = from.saturating_add(extra);
        match spool::next_step(from, end, file_len, first_len, max) {
            Step::Nothing => prop_assert!(end <= from),
            Step::Read { to } => {
                let first = RECORD_HEADER as u64 + u64::from(first_len.expect("a header was read"));
                prop_assert!(from < to && to <= end && end <= file_len);
                prop_assert!(to - from >= first, "the first record is read whole");
                prop_assert!(to - from <= DRAIN_CHUNK.max(first));
                prop_assert!(max == 0 || first - RECORD_HEADER as u64 <= max);
            }
            Step::Skip { to } => {
                prop_assert!(from < to && to <= end && end <= file_len);
                prop_assert!(max != 0);
            }
            Step::Corrupt(why) => prop_assert!(!why.is_empty()),
        }
    }
}

// --- NetBIOS datagrams and name packets (`nbt`). ---

use std::net::Ipv4Addr;

use super::nbt::{
    self, DatagramKind, DecodeError, MailslotDatagram, NamePacket, NameQuery, NameQueryResponse,
    NbName,
};

const NBT_RANDOM_CASES: u32 = 8192;
const NBT_ROUND_TRIP_CASES: u32 = 2048;
const NBT_NAME_CASES: u32 = 4096;

/// Whether `inner` lies inside `outer` (a slice the decoder returned points into its input).
fn inside(inner: &[u8], outer: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}

/// Valid NetBIOS names: any suffix, sometimes the wildcard, sometimes a scope.
fn nb_names() -> impl Strategy<Value = NbName> {
    (
        prop_oneof![
            4 => "[A-Za-z0-9!#$%&'()^_{}~.-]{1,15}",
            1 => Just("*".to_string()),
        ],
        any::<u8>(),
        prop_oneof![
            3 => Just(String::new()),
            1 => "[a-z0-9]{1,20}(\\.[a-z0-9]{1,20}){0,3}",
        ],
    )
        .prop_map(|(name, suffix, scope)| NbName::new(&name, suffix, &scope).expect("valid"))
}

fn kinds_nbt() -> impl Strategy<Value = DatagramKind> {
    prop_oneof![
        Just(DatagramKind::DirectUnique),
        Just(DatagramKind::DirectGroup),
        Just(DatagramKind::Broadcast),
    ]
}

/// A valid mailslot datagram's parts (the data sized to fit by the test).
#[allow(clippy::type_complexity)]
fn datagram_parts(
) -> impl Strategy<Value = (DatagramKind, u16, u32, u16, NbName, NbName, String, Vec<u8>)> {
    (
        kinds_nbt(),
        any::<u16>(),
        any::<u32>(),
        any::<u16>(),
        nb_names(),
        nb_names(),
        "\\\\[Mm][Aa][Ii][Ll][Ss][Ll][Oo][Tt]\\\\[A-Za-z0-9_]{1,20}(\\\\[A-Za-z0-9_]{1,10}){0,2}",
        prop::collection::vec(any::<u8>(), 0..600),
    )
}

proptest! {
    #![proptest_config(config(NBT_RANDOM_CASES))]

    #[test]
    fn nbt_random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        if let Ok(d) = nbt::decode_mailslot(&bytes) {
            prop_assert!(inside(d.data, &bytes) && inside(d.mailslot, &bytes));
        }
        let _ = nbt::decode_name_packet(&bytes);
    }

    #[test]
    fn nbt_random_bodies_after_a_valid_header_never_panic(
        kind in 0x10u8..0x13,
        names in prop::collection::vec(nb_names(), 2),
        body in prop::collection::vec(any::<u8>(), 0..200),
        smb_prefix in any::<bool>(),
    ) {
        // A valid header and names, then bytes that look like an SMB transaction more often
        // than random ones would.
        let mut bytes = vec![kind, nbt::FLAG_FIRST, 0, 1, 10, 0, 0, 1, 0, 138, 0, 0, 0, 0];
        let mut rest = Vec::new();
        for n in &names {
            let d = MailslotDatagram {
                kind: DatagramKind::DirectUnique,
                flags: nbt::FLAGS_B_NODE,
                id: 0,
                source_ip: Ipv4Addr::UNSPECIFIED,
                source_port: 0,
                source: n.clone(),
                destination: n.clone(),
                mailslot: b"\\MAILSLOT\\X",
                data: b"",
            };
            let enc = nbt::encode_mailslot(&d).expect("small");
            rest.extend_from_slice(&enc[14..14 + n.encoded_len()]);
        }
        if smb_prefix {
            rest.extend_from_slice(b"\xffSMB\x25");
            rest.extend_from_slice(&[0; 27]);
            rest.push(17);
        }
        rest.extend_from_slice(&body);
        let len = (rest.len() as u16).to_be_bytes();
        bytes[10..12].copy_from_slice(&len);
        bytes.extend_from_slice(&rest);
        if let Ok(d) = nbt::decode_mailslot(&bytes) {
            prop_assert!(inside(d.data, &bytes) && inside(d.mailslot, &bytes));
            prop_assert!(d.data.len() <= nbt::MAX_DATAGRAM);
        }
    }
}

proptest! {
    #![proptest_config(config(NBT_ROUND_TRIP_CASES))]

    #[test]
    fn nbt_datagrams_round_trip_and_every_cut_is_truncated(
        (kind, id, ip, port, source, destination, mailslot, data) in datagram_parts(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let max = nbt::max_data(kind, &source, &destination, mailslot.len());
        prop_assert!(max <= nbt::MAX_DATAGRAM);
        if kind != DatagramKind::DirectUnique {
            prop_assert!(max <= nbt::MAX_BROADCAST_MESSAGE);
        }
        let d = MailslotDatagram {
            kind,
            flags: nbt::FLAGS_B_NODE,
            id,
            source_ip: Ipv4Addr::from(ip),
            source_port: port,
            source,
            destination,
            mailslot: mailslot.as_bytes(),
            data: &data[..data.len().min(max)],
        };
        // One byte more than fits is refused.
        if data.len() > max {
            let over = MailslotDatagram { data: &data[..max + 1], ..d.clone() };
            prop_assert!(nbt::encode_mailslot(&over).is_none());
        }
        let bytes = nbt::encode_mailslot(&d).expect("fits");
        prop_assert!(bytes.len() <= nbt::MAX_DATAGRAM);
        let back = nbt::decode_mailslot(&bytes).expect("decodes");
        prop_assert_eq!(&back, &d);
        prop_assert!(back.slot_path().is_some());
        for cut in 0..bytes.len() {
            prop_assert!(
                matches!(nbt::decode_mailslot(&bytes[..cut]), Err(DecodeError::Truncated(_))),
                "cut at {}", cut
            );
        }
        let mut spoiled = bytes.clone();
        let at = flip.index(spoiled.len());
        spoiled[at] ^= 1 << bit;
        if let Ok(s) = nbt::decode_mailslot(&spoiled) {
            prop_assert!(inside(s.data, &spoiled) && inside(s.mailslot, &spoiled));
        }
    }
}

proptest! {
    #![proptest_config(config(NBT_NAME_CASES))]

    #[test]
    fn nbt_name_packets_round_trip_and_cuts_are_errors(
        id in any::<u16>(),
        name in nb_names(),
        broadcast in any::<bool>(),
        ttl in any::<u32>(),
        rcode in 0u8..16,
        addresses in prop::collection::vec((any::<u16>(), any::<u32>()), 0..8),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let q = NameQuery { id, name: name.clone(), broadcast };
        let bytes = nbt::encode_name_query(&q);
        prop_assert_eq!(nbt::decode_name_packet(&bytes), Ok(NamePacket::Query(q)));
        for cut in 0..bytes.len() {
            prop_assert!(nbt::decode_name_packet(&bytes[..cut]).is_err());
        }
        let r = NameQueryResponse {
            id,
            name,
            rcode,
            ttl,
            addresses: addresses.into_iter().map(|(f, ip)| (f, Ipv4Addr::from(ip))).collect(),
        };
        let mut bytes = nbt::encode_name_query_response(&r).expect("fits");
        prop_assert_eq!(nbt::decode_name_packet(&bytes), Ok(NamePacket::Response(r)));
        for cut in 0..bytes.len() {
            prop_assert!(nbt::decode_name_packet(&bytes[..cut]).is_err());
        }
        let at = flip.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let _ = nbt::decode_name_packet(&bytes);
    }

    #[test]
    fn nbt_names_with_pointers_never_loop_or_panic(
        prefix in prop::collection::vec(any::<u8>(), 12..80),
        tail in prop::collection::vec(any::<u8>(), 0..40),
        pointers in prop::collection::vec(any::<u16>(), 1..6),
    ) {
        // A response whose answer's name is a chain of arbitrary pointers.
        let mut bytes = prefix;
        bytes[2] = 0x85;
        bytes[3] = 0x00;
        bytes[4..6].copy_from_slice(&0u16.to_be_bytes());
        bytes[6..8].copy_from_slice(&1u16.to_be_bytes());
        for p in pointers {
            bytes.extend_from_slice(&(0xC000 | (p & 0x3FFF)).to_be_bytes());
        }
        bytes.extend_from_slice(&tail);
        let _ = nbt::decode_name_packet(&bytes);
    }
}

proptest! {
    #![proptest_config(config(RECORD_CASES))]

    /// A direct datagram's `after` word: a real record end of the spool's round comes back, in
    /// that round only; any word another process sends decodes to an offset it states or to
    /// none, never to a panic.
    #[test]
    fn after_words_name_a_record_of_their_round_only(
        round in any::<u64>(),
        other in any::<u64>(),
        end in DATA..(1u64 << 40),
        word in any::<u64>(),
    ) {
        let packed = encode_after(round, end).expect("an end below 2^40 fits");
        prop_assert_eq!(decode_after(packed, round), Some(end));
        if (other ^ round) & ((1 << 24) - 1) != 0 {
            prop_assert_eq!(decode_after(packed, other), None);
        }
        prop_assert_eq!(decode_after(0, round), None);
        if let Some(stated) = decode_after(word, round) {
            prop_assert!(stated != 0 && stated < 1 << 40);
        }
        prop_assert_eq!(encode_after(round, 0), None);
        prop_assert_eq!(encode_after(round, 1 << 40), None);
    }
}
