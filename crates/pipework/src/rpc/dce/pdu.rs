//! The connection-oriented PDUs (C706 chapter 12, MS-RPCE 2.2.2): I/O-free encoding and
//! decoding, with every length a peer sent checked against the bytes it sent.
//!
//! Every PDU starts with a 16-byte header: version 5.0, the packet type, flags, the data
//! representation (pipework speaks little-endian ASCII IEEE, `10 00 00 00`), the fragment and
//! authentication lengths and the call id.

use std::fmt;

use super::uuid::{SyntaxId, Uuid};

/// Length of the common header.
pub const HEADER_LEN: usize = 16;
/// Length of a request's or response's header (common header + its own 8 bytes).
pub const CALL_HEADER_LEN: usize = 24;
/// The data representation pipework writes: little-endian integers, ASCII, IEEE floats.
pub const DREP_LE: [u8; 4] = [0x10, 0, 0, 0];

/// Packet types (`PTYPE`).
pub mod ptype {
    /// `request`
    pub const REQUEST: u8 = 0;
    /// `response`
    pub const RESPONSE: u8 = 2;
    /// `fault`
    pub const FAULT: u8 = 3;
    /// `bind`
    pub const BIND: u8 = 11;
    /// `bind_ack`
    pub const BIND_ACK: u8 = 12;
    /// `bind_nak`
    pub const BIND_NAK: u8 = 13;
    /// `alter_context`
    pub const ALTER_CONTEXT: u8 = 14;
    /// `alter_context_resp`
    pub const ALTER_CONTEXT_RESP: u8 = 15;
    /// `auth3` (MS-RPCE)
    pub const AUTH3: u8 = 16;
    /// `shutdown`
    pub const SHUTDOWN: u8 = 17;
    /// `co_cancel`
    pub const CO_CANCEL: u8 = 18;
    /// `orphaned`
    pub const ORPHANED: u8 = 19;
}

/// Header flags (`PFC_*`).
pub mod flags {
    /// First fragment of a call.
    pub const FIRST_FRAG: u8 = 0x01;
    /// Last fragment of a call.
    pub const LAST_FRAG: u8 = 0x02;
    /// A cancel was pending (requests) / header signing supported (bind, MS-RPCE).
    pub const PENDING_CANCEL: u8 = 0x04;
    /// Concurrent multiplexing supported.
    pub const CONC_MPX: u8 = 0x10;
    /// The call did not execute (faults).
    pub const DID_NOT_EXECUTE: u8 = 0x20;
    /// `maybe` semantics.
    pub const MAYBE: u8 = 0x40;
    /// An object UUID follows the request header.
    pub const OBJECT_UUID: u8 = 0x80;
}

/// Why a fragment could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PduError {
    /// Fewer bytes than the header or the body needs.
    Truncated,
    /// Not version 5.0.
    Version(u8, u8),
    /// A fragment length below the header's, or different from the bytes given.
    Length(u16),
    /// A packet type pipework does not know.
    UnknownType(u8),
    /// A data representation other than little-endian ASCII IEEE.
    DataRepresentation([u8; 4]),
    /// A body that contradicts itself (named).
    Malformed(&'static str),
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PduError::Truncated => write!(f, "truncated PDU"),
            PduError::Version(a, b) => write!(f, "protocol version {a}.{b}, not 5.0"),
            PduError::Length(n) => write!(f, "bad fragment length {n}"),
            PduError::UnknownType(t) => write!(f, "unknown packet type {t}"),
            PduError::DataRepresentation(d) => {
                write!(f, "unsupported data representation {d:02x?}")
            }
            PduError::Malformed(what) => write!(f, "malformed PDU: {what}"),
        }
    }
}

impl std::error::Error for PduError {}

/// The common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Packet type ([`ptype`]).
    pub ptype: u8,
    /// Flags ([`flags`]).
    pub flags: u8,
    /// Data representation.
    pub drep: [u8; 4],
    /// Length of the whole fragment.
    pub frag_len: u16,
    /// Length of the authentication verifier (pipework refuses any but 0).
    pub auth_len: u16,
    /// Call id.
    pub call_id: u32,
}

