//! Attestation evidence: parsers and verifiers for AMD SEV-SNP, Intel TDX, TPM 2.0, TCG event logs
//! and NVIDIA GPUs.
//!
//! Every verifier returns a [`Verdict`]: the list of checks it ran, each passed or failed with a
//! human reason, plus the claims it parsed. A verifier never panics on bad input; a parse failure
//! is a failed check.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod eventlog;
pub mod nvidia;
pub mod sevsnp;
pub mod tdx;
pub mod tpm;
pub mod verdict;
pub mod x509;

pub use verdict::{Check, Verdict};

/// Lower-case hex, as claims and messages show bytes.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}
