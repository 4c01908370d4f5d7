//! Hybrid Public Key Encryption (RFC 9180): DHKEM over P-256/P-384/P-521/X25519/X448, the `X25519Kyber768Draft00` hybrid KEM, and a recipient whose Diffie-Hellman runs on an external device.
//!
//! The key schedule is written here over `RustCrypto` primitives because the reference needs things no HPKE
//! crate offers: circl's hybrid KEM (spec §2.2) and a recipient whose DH is done by a TPM (spec §5.4).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aead;
mod algorithms;
#[cfg(feature = "aws-lc")]
mod awslc;
mod context;
mod dh;
mod ephemeral;
mod error;
mod hybrid;
mod kdf;
mod kem;
mod keys;
mod suite;

pub use aead::AeadKey;
pub use algorithms::{Aead, Kdf, Kem};
pub use context::{RecipientContext, SenderContext};
pub use error::Error;
pub use keys::SecretKey;
pub use suite::{RecipientOptions, SenderOptions, Suite};

/// Length of every AEAD tag in this crate (`Nt`).
pub const TAG_LEN: usize = aead::TAG_LEN;
