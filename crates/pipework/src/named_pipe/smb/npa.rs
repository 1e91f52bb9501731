//! The named-pipe-auth (NPA) handshake: what smbd sends first on the Unix socket of a pipe it
//! opens for an SMB client, and the reply it waits for. I/O-free: bytes in, values out.
//!
//! The request is NDR (little-endian, 32-bit pointers), framed by a 4-byte big-endian length:
//!
//! ```text
//! length u32 BE | "NPAM" | level u32 | level u32 (the union's tag) | info
//! info:  transport u8, *client_name, *client_addr, client_port u16,
//!        *server_name, *server_addr, server_port u16, *session_info
//!        [level 5 and 6: need_idle_server u8]
//!        then the pointed-to strings and the session info, in that order
//! ```
//!
//! The session info (the authenticated user's token) is Samba's own `auth_session_info`, not a
//! public protocol: its security token changed in level 8 (claims), and level 5 came with and
//! without a ticket type. The decoder reads what each level sends and keeps the user's SIDs,
//! account and domain name, unix uid/gid. Every count and length is checked against the bytes
//! that are there before anything is read or kept, nothing is allocated from a count, and any
//! malformed input is an error, never a panic (see the property tests).
//!
//! The reply (36 bytes) carries the file type (byte or message), device state, allocation size
//! and an NTSTATUS; smbd checks that its level is the one it sent.

use std::fmt;

/// The magic after the length of both request and reply.
pub const MAGIC: &[u8; 4] = b"NPAM";
/// Bytes of the big-endian length that frames a request or reply.
pub const PREFIX: usize = 4;
/// The largest request accepted (length after the prefix). Samba's are under 1 KiB for a user
/// with a few groups; a token with a thousand groups stays well under this.
pub const MAX_REQUEST: usize = 256 * 1024;
/// Bytes of a reply, its prefix included.
pub const REPLY_LEN: usize = 36;
/// The levels understood: 5 and 6 (Samba up to 4.18), 7 (4.19, and Debian's 4.17), 8 (4.20 on).
pub const LEVELS: std::ops::RangeInclusive<u32> = 5..=8;

/// `FILE_TYPE_BYTE_MODE_PIPE` in the reply.
pub const FILE_TYPE_BYTE: u16 = 1;
/// `FILE_TYPE_MESSAGE_MODE_PIPE` in the reply.
pub const FILE_TYPE_MESSAGE: u16 = 2;
/// The device state Windows reports for a pipe end (and smbd passes on).
pub const DEVICE_STATE: u16 = 0x05ff;
/// `STATUS_SUCCESS`.
pub const STATUS_SUCCESS: u32 = 0;
/// `STATUS_ACCESS_DENIED`: the reply to a client the pipe does not admit.
pub const STATUS_ACCESS_DENIED: u32 = 0xC000_0022;

/// Why a request was refused: a short fixed reason (the caller names the pipe and the peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRequest(pub &'static str);

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad named-pipe-auth request: {}", self.0)
    }
}

impl std::error::Error for BadRequest {}

type Result<T> = std::result::Result<T, BadRequest>;

/// A Windows security identifier (`S-1-5-21-...`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sid {
    /// The revision (1).
    pub revision: u8,
    /// The 48-bit identifier authority (5 for `NT AUTHORITY`).
    pub authority: u64,
    /// The sub-authorities, at most 15; the last is the relative id.
    pub sub_authorities: Vec<u32>,
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-{}-{}", self.revision, self.authority)?;
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// Who is at the other end of a pipe opened through Samba: what smbd tells in its handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteClient {
    /// The handshake's level (5 to 8: Samba's version of it).
    pub level: u32,
    /// Samba's transport number (1: SMB).
    pub transport: u8,
    /// The client machine's name as smbd knows it (its address when unknown).
    pub client_name: String,
    /// The client's IP address, as text.
    pub client_addr: String,
    /// The client's TCP port.
    pub client_port: u16,
    /// The name the client used for this server.
    pub server_name: String,
    /// The server address the client reached.
    pub server_addr: String,
    /// The server port the client reached (445 normally).
    pub server_port: u16,
    /// The authenticated account (`ANONYMOUS LOGON` for an anonymous client); `None` when smbd
    /// sent no session info, or one this decoder reads only in part (level 8 claims).
    pub user: Option<String>,
    /// The account's domain (`NT AUTHORITY`, the workgroup, the machine).
    pub domain: Option<String>,
    /// The SIDs of the user's token: the user's own first, then its groups.
    pub sids: Vec<Sid>,
    /// The unix user smbd mapped the account to, when it sent one.
    pub unix_uid: Option<u64>,
    /// The unix group smbd mapped the account to, when it sent one.
    pub unix_gid: Option<u64>,
    /// The unix account name smbd mapped the account to, when it sent one.
    pub unix_name: Option<String>,
}

