//! gRPC over named pipes (feature `rpc`): any tonic service served on `\\.\pipe\NAME`, and
//! tonic channels that connect to a pipe name.
//!
//! The server side is [`incoming`]: a stream of connected pipe instances for tonic's
//! `Server::serve_with_incoming`. The pipe's access rules ([`ServerOptions::allow_user`],
//! [`ServerOptions::global`], ...) turn away callers it does not admit before any byte of HTTP/2;
//! each admitted caller's process, user and group reach every handler as a
//! [`PipeConnectInfo`] in the request's extensions (tonic's `Connected` trait). The client side
//! is [`connect`] / [`connect_with`]: a tonic `Channel` whose connections are pipe opens
//! (`Endpoint::connect_with_connector`). The same service code serves TCP with tonic's own
//! `serve`; foreign gRPC clients reach a pipe through its instance's Unix-domain socket
//! ([`crate::named_pipe::socket_path`], a `unix:` target for grpcio).
//!
//! [`connect_to`] takes any of the targets the CLI takes (a pipe name or `http://host:port`).
//! [`with_reflection`] adds gRPC server reflection (v1 and v1alpha) to a router, so that
//! generic clients (`pipework rpc list|call`, grpcurl) find a service's methods and messages
//! without its `.proto`; the example service's [`demo::router`] has it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pipework::named_pipe::ServerOptions;
//! use pipework::rpc::grpc::{self, demo};
//!
//! let incoming = grpc::incoming(r"\\.\pipe\demo", &ServerOptions::new())?;
//! // The example service with server reflection (`grpc::with_reflection` adds it to any router).
//! tokio::spawn(demo::router().serve_with_incoming(incoming));
//! let channel = grpc::connect(r"\\.\pipe\demo").await?;
//! let mut client = demo::demo_client::DemoClient::new(channel);
//! let reply = client.say(demo::SayRequest { text: "hi".into(), ..Default::default() }).await?;
//! assert_eq!(reply.into_inner().text, "hi");
//! # Ok(()) }
//! ```

use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, Router};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::name::PipeName;
use crate::named_pipe::{
    AsyncNamedPipeClient, AsyncNamedPipeServer, ClientOptions, ServerOptions, WaitTimeout,
};

/// Who is at the other end of a pipe connection: what a handler finds in
/// `request.extensions().get::<PipeConnectInfo>()` (or with [`caller`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeConnectInfo {
    /// The pipe's name.
    pub pipe: String,
    /// The caller's process id (`GetNamedPipeClientProcessId`).
    pub pid: u32,
    /// The caller's user.
    pub uid: u32,
    /// The caller's group.
    pub gid: u32,
}

/// The pipe caller of a request, when it came over a named pipe.
pub fn caller<T>(request: &tonic::Request<T>) -> Option<&PipeConnectInfo> {
    request.extensions().get::<PipeConnectInfo>()
}

/// One connected pipe instance, as tonic's server reads and writes it.
#[derive(Debug)]
pub struct PipeConnection {
    io: AsyncNamedPipeServer,
    info: PipeConnectInfo,
}

