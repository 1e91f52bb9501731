//! The server: an I/O-free association state machine ([`Association`]) that turns each
//! fragment received into the fragments to send, and front-ends that drive it over any byte
//! stream, a named pipe (`ncacn_np`) or TCP (`ncacn_ip_tcp`).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::interface::{CallInfo, Fault, Interface, Peer};
use super::pdu::{self, flags, nak, ptype, result, Body, ContextResult, Pdu, PduError};
use super::stream::FragmentReader;
use super::uuid::{is_bind_time_features, SyntaxId, Uuid, NDR20};
use crate::named_pipe::ServerOptions;

/// The largest fragment pipework sends or takes by default (what Windows uses on TCP).
pub const DEFAULT_MAX_FRAG: u16 = 5840;
/// The smallest fragment size C706 lets a peer ask for.
pub const MIN_FRAG: u16 = 1432;
/// The largest whole call (request stub, all fragments together) a server takes by default.
pub const DEFAULT_MAX_CALL: usize = 16 << 20;

/// A DCE/RPC server: the interfaces it serves and its limits. Cheap to share (`Arc`) between
/// the connections it serves.
///
/// ```no_run
/// use pipework::rpc::dce::{echo, Server};
///
/// let mut server = Server::new();
/// server.add(echo::RpcechoServer(echo::Echo));
/// std::sync::Arc::new(server).serve_pipe(r"\\.\pipe\rpcecho", &Default::default())?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server {
    interfaces: Vec<Arc<dyn Interface>>,
    max_frag: u16,
    max_call: usize,
    secondary_address: String,
    max_connections: usize,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
}

/// How long a server waits for the rest of a fragment, or for the next fragment of a call
/// sent in several, before it drops the connection ([`Server::read_timeout`]).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How many TCP connections [`Server::serve_tcp`] serves at once unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field(
                "interfaces",
                &self
                    .interfaces
                    .iter()
                    .map(|i| i.syntax())
                    .collect::<Vec<_>>(),
            )
            .field("max_frag", &self.max_frag)
            .field("max_call", &self.max_call)
            .finish()
    }
}

static ASSOC_GROUPS: AtomicU32 = AtomicU32::new(0x1000);

impl Server {
    /// A server with no interfaces yet.
    pub fn new() -> Server {
        Server {
            interfaces: Vec::new(),
            max_frag: DEFAULT_MAX_FRAG,
            max_call: DEFAULT_MAX_CALL,
            secondary_address: String::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connections: Arc::default(),
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            idle_timeout: None,
        }
    }

