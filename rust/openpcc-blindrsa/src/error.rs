//! The crate's one error type. Messages name the field and sizes, never key material or input bytes.

/// Everything that can go wrong in blind signing, by cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input has the wrong length (RFC 9474 "unexpected input size").
    #[error("unexpected input size: {what} is {got} bytes, expected {expected}")]
    InvalidLength {
        /// Which input.
        what: &'static str,
        /// Its required length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// An integer representative is not below the modulus (RFC 9474 "message representative out of range").
    #[error("{0} representative out of range (not below the modulus)")]
    OutOfRange(&'static str),
    /// A value has no inverse modulo n (RFC 9474 "invalid input" / "invalid blind").
    #[error("{0} is not invertible modulo n")]
    NotInvertible(&'static str),
    /// A key does not parse or is not usable (size, exponent, consistency).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A partially blind signing key whose primes are not safe primes.
    #[error("invalid key: partially blind RSA needs safe primes p and q")]
    UnsafePrimes,
    /// A message or parameter the encoding cannot carry (the modulus is too small for the PSS encoding).
    #[error("encoding error: {0}")]
    Encoding(&'static str),
    /// The signature does not verify for this key, message (and metadata).
    #[error("invalid signature")]
    VerificationFailed,
    /// The private-key operation failed its own check (a fault or a bad key).
    #[error("signing failure")]
    SigningFailed,
    /// A variant name that is not one of RFC 9474's four.
    #[error("unknown variant: {0}")]
    UnknownVariant(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failure")]
    Rng,
}