impl Header {
    /// Reads the header at the start of `b` (which may hold only these 16 bytes). Checks the
    /// version and that the fragment length covers at least the header.
    pub fn parse(b: &[u8]) -> Result<Header, PduError> {
        if b.len() < HEADER_LEN {
            return Err(PduError::Truncated);
        }
        if b[0] != 5 || b[1] != 0 {
            return Err(PduError::Version(b[0], b[1]));
        }
        let drep = [b[4], b[5], b[6], b[7]];
        let big = drep[0] & 0xf0 == 0;
        let u16_at = |i: usize| {
            let v = [b[i], b[i + 1]];
            if big {
                u16::from_be_bytes(v)
            } else {
                u16::from_le_bytes(v)
            }
        };
        let call = [b[12], b[13], b[14], b[15]];
        let h = Header {
            ptype: b[2],
            flags: b[3],
            drep,
            frag_len: u16_at(8),
            auth_len: u16_at(10),
            call_id: if big {
                u32::from_be_bytes(call)
            } else {
                u32::from_le_bytes(call)
            },
        };
        if (h.frag_len as usize) < HEADER_LEN {
            return Err(PduError::Length(h.frag_len));
        }
        Ok(h)
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[5, 0, self.ptype, self.flags]);
        out.extend_from_slice(&DREP_LE);
        out.extend_from_slice(&self.frag_len.to_le_bytes());
        out.extend_from_slice(&self.auth_len.to_le_bytes());
        out.extend_from_slice(&self.call_id.to_le_bytes());
    }
}

/// One presentation context a bind or alter_context proposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextElem {
    /// The id calls name it by.
    pub context_id: u16,
    /// The interface.
    pub abstract_syntax: SyntaxId,
    /// The transfer syntaxes offered, in order of preference.
    pub transfer_syntaxes: Vec<SyntaxId>,
}

/// `bind` and `alter_context`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// The largest fragment the client sends.
    pub max_xmit_frag: u16,
    /// The largest fragment the client receives.
    pub max_recv_frag: u16,
    /// Association group (0: a new one).
    pub assoc_group: u32,
    /// Contexts proposed.
    pub contexts: Vec<ContextElem>,
}

/// Presentation context results (`p_cont_def_result_t`).
pub mod result {
    /// Accepted.
    pub const ACCEPTANCE: u16 = 0;
    /// Rejected by the user (server application).
    pub const USER_REJECTION: u16 = 1;
    /// Rejected by the provider.
    pub const PROVIDER_REJECTION: u16 = 2;
    /// Bind-time feature negotiation answered (MS-RPCE).
    pub const NEGOTIATE_ACK: u16 = 3;
    /// Reason: the interface is not served.
    pub const ABSTRACT_SYNTAX_NOT_SUPPORTED: u16 = 1;
    /// Reason: none of the transfer syntaxes is spoken.
    pub const TRANSFER_SYNTAXES_NOT_SUPPORTED: u16 = 2;
}

/// One context's answer in a `bind_ack` / `alter_context_resp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextResult {
    /// [`result`]: acceptance, rejection, negotiate_ack.
    pub result: u16,
    /// Why it was rejected (or the feature bits of a negotiate_ack).
    pub reason: u16,
    /// The transfer syntax chosen (zeros when rejected).
    pub transfer_syntax: SyntaxId,
}

/// `bind_ack` and `alter_context_resp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindAck {
    /// The largest fragment the server sends.
    pub max_xmit_frag: u16,
    /// The largest fragment the server receives.
    pub max_recv_frag: u16,
    /// Association group.
    pub assoc_group: u32,
    /// Secondary address (the pipe name, the port), without its NUL.
    pub secondary_address: String,
    /// One result per context proposed, in order.
    pub results: Vec<ContextResult>,
}

/// `bind_nak` reasons (MS-RPCE 2.2.2.5).
pub mod nak {
    /// Reason not specified.
    pub const NOT_SPECIFIED: u16 = 0;
    /// Temporary congestion.
    pub const TEMPORARY_CONGESTION: u16 = 1;
    /// Local limit exceeded.
    pub const LOCAL_LIMIT_EXCEEDED: u16 = 2;
    /// Protocol version not supported.
    pub const PROTOCOL_VERSION_NOT_SUPPORTED: u16 = 4;
    /// Authentication type not recognized.
    pub const AUTHENTICATION_TYPE_NOT_RECOGNIZED: u16 = 8;
    /// Invalid checksum.
    pub const INVALID_CHECKSUM: u16 = 9;
}

