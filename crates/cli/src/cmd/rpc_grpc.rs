//! The gRPC side of `pipework rpc`: `serve-demo` (the example service with server reflection),
//! `list` and `call` by server reflection. The client asks the server's reflection service (v1,
//! else v1alpha) for the file descriptors of the service, builds the request from JSON with
//! the message's descriptor (prost-reflect), calls, and prints each response as one line of
//! JSON (proto3's JSON mapping). A status other than OK is an error naming the method, the
//! status code and the server's message.

use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pipework::named_pipe::ServerOptions;
use pipework::rpc::grpc::{self, demo};
use prost_reflect::prost::Message as _;
use prost_reflect::prost_types::FileDescriptorProto;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::tokio_stream;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use crate::output::{self, note};

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// `pipework rpc serve-demo`: the example service and reflection, on a pipe or TCP, until
/// killed. The first line on standard output says where (`demo on ...`) once it listens.
pub fn serve_demo(name: Option<&str>, tcp: Option<SocketAddr>, everyone: bool) -> io::Result<()> {
    let failed = |e: tonic::transport::Error| io::Error::other(format!("gRPC server: {e}"));
    runtime()?.block_on(async {
        if let Some(addr) = tcp {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            writeln!(output::stdout(), "demo on http://{local}")?;
            note!("serving the example gRPC service on http://{local}; Ctrl-C ends");
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            return demo::router()
                .serve_with_incoming(incoming)
                .await
                .map_err(failed);
        }
        let name = name.ok_or_else(|| {
            io::Error::new(ErrorKind::InvalidInput, "give a pipe name or --tcp ADDR")
        })?;
        let mut options = ServerOptions::new();
        if everyone {
            options.global(true).allow_everyone();
        }
        let incoming = grpc::incoming(name, &options)?;
        writeln!(output::stdout(), "demo on {name}")?;
        note!("serving the example gRPC service on {name}; Ctrl-C ends");
        demo::router()
            .serve_with_incoming(incoming)
            .await
            .map_err(failed)
    })
}

/// The canonical name of a status code, as gRPC's documents and other tools print it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A status as an error: `gRPC WHAT: CODE (n): message`, of the nearest `io::ErrorKind`.
fn status_error(what: &str, status: &Status) -> io::Error {
    let kind = match status.code() {
        Code::NotFound => ErrorKind::NotFound,
        Code::DeadlineExceeded => ErrorKind::TimedOut,
        Code::PermissionDenied | Code::Unauthenticated => ErrorKind::PermissionDenied,
        Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidInput,
        Code::AlreadyExists => ErrorKind::AlreadyExists,
        Code::Unavailable => ErrorKind::ConnectionRefused,
        Code::Unimplemented => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    };
    let message = status.message();
    let code = status.code();
    io::Error::new(
        kind,
        if message.is_empty() {
            format!("gRPC {what}: {} ({})", code_name(code), code as i32)
        } else {
            format!(
                "gRPC {what}: {} ({}): {}",
                code_name(code),
                code as i32,
                output::escape(message)
            )
        },
    )
}

/// prost messages of a fixed type both ways (the reflection protocol, v1 and v1alpha share
/// their wire form).
#[derive(Clone, Copy, Debug, Default)]
struct ProstCodec<E, D>(std::marker::PhantomData<fn(E) -> D>);

struct ProstEncoder<E>(std::marker::PhantomData<fn(E)>);
struct ProstDecoder<D>(std::marker::PhantomData<fn() -> D>);

impl<E, D> Codec for ProstCodec<E, D>
where
    E: prost_reflect::prost::Message + Send + 'static,
    D: prost_reflect::prost::Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = ProstEncoder<E>;
    type Decoder = ProstDecoder<D>;
    fn encoder(&mut self) -> ProstEncoder<E> {
        ProstEncoder(std::marker::PhantomData)
    }
    fn decoder(&mut self) -> ProstDecoder<D> {
        ProstDecoder(std::marker::PhantomData)
    }
}

