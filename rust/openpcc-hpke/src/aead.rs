//! The AEAD ciphers behind the contexts, keyed once per context.

#[cfg(feature = "aws-lc")]
use crate::awslc::AeadCipher as Backend;
use crate::{Aead, Error};
#[cfg(not(feature = "aws-lc"))]
use rustcrypto::AeadCipher as Backend;

/// Every AEAD in this crate uses 12-byte nonces and 16-byte tags.
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// A keyed AEAD (the key schedules are wiped on drop). The backend does the cipher work on split body and
/// tag buffers; the length checks and the zeroing on failure live here, once for both backends.
pub(crate) struct Cipher(Backend);

impl Cipher {
    /// Keys the AEAD; `None` for export-only.
    pub(crate) fn new(aead: Aead, key: &[u8]) -> Result<Option<Self>, Error> {
        Ok(Backend::new(aead, key)?.map(Cipher))
    }

    /// Encrypts `pt` into `out`, which must be exactly `pt.len() + TAG_LEN` bytes.
    pub(crate) fn seal_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        pt: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        let (body, tag_out) = split_tag_mut(out, pt.len())?;
        self.0.seal(*nonce, aad, pt, body, tag_out)
    }

    /// Decrypts and authenticates `ct` (body || tag) into `out`, which must be `ct.len() - TAG_LEN` bytes.
    /// On failure `out` is zeroed.
    pub(crate) fn open_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ct: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        let body_len = ct.len().checked_sub(TAG_LEN).ok_or(Error::OpenFailed)?;
        if out.len() != body_len {
            return Err(Error::InvalidInput("output buffer has the wrong length"));
        }
        let (body, tag) = ct.split_at(body_len);
        let result = self.0.open(*nonce, aad, body, tag, out);
        if result.is_err() {
            out.fill(0);
        }
        result
    }

    /// Decrypts and authenticates `buf` (body || tag) in place; returns the body length. On failure the
    /// body is zeroed.
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        let body_len = buf.len().checked_sub(TAG_LEN).ok_or(Error::OpenFailed)?;
        let (body, tag) = buf.split_at_mut(body_len);
        let result = self.0.open_in_place(*nonce, aad, tag, body);
        if result.is_err() {
            body.fill(0);
        }
        result.map(|()| body_len)
    }
}

/// The pure-Rust backend (without the `aws-lc` feature), with the same calls as `awslc::AeadCipher`.
#[cfg(not(feature = "aws-lc"))]
mod rustcrypto {
    use aes_gcm::aead::inout::InOutBuf;
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use aes_gcm::{Aes128Gcm, Aes256Gcm};
    use chacha20poly1305::ChaCha20Poly1305;

    use super::NONCE_LEN;
    use crate::{Aead, Error};

    pub(crate) enum AeadCipher {
        Aes128(Box<Aes128Gcm>),
        Aes256(Box<Aes256Gcm>),
        ChaCha(Box<ChaCha20Poly1305>),
    }

    impl AeadCipher {
        pub(crate) fn new(aead: Aead, key: &[u8]) -> Result<Option<Self>, Error> {
            let bad_key = |_| Error::InvalidInput("aead key has the wrong length");
            Ok(Some(match aead {
                Aead::Aes128Gcm => {
                    Self::Aes128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad_key)?))
                }
                Aead::Aes256Gcm => {
                    Self::Aes256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad_key)?))
                }
                Aead::ChaCha20Poly1305 => Self::ChaCha(Box::new(
                    ChaCha20Poly1305::new_from_slice(key).map_err(bad_key)?,
                )),
                Aead::ExportOnly => return Ok(None),
            }))
        }

        /// Encrypts `pt` into `body` (same length) and the tag into `tag_out`.
        pub(crate) fn seal(
            &self,
            nonce: [u8; NONCE_LEN],
            aad: &[u8],
            pt: &[u8],
            body: &mut [u8],
            tag_out: &mut [u8],
        ) -> Result<(), Error> {
            let buf = InOutBuf::new(pt, body)
                .map_err(|_| Error::InvalidInput("output buffer has the wrong length"))?;
            let nonce = (&nonce).into();
            let tag = match self {
                Self::Aes128(c) => c.encrypt_inout_detached(nonce, aad, buf),
                Self::Aes256(c) => c.encrypt_inout_detached(nonce, aad, buf),
                Self::ChaCha(c) => c.encrypt_inout_detached(nonce, aad, buf),
            }
            .map_err(|_| Error::InvalidInput("message too long"))?;
            tag_out.copy_from_slice(&tag);
            Ok(())
        }

        /// Decrypts `body` into `out` after checking `tag`; `out` must not be used on failure.
        pub(crate) fn open(
            &self,
            nonce: [u8; NONCE_LEN],
            aad: &[u8],
            body: &[u8],
            tag: &[u8],
            out: &mut [u8],
        ) -> Result<(), Error> {
            let buf = InOutBuf::new(body, out)
                .map_err(|_| Error::InvalidInput("output buffer has the wrong length"))?;
            self.decrypt_detached(nonce, aad, buf, tag)
        }

        /// Decrypts `body` in place after checking `tag`; `body` must not be used on failure.
        pub(crate) fn open_in_place(
            &self,
            nonce: [u8; NONCE_LEN],
            aad: &[u8],
            tag: &[u8],
            body: &mut [u8],
        ) -> Result<(), Error> {
            self.decrypt_detached(nonce, aad, InOutBuf::from(body), tag)
        }

        /// Decrypts `buf` and checks `tag`; any failure (a tag of the wrong size included) is `OpenFailed`.
        fn decrypt_detached(
            &self,
            nonce: [u8; NONCE_LEN],
            aad: &[u8],
            buf: InOutBuf<'_, '_, u8>,
            tag: &[u8],
        ) -> Result<(), Error> {
            let tag = tag.try_into().map_err(|_| Error::OpenFailed)?;
            let nonce = (&nonce).into();
            match self {
                Self::Aes128(c) => c.decrypt_inout_detached(nonce, aad, buf, tag),
                Self::Aes256(c) => c.decrypt_inout_detached(nonce, aad, buf, tag),
                Self::ChaCha(c) => c.decrypt_inout_detached(nonce, aad, buf, tag),
            }
            .map_err(|_| Error::OpenFailed)
        }
    }
}

