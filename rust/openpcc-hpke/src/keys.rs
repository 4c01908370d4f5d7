//! The secret key type: serialized bytes plus the public key computed once at construction.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{kem, Error, Kem};

/// A KEM secret key in its RFC 9180 serialization (for 0x0030: X25519 key || Kyber768 secret key).
///
/// The bytes are zeroized on drop and never printed; equality is constant-time. The public key is computed
/// once when the key is made, so decapsulation costs no extra scalar multiplication.
#[derive(Clone)]
pub struct SecretKey {
    kem: Kem,
    bytes: Zeroizing<Vec<u8>>,
    public: Vec<u8>,
}

impl SecretKey {
    /// Parses a serialized secret key (`DeserializePrivateKey`); rejects wrong lengths and invalid scalars.
    pub fn from_bytes(kem: Kem, bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != kem.secret_key_len() {
            return Err(Error::InvalidKey);
        }
        Self::from_secret(kem, Zeroizing::new(bytes.to_vec()))
    }

    /// Builds the key from owned serialized bytes, computing (and thereby validating) its public key.
    pub(crate) fn from_secret(kem: Kem, bytes: Zeroizing<Vec<u8>>) -> Result<Self, Error> {
        let public = kem::public_key(kem, &bytes)?;
        Ok(Self { kem, bytes, public })
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
        &self.public
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("kem", &self.kem).finish_non_exhaustive()
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.kem == other.kem && bool::from(self.bytes.as_slice().ct_eq(other.bytes.as_slice()))
    }
}

impl Eq for SecretKey {}
