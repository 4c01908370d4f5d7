//! Binary HTTP messages (RFC 9292), with the normalisations and padding of the OpenPCC reference.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