fn split_tag_mut(out: &mut [u8], body_len: usize) -> Result<(&mut [u8], &mut [u8]), Error> {
    if out.len()
        != body_len
            .checked_add(TAG_LEN)
            .ok_or(Error::InvalidInput("message too long"))?
    {
        return Err(Error::InvalidInput("output buffer has the wrong length"));
    }
    Ok(out.split_at_mut(body_len))
}

/// A raw AEAD key for protocols that derive their own keys and nonces next to HPKE (OHTTP responses,
/// twoway bodies). Nonces are the caller's responsibility: never reuse one with the same key.
pub struct AeadKey {
    aead: Aead,
    cipher: Cipher,
}

impl AeadKey {
    /// Keys `aead` with `key` (`Nk` bytes); export-only has no cipher and is refused.
    pub fn new(aead: Aead, key: &[u8]) -> Result<Self, Error> {
        if key.len() != aead.key_len() {
            return Err(Error::InvalidInput("aead key has the wrong length"));
        }
        let cipher =
            Cipher::new(aead, key)?.ok_or(Error::Unsupported("the suite's aead is export-only"))?;
        Ok(Self { aead, cipher })
    }

    /// The algorithm of this key.
    #[must_use]
    pub fn aead(&self) -> Aead {
        self.aead
    }

    /// Encrypts `pt` into `out` (exactly `pt.len() + 16` bytes).
    pub fn seal_into(
        &self,
        nonce: &[u8],
        aad: &[u8],
        pt: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        self.cipher.seal_into(nonce_array(nonce)?, aad, pt, out)
    }

    /// Decrypts `ct` (body || tag) into `out` (exactly `ct.len() - 16` bytes).
    pub fn open_into(
        &self,
        nonce: &[u8],
        aad: &[u8],
        ct: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        self.cipher.open_into(nonce_array(nonce)?, aad, ct, out)
    }

    /// Decrypts `buf` (ciphertext || tag) in place, for large messages that should not need a second
    /// buffer; returns `len`, the plaintext being `buf[..len]`. On failure that part of `buf` is zeroed.
    pub fn open_in_place(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8]) -> Result<usize, Error> {
        self.cipher.open_in_place(nonce_array(nonce)?, aad, buf)
    }

    /// Encrypts `pt`, returning ciphertext || tag.
    pub fn seal(&self, nonce: &[u8], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = vec![
            0u8;
            pt.len()
                .checked_add(TAG_LEN)
                .ok_or(Error::InvalidInput("message too long"))?
        ];
        self.seal_into(nonce, aad, pt, &mut out)?;
        Ok(out)
    }

    /// Decrypts and authenticates ciphertext || tag.
    pub fn open(&self, nonce: &[u8], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = vec![0u8; ct.len().saturating_sub(TAG_LEN)];
        self.open_into(nonce, aad, ct, &mut out)?;
        Ok(out)
    }
}

impl core::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AeadKey")
            .field("aead", &self.aead)
            .finish_non_exhaustive()
    }
}

fn nonce_array(nonce: &[u8]) -> Result<&[u8; NONCE_LEN], Error> {
    nonce
        .try_into()
        .map_err(|_| Error::InvalidInput("nonce must be 12 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_in_place_known_answer() {
        // NIST GCM test case 2: zero AES-128 key and nonce, 16 zero bytes.
        let key = AeadKey::new(Aead::Aes128Gcm, &[0; 16]).unwrap();
        let mut buf =
            hex::decode("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf")
                .unwrap();
        assert_eq!(key.open_in_place(&[0; 12], b"", &mut buf).unwrap(), 16);
        assert_eq!(buf[..16], [0; 16]);
    }

    #[test]
    fn open_in_place_matches_open_and_fails_closed() {
        for (aead, len) in [
            (Aead::Aes128Gcm, 16),
            (Aead::Aes256Gcm, 32),
            (Aead::ChaCha20Poly1305, 32),
        ] {
            let key = AeadKey::new(aead, &vec![9; len]).unwrap();
            let ct = key.seal(&[1; 12], b"aad", &[0x5a; 1000]).unwrap();
            let mut buf = ct.clone();
            assert_eq!(key.open_in_place(&[1; 12], b"aad", &mut buf).unwrap(), 1000);
            assert_eq!(buf[..1000], key.open(&[1; 12], b"aad", &ct).unwrap()[..]);

            let mut forged = ct.clone();
            forged[0] ^= 1;
            assert!(matches!(
                key.open_in_place(&[1; 12], b"aad", &mut forged),
                Err(Error::OpenFailed)
            ));
            assert!(
                forged[..1000].iter().all(|&b| b == 0),
                "nothing released on failure"
            );
            assert!(matches!(
                key.open_in_place(&[1; 12], b"", &mut [0; 15]),
                Err(Error::OpenFailed)
            ));
        }
    }
}