    /// How long a peer that began a fragment (or a call sent in several fragments) may take to
    /// send the rest; past it the connection is dropped, so a peer that stops in the middle of
    /// a PDU holds no thread for ever. `None`: no limit. Default [`DEFAULT_READ_TIMEOUT`].
    /// Enforced with the socket's receive timeout (`SO_RCVTIMEO`): a stream that is not a
    /// socket has no limit.
    pub fn read_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.read_timeout = timeout;
        self
    }

    /// How long a connection may stay idle between calls before the server drops it. Default
    /// `None` (clients keep associations open between calls, as Windows' do).
    pub fn idle_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.idle_timeout = timeout;
        self
    }

    /// Serves `interface` too.
    pub fn add(&mut self, interface: impl Interface + 'static) -> &mut Self {
        self.interfaces.push(Arc::new(interface));
        self
    }

    /// The largest fragment this server sends and takes (at least [`MIN_FRAG`]).
    pub fn max_frag(&mut self, bytes: u16) -> &mut Self {
        self.max_frag = bytes.max(MIN_FRAG);
        self
    }

    /// The largest request (all fragments of one call) this server takes; larger ones get a
    /// [`Fault::NO_MEMORY`] fault and the connection is closed.
    pub fn max_call(&mut self, bytes: usize) -> &mut Self {
        self.max_call = bytes;
        self
    }

    /// How many TCP connections [`serve_tcp`](Self::serve_tcp) serves at once (each has a
    /// thread); one beyond is closed as soon as it is accepted. Default
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections(&mut self, n: usize) -> &mut Self {
        self.max_connections = n;
        self
    }

    /// The secondary address `bind_ack` names (`\PIPE\name` on a pipe, the port on TCP); at
    /// most 1024 bytes are kept (a fragment's length is 16 bits).
    pub fn secondary_address(&mut self, address: &str) -> &mut Self {
        let mut end = address.len().min(1024);
        while !address.is_char_boundary(end) {
            end -= 1;
        }
        self.secondary_address = address[..end].to_string();
        self
    }

    /// A fresh association (one per connection) for driving by hand.
    pub fn association(self: &Arc<Self>, peer: Peer) -> Association {
        Association {
            server: Arc::clone(self),
            peer,
            bound: false,
            contexts: HashMap::new(),
            max_xmit: MIN_FRAG,
            assoc_group: 0,
            pending: None,
        }
    }

    /// Serves one connection until the client closes it or breaks the protocol. Returns
    /// `Ok(())` on a clean end (including one the server chose after a protocol error), and
    /// `TimedOut` when the client stopped in the middle of a PDU for longer than
    /// [`read_timeout`](Self::read_timeout) (or stayed idle past
    /// [`idle_timeout`](Self::idle_timeout)).
    ///
    /// The stream is read ahead (a fragment usually comes in one `read`) and each answer goes
    /// out in one `write` per fragment, never flushed: give it a stream that sends what is
    /// written (a named pipe's `flush` would wait for the client to read).
    pub fn serve_stream(
        self: &Arc<Self>,
        mut stream: impl Read + Write + AsFd,
        peer: Peer,
    ) -> io::Result<()> {
        let mut assoc = self.association(peer);
        let mut reader = FragmentReader::new();
        loop {
            let first = if assoc.pending.is_some() {
                self.read_timeout
            } else {
                self.idle_timeout
            };
            let frag = match reader.next(
                &mut stream,
                first,
                self.read_timeout,
                "waiting for the client",
            ) {
                Ok(Some(frag)) => frag,
                Ok(None) => return Ok(()),
                // A truncated fragment or garbage: the connection ends, nothing to answer.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData
                    ) =>
                {
                    return Ok(())
                }
                Err(e) => return Err(e),
            };
            let step = assoc.on_fragment(frag);
            for out in &step.send {
                stream.write_all(out)?;
            }
            if step.close {
                return Ok(());
            }
        }
    }

    /// Serves `ncacn_np` on the named pipe `name` for ever: one instance waits for a client
    /// while each connected one is served on its own thread. Clients are admitted by
    /// `options` (who may connect); each call's [`Peer::Pipe`] carries the client's identity.
    pub fn serve_pipe(self: Arc<Self>, name: &str, options: &ServerOptions) -> io::Result<()> {
        let first = options.create(name)?;
        self.serve_pipe_from(first, name, options)
    }

    /// [`serve_pipe`](Self::serve_pipe) starting with an instance the caller created (so that
    /// it knows the pipe exists before serving); later instances are created with `options`.
    pub fn serve_pipe_from(
        self: Arc<Self>,
        first: crate::named_pipe::NamedPipeServer,
        name: &str,
        options: &ServerOptions,
    ) -> io::Result<()> {
        let mut next = Some(first);
        loop {
            let mut instance = match next.take() {
                Some(instance) => instance,
                None => options.create(name)?,
            };
            match instance.connect() {
                Ok(_) => {}
                // A client that came and went: the same instance listens again.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    next = Some(instance);
                    continue;
                }
                Err(e) => return Err(e),
            }
            let peer = instance.client().map(Peer::Pipe).unwrap_or(Peer::Unknown);
            let server = Arc::clone(&self);
            std::thread::spawn(move || {
                let _ = server.serve_stream(&mut instance, peer);
            });
        }
    }

    /// Serves `ncacn_ip_tcp` on `listener` for ever, a thread per connection.
    pub fn serve_tcp(self: Arc<Self>, listener: std::net::TcpListener) -> io::Result<()> {
        loop {
            let (stream, addr) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => return Err(e),
            };
            let connections = Arc::clone(&self.connections);
            if connections.fetch_add(1, Ordering::AcqRel) >= self.max_connections {
                // Over the limit: closed at once (dropping the stream), so a flood of idle
                // connections costs no thread.
                connections.fetch_sub(1, Ordering::AcqRel);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let server = Arc::clone(&self);
            std::thread::spawn(move || {
                let _ = server.serve_stream(stream, Peer::Tcp(addr));
                connections.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }
}

/// A call whose request fragments are still arriving.
struct Pending {
    call_id: u32,
    context_id: u16,
    opnum: u16,
    stub: Vec<u8>,
}

/// What to do after a fragment: send these fragments, then close the connection if asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Fragments to send, in order.
    pub send: Vec<Vec<u8>>,
    /// Whether to close the connection afterwards.
    pub close: bool,
}

impl Step {
    fn send(frag: Vec<u8>) -> Step {
        Step {
            send: vec![frag],
            close: false,
        }
    }
    fn close() -> Step {
        Step {
            send: Vec::new(),
            close: true,
        }
    }
    fn fault_and_close(call_id: u32, context_id: u16, fault: Fault) -> Step {
        Step {
            send: vec![pdu::encode_fault(
                call_id,
                context_id,
                fault.0,
                flags::DID_NOT_EXECUTE,
            )],
            close: true,
        }
    }
}

/// One connection's protocol state on the server (an association): I/O-free, so that any
/// transport, blocking or async, drives the same code.
pub struct Association {
    server: Arc<Server>,
    peer: Peer,
    bound: bool,
    /// Context id → index of the interface in the server.
    contexts: HashMap<u16, usize>,
    max_xmit: u16,
    assoc_group: u32,
    pending: Option<Pending>,
}

impl std::fmt::Debug for Association {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Association")
            .field("peer", &self.peer)
            .field("bound", &self.bound)
            .field("contexts", &self.contexts)
            .finish()
    }
}

