//! The one error type of the crate.

/// Why an HPKE operation failed. Messages never carry key or input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ciphertext did not authenticate (wrong key, wrong aad, tampered or truncated data).
    #[error("open failed")]
    OpenFailed,
    /// A public or secret key is malformed, not on the curve, or yields a degenerate shared secret.
    #[error("invalid key")]
    InvalidKey,
    /// The context's sequence number is exhausted.
    #[error("message limit reached")]
    MessageLimit,
    /// An argument has the wrong length or an inconsistent combination (names the field, never its bytes).
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// A KEM, KDF or AEAD identifier this crate does not implement.
    #[error("unsupported algorithm id 0x{0:04x}")]
    UnsupportedSuite(u16),
    /// The operation is not defined for this suite (auth modes with the hybrid KEM, seal/open with export-only).
    #[error("not supported: {0}")]
    Unsupported(&'static str),
    /// `DeriveKeyPair` found no valid scalar in 256 candidates (RFC 9180 §7.1.3; practically unreachable).
    #[error("derive key pair failed")]
    DeriveKeyPair,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// The external Diffie-Hellman provider failed or returned a value of the wrong length.
    #[error("external dh failed")]
    ExternalDh,
}
