//! DCE/RPC across processes: pipework's client against pipework's `rpcecho` server in another
//! process, over a named pipe (`ncacn_np`) and TCP loopback (`ncacn_ip_tcp`); calls whose
//! payloads cross several fragments; malformed PDUs answered with a fault or a clean close,
//! never a panic or a hang. With the `interop` feature, impacket's DCE/RPC client calls the
//! same server.

#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;

use pipework::named_pipe::{ClientOptions, ServerOptions, WaitTimeout};
use pipework::rpc::dce::echo::{
    Echo, Enum2, Enum3, Info, Info5, Info6, Info7, Rpcecho, RpcechoClient, RpcechoServer,
    Surrounding,
};
use pipework::rpc::dce::ndr::{Conformant, Unique, WString};
use pipework::rpc::dce::pdu::{self, flags, ptype, result, Body};
use pipework::rpc::dce::{fault_of, Client, Fault, Server, SyntaxId, NDR20, NDR64};

fn main() {
    common::main(
        &[
            (
                "pipe_client_calls_echo_server_in_another_process",
                pipe_calls,
            ),
            ("tcp_client_calls_echo_server_in_another_process", tcp_calls),
            (
                "big_payloads_cross_several_fragments_both_ways",
                big_payloads,
            ),
            ("pipe_handler_sees_the_callers_pid_and_uid", pipe_peer),
            ("several_contexts_on_one_association", several_contexts),
            (
                "bind_negotiation_declines_what_it_does_not_speak",
                bind_negotiation,
            ),
            ("authentication_is_refused_with_nak_or_fault", auth_refused),
            (
                "call_on_an_unbound_context_gets_unknown_interface",
                unbound_context,
            ),
            ("bad_opnum_and_bad_stub_get_faults", bad_opnum_and_stub),
            (
                "malformed_pdus_close_the_connection_cleanly",
                malformed_close,
            ),
            (
                "a_client_whose_server_stops_mid_answer_times_out",
                client_times_out,
            ),
            (
                "a_server_drops_a_client_that_stops_mid_pdu",
                server_drops_stalled_client,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_impacket_calls_pipework_rpcecho_over_tcp",
                interop_impacket_tcp,
            ),
        ],
        &[
            ("echo_pipe", echo_pipe_role),
            ("echo_tcp", echo_tcp_role),
            ("whoami_pipe", whoami_pipe_role),
            ("echo_pipe_short_timeout", echo_pipe_short_timeout_role),
            ("half_answer_pipe", half_answer_pipe_role),
            ("silent_pipe", silent_pipe_role),
        ],
    )
}

fn echo_server() -> Arc<Server> {
    let mut server = Server::new();
    server.add(RpcechoServer(Echo));
    Arc::new(server)
}

/// Child: serves rpcecho on the pipe `args[0]`, prints `ready` once the pipe exists.
fn echo_pipe_role(args: &[String]) {
    let options = ServerOptions::new();
    let first = options.create(&args[0]).expect("create pipe");
    println!("ready");
    std::io::stdout().flush().unwrap();
    echo_server()
        .serve_pipe_from(first, &args[0], &options)
        .expect("serve pipe");
}

/// Child: serves rpcecho on TCP loopback, prints the port.
fn echo_tcp_role(_: &[String]) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    echo_server().serve_tcp(listener).expect("serve tcp");
}

pipework::dce_interface! {
    /// Tells the caller who it is, as the server saw it.
    trait WhoAmI;
    server WhoAmIServer; client WhoAmIClient;
    uuid "5e1f0000-0000-4000-8000-00000000beef", version (1, 0);
    /// pid and uid of the caller.
    0 => fn whoami() -> (u32, u32);
}

struct Who;
impl WhoAmI for Who {
    fn whoami(&self, call: &pipework::rpc::dce::CallInfo) -> Result<(u32, u32), Fault> {
        match call.peer {
            pipework::rpc::dce::Peer::Pipe(c) => Ok((c.pid, c.uid)),
            _ => Err(Fault::ACCESS_DENIED),
        }
    }
}

