//! The AWS-LC backend (`aws-lc` feature, on by default): P-256/P-384/P-521 and X25519 scalar
//! multiplication and the AEADs, where AWS-LC's assembly is 3-4x faster than the pure-Rust (`RustCrypto`) crates.
//!
//! Only the curve arithmetic and the AEAD run here; encodings are checked and the key schedule computed by
//! this crate, and the RFC 9180 vectors plus differential tests against `RustCrypto` pin the outputs.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::dh::Secret;
use crate::{Aead, Error, Kem};

fn algorithm(kem: Kem) -> Option<&'static agreement::Algorithm> {
    match kem {
        Kem::P256 => Some(&agreement::ECDH_P256),
        Kem::P384 => Some(&agreement::ECDH_P384),
        Kem::P521 => Some(&agreement::ECDH_P521),
        Kem::X25519 => Some(&agreement::X25519),
        Kem::X448 | Kem::X25519Kyber768Draft00 => None,
    }
}

/// A loaded private key: AWS-LC keeps the public point next to the scalar, so DH needs one multiplication.
pub(crate) struct DhKey(PrivateKey);

impl DhKey {
    /// Loads a serialized secret key (already checked to be valid); `None` if AWS-LC lacks the group.
    pub(crate) fn load(kem: Kem, sk: &[u8]) -> Result<Option<(Self, Vec<u8>)>, Error> {
        let Some(alg) = algorithm(kem) else {
            return Ok(None);
        };
        let key = PrivateKey::from_private_key(alg, sk).map_err(|_| Error::InvalidKey)?;
        Self::with_public(key).map(Some)
    }

    /// A fresh random key; `None` if AWS-LC lacks the group.
    pub(crate) fn generate(kem: Kem) -> Result<Option<(Self, Vec<u8>)>, Error> {
        let Some(alg) = algorithm(kem) else {
            return Ok(None);
        };
        let key = PrivateKey::generate(alg).map_err(|_| Error::Rng)?;
        Self::with_public(key).map(Some)
    }

    fn with_public(key: PrivateKey) -> Result<(Self, Vec<u8>), Error> {
        let public = key.compute_public_key().map_err(|_| Error::InvalidKey)?;
        Ok((Self(key), public.as_ref().to_vec()))
    }

    /// `DH(sk, pk)`; `pk` must already have passed this crate's encoding checks.
    pub(crate) fn agree(&self, pk: &[u8]) -> Result<Secret, Error> {
        let peer = UnparsedPublicKey::new(self.0.algorithm(), pk);
        agreement::agree(&self.0, peer, Error::InvalidKey, |shared| {
            Ok(Zeroizing::new(shared.to_vec()))
        })
    }
}

/// A keyed AEAD.
pub(crate) struct AeadCipher(LessSafeKey);

impl AeadCipher {
    pub(crate) fn new(aead: Aead, key: &[u8]) -> Result<Option<Self>, Error> {
        let alg = match aead {
            Aead::Aes128Gcm => &aead::AES_128_GCM,
            Aead::Aes256Gcm => &aead::AES_256_GCM,
            Aead::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
            Aead::ExportOnly => return Ok(None),
        };
        let key = UnboundKey::new(alg, key)
            .map_err(|_| Error::InvalidInput("aead key has the wrong length"))?;
        Ok(Some(Self(LessSafeKey::new(key))))
    }

    /// Encrypts `pt` into `body` (same length) and the tag into `tag`.
    pub(crate) fn seal(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        pt: &[u8],
        body: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), Error> {
        self.0
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                pt,
                body,
                &[],
                tag,
            )
            .map_err(|_| Error::InvalidInput("message too long"))
    }

    /// Decrypts `body` into `out` after checking `tag`; `out` must not be used on failure.
    pub(crate) fn open(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        body: &[u8],
        tag: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        self.0
            .open_separate_gather(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                body,
                tag,
                out,
            )
            .map_err(|_| Error::OpenFailed)
    }

    /// Decrypts `body` in place after checking `tag`; `body` must not be used on failure.
    pub(crate) fn open_in_place(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        tag: &[u8],
        body: &mut [u8],
    ) -> Result<(), Error> {
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                tag,
                body,
            )
            .map(|_| ())
            .map_err(|_| Error::OpenFailed)
    }
}
