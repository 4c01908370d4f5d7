//! Kyber768 as submitted to NIST round 3 (not ML-KEM): the post-quantum half of the
//! X25519Kyber768Draft00 HPKE KEM that the OpenPCC gateway uses.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
