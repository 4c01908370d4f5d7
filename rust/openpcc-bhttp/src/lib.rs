//! Binary HTTP messages (RFC 9292), with the normalisations and padding of the `OpenPCC` reference.
//!
//! * [`encode`] writes a [`Message`] in known- or indeterminate-length form, optionally padded;
//! * [`decode`] reads either form, accepting zero padding and the truncations RFC 9292 allows;
//! * [`StreamDecoder`] does the same incrementally, yielding [`Event`]s as bytes arrive;
//! * [`normalize`] applies what the Go reference does to messages before encoding them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod decode;
mod encode;
mod error;
mod message;
pub mod normalize;
pub mod varint;

pub use decode::{
    decode, decode_request, decode_response, decode_with, Decoded, DecoderConfig, Event, Head,
    Kind, MessageAssembler, StreamDecoder, DEFAULT_MAX_SECTION_LEN,
};
pub use encode::{
    encode, encode_into, encode_request, encode_response, EncodeOptions,
    DEFAULT_MAX_ENCODED_CHUNK_LEN,
};
pub use error::{DecodeError, EncodeError, FieldProblem, Part};
pub use message::{Field, Framing, InformationalResponse, Message, Request, Response};
