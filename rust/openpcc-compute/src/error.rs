//! The one error type of the compute layer.

/// Why a compute-layer operation failed. Messages name the part, never key or input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A chunk's ciphertext is larger than the chunk limit (514 plaintext bytes + tag).
    #[error("chunk exceeds the size limit")]
    ChunkTooLarge,
    /// An AEAD check failed: tampered, reordered, dropped or replayed data, or the wrong key.
    #[error("decryption failed")]
    Decrypt,
    /// The encapsulated key's header names another suite or key id.
    #[error("encapsulated key header does not match the compute suite")]
    HeaderMismatch,
    /// An HPKE operation failed for a reason other than authentication.
    #[error("hpke: {0}")]
    Hpke(openpcc_hpke::Error),
    /// An argument is not valid (names the argument, never its bytes).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Bytes that do not parse as the format requires.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A limit of the format was reached (header section size, chunk counter).
    #[error("limit reached: {0}")]
    Limit(&'static str),
    /// The operation came after the stream was finished or failed.
    #[error("stream is finished")]
    Finished,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// Data after the end of the message (after the final chunk, or after an unchunked body's tag).
    #[error("trailing data after the final chunk")]
    TrailingData,
    /// The message ended early: no final chunk, or fewer bytes than its fixed fields need.
    #[error("message truncated")]
    Truncated,
    /// The data key could not be unwrapped: an encapsulated key for another node, or a tampered one.
    #[error("cannot unwrap the data key: encapsulated key is for another node or was altered")]
    UnwrapFailed,
    /// The router named a node that was not one of the request's candidates.
    #[error("response from a node that was not a candidate")]
    UnknownNode,
    /// A media type other than the compute request/response types, or one of the wrong direction.
    #[error("unsupported media type")]
    UnsupportedMediaType,
}

impl From<openpcc_twoway::Error> for Error {
    fn from(e: openpcc_twoway::Error) -> Self {
        use openpcc_twoway::Error as T;
        match e {
            T::Truncated => Error::Truncated,
            T::ChunkTooLarge => Error::ChunkTooLarge,
            T::Decrypt => Error::Decrypt,
            T::SequenceOverflow => Error::Limit("chunk counter"),
            T::Malformed(what) => Error::Malformed(what),
            T::Usage("stream failed earlier") => Error::Finished,
            T::Usage(what) => Error::InvalidArgument(what),
            T::Hpke(h) => Error::from(h),
            _ => Error::Malformed("chunk stream"),
        }
    }
}

impl From<openpcc_hpke::Error> for Error {
    fn from(e: openpcc_hpke::Error) -> Self {
        match e {
            openpcc_hpke::Error::OpenFailed => Error::Decrypt,
            other => Error::Hpke(other),
        }
    }
}
