//! NetBIOS over TCP/IP as mailslots use it, I/O-free: names in first-level encoding
//! (RFC 1001/1002), the datagram service packet carrying an SMB `SMB_COM_TRANSACTION` mailslot
//! write ([MS-MAIL], class 2), and the name query of the name service. Encoders and decoders of
//! the bytes only: every length read from the wire is checked against what is there, nothing
//! here panics on input from another machine, and the property tests of `proptests.rs` hold
//! them to that.
//!
//! A mailslot write, as Samba's `send_mailslot` and Windows build it:
//!
//! | bytes | field |
//! |---|---|
//! | 14 | datagram header (big-endian): type, flags, id, source IP, source port, length, offset |
//! | 34+ | source name: length 32, 16 bytes as 32 letters `'A' + nibble`, scope labels, 0 |
//! | 34+ | destination name, the same way |
//! | 32 | SMB header (`\xFFSMB`, command 0x25, the rest zero), little-endian from here on |
//! | 1 + 34 | word count 17 and the transaction words (data count and offset, setup 3: write, priority, class 2) |
//! | 2 | byte count |
//! | n + 1 | `\MAILSLOT\...` and a NUL |
//! | rest | the data, where DataOffset (from `\xFFSMB`) and DataCount say |

use std::net::Ipv4Addr;

/// The UDP port of the NetBIOS datagram service, where mailslot writes travel.
pub const DATAGRAM_PORT: u16 = 138;
/// The UDP port of the NetBIOS name service, where names are looked up.
pub const NAME_SERVICE_PORT: u16 = 137;
/// The most data a mailslot write to every slot of a name in a domain (`\\*\...`,
/// `\\domain\...`) carries, as Win32 enforces it.
pub const MAX_BROADCAST_MESSAGE: usize = 424;
/// The largest datagram pipework sends, header to data: RFC 1002's minimal IP datagram, and
/// what Samba reads at most (its receive buffer) and builds at most.
pub const MAX_DATAGRAM: usize = 576;
/// The most a received datagram may carry after its two names (Samba's parser refuses more).
pub(crate) const MAX_RECEIVED_BODY: usize = 576;

/// Datagram header flag: more fragments follow.
const FLAG_MORE: u8 = 0x01;
/// Datagram header flag: the first fragment (every whole datagram).
pub(crate) const FLAG_FIRST: u8 = 0x02;
/// What pipework sends: a whole datagram from a B node (broadcast node, node type 0).
pub(crate) const FLAGS_B_NODE: u8 = FLAG_FIRST;

/// The datagram header's fixed part.
const HEADER: usize = 14;
/// `\xFFSMB`.
const SMB_MAGIC: [u8; 4] = [0xFF, b'S', b'M', b'B'];
/// `SMB_COM_TRANSACTION`.
const SMB_COM_TRANSACTION: u8 = 0x25;
/// The SMB header, up to the word count.
const SMB_HEADER: usize = 32;
/// A mailslot write's parameter words: 14 transaction words and 3 setup words.
const WORD_COUNT: u8 = 17;
/// Offset of the byte count from `\xFFSMB`: header, word count, 17 words.
const BYTE_COUNT_AT: usize = SMB_HEADER + 1 + 2 * WORD_COUNT as usize;
/// Where the bytes (name, data) start.
const BYTES_AT: usize = BYTE_COUNT_AT + 2;
/// Setup word 1: the mailslot opcode of a write.
const MAILSLOT_WRITE: u16 = 1;
/// Setup word 3: second-class (datagram) delivery.
const CLASS_SECOND: u16 = 2;
/// The prefix every mailslot name carries on the wire.
pub(crate) const MAILSLOT_PREFIX: &[u8] = b"\\MAILSLOT\\";

/// The longest encoded name (RFC 1002: a domain name of at most 255 bytes).
const MAX_ENCODED_NAME: usize = 255;
/// The most compression pointers a decoder follows in one name.
const MAX_POINTERS: usize = 10;

/// Why bytes from the network are not a mailslot write (or a name packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The bytes end before what their lengths state.
    Truncated(&'static str),
    /// A datagram above the size a receiver takes.
    Oversized,
    /// The bytes say something impossible or inconsistent.
    Malformed(&'static str),
    /// A well-formed packet of another kind (a datagram error, another SMB command, a node
    /// status request...).
    Other(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated(why) => write!(f, "truncated: {why}"),
            DecodeError::Oversized => write!(f, "larger than a datagram may be"),
            DecodeError::Malformed(why) => write!(f, "malformed: {why}"),
            DecodeError::Other(why) => write!(f, "not for a mailslot: {why}"),
        }
    }
}