fn whoami_pipe_role(args: &[String]) {
    let options = ServerOptions::new();
    let first = options.create(&args[0]).expect("create pipe");
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut server = Server::new();
    server.add(WhoAmIServer(Who));
    Arc::new(server)
        .serve_pipe_from(first, &args[0], &options)
        .expect("serve pipe");
}

use common::{start_server as start, ServerChild};

fn pipe_name(tag: &str) -> String {
    format!(r"\\.\pipe\pw-rpc-{tag}-{}", std::process::id())
}

fn open_pipe(name: &str) -> pipework::named_pipe::NamedPipeClient {
    ClientOptions::new()
        .wait(WaitTimeout::After(common::TIMEOUT))
        .open(name)
        .expect("open pipe")
}

fn tcp_server() -> (ServerChild, u16) {
    let server = start("echo_tcp", &[]);
    let port = server.first_line.parse().expect("port");
    (server, port)
}

fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(common::TIMEOUT)).unwrap();
    s.set_write_timeout(Some(common::TIMEOUT)).unwrap();
    s
}

/// Every rpcecho operation, checked against Samba's answers.
fn exercise<S: Read + Write + std::os::fd::AsFd>(echo: &mut RpcechoClient<S>) {
    assert_eq!(echo.add_one(41).unwrap(), 42);
    assert_eq!(echo.add_one(u32::MAX).unwrap(), 0);
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(
        echo.echo_data(data.len() as u32, Conformant(data.clone()))
            .unwrap()
            .0,
        data
    );
    assert_eq!(echo.echo_data(0, Conformant(vec![])).unwrap().0, b"");
    echo.sink_data(3, Conformant(vec![1, 2, 3])).unwrap();
    let src = echo.source_data(600).unwrap().0;
    assert_eq!(src.len(), 600);
    assert!(src.iter().enumerate().all(|(i, &b)| b == i as u8));
    assert_eq!(
        echo.test_call(WString("héllo, wörld ☃".into())).unwrap(),
        Unique(Some(WString("héllo, wörld ☃".into())))
    );
    let expected = [
        Info::Info1(10),
        Info::Info2(20),
        Info::Info3(30),
        Info::Info4(40),
        Info::Info5(Info5 { v1: 50, v2: 60 }),
        Info::Info6(Info6 { v1: 70, info1: 80 }),
        Info::Info7(Info7 { v1: 80, info4: 90 }),
    ];
    for (level, info) in (1..).zip(expected) {
        assert_eq!(echo.test_call2(level).unwrap(), (info, 0));
    }
    let err = echo.test_call2(8).unwrap_err();
    assert_eq!(fault_of(&err), Some(Fault::BAD_STUB_DATA), "{err}");
    let foo2 = Enum2 { e1: 1, e2: 1 };
    assert_eq!(
        echo.test_enum(2, foo2, Enum3::E2(foo2)).unwrap(),
        (2, Enum2 { e1: 2, e2: 1 }, Enum3::E2(foo2))
    );
    assert_eq!(
        echo.test_surrounding(Surrounding {
            x: 3,
            surrounding: vec![1, 2, 3]
        })
        .unwrap(),
        Surrounding {
            x: 6,
            surrounding: vec![0; 6]
        }
    );
    assert_eq!(
        echo.test_double_pointer(Unique(Some(Unique(Some(777)))))
            .unwrap(),
        777
    );
    assert_eq!(echo.test_double_pointer(Unique(None)).unwrap(), 0);
    assert_eq!(echo.test_sleep(0).unwrap(), 0);
}

fn pipe_calls() {
    let name = pipe_name("calls");
    let _server = start("echo_pipe", &[&name]);
    let mut echo = RpcechoClient::bind(open_pipe(&name)).expect("bind");
    exercise(&mut echo);
    // A second client at the same time, on another instance.
    let mut other = RpcechoClient::bind(open_pipe(&name)).expect("bind second");
    assert_eq!(other.add_one(1).unwrap(), 2);
    assert_eq!(echo.add_one(2).unwrap(), 3);
}

fn tcp_calls() {
    let (_server, port) = tcp_server();
    let mut echo = RpcechoClient::bind(tcp(port)).expect("bind");
    exercise(&mut echo);
}

