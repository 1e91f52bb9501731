//! RPC: call functions in another process or on another machine.
//!
//! Two layers share pipework's transports (named pipes, and TCP):
//!
//! * [`dce`]: DCE/RPC (C706 with Microsoft's MS-RPCE extensions), the connection-oriented
//!   protocol Windows and Samba speak on `ncacn_np` (named pipes) and `ncacn_ip_tcp`: the PDU
//!   codec, NDR20 marshalling, interfaces declared in Rust without an IDL compiler, a server and a
//!   client over any byte stream, and Samba's `rpcecho` test interface. No feature needed.
//! * `grpc` (feature `rpc`): any tonic service served on `\\.\pipe\NAME`, the caller's identity
//!   in each request's extensions, and tonic channels that connect to a pipe name.
//!
//! Which to pick: gRPC for new services (schemas in `.proto`, streaming, every language);
//! DCE/RPC to talk to Windows software and Samba's tools.

pub mod dce;
#[cfg(feature = "rpc")]
pub mod grpc;
