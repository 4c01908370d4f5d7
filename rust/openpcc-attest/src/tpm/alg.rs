//! TPM algorithm identifiers (`TPM_ALG_ID`) and the hashes a verifier computes with them.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::TpmError;

/// `TPM_ALG_RSA`.
pub(crate) const ALG_RSA: u16 = 0x0001;
/// `TPM_ALG_KEYEDHASH`.
pub(crate) const ALG_KEYEDHASH: u16 = 0x0008;
/// `TPM_ALG_NULL`.
pub(crate) const ALG_NULL: u16 = 0x0010;
/// `TPM_ALG_RSASSA` (PKCS #1 v1.5 signatures).
pub(crate) const ALG_RSASSA: u16 = 0x0014;
/// `TPM_ALG_RSAES`.
pub(crate) const ALG_RSAES: u16 = 0x0015;
/// `TPM_ALG_RSAPSS`.
pub(crate) const ALG_RSAPSS: u16 = 0x0016;
/// `TPM_ALG_ECDSA`.
pub(crate) const ALG_ECDSA: u16 = 0x0018;
/// `TPM_ALG_ECDAA` (its scheme carries a count after the hash).
pub(crate) const ALG_ECDAA: u16 = 0x001A;
/// `TPM_ALG_ECC`.
pub(crate) const ALG_ECC: u16 = 0x0023;
/// `TPM_ALG_SYMCIPHER`.
pub(crate) const ALG_SYMCIPHER: u16 = 0x0025;
/// `TPM_ECC_NIST_P256`.
pub(crate) const ECC_NIST_P256: u16 = 0x0003;
/// `TPM_ECC_NIST_P384`.
pub(crate) const ECC_NIST_P384: u16 = 0x0004;

/// A hash algorithm a TPM names by `TPM_ALG_ID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    /// `TPM_ALG_SHA1` (0x0004).
    Sha1,
    /// `TPM_ALG_SHA256` (0x000B).
    Sha256,
    /// `TPM_ALG_SHA384` (0x000C).
    Sha384,
    /// `TPM_ALG_SHA512` (0x000D).
    Sha512,
}

impl HashAlg {
    /// The hash for a `TPM_ALG_ID`, or `None` when it is not a hash openpcc computes.
    #[must_use]
    pub fn from_id(id: u16) -> Option<Self> {
        match id {
            0x0004 => Some(Self::Sha1),
            0x000B => Some(Self::Sha256),
            0x000C => Some(Self::Sha384),
            0x000D => Some(Self::Sha512),
            _ => None,
        }
    }

    pub(crate) fn require(id: u16) -> Result<Self, TpmError> {
        Self::from_id(id).ok_or(TpmError::UnsupportedAlgorithm(id))
    }

    /// The bank name used in claims and PCR files: `sha1`, `sha256`, `sha384`, `sha512`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Its `TPM_ALG_ID`.
    #[must_use]
    pub fn id(self) -> u16 {
        match self {
            Self::Sha1 => 0x0004,
            Self::Sha256 => 0x000B,
            Self::Sha384 => 0x000C,
            Self::Sha512 => 0x000D,
        }
    }

    /// Lower-case name, as in `sha256`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Digest length in bytes.
    #[must_use]
    pub fn size(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The digest of the concatenation of `parts`.
    #[must_use]
    pub fn digest_parts<'a>(self, parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        fn run<D: Digest>(parts: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Vec<u8> {
            let mut h = D::new();
            for p in parts {
                h.update(p.as_ref());
            }
            h.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }

    /// The digest of `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        self.digest_parts([data])
    }
}