fn big_payloads() {
    let name = pipe_name("big");
    let _server = start("echo_pipe", &[&name]);
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let mut echo = RpcechoClient::bind(open_pipe(&name)).expect("bind");
    let back = echo
        .echo_data(data.len() as u32, Conformant(data.clone()))
        .unwrap();
    assert!(back.0 == data, "1 MiB echoed differs");
    let src = echo.source_data(300_000).unwrap().0;
    assert!(src.iter().enumerate().all(|(i, &b)| b == i as u8));

    // The same by hand over TCP, counting fragments each way.
    let (_tcp, port) = tcp_server();
    let mut s = tcp(port);
    raw_bind(&mut s, 0, echo_syntax());
    let mut stub = (data.len() as u32).to_le_bytes().to_vec();
    stub.extend_from_slice(&(data.len() as u32).to_le_bytes());
    stub.extend_from_slice(&data);
    let frags = pdu::encode_call(false, 2, 0, 1, &stub, 4280);
    assert!(frags.len() > 200, "{} request fragments", frags.len());
    for f in &frags {
        s.write_all(f).unwrap();
    }
    let mut got = Vec::new();
    let mut count = 0;
    loop {
        let frag = pdu::read_fragment(&mut s)
            .unwrap()
            .expect("response fragment");
        assert!(frag.len() <= 4280, "fragment of {} bytes", frag.len());
        let p = pdu::decode(&frag).unwrap();
        count += 1;
        let Body::Response(c) = p.body else {
            panic!("not a response: {:?}", p.body)
        };
        assert_eq!(p.header.call_id, 2);
        got.extend_from_slice(&c.stub);
        if p.header.flags & flags::LAST_FRAG != 0 {
            break;
        }
    }
    assert!(count > 200, "{count} response fragments");
    assert_eq!(got[..4], (data.len() as u32).to_le_bytes());
    assert!(got[4..] == data[..]);
}

fn pipe_peer() {
    let name = pipe_name("who");
    let _server = start("whoami_pipe", &[&name]);
    let mut who = WhoAmIClient::bind(open_pipe(&name)).expect("bind");
    let (pid, uid) = who.whoami().unwrap();
    assert_eq!(pid, std::process::id());
    assert_eq!(uid, rustix::process::getuid().as_raw());
}

fn echo_syntax() -> SyntaxId {
    <Echo as Rpcecho>::SYNTAX
}

fn bind_pdu(call_id: u32, contexts: Vec<pdu::ContextElem>, alter: bool) -> Vec<u8> {
    pdu::encode_bind(
        call_id,
        &pdu::Bind {
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group: 0,
            contexts,
        },
        alter,
    )
}

fn ctx(id: u16, syntax: SyntaxId, ts: Vec<SyntaxId>) -> pdu::ContextElem {
    pdu::ContextElem {
        context_id: id,
        abstract_syntax: syntax,
        transfer_syntaxes: ts,
    }
}

fn read_pdu(s: &mut TcpStream) -> pdu::Pdu {
    let frag = pdu::read_fragment(s)
        .expect("read")
        .expect("a PDU, not the end");
    pdu::decode(&frag).expect("decode")
}

/// Binds context `id` to `syntax`, asserting acceptance.
fn raw_bind(s: &mut TcpStream, id: u16, syntax: SyntaxId) {
    s.write_all(&bind_pdu(1, vec![ctx(id, syntax, vec![NDR20])], false))
        .unwrap();
    match read_pdu(s).body {
        Body::BindAck(ack) => assert_eq!(ack.results[0].result, result::ACCEPTANCE),
        other => panic!("bind answered {other:?}"),
    }
}

fn several_contexts() {
    let (_server, port) = tcp_server();
    let (mut client, c0) = Client::bind(tcp(port), echo_syntax()).unwrap();
    let c1 = client.alter_context(echo_syntax()).unwrap();
    assert_ne!(c0, c1);
    for (c, n) in [(c0, 5u32), (c1, 9)] {
        let out = client.call(c, 0, &n.to_le_bytes()).unwrap();
        assert_eq!(out, (n + 1).to_le_bytes());
    }
    let unknown = SyntaxId::new("00000000-1111-2222-3333-444444444444", 1, 0);
    let err = client.alter_context(unknown).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // The association still works after the refusal.
    assert_eq!(
        client.call(c1, 0, &1u32.to_le_bytes()).unwrap(),
        2u32.to_le_bytes()
    );
}