impl Connected for PipeConnection {
    type ConnectInfo = PipeConnectInfo;
    fn connect_info(&self) -> PipeConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for PipeConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for PipeConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The connections of pipe `name`, for `Server::serve_with_incoming` (inside a tokio
/// runtime). The first instance is created before this returns, so the pipe exists and errors
/// such as `AlreadyExists` or a bad name come back here; then one instance at a time waits for
/// a caller, on a task that ends when the stream is dropped.
pub fn incoming(
    name: &str,
    options: &ServerOptions,
) -> io::Result<ReceiverStream<io::Result<PipeConnection>>> {
    let first = options.create_async(name)?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let options = options.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        let mut next = Some(first);
        loop {
            let mut instance = match next.take() {
                Some(instance) => instance,
                None => match options.create_async(&name) {
                    Ok(instance) => instance,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                },
            };
            let connected = tokio::select! {
                r = instance.connect() => r,
                _ = tx.closed() => return,
            };
            match connected {
                Ok(_) => {
                    let Some(who) = instance.client() else {
                        continue;
                    };
                    let info = PipeConnectInfo {
                        pipe: name.clone(),
                        pid: who.pid,
                        uid: who.uid,
                        gid: who.gid,
                    };
                    let conn = PipeConnection { io: instance, info };
                    if tx.send(Ok(conn)).await.is_err() {
                        return;
                    }
                }
                // A caller that came and went: the same instance listens again.
                Err(e) if e.kind() == ErrorKind::BrokenPipe => next = Some(instance),
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}

/// How long [`connect`] waits for a free instance of the pipe.
pub const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// A tonic channel to the gRPC server on pipe `name` (inside a tokio runtime): every
/// connection the channel makes opens the pipe, waiting up to [`CONNECT_WAIT`] for a free
/// instance.
pub async fn connect(name: &str) -> Result<Channel, tonic::transport::Error> {
    let mut options = ClientOptions::new();
    options.wait(WaitTimeout::After(CONNECT_WAIT));
    connect_with(Endpoint::from_static("http://pipe.pipework"), name, options).await
}

/// [`connect`] with the endpoint's settings (timeouts, window sizes, ...; its URI serves only as
/// the `:authority`) and the pipe client's options (whose server to trust, how long to wait).
pub async fn connect_with(
    endpoint: Endpoint,
    name: &str,
    options: ClientOptions,
) -> Result<Channel, tonic::transport::Error> {
    let name = name.to_string();
    endpoint
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let name = name.clone();
            let options = options.clone();
            async move { Ok::<_, io::Error>(TokioIo::new(open_pipe(&name, &options).await?)) }
        }))
        .await
}

/// One connection of a channel: a pipe on this machine, or (the place for it) one on another.
async fn open_pipe(name: &str, options: &ClientOptions) -> io::Result<AsyncNamedPipeClient> {
    let parsed = PipeName::parse(name)?;
    match parsed.server() {
        None => options.open_async(name).await,
        Some(host) => open_remote_pipe(&parsed, host, options).await,
    }
}

/// A channel's connection to `\\host\pipe\NAME`: through SMB once pipework's remote pipe
/// client can open such a name; until then `Unsupported`, naming the pipe.
async fn open_remote_pipe(
    name: &PipeName,
    host: &str,
    _options: &ClientOptions,
) -> io::Result<AsyncNamedPipeClient> {
    Err(io::Error::new(
        ErrorKind::Unsupported,
        format!(
            "named pipe {name}: gRPC to a pipe on another machine ({host}) needs the SMB pipe \
             client, which pipework does not have yet"
        ),
    ))
}

/// A tonic channel to `target`: `http://host:port` (TCP; TLS is not built in, so `https://` is
/// refused), or a pipe name as [`connect`] takes it (`\\.\pipe\NAME` or `NAME`; a
/// `\\host\pipe\NAME` on another machine is `Unsupported` for now). Errors name the target.
pub async fn connect_to(target: &str) -> io::Result<Channel> {
    let failed = |e: tonic::transport::Error| {
        // The transport error's own text is generic ("transport error"): its source says why.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text = format!("{text}: {cause_text}");
            }
            source = cause.source();
        }
        let kind = std::error::Error::source(&e)
            .and_then(|c| c.downcast_ref::<io::Error>())
            .map_or(ErrorKind::ConnectionRefused, io::Error::kind);
        io::Error::new(kind, format!("gRPC {target}: {text}"))
    };
    if target.starts_with("https://") {
        return Err(io::Error::new(
            ErrorKind::Unsupported,
            format!("gRPC {target}: TLS is not built in; use http:// or a pipe"),
        ));
    }
    if target.starts_with("http://") {
        let endpoint = Endpoint::from_shared(target.to_string())
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("gRPC {target}: {e}")))?;
        return endpoint
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_WAIT)
            .connect()
            .await
            .map_err(failed);
    }
    let name = PipeName::parse(target)?;
    let mut options = ClientOptions::new();
    options.wait(WaitTimeout::After(CONNECT_WAIT));
    if name.server().is_some() {
        // Straight to the remote place, whose error says what is missing.
        let host = name.server().unwrap_or_default().to_string();
        open_remote_pipe(&name, &host, &options).await?;
    }
    connect_with(
        Endpoint::from_static("http://pipe.pipework"),
        target,
        options,
    )
    .await
    .map_err(failed)
}

/// The encoded descriptor set of the reflection services themselves (v1 and v1alpha), for
/// clients that ask reflection about reflection.
fn reflection_builder<'b>(
    file_descriptor_sets: &[&'b [u8]],
) -> tonic_reflection::server::Builder<'b> {
    let mut builder = tonic_reflection::server::Builder::configure();
    for set in file_descriptor_sets {
        builder = builder.register_encoded_file_descriptor_set(set);
    }
    builder
}

