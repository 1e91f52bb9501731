//! The client: binds an association on a byte stream, then makes calls, fragmenting requests
//! and reassembling responses.

use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::interface::Fault;
use super::pdu::{self, flags, result, Body, ContextElem};
use super::server::{DEFAULT_MAX_CALL, DEFAULT_MAX_FRAG};
use super::stream::FragmentReader;
use super::uuid::{SyntaxId, NDR20};

/// A DCE/RPC client association over a byte stream (a [`crate::named_pipe::NamedPipeClient`]
/// for `ncacn_np`, a `TcpStream` for `ncacn_ip_tcp`).
///
/// Each PDU goes out in one `write` and is not flushed (a named pipe's `flush` is
/// `FlushFileBuffers`, a wait for the server to read): give it a stream that sends what is
/// written, not one behind a `BufWriter`. Answers are read ahead: what the stream holds beyond
/// the answer is kept for the next call, so read the stream only through this client.
///
/// Every call waits at most [`timeout`](Self::set_timeout) for its answer
/// ([`DEFAULT_CALL_TIMEOUT`] unless set), through the socket's receive timeout
/// (`SO_RCVTIMEO`; a stream that is not a socket waits without limit).
///
/// ```no_run
/// use pipework::rpc::dce::echo::RpcechoClient;
///
/// let pipe = pipework::named_pipe::NamedPipeClient::open(r"\\.\pipe\rpcecho")?;
/// let mut echo = RpcechoClient::bind(pipe)?;
/// assert_eq!(echo.add_one(41)?, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Client<S> {
    stream: S,
    next_call: u32,
    next_context: u16,
    max_xmit: u16,
    max_response: usize,
    assoc_group: u32,
    reader: FragmentReader,
    timeout: Option<Duration>,
}

/// How long a call waits for its answer unless told otherwise ([`Client::set_timeout`]).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

fn protocol(text: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("DCE/RPC: {text}"))
}

/// A fault the server answered, as an `io::Error` (kind `Other`) whose inner error is the
/// [`Fault`] (`err.get_ref()` and `downcast_ref::<Fault>()` find it).
pub fn fault_error(fault: Fault) -> io::Error {
    io::Error::other(fault)
}

/// The fault inside an error from [`Client::call`], if it was one.
pub fn fault_of(err: &io::Error) -> Option<Fault> {
    err.get_ref()?.downcast_ref::<Fault>().copied()
}

impl<S: Read + Write + AsFd> Client<S> {
    /// Binds an association on `stream` with one context for `syntax` (NDR20); returns the
    /// client and the context's id. A refusal is `ConnectionRefused` naming the reason.
    pub fn bind(stream: S, syntax: SyntaxId) -> io::Result<(Client<S>, u16)> {
        Client::bind_within(stream, syntax, Some(DEFAULT_CALL_TIMEOUT))
    }

    /// [`bind`](Self::bind), waiting at most `timeout` for the server's answer to the bind
    /// (`None`: for ever); the timeout stays the calls' ([`set_timeout`](Self::set_timeout)).
    pub fn bind_within(
        stream: S,
        syntax: SyntaxId,
        timeout: Option<Duration>,
    ) -> io::Result<(Client<S>, u16)> {
        let mut client = Client {
            stream,
            next_call: 1,
            next_context: 0,
            max_xmit: DEFAULT_MAX_FRAG,
            max_response: DEFAULT_MAX_CALL,
            assoc_group: 0,
            reader: FragmentReader::new(),
            timeout,
        };
        let ctx = client.negotiate(syntax, false)?;
        Ok((client, ctx))
    }

    /// Adds a context for another interface on this association (`alter_context`); returns
    /// its id.
    pub fn alter_context(&mut self, syntax: SyntaxId) -> io::Result<u16> {
        self.negotiate(syntax, true)
    }

    /// The largest response (all fragments together) this client takes (default 16 MiB).
    pub fn set_max_response(&mut self, bytes: usize) {
        self.max_response = bytes;
    }

    /// How long a bind or call waits for the server's whole answer (`None`: for ever). The
    /// first fragment of the answer must come within `timeout` of the request going out, and
    /// every later byte within `timeout` of the request too; past it the call fails
    /// `TimedOut` naming what it waited for, and the association should be dropped (a late
    /// answer would be taken for the next call's).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The association group the server gave.
    pub fn assoc_group(&self) -> u32 {
        self.assoc_group
    }

