//! The protobuf messages the compute layer and the router exchange (spec §11), generated at build time from
//! `proto/csprotos/*.proto`. Every singular field is `optional` (explicit presence, as the reference's
//! Edition 2023 files have), so a field set to its zero value is still serialized.
//!
//! Besides the generated types, [`encode_json`]/[`decode_json`] convert any message of the schema to and
//! from its protobuf JSON form (through the embedded descriptors), which is how Python reaches them.

use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};

// Not imported by name: the schema has a message called `Error` (httpfmt.proto), re-exported here.
type ComputeError = crate::Error;

#[allow(missing_docs, clippy::pedantic, unreachable_pub)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/csprotos.rs"));
}
pub use generated::*;

static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/csprotos.fds"));

fn pool() -> Result<&'static DescriptorPool, ComputeError> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTORS).ok())
        .as_ref()
        .ok_or(ComputeError::Malformed("embedded descriptors"))
}

/// Names of every message of the schema (`csprotos.ComputeRequestInfo`, ...).
pub fn message_names() -> Result<Vec<String>, ComputeError> {
    Ok(pool()?
        .all_messages()
        .map(|m| m.full_name().to_owned())
        .collect())
}

/// Serializes the protobuf-JSON form of message `name` (bytes fields are base64 strings).
pub fn encode_json(name: &str, json: &str) -> Result<Vec<u8>, ComputeError> {
    let desc = pool()?
        .get_message_by_name(name)
        .ok_or(ComputeError::InvalidArgument("unknown message name"))?;
    let mut de = serde_json::Deserializer::from_str(json);
    let msg = DynamicMessage::deserialize(desc, &mut de)
        .map_err(|_| ComputeError::InvalidArgument("value does not match the message schema"))?;
    de.end()
        .map_err(|_| ComputeError::InvalidArgument("trailing data after the JSON value"))?;
    Ok(msg.encode_to_vec())
}

/// Parses message `name` and returns its protobuf-JSON form (fields that are present, even when zero).
pub fn decode_json(name: &str, data: &[u8]) -> Result<String, ComputeError> {
    let desc = pool()?
        .get_message_by_name(name)
        .ok_or(ComputeError::InvalidArgument("unknown message name"))?;
    let msg = DynamicMessage::decode(desc, data)
        .map_err(|_| ComputeError::Malformed("protobuf message"))?;
    serde_json::to_string(&msg).map_err(|_| ComputeError::Malformed("protobuf message"))
}