impl<E: prost_reflect::prost::Message> Encoder for ProstEncoder<E> {
    type Item = E;
    type Error = Status;
    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding: {e}")))
    }
}

impl<D: prost_reflect::prost::Message + Default> Decoder for ProstDecoder<D> {
    type Item = D;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("decoding: {e}")))
    }
}

/// Messages known only by their descriptor: requests built from JSON, responses decoded with
/// the method's output descriptor.
#[derive(Clone, Debug)]
struct DynamicCodec {
    output: MessageDescriptor,
}

struct DynamicEncoder;
struct DynamicDecoder(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;
    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }
    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.output.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;
    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the request: {e}")))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| {
                Status::internal(format!(
                    "the response does not decode as {}: {e}",
                    self.0.full_name()
                ))
            })
    }
}

/// The server's reflection service, v1 or (for older servers) v1alpha.
struct Reflection {
    channel: Channel,
    target: String,
    path: &'static str,
}

const REFLECTION_V1: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const REFLECTION_V1ALPHA: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

impl Reflection {
    fn new(channel: Channel, target: &str) -> Reflection {
        Reflection {
            channel,
            target: target.to_string(),
            path: REFLECTION_V1,
        }
    }

    /// One question, one answer (each on a stream of its own).
    async fn ask(&mut self, request: MessageRequest) -> io::Result<MessageResponse> {
        loop {
            let mut client = tonic::client::Grpc::new(self.channel.clone());
            client.ready().await.map_err(|e| {
                io::Error::new(
                    ErrorKind::ConnectionRefused,
                    format!("gRPC {}: {e}", self.target),
                )
            })?;
            let question = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(request.clone()),
            };
            let answer = client
                .streaming(
                    tonic::Request::new(tokio_stream::once(question)),
                    PathAndQuery::from_static(self.path),
                    ProstCodec::<ServerReflectionRequest, ServerReflectionResponse>::default(),
                )
                .await;
            let first = match answer {
                Ok(stream) => stream.into_inner().message().await,
                Err(status) => Err(status),
            };
            match first {
                Ok(Some(ServerReflectionResponse {
                    message_response: Some(MessageResponse::ErrorResponse(e)),
                    ..
                })) => {
                    let status = Status::new(Code::from_i32(e.error_code), e.error_message);
                    return Err(status_error(&self.target, &status));
                }
                Ok(Some(ServerReflectionResponse {
                    message_response: Some(answer),
                    ..
                })) => return Ok(answer),
                Ok(_) => {
                    return Err(io::Error::new(
                        ErrorKind::InvalidData,
                        format!(
                            "gRPC {}: the reflection service answered nothing",
                            self.target
                        ),
                    ))
                }
                Err(status)
                    if status.code() == Code::Unimplemented && self.path == REFLECTION_V1 =>
                {
                    self.path = REFLECTION_V1ALPHA;
                }
                Err(status) if status.code() == Code::Unimplemented => {
                    return Err(io::Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "gRPC {}: the server offers no reflection service (v1 or v1alpha), \
                             so its methods cannot be found by name",
                            self.target
                        ),
                    ))
                }
                Err(status) => {
                    return Err(status_error(
                        &format!("{} (server reflection)", self.target),
                        &status,
                    ))
                }
            }
        }
    }

    /// The services the server lists.
    async fn services(&mut self) -> io::Result<Vec<String>> {
        match self
            .ask(MessageRequest::ListServices(String::new()))
            .await?
        {
            MessageResponse::ListServicesResponse(list) => {
                Ok(list.service.into_iter().map(|s| s.name).collect())
            }
            other => Err(self.unexpected(&other)),
        }
    }

    fn unexpected(&self, answer: &MessageResponse) -> io::Error {
        io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "gRPC {}: the reflection service answered another question: {answer:?}",
                self.target
            ),
        )
    }

    /// The descriptors of the file defining `symbol` and of every file it imports.
    async fn pool_for(&mut self, symbol: &str) -> io::Result<DescriptorPool> {
        let mut files: Vec<FileDescriptorProto> = Vec::new();
        let mut wanted: Vec<MessageRequest> =
            vec![MessageRequest::FileContainingSymbol(symbol.to_string())];
        // A bound on the imports followed, against a server that names files without end.
        let mut budget = 1000;
        while let Some(question) = wanted.pop() {
            budget -= 1;
            if budget == 0 {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    format!("gRPC {}: more than 1000 files of imports", self.target),
                ));
            }
            let answer = self.ask(question).await?;
            let MessageResponse::FileDescriptorResponse(found) = answer else {
                return Err(self.unexpected(&answer));
            };
            for bytes in found.file_descriptor_proto {
                let file = FileDescriptorProto::decode(bytes.as_slice()).map_err(|e| {
                    io::Error::new(
                        ErrorKind::InvalidData,
                        format!(
                            "gRPC {}: a file descriptor does not decode: {e}",
                            self.target
                        ),
                    )
                })?;
                if files.iter().any(|f| f.name == file.name) {
                    continue;
                }
                for dep in &file.dependency {
                    if !files
                        .iter()
                        .any(|f| f.name.as_deref() == Some(dep.as_str()))
                    {
                        wanted.push(MessageRequest::FileByFilename(dep.clone()));
                    }
                }
                files.push(file);
            }
        }
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos(files).map_err(|e| {
            io::Error::new(
                ErrorKind::InvalidData,
                format!(
                    "gRPC {}: the descriptors of {symbol} do not fit together: {e}",
                    self.target
                ),
            )
        })?;
        Ok(pool)
    }
}

