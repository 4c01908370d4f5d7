//! The `OpenPCC` compute layer: multi-recipient request encryption and length-hiding encrypted token streams.
//!
//! Byte-compatible with the Go reference's twoway multi-recipient scheme (spec §4.2–§4.5): [`SealedRequest`]
//! and [`ComputeRequest`] on the client, [`NodeRequest`] on the node, responses through
//! [`ResponseSealer`]/[`ResponseOpener`], token streams through [`stream`]. A node learns whether to pad a
//! token stream from the request ([`padding_request`]) and reports refunds on its outer response
//! ([`refund`]). Chunk framing, the counter-nonce AEAD and the response key schedule come from
//! `openpcc-twoway`, shared with chunked OHTTP.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod error;
mod incremental;
pub mod media;
pub mod padding_request;
pub mod proto;
pub mod refund;
pub mod request;
pub mod response;
pub mod stream;
mod whole;

pub use client::ComputeRequest;
pub use error::Error;
pub use media::Framing;
pub use padding_request::{padding_request_field, take_padding_request, PADDING_HEADER};
pub use refund::{refund_amount_trailer, REFUND_AMOUNT_TRAILER};
pub use request::{BodyOpener, ClientContext, NodeRequest, SealedRequest, SUITE};
pub use response::{ResponseOpener, ResponseSealer};
pub use stream::{Padding, TokenStreamOpener, TokenStreamSealer};
