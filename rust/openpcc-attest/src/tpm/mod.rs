//! TPM 2.0 evidence: `TPMS_ATTEST` (quote, certify-creation), `TPMT_PUBLIC`, `TPMT_SIGNATURE`,
//! quote and certify-creation verification, request-encryption-key checks and AK certificate
//! chains to the GCE and Azure vTPM roots.
//!
//! Layouts follow TPM 2.0 Library Part 2 (Structures). All integers are big-endian; every
//! decoder rejects trailing bytes.

mod alg;
mod attest;
mod chain;
mod codec;
mod keys;
mod pcr;
mod public;
mod signature;
mod verify;

pub use alg::HashAlg;
pub use attest::{
    Attested, ClockInfo, TpmsAttest, ST_ATTEST_CERTIFY, ST_ATTEST_CREATION, ST_ATTEST_QUOTE,
    TPM_GENERATED,
};
pub use chain::{certificate_key, parse_certificate, root_labels, verify_chain, verify_chain_to};
pub use keys::VerifyKey;
pub use pcr::{encode_selection_list, policy_pcr_digest, PcrSelection};
pub use public::{attr, PublicKey, Scheme, TpmtPublic};
pub use signature::TpmtSignature;
pub use verify::{
    check_rek, verify_ak, verify_certify_creation, verify_identity, verify_quote, AkSource,
    CreationInput, Freshness, IdentityInput, PcrValues, QuoteInput, REFERENCE_PCRS,
};

/// Why TPM bytes could not be parsed or a signature not checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TpmError {
    /// The input ended inside the named field.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes remain after a complete structure.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// `TPMS_ATTEST.magic` is not `TPM_GENERATED_VALUE`.
    #[error("magic is not TPM_GENERATED_VALUE")]
    BadMagic,
    /// An algorithm identifier openpcc does not implement.
    #[error("unsupported algorithm {0:#06x}")]
    UnsupportedAlgorithm(u16),
    /// An attestation type other than quote, creation or certify.
    #[error("unsupported attestation type {0:#06x}")]
    UnsupportedAttestType(u16),
    /// A field holds a value the format forbids.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A public key could not be used.
    #[error("bad key: {0}")]
    Key(&'static str),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A certificate could not be parsed.
    #[error("bad certificate: {0}")]
    Certificate(&'static str),
}