/// How a method streams, in the words of a `.proto`.
fn kind_of(method: &MethodDescriptor) -> &'static str {
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => "unary",
        (false, true) => "server streaming",
        (true, false) => "client streaming",
        (true, true) => "bidirectional streaming",
    }
}

/// `pipework rpc list TARGET`: one line per method, `SERVICE/METHOD  KIND  INPUT -> OUTPUT`.
pub fn list(target: &str) -> io::Result<()> {
    runtime()?.block_on(async {
        let channel = grpc::connect_to(target).await?;
        let mut reflection = Reflection::new(channel, target);
        let mut services = reflection.services().await?;
        services.sort();
        let mut out = output::stdout();
        for service in services {
            let pool = reflection.pool_for(&service).await?;
            let Some(descriptor) = pool.get_service_by_name(&service) else {
                writeln!(out, "{service}  (no descriptor)")?;
                continue;
            };
            for method in descriptor.methods() {
                writeln!(
                    out,
                    "{service}/{}  {}  {} -> {}",
                    method.name(),
                    kind_of(&method),
                    method.input().full_name(),
                    method.output().full_name()
                )?;
            }
        }
        Ok(())
    })
}

/// The request messages of `json` for `method`: one object, or for a client-streaming method
/// also an array of them (one message each).
fn requests(method: &MethodDescriptor, what: &str, json: &str) -> io::Result<Vec<DynamicMessage>> {
    let input = method.input();
    let bad = |e: String| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!("gRPC {what}: the JSON is not a {}: {e}", input.full_name()),
        )
    };
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let values = match value {
        serde_json::Value::Array(items) if method.is_client_streaming() => items,
        one => vec![one],
    };
    values
        .into_iter()
        .map(|v| DynamicMessage::deserialize(input.clone(), v).map_err(|e| bad(e.to_string())))
        .collect()
}

/// One response as one line of JSON; fields at their default value are left out (proto3's
/// JSON mapping) unless `defaults`.
fn print(message: &DynamicMessage, defaults: bool) -> io::Result<()> {
    let mut line = Vec::new();
    let mut serializer = serde_json::Serializer::new(&mut line);
    let options = prost_reflect::SerializeOptions::new().skip_default_fields(!defaults);
    message
        .serialize_with_options(&mut serializer, &options)
        .map_err(io::Error::other)?;
    line.push(b'\n');
    output::stdout().write_all(&line)
}