impl RemoteClient {
    /// The user's own SID (the token's first).
    pub fn user_sid(&self) -> Option<&Sid> {
        self.sids.first()
    }
}

/// The length a request's 4-byte prefix announces, checked: at least the fixed part, at most
/// [`MAX_REQUEST`].
pub fn request_len(prefix: [u8; PREFIX]) -> Result<usize> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len < 12 {
        return Err(BadRequest("shorter than its fixed part"));
    }
    if len > MAX_REQUEST {
        return Err(BadRequest("longer than 256 KiB"));
    }
    Ok(len)
}

/// Decodes a whole request: `message` holds the 4-byte prefix and the bytes it announces.
pub fn decode_request(message: &[u8]) -> Result<RemoteClient> {
    let level = {
        let mut r = Ndr::new(message);
        let len = r.be_u32()? as usize;
        if len != message.len() - PREFIX {
            return Err(BadRequest("its length is not the length of the message"));
        }
        if r.bytes(4)? != MAGIC {
            return Err(BadRequest("no NPAM magic"));
        }
        r.u32()?
    };
    if !LEVELS.contains(&level) {
        return Err(BadRequest("unknown level (5 to 8 are understood)"));
    }
    if level <= 6 {
        // Level 5 came with and without the session info's ticket type (Samba 4.16.x added
        // it without a level change): the one that decodes to the last byte is the one sent.
        match decode_at(message, level, true) {
            Ok(client) => Ok(client),
            Err(first) => decode_at(message, level, false).map_err(|_| first),
        }
    } else {
        decode_at(message, level, true)
    }
}

fn decode_at(message: &[u8], level: u32, ticket_type: bool) -> Result<RemoteClient> {
    let mut r = Ndr::new(message);
    r.skip(12)?; // length, magic, level: checked by the caller
    if r.u32()? != level {
        return Err(BadRequest("the union's tag is not the level"));
    }
    let mut client = RemoteClient {
        level,
        ..RemoteClient::default()
    };
    r.align(4)?;
    client.transport = r.u8()?;
    let client_name = r.ptr()?;
    let client_addr = r.ptr()?;
    client.client_port = r.u16()?;
    let server_name = r.ptr()?;
    let server_addr = r.ptr()?;
    client.server_port = r.u16()?;
    let session = r.ptr()?;
    if level <= 6 {
        let _need_idle_server = r.u8()?;
    }
    if client_name {
        client.client_name = r.string()?;
    }
    if client_addr {
        client.client_addr = r.string()?;
    }
    if server_name {
        client.server_name = r.string()?;
    }
    if server_addr {
        client.server_addr = r.string()?;
    }
    if session {
        let complete = session_info_transport(&mut r, &mut client, ticket_type)?;
        if !complete {
            return Ok(client);
        }
    }
    if r.pos != message.len() {
        return Err(BadRequest("bytes after the end of the structure"));
    }
    Ok(client)
}

