//! gRPC over named pipes (feature `rpc`): a tonic client and server in two processes over
//! `\\.\pipe\NAME`, the handler seeing the caller's pid and uid; a caller the pipe does not
//! admit refused before any call. With the `interop` feature, Python's grpcio calls the same
//! service over the pipe's Unix-domain socket (`unix:` target) and over TCP.

#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::Write;
use std::process::Stdio;

use pipework::named_pipe::ServerOptions;
use pipework::rpc::grpc::{self, demo};
use tokio_stream::StreamExt;

fn main() {
    common::main(
        &[
            ("tonic_over_a_pipe_across_processes", tonic_over_pipe),
            (
                "caller_not_admitted_is_refused_before_any_call",
                not_admitted,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_grpcio_calls_over_the_pipe_socket_and_tcp",
                interop_grpcio,
            ),
        ],
        &[
            ("pipe_server", pipe_server_role),
            ("tcp_server", tcp_server_role),
            ("client_as_nobody", client_as_nobody_role),
        ],
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Child: serves the demo service on pipe `args[0]`; `global` puts it in the global
/// namespace, `allow=UID` admits that user too. Prints `ready` once the pipe exists.
fn pipe_server_role(args: &[String]) {
    let mut options = ServerOptions::new();
    for a in &args[1..] {
        if a == "global" {
            options.global(true);
        } else if let Some(uid) = a.strip_prefix("allow=") {
            options.allow_user(uid.parse().unwrap());
        }
    }
    runtime().block_on(async {
        let incoming = grpc::incoming(&args[0], &options).expect("create pipe");
        println!("ready");
        std::io::stdout().flush().unwrap();
        tonic::transport::Server::builder()
            .add_service(demo::demo_server::DemoServer::new(demo::DemoService))
            .serve_with_incoming(incoming)
            .await
            .expect("serve");
    });
}

/// Child: serves the demo service on TCP loopback, prints the port.
fn tcp_server_role(_: &[String]) {
    runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        tonic::transport::Server::builder()
            .add_service(demo::demo_server::DemoServer::new(demo::DemoService))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .expect("serve");
    });
}

/// Child: drops to `nobody`, calls WhoAmI on pipe `args[0]`; prints `uid N` or `refused: ...`.
fn client_as_nobody_role(args: &[String]) {
    common::become_nobody();
    runtime().block_on(async {
        let channel = match grpc::connect(&args[0]).await {
            Ok(c) => c,
            Err(e) => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                println!("refused: {text}");
                return;
            }
        };
        let mut client = demo::demo_client::DemoClient::new(channel);
        match client.who_am_i(demo::WhoAmIRequest {}).await {
            Ok(r) => println!("uid {}", r.into_inner().uid),
            Err(status) => println!("refused: status {status}"),
        }
    });
}

use common::start_server as start;

fn pipe_name(tag: &str) -> String {
    format!(r"\\.\pipe\pw-grpc-{tag}-{}", std::process::id())
}

