//! The request/response machinery shared by chunked OHTTP and compute requests.
//!
//! Mirrors the Go library `github.com/openpcc/twoway`:
//! * [`varint`]: QUIC variable-length integers used as chunk length prefixes;
//! * [`ChunkCipher`]: anything that seals/opens successive chunks, implemented by [`CounterNonceAead`]
//!   and by HPKE sender/recipient contexts;
//! * [`ChunkSealer`] / [`ChunkOpener`]: draft-ietf-ohai-chunked-ohttp framing, the opener incremental;
//! * [`response_key_material`]: the RFC 9458 §4.4 response key schedule.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aead;
mod chunks;
mod error;
mod hpke_cipher;
mod response;
pub mod varint;

pub use aead::{AeadKey, CounterNonceAead};
pub use chunks::{stream_plaintext_len, ChunkCipher, ChunkOpener, ChunkSealer, FINAL_CHUNK_AAD};
pub use error::Error;
pub use response::{response_key_material, response_nonce_len};