/// A call's request or response fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Hint of the whole stub's size (0: unknown).
    pub alloc_hint: u32,
    /// Presentation context.
    pub context_id: u16,
    /// Operation number (requests) or `cancel_count` (responses, in the low byte).
    pub opnum: u16,
    /// Object UUID (requests with [`flags::OBJECT_UUID`]).
    pub object: Option<Uuid>,
    /// This fragment's stub data.
    pub stub: Vec<u8>,
}

/// A `fault`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultBody {
    /// Presentation context of the failed call.
    pub context_id: u16,
    /// The status (`nca_s_*`, Win32 error).
    pub status: u32,
}

/// A decoded PDU's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `bind`
    Bind(Bind),
    /// `bind_ack`
    BindAck(BindAck),
    /// `bind_nak` with its reason.
    BindNak(u16),
    /// `alter_context`
    AlterContext(Bind),
    /// `alter_context_resp`
    AlterContextResp(BindAck),
    /// `request`
    Request(Call),
    /// `response`
    Response(Call),
    /// `fault`
    Fault(FaultBody),
    /// `auth3`, `shutdown`, `co_cancel`, `orphaned`: known, body not interpreted.
    Other(u8),
}

/// A decoded fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pdu {
    /// Its header.
    pub header: Header,
    /// Its body.
    pub body: Body,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PduError> {
        let end = self.pos.checked_add(n).ok_or(PduError::Truncated)?;
        let out = self.b.get(self.pos..end).ok_or(PduError::Truncated)?;
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, PduError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, PduError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, PduError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn syntax(&mut self) -> Result<SyntaxId, PduError> {
        let mut s = [0u8; 20];
        s.copy_from_slice(self.take(20)?);
        Ok(SyntaxId::from_bytes(s))
    }
    fn align4(&mut self) -> Result<(), PduError> {
        let pad = (4 - self.pos % 4) % 4;
        self.take(pad).map(|_| ())
    }
}

/// The fragment's length from its first 16 bytes, checked (see [`Header::parse`]).
pub fn fragment_len(header: &[u8]) -> Result<usize, PduError> {
    Header::parse(header).map(|h| h.frag_len as usize)
}