/// A NetBIOS name: 15 bytes of name, a suffix byte (its type: `<00>`, `<1d>`...) and a scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NbName {
    /// The 16 bytes before first-level encoding: the name padded, then the suffix.
    bytes: [u8; 16],
    /// The scope's labels, outermost last; empty for no scope.
    scope: Vec<Vec<u8>>,
}

/// Characters no NetBIOS name may hold (Windows refuses them in computer names).
const FORBIDDEN: &[u8] = b"\\/:*?\"<>|";

impl NbName {
    /// The name `name` with suffix `suffix` in scope `scope` (`""`: none; else dot-separated
    /// labels). The name is upper-cased; `*` alone is the wildcard, NUL-padded on the wire.
    pub(crate) fn new(name: &str, suffix: u8, scope: &str) -> Result<NbName, &'static str> {
        let upper = name.to_ascii_uppercase();
        let raw = upper.as_bytes();
        if raw.is_empty() {
            return Err("a NetBIOS name is never empty");
        }
        if raw.len() > 15 {
            return Err("a NetBIOS name holds at most 15 characters");
        }
        let pad = if raw == b"*" {
            0
        } else {
            if raw
                .iter()
                .any(|&b| !(0x21..0x7f).contains(&b) || FORBIDDEN.contains(&b))
            {
                return Err("a NetBIOS name holds printable ASCII without spaces or \\/:*?\"<>|");
            }
            b' '
        };
        let mut bytes = [pad; 16];
        bytes[..raw.len()].copy_from_slice(raw);
        bytes[15] = suffix;
        let name = NbName {
            bytes,
            scope: parse_scope(scope)?,
        };
        if name.encoded_len() > MAX_ENCODED_NAME {
            return Err("the scope makes the encoded name longer than 255 bytes");
        }
        Ok(name)
    }

    /// The suffix byte.
    pub(crate) fn suffix(&self) -> u8 {
        self.bytes[15]
    }

    /// The name without its padding (trailing spaces, or NULs after `*`).
    pub(crate) fn name(&self) -> &[u8] {
        let name = &self.bytes[..15];
        let pad = if name[0] == b'*' { 0 } else { b' ' };
        let end = name.iter().rposition(|&b| b != pad).map_or(0, |p| p + 1);
        &name[..end]
    }

    /// Whether `other` is this name: the same name (ASCII case ignored), suffix and scope.
    pub(crate) fn same(&self, other: &NbName) -> bool {
        self.suffix() == other.suffix()
            && self.name().eq_ignore_ascii_case(other.name())
            && self.scope.len() == other.scope.len()
            && self
                .scope
                .iter()
                .zip(&other.scope)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// Its length on the wire.
    pub(crate) fn encoded_len(&self) -> usize {
        1 + 32 + self.scope.iter().map(|l| 1 + l.len()).sum::<usize>() + 1
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(32);
        for &b in &self.bytes {
            out.push(b'A' + (b >> 4));
            out.push(b'A' + (b & 0x0f));
        }
        for label in &self.scope {
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
    }
}

impl std::fmt::Display for NbName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}<{:02x}>",
            String::from_utf8_lossy(self.name()),
            self.suffix()
        )?;
        for label in &self.scope {
            write!(f, ".{}", String::from_utf8_lossy(label))?;
        }
        Ok(())
    }
}

fn parse_scope(scope: &str) -> Result<Vec<Vec<u8>>, &'static str> {
    if scope.is_empty() {
        return Ok(Vec::new());
    }
    scope
        .split('.')
        .map(|label| {
            if label.is_empty() || label.len() > 63 {
                Err("a scope label holds 1 to 63 characters")
            } else if !label.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                Err("a scope holds printable ASCII")
            } else {
                Ok(label.as_bytes().to_vec())
            }
        })
        .collect()
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

