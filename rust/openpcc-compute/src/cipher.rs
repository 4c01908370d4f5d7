//! The counter-nonce AEAD of twoway (`internal/chunks/aead.go`): chunk `i` uses `base_nonce XOR I2OSP(i, 12)`.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};

use crate::Error;

/// Every compute AEAD has 12-byte nonces and 16-byte tags.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;

enum Keyed {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// An AES-GCM key with a base nonce and a chunk counter that refuses to wrap.
pub struct CounterNonceAead {
    cipher: Keyed,
    base_nonce: [u8; NONCE_LEN],
    counter: u64,
}

impl CounterNonceAead {
    /// AES-128-GCM for a 16-byte key, AES-256-GCM for a 32-byte key (circl's `AEAD.New` keys AES by length,
    /// which is why the reference's request body uses AES-256 under an "AES-128" suite).
    pub fn new(key: &[u8], base_nonce: [u8; NONCE_LEN]) -> Result<Self, Error> {
        let bad = |_| Error::InvalidArgument("aead key must be 16 or 32 bytes");
        let cipher = match key.len() {
            16 => Keyed::Aes128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?)),
            32 => Keyed::Aes256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?)),
            _ => return Err(Error::InvalidArgument("aead key must be 16 or 32 bytes")),
        };
        Ok(Self { cipher, base_nonce, counter: 0 })
    }

    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = self.base_nonce;
        for (b, c) in nonce[NONCE_LEN - 8..].iter_mut().zip(self.counter.to_be_bytes()) {
            *b ^= c;
        }
        nonce
    }

    fn advance(&mut self) -> Result<(), Error> {
        self.counter = self.counter.checked_add(1).ok_or(Error::Limit("chunk counter"))?;
        Ok(())
    }

    /// Appends `AEAD-Seal(nonce_i, aad, pt)` (ciphertext || tag) to `out` and moves to the next chunk.
    pub fn seal_append(&mut self, aad: &[u8], pt: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        let nonce = self.nonce();
        let start = out.len();
        out.extend_from_slice(pt);
        let buf = out.get_mut(start..).ok_or(Error::InvalidArgument("output"))?;
        let tag = match &self.cipher {
            Keyed::Aes128(c) => c.encrypt_inout_detached((&nonce).into(), aad, buf.into()),
            Keyed::Aes256(c) => c.encrypt_inout_detached((&nonce).into(), aad, buf.into()),
        }
        .map_err(|_| Error::InvalidArgument("message too long"))?;
        out.extend_from_slice(&tag);
        self.advance()
    }

    /// Opens `ct` (ciphertext || tag) of the current chunk. Nothing is returned unless it authenticates, and
    /// the counter only moves on success, so a failed chunk cannot be skipped over.
    pub fn open(&mut self, aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, Error> {
        let body_len = ct.len().checked_sub(TAG_LEN).ok_or(Error::Decrypt)?;
        let (body, tag) = ct.split_at(body_len);
        let tag = tag.try_into().map_err(|_| Error::Decrypt)?;
        let nonce = self.nonce();
        let mut pt = body.to_vec();
        let result = match &self.cipher {
            Keyed::Aes128(c) => c.decrypt_inout_detached((&nonce).into(), aad, pt.as_mut_slice().into(), tag),
            Keyed::Aes256(c) => c.decrypt_inout_detached((&nonce).into(), aad, pt.as_mut_slice().into(), tag),
        };
        if result.is_err() {
            zeroize::Zeroize::zeroize(&mut pt);
            return Err(Error::Decrypt);
        }
        self.advance()?;
        Ok(pt)
    }
}

impl std::fmt::Debug for CounterNonceAead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterNonceAead").field("counter", &self.counter).finish_non_exhaustive()
    }
}
