//! NTLMSSP for SMB2's SESSION_SETUP (MS-NLMP): anonymous, or NTLMv2 with a user's password;
//! I/O-free. Raw NTLMSSP tokens (no SPNEGO wrapping: Windows, Samba and impacket accept them).
//!
//! The session key is NTLMv2's session base key (no key exchange asked), from which SMB2
//! derives its signing key.

use hmac::{Hmac, Mac};
use md5::Md5;

use super::wire::{utf16, Malformed};

type HmacMd5 = Hmac<Md5>;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

const UNICODE: u32 = 0x0000_0001;
const REQUEST_TARGET: u32 = 0x0000_0004;
const SIGN: u32 = 0x0000_0010;
const NTLM: u32 = 0x0000_0200;
const ANONYMOUS: u32 = 0x0000_0800;
const ALWAYS_SIGN: u32 = 0x0000_8000;
const EXTENDED_SESSION_SECURITY: u32 = 0x0008_0000;
const TARGET_INFO: u32 = 0x0080_0000;
const N128: u32 = 0x2000_0000;
const N56: u32 = 0x8000_0000;

const FLAGS: u32 =
    UNICODE | REQUEST_TARGET | SIGN | NTLM | ALWAYS_SIGN | EXTENDED_SESSION_SECURITY | N128 | N56;

/// Who logs on.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// `None`: anonymous.
    pub(crate) user: Option<String>,
    pub(crate) password: String,
    pub(crate) domain: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("password", &"(hidden)")
            .finish()
    }
}

/// The first token: NEGOTIATE_MESSAGE.
pub(crate) fn negotiate() -> Vec<u8> {
    let mut m = Vec::with_capacity(32);
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&FLAGS.to_le_bytes());
    m.extend_from_slice(&[0u8; 16]); // no domain, no workstation
    m
}

/// What the server's CHALLENGE_MESSAGE carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) flags: u32,
    pub(crate) server_challenge: [u8; 8],
    pub(crate) target_info: Vec<u8>,
}

fn field(m: &[u8], at: usize) -> Result<&[u8], Malformed> {
    let f = m
        .get(at..at + 8)
        .ok_or(Malformed("NTLM message too short"))?;
    let len = usize::from(u16::from_le_bytes([f[0], f[1]]));
    let offset = u32::from_le_bytes([f[4], f[5], f[6], f[7]]) as usize;
    if len == 0 {
        return Ok(&[]);
    }
    m.get(offset..offset.checked_add(len).ok_or(Malformed("NTLM field"))?)
        .ok_or(Malformed("an NTLM field outside its message"))
}

/// Reads a CHALLENGE_MESSAGE.
pub(crate) fn challenge(m: &[u8]) -> Result<Challenge, Malformed> {
    if m.len() < 32 || &m[..8] != SIGNATURE || m[8..12] != 2u32.to_le_bytes() {
        return Err(Malformed("not an NTLM challenge"));
    }
    let flags = u32::from_le_bytes([m[20], m[21], m[22], m[23]]);
    let mut server_challenge = [0u8; 8];
    server_challenge.copy_from_slice(&m[24..32]);
    let target_info = if flags & TARGET_INFO != 0 {
        field(m, 40)?.to_vec()
    } else {
        Vec::new()
    };
    Ok(Challenge {
        flags,
        server_challenge,
        target_info,
    })
}