/// Reads the name at `at`: returns it and where the bytes after it start. Compression pointers
/// (which the name service allows) are followed backwards only, at most [`MAX_POINTERS`].
fn read_name(buf: &[u8], at: usize) -> Result<(NbName, usize), DecodeError> {
    const CUT: DecodeError = DecodeError::Truncated("a name runs past the end");
    let mut pos = at;
    let mut after: Option<usize> = None;
    let mut pointers = 0;
    let mut total = 0usize;
    let mut first: Option<[u8; 16]> = None;
    let mut scope = Vec::new();
    loop {
        let len = *buf.get(pos).ok_or(CUT)?;
        match len & 0xC0 {
            0xC0 => {
                let low = *buf.get(pos + 1).ok_or(CUT)?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if target >= pos {
                    return Err(DecodeError::Malformed(
                        "a name pointer that does not point back",
                    ));
                }
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return Err(DecodeError::Malformed("a name of too many pointers"));
                }
                after.get_or_insert(pos + 2);
                pos = target;
                continue;
            }
            0x00 => {}
            _ => return Err(DecodeError::Malformed("a name label of a reserved kind")),
        }
        let len = usize::from(len);
        total += 1 + len;
        if total > MAX_ENCODED_NAME {
            return Err(DecodeError::Malformed("a name longer than 255 bytes"));
        }
        if len == 0 {
            let Some(bytes) = first else {
                return Err(DecodeError::Malformed("an empty NetBIOS name"));
            };
            let next = after.unwrap_or(pos + 1);
            return Ok((NbName { bytes, scope }, next));
        }
        let label = buf.get(pos + 1..pos + 1 + len).ok_or(CUT)?;
        if first.is_none() {
            if len != 32 {
                return Err(DecodeError::Malformed(
                    "a NetBIOS name is 32 letters in first-level encoding",
                ));
            }
            let mut bytes = [0u8; 16];
            for (i, pair) in label.chunks_exact(2).enumerate() {
                let (hi, lo) = (pair[0].wrapping_sub(b'A'), pair[1].wrapping_sub(b'A'));
                if hi > 15 || lo > 15 {
                    return Err(DecodeError::Malformed(
                        "a NetBIOS name letter outside A to P",
                    ));
                }
                bytes[i] = (hi << 4) | lo;
            }
            first = Some(bytes);
        } else {
            scope.push(label.to_vec());
        }
        pos += 1 + len;
    }
}

/// Which datagram service packet carries a mailslot write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DatagramKind {
    /// 0x10: to a unique name, one machine.
    DirectUnique,
    /// 0x11: to a group name, every member (sent to the subnet's broadcast address).
    DirectGroup,
    /// 0x12: to every node.
    Broadcast,
}

impl DatagramKind {
    fn code(self) -> u8 {
        match self {
            DatagramKind::DirectUnique => 0x10,
            DatagramKind::DirectGroup => 0x11,
            DatagramKind::Broadcast => 0x12,
        }
    }
}

/// A mailslot write in a NetBIOS datagram: what [`encode_mailslot`] writes and
/// [`decode_mailslot`] reads, the data borrowed from the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MailslotDatagram<'a> {
    pub(crate) kind: DatagramKind,
    /// Header flags: `FIRST` and the node type (pipework sends [`FLAGS_B_NODE`]).
    pub(crate) flags: u8,
    pub(crate) id: u16,
    pub(crate) source_ip: Ipv4Addr,
    pub(crate) source_port: u16,
    pub(crate) source: NbName,
    pub(crate) destination: NbName,
    /// The mailslot's name as sent, `\MAILSLOT\...`, without its NUL.
    pub(crate) mailslot: &'a [u8],
    pub(crate) data: &'a [u8],
}

impl MailslotDatagram<'_> {
    /// The slot's path after `\MAILSLOT\` (as UTF-8), or `None` if the name is not one.
    pub(crate) fn slot_path(&self) -> Option<&str> {
        let prefix = self.mailslot.get(..MAILSLOT_PREFIX.len())?;
        if !prefix.eq_ignore_ascii_case(MAILSLOT_PREFIX) {
            return None;
        }
        std::str::from_utf8(&self.mailslot[MAILSLOT_PREFIX.len()..]).ok()
    }
}

/// The bytes a datagram spends around its data: header, names, SMB part, mailslot name.
pub(crate) fn overhead(source: &NbName, destination: &NbName, mailslot_len: usize) -> usize {
    HEADER + source.encoded_len() + destination.encoded_len() + BYTES_AT + mailslot_len + 1
}

