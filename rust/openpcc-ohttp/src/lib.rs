//! Oblivious HTTP (RFC 9458) key configurations, encapsulated requests and responses, and chunked
//! OHTTP (draft-ietf-ohai-chunked-ohttp), byte-compatible with the `OpenPCC` reference.
//!
//! * [`KeyConfig`] and the `application/ohttp-keys` list ([`encode_key_configs`], [`decode_key_configs`]);
//! * the gateway: [`GatewayKey`] decapsulates requests and hands out a [`ResponseContext`];
//! * the client: [`encapsulate_request`] returns the request and a [`ClientContext`] for the response;
//! * [`chunked`]: incremental sealers and openers for chunked requests and responses, with the
//!   reference's fixed 532-byte chunks as an option.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chunked;
mod client;
mod error;
mod gateway;
mod header;
mod key_config;
mod response;

pub use client::{encapsulate_request, encapsulate_request_with, ClientContext, Ephemeral};
pub use error::Error;
pub use gateway::GatewayKey;
pub use header::{RequestHeader, HEADER_LEN};
pub use key_config::{decode_key_configs, encode_key_configs, KeyConfig, SymmetricSuite};
pub use response::ResponseContext;

pub use openpcc_hpke::{Aead, Kdf, Kem};

/// HPKE `info` label and response exporter label of a request/response pair (media types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Labels {
    /// Prefix of the HPKE `info`: `label || 0x00 || header`.
    pub request: &'static [u8],
    /// Exporter context of the response secret.
    pub response: &'static [u8],
}

/// RFC 9458 labels for Binary HTTP messages.
pub const BHTTP_LABELS: Labels = Labels { request: b"message/bhttp request", response: b"message/bhttp response" };

/// draft-ietf-ohai-chunked-ohttp labels for Binary HTTP messages.
pub const BHTTP_CHUNKED_LABELS: Labels =
    Labels { request: b"message/bhttp chunked request", response: b"message/bhttp chunked response" };

/// Default largest request chunk plaintext the gateway accepts (reference twoway default).
pub const DEFAULT_MAX_REQUEST_CHUNK: usize = 4096;
/// Default largest response chunk plaintext the client accepts (reference twoway default).
pub const DEFAULT_MAX_RESPONSE_CHUNK: usize = 16384;
/// The reference's fixed chunk plaintext length (spec §2.6: 512 + 2 + 2 + 16).
pub const REFERENCE_CHUNK_LEN: usize = 532;
