//! Hybrid Public Key Encryption (RFC 9180): DHKEM over P-256/P-384/P-521/X25519/X448, the X25519Kyber768Draft00 hybrid KEM, and a recipient whose Diffie-Hellman runs on an external device.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
