use thiserror::Error;

/// Errors of OHTTP key configurations, requests, responses and chunked streams.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A key configuration (or list) does not follow RFC 9458 §3.
    #[error("key config: {0}")]
    KeyConfig(&'static str),
    /// A secret key or seed is not valid for the KEM.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A request or response is too short or otherwise malformed.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// An algorithm identifier that is not implemented.
    #[error("unsupported {0} {1:#06x}")]
    Unsupported(&'static str, u16),
    /// An operation the chosen algorithms do not support.
    #[error("unsupported: {0}")]
    UnsupportedOperation(&'static str),
    /// The request names a key identifier that this gateway does not hold.
    #[error("unknown key id {0}")]
    KeyIdMismatch(u8),
    /// The request's KEM, KDF or AEAD is not one the gateway's key config offers.
    #[error("suite not offered by the key config")]
    SuiteMismatch,
    /// Authenticated decryption failed.
    #[error("decryption failed")]
    Decrypt,
    /// A chunked stream ended without its final chunk.
    #[error("stream truncated before the final chunk")]
    Truncated,
    /// A chunk is larger than the configured maximum.
    #[error("too much data in chunk")]
    ChunkTooLarge,
    /// The chunk sequence is exhausted.
    #[error("chunk sequence exhausted")]
    SequenceOverflow,
    /// A `Content-Type` that is not the OHTTP media type expected here.
    #[error("media type: {0}")]
    MediaType(&'static str),
    /// The API was used out of order or with inconsistent arguments.
    #[error("misuse: {0}")]
    Usage(&'static str),
    /// The system random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// Any other HPKE error.
    #[error("hpke: {0}")]
    Hpke(openpcc_hpke::Error),
}

impl From<openpcc_hpke::Error> for Error {
    fn from(err: openpcc_hpke::Error) -> Self {
        use openpcc_hpke::Error as H;
        match err {
            H::OpenFailed => Error::Decrypt,
            H::MessageLimit => Error::SequenceOverflow,
            H::UnsupportedSuite(id) => Error::Unsupported("algorithm", id),
            H::InvalidKey => Error::InvalidKey("key rejected by the kem"),
            H::InvalidInput(what) => Error::Malformed(what),
            H::Unsupported(what) => Error::UnsupportedOperation(what),
            other => Error::Hpke(other),
        }
    }
}

impl From<openpcc_twoway::Error> for Error {
    fn from(err: openpcc_twoway::Error) -> Self {
        use openpcc_twoway::Error as T;
        match err {
            T::Truncated => Error::Truncated,
            T::ChunkTooLarge => Error::ChunkTooLarge,
            T::Decrypt => Error::Decrypt,
            T::SequenceOverflow => Error::SequenceOverflow,
            T::Malformed(what) => Error::Malformed(what),
            T::Usage(what) => Error::Usage(what),
            T::Unsupported(id) => Error::Unsupported("aead", id),
            T::Hpke(err) => err.into(),
            _ => Error::Malformed("chunk stream"),
        }
    }
}
