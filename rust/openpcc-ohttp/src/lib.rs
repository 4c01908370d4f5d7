//! Oblivious HTTP (RFC 9458) key configurations, encapsulated requests and responses, and chunked OHTTP.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
