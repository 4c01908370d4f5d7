//! NVIDIA GPU and `NVSwitch` attestation: SPDM 1.1 `GET_MEASUREMENTS` evidence signed by the
//! device, and the device certificate chain up to the NVIDIA Device Identity CA.
//!
//! Accepted inputs: the JSON list (or one object) the NVIDIA collection tools write
//! (`{arch, certificate: base64 PEM chain, evidence: base64 request‖response, nonce: hex, ...}`),
//! or the hex of `request‖response` followed by the PEM chain (the nvtrust sample pair
//! concatenated). The reference verifies only NRAS-issued JWTs and skips their claims (spec §12.2
//! item 7); here the device's own evidence is checked offline.

mod chain;
mod evidence;
mod spdm;

pub use chain::{
    clear_signature_cache, default_roots, leaf_fwids, parse_pem_chain, verify_chain,
    DEVICE_ROOT_PEM,
};
pub use evidence::{verify_evidence, VerifyOptions};
pub use spdm::{
    driver_version, opaque_fwid, parse_exchange, parse_opaque, vbios_version, Exchange,
    MeasurementBlock, Request, Response, ALL_MEASUREMENTS, SIGNATURE_LEN,
};

/// Why NVIDIA evidence failed to parse or verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NvidiaError {
    /// A field ran past the end of its buffer.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes after the signature.
    #[error("{0} trailing bytes after the signature")]
    TrailingBytes(usize),
    /// Only SPDM 1.1 is supported.
    #[error("unsupported spdm version {0:#04x}")]
    UnsupportedVersion(u8),
    /// A request or response code other than `GET_MEASUREMENTS` / MEASUREMENTS.
    #[error("unexpected spdm {what} code {code:#04x}")]
    UnexpectedCode {
        /// `request` or `response`.
        what: &'static str,
        /// The code found.
        code: u8,
    },
    /// A measurement block is malformed.
    #[error("bad measurement block: {0}")]
    BadMeasurement(&'static str),
    /// A certificate does not parse or uses an unsupported algorithm.
    #[error("bad certificate: {0}")]
    BadCertificate(&'static str),
    /// The chain does not verify.
    #[error("{0}")]
    Chain(&'static str),
    /// The chain breaks a path rule shared with every vendor (`x509::check_path`).
    #[error("{0}")]
    Path(String),
    /// The evidence container (JSON, base64, hex) is malformed.
    #[error("bad evidence format: {0}")]
    Format(&'static str),
}
