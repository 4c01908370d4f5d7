//! The OpenPCC compute layer: multi-recipient request encryption and length-hiding encrypted token streams.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