fn bind_negotiation() {
    let (_server, port) = tcp_server();
    let mut s = tcp(port);
    let features = SyntaxId::new("6cb71c2c-9812-4540-0300-000000000000", 1, 0);
    let wrong_version = SyntaxId {
        major: 2,
        ..echo_syntax()
    };
    s.write_all(&bind_pdu(
        7,
        vec![
            ctx(0, echo_syntax(), vec![NDR64, NDR20]),
            ctx(1, echo_syntax(), vec![NDR64]),
            ctx(2, echo_syntax(), vec![features]),
            ctx(3, wrong_version, vec![NDR20]),
        ],
        false,
    ))
    .unwrap();
    let p = read_pdu(&mut s);
    assert_eq!(p.header.call_id, 7);
    let Body::BindAck(ack) = p.body else {
        panic!("not a bind_ack: {:?}", p.body)
    };
    assert!(ack.max_xmit_frag <= 4280 && ack.max_xmit_frag >= 1432);
    assert_ne!(ack.assoc_group, 0);
    let r: Vec<(u16, u16)> = ack.results.iter().map(|r| (r.result, r.reason)).collect();
    assert_eq!(
        r,
        [
            (result::ACCEPTANCE, 0),
            (
                result::PROVIDER_REJECTION,
                result::TRANSFER_SYNTAXES_NOT_SUPPORTED
            ),
            (result::NEGOTIATE_ACK, 0),
            (
                result::PROVIDER_REJECTION,
                result::ABSTRACT_SYNTAX_NOT_SUPPORTED
            ),
        ]
    );
    assert_eq!(ack.results[0].transfer_syntax, NDR20);
}

/// `frag` with a fake 8-byte security trailer and `auth` verifier bytes appended.
fn with_auth(mut frag: Vec<u8>, auth: usize) -> Vec<u8> {
    frag.extend_from_slice(&[10, 2, 0, 0, 0, 0, 0, 0]); // NTLMSSP, connect level
    frag.extend(std::iter::repeat_n(0xaa, auth));
    let len = frag.len() as u16;
    frag[8..10].copy_from_slice(&len.to_le_bytes());
    frag[10..12].copy_from_slice(&(auth as u16).to_le_bytes());
    frag
}

fn expect_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("expected the end, got {n} bytes: {:02x?}", &buf[..n]),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the end, got {e}"),
    }
}

fn auth_refused() {
    let (_server, port) = tcp_server();
    // A bind with authentication: bind_nak, authentication type not recognized.
    let mut s = tcp(port);
    s.write_all(&with_auth(
        bind_pdu(1, vec![ctx(0, echo_syntax(), vec![NDR20])], false),
        16,
    ))
    .unwrap();
    let p = read_pdu(&mut s);
    assert_eq!(
        p.body,
        Body::BindNak(pdu::nak::AUTHENTICATION_TYPE_NOT_RECOGNIZED)
    );
    expect_closed(&mut s);

    // A request with authentication on an association without: access denied, then the end.
    let mut s = tcp(port);
    raw_bind(&mut s, 0, echo_syntax());
    let req = pdu::encode_call(false, 2, 0, 0, &5u32.to_le_bytes(), 4280).remove(0);
    s.write_all(&with_auth(req, 16)).unwrap();
    match read_pdu(&mut s).body {
        Body::Fault(f) => assert_eq!(Fault(f.status), Fault::ACCESS_DENIED),
        other => panic!("expected a fault, got {other:?}"),
    }
    expect_closed(&mut s);

    // An alter_context with authentication: the same.
    let mut s = tcp(port);
    raw_bind(&mut s, 0, echo_syntax());
    s.write_all(&with_auth(
        bind_pdu(3, vec![ctx(1, echo_syntax(), vec![NDR20])], true),
        16,
    ))
    .unwrap();
    match read_pdu(&mut s).body {
        Body::Fault(f) => assert_eq!(Fault(f.status), Fault::ACCESS_DENIED),
        other => panic!("expected a fault, got {other:?}"),
    }
    expect_closed(&mut s);
}