/// Decodes one whole fragment (exactly `frag_len` bytes). Only little-endian data
/// representation is decoded past the header; a big-endian one is
/// [`PduError::DataRepresentation`].
pub fn decode(frag: &[u8]) -> Result<Pdu, PduError> {
    let header = Header::parse(frag)?;
    if header.frag_len as usize != frag.len() {
        return Err(PduError::Length(header.frag_len));
    }
    if header.drep[0] & 0xf0 != 0x10 || header.drep[1] != 0 {
        return Err(PduError::DataRepresentation(header.drep));
    }
    // The body ends where the authentication trailer (8 bytes + verifier) starts.
    let body_end = match header.auth_len {
        0 => frag.len(),
        n => frag
            .len()
            .checked_sub(n as usize + 8)
            .filter(|&end| end >= HEADER_LEN)
            .ok_or(PduError::Malformed(
                "authentication trailer longer than the fragment",
            ))?,
    };
    let mut c = Cursor {
        b: &frag[..body_end],
        pos: HEADER_LEN,
    };
    let body = match header.ptype {
        ptype::BIND | ptype::ALTER_CONTEXT => {
            let max_xmit_frag = c.u16()?;
            let max_recv_frag = c.u16()?;
            let assoc_group = c.u32()?;
            let n = c.u8()?;
            c.take(3)?;
            let mut contexts = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let context_id = c.u16()?;
                let n_ts = c.u8()?;
                c.u8()?;
                let abstract_syntax = c.syntax()?;
                let mut transfer_syntaxes = Vec::with_capacity(n_ts as usize);
                for _ in 0..n_ts {
                    transfer_syntaxes.push(c.syntax()?);
                }
                contexts.push(ContextElem {
                    context_id,
                    abstract_syntax,
                    transfer_syntaxes,
                });
            }
            let bind = Bind {
                max_xmit_frag,
                max_recv_frag,
                assoc_group,
                contexts,
            };
            if header.ptype == ptype::BIND {
                Body::Bind(bind)
            } else {
                Body::AlterContext(bind)
            }
        }
        ptype::BIND_ACK | ptype::ALTER_CONTEXT_RESP => {
            let max_xmit_frag = c.u16()?;
            let max_recv_frag = c.u16()?;
            let assoc_group = c.u32()?;
            let len = c.u16()? as usize;
            let raw = c.take(len)?;
            let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
            let secondary_address = String::from_utf8_lossy(raw).into_owned();
            c.align4()?;
            let n = c.u8()?;
            c.take(3)?;
            let mut results = Vec::with_capacity(n as usize);
            for _ in 0..n {
                results.push(ContextResult {
                    result: c.u16()?,
                    reason: c.u16()?,
                    transfer_syntax: c.syntax()?,
                });
            }
            let ack = BindAck {
                max_xmit_frag,
                max_recv_frag,
                assoc_group,
                secondary_address,
                results,
            };
            if header.ptype == ptype::BIND_ACK {
                Body::BindAck(ack)
            } else {
                Body::AlterContextResp(ack)
            }
        }
        ptype::BIND_NAK => Body::BindNak(c.u16()?),
        ptype::REQUEST | ptype::RESPONSE => {
            let alloc_hint = c.u32()?;
            let context_id = c.u16()?;
            let opnum = c.u16()?;
            let object = if header.ptype == ptype::REQUEST && header.flags & flags::OBJECT_UUID != 0
            {
                let mut u = [0u8; 16];
                u.copy_from_slice(c.take(16)?);
                Some(Uuid::from_ndr(u))
            } else {
                None
            };
            let call = Call {
                alloc_hint,
                context_id,
                opnum,
                object,
                stub: frag[c.pos..body_end].to_vec(),
            };
            if header.ptype == ptype::REQUEST {
                Body::Request(call)
            } else {
                Body::Response(call)
            }
        }
        ptype::FAULT => {
            let _alloc_hint = c.u32()?;
            let context_id = c.u16()?;
            c.take(2)?;
            let status = c.u32()?;
            Body::Fault(FaultBody { context_id, status })
        }
        t @ (ptype::AUTH3 | ptype::SHUTDOWN | ptype::CO_CANCEL | ptype::ORPHANED) => Body::Other(t),
        t => return Err(PduError::UnknownType(t)),
    };
    Ok(Pdu { header, body })
}

fn finish(ptype: u8, pflags: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    Header {
        ptype,
        flags: pflags,
        drep: DREP_LE,
        frag_len: (HEADER_LEN + body.len()) as u16,
        auth_len: 0,
        call_id,
    }
    .write(&mut out);
    out.extend_from_slice(body);
    out
}

/// Encodes a `bind` (or with `alter`, an `alter_context`).
pub fn encode_bind(call_id: u32, bind: &Bind, alter: bool) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&bind.max_xmit_frag.to_le_bytes());
    b.extend_from_slice(&bind.max_recv_frag.to_le_bytes());
    b.extend_from_slice(&bind.assoc_group.to_le_bytes());
    b.extend_from_slice(&[bind.contexts.len() as u8, 0, 0, 0]);
    for ctx in &bind.contexts {
        b.extend_from_slice(&ctx.context_id.to_le_bytes());
        b.extend_from_slice(&[ctx.transfer_syntaxes.len() as u8, 0]);
        b.extend_from_slice(&ctx.abstract_syntax.to_bytes());
        for ts in &ctx.transfer_syntaxes {
            b.extend_from_slice(&ts.to_bytes());
        }
    }
    let ptype = if alter {
        ptype::ALTER_CONTEXT
    } else {
        ptype::BIND
    };
    finish(ptype, flags::FIRST_FRAG | flags::LAST_FRAG, call_id, &b)
}

