//! The AEAD ciphers behind the contexts, keyed once per context.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;

use crate::{Aead, Error};

/// Every AEAD in this crate uses 12-byte nonces and 16-byte tags.
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// A keyed AEAD (the key schedules zeroize on drop).
pub(crate) enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Cipher {
    /// Keys the AEAD; `None` for export-only.
    pub(crate) fn new(aead: Aead, key: &[u8]) -> Result<Option<Self>, Error> {
        let bad_key = |_| Error::InvalidInput("aead key has the wrong length");
        Ok(Some(match aead {
            Aead::Aes128Gcm => Cipher::Aes128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad_key)?)),
            Aead::Aes256Gcm => Cipher::Aes256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad_key)?)),
            Aead::ChaCha20Poly1305 => {
                Cipher::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).map_err(bad_key)?))
            }
            Aead::ExportOnly => return Ok(None),
        }))
    }

    /// Encrypts `pt` into `out`, which must be exactly `pt.len() + TAG_LEN` bytes.
    pub(crate) fn seal_into(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], pt: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let (body, tag_out) = split_tag_mut(out, pt.len())?;
        let buf = InOutBuf::new(pt, body).map_err(|_| Error::InvalidInput("output buffer has the wrong length"))?;
        let tag = match self {
            Cipher::Aes128(c) => c.encrypt_inout_detached(nonce.into(), aad, buf),
            Cipher::Aes256(c) => c.encrypt_inout_detached(nonce.into(), aad, buf),
            Cipher::ChaCha(c) => c.encrypt_inout_detached(nonce.into(), aad, buf),
        }
        .map_err(|_| Error::InvalidInput("message too long"))?;
        tag_out.copy_from_slice(&tag);
        Ok(())
    }

    /// Decrypts and authenticates `ct` (body || tag) into `out`, which must be `ct.len() - TAG_LEN` bytes.
    /// On failure `out` is left untouched.
    pub(crate) fn open_into(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], ct: &[u8], out: &mut [u8]) -> Result<(), Error> {
        let body_len = ct.len().checked_sub(TAG_LEN).ok_or(Error::OpenFailed)?;
        let (body, tag) = ct.split_at(body_len);
        let buf = InOutBuf::new(body, out).map_err(|_| Error::InvalidInput("output buffer has the wrong length"))?;
        let result = match self {
            Cipher::Aes128(c) => c.decrypt_inout_detached(nonce.into(), aad, buf, tag.try_into().map_err(|_| Error::OpenFailed)?),
            Cipher::Aes256(c) => c.decrypt_inout_detached(nonce.into(), aad, buf, tag.try_into().map_err(|_| Error::OpenFailed)?),
            Cipher::ChaCha(c) => c.decrypt_inout_detached(nonce.into(), aad, buf, tag.try_into().map_err(|_| Error::OpenFailed)?),
        };
        result.map_err(|_| Error::OpenFailed)
    }
}

fn split_tag_mut(out: &mut [u8], body_len: usize) -> Result<(&mut [u8], &mut [u8]), Error> {
    if out.len() != body_len.checked_add(TAG_LEN).ok_or(Error::InvalidInput("message too long"))? {
        return Err(Error::InvalidInput("output buffer has the wrong length"));
    }
    Ok(out.split_at_mut(body_len))
}
