use thiserror::Error;

/// Errors of chunk framing, chunk ciphers and response keys.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream ended before its final chunk (or inside a chunk).
    #[error("stream truncated before the final chunk")]
    Truncated,
    /// A chunk announces (or, for the final chunk, holds) more ciphertext than the opener accepts.
    #[error("too much data in chunk")]
    ChunkTooLarge,
    /// A chunk failed to authenticate.
    #[error("chunk decryption failed")]
    Decrypt,
    /// The chunk counter would wrap; no further chunk may be sealed or opened.
    #[error("chunk sequence exhausted")]
    SequenceOverflow,
    /// Bytes that do not follow the format.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The API was used against its contract (empty non-final chunk, use after an earlier error, ...).
    #[error("misuse: {0}")]
    Usage(&'static str),
    /// An algorithm that this construction does not support.
    #[error("unsupported algorithm {0:#06x}")]
    Unsupported(u16),
    /// An error from the HPKE layer.
    #[error("hpke: {0}")]
    Hpke(openpcc_hpke::Error),
}

impl From<openpcc_hpke::Error> for Error {
    fn from(err: openpcc_hpke::Error) -> Self {
        match err {
            openpcc_hpke::Error::OpenFailed => Error::Decrypt,
            openpcc_hpke::Error::MessageLimit => Error::SequenceOverflow,
            other => Error::Hpke(other),
        }
    }
}