/// The most data a mailslot write of `kind` between these names may carry: what keeps the
/// datagram within [`MAX_DATAGRAM`], and for group and broadcast datagrams within
/// [`MAX_BROADCAST_MESSAGE`].
pub(crate) fn max_data(
    kind: DatagramKind,
    source: &NbName,
    destination: &NbName,
    mailslot_len: usize,
) -> usize {
    let room = MAX_DATAGRAM.saturating_sub(overhead(source, destination, mailslot_len));
    match kind {
        DatagramKind::DirectUnique => room,
        _ => room.min(MAX_BROADCAST_MESSAGE),
    }
}

/// Encodes a mailslot write the way Samba does: the SMB header zero but for its command, the
/// data right after the name's NUL. `None` when it exceeds [`max_data`] (or the name holds a
/// NUL), so that nothing larger than a receiver takes ever leaves.
pub(crate) fn encode_mailslot(d: &MailslotDatagram<'_>) -> Option<Vec<u8>> {
    let total = overhead(&d.source, &d.destination, d.mailslot.len()) + d.data.len();
    if d.data.len() > max_data(d.kind, &d.source, &d.destination, d.mailslot.len())
        || total > MAX_DATAGRAM
        || d.mailslot.contains(&0)
    {
        return None;
    }
    let mut out = Vec::with_capacity(total);
    out.push(d.kind.code());
    out.push(d.flags);
    out.extend_from_slice(&d.id.to_be_bytes());
    out.extend_from_slice(&d.source_ip.octets());
    out.extend_from_slice(&d.source_port.to_be_bytes());
    out.extend_from_slice(&((total - HEADER) as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // packet offset: a whole datagram
    d.source.encode_into(&mut out);
    d.destination.encode_into(&mut out);
    let smb = out.len();
    out.extend_from_slice(&SMB_MAGIC);
    out.push(SMB_COM_TRANSACTION);
    out.resize(smb + SMB_HEADER, 0);
    out.push(WORD_COUNT);
    let len = d.data.len() as u16;
    let data_offset = (BYTES_AT + d.mailslot.len() + 1) as u16;
    let words: [u16; 17] = [
        0,           // total parameter count
        len,         // total data count
        0,           // max parameter count
        0,           // max data count
        0,           // max setup count, reserved
        0,           // flags
        0,           // timeout (two words)
        0,           //
        0,           // reserved
        0,           // parameter count
        0,           // parameter offset
        len,         // data count
        data_offset, // data offset, from \xFFSMB
        3,           // setup count 3, reserved
        MAILSLOT_WRITE,
        1,            // priority
        CLASS_SECOND, // class
    ];
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    let byte_count = (d.mailslot.len() + 1 + d.data.len()) as u16;
    out.extend_from_slice(&byte_count.to_le_bytes());
    out.extend_from_slice(d.mailslot);
    out.push(0);
    out.extend_from_slice(d.data);
    debug_assert_eq!(out.len(), total);
    Some(out)
}

/// Decodes a datagram service packet that carries a mailslot write. Everything is checked:
/// the header's length against the bytes, both names, the SMB header, the word and byte counts,
/// the name's NUL, and that the data DataOffset and DataCount point to lies inside the byte
/// area. Bytes past the length the header states are ignored.
pub(crate) fn decode_mailslot(bytes: &[u8]) -> Result<MailslotDatagram<'_>, DecodeError> {
    let kind = match bytes.first() {
        None => return Err(DecodeError::Truncated("an empty datagram")),
        Some(0x10) => DatagramKind::DirectUnique,
        Some(0x11) => DatagramKind::DirectGroup,
        Some(0x12) => DatagramKind::Broadcast,
        // Error datagrams (11 bytes) and name queries are shorter than a message's header.
        Some(0x13..=0x16) => return Err(DecodeError::Other("a datagram error or name query")),
        Some(_) => return Err(DecodeError::Malformed("an unknown datagram type")),
    };
    if bytes.len() < HEADER {
        return Err(DecodeError::Truncated("shorter than a datagram header"));
    }
    let flags = bytes[1];
    let packet_offset = be16(bytes, 12).unwrap_or(0);
    if flags & FLAG_MORE != 0 || flags & FLAG_FIRST == 0 || packet_offset != 0 {
        return Err(DecodeError::Malformed(
            "a fragment (fragments are not reassembled)",
        ));
    }
    let id = be16(bytes, 2).unwrap_or(0);
    let source_ip = Ipv4Addr::from(be32(bytes, 4).unwrap_or(0));
    let source_port = be16(bytes, 8).unwrap_or(0);
    let length = usize::from(be16(bytes, 10).unwrap_or(0));
    let bytes = bytes
        .get(..HEADER + length)
        .ok_or(DecodeError::Truncated("shorter than its header's length"))?;
    let (source, at) = read_name(bytes, HEADER)?;
    let (destination, at) = read_name(bytes, at)?;
    let smb = &bytes[at..];
    if smb.len() > MAX_RECEIVED_BODY {
        return Err(DecodeError::Oversized);
    }
    let (mailslot, data) = decode_smb(smb)?;
    Ok(MailslotDatagram {
        kind,
        flags,
        id,
        source_ip,
        source_port,
        source,
        destination,
        mailslot,
        data,
    })
}

/// The SMB part of a mailslot write: its name (without NUL) and data.
fn decode_smb(smb: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    const CUT: DecodeError = DecodeError::Truncated("the SMB message ends early");
    if smb.get(..4).ok_or(CUT)? != SMB_MAGIC {
        return Err(DecodeError::Other("not an SMB message"));
    }
    if *smb.get(4).ok_or(CUT)? != SMB_COM_TRANSACTION {
        return Err(DecodeError::Other(
            "an SMB command other than a transaction",
        ));
    }
    if *smb.get(SMB_HEADER).ok_or(CUT)? != WORD_COUNT {
        return Err(DecodeError::Malformed(
            "a mailslot write has 17 parameter words",
        ));
    }
    let byte_count = usize::from(le16(smb, BYTE_COUNT_AT).ok_or(CUT)?);
    let word = |n: usize| le16(smb, SMB_HEADER + 1 + 2 * n).unwrap_or(0);
    let (total_data, data_count, data_offset) = (word(1), word(11), word(12));
    let setup_count = smb[SMB_HEADER + 1 + 2 * 13];
    if setup_count != 3 {
        return Err(DecodeError::Malformed("a mailslot write has 3 setup words"));
    }
    if word(14) != MAILSLOT_WRITE {
        return Err(DecodeError::Other(
            "a mailslot operation other than a write",
        ));
    }
    let bytes_end = BYTES_AT + byte_count;
    let area = smb
        .get(BYTES_AT..bytes_end)
        .ok_or(DecodeError::Truncated("the byte count runs past the end"))?;
    let nul = area
        .iter()
        .position(|&b| b == 0)
        .ok_or(DecodeError::Malformed("a mailslot name without its NUL"))?;
    let mailslot = &area[..nul];
    let prefix_ok = mailslot
        .get(..MAILSLOT_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(MAILSLOT_PREFIX));
    if !prefix_ok {
        return Err(DecodeError::Other(
            "a transaction not on a \\MAILSLOT\\ name",
        ));
    }
    let (data_offset, data_count) = (usize::from(data_offset), usize::from(data_count));
    let data_end = data_offset + data_count;
    if data_end > smb.len() {
        return Err(DecodeError::Truncated("the data runs past the end"));
    }
    if data_offset < BYTES_AT + nul + 1 || data_end > bytes_end {
        return Err(DecodeError::Malformed(
            "the data lies outside the byte area after the name",
        ));
    }
    if usize::from(total_data) < data_count {
        return Err(DecodeError::Malformed(
            "more data in the datagram than in the transaction",
        ));
    }
    Ok((mailslot, &smb[data_offset..data_end]))
}

// --- The name service: name query requests and responses (RFC 1002 4.2.12, 4.2.13). ---

/// Name service header flag bits (the 16-bit word after the transaction id).
const NS_RESPONSE: u16 = 0x8000;
const NS_OPCODE_MASK: u16 = 0x7800;
const NS_AUTHORITATIVE: u16 = 0x0400;
const NS_RECURSION_DESIRED: u16 = 0x0100;
const NS_BROADCAST: u16 = 0x0010;
const NS_RCODE_MASK: u16 = 0x000F;
/// Question and record type NB (a name's addresses) and NBSTAT (a node's status).
const TYPE_NB: u16 = 0x0020;
const TYPE_NBSTAT: u16 = 0x0021;
const CLASS_IN: u16 = 0x0001;

/// A name query request: where is `name`?
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameQuery {
    pub(crate) id: u16,
    pub(crate) name: NbName,
    /// Sent to a broadcast address (the B bit).
    pub(crate) broadcast: bool,
}

/// A name query response: `name` is at `addresses` (each with its NB flags: group bit and
/// node type), or, with a non-zero `rcode`, is not known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameQueryResponse {
    pub(crate) id: u16,
    pub(crate) name: NbName,
    pub(crate) rcode: u8,
    pub(crate) ttl: u32,
    pub(crate) addresses: Vec<(u16, Ipv4Addr)>,
}

