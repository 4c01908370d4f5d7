//! The protobuf messages the compute layer and the router exchange (spec §11), from the shared
//! `openpcc-proto` crate (one generated copy of `proto/csprotos/*.proto` for every crate).
//!
//! [`encode_json`]/[`decode_json`] convert any message of the schema to and from its protobuf JSON
//! form, with this crate's error type; Python reaches the messages through them.

pub use openpcc_proto::*;

// Not imported by name: the schema has a message called `Error` (httpfmt.proto), re-exported here.
type ComputeError = crate::Error;

#[allow(clippy::needless_pass_by_value)] // used as `map_err(to_compute_error)`
fn to_compute_error(err: openpcc_proto::ProtoError) -> ComputeError {
    match err {
        openpcc_proto::ProtoError::UnknownMessage => {
            ComputeError::InvalidArgument("unknown message name")
        }
        openpcc_proto::ProtoError::InvalidArgument(what) => ComputeError::InvalidArgument(what),
        openpcc_proto::ProtoError::Malformed(what) => ComputeError::Malformed(what),
        _ => ComputeError::Malformed("protobuf message"),
    }
}

/// Names of every message of the schema (`csprotos.ComputeRequestInfo`, ...).
pub fn message_names() -> Result<Vec<String>, ComputeError> {
    openpcc_proto::message_names().map_err(to_compute_error)
}

/// Serializes the protobuf-JSON form of message `name` (bytes fields are base64 strings).
pub fn encode_json(name: &str, json: &str) -> Result<Vec<u8>, ComputeError> {
    openpcc_proto::encode_json(name, json).map_err(to_compute_error)
}

/// Parses message `name` and returns its protobuf-JSON form (fields that are present, even when zero).
pub fn decode_json(name: &str, data: &[u8]) -> Result<String, ComputeError> {
    openpcc_proto::decode_json(name, data).map_err(to_compute_error)
}