fn unbound_context() {
    let (_server, port) = tcp_server();
    let (mut client, c0) = Client::bind(tcp(port), echo_syntax()).unwrap();
    let err = client.call(c0 + 5, 0, &1u32.to_le_bytes()).unwrap_err();
    assert_eq!(fault_of(&err), Some(Fault::UNKNOWN_INTERFACE), "{err}");
    // The association goes on.
    assert_eq!(
        client.call(c0, 0, &1u32.to_le_bytes()).unwrap(),
        2u32.to_le_bytes()
    );
}

fn bad_opnum_and_stub() {
    let (_server, port) = tcp_server();
    let (mut client, c0) = Client::bind(tcp(port), echo_syntax()).unwrap();
    let err = client.call(c0, 42, &[]).unwrap_err();
    assert_eq!(fault_of(&err), Some(Fault::OP_RANGE), "{err}");
    // AddOne with 2 bytes instead of 4; EchoData announcing 1 GiB in a few bytes; a length
    // that disagrees with the array.
    for (op, stub) in [
        (0u16, vec![1u8, 2]),
        (
            1,
            [1u32 << 30, 1 << 30]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            1,
            [3u32, 2, 0].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    ] {
        let err = client.call(c0, op, &stub).unwrap_err();
        assert_eq!(fault_of(&err), Some(Fault::BAD_STUB_DATA), "{err}");
    }
    assert_eq!(
        client.call(c0, 0, &1u32.to_le_bytes()).unwrap(),
        2u32.to_le_bytes()
    );
}

fn malformed_close() {
    let (mut server, port) = tcp_server();
    let bound = |port| {
        let mut s = tcp(port);
        raw_bind(&mut s, 0, echo_syntax());
        s
    };
    // A fragment length below the header's.
    let mut s = bound(port);
    let mut bad = pdu::encode_call(false, 2, 0, 0, &1u32.to_le_bytes(), 4280).remove(0);
    bad[8..10].copy_from_slice(&8u16.to_le_bytes());
    s.write_all(&bad).unwrap();
    expect_closed(&mut s);

    // A fragment length beyond the bytes sent, then the end of the client's data.
    let mut s = bound(port);
    let mut bad = pdu::encode_call(false, 2, 0, 0, &1u32.to_le_bytes(), 4280).remove(0);
    bad[8..10].copy_from_slice(&1000u16.to_le_bytes());
    s.write_all(&bad).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    expect_closed(&mut s);

    // A fragment length that disagrees with the body (too short for a request's header).
    let mut s = bound(port);
    let mut bad = pdu::encode_call(false, 2, 0, 0, &[], 4280).remove(0);
    bad.truncate(20);
    bad[8..10].copy_from_slice(&20u16.to_le_bytes());
    s.write_all(&bad).unwrap();
    expect_closed(&mut s);

    // An unknown packet type.
    let mut s = bound(port);
    let mut bad = pdu::encode_call(false, 2, 0, 0, &1u32.to_le_bytes(), 4280).remove(0);
    bad[2] = 99;
    s.write_all(&bad).unwrap();
    expect_closed(&mut s);

    // A server-side PDU from the client, a second bind, a request before any bind.
    for frag in [
        pdu::encode_call(true, 2, 0, 0, &[0; 8], 4280).remove(0),
        bind_pdu(2, vec![ctx(0, echo_syntax(), vec![NDR20])], false),
    ] {
        let mut s = bound(port);
        s.write_all(&frag).unwrap();
        expect_closed(&mut s);
    }
    let mut s = tcp(port);
    s.write_all(&pdu::encode_call(false, 2, 0, 0, &1u32.to_le_bytes(), 4280).remove(0))
        .unwrap();
    expect_closed(&mut s);

    // Not DCE/RPC at all.
    let mut s = tcp(port);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    expect_closed(&mut s);

    // A call whose middle fragment is missing: the next call's first fragment arrives while
    // the first is unfinished.
    let mut s = bound(port);
    let frags = pdu::encode_call(false, 2, 0, 1, &[0u8; 10_000], 4280);
    s.write_all(&frags[0]).unwrap();
    s.write_all(&pdu::encode_call(false, 3, 0, 0, &1u32.to_le_bytes(), 4280)[0])
        .unwrap();
    match read_pdu(&mut s).body {
        Body::Fault(f) => assert_eq!(Fault(f.status), Fault::PROTOCOL_ERROR),
        other => panic!("expected a fault, got {other:?}"),
    }
    expect_closed(&mut s);

    // A header cut short, then the end.
    let mut s = bound(port);
    s.write_all(&[5, 0, ptype::REQUEST, 3, 0x10]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    expect_closed(&mut s);

    // The server lived through all of it.
    assert!(server.child.try_wait().unwrap().is_none(), "server exited");
    let mut echo = RpcechoClient::bind(tcp(port)).unwrap();
    assert_eq!(echo.add_one(1).unwrap(), 2);
    let _ = &mut server.out;
}

/// impacket's DCE/RPC client (Python) against pipework's rpcecho server over `ncacn_ip_tcp`,
/// with NDR built by hand on the Python side.
fn interop_impacket_tcp() {
    const SCRIPT: &str = r#"
import struct, sys
from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import uuidtup_to_bin

port = int(sys.argv[1])
t = transport.DCERPCTransportFactory('ncacn_ip_tcp:127.0.0.1[%d]' % port)
dce = t.get_dce_rpc()
dce.connect()
dce.bind(uuidtup_to_bin(('60a15ec5-4de8-11d7-a637-005056a20182', '1.0')))

def call(opnum, stub):
    dce.call(opnum, stub)
    return dce.recv()

# AddOne
assert struct.unpack('<I', call(0, struct.pack('<I', 41)))[0] == 42
# EchoData, 200 000 bytes: many fragments each way.
data = bytes((i * 7) & 0xff for i in range(200000))
r = call(1, struct.pack('<II', len(data), len(data)) + data)
assert struct.unpack('<I', r[:4])[0] == len(data) and r[4:4 + len(data)] == data, 'EchoData'
# SinkData
r = call(2, struct.pack('<II', 10, 10) + b'0123456789')
assert r == b'', r
# SourceData
r = call(3, struct.pack('<I', 5000))
assert struct.unpack('<I', r[:4])[0] == 5000 and r[4:5004] == bytes(i & 0xff for i in range(5000))
# TestCall: a UTF-16 string in, back through a unique pointer.
s = 'h\u00e9llo \u2603'.encode('utf-16-le') + b'\0\0'
n = len(s) // 2
r = call(4, struct.pack('<III', n, 0, n) + s)
ref, mx, off, act = struct.unpack('<IIII', r[:16])
assert ref != 0 and (mx, off, act) == (n, 0, n) and r[16:16 + 2 * n] == s, r
# TestCall2 level 5: u16 level, pad to 8, u8 50, pad, hyper 60, NTSTATUS 0.
r = call(5, struct.pack('<H', 5))
assert struct.unpack('<H', r[:2])[0] == 5 and r[8] == 50, r
assert struct.unpack('<Q', r[16:24])[0] == 60 and struct.unpack('<I', r[24:28])[0] == 0, r
# An operation the interface lacks: a fault.
try:
    call(42, b'')
    sys.exit('no fault for opnum 42')
except DCERPCException as e:
    assert 'nca_s_op_rng_error' in str(e), str(e)
dce.disconnect()
print('impacket ok')
"#;
    let (_server, port) = tcp_server();
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, &port.to_string()])
        .output()
        .expect("run /usr/bin/python3 (python3-impacket is needed)");
    assert!(
        out.status.success(),
        "impacket client failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("impacket ok"));
}

/// The server's limit for the rest of a fragment in [`echo_pipe_short_timeout_role`].
const SHORT: std::time::Duration = std::time::Duration::from_millis(200);

/// Child: serves rpcecho on the pipe `args[0]`, dropping a client that stops mid-PDU for
/// [`SHORT`].
fn echo_pipe_short_timeout_role(args: &[String]) {
    let options = ServerOptions::new();
    let first = options.create(&args[0]).expect("create pipe");
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut server = Server::new();
    server.add(RpcechoServer(Echo)).read_timeout(Some(SHORT));
    Arc::new(server)
        .serve_pipe_from(first, &args[0], &options)
        .expect("serve pipe");
}

/// Child: a server that binds properly, then answers the first call with half a fragment and
/// nothing more (it waits for the client to go).
fn half_answer_pipe_role(args: &[String]) {
    let mut pipe = ServerOptions::new().create(&args[0]).expect("create pipe");
    println!("ready");
    std::io::stdout().flush().unwrap();
    pipe.connect().expect("connect");
    let mut assoc = echo_server().association(pipework::rpc::dce::Peer::Unknown);
    let bind = pdu::read_fragment(&mut pipe).unwrap().expect("a bind");
    for frag in assoc.on_fragment(&bind).send {
        pipe.write_all(&frag).unwrap();
    }
    let call = pdu::read_fragment(&mut pipe).unwrap().expect("a call");
    let answer = assoc.on_fragment(&call).send.remove(0);
    pipe.write_all(&answer[..answer.len() / 2]).unwrap();
    // Until the client gives up and closes.
    let mut rest = Vec::new();
    let _ = pipe.read_to_end(&mut rest);
}

/// Child: takes one client on the pipe `args[0]` and never answers it.
fn silent_pipe_role(args: &[String]) {
    let mut pipe = ServerOptions::new().create(&args[0]).expect("create pipe");
    println!("ready");
    std::io::stdout().flush().unwrap();
    pipe.connect().expect("connect");
    let mut all = Vec::new();
    let _ = pipe.read_to_end(&mut all);
}

/// A pipe client whose reads fail instead of waiting past the common timeout.
fn bounded_pipe(name: &str) -> pipework::named_pipe::NamedPipeClient {
    let pipe = open_pipe(name);
    rustix::net::sockopt::set_socket_timeout(
        &pipe,
        rustix::net::sockopt::Timeout::Recv,
        Some(common::TIMEOUT),
    )
    .unwrap();
    pipe
}

/// The server ended the connection (not: the bounded read gave up waiting).
fn expect_end(r: &mut impl Read) {
    let mut buf = [0u8; 64];
    match r.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("expected the end, got {n} bytes: {:02x?}", &buf[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
        Err(e) => panic!("expected the end, got {e} (the server held the connection)"),
    }
}

fn client_times_out() {
    let name = pipe_name("half");
    let _server = start("half_answer_pipe", &[&name]);
    let mut echo = RpcechoClient::bind(open_pipe(&name)).expect("bind");
    echo.conn
        .set_timeout(Some(std::time::Duration::from_millis(200)));
    let err = echo.add_one(1).expect_err("half an answer is no answer");
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("cut short"), "{err}");

    // A server that never answers the bind.
    let name = pipe_name("silent");
    let _server = start("silent_pipe", &[&name]);
    let err = Client::bind_within(
        open_pipe(&name),
        echo_syntax(),
        Some(std::time::Duration::from_millis(200)),
    )
    .expect_err("no answer is no bind");
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("nothing came"), "{err}");
}

fn server_drops_stalled_client() {
    let name = pipe_name("stall");
    let _server = start("echo_pipe_short_timeout", &[&name]);

    // Ten bytes of a bind's header, then nothing.
    let mut pipe = bounded_pipe(&name);
    let bind = bind_pdu(1, vec![ctx(0, echo_syntax(), vec![NDR20])], false);
    pipe.write_all(&bind[..10]).unwrap();
    expect_end(&mut pipe);

    // A whole bind, then the first fragment of a call sent in several, then nothing.
    let mut pipe = bounded_pipe(&name);
    pipe.write_all(&bind).unwrap();
    let ack = pdu::read_fragment(&mut pipe).unwrap().expect("bind_ack");
    assert!(matches!(pdu::decode(&ack).unwrap().body, Body::BindAck(_)));
    let frags = pdu::encode_call(false, 2, 0, 1, &[7u8; 4000], pipework::rpc::dce::MIN_FRAG);
    assert!(frags.len() > 1);
    pipe.write_all(&frags[0]).unwrap();
    expect_end(&mut pipe);

    // The server goes on serving.
    let mut echo = RpcechoClient::bind(open_pipe(&name)).expect("bind");
    assert_eq!(echo.add_one(1).unwrap(), 2);
}
