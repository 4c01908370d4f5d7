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
pub mod tpm;
pub mod verdict;

pub use verdict::{Check, Verdict};
