//! Oblivious HTTP (RFC 9458) key configurations, encapsulated requests and responses, and chunked
//! OHTTP (draft-ietf-ohai-chunked-ohttp), byte-compatible with the `OpenPCC` reference.
//!
//! * [`KeyConfig`] and the `application/ohttp-keys` list ([`encode_key_configs`], [`decode_key_configs`]);
//! * the gateway: [`GatewayKey`] decapsulates requests and hands out a [`ResponseContext`];
//! * the client: [`encapsulate_request`] returns the request and a [`ClientContext`] for the response;
//! * [`chunked`]: incremental sealers and openers for chunked requests and responses, with the
//!   reference's fixed 532-byte chunks as an option;
//! * [`stream`]: openers and sealers of either [`Form`], chosen by the caller or by a media type.
//!
//! The response form is independent of the request form, as in the reference, whose gateway
//! answers chunked whenever the inner response streams or announces trailers: every context keeps
//! both response secrets (`Export("message/bhttp response")` and
//! `Export("message/bhttp chunked response")`), so all four request/response pairings work.
//!
//! Gateway, any request form: [`stream::RequestOpener::for_media_type`] (or [`GatewayKey::decapsulate_request`]
//! / [`chunked::ChunkedRequestOpener`]) gives a [`ResponseContext`]; answer with
//! [`ResponseContext::encapsulate_response`] (`message/ohttp-res`), [`chunked::ChunkedResponseSealer`]
//! (`message/ohttp-chunked-res`) or [`stream::ResponseSealer`] of the [`Form`] you pick, and label the
//! outer response with [`Form::response_media_type`].
//! Client: open the response with [`stream::ResponseOpener::for_media_type`] given its `Content-Type`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chunked;
mod client;
mod error;
mod form;
mod gateway;
mod header;
mod key_config;
mod response;
pub mod stream;

pub use client::{encapsulate_request, encapsulate_request_with, ClientContext, Ephemeral};
pub use error::Error;
pub use form::{
    Form, CHUNKED_REQUEST_MEDIA_TYPE, CHUNKED_RESPONSE_MEDIA_TYPE, REQUEST_MEDIA_TYPE,
    RESPONSE_MEDIA_TYPE,
};
pub use gateway::GatewayKey;
pub use header::{RequestHeader, HEADER_LEN};
pub use key_config::{decode_key_configs, encode_key_configs, KeyConfig, SymmetricSuite};
pub use response::ResponseContext;

pub use openpcc_hpke::{Aead, Kdf, Kem};

/// Default plaintext length of the chunks a sealer emits (the reference twoway sealer's default).
pub const DEFAULT_SEAL_CHUNK_LEN: usize = 4096;
/// Default largest request chunk plaintext the gateway accepts: draft-ietf-ohai-chunked-ohttp
/// requires every implementation to accept 16384 bytes (the `ohttp` crate 0.8 sends such chunks).
pub const DEFAULT_MAX_REQUEST_CHUNK: usize = 16384;
/// The reference gateway's request chunk limit (its BHTTP decoder's default), a deviation from the
/// draft; pass it as `max_chunk_len` to refuse what the reference refuses.
pub const REFERENCE_MAX_REQUEST_CHUNK: usize = 4096;
/// Default largest response chunk plaintext the client accepts (reference twoway default, and the draft's).
pub const DEFAULT_MAX_RESPONSE_CHUNK: usize = 16384;
/// The reference's fixed chunk plaintext length (spec §2.6: 512 + 2 + 2 + 16).
pub const REFERENCE_CHUNK_LEN: usize = 532;