/// `auth_session_info_transport`. `Ok(false)` when decoding stopped at a part it does not read
/// (claims): what came before is kept.
fn session_info_transport(
    r: &mut Ndr<'_>,
    client: &mut RemoteClient,
    ticket_type: bool,
) -> Result<bool> {
    r.align(4)?;
    let info = r.ptr()?;
    r.blob()?; // exported_gssapi_credentials
    if !info {
        return Ok(true);
    }
    // auth_session_info
    r.align(4)?;
    let token = r.ptr()?;
    let unix_token = r.ptr()?;
    let user_info = r.ptr()?;
    let unix_info = r.ptr()?;
    let torture = r.ptr()?;
    r.blob()?; // session_key
    let credentials = r.ptr()?;
    r.align(4)?;
    r.skip(16)?; // unique_session_token (GUID)
    if ticket_type {
        r.u16()?;
    }
    if torture || credentials {
        return Err(BadRequest(
            "a session info field that is never sent is there",
        ));
    }
    if token && !security_token(r, client)? {
        return Ok(false);
    }
    if unix_token {
        // security_unix_token: the conformance of its last member comes first.
        let conformance = r.u32()?;
        r.align(8)?;
        client.unix_uid = Some(r.u64()?);
        client.unix_gid = Some(r.u64()?);
        let ngroups = r.u32()?;
        if ngroups != conformance {
            return Err(BadRequest("unix token: group count and array size differ"));
        }
        for _ in 0..ngroups {
            r.u64()?;
        }
    }
    if user_info {
        auth_user_info(r, client)?;
    }
    if unix_info {
        r.align(4)?;
        let unix_name = r.ptr()?;
        let sanitized = r.ptr()?;
        if unix_name {
            client.unix_name = Some(r.string()?);
        }
        if sanitized {
            r.string()?;
        }
    }
    Ok(true)
}

/// `security_token`; `Ok(false)` when it carries claims (level 8), which are not decoded.
fn security_token(r: &mut Ndr<'_>, client: &mut RemoteClient) -> Result<bool> {
    r.align(8)?;
    let num_sids = r.u32()?;
    client.sids = sid_array(r, num_sids)?;
    r.u64()?; // privilege_mask
    r.u32()?; // rights_mask
    if client.level >= 8 {
        let local_claims = r.u32()?;
        let user_claims = r.u32()?;
        let device_claims = r.u32()?;
        let device_sids = r.u32()?;
        if local_claims != 0 || user_claims != 0 || device_claims != 0 {
            return Ok(false);
        }
        for _ in 0..3 {
            if r.u32()? != 0 {
                return Err(BadRequest("token: claim count and array size differ"));
            }
        }
        sid_array(r, device_sids)?;
        r.u16()?; // evaluate_claims
    }
    Ok(true)
}

/// An inline conformant array of SIDs: its size, which must be `count`, then the SIDs.
fn sid_array(r: &mut Ndr<'_>, count: u32) -> Result<Vec<Sid>> {
    if r.u32()? != count {
        return Err(BadRequest("token: SID count and array size differ"));
    }
    let mut sids = Vec::new();
    for _ in 0..count {
        sids.push(r.sid()?); // each read checks its bytes are there: no allocation from count
    }
    Ok(sids)
}

fn auth_user_info(r: &mut Ndr<'_>, client: &mut RemoteClient) -> Result<()> {
    r.align(4)?;
    let account = r.ptr()?;
    let upn = r.ptr()?;
    r.u8()?; // user_principal_constructed
    let domain = r.ptr()?;
    let mut others = [false; 7]; // dns_domain_name .. logon_server
    for p in &mut others {
        *p = r.ptr()?;
    }
    r.skip_aligned(4, 6 * 8)?; // six NTTIMEs
    r.u16()?; // logon_count
    r.u16()?; // bad_password_count
    r.u32()?; // acct_flags
    r.u8()?; // authenticated (user_flags, a u32, from Samba 4.19: the same place, padded)
    if account {
        client.user = Some(r.string()?);
    }
    if upn {
        r.string()?;
    }
    if domain {
        client.domain = Some(r.string()?);
    }
    for p in others {
        if p {
            r.string()?;
        }
    }
    Ok(())
}

