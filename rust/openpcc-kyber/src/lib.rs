//! Kyber768 as submitted to NIST round 3 (not ML-KEM): the post-quantum half of the
//! X25519Kyber768Draft00 HPKE KEM that the OpenPCC gateway uses, byte-compatible with
//! `github.com/cloudflare/circl/kem/kyber/kyber768`.
//!
//! Round 3 differs from FIPS 203 ML-KEM in three places, all reproduced here:
//! key generation hashes `G(d)` without the rank byte; encapsulation hashes its seed once more
//! (`m = H(seed)`) and derives the key as `KDF(Kbar || H(c))` with SHAKE-256; implicit rejection
//! returns `KDF(z || H(c))`.
//!
//! All arithmetic on secret data is free of secret-dependent branches, table indices and
//! division instructions; the re-encryption check and the key selection use `subtle`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![allow(
    clippy::doc_markdown,
    reason = "docs use the specification's notation (Z_q, Encode_12, t_hat), not code names"
)]

mod field;
mod pke;
mod poly;
mod symmetric;

use core::fmt;

use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

use symmetric::{hash_g, hash_h, kdf};

/// Bytes of a Kyber768 public key.
pub const PUBLIC_KEY_LEN: usize = 1184;
/// Bytes of a Kyber768 secret key: `s_hat (1152) || pk (1184) || H(pk) (32) || z (32)`.
pub const SECRET_KEY_LEN: usize = 2400;
/// Bytes of a Kyber768 ciphertext.
pub const CIPHERTEXT_LEN: usize = 1088;
/// Bytes of the shared secret.
pub const SHARED_SECRET_LEN: usize = 32;

const _: () = assert!(PUBLIC_KEY_LEN == pke::PUBLIC_KEY_LEN);
const _: () = assert!(CIPHERTEXT_LEN == pke::CIPHERTEXT_LEN);
const _: () = assert!(SECRET_KEY_LEN == pke::SECRET_KEY_LEN + PUBLIC_KEY_LEN + 32 + 32);

const PK_OFFSET: usize = pke::SECRET_KEY_LEN;
const HPK_OFFSET: usize = PK_OFFSET + PUBLIC_KEY_LEN;
const Z_OFFSET: usize = HPK_OFFSET + 32;

/// Why a Kyber operation refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input had the wrong number of bytes.
    #[error("invalid {what} length: expected {expected}, got {got}")]
    InvalidLength {
        /// Which input (`"public key"`, `"secret key"`, `"ciphertext"`).
        what: &'static str,
        /// The only accepted length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// A public key (alone or inside a secret key) has a coefficient not below q, or a secret
    /// key's stored `H(pk)` does not match its public key.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// The operating system's random number generator failed (only [`encapsulate`]).
    #[error("operating system randomness unavailable")]
    RandomnessUnavailable,
}

/// A Kyber768 secret key in circl's 2400-byte layout. Zeroized on drop; `Debug` shows nothing.
pub struct SecretKey {
    bytes: Box<[u8; SECRET_KEY_LEN]>,
}

impl SecretKey {
    /// Parses a 2400-byte secret key, checking that its embedded public key is well formed
    /// and matches the embedded `H(pk)` (the FIPS 203 decapsulation-key check).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let array: &[u8; SECRET_KEY_LEN] = bytes.try_into().map_err(|_| Error::InvalidLength {
            what: "secret key",
            expected: SECRET_KEY_LEN,
            got: bytes.len(),
        })?;
        let mut key = Self {
            bytes: Box::new([0u8; SECRET_KEY_LEN]),
        };
        key.bytes.copy_from_slice(array);
        let public_key = key.public_key_bytes();
        if pke::PublicKey::from_bytes(public_key).is_none() {
            return Err(Error::InvalidPublicKey);
        }
        if !bool::from(hash_h(&[public_key]).ct_eq(key.public_key_hash())) {
            return Err(Error::InvalidPublicKey);
        }
        Ok(key)
    }

    /// The 2400 bytes of the key.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// A fixed field of the key. The offsets are constants inside the 2400 bytes (asserted
    /// above), so the zero fallback is unreachable; it only avoids a panic path.
    fn part<const LEN: usize>(&self, offset: usize) -> &[u8; LEN] {
        self.bytes
            .get(offset..offset + LEN)
            .and_then(|slice| slice.try_into().ok())
            .unwrap_or(&[0u8; LEN])
    }

    fn public_key_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        self.part(PK_OFFSET)
    }

    fn public_key_hash(&self) -> &[u8; 32] {
        self.part(HPK_OFFSET)
    }

    fn rejection_secret(&self) -> &[u8; 32] {
        self.part(Z_OFFSET)
    }

    fn pke_secret(&self) -> pke::SecretVector {
        pke::SecretVector::from_bytes(self.part(0))
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").finish_non_exhaustive()
    }
}

