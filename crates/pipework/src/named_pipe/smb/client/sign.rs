//! SMB2 message signing (MS-SMB2 3.1.4.1): HMAC-SHA256 with the session key for dialects 2.0.2
//! and 2.1, AES-128-CMAC with a key derived by SP800-108 (counter mode, HMAC-SHA256) for 3.0 and
//! 3.0.2 (label `SMB2AESCMAC`, context `SmbSign`) and 3.1.1 (label `SMBSigningKey`, context the
//! pre-authentication integrity hash).

use aes::Aes128;
use cmac::Cmac;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wire::{FLAG_SIGNED, HEADER};

type HmacSha256 = Hmac<Sha256>;

/// Where the signature lies in the header.
const AT: usize = 48;

/// Signs requests and checks replies of one session.
#[derive(Clone)]
pub(crate) enum Signer {
    HmacSha256([u8; 16]),
    Cmac([u8; 16]),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::HmacSha256(_) => "Signer(HMAC-SHA256)",
            Signer::Cmac(_) => "Signer(AES-128-CMAC)",
        })
    }
}

/// SP800-108 in counter mode with HMAC-SHA256, one round: the first 128 bits.
fn kdf(key: &[u8; 16], label: &[u8], context: &[u8]) -> [u8; 16] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(&1u32.to_be_bytes());
    mac.update(label);
    mac.update(&[0]);
    mac.update(context);
    mac.update(&128u32.to_be_bytes());
    let out = mac.finalize().into_bytes();
    let mut k = [0u8; 16];
    k.copy_from_slice(&out[..16]);
    k
}

impl Signer {
    /// The signer of a session of `dialect` whose session key is `key`; for 3.1.1, `preauth`
    /// is the session's pre-authentication integrity hash.
    pub(crate) fn new(dialect: u16, key: [u8; 16], preauth: &[u8; 64]) -> Signer {
        if dialect >= 0x0311 {
            Signer::Cmac(kdf(&key, b"SMBSigningKey\0", preauth))
        } else if dialect >= 0x0300 {
            Signer::Cmac(kdf(&key, b"SMB2AESCMAC\0", b"SmbSign\0"))
        } else {
            Signer::HmacSha256(key)
        }
    }

    /// The signature of `m`, whose signature field is taken as zero.
    fn signature(&self, m: &[u8]) -> [u8; 16] {
        let parts: [&[u8]; 3] = [&m[..AT], &[0u8; 16], &m[AT + 16..]];
        let mut out = [0u8; 16];
        match self {
            Signer::HmacSha256(key) => {
                let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("any key length");
                for p in parts {
                    mac.update(p);
                }
                out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
            }
            Signer::Cmac(key) => {
                let mut mac = <Cmac<Aes128> as Mac>::new_from_slice(key).expect("a 16-byte key");
                for p in parts {
                    mac.update(p);
                }
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }

    /// Signs the request `m` (a whole message, header first).
    pub(crate) fn sign(&self, m: &mut [u8]) {
        if m.len() < HEADER {
            return;
        }
        let flags = u32::from_le_bytes([m[16], m[17], m[18], m[19]]) | FLAG_SIGNED;
        m[16..20].copy_from_slice(&flags.to_le_bytes());
        let s = self.signature(m);
        m[AT..AT + 16].copy_from_slice(&s);
    }

    /// Whether the reply `m` is signed, and rightly.
    pub(crate) fn verify(&self, m: &[u8]) -> bool {
        if m.len() < HEADER {
            return false;
        }
        let flags = u32::from_le_bytes([m[16], m[17], m[18], m[19]]);
        if flags & FLAG_SIGNED == 0 {
            return false;
        }
        let want = self.signature(m);
        // Not secret-dependent timing that matters here (the peer knows its own signature),
        // but compare all 16 bytes anyway.
        want.iter()
            .zip(&m[AT..AT + 16])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_message_verifies_and_a_changed_one_does_not() {
        for dialect in [0x0202, 0x0302, 0x0311] {
            let signer = Signer::new(dialect, [9; 16], &[0; 64]);
            let mut m = vec![0u8; 100];
            m[..4].copy_from_slice(b"\xfeSMB");
            signer.sign(&mut m);
            assert!(signer.verify(&m));
            m[99] ^= 1;
            assert!(!signer.verify(&m));
            m[99] ^= 1;
            m[16] &= !(FLAG_SIGNED as u8);
            assert!(!signer.verify(&m));
        }
    }

    /// RFC 4493's first AES-CMAC example (empty message), through the same crates.
    #[test]
    fn cmac_is_rfc_4493() {
        let key = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let mac = <Cmac<Aes128> as Mac>::new_from_slice(&key).unwrap();
        let out = mac.finalize().into_bytes();
        assert_eq!(
            out[..],
            [
                0xbb, 0x1d, 0x69, 0x29, 0xe9, 0x59, 0x37, 0x28, 0x7f, 0xa3, 0x7d, 0x12, 0x9b, 0x75,
                0x67, 0x46
            ]
        );
    }
}