/// `router` with the gRPC server reflection services added, v1 and v1alpha (older clients ask
/// v1alpha), describing every service of `file_descriptor_sets` (encoded
/// `FileDescriptorSet`s, as `tonic_prost_build`'s `file_descriptor_set_path` writes them and
/// `tonic::include_file_descriptor_set!` includes them). A set that does not decode is
/// `InvalidData`.
pub fn with_reflection<L>(
    router: Router<L>,
    file_descriptor_sets: &[&'static [u8]],
) -> io::Result<Router<L>> {
    let bad = |e: tonic_reflection::server::Error| {
        io::Error::new(ErrorKind::InvalidData, format!("gRPC reflection: {e}"))
    };
    let v1 = reflection_builder(file_descriptor_sets)
        .build_v1()
        .map_err(bad)?;
    let v1alpha = reflection_builder(file_descriptor_sets)
        .build_v1alpha()
        .map_err(bad)?;
    Ok(router.add_service(v1).add_service(v1alpha))
}

/// The example service of `proto/demo.proto`: its messages, client and server (generated by
/// tonic), and [`DemoService`](demo::DemoService), an implementation.
pub mod demo {
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    mod generated {
        tonic::include_proto!("pipework.demo.v1");
    }
    pub use generated::*;

    /// The encoded `FileDescriptorSet` of `demo.proto`, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("demo_descriptor");

    /// A router with the example service and server reflection describing it: serve it with
    /// `serve_with_incoming(grpc::incoming(..))` on a pipe, or `serve(addr)` on TCP.
    pub fn router() -> tonic::transport::server::Router {
        let router = tonic::transport::Server::builder()
            .add_service(demo_server::DemoServer::new(DemoService));
        super::with_reflection(router, &[FILE_DESCRIPTOR_SET])
            .expect("demo.proto's descriptor set, compiled by protoc, decodes")
    }

    use std::pin::Pin;
    use std::time::Duration;

    use tokio_stream::{Stream, StreamExt};
    use tonic::{Request, Response, Status, Streaming};

    /// The example service: answers `Say`, `Count`, `Chat` and `WhoAmI` as `demo.proto` says.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct DemoService;

    /// A boxed stream of replies.
    pub type ReplyStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

    /// The most numbers `Count` sends.
    pub const MAX_COUNT: u32 = 1_000_000;

    #[tonic::async_trait]
    impl demo_server::Demo for DemoService {
        async fn say(&self, request: Request<SayRequest>) -> Result<Response<SayReply>, Status> {
            let r = request.into_inner();
            if r.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(r.delay_ms.into())).await;
            }
            if r.fail {
                return Err(Status::failed_precondition(format!(
                    "asked to fail: {}",
                    r.text
                )));
            }
            Ok(Response::new(SayReply { text: r.text }))
        }

        type CountStream = ReplyStream<CountReply>;

        async fn count(
            &self,
            request: Request<CountRequest>,
        ) -> Result<Response<Self::CountStream>, Status> {
            let count = request.into_inner().count;
            if count > MAX_COUNT {
                return Err(Status::out_of_range(format!("at most {MAX_COUNT} numbers")));
            }
            let numbers = tokio_stream::iter((1..=count).map(|n| Ok(CountReply { n })));
            Ok(Response::new(Box::pin(numbers)))
        }

        type ChatStream = ReplyStream<SayReply>;

        async fn chat(
            &self,
            request: Request<Streaming<SayRequest>>,
        ) -> Result<Response<Self::ChatStream>, Status> {
            let replies = request
                .into_inner()
                .map(|r| r.map(|m| SayReply { text: m.text }));
            Ok(Response::new(Box::pin(replies)))
        }

        async fn who_am_i(
            &self,
            request: Request<WhoAmIRequest>,
        ) -> Result<Response<WhoAmIReply>, Status> {
            if let Some(c) = super::caller(&request) {
                return Ok(Response::new(WhoAmIReply {
                    transport: "pipe".into(),
                    pid: c.pid,
                    uid: c.uid,
                    gid: c.gid,
                    peer: c.pipe.clone(),
                }));
            }
            Ok(Response::new(WhoAmIReply {
                transport: "tcp".into(),
                peer: request
                    .remote_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                ..Default::default()
            }))
        }
    }
}
