//! The compute media types (openpcc `messages/messages.go`).

use crate::Error;

/// Unchunked compute request body.
pub const REQUEST: &str = "application/confsec-req";
/// Chunked compute request body.
pub const CHUNKED_REQUEST: &str = "application/confsec-chunked-req";
/// Unchunked compute response body.
pub const RESPONSE: &str = "application/confsec-res";
/// Chunked compute response body.
pub const CHUNKED_RESPONSE: &str = "application/confsec-chunked-res";

/// Largest chunk plaintext of compute messages, and the multiple their BHTTP is padded to.
pub const MAX_CHUNK_PLAINTEXT: usize = 514;

/// Whether a compute body is one AEAD message or a chunk stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// One AEAD message (`application/confsec-req` / `-res`).
    Unchunked,
    /// A chunk stream (`application/confsec-chunked-req` / `-res`).
    Chunked,
}

impl Framing {
    /// The framing a request media type selects; anything else is [`Error::UnsupportedMediaType`].
    pub fn of_request(media_type: &str) -> Result<Self, Error> {
        match media_type {
            REQUEST => Ok(Framing::Unchunked),
            CHUNKED_REQUEST => Ok(Framing::Chunked),
            _ => Err(Error::UnsupportedMediaType),
        }
    }

    /// The framing a response media type selects; anything else is [`Error::UnsupportedMediaType`].
    pub fn of_response(media_type: &str) -> Result<Self, Error> {
        match media_type {
            RESPONSE => Ok(Framing::Unchunked),
            CHUNKED_RESPONSE => Ok(Framing::Chunked),
            _ => Err(Error::UnsupportedMediaType),
        }
    }

    /// The request media type of this framing.
    #[must_use]
    pub fn request_media_type(self) -> &'static str {
        match self {
            Framing::Unchunked => REQUEST,
            Framing::Chunked => CHUNKED_REQUEST,
        }
    }

    /// The response media type of this framing.
    #[must_use]
    pub fn response_media_type(self) -> &'static str {
        match self {
            Framing::Unchunked => RESPONSE,
            Framing::Chunked => CHUNKED_RESPONSE,
        }
    }
}