fn tonic_over_pipe() {
    let name = pipe_name("calls");
    let server = start("pipe_server", &[&name]);
    assert_eq!(server.first_line, "ready");
    runtime().block_on(async {
        let run = async {
            let channel = grpc::connect(&name).await.expect("connect");
            let mut client = demo::demo_client::DemoClient::new(channel);
            let reply = client
                .say(demo::SayRequest {
                    text: "over the pipe".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(reply.into_inner().text, "over the pipe");

            let mut numbers = client
                .count(demo::CountRequest { count: 1000 })
                .await
                .unwrap()
                .into_inner();
            let mut got = Vec::new();
            while let Some(n) = numbers.next().await {
                got.push(n.unwrap().n);
            }
            assert_eq!(got, (1..=1000).collect::<Vec<_>>());

            let outbound = tokio_stream::iter(["a", "bb", "ccc"].map(|t| demo::SayRequest {
                text: t.into(),
                ..Default::default()
            }));
            let mut replies = client.chat(outbound).await.unwrap().into_inner();
            let mut texts = Vec::new();
            while let Some(r) = replies.next().await {
                texts.push(r.unwrap().text);
            }
            assert_eq!(texts, ["a", "bb", "ccc"]);

            let status = client
                .say(demo::SayRequest {
                    text: "no".into(),
                    fail: true,
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(status.code(), tonic::Code::FailedPrecondition);

            let who = client
                .who_am_i(demo::WhoAmIRequest {})
                .await
                .unwrap()
                .into_inner();
            assert_eq!(who.transport, "pipe");
            assert_eq!(who.pid, std::process::id());
            assert_eq!(who.uid, rustix::process::getuid().as_raw());
            assert_eq!(who.gid, rustix::process::getgid().as_raw());
            assert_eq!(who.peer, name);

            // A second channel at the same time gets its own instance.
            let mut other = demo::demo_client::DemoClient::new(grpc::connect(&name).await.unwrap());
            let who2 = other
                .who_am_i(demo::WhoAmIRequest {})
                .await
                .unwrap()
                .into_inner();
            assert_eq!(who2.pid, std::process::id());
        };
        tokio::time::timeout(common::TIMEOUT, run)
            .await
            .expect("calls finished in time");
    });
}

fn nobody_calls(name: &str) -> String {
    let child = common::child("client_as_nobody")
        .arg(name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    common::output_of(child).trim().to_string()
}

fn not_admitted() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test drops a client to uid nobody and needs to run as root (CI does)"
    );
    // A global pipe that admits only its owner (and root): nobody is refused before a call.
    let name = pipe_name("closed");
    let _server = start("pipe_server", &[&name, "global"]);
    let out = nobody_calls(&name);
    assert!(out.starts_with("refused: "), "{out}");
    assert!(
        out.to_lowercase().contains("permission denied") || out.contains("denied"),
        "{out}"
    );

    // The same pipe admitting nobody: the handler sees nobody's uid.
    let name = pipe_name("open");
    let _server = start("pipe_server", &[&name, "global", "allow=65534"]);
    assert_eq!(nobody_calls(&name), "uid 65534");
}

/// Python grpcio, with stubs generated now from `proto/demo.proto` by grpcio-tools, calls the
/// demo service over the pipe's Unix-domain socket and over TCP.
fn interop_grpcio() {
    const SCRIPT: &str = r#"
import sys, tempfile
from grpc_tools import protoc
proto_dir, targets = sys.argv[1], sys.argv[2:]
out = tempfile.mkdtemp()
rc = protoc.main(['protoc', '-I' + proto_dir, '--python_out=' + out, '--grpc_python_out=' + out, 'demo.proto'])
assert rc == 0, 'protoc failed'
sys.path.insert(0, out)
import grpc, demo_pb2 as pb, demo_pb2_grpc as rpc

for target in targets:
    # grpcio names a unix: target's socket path as the :authority, which HTTP/2 servers
    # (hyper, under tonic) refuse as malformed: name a plain host instead.
    with grpc.insecure_channel(target, options=[('grpc.default_authority', 'localhost')]) as channel:
        stub = rpc.DemoStub(channel)
        assert stub.Say(pb.SayRequest(text='hello'), timeout=30).text == 'hello'
        assert [m.n for m in stub.Count(pb.CountRequest(count=100), timeout=30)] == list(range(1, 101))
        chat = stub.Chat(iter([pb.SayRequest(text=t) for t in ['x', 'yy', 'zzz']]), timeout=30)
        assert [m.text for m in chat] == ['x', 'yy', 'zzz']
        try:
            stub.Say(pb.SayRequest(text='no', fail=True), timeout=30)
            sys.exit('no error status')
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
            assert 'asked to fail' in e.details(), e.details()
        try:
            stub.Say(pb.SayRequest(text='slow', delay_ms=60000), timeout=0.5)
            sys.exit('no deadline')
        except grpc.RpcError as e:
            # Whichever end's timer fires first: the client's (DEADLINE_EXCEEDED), or tonic's
            # enforcement of the grpc-timeout header, which answers CANCELLED "Timeout expired"
            # (tonic's mapping, grpc/grpc-rust PR #606).
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED or (
                e.code() == grpc.StatusCode.CANCELLED and 'Timeout expired' in e.details()), e
        who = stub.WhoAmI(pb.WhoAmIRequest(), timeout=30)
        print(target.split(':')[0], who.transport, who.pid, who.uid)
print('grpcio ok')
"#;
    let name = pipe_name("py");
    let _pipe = start("pipe_server", &[&name]);
    let tcp = start("tcp_server", &[]);
    let socket = pipework::named_pipe::socket_path(&name).expect("socket path");
    let proto = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let unix = format!("unix:{}", socket.display());
    let tcp_target = format!("127.0.0.1:{}", tcp.first_line);
    let child = std::process::Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, proto, &unix, &tcp_target])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3 (pip install grpcio grpcio-tools)");
    let out = common::output_of(child);
    assert!(out.contains("grpcio ok"), "{out}");
    let uid = rustix::process::getuid().as_raw();
    let lines: Vec<&str> = out.lines().collect();
    let pipe_line: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(pipe_line[0], "unix", "{out}");
    assert_eq!(pipe_line[1], "pipe", "{out}");
    assert_ne!(pipe_line[2], "0", "{out}");
    assert_eq!(pipe_line[3], uid.to_string(), "{out}");
    assert!(lines[1].starts_with("127.0.0.1 tcp "), "{out}");
}