/// `pipework rpc call TARGET SERVICE/METHOD JSON`.
pub fn call(
    target: &str,
    method: &str,
    json: &str,
    timeout: Option<Duration>,
    defaults: bool,
) -> io::Result<()> {
    let what = method.trim_start_matches('/').to_string();
    let (service, name) = what.rsplit_once('/').ok_or_else(|| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!("gRPC {what}: expected SERVICE/METHOD (package.Service/Method)"),
        )
    })?;
    runtime()?.block_on(async {
        let channel = grpc::connect_to(target).await?;
        let mut reflection = Reflection::new(channel.clone(), target);
        let pool = match reflection.pool_for(service).await {
            Ok(pool) => pool,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let known = reflection.services().await.unwrap_or_default();
                return Err(io::Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "gRPC {what}: {target} has no service {service} (it has: {})",
                        known.join(", ")
                    ),
                ));
            }
            Err(e) => return Err(e),
        };
        let descriptor = pool.get_service_by_name(service).ok_or_else(|| {
            io::Error::new(
                ErrorKind::NotFound,
                format!("gRPC {what}: {service} is not a service"),
            )
        })?;
        let Some(method) = descriptor.methods().find(|m| m.name() == name) else {
            let known: Vec<String> = descriptor.methods().map(|m| m.name().to_string()).collect();
            return Err(io::Error::new(
                ErrorKind::NotFound,
                format!(
                    "gRPC {what}: service {service} has no method {name} (it has: {})",
                    known.join(", ")
                ),
            ));
        };
        let messages = requests(&method, &what, json)?;
        let started = Instant::now();
        let call = invoke(channel, &method, &what, messages, timeout, defaults);
        let result = match timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "no answer within {limit:?}"
                ))),
            },
            None => call.await,
        };
        result.map_err(|status| {
            // tonic's server answers an expired `grpc-timeout` with CANCELLED: past the
            // deadline that is the deadline's doing.
            let status = match (timeout, status.code()) {
                (Some(limit), Code::Cancelled) if started.elapsed() >= limit => {
                    Status::deadline_exceeded(format!(
                        "the server ended the call at the {limit:?} deadline ({})",
                        status.message()
                    ))
                }
                _ => status,
            };
            status_error(&what, &status)
        })
    })
}

/// Makes the call, printing each response as it comes.
async fn invoke(
    channel: Channel,
    method: &MethodDescriptor,
    what: &str,
    messages: Vec<DynamicMessage>,
    timeout: Option<Duration>,
    defaults: bool,
) -> Result<(), Status> {
    let path = PathAndQuery::try_from(format!("/{what}"))
        .map_err(|e| Status::invalid_argument(format!("not a method path: {e}")))?;
    let codec = DynamicCodec {
        output: method.output(),
    };
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    fn limited<T>(message: T, timeout: Option<Duration>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(limit) = timeout {
            request.set_timeout(limit);
        }
        request
    }
    let printed =
        |m: &DynamicMessage| print(m, defaults).map_err(|e| Status::unknown(e.to_string()));
    let mut stream = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) | (true, false) => {
            let reply = if method.is_client_streaming() {
                let request = limited(tokio_stream::iter(messages), timeout);
                client.client_streaming(request, path, codec).await?
            } else {
                let one = messages
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| DynamicMessage::new(method.input()));
                client.unary(limited(one, timeout), path, codec).await?
            };
            return printed(reply.get_ref());
        }
        (false, true) => {
            let one = messages
                .into_iter()
                .next()
                .unwrap_or_else(|| DynamicMessage::new(method.input()));
            client
                .server_streaming(limited(one, timeout), path, codec)
                .await?
                .into_inner()
        }
        (true, true) => {
            let request = limited(tokio_stream::iter(messages), timeout);
            client.streaming(request, path, codec).await?.into_inner()
        }
    };
    while let Some(message) = stream.message().await? {
        printed(&message)?;
    }
    Ok(())
}
