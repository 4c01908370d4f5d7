//! `TPMT_SIGNATURE`: RSASSA, RSAPSS and ECDSA signatures as a TPM returns them.

use super::alg::{HashAlg, ALG_ECDSA, ALG_RSAPSS, ALG_RSASSA};
use super::codec::Reader;
use super::TpmError;

/// A parsed `TPMT_SIGNATURE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TpmtSignature {
    /// RSASSA-PKCS1-v1_5.
    RsaSsa {
        /// Digest the TPM signed.
        hash: HashAlg,
        /// Signature, big-endian, modulus-sized.
        sig: Vec<u8>,
    },
    /// RSASSA-PSS.
    RsaPss {
        /// Digest and MGF1 hash.
        hash: HashAlg,
        /// Signature.
        sig: Vec<u8>,
    },
    /// ECDSA.
    Ecdsa {
        /// Digest the TPM signed.
        hash: HashAlg,
        /// r, big-endian.
        r: Vec<u8>,
        /// s, big-endian.
        s: Vec<u8>,
    },
}

impl TpmtSignature {
    /// Parses a `TPMT_SIGNATURE`, rejecting trailing bytes and schemes openpcc cannot verify.
    pub fn decode(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut rd = Reader::new(bytes);
        let alg = rd.u16("signature sigAlg")?;
        let sig = match alg {
            ALG_RSASSA | ALG_RSAPSS => {
                let hash = HashAlg::require(rd.u16("signature hash")?)?;
                let sig = rd.tpm2b("signature rsa")?.to_vec();
                if alg == ALG_RSASSA {
                    Self::RsaSsa { hash, sig }
                } else {
                    Self::RsaPss { hash, sig }
                }
            }
            ALG_ECDSA => Self::Ecdsa {
                hash: HashAlg::require(rd.u16("signature hash")?)?,
                r: rd.tpm2b("signature ecdsa r")?.to_vec(),
                s: rd.tpm2b("signature ecdsa s")?.to_vec(),
            },
            other => return Err(TpmError::UnsupportedAlgorithm(other)),
        };
        rd.finish()?;
        Ok(sig)
    }

    /// The hash the TPM signed with (also the hash of a quote's `pcrDigest`).
    #[must_use]
    pub fn hash(&self) -> HashAlg {
        match self {
            Self::RsaSsa { hash, .. } | Self::RsaPss { hash, .. } | Self::Ecdsa { hash, .. } => {
                *hash
            }
        }
    }

    /// Scheme name for claims.
    #[must_use]
    pub fn scheme_name(&self) -> &'static str {
        match self {
            Self::RsaSsa { .. } => "rsassa",
            Self::RsaPss { .. } => "rsapss",
            Self::Ecdsa { .. } => "ecdsa",
        }
    }
}