/// Round-3 keygen from a 64-byte seed = d (32) || z (32): (rho, sigma) = SHA3-512(d) (no k byte), z is the
/// implicit-rejection secret. This is what circl's kyber768.NewKeyFromSeed does.
#[must_use]
pub fn keypair_from_seed(seed: &[u8; 64]) -> (Vec<u8>, SecretKey) {
    let (d, z) = seed.split_at(32);
    let mut d_array = Zeroizing::new([0u8; 32]);
    d_array.copy_from_slice(d);
    let (public_key, pke_secret) = pke::generate(&d_array);

    let mut bytes = Box::new([0u8; SECRET_KEY_LEN]);
    let (s_part, rest) = bytes.split_at_mut(PK_OFFSET);
    let (pk_part, rest) = rest.split_at_mut(PUBLIC_KEY_LEN);
    let (hpk_part, z_part) = rest.split_at_mut(32);
    s_part.copy_from_slice(pke_secret.as_slice());
    pk_part.copy_from_slice(&public_key);
    hpk_part.copy_from_slice(&hash_h(&[&public_key]));
    z_part.copy_from_slice(z);
    (public_key.to_vec(), SecretKey { bytes })
}

/// Round-3 encapsulation from a 32-byte seed: m = SHA3-256(seed) first ("hash of shame"), then
/// (Kbar, r) = SHA3-512(m || SHA3-256(pk)), c = Enc(pk, m, r), K = SHAKE256(Kbar || SHA3-256(c), 32).
/// This is what circl's EncapsulateTo(ct, ss, pk, seed) does.
///
/// A public key with a coefficient not below q is refused with [`Error::InvalidPublicKey`]
/// (circl would accept it; such a key never comes out of key generation).
pub fn encapsulate_with_seed(
    pk: &[u8],
    seed: &[u8; 32],
) -> Result<(Vec<u8>, [u8; SHARED_SECRET_LEN]), Error> {
    let pk: &[u8; PUBLIC_KEY_LEN] = pk.try_into().map_err(|_| Error::InvalidLength {
        what: "public key",
        expected: PUBLIC_KEY_LEN,
        got: pk.len(),
    })?;
    let parsed = pke::PublicKey::from_bytes(pk).ok_or(Error::InvalidPublicKey)?;
    let message = Zeroizing::new(hash_h(&[seed]));
    let kbar_coins = hash_g(&[message.as_slice(), &hash_h(&[pk])]);
    let (kbar, coins) = split_halves(&kbar_coins);
    let ciphertext = parsed.encrypt(&message, coins);
    let shared_secret = kdf(&[kbar, &hash_h(&[&ciphertext])]);
    Ok((ciphertext.to_vec(), shared_secret))
}

/// Encapsulation with a fresh 32-byte seed from the operating system's RNG.
pub fn encapsulate(pk: &[u8]) -> Result<(Vec<u8>, [u8; SHARED_SECRET_LEN]), Error> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|_| Error::RandomnessUnavailable)?;
    encapsulate_with_seed(pk, &seed)
}

/// Constant-time decapsulation with implicit rejection: K = SHAKE256(z || SHA3-256(c)) on failure.
pub fn decapsulate(sk: &SecretKey, ct: &[u8]) -> Result<[u8; SHARED_SECRET_LEN], Error> {
    let ct: &[u8; CIPHERTEXT_LEN] = ct.try_into().map_err(|_| Error::InvalidLength {
        what: "ciphertext",
        expected: CIPHERTEXT_LEN,
        got: ct.len(),
    })?;
    // Checked in from_bytes / built by keypair_from_seed, so this cannot fail for a SecretKey.
    let public_key =
        pke::PublicKey::from_bytes(sk.public_key_bytes()).ok_or(Error::InvalidPublicKey)?;
    let message = sk.pke_secret().decrypt(ct);
    let kbar_coins = hash_g(&[message.as_slice(), sk.public_key_hash()]);
    let (kbar, coins) = split_halves(&kbar_coins);
    let reencrypted = public_key.encrypt(&message, coins);
    let ciphertexts_match = reencrypted.as_slice().ct_eq(ct.as_slice());

    let mut chosen = Zeroizing::new([0u8; 32]);
    for ((out, good), reject) in chosen.iter_mut().zip(kbar).zip(sk.rejection_secret()) {
        *out = u8::conditional_select(reject, good, ciphertexts_match);
    }
    Ok(kdf(&[chosen.as_slice(), &hash_h(&[ct])]))
}

/// Splits G's 64-byte output into its two 32-byte halves (Kbar, coins).
fn split_halves(bytes: &[u8; 64]) -> (&[u8; 32], &[u8; 32]) {
    let (first, second) = bytes.split_at(32);
    (
        first.try_into().unwrap_or(&[0u8; 32]),
        second.try_into().unwrap_or(&[0u8; 32]),
    )
}
