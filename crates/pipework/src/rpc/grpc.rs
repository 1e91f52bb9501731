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
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pipework::named_pipe::ServerOptions;
//! use pipework::rpc::grpc::{self, demo};
//!
//! let incoming = grpc::incoming(r"\\.\pipe\demo", &ServerOptions::new())?;
//! tokio::spawn(
//!     tonic::transport::Server::builder()
//!         .add_service(demo::demo_server::DemoServer::new(demo::DemoService))
//!         .serve_with_incoming(incoming),
//! );
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
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::named_pipe::{AsyncNamedPipeServer, ClientOptions, ServerOptions, WaitTimeout};

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
            async move { Ok::<_, io::Error>(TokioIo::new(options.open_async(&name).await?)) }
        }))
        .await
}

/// The example service of `proto/demo.proto`: its messages, client and server (generated by
/// tonic), and [`DemoService`](demo::DemoService), an implementation.
pub mod demo {
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    mod generated {
        tonic::include_proto!("pipework.demo.v1");
    }
    pub use generated::*;

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