/// The timestamp the server put in its target info (MsvAvTimestamp), if any; the pairs are
/// walked with every length checked.
fn server_time(info: &[u8]) -> Option<[u8; 8]> {
    let mut at = 0;
    while at + 4 <= info.len() {
        let id = u16::from_le_bytes([info[at], info[at + 1]]);
        let len = usize::from(u16::from_le_bytes([info[at + 2], info[at + 3]]));
        let value = info.get(at + 4..at + 4 + len)?;
        match id {
            0 => return None,
            7 if len == 8 => {
                let mut t = [0u8; 8];
                t.copy_from_slice(value);
                return Some(t);
            }
            _ => {}
        }
        at += 4 + len;
    }
    None
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <HmacMd5 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// NTOWFv2: HMAC-MD5 over the upper-cased user and the domain, keyed by MD4 of the password.
fn ntowf_v2(identity: &Identity, user: &str) -> [u8; 16] {
    use md4::{Digest, Md4};
    let nt: [u8; 16] = Md4::digest(utf16(&identity.password)).into();
    let who = utf16(&format!("{}{}", user.to_uppercase(), identity.domain));
    hmac_md5(&nt, &[&who])
}

/// The AUTHENTICATE_MESSAGE answering `challenge` and the session key (`None` for an anonymous
/// logon, which has none). `client_challenge` is 8 random bytes; `now` the FILETIME to use when
/// the server sent none.
pub(crate) fn authenticate(
    identity: &Identity,
    challenge: &Challenge,
    client_challenge: [u8; 8],
    now: u64,
) -> (Vec<u8>, Option<[u8; 16]>) {
    let flags = FLAGS & (challenge.flags | UNICODE);
    let (lm, nt, key, user, domain, flags) = match &identity.user {
        None => (
            vec![0u8],
            Vec::new(),
            None,
            String::new(),
            String::new(),
            flags | ANONYMOUS,
        ),
        Some(user) => {
            let owf = ntowf_v2(identity, user);
            let time = server_time(&challenge.target_info).unwrap_or(now.to_le_bytes());
            let mut blob = Vec::with_capacity(32 + challenge.target_info.len());
            blob.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
            blob.extend_from_slice(&time);
            blob.extend_from_slice(&client_challenge);
            blob.extend_from_slice(&[0; 4]);
            blob.extend_from_slice(&challenge.target_info);
            blob.extend_from_slice(&[0; 4]);
            let proof = hmac_md5(&owf, &[&challenge.server_challenge, &blob]);
            let mut nt = proof.to_vec();
            nt.extend_from_slice(&blob);
            let mut lm = hmac_md5(&owf, &[&challenge.server_challenge, &client_challenge]).to_vec();
            lm.extend_from_slice(&client_challenge);
            let key = hmac_md5(&owf, &[&proof]);
            (
                lm,
                nt,
                Some(key),
                user.clone(),
                identity.domain.clone(),
                flags,
            )
        }
    };
    let domain = utf16(&domain);
    let user = utf16(&user);
    let workstation = utf16("PIPEWORK");
    let fields: [&[u8]; 6] = [&lm, &nt, &domain, &user, &workstation, &[]];
    let mut m = Vec::with_capacity(64 + fields.iter().map(|f| f.len()).sum::<usize>());
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&3u32.to_le_bytes());
    let mut offset = 64u32;
    for f in fields {
        let len = f.len() as u16;
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&offset.to_le_bytes());
        offset += u32::from(len);
    }
    m.extend_from_slice(&flags.to_le_bytes());
    for f in fields {
        m.extend_from_slice(f);
    }
    (m, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MS-NLMP 4.2.4's NTLMv2 example: user "User", domain "Domain", password "Password".
    #[test]
    fn ntlmv2_as_the_specification_computes_it() {
        let id = Identity {
            user: Some("User".into()),
            password: "Password".into(),
            domain: "Domain".into(),
        };
        let owf = ntowf_v2(&id, "User");
        assert_eq!(
            owf,
            [
                0x0c, 0x86, 0x8a, 0x40, 0x3b, 0xfd, 0x7a, 0x93, 0xa3, 0x00, 0x1e, 0xf2, 0x2e, 0xf0,
                0x2e, 0x3f
            ]
        );
    }

    #[test]
    fn a_challenge_is_read_with_its_lengths_checked() {
        let mut m = SIGNATURE.to_vec();
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&(FLAGS | TARGET_INFO).to_le_bytes());
        m.extend_from_slice(&[7; 8]);
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&[12, 0, 12, 0, 48, 0, 0, 0]);
        m.extend_from_slice(&[7, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        let c = challenge(&m).unwrap();
        assert_eq!(c.server_challenge, [7; 8]);
        assert_eq!(server_time(&c.target_info), Some([1, 2, 3, 4, 5, 6, 7, 8]));
        m[40] = 200;
        assert!(challenge(&m).is_err());
        assert!(challenge(&m[..20]).is_err());
        assert_eq!(server_time(&[7, 0, 0xff, 0xff, 1]), None);
    }

    #[test]
    fn an_anonymous_authenticate_has_no_key() {
        let c = Challenge {
            flags: FLAGS,
            server_challenge: [1; 8],
            target_info: Vec::new(),
        };
        let (m, key) = authenticate(&Identity::default(), &c, [2; 8], 0);
        assert!(key.is_none());
        assert_eq!(&m[..8], SIGNATURE);
        let flags = u32::from_le_bytes([m[60], m[61], m[62], m[63]]);
        assert_ne!(flags & ANONYMOUS, 0);
    }
}
