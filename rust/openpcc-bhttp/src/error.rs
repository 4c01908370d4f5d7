//! Errors of the BHTTP codec: one enum for decoding, one for encoding.
//!
//! Messages name the part of the message and, where useful, a length or limit; never the bytes.

use std::fmt;

/// A part of a binary HTTP message, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The framing indicator that starts every message.
    FramingIndicator,
    /// Request control data: method.
    Method,
    /// Request control data: scheme.
    Scheme,
    /// Request control data: authority.
    Authority,
    /// Request control data: path.
    Path,
    /// A response status code (informational or final).
    Status,
    /// The field section of an informational (1xx) response.
    InformationalFields,
    /// The header field section.
    Headers,
    /// The content (body).
    Content,
    /// The trailer field section.
    Trailers,
    /// Zero padding after the message.
    Padding,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FramingIndicator => "framing indicator",
            Self::Method => "method",
            Self::Scheme => "scheme",
            Self::Authority => "authority",
            Self::Path => "path",
            Self::Status => "status code",
            Self::InformationalFields => "informational field section",
            Self::Headers => "header section",
            Self::Content => "content",
            Self::Trailers => "trailer section",
            Self::Padding => "padding",
        })
    }
}

/// Why a field line is not acceptable (shared by the decoder and the encoder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldProblem {
    /// The name is empty.
    EmptyName,
    /// The name holds a byte outside the HTTP token characters.
    InvalidName,
    /// The value holds a control character other than tab (CR, LF, NUL, ...).
    InvalidValue,
    /// `:method`, `:scheme`, `:authority`, `:path` or `:status`, which RFC 9292 carries as control data.
    ReservedPseudoField,
    /// A pseudo-field after a regular field.
    PseudoFieldAfterRegular,
    /// A pseudo-field in a trailer section.
    PseudoFieldInTrailers,
    /// A field that HTTP does not allow in trailers (normalisation only).
    DisallowedTrailer,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptyName => "empty field name",
            Self::InvalidName => "invalid character in field name",
            Self::InvalidValue => "invalid character in field value",
            Self::ReservedPseudoField => "reserved pseudo-field",
            Self::PseudoFieldAfterRegular => "pseudo-field after a regular field",
            Self::PseudoFieldInTrailers => "pseudo-field in trailers",
            Self::DisallowedTrailer => "field not allowed in trailers",
        })
    }
}

/// A binary HTTP message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside `part`, at a point where RFC 9292 does not allow truncation.
    #[error("message truncated in the {0}")]
    Truncated(Part),
    /// The framing indicator is not 0, 1, 2 or 3.
    #[error("unknown framing indicator")]
    UnknownFramingIndicator,
    /// A request was expected and a response found, or the reverse.
    #[error("expected a {expected}, found the other kind of message")]
    UnexpectedKind {
        /// "request" or "response".
        expected: &'static str,
    },
    /// A status code outside 100..=599.
    #[error("status code out of range")]
    InvalidStatus,
    /// A field section is larger than the configured limit.
    #[error("{part} larger than the {limit}-byte limit")]
    SectionTooLarge {
        /// Which section.
        part: Part,
        /// The limit in bytes.
        limit: usize,
    },
    /// A control data field is longer than its limit.
    #[error("{part} longer than the {limit}-byte limit")]
    ControlDataTooLong {
        /// Which control data field.
        part: Part,
        /// The limit in bytes.
        limit: usize,
    },
    /// A length that does not fit in memory on this platform.
    #[error("{0} length does not fit in memory")]
    LengthOverflow(Part),
    /// In a known-length section, a field line runs past the end of the section.
    #[error("field line overruns the {0}")]
    SectionOverrun(Part),
    /// A field line is not valid HTTP.
    #[error("{problem} in the {part}")]
    InvalidField {
        /// The section holding the field.
        part: Part,
        /// What is wrong with it.
        problem: FieldProblem,
    },
    /// A non-zero byte where only zero padding may follow the message.
    #[error("non-zero padding byte at offset {offset}")]
    NonZeroPadding {
        /// Offset of the byte from the start of the message.
        offset: u64,
    },
    /// `feed` or `finish` was called after `finish`, or after an earlier error.
    #[error("stream decoder already finished or failed")]
    Finished,
}

/// A message could not be encoded (or normalised).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field line is not valid HTTP.
    #[error("{problem} in the {part} (field {index})")]
    InvalidField {
        /// The section holding the field.
        part: Part,
        /// Position of the field in its section.
        index: usize,
        /// What is wrong with it.
        problem: FieldProblem,
    },
    /// A status code outside the range of its role (100..=199 informational, 200..=599 final).
    #[error("{which} status code {status} out of range")]
    InvalidStatus {
        /// "informational" or "final".
        which: &'static str,
        /// The status given.
        status: u16,
    },
    /// `pad_to_multiple_of` was zero.
    #[error("padding multiple must be at least 1")]
    ZeroPaddingMultiple,
    /// A length above the varint maximum (2^62 - 1).
    #[error("{0} too long to encode")]
    TooLong(Part),
    /// Content was given for a response that cannot carry any (204, 304), under normalisation.
    #[error("status {0} does not allow content")]
    ContentNotAllowed(u16),
}