impl Association {
    /// Handles one whole fragment (as [`pdu::read_fragment`] returns it): what to send back,
    /// and whether to close. Never panics, whatever the bytes.
    pub fn on_fragment(&mut self, frag: &[u8]) -> Step {
        let pdu = match pdu::decode(frag) {
            Ok(pdu) => pdu,
            Err(PduError::UnknownType(_)) => return Step::close(),
            Err(_) => {
                // A bind we cannot read is answered with a nak; anything else ends the
                // connection.
                return match pdu::Header::parse(frag) {
                    Ok(h) if h.ptype == ptype::BIND && !self.bound => Step {
                        send: vec![pdu::encode_bind_nak(h.call_id, nak::NOT_SPECIFIED)],
                        close: true,
                    },
                    _ => Step::close(),
                };
            }
        };
        let Pdu { header, body } = pdu;
        match body {
            Body::Bind(bind) => {
                if self.bound {
                    return Step::close();
                }
                if header.auth_len != 0 {
                    // No authentication levels here: MS-RPCE's answer to an auth type the
                    // server does not know.
                    return Step {
                        send: vec![pdu::encode_bind_nak(
                            header.call_id,
                            nak::AUTHENTICATION_TYPE_NOT_RECOGNIZED,
                        )],
                        close: true,
                    };
                }
                if bind.max_xmit_frag < MIN_FRAG || bind.max_recv_frag < MIN_FRAG {
                    return Step {
                        send: vec![pdu::encode_bind_nak(header.call_id, nak::NOT_SPECIFIED)],
                        close: true,
                    };
                }
                self.bound = true;
                self.max_xmit = bind.max_recv_frag.min(self.server.max_frag);
                self.assoc_group = match bind.assoc_group {
                    0 => ASSOC_GROUPS.fetch_add(1, Ordering::Relaxed).max(1),
                    g => g,
                };
                Step::send(self.negotiate(header.call_id, &bind, false))
            }
            Body::AlterContext(bind) => {
                if !self.bound {
                    return Step::close();
                }
                if header.auth_len != 0 {
                    return Step::fault_and_close(header.call_id, 0, Fault::ACCESS_DENIED);
                }
                Step::send(self.negotiate(header.call_id, &bind, true))
            }
            Body::Request(call) => {
                if !self.bound {
                    return Step::close();
                }
                if header.auth_len != 0 {
                    return Step::fault_and_close(
                        header.call_id,
                        call.context_id,
                        Fault::ACCESS_DENIED,
                    );
                }
                self.on_request(header.flags, header.call_id, call)
            }
            Body::Other(ptype::ORPHANED) => {
                if self.pending.as_ref().map(|p| p.call_id) == Some(header.call_id) {
                    self.pending = None;
                }
                Step::default()
            }
            Body::Other(ptype::CO_CANCEL) => Step::default(),
            // auth3 on an association without authentication, shutdown (a server's PDU), and
            // the server-side PDUs sent by a confused client: the connection ends.
            _ => Step::close(),
        }
    }

    fn negotiate(&mut self, call_id: u32, bind: &pdu::Bind, alter: bool) -> Vec<u8> {
        let mut results = Vec::with_capacity(bind.contexts.len());
        let none = SyntaxId {
            uuid: Uuid::NIL,
            major: 0,
            minor: 0,
        };
        for ctx in &bind.contexts {
            let reject = |reason| ContextResult {
                result: result::PROVIDER_REJECTION,
                reason,
                transfer_syntax: none,
            };
            if ctx.transfer_syntaxes.iter().any(is_bind_time_features) {
                // Bind-time feature negotiation: acknowledged, with no optional feature.
                results.push(ContextResult {
                    result: result::NEGOTIATE_ACK,
                    reason: 0,
                    transfer_syntax: none,
                });
                continue;
            }
            let iface = self
                .server
                .interfaces
                .iter()
                .position(|i| i.syntax() == ctx.abstract_syntax);
            let Some(index) = iface else {
                results.push(reject(result::ABSTRACT_SYNTAX_NOT_SUPPORTED));
                continue;
            };
            if !ctx.transfer_syntaxes.contains(&NDR20) {
                results.push(reject(result::TRANSFER_SYNTAXES_NOT_SUPPORTED));
                continue;
            }
            // A context id already bound to another interface keeps its binding (C706: the
            // presentation context cannot change).
            match self.contexts.get(&ctx.context_id) {
                Some(&bound) if bound != index => {
                    results.push(reject(result::ABSTRACT_SYNTAX_NOT_SUPPORTED));
                    continue;
                }
                _ => {}
            }
            self.contexts.insert(ctx.context_id, index);
            results.push(ContextResult {
                result: result::ACCEPTANCE,
                reason: 0,
                transfer_syntax: NDR20,
            });
        }
        let ack = pdu::BindAck {
            max_xmit_frag: self.max_xmit,
            max_recv_frag: self.server.max_frag,
            assoc_group: self.assoc_group,
            secondary_address: if alter {
                String::new()
            } else {
                self.server.secondary_address.clone()
            },
            results,
        };
        pdu::encode_bind_ack(call_id, &ack, alter)
    }

