//! The 7-byte request header `key_id || kem_id || kdf_id || aead_id` (big endian).

use openpcc_hpke::{Aead, Kdf, Kem, Suite};

use crate::Error;

/// Length of the request header.
pub const HEADER_LEN: usize = 7;

/// The request header: which key and suite the client used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    /// Key identifier of the gateway key.
    pub key_id: u8,
    /// HPKE suite.
    pub suite: Suite,
}

impl RequestHeader {
    /// The 7-byte encoding.
    #[must_use]
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let [k0, k1] = self.suite.kem.id().to_be_bytes();
        let [d0, d1] = self.suite.kdf.id().to_be_bytes();
        let [a0, a1] = self.suite.aead.id().to_be_bytes();
        [self.key_id, k0, k1, d0, d1, a0, a1]
    }

    /// Decodes the header; unknown algorithm ids are [`Error::Unsupported`].
    #[allow(clippy::similar_names)] // kem_id / kdf_id are the RFC's names
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, Error> {
        let [key_id, k0, k1, d0, d1, a0, a1] = *bytes;
        let (kem_id, kdf_id, aead_id) = (
            u16::from_be_bytes([k0, k1]),
            u16::from_be_bytes([d0, d1]),
            u16::from_be_bytes([a0, a1]),
        );
        let kem = Kem::try_from(kem_id).map_err(|_| Error::Unsupported("kem", kem_id))?;
        let kdf = Kdf::try_from(kdf_id).map_err(|_| Error::Unsupported("kdf", kdf_id))?;
        let aead = Aead::try_from(aead_id).map_err(|_| Error::Unsupported("aead", aead_id))?;
        Ok(Self {
            key_id,
            suite: Suite::new(kem, kdf, aead),
        })
    }

    /// HPKE `info`: `label || 0x00 || header`.
    #[must_use]
    pub fn info(&self, label: &[u8]) -> Vec<u8> {
        let mut info = Vec::with_capacity(label.len() + 1 + HEADER_LEN);
        info.extend_from_slice(label);
        info.push(0);
        info.extend_from_slice(&self.encode());
        info
    }
}
