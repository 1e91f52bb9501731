//! Property tests of the named-pipe-auth decoder, which reads bytes smbd (or whoever reached the
//! socket) wrote: random, truncated and corrupted requests never panic; every request built the
//! way smbd builds it, at every level, decodes to what was put in.

use proptest::prelude::*;

use super::npa::tests::{encode_request, SAMBA_4_17_ANONYMOUS};
use super::npa::{self, RemoteClient, Sid, LEVELS};

/// Case counts, explicit so that a run's cost and coverage are known.
const RANDOM_CASES: u32 = 2048;
const ROUND_TRIP_CASES: u32 = 512;
const CORRUPT_CASES: u32 = 2048;

/// `cases` cases; failures are reported, not written to files beside the sources.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn text() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,40}"
}

fn sid() -> impl Strategy<Value = Sid> {
    (
        any::<u8>(),
        0u64..(1 << 48),
        prop::collection::vec(any::<u32>(), 0..=15),
    )
        .prop_map(|(revision, authority, sub_authorities)| Sid {
            revision,
            authority,
            sub_authorities,
        })
}

fn client() -> impl Strategy<Value = RemoteClient> {
    (
        (text(), text(), text(), text(), any::<u16>(), any::<u16>()),
        (
            any::<u8>(),
            prop::option::of((text(), prop::option::of(text()))),
            prop::collection::vec(sid(), 0..12),
            prop::option::of((any::<u64>(), any::<u64>(), text())),
        ),
    )
        .prop_map(
            |((cn, ca, sn, sa, cp, sp), (transport, user, sids, unix))| {
                let mut c = RemoteClient {
                    transport,
                    client_name: cn,
                    client_addr: ca,
                    client_port: cp,
                    server_name: sn,
                    server_addr: sa,
                    server_port: sp,
                    ..RemoteClient::default()
                };
                if let Some((user, domain)) = user {
                    c.user = Some(user);
                    c.domain = domain;
                    c.sids = sids;
                    if let Some((uid, gid, name)) = unix {
                        c.unix_uid = Some(uid);
                        c.unix_gid = Some(gid);
                        c.unix_name = Some(name);
                    }
                }
                c
            },
        )
}

proptest! {
    #![proptest_config(config(RANDOM_CASES))]

    /// Random bytes, with a well-formed prefix and magic or without.
    #[test]
    fn random_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..2048),
        framed in any::<bool>(),
        level in 0u32..12,
    ) {
        let mut m = Vec::new();
        if framed {
            m.extend_from_slice(&((body.len() + 12) as u32).to_be_bytes());
            m.extend_from_slice(b"NPAM");
            m.extend_from_slice(&level.to_le_bytes());
            m.extend_from_slice(&level.to_le_bytes());
        }
        m.extend_from_slice(&body);
        let _ = npa::decode_request(&m);
        if m.len() >= 4 {
            let _ = npa::request_len([m[0], m[1], m[2], m[3]]);
        }
    }
}

proptest! {
    #![proptest_config(config(ROUND_TRIP_CASES))]

    /// Whatever smbd would send decodes to what it described, at every level.
    #[test]
    fn requests_round_trip(mut c in client(), level in LEVELS, ticket in any::<bool>()) {
        let ticket = ticket || level >= 7;
        c.level = level;
        let bytes = encode_request(&c, level, ticket);
        prop_assert_eq!(npa::decode_request(&bytes), Ok(c));
    }
}

proptest! {
    #![proptest_config(config(CORRUPT_CASES))]

    /// A valid request cut short, or with bytes changed (lengths, counts, pointers), is an error
    /// or a value, never a panic; cut short it is always an error.
    #[test]
    fn corrupted_requests_never_panic(
        mut c in client(),
        level in LEVELS,
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        real in any::<bool>(),
    ) {
        c.level = level;
        let good = if real { SAMBA_4_17_ANONYMOUS.to_vec() } else { encode_request(&c, level, true) };
        let at = cut.index(good.len());
        prop_assert!(npa::decode_request(&good[..at]).is_err());
        let mut bad = good.clone();
        for (i, b) in &flips {
            let i = i.index(bad.len());
            bad[i] = *b;
        }
        let _ = npa::decode_request(&bad);
    }
}
