//! SMB2 messages a pipe client sends and the replies it reads (MS-SMB2 section 2.2), I/O-free.
//!
//! Requests are built whole; replies are read from a received message by offsets checked
//! against the message's own length. Nothing is allocated at a size a reply announces: a
//! buffer in a reply is a slice of the message, which the transport received under its own cap.

/// A reply this client cannot read: too short, or an offset or length pointing outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed SMB2 reply: {}", self.0)
    }
}

/// The SMB2 header's length.
pub(crate) const HEADER: usize = 64;

/// Commands.
pub(crate) const NEGOTIATE: u16 = 0;
pub(crate) const SESSION_SETUP: u16 = 1;
pub(crate) const LOGOFF: u16 = 2;
pub(crate) const TREE_CONNECT: u16 = 3;
pub(crate) const CREATE: u16 = 5;
pub(crate) const CLOSE: u16 = 6;
pub(crate) const READ: u16 = 8;
pub(crate) const WRITE: u16 = 9;
pub(crate) const IOCTL: u16 = 0x0b;
pub(crate) const QUERY_INFO: u16 = 0x10;

/// Header flags.
pub(crate) const FLAG_RESPONSE: u32 = 0x1;
pub(crate) const FLAG_ASYNC: u32 = 0x2;
pub(crate) const FLAG_SIGNED: u32 = 0x8;

/// Dialects offered, oldest first.
pub(crate) const DIALECTS: [u16; 5] = [0x0202, 0x0210, 0x0300, 0x0302, SMB311];
/// SMB 3.1.1, whose NEGOTIATE carries negotiate contexts and whose keys come from the
/// pre-authentication integrity hash.
pub(crate) const SMB311: u16 = 0x0311;

/// NTSTATUS values this client tells apart.
pub(crate) mod status {
    pub(crate) const SUCCESS: u32 = 0;
    pub(crate) const PENDING: u32 = 0x0000_0103;
    pub(crate) const BUFFER_OVERFLOW: u32 = 0x8000_0005;
    pub(crate) const MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
    pub(crate) const NO_SUCH_FILE: u32 = 0xC000_000F;
    pub(crate) const INVALID_DEVICE_REQUEST: u32 = 0xC000_0010;
    pub(crate) const END_OF_FILE: u32 = 0xC000_0011;
    pub(crate) const ACCESS_DENIED: u32 = 0xC000_0022;
    pub(crate) const OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
    pub(crate) const OBJECT_PATH_NOT_FOUND: u32 = 0xC000_003A;
    pub(crate) const LOGON_FAILURE: u32 = 0xC000_006D;
    pub(crate) const ACCOUNT_RESTRICTION: u32 = 0xC000_006E;
    pub(crate) const ACCOUNT_DISABLED: u32 = 0xC000_0072;
    pub(crate) const INSTANCE_NOT_AVAILABLE: u32 = 0xC000_00AB;
    pub(crate) const PIPE_NOT_AVAILABLE: u32 = 0xC000_00AC;
    pub(crate) const INVALID_PIPE_STATE: u32 = 0xC000_00AD;
    pub(crate) const PIPE_BUSY: u32 = 0xC000_00AE;
    pub(crate) const PIPE_DISCONNECTED: u32 = 0xC000_00B0;
    pub(crate) const PIPE_CLOSING: u32 = 0xC000_00B1;
    pub(crate) const IO_TIMEOUT: u32 = 0xC000_00B5;
    pub(crate) const NOT_SUPPORTED: u32 = 0xC000_00BB;
    pub(crate) const BAD_NETWORK_NAME: u32 = 0xC000_00CC;
    pub(crate) const PIPE_EMPTY: u32 = 0xC000_00D9;
    pub(crate) const PIPE_BROKEN: u32 = 0xC000_014B;
    pub(crate) const CONNECTION_DISCONNECTED: u32 = 0xC000_020C;
    /// smbd's answer when the pipe server's end reset under it (it closed with data unread).
    pub(crate) const CONNECTION_RESET: u32 = 0xC000_020D;
    pub(crate) const USER_SESSION_DELETED: u32 = 0xC000_0203;
    pub(crate) const NOT_FOUND: u32 = 0xC000_0225;
    pub(crate) const FS_DRIVER_REQUIRED: u32 = 0xC000_019C;
}

/// `FSCTL_PIPE_*` codes.
pub(crate) const FSCTL_PIPE_PEEK: u32 = 0x0011_400C;
pub(crate) const FSCTL_PIPE_WAIT: u32 = 0x0011_0018;
pub(crate) const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;