/// Encodes a `bind_ack` (or with `alter`, an `alter_context_resp`).
pub fn encode_bind_ack(call_id: u32, ack: &BindAck, alter: bool) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&ack.max_xmit_frag.to_le_bytes());
    b.extend_from_slice(&ack.max_recv_frag.to_le_bytes());
    b.extend_from_slice(&ack.assoc_group.to_le_bytes());
    if ack.secondary_address.is_empty() {
        b.extend_from_slice(&0u16.to_le_bytes());
    } else {
        let addr = ack.secondary_address.as_bytes();
        b.extend_from_slice(&(addr.len() as u16 + 1).to_le_bytes());
        b.extend_from_slice(addr);
        b.push(0);
    }
    while !(HEADER_LEN + b.len()).is_multiple_of(4) {
        b.push(0);
    }
    b.extend_from_slice(&[ack.results.len() as u8, 0, 0, 0]);
    for r in &ack.results {
        b.extend_from_slice(&r.result.to_le_bytes());
        b.extend_from_slice(&r.reason.to_le_bytes());
        b.extend_from_slice(&r.transfer_syntax.to_bytes());
    }
    let ptype = if alter {
        ptype::ALTER_CONTEXT_RESP
    } else {
        ptype::BIND_ACK
    };
    finish(ptype, flags::FIRST_FRAG | flags::LAST_FRAG, call_id, &b)
}

/// Encodes a `bind_nak` with `reason`, listing version 5.0 as the one supported.
pub fn encode_bind_nak(call_id: u32, reason: u16) -> Vec<u8> {
    let mut b = reason.to_le_bytes().to_vec();
    b.extend_from_slice(&[1, 5, 0]);
    finish(
        ptype::BIND_NAK,
        flags::FIRST_FRAG | flags::LAST_FRAG,
        call_id,
        &b,
    )
}

/// Encodes a `fault`.
pub fn encode_fault(call_id: u32, context_id: u16, status: u32, extra_flags: u8) -> Vec<u8> {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&context_id.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&status.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    finish(
        ptype::FAULT,
        flags::FIRST_FRAG | flags::LAST_FRAG | extra_flags,
        call_id,
        &b,
    )
}

/// The largest stub a fragment of `max_frag` bytes carries, a multiple of 8 (at least 8).
pub fn stub_room(max_frag: u16) -> usize {
    ((max_frag as usize).saturating_sub(CALL_HEADER_LEN) & !7).max(8)
}

/// Splits a call's stub into `request` (or with `response`, `response`) fragments of at most
/// `max_frag` bytes each (one fragment for an empty stub). For a response `opnum` is unused.
pub fn encode_call(
    response: bool,
    call_id: u32,
    context_id: u16,
    opnum: u16,
    stub: &[u8],
    max_frag: u16,
) -> Vec<Vec<u8>> {
    let room = stub_room(max_frag);
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let end = (offset + room).min(stub.len());
        let mut pflags = 0;
        if offset == 0 {
            pflags |= flags::FIRST_FRAG;
        }
        if end == stub.len() {
            pflags |= flags::LAST_FRAG;
        }
        let mut b = Vec::with_capacity(8 + end - offset);
        b.extend_from_slice(&((stub.len() - offset) as u32).to_le_bytes());
        b.extend_from_slice(&context_id.to_le_bytes());
        if response {
            b.extend_from_slice(&[0, 0]);
        } else {
            b.extend_from_slice(&opnum.to_le_bytes());
        }
        b.extend_from_slice(&stub[offset..end]);
        let ptype = if response {
            ptype::RESPONSE
        } else {
            ptype::REQUEST
        };
        out.push(finish(ptype, pflags, call_id, &b));
        offset = end;
        if offset == stub.len() {
            return out;
        }
    }
}

/// Reads one fragment from a byte stream: `Ok(None)` at the end of data before a fragment
/// starts, `UnexpectedEof` in the middle of one, `InvalidData` for a header that is not
/// DCE/RPC 5.0 or gives a length below 16.
pub fn read_fragment(r: &mut impl std::io::Read) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::{Error, ErrorKind};
    let mut head = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(Error::new(
                    ErrorKind::UnexpectedEof,
                    "DCE/RPC: connection closed inside a PDU header",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = fragment_len(&head)
        .map_err(|e| Error::new(ErrorKind::InvalidData, format!("DCE/RPC: {e}")))?;
    let mut frag = vec![0u8; len];
    frag[..HEADER_LEN].copy_from_slice(&head);
    r.read_exact(&mut frag[HEADER_LEN..]).map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            Error::new(
                ErrorKind::UnexpectedEof,
                format!("DCE/RPC: connection closed inside a {len}-byte fragment"),
            )
        } else {
            e
        }
    })?;
    Ok(Some(frag))
}
