//! Property tests of the SMB2 client's readers, which parse what a server (perhaps a hostile
//! one) sent: random replies, and real-shaped replies with random offsets and lengths, never
//! panic, and a buffer read is always inside the message and no longer than asked.

use proptest::prelude::*;

use super::{ntlm, wire};

const CASES: u32 = 4096;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A reply header (64 bytes, the response flag set) followed by `body`.
fn with_header(body: Vec<u8>) -> Vec<u8> {
    let mut m = wire::request(
        &wire::Head {
            command: wire::READ,
            credit_charge: 1,
            credit_request: 1,
            message_id: 1,
            tree_id: 1,
            session_id: 1,
        },
        &body,
    );
    m[16] |= wire::FLAG_RESPONSE as u8;
    m
}

/// Every reader on `m`; buffers it returns must lie within `m` and within what was asked.
fn read_all(m: &[u8], asked: usize) {
    let _ = wire::reply(m);
    let _ = wire::negotiated(m);
    let _ = wire::session_reply(m);
    let _ = wire::tree_reply(m);
    let _ = wire::created(m);
    let _ = wire::written(m);
    for got in [
        wire::read_reply(m, asked),
        wire::ioctl_reply(m, asked),
        wire::info_reply(m, asked),
    ]
    .into_iter()
    .flatten()
    {
        assert!(got.len() <= asked && got.len() <= m.len());
        let _ = wire::peeked(got);
    }
    if let Ok((_, token)) = wire::session_reply(m) {
        let _ = ntlm::challenge(token);
    }
    let _ = ntlm::challenge(m);
}

/// A body shaped like READ / IOCTL / QUERY_INFO / SESSION_SETUP replies, its offsets and
/// lengths random.
fn shaped() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![9u16, 17, 49, 65, 89, 16]),
        prop::collection::vec(any::<u8>(), 0..200),
        any::<u32>(),
        any::<u32>(),
        0usize..48,
    )
        .prop_map(|(size, mut rest, offset, len, at)| {
            let mut b = size.to_le_bytes().to_vec();
            b.append(&mut rest);
            b.resize(b.len().max(at + 8), 0);
            b[at..at + 4].copy_from_slice(&offset.to_le_bytes());
            b[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
            b
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(m in prop::collection::vec(any::<u8>(), 0..400), asked in 0usize..300) {
        read_all(&m, asked);
    }

    #[test]
    fn shaped_replies_never_panic(body in shaped(), asked in 0usize..300) {
        read_all(&with_header(body), asked);
    }

    #[test]
    fn challenges_with_random_fields_never_panic(
        flags in any::<u32>(),
        fields in prop::collection::vec(any::<u8>(), 16),
        tail in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut m = b"NTLMSSP\0".to_vec();
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&fields[..8]);
        m.extend_from_slice(&flags.to_le_bytes());
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&fields[8..]);
        m.extend_from_slice(&tail);
        if let Ok(c) = ntlm::challenge(&m) {
            // Whatever target info came, an answer is built without panicking.
            let id = ntlm::Identity { user: Some("u".into()), password: "p".into(), domain: "d".into() };
            let _ = ntlm::authenticate(&id, &c, [0; 8], 0);
        }
    }
}