/// The file id of no file (FSCTL_PIPE_WAIT goes to the share, not to an open).
pub(crate) const NO_FILE: [u8; 16] = [0xff; 16];

/// The fixed parts of a request's header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    pub(crate) command: u16,
    pub(crate) credit_charge: u16,
    pub(crate) credit_request: u16,
    pub(crate) message_id: u64,
    pub(crate) tree_id: u32,
    pub(crate) session_id: u64,
}

/// A request: header then `body` (the body's fixed part and buffer, as the command lays it).
pub(crate) fn request(head: &Head, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER + body.len());
    m.extend_from_slice(b"\xfeSMB");
    m.extend_from_slice(&64u16.to_le_bytes());
    m.extend_from_slice(&head.credit_charge.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes()); // channel sequence
    m.extend_from_slice(&head.command.to_le_bytes());
    m.extend_from_slice(&head.credit_request.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes()); // flags (SIGNED set by the signer)
    m.extend_from_slice(&0u32.to_le_bytes()); // next command
    m.extend_from_slice(&head.message_id.to_le_bytes());
    m.extend_from_slice(&0xfeffu32.to_le_bytes()); // process id (reserved)
    m.extend_from_slice(&head.tree_id.to_le_bytes());
    m.extend_from_slice(&head.session_id.to_le_bytes());
    m.extend_from_slice(&[0u8; 16]);
    m.extend_from_slice(body);
    m
}

/// A reply's header, read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u32,
    pub(crate) command: u16,
    pub(crate) credits: u16,
    pub(crate) flags: u32,
    pub(crate) message_id: u64,
    pub(crate) tree_id: u32,
    pub(crate) session_id: u64,
}

fn u16_at(m: &[u8], at: usize) -> Result<u16, Malformed> {
    m.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(Malformed("too short"))
}

fn u32_at(m: &[u8], at: usize) -> Result<u32, Malformed> {
    m.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(Malformed("too short"))
}

fn u64_at(m: &[u8], at: usize) -> Result<u64, Malformed> {
    m.get(at..at + 8)
        .map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
        .ok_or(Malformed("too short"))
}

/// Reads the header of the reply `m` (a whole SMB2 message, header first). A compound reply
/// (`NextCommand` set) is refused: this client never sends compound requests.
pub(crate) fn reply(m: &[u8]) -> Result<Reply, Malformed> {
    if m.len() < HEADER || &m[..4] != b"\xfeSMB" {
        return Err(Malformed("not an SMB2 message"));
    }
    if u16_at(m, 4)? != 64 {
        return Err(Malformed("header size"));
    }
    let flags = u32_at(m, 16)?;
    if flags & FLAG_RESPONSE == 0 {
        return Err(Malformed("a request where a reply was expected"));
    }
    if u32_at(m, 20)? != 0 {
        return Err(Malformed("a compound reply"));
    }
    Ok(Reply {
        status: u32_at(m, 8)?,
        command: u16_at(m, 12)?,
        credits: u16_at(m, 14)?,
        flags,
        message_id: u64_at(m, 24)?,
        tree_id: if flags & FLAG_ASYNC != 0 {
            0
        } else {
            u32_at(m, 36)?
        },
        session_id: u64_at(m, 40)?,
    })
}

/// The body of `m` after the header, whose structure size must be `size` (its low bit is the
/// variable buffer's: a body may be one byte shorter than it says), at least `size & !1` long.
fn body(m: &[u8], size: u16) -> Result<&[u8], Malformed> {
    let b = &m[HEADER.min(m.len())..];
    if u16_at(b, 0)? != size {
        return Err(Malformed("unexpected structure size"));
    }
    if b.len() < usize::from(size & !1) {
        return Err(Malformed("body too short"));
    }
    Ok(b)
}

/// The `len` bytes at `offset` (from the header's start) of `m`; an empty buffer may have any
/// offset.
fn buffer(m: &[u8], offset: usize, len: usize) -> Result<&[u8], Malformed> {
    if len == 0 {
        return Ok(&[]);
    }
    if offset < HEADER {
        return Err(Malformed("a buffer inside the header"));
    }
    let end = offset
        .checked_add(len)
        .ok_or(Malformed("buffer out of bounds"))?;
    m.get(offset..end).ok_or(Malformed("buffer out of bounds"))
}