/// A reply: `file_type` ([`FILE_TYPE_BYTE`] or [`FILE_TYPE_MESSAGE`]), the device state,
/// allocation size and status, at the request's `level`.
pub fn encode_reply(
    level: u32,
    file_type: u16,
    device_state: u16,
    allocation_size: u64,
    status: u32,
) -> [u8; REPLY_LEN] {
    let mut out = [0u8; REPLY_LEN];
    out[0..4].copy_from_slice(&((REPLY_LEN - PREFIX) as u32).to_be_bytes());
    out[4..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&level.to_le_bytes());
    out[12..16].copy_from_slice(&level.to_le_bytes());
    out[16..18].copy_from_slice(&file_type.to_le_bytes());
    out[18..20].copy_from_slice(&device_state.to_le_bytes());
    // 20..24: padding to the hyper's 8-byte alignment
    out[24..32].copy_from_slice(&allocation_size.to_le_bytes());
    out[32..36].copy_from_slice(&status.to_le_bytes());
    out
}

/// A checked NDR reader: every read first checks the bytes are there.
struct Ndr<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Ndr<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Ndr { buf, pos: 0 }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(BadRequest("truncated"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    fn align(&mut self, n: usize) -> Result<()> {
        let pad = (n - self.pos % n) % n;
        self.skip(pad)
    }

    fn skip_aligned(&mut self, align: usize, n: usize) -> Result<()> {
        self.align(align)?;
        self.skip(n)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.align(N)?;
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn be_u32(&mut self) -> Result<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// A unique pointer's referent id: whether the pointee follows (later, deferred).
    fn ptr(&mut self) -> Result<bool> {
        Ok(self.u32()? != 0)
    }

    /// A `DATA_BLOB`: its length, then its bytes (skipped).
    fn blob(&mut self) -> Result<()> {
        let len = self.u32()? as usize;
        self.skip(len)
    }

    /// A conformant varying string: max count, offset (0), actual count, the bytes (with their
    /// NUL), read as UTF-8 (invalid sequences replaced).
    fn string(&mut self) -> Result<String> {
        let max = self.u32()?;
        let offset = self.u32()?;
        let actual = self.u32()?;
        if offset != 0 || actual > max {
            return Err(BadRequest("a string's offset or length is wrong"));
        }
        let bytes = self.bytes(actual as usize)?;
        let text = match bytes.split_last() {
            Some((0, text)) => text,
            _ => return Err(BadRequest("a string without its terminating NUL")),
        };
        if text.contains(&0) {
            return Err(BadRequest("a NUL inside a string"));
        }
        Ok(String::from_utf8_lossy(text).into_owned())
    }

    /// A `dom_sid`.
    fn sid(&mut self) -> Result<Sid> {
        self.align(4)?;
        let revision = self.u8()?;
        let count = self.u8()?;
        if count > 15 {
            return Err(BadRequest("a SID with more than 15 sub-authorities"));
        }
        let authority = self
            .bytes(6)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let mut sub_authorities = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            sub_authorities.push(self.u32()?);
        }
        Ok(Sid {
            revision,
            authority,
            sub_authorities,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A request smbd 4.17.12 (Debian) sent for an anonymous impacket client: level 7.
    pub(crate) const SAMBA_4_17_ANONYMOUS: &[u8] =
        include_bytes!("testdata/samba-4.17-anonymous.npa");

    /// An NDR writer mirroring the decoder, to build requests of every level.
    #[derive(Default)]
    pub(crate) struct Writer {
        pub(crate) out: Vec<u8>,
        next_ref: u32,
    }

    impl Writer {
        fn align(&mut self, n: usize) {
            while !self.out.len().is_multiple_of(n) {
                self.out.push(0);
            }
        }
        fn u8(&mut self, v: u8) {
            self.out.push(v);
        }
        fn u16(&mut self, v: u16) {
            self.align(2);
            self.out.extend_from_slice(&v.to_le_bytes());
        }
        fn u32(&mut self, v: u32) {
            self.align(4);
            self.out.extend_from_slice(&v.to_le_bytes());
        }
        fn u64(&mut self, v: u64) {
            self.align(8);
            self.out.extend_from_slice(&v.to_le_bytes());
        }
        fn ptr(&mut self, present: bool) {
            if present {
                self.next_ref += 4;
                self.u32(0x0002_0000 + self.next_ref);
            } else {
                self.u32(0);
            }
        }
        fn string(&mut self, s: &str) {
            let n = s.len() as u32 + 1;
            self.u32(n);
            self.u32(0);
            self.u32(n);
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(0);
        }
        fn sid(&mut self, sid: &Sid) {
            self.align(4);
            self.u8(sid.revision);
            self.u8(sid.sub_authorities.len() as u8);
            self.out
                .extend_from_slice(&sid.authority.to_be_bytes()[2..]);
            for s in &sid.sub_authorities {
                self.u32(*s);
            }
        }
    }

    /// Encodes `c` as smbd would at `level` (with a ticket type when `ticket_type`).
    pub(crate) fn encode_request(c: &RemoteClient, level: u32, ticket_type: bool) -> Vec<u8> {
        let mut w = Writer::default();
        w.out.extend_from_slice(&[0; 4]);
        w.out.extend_from_slice(MAGIC);
        w.u32(level);
        w.u32(level);
        w.u8(c.transport);
        w.ptr(true);
        w.ptr(true);
        w.u16(c.client_port);
        w.ptr(true);
        w.ptr(true);
        w.u16(c.server_port);
        let session = c.user.is_some();
        w.ptr(session);
        if level <= 6 {
            w.u8(0);
        }
        w.string(&c.client_name);
        w.string(&c.client_addr);
        w.string(&c.server_name);
        w.string(&c.server_addr);
        if session {
            w.ptr(true);
            w.u32(0); // no gssapi credentials
            w.ptr(true); // token
            w.ptr(c.unix_uid.is_some());
            w.ptr(true); // user info
            w.ptr(c.unix_name.is_some());
            w.ptr(false); // torture
            w.u32(16);
            w.out.extend_from_slice(&[0x5a; 16]);
            w.ptr(false); // credentials
            w.out.extend_from_slice(&[0x11; 16]); // GUID
            if ticket_type {
                w.u16(0);
            }
            w.align(8);
            w.u32(c.sids.len() as u32);
            w.u32(c.sids.len() as u32);
            for sid in &c.sids {
                w.sid(sid);
            }
            w.u64(0);
            w.u32(0);
            if level >= 8 {
                for _ in 0..3 {
                    w.u32(0);
                }
                w.u32(1); // one device SID
                for _ in 0..3 {
                    w.u32(0);
                }
                w.u32(1);
                w.sid(&Sid {
                    revision: 1,
                    authority: 5,
                    sub_authorities: vec![32, 545],
                });
                w.u16(1);
            }
            if let Some(uid) = c.unix_uid {
                w.u32(2);
                w.align(8);
                w.u64(uid);
                w.u64(c.unix_gid.unwrap_or(0));
                w.u32(2);
                w.u64(100);
                w.u64(101);
            }
            w.align(4);
            w.ptr(true);
            w.ptr(false);
            w.u8(0);
            w.ptr(c.domain.is_some());
            w.ptr(false);
            w.ptr(true); // full name
            for _ in 0..5 {
                w.ptr(false);
            }
            for _ in 0..6 {
                w.align(4);
                w.out.extend_from_slice(&[0x77; 8]);
            }
            w.u16(1);
            w.u16(0);
            w.u32(0x10);
            if level >= 7 {
                w.u32(0);
            } else {
                w.u8(1);
            }
            w.string(c.user.as_deref().unwrap_or(""));
            if let Some(d) = &c.domain {
                w.string(d);
            }
            w.string("Full Name");
            if let Some(n) = &c.unix_name {
                w.align(4);
                w.ptr(true);
                w.ptr(true);
                w.string(n);
                w.string(n);
            }
        }
        let len = (w.out.len() - PREFIX) as u32;
        w.out[..4].copy_from_slice(&len.to_be_bytes());
        w.out
    }

    pub(crate) fn sample() -> RemoteClient {
        RemoteClient {
            level: 7,
            transport: 1,
            client_name: "WIN11".into(),
            client_addr: "192.0.2.7".into(),
            client_port: 50123,
            server_name: "FILES".into(),
            server_addr: "192.0.2.1".into(),
            server_port: 445,
            user: Some("alice".into()),
            domain: Some("EXAMPLE".into()),
            sids: vec![
                Sid {
                    revision: 1,
                    authority: 5,
                    sub_authorities: vec![21, 1, 2, 3, 1104],
                },
                Sid {
                    revision: 1,
                    authority: 1,
                    sub_authorities: vec![0],
                },
            ],
            unix_uid: Some(1000),
            unix_gid: Some(1000),
            unix_name: Some("alice".into()),
        }
    }

    #[test]
    fn samba_4_17_capture() {
        let c = decode_request(SAMBA_4_17_ANONYMOUS).unwrap();
        assert_eq!(c.level, 7);
        assert_eq!(c.transport, 1);
        assert_eq!(c.client_addr, "127.0.0.1");
        assert_eq!(c.server_addr, "127.0.0.1");
        assert_eq!(c.server_port, 44555);
        assert_eq!(c.user.as_deref(), Some("ANONYMOUS LOGON"));
        assert_eq!(c.domain.as_deref(), Some("NT AUTHORITY"));
        assert_eq!(c.user_sid().unwrap().to_string(), "S-1-5-7");
        assert_eq!(c.sids.len(), 6);
        assert_eq!(c.sids[1].to_string(), "S-1-1-0");
        assert_eq!(c.unix_uid, Some(65534));
        assert_eq!(c.unix_name.as_deref(), Some("nobody"));
    }

    #[test]
    fn every_level_round_trips() {
        for level in LEVELS {
            for ticket in [true, false] {
                if level >= 7 && !ticket {
                    continue;
                }
                let mut want = sample();
                want.level = level;
                let bytes = encode_request(&want, level, ticket);
                assert_eq!(
                    decode_request(&bytes),
                    Ok(want),
                    "level {level} ticket {ticket}"
                );
            }
        }
    }

    #[test]
    fn no_session_info() {
        let mut want = sample();
        want.user = None;
        want.domain = None;
        want.sids.clear();
        want.unix_uid = None;
        want.unix_gid = None;
        want.unix_name = None;
        assert_eq!(decode_request(&encode_request(&want, 7, true)), Ok(want));
    }

    #[test]
    fn refusals() {
        let good = SAMBA_4_17_ANONYMOUS.to_vec();
        let mut wrong_level = good.clone();
        wrong_level[8] = 9;
        wrong_level[12] = 9;
        assert!(decode_request(&wrong_level).is_err());
        let mut tag = good.clone();
        tag[12] = 6;
        assert!(decode_request(&tag).is_err());
        let mut magic = good.clone();
        magic[4] = b'X';
        assert!(decode_request(&magic).is_err());
        let mut longer = good.clone();
        longer.push(0);
        assert!(decode_request(&longer).is_err());
        for cut in 0..good.len() {
            assert!(decode_request(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_request(&[]).is_err());
    }

    #[test]
    fn reply_layout() {
        let r = encode_reply(7, FILE_TYPE_MESSAGE, DEVICE_STATE, 4096, 0);
        assert_eq!(&r[..4], &[0, 0, 0, 0x20]);
        assert_eq!(&r[4..8], b"NPAM");
        assert_eq!(&r[8..16], &[7, 0, 0, 0, 7, 0, 0, 0]);
        assert_eq!(&r[16..20], &[2, 0, 0xff, 0x05]);
        assert_eq!(&r[24..32], &4096u64.to_le_bytes());
        assert_eq!(&r[32..36], &[0, 0, 0, 0]);
    }

    #[test]
    fn prefix_limits() {
        assert!(request_len([0, 0, 0, 3]).is_err());
        assert!(request_len([0xff, 0xff, 0xff, 0xff]).is_err());
        assert_eq!(request_len([0, 0, 2, 0x95]), Ok(0x295));
    }
}