    /// The stream underneath.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    fn call_id(&mut self) -> u32 {
        let id = self.next_call;
        self.next_call = self.next_call.wrapping_add(1).max(1);
        id
    }

    fn negotiate(&mut self, syntax: SyntaxId, alter: bool) -> io::Result<u16> {
        let context_id = self.next_context;
        self.next_context = self.next_context.wrapping_add(1);
        let call_id = self.call_id();
        let bind = pdu::Bind {
            max_xmit_frag: DEFAULT_MAX_FRAG,
            max_recv_frag: DEFAULT_MAX_FRAG,
            assoc_group: self.assoc_group,
            contexts: vec![ContextElem {
                context_id,
                abstract_syntax: syntax,
                transfer_syntaxes: vec![NDR20],
            }],
        };
        self.stream
            .write_all(&pdu::encode_bind(call_id, &bind, alter))?;
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let reply = self.read_pdu(deadline, true)?;
        let ack = match reply.body {
            Body::BindAck(ack) if !alter => ack,
            Body::AlterContextResp(ack) if alter => ack,
            Body::BindNak(reason) => {
                return Err(io::Error::new(
                    ErrorKind::ConnectionRefused,
                    format!("DCE/RPC bind to {syntax}: refused (bind_nak reason {reason})"),
                ))
            }
            Body::Fault(f) => return Err(fault_error(Fault(f.status))),
            other => return Err(protocol(format!("unexpected answer to bind: {other:?}"))),
        };
        if reply.header.call_id != call_id {
            return Err(protocol("bind answer for another call id".into()));
        }
        match ack.results.first() {
            Some(r) if r.result == result::ACCEPTANCE => {}
            Some(r) => {
                return Err(io::Error::new(
                    ErrorKind::ConnectionRefused,
                    format!(
                        "DCE/RPC bind to {syntax}: context rejected (result {}, reason {})",
                        r.result, r.reason
                    ),
                ))
            }
            None => return Err(protocol("bind_ack without results".into())),
        }
        if !alter {
            self.max_xmit = ack
                .max_recv_frag
                .clamp(super::server::MIN_FRAG, DEFAULT_MAX_FRAG);
            self.assoc_group = ack.assoc_group;
        }
        Ok(context_id)
    }

    /// The next PDU of the answer, within the call's deadline. The first fragment of an answer
    /// waits the whole timeout (a value that stays the same from call to call, so the socket's
    /// timeout is set once, not per call); later ones what is left of it.
    fn read_pdu(&mut self, deadline: Option<Instant>, first: bool) -> io::Result<pdu::Pdu> {
        let limit = if first {
            self.timeout
        } else {
            match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(super::stream::timed_out(
                            "the rest of the server's answer did not come",
                            self.timeout.unwrap_or_default(),
                        ));
                    }
                    Some(left)
                }
            }
        };
        let frag = self
            .reader
            .next(
                &mut self.stream,
                limit,
                limit,
                "waiting for the server's answer",
            )?
            .ok_or_else(|| {
                io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "DCE/RPC: the server closed the connection",
                )
            })?;
        pdu::decode(frag).map_err(|e| protocol(e.to_string()))
    }

    /// Calls operation `opnum` on context `context_id` with the NDR20 request `stub`; returns
    /// the response stub. A fault is an error for which [`fault_of`] gives the status.
    pub fn call(&mut self, context_id: u16, opnum: u16, stub: &[u8]) -> io::Result<Vec<u8>> {
        let call_id = self.call_id();
        for frag in pdu::encode_call(false, call_id, context_id, opnum, stub, self.max_xmit) {
            self.stream.write_all(&frag)?;
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut out = Vec::new();
        let mut first = true;
        loop {
            let reply = self.read_pdu(deadline, first)?;
            if reply.header.call_id != call_id {
                return Err(protocol(format!(
                    "answer for call {} while waiting for call {call_id}",
                    reply.header.call_id
                )));
            }
            match reply.body {
                Body::Response(resp) => {
                    if first != (reply.header.flags & flags::FIRST_FRAG != 0) {
                        return Err(protocol("response fragments out of order".into()));
                    }
                    first = false;
                    if out.len() + resp.stub.len() > self.max_response {
                        return Err(protocol(format!(
                            "response larger than {} bytes",
                            self.max_response
                        )));
                    }
                    out.extend_from_slice(&resp.stub);
                    if reply.header.flags & flags::LAST_FRAG != 0 {
                        return Ok(out);
                    }
                }
                Body::Fault(f) => return Err(fault_error(Fault(f.status))),
                other => return Err(protocol(format!("unexpected answer to a call: {other:?}"))),
            }
        }
    }
}
