//! Property tests of the DCE/RPC decoders: random, truncated and oversized PDUs and stubs never
//! make the decoders or the server's association panic, and a call split into fragments of any
//! size reassembles into the stub that was sent.

use std::sync::Arc;

use proptest::prelude::*;

use super::echo::{Echo, Info, RpcechoServer, Surrounding};
use super::ndr::{self, AString, Conformant, Ndr, Unique, Varying, WString};
use super::pdu::{self, Body};
use super::{Association, Peer, Server, NDR20};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn echo_assoc() -> Association {
    let mut server = Server::new();
    server.add(RpcechoServer(Echo));
    Arc::new(server).association(Peer::Unknown)
}

fn bind_frag() -> Vec<u8> {
    pdu::encode_bind(
        1,
        &pdu::Bind {
            max_xmit_frag: 5840,
            max_recv_frag: 5840,
            assoc_group: 0,
            contexts: vec![pdu::ContextElem {
                context_id: 0,
                abstract_syntax: <Echo as super::echo::Rpcecho>::SYNTAX,
                transfer_syntaxes: vec![NDR20],
            }],
        },
        false,
    )
}

/// Well-formed PDUs of every kind, as seeds for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let mut v = vec![bind_frag()];
    v.extend(pdu::encode_call(false, 2, 0, 1, &[0u8; 40], 5840));
    v.extend(pdu::encode_call(true, 2, 0, 0, &[1u8; 20], 5840));
    v.push(pdu::encode_fault(3, 0, 5, 0));
    v.push(pdu::encode_bind_nak(4, 8));
    v.push(pdu::encode_bind_ack(
        1,
        &pdu::BindAck {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group: 7,
            secondary_address: "\\PIPE\\x".into(),
            results: vec![pdu::ContextResult {
                result: 0,
                reason: 0,
                transfer_syntax: NDR20,
            }],
        },
        false,
    ));
    v
}

/// A seed with random bytes overwritten, cut, or extended; lengths fixed up half the time so
/// the body parsers see it.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..seeds().len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(|(i, edits, cut, extra, fix)| {
            let mut b = seeds()[i].clone();
            for (at, byte) in edits {
                let at = at.index(b.len());
                b[at] = byte;
            }
            b.truncate(cut.index(b.len() + 1));
            b.extend_from_slice(&extra);
            if fix && b.len() >= 16 {
                let n = (b.len().min(u16::MAX as usize)) as u16;
                b.truncate(n as usize);
                b[8..10].copy_from_slice(&n.to_le_bytes());
            }
            b
        })
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = pdu::decode(&bytes);
        let _ = pdu::fragment_len(&bytes);
        let mut assoc = echo_assoc();
        let _ = assoc.on_fragment(&bytes);
        let _ = assoc.on_fragment(&bind_frag());
        let _ = assoc.on_fragment(&bytes);
    }

    #[test]
    fn mutated_pdus_never_panic(bytes in mutated()) {
        let _ = pdu::decode(&bytes);
        let mut assoc = echo_assoc();
        let _ = assoc.on_fragment(&bytes);
        let mut bound = echo_assoc();
        let _ = bound.on_fragment(&bind_frag());
        let step = bound.on_fragment(&bytes);
        for out in step.send {
            prop_assert!(pdu::decode(&out).is_ok());
        }
    }

    #[test]
    fn random_stubs_never_panic(stub in prop::collection::vec(any::<u8>(), 0..200), opnum in 0u16..12) {
        for t in [
            ndr::from_stub::<Conformant<u8>>(&stub).is_ok(),
            ndr::from_stub::<Varying<u32>>(&stub).is_ok(),
            ndr::from_stub::<WString>(&stub).is_ok(),
            ndr::from_stub::<AString>(&stub).is_ok(),
            ndr::from_stub::<Unique<Unique<u16>>>(&stub).is_ok(),
            ndr::from_stub::<(Info, u32)>(&stub).is_ok(),
            ndr::from_stub::<Surrounding>(&stub).is_ok(),
        ] {
            let _ = t;
        }
        let mut assoc = echo_assoc();
        let _ = assoc.on_fragment(&bind_frag());
        for frag in pdu::encode_call(false, 9, 0, opnum, &stub, 5840) {
            let _ = assoc.on_fragment(&frag);
        }
    }

    #[test]
    fn huge_counts_are_refused_without_allocating(count in any::<u32>(), tail in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut stub = count.to_le_bytes().to_vec();
        stub.extend_from_slice(&tail);
        if (count as usize) > tail.len() {
            prop_assert!(ndr::from_stub::<Conformant<u8>>(&stub).is_err());
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn fragments_reassemble(
        data in prop::collection::vec(any::<u8>(), 0..20_000),
        frag in 1432u16..6000,
    ) {
        let mut assoc = echo_assoc();
        let _ = assoc.on_fragment(&bind_frag());
        let mut w = ndr::NdrWriter::new();
        (data.len() as u32).encode(&mut w);
        Conformant(data.clone()).encode(&mut w);
        let frags = pdu::encode_call(false, 5, 0, 1, &w.into_bytes(), frag);
        let mut replies = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            prop_assert!(f.len() <= frag as usize);
            let step = assoc.on_fragment(f);
            prop_assert!(!step.close);
            if i + 1 < frags.len() {
                prop_assert!(step.send.is_empty());
            }
            replies.extend(step.send);
        }
        let mut stub = Vec::new();
        for r in &replies {
            let p = pdu::decode(r).unwrap();
            prop_assert_eq!(p.header.call_id, 5);
            match p.body {
                Body::Response(c) => stub.extend_from_slice(&c.stub),
                other => prop_assert!(false, "not a response: {:?}", other),
            }
        }
        prop_assert_eq!(ndr::from_stub::<Conformant<u8>>(&stub).unwrap().0, data);
    }

    #[test]
    fn strings_round_trip(s in "\\PC{0,40}") {
        prop_assert_eq!(ndr::from_stub::<WString>(&ndr::to_stub(&WString(s.clone()))).unwrap().0, s.clone());
        prop_assert_eq!(ndr::from_stub::<AString>(&ndr::to_stub(&AString(s.clone()))).unwrap().0, s);
    }
}
