//! The `csprotos` protobuf messages (spec §11), generated at build time from every
//! `proto/csprotos/*.proto`: compute and router messages, the currency and credits, the blind bank,
//! nonce locking and the auth bank. Every singular field is `optional` (explicit presence, as the
//! reference's Edition 2023 files have), so a field set to its zero value is still serialized.
//!
//! Besides the generated types, [`encode_json`]/[`decode_json`] convert any message of the schema to
//! and from its protobuf JSON form (through the embedded descriptors), which is how Python reaches
//! the messages that have no typed binding.

#![forbid(unsafe_code)]

use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};

#[allow(missing_docs, clippy::pedantic, unreachable_pub)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/csprotos.rs"));
}
// The schema has a message called `Error` (httpfmt.proto); this crate's error is `ProtoError`.
pub use generated::*;
pub use prost;
pub use prost_types;

/// Why a message could not be encoded or decoded by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// No message of that full name in the schema.
    #[error("unknown message name")]
    UnknownMessage,
    /// The JSON value does not fit the message.
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The bytes do not parse as the message.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/csprotos.fds"));

fn pool() -> Result<&'static DescriptorPool, ProtoError> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTORS).ok())
        .as_ref()
        .ok_or(ProtoError::Malformed("embedded descriptors"))
}

/// Names of every message of the schema (`csprotos.ComputeRequestInfo`, `csprotos.Credit`, ...).
pub fn message_names() -> Result<Vec<String>, ProtoError> {
    Ok(pool()?
        .all_messages()
        .map(|m| m.full_name().to_owned())
        .collect())
}

/// Serializes the protobuf-JSON form of message `name` (bytes fields are base64 strings).
pub fn encode_json(name: &str, json: &str) -> Result<Vec<u8>, ProtoError> {
    let desc = pool()?
        .get_message_by_name(name)
        .ok_or(ProtoError::UnknownMessage)?;
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = DynamicMessage::deserialize(desc, &mut de)
        .map_err(|_| ProtoError::InvalidArgument("value does not match the message schema"))?;
    de.end()
        .map_err(|_| ProtoError::InvalidArgument("trailing data after the JSON value"))?;
    Ok(msg.encode_to_vec())
}

/// Parses message `name` and returns its protobuf-JSON form (fields that are present, even when zero).
pub fn decode_json(name: &str, data: &[u8]) -> Result<String, ProtoError> {
    let desc = pool()?
        .get_message_by_name(name)
        .ok_or(ProtoError::UnknownMessage)?;
    let msg = DynamicMessage::decode(desc, data)
        .map_err(|_| ProtoError::Malformed("protobuf message"))?;
    serde_json::to_string(&msg).map_err(|_| ProtoError::Malformed("protobuf message"))
}
