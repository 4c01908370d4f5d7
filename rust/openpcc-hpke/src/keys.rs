//! The secret key type: serialized bytes plus the loaded key material, made once at construction.

use core::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::dh::DhSecret;
use crate::hybrid::HybridSecret;
use crate::{Error, Kem};

/// What a secret key is loaded as.
pub(crate) enum KeyMaterial {
    Dh(DhSecret),
    Hybrid(HybridSecret),
}

/// A KEM secret key in its RFC 9180 serialization (for 0x0030: X25519 key || Kyber768 secret key).
///
/// The bytes are zeroized on drop and never printed; equality is constant-time. The key is parsed and its
/// public key computed once, when it is made, so decapsulation costs one scalar multiplication.
#[derive(Clone)]
pub struct SecretKey {
    kem: Kem,
    bytes: Zeroizing<Vec<u8>>,
    material: Arc<KeyMaterial>,
}

impl SecretKey {
    /// Parses a serialized secret key (`DeserializePrivateKey`); rejects wrong lengths and invalid scalars.
    pub fn from_bytes(kem: Kem, bytes: &[u8]) -> Result<Self, Error> {
        Self::from_zeroizing(kem, Zeroizing::new(bytes.to_vec()))
    }

    /// [`SecretKey::from_bytes`] taking ownership of bytes already in zeroizing memory (no further copy).
    pub fn from_zeroizing(kem: Kem, bytes: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        if bytes.len() != kem.secret_key_len() {
            return Err(Error::InvalidKey);
        }
        Self::from_secret(kem, bytes)
    }

    /// Builds the key from owned serialized bytes, validating them.
    pub(crate) fn from_secret(kem: Kem, bytes: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        let material = match kem {
            Kem::X25519Kyber768Draft00 => KeyMaterial::Hybrid(HybridSecret::from_bytes(&bytes)?),
            dhkem => KeyMaterial::Dh(DhSecret::from_bytes(dhkem, bytes.clone())?),
        };
        Ok(Self {
            kem,
            bytes,
            material: Arc::new(material),
        })
    }

    /// The serialized secret key. Handle with care.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The KEM this key belongs to.
    #[must_use]
    pub fn kem(&self) -> Kem {
        self.kem
    }

    /// Constant-time comparison of the serialized key with `bytes`.
    #[must_use]
    pub fn ct_eq_bytes(&self, bytes: &[u8]) -> bool {
        bool::from(self.bytes.as_slice().ct_eq(bytes))
    }

    /// The serialized public key.
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        match &*self.material {
            KeyMaterial::Dh(dh) => dh.public(),
            KeyMaterial::Hybrid(hybrid) => hybrid.public(),
        }
    }

    pub(crate) fn material(&self) -> &KeyMaterial {
        &self.material
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("kem", &self.kem)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.kem == other.kem && self.ct_eq_bytes(&other.bytes)
    }
}

impl Eq for SecretKey {}