/// A decoded name service packet of the kinds a mailslot listener answers or awaits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NamePacket {
    Query(NameQuery),
    Response(NameQueryResponse),
}

/// Encodes a name query request, as Samba's `name_query` sends it (recursion desired, the B
/// bit for a broadcast).
pub(crate) fn encode_name_query(q: &NameQuery) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + q.name.encoded_len() + 4);
    out.extend_from_slice(&q.id.to_be_bytes());
    let mut flags = NS_RECURSION_DESIRED;
    if q.broadcast {
        flags |= NS_BROADCAST;
    }
    out.extend_from_slice(&flags.to_be_bytes());
    for count in [1u16, 0, 0, 0] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    q.name.encode_into(&mut out);
    out.extend_from_slice(&TYPE_NB.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// Encodes a name query response (authoritative, one NB record, `None` if it would not fit the
/// record's 16-bit length).
pub(crate) fn encode_name_query_response(r: &NameQueryResponse) -> Option<Vec<u8>> {
    let rdlength = u16::try_from(6 * r.addresses.len()).ok()?;
    let mut out = Vec::with_capacity(12 + r.name.encoded_len() + 10 + usize::from(rdlength));
    out.extend_from_slice(&r.id.to_be_bytes());
    let flags = NS_RESPONSE
        | NS_AUTHORITATIVE
        | NS_RECURSION_DESIRED
        | (u16::from(r.rcode) & NS_RCODE_MASK);
    out.extend_from_slice(&flags.to_be_bytes());
    for count in [0u16, 1, 0, 0] {
        out.extend_from_slice(&count.to_be_bytes());
    }
    r.name.encode_into(&mut out);
    out.extend_from_slice(&TYPE_NB.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&r.ttl.to_be_bytes());
    out.extend_from_slice(&rdlength.to_be_bytes());
    for (flags, ip) in &r.addresses {
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

/// Decodes a name query request or response; anything else of the name service (registrations,
/// releases, node status) is [`DecodeError::Other`].
pub(crate) fn decode_name_packet(bytes: &[u8]) -> Result<NamePacket, DecodeError> {
    const CUT: DecodeError = DecodeError::Truncated("a name service packet ends early");
    if bytes.len() > MAX_DATAGRAM {
        return Err(DecodeError::Oversized);
    }
    let id = be16(bytes, 0).ok_or(CUT)?;
    let flags = be16(bytes, 2).ok_or(CUT)?;
    let qdcount = be16(bytes, 4).ok_or(CUT)?;
    let ancount = be16(bytes, 6).ok_or(CUT)?;
    be16(bytes, 10).ok_or(CUT)?;
    if flags & NS_OPCODE_MASK != 0 {
        return Err(DecodeError::Other(
            "a name service operation other than a query",
        ));
    }
    if flags & NS_RESPONSE == 0 {
        if qdcount != 1 {
            return Err(DecodeError::Malformed("a name query asks one question"));
        }
        let (name, at) = read_name(bytes, 12)?;
        let qtype = be16(bytes, at).ok_or(CUT)?;
        let qclass = be16(bytes, at + 2).ok_or(CUT)?;
        if qclass != CLASS_IN {
            return Err(DecodeError::Malformed(
                "a question of a class other than IN",
            ));
        }
        return match qtype {
            TYPE_NB => Ok(NamePacket::Query(NameQuery {
                id,
                name,
                broadcast: flags & NS_BROADCAST != 0,
            })),
            TYPE_NBSTAT => Err(DecodeError::Other("a node status request")),
            _ => Err(DecodeError::Malformed("a question of an unknown type")),
        };
    }
    let rcode = (flags & NS_RCODE_MASK) as u8;
    // A response repeats no question; skip any that is there.
    let mut at = 12;
    for _ in 0..qdcount.min(1) {
        let (_, next) = read_name(bytes, at)?;
        at = next
            .checked_add(4)
            .filter(|&n| n <= bytes.len())
            .ok_or(CUT)?;
    }
    if ancount == 0 {
        return Err(DecodeError::Malformed(
            "a name query response without an answer",
        ));
    }
    let (name, at) = read_name(bytes, at)?;
    let rtype = be16(bytes, at).ok_or(CUT)?;
    let rclass = be16(bytes, at + 2).ok_or(CUT)?;
    let ttl = be32(bytes, at + 4).ok_or(CUT)?;
    let rdlength = usize::from(be16(bytes, at + 8).ok_or(CUT)?);
    if rtype != TYPE_NB || rclass != CLASS_IN {
        return Err(DecodeError::Other("an answer that is not an NB record"));
    }
    let rdata = bytes
        .get(at + 10..at + 10 + rdlength)
        .ok_or(DecodeError::Truncated("an answer's data runs past the end"))?;
    if rdlength % 6 != 0 {
        return Err(DecodeError::Malformed("NB records are 6 bytes each"));
    }
    let addresses = rdata
        .chunks_exact(6)
        .map(|e| {
            (
                u16::from_be_bytes([e[0], e[1]]),
                Ipv4Addr::new(e[2], e[3], e[4], e[5]),
            )
        })
        .collect();
    Ok(NamePacket::Response(NameQueryResponse {
        id,
        name,
        rcode,
        ttl,
        addresses,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str, suffix: u8) -> NbName {
        NbName::new(n, suffix, "").unwrap()
    }

    #[test]
    fn first_level_encoding() {
        // RFC 1001 14.1: "FRED" with a space suffix... here with suffix 0x00.
        let mut out = Vec::new();
        name("fred", 0).encode_into(&mut out);
        assert_eq!(out[0], 32);
        assert_eq!(&out[1..9], b"EGFCEFEE");
        assert_eq!(&out[9..31], b"CACACACACACACACACACACA");
        assert_eq!(&out[31..33], b"AA");
        assert_eq!(out[33], 0);
        // The wildcard is NUL-padded.
        let mut out = Vec::new();
        name("*", 0).encode_into(&mut out);
        assert_eq!(&out[1..33], b"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        // A scope: labels, then 0.
        let scoped = NbName::new("x", 0x20, "corp.example").unwrap();
        let mut out = Vec::new();
        scoped.encode_into(&mut out);
        assert_eq!(&out[33..], b"\x04corp\x07example\x00");
        assert_eq!(read_name(&out, 0).unwrap(), (scoped, out.len()));
    }

    #[test]
    fn names_refused() {
        for bad in ["", "sixteen-letters!", "a b", "a*", "tab\t", "é"] {
            assert!(NbName::new(bad, 0, "").is_err(), "{bad:?}");
        }
        assert!(NbName::new("x", 0, "a..b").is_err());
        assert!(NbName::new("x", 0, &"l".repeat(64)).is_err());
        let long_scope = vec!["l".repeat(63); 4].join(".");
        assert!(NbName::new("x", 0, &long_scope).is_err());
    }

    #[test]
    fn samba_layout() {
        let d = MailslotDatagram {
            kind: DatagramKind::DirectGroup,
            flags: FLAGS_B_NODE,
            id: 7,
            source_ip: Ipv4Addr::new(10, 0, 0, 1),
            source_port: 138,
            source: name("pw", 0),
            destination: name("workgroup", 0x1d),
            mailslot: b"\\MAILSLOT\\BROWSE",
            data: b"\x09\x04\x01\x00\x00\x00",
        };
        let bytes = encode_mailslot(&d).unwrap();
        let smb = 14 + 34 + 34;
        assert_eq!(&bytes[smb..smb + 5], b"\xffSMB\x25");
        // DataOffset as Samba writes it: 70 + strlen(mailslot).
        assert_eq!(le16(&bytes, smb + 57), Some(70 + 16));
        assert_eq!(bytes.len(), overhead(&d.source, &d.destination, 16) + 6);
        assert_eq!(decode_mailslot(&bytes).unwrap(), d);
        assert_eq!(decode_mailslot(&bytes).unwrap().slot_path(), Some("BROWSE"));
    }

    #[test]
    fn data_is_taken_where_the_offset_says() {
        let d = MailslotDatagram {
            kind: DatagramKind::DirectUnique,
            flags: FLAGS_B_NODE,
            id: 1,
            source_ip: Ipv4Addr::LOCALHOST,
            source_port: 138,
            source: name("a", 0),
            destination: name("b", 0),
            mailslot: b"\\MAILSLOT\\X",
            data: b"data",
        };
        let mut bytes = encode_mailslot(&d).unwrap();
        let smb = 14 + 34 + 34;
        // Four bytes of padding after the name, the offset moved past them, as Windows may.
        let at = smb + BYTES_AT + 12;
        bytes.splice(at..at, [0xEE; 4]);
        let off = le16(&bytes, smb + 57).unwrap() + 4;
        bytes[smb + 57..smb + 59].copy_from_slice(&off.to_le_bytes());
        let bc = le16(&bytes, smb + BYTE_COUNT_AT).unwrap() + 4;
        bytes[smb + BYTE_COUNT_AT..smb + BYTE_COUNT_AT + 2].copy_from_slice(&bc.to_le_bytes());
        let len = be16(&bytes, 10).unwrap() + 4;
        bytes[10..12].copy_from_slice(&len.to_be_bytes());
        assert_eq!(decode_mailslot(&bytes).unwrap().data, b"data");
        // An offset into the name: refused.
        bytes[smb + 57..smb + 59].copy_from_slice(&(BYTES_AT as u16).to_le_bytes());
        assert!(matches!(
            decode_mailslot(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn size_rules() {
        let source = name("pw", 0);
        let group = name("workgroup", 0);
        let mailslot = b"\\MAILSLOT\\X";
        // 576 - 14 - 34 - 34 - 69 - 12 = 413 for a direct write; a group write the same here.
        let direct = max_data(DatagramKind::DirectUnique, &source, &group, mailslot.len());
        assert_eq!(direct, 576 - 14 - 34 - 34 - 69 - 12);
        let d = MailslotDatagram {
            kind: DatagramKind::DirectUnique,
            flags: FLAGS_B_NODE,
            id: 1,
            source_ip: Ipv4Addr::LOCALHOST,
            source_port: 138,
            source: source.clone(),
            destination: group.clone(),
            mailslot,
            data: &vec![0; direct],
        };
        assert_eq!(encode_mailslot(&d).unwrap().len(), MAX_DATAGRAM);
        let over = vec![0; direct + 1];
        assert!(encode_mailslot(&MailslotDatagram {
            data: &over,
            ..d.clone()
        })
        .is_none());
        // A long scope leaves less; the broadcast cap applies to groups alone.
        let wide = NbName::new("pw", 0, &vec!["s".repeat(40); 2].join(".")).unwrap();
        assert!(max_data(DatagramKind::DirectGroup, &wide, &wide, 11) < MAX_BROADCAST_MESSAGE);
        let tiny = NbName::new("a", 0, "").unwrap();
        assert!(max_data(DatagramKind::DirectGroup, &tiny, &tiny, 0) <= MAX_BROADCAST_MESSAGE);
    }

    #[test]
    fn name_query_round_trip_and_pointers() {
        let q = NameQuery {
            id: 0x1234,
            name: name("host", 0),
            broadcast: true,
        };
        let bytes = encode_name_query(&q);
        assert_eq!(&bytes[2..4], &[0x01, 0x10]);
        assert_eq!(
            decode_name_packet(&bytes).unwrap(),
            NamePacket::Query(q.clone())
        );
        let r = NameQueryResponse {
            id: 0x1234,
            name: q.name.clone(),
            rcode: 0,
            ttl: 300,
            addresses: vec![(0, Ipv4Addr::new(10, 77, 0, 1))],
        };
        let mut bytes = encode_name_query_response(&r).unwrap();
        assert_eq!(
            decode_name_packet(&bytes).unwrap(),
            NamePacket::Response(r.clone())
        );
        // The answer's name as a pointer to a question's copy of it.
        let question_len = 34 + 4;
        let mut with_question = bytes[..12].to_vec();
        with_question[4..6].copy_from_slice(&1u16.to_be_bytes());
        let mut qname = Vec::new();
        r.name.encode_into(&mut qname);
        with_question.extend_from_slice(&qname);
        with_question.extend_from_slice(&[0, 0x20, 0, 1]);
        with_question.extend_from_slice(&[0xC0, 12]);
        with_question.extend_from_slice(&bytes[12 + 34..]);
        assert_eq!(with_question.len(), bytes.len() + question_len + 2 - 34);
        assert_eq!(
            decode_name_packet(&with_question).unwrap(),
            NamePacket::Response(r)
        );
        // A pointer to itself: refused.
        bytes[12] = 0xC0;
        bytes[13] = 12;
        assert!(matches!(
            decode_name_packet(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }
}
