//! DCE/RPC (C706 + MS-RPCE), connection-oriented: what Windows and Samba speak on named pipes
//! (`ncacn_np`) and TCP (`ncacn_ip_tcp`).
//!
//! * [`pdu`]: the PDUs (bind, bind_ack, bind_nak, alter_context(_resp), request, response,
//!   fault), decoded by I/O-free code that checks every length;
//! * [`ndr`]: NDR20 marshalling (primitives, strings, conformant and varying arrays,
//!   structures, unique pointers);
//! * [`Interface`] and [`dce_interface!`](crate::dce_interface): an interface (UUID, version,
//!   operations with typed arguments) declared in Rust, no IDL compiler;
//! * [`Server`]: serves interfaces on any `Read + Write` socket stream, a named pipe or TCP;
//!   [`Association`] is its I/O-free state machine;
//! * [`Client`]: binds and calls;
//! * [`echo`]: Samba's `rpcecho` test interface, client and server.
//!
//! Multiple presentation contexts per association (bind and `alter_context`), fragmentation
//! both ways within the negotiated fragment sizes, call ids. Not here: authentication (a bind
//! that carries any is refused with `bind_nak` reason 8, authentication type not recognized;
//! an `alter_context` or request that carries any gets an access-denied fault and the
//! connection ends), NDR64 (declined per context), big-endian peers (refused), concurrent
//! calls on one association (calls are answered in order).
//!
//! Time limits: a server drops a connection whose peer stops in the middle of a fragment or of
//! a fragmented call ([`Server::read_timeout`], [`DEFAULT_READ_TIMEOUT`]; idle connections
//! between calls only with [`Server::idle_timeout`]); a client's call fails `TimedOut` when
//! the answer does not come ([`Client::set_timeout`], [`DEFAULT_CALL_TIMEOUT`]).
//!
//! Malformed input ends a connection cleanly: an unknown packet type or a fragment cut short
//! closes it, a request on a context never bound gets `nca_s_unk_if`, a request broken across
//! fragments gets `nca_s_proto_error` and a close, arguments that do not decode get
//! `RPC_X_BAD_STUB_DATA`.

mod client;
pub mod echo;
mod interface;
pub mod ndr;
pub mod pdu;
#[cfg(test)]
mod proptests;
mod server;
mod stream;
mod uuid;

pub use client::{fault_error, fault_of, Client, DEFAULT_CALL_TIMEOUT};
pub use interface::{CallInfo, Fault, Interface, Peer};
pub use server::{
    Association, Server, Step, DEFAULT_MAX_CALL, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FRAG,
    DEFAULT_READ_TIMEOUT, MIN_FRAG,
};
pub use uuid::{is_bind_time_features, SyntaxId, Uuid, NDR20, NDR64};