    fn on_request(&mut self, pflags: u8, call_id: u32, call: pdu::Call) -> Step {
        let first = pflags & flags::FIRST_FRAG != 0;
        let last = pflags & flags::LAST_FRAG != 0;
        let mut pending = match self.pending.take() {
            Some(p) if first => {
                // A new call while another was half sent: the protocol is broken.
                return Step::fault_and_close(p.call_id, p.context_id, Fault::PROTOCOL_ERROR);
            }
            Some(p) => {
                if p.call_id != call_id || p.context_id != call.context_id || p.opnum != call.opnum
                {
                    return Step::fault_and_close(call_id, call.context_id, Fault::PROTOCOL_ERROR);
                }
                p
            }
            None if !first => {
                return Step::fault_and_close(call_id, call.context_id, Fault::PROTOCOL_ERROR);
            }
            None => Pending {
                call_id,
                context_id: call.context_id,
                opnum: call.opnum,
                stub: Vec::with_capacity(
                    (call.alloc_hint as usize)
                        .min(self.server.max_call)
                        .min(1 << 20),
                ),
            },
        };
        if pending.stub.len() + call.stub.len() > self.server.max_call {
            return Step::fault_and_close(call_id, call.context_id, Fault::NO_MEMORY);
        }
        pending.stub.extend_from_slice(&call.stub);
        if !last {
            self.pending = Some(pending);
            return Step::default();
        }
        let Some(&index) = self.contexts.get(&pending.context_id) else {
            return Step::send(pdu::encode_fault(
                call_id,
                pending.context_id,
                Fault::UNKNOWN_INTERFACE.0,
                flags::DID_NOT_EXECUTE,
            ));
        };
        let info = CallInfo {
            peer: self.peer,
            call_id,
            context_id: pending.context_id,
            opnum: pending.opnum,
        };
        let interface = Arc::clone(&self.server.interfaces[index]);
        match interface.call(&info, &pending.stub) {
            Ok(stub) => Step {
                send: pdu::encode_call(true, call_id, pending.context_id, 0, &stub, self.max_xmit),
                close: false,
            },
            Err(fault) => {
                let extra = if fault == Fault::OP_RANGE || fault == Fault::BAD_STUB_DATA {
                    flags::DID_NOT_EXECUTE
                } else {
                    0
                };
                Step::send(pdu::encode_fault(
                    call_id,
                    pending.context_id,
                    fault.0,
                    extra,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// A connection beyond `max_connections` is closed at once; the ones within are served, and
    /// a slot comes back when a connection ends.
    #[test]
    fn connections_beyond_the_limit_are_closed_at_once() {
        let mut server = Server::new();
        server.add(super::super::echo::RpcechoServer(super::super::echo::Echo));
        server.max_connections(1);
        let server = Arc::new(server);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || server.serve_tcp(listener));

        let mut first = super::super::echo::RpcechoClient::bind(TcpStream::connect(addr).unwrap())
            .expect("the first connection is served");
        assert_eq!(first.add_one(1).unwrap(), 2);

        let mut second = TcpStream::connect(addr).unwrap();
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(
            second.read(&mut byte).unwrap(),
            0,
            "closed at once, unanswered"
        );

        drop(first);
        // The slot comes back once the first connection's thread has ended: retry within a bound.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match super::super::echo::RpcechoClient::bind(TcpStream::connect(addr).unwrap()) {
                Ok(mut again) => {
                    assert_eq!(again.add_one(2).unwrap(), 3);
                    break;
                }
                Err(e) => assert!(
                    std::time::Instant::now() < deadline,
                    "no slot came back: {e}"
                ),
            }
            std::thread::yield_now();
        }
    }
}