/// NEGOTIATE request: the dialects of [`DIALECTS`], signing enabled (`required` too when the
/// caller insists), and for 3.1.1 one negotiate context: pre-authentication integrity with
/// SHA-512 and `salt`.
pub(crate) fn negotiate(guid: &[u8; 16], signing_required: bool, salt: &[u8; 32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(36 + 2 * DIALECTS.len() + 48);
    b.extend_from_slice(&36u16.to_le_bytes());
    b.extend_from_slice(&(DIALECTS.len() as u16).to_le_bytes());
    let mode: u16 = if signing_required { 3 } else { 1 };
    b.extend_from_slice(&mode.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // capabilities: none asked
    b.extend_from_slice(guid);
    // NegotiateContextOffset (from the header's start, 8-byte aligned), count, reserved.
    let contexts = (HEADER + 36 + 2 * DIALECTS.len()).next_multiple_of(8);
    b.extend_from_slice(&(contexts as u32).to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    for d in DIALECTS {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b.resize(contexts - HEADER, 0);
    // SMB2_PREAUTH_INTEGRITY_CAPABILITIES: one algorithm (SHA-512), a 32-byte salt.
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&(4u16 + 2 + 32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(salt);
    b
}

/// Whether a 3.1.1 NEGOTIATE reply chose SHA-512 for pre-authentication integrity: its
/// negotiate contexts are walked with every offset and length checked.
pub(crate) fn preauth_sha512(m: &[u8]) -> Result<bool, Malformed> {
    let b = body(m, 65)?;
    let count = usize::from(u16_at(b, 6)?);
    let mut at = u32_at(b, 60)? as usize;
    for _ in 0..count {
        at = at.next_multiple_of(8);
        let kind = u16_at(m, at)?;
        let len = usize::from(u16_at(m, at + 2)?);
        let data = buffer(m, at + 8, len)?;
        if kind == 1 {
            // HashAlgorithmCount, SaltLength, the algorithms.
            return Ok(u16_at(data, 0)? == 1 && u16_at(data, 4)? == 1);
        }
        at = at + 8 + len;
    }
    Ok(false)
}

/// What NEGOTIATE's reply says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub(crate) dialect: u16,
    pub(crate) signing_required: bool,
    pub(crate) max_transact: u32,
    pub(crate) max_read: u32,
    pub(crate) max_write: u32,
}

pub(crate) fn negotiated(m: &[u8]) -> Result<Negotiated, Malformed> {
    let b = body(m, 65)?;
    let dialect = u16_at(b, 4)?;
    if !DIALECTS.contains(&dialect) {
        return Err(Malformed("a dialect this client did not offer"));
    }
    Ok(Negotiated {
        dialect,
        signing_required: u16_at(b, 2)? & 2 != 0,
        max_transact: u32_at(b, 28)?,
        max_read: u32_at(b, 32)?,
        max_write: u32_at(b, 36)?,
    })
}

/// SESSION_SETUP request carrying `token`.
pub(crate) fn session_setup(token: &[u8], signing_required: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + token.len());
    b.extend_from_slice(&25u16.to_le_bytes());
    b.push(0); // flags
    b.push(if signing_required { 2 } else { 1 });
    b.extend_from_slice(&0u32.to_le_bytes()); // capabilities
    b.extend_from_slice(&0u32.to_le_bytes()); // channel
    b.extend_from_slice(&((HEADER + 24) as u16).to_le_bytes());
    b.extend_from_slice(&(token.len() as u16).to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(token);
    b
}

/// Session flags in SESSION_SETUP's reply.
pub(crate) const SESSION_GUEST: u16 = 1;
pub(crate) const SESSION_NULL: u16 = 2;
pub(crate) const SESSION_ENCRYPT: u16 = 4;

/// SESSION_SETUP's reply: its flags and the server's token.
pub(crate) fn session_reply(m: &[u8]) -> Result<(u16, &[u8]), Malformed> {
    let b = body(m, 9)?;
    let flags = u16_at(b, 2)?;
    let token = buffer(m, usize::from(u16_at(b, 4)?), usize::from(u16_at(b, 6)?))?;
    Ok((flags, token))
}

/// UTF-16LE of `s`.
pub(crate) fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// TREE_CONNECT request for `path` (`\\host\IPC$`).
pub(crate) fn tree_connect(path: &str) -> Vec<u8> {
    let p = utf16(path);
    let mut b = Vec::with_capacity(8 + p.len());
    b.extend_from_slice(&9u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&((HEADER + 8) as u16).to_le_bytes());
    b.extend_from_slice(&(p.len() as u16).to_le_bytes());
    b.extend_from_slice(&p);
    b
}

/// Share flag: data to the share must be encrypted.
pub(crate) const SHARE_ENCRYPT: u32 = 0x8;

/// TREE_CONNECT's reply: the share type (2: pipe) and its flags.
pub(crate) fn tree_reply(m: &[u8]) -> Result<(u8, u32), Malformed> {
    let b = body(m, 16)?;
    Ok((b[2], u32_at(b, 4)?))
}

/// `FILE_GENERIC_READ`, `FILE_GENERIC_WRITE`.
pub(crate) const GENERIC_READ: u32 = 0x0012_0089;
pub(crate) const GENERIC_WRITE: u32 = 0x0012_0116;

/// CREATE request opening the pipe `name` (no leading backslash) with `access`.
pub(crate) fn create(name: &str, access: u32) -> Vec<u8> {
    let n = utf16(name);
    let mut b = Vec::with_capacity(56 + n.len().max(1));
    b.extend_from_slice(&57u16.to_le_bytes());
    b.push(0); // security flags
    b.push(0); // no oplock
    b.extend_from_slice(&2u32.to_le_bytes()); // impersonation
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&access.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // attributes
    b.extend_from_slice(&3u32.to_le_bytes()); // share read | write
    b.extend_from_slice(&1u32.to_le_bytes()); // FILE_OPEN
    b.extend_from_slice(&0x40u32.to_le_bytes()); // FILE_NON_DIRECTORY_FILE
    b.extend_from_slice(&((HEADER + 56) as u16).to_le_bytes());
    b.extend_from_slice(&(n.len() as u16).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&n);
    if n.is_empty() {
        b.push(0);
    }
    b
}

/// CREATE's reply: the file id.
pub(crate) fn created(m: &[u8]) -> Result<[u8; 16], Malformed> {
    let b = body(m, 89)?;
    let mut id = [0u8; 16];
    id.copy_from_slice(b.get(64..80).ok_or(Malformed("too short"))?);
    Ok(id)
}

/// READ request for up to `len` bytes.
pub(crate) fn read(file: &[u8; 16], len: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(49);
    b.extend_from_slice(&49u16.to_le_bytes());
    b.push(0x50); // data offset wanted
    b.push(0);
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(file);
    b.extend_from_slice(&0u32.to_le_bytes()); // minimum
    b.extend_from_slice(&0u32.to_le_bytes()); // channel
    b.extend_from_slice(&0u32.to_le_bytes()); // remaining
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.push(0);
    b
}

/// READ's reply: the data (at most `asked` bytes, else malformed).
pub(crate) fn read_reply(m: &[u8], asked: usize) -> Result<&[u8], Malformed> {
    let b = body(m, 17)?;
    let len = u32_at(b, 4)? as usize;
    if len > asked {
        return Err(Malformed("more data than asked for"));
    }
    buffer(m, usize::from(b[2]), len)
}

/// WRITE request of `data`.
pub(crate) fn write(file: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(48 + data.len());
    b.extend_from_slice(&49u16.to_le_bytes());
    b.extend_from_slice(&((HEADER + 48) as u16).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(file);
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(data);
    b
}

/// WRITE's reply: how many bytes were taken.
pub(crate) fn written(m: &[u8]) -> Result<u32, Malformed> {
    u32_at(body(m, 17)?, 4)
}

/// IOCTL request (an FSCTL) with `input`, at most `max_out` bytes of output.
pub(crate) fn ioctl(file: &[u8; 16], code: u32, input: &[u8], max_out: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(56 + input.len());
    b.extend_from_slice(&57u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&code.to_le_bytes());
    b.extend_from_slice(file);
    let offset = if input.is_empty() { 0 } else { HEADER + 56 };
    b.extend_from_slice(&(offset as u32).to_le_bytes());
    b.extend_from_slice(&(input.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // max input response
    b.extend_from_slice(&0u32.to_le_bytes()); // output offset
    b.extend_from_slice(&0u32.to_le_bytes()); // output count
    b.extend_from_slice(&max_out.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // SMB2_0_IOCTL_IS_FSCTL
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(input);
    b
}

/// IOCTL's reply: the output (at most `asked` bytes, else malformed).
pub(crate) fn ioctl_reply(m: &[u8], asked: usize) -> Result<&[u8], Malformed> {
    let b = body(m, 49)?;
    let len = u32_at(b, 36)? as usize;
    if len > asked {
        return Err(Malformed("more output than asked for"));
    }
    buffer(m, u32_at(b, 32)? as usize, len)
}

/// What FSCTL_PIPE_PEEK's output says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Peeked<'a> {
    pub(crate) available: u32,
    pub(crate) message_len: u32,
    pub(crate) data: &'a [u8],
}

pub(crate) fn peeked(out: &[u8]) -> Result<Peeked<'_>, Malformed> {
    if out.len() < 16 {
        return Err(Malformed("peek output too short"));
    }
    Ok(Peeked {
        available: u32_at(out, 4)?,
        message_len: u32_at(out, 12)?,
        data: &out[16..],
    })
}

/// FSCTL_PIPE_WAIT's input: the pipe `name`, and the timeout in 100 ns units if any.
pub(crate) fn pipe_wait(name: &str, timeout_100ns: Option<i64>) -> Vec<u8> {
    let n = utf16(name);
    let mut b = Vec::with_capacity(14 + n.len());
    b.extend_from_slice(&timeout_100ns.unwrap_or(0).to_le_bytes());
    b.extend_from_slice(&(n.len() as u32).to_le_bytes());
    b.push(u8::from(timeout_100ns.is_some()));
    b.push(0);
    b.extend_from_slice(&n);
    b
}

/// QUERY_INFO request for a file information class (FilePipeLocalInformation: 24).
pub(crate) fn query_info(file: &[u8; 16], class: u8, max_out: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(41);
    b.extend_from_slice(&41u16.to_le_bytes());
    b.push(1); // SMB2_0_INFO_FILE
    b.push(class);
    b.extend_from_slice(&max_out.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(file);
    b.push(0);
    b
}

/// QUERY_INFO's reply: the information (at most `asked` bytes).
pub(crate) fn info_reply(m: &[u8], asked: usize) -> Result<&[u8], Malformed> {
    let b = body(m, 9)?;
    let len = u32_at(b, 4)? as usize;
    if len > asked {
        return Err(Malformed("more information than asked for"));
    }
    buffer(m, usize::from(u16_at(b, 2)?), len)
}

/// FilePipeLocalInformation's `NamedPipeType`: 1 for a message pipe.
pub(crate) fn pipe_is_message(info: &[u8]) -> Result<bool, Malformed> {
    Ok(u32_at(info, 0)? == 1)
}

/// CLOSE request.
pub(crate) fn close(file: &[u8; 16]) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(file);
    b
}

/// LOGOFF request.
pub(crate) fn logoff() -> Vec<u8> {
    vec![4, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_with(command: u16, status: u32, body: &[u8]) -> Vec<u8> {
        let mut m = request(
            &Head {
                command,
                credit_charge: 1,
                credit_request: 5,
                message_id: 7,
                tree_id: 1,
                session_id: 9,
            },
            body,
        );
        m[8..12].copy_from_slice(&status.to_le_bytes());
        m[16] |= FLAG_RESPONSE as u8;
        m
    }

    #[test]
    fn a_reply_header_is_read() {
        let m = reply_with(READ, status::BUFFER_OVERFLOW, &[]);
        let r = reply(&m).unwrap();
        assert_eq!(r.status, status::BUFFER_OVERFLOW);
        assert_eq!((r.command, r.credits, r.message_id), (READ, 5, 7));
        assert!(reply(&m[..63]).is_err());
        let mut req = m.clone();
        req[16] = 0;
        assert!(reply(&req).is_err());
    }

    #[test]
    fn buffers_outside_the_reply_are_refused() {
        // READ reply claiming 100 bytes at offset 80 with only 3 there.
        let mut b = vec![17, 0, 80, 0];
        b.extend_from_slice(&100u32.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(b"abc");
        let m = reply_with(READ, 0, &b);
        assert!(read_reply(&m, 1000).is_err());
        assert!(read_reply(&m, 10).is_err());
        // An honest one.
        let mut b = vec![17, 0, 80, 0];
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(b"abc");
        let m = reply_with(READ, 0, &b);
        assert_eq!(read_reply(&m, 10).unwrap(), b"abc");
        // Offsets into the header, or overflowing.
        let mut b = vec![17, 0, 10, 0];
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[0; 11]);
        assert!(read_reply(&reply_with(READ, 0, &b), 10).is_err());
        let mut b = vec![49, 0, 0, 0];
        b.extend_from_slice(&[0; 28]);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        assert!(ioctl_reply(&reply_with(IOCTL, 0, &b), 100).is_err());
    }

    #[test]
    fn a_negotiate_reply_with_a_dialect_not_offered_is_refused() {
        let mut b = vec![0u8; 64];
        b[0] = 65;
        b[4..6].copy_from_slice(&0x02FFu16.to_le_bytes());
        assert!(negotiated(&reply_with(NEGOTIATE, 0, &b)).is_err());
        b[4..6].copy_from_slice(&0x0302u16.to_le_bytes());
        b[2] = 3;
        let n = negotiated(&reply_with(NEGOTIATE, 0, &b)).unwrap();
        assert_eq!(n.dialect, 0x0302);
        assert!(n.signing_required);
    }
}
