//! Attestation evidence: parsers and verifiers for AMD SEV-SNP, Intel TDX, TPM 2.0, TCG event logs and NVIDIA GPUs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
