//! Kyber768 as submitted to NIST round 3 (not ML-KEM): the post-quantum half of the
//! X25519Kyber768Draft00 HPKE KEM that the OpenPCC gateway uses, byte-compatible with
//! `github.com/cloudflare/circl/kem/kyber/kyber768`.
//!
//! A thin layer over `libcrux-ml-kem` (formally verified; its `kyber` feature provides round 3
//! beside ML-KEM): it adds circl's seeded entry points with typed errors, the FIPS 203 key checks
//! that circl leaves out, and a secret key that is zeroized on drop. libcrux picks its AVX2 (x86-64)
//! or NEON (aarch64) back end per call from the CPU's features at run time and falls back to its
//! portable code, so one build runs on every CPU of its architecture.
//!
//! Round 3 differs from FIPS 203 ML-KEM in three places: key generation hashes `G(d)` without the
//! rank byte; encapsulation hashes its seed once more (`m = H(seed)`) and derives the key as
//! `KDF(Kbar || H(c))` with SHAKE-256; implicit rejection returns `KDF(z || H(c))`. Keys and
//! ciphertexts have the same layout in both. Key generation is libcrux's `kyber` function. Its Kyber
//! decapsulation rejects with `KDF(J(z || c) || H(c))` instead of circl's `KDF(z || H(c))`, and its
//! Kyber functions take packed keys only, so encapsulation and decapsulation are built from libcrux's
//! ML-KEM functions on unpacked keys (`backend.rs`) plus the round-3 hashing (see each function).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![allow(
    clippy::doc_markdown,
    reason = "docs use the specifications' notation (Kbar, H(pk), z), not code names"
)]

mod backend;

use core::fmt;
use std::cell::RefCell;
use std::rc::Rc;

use libcrux_ml_kem::kyber768;
use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey};
use sha3::digest::{Digest, ExtendableOutput, Update, XofReader};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

/// Bytes of a Kyber768 public key.
pub const PUBLIC_KEY_LEN: usize = 1184;
/// Bytes of a Kyber768 secret key: `s_hat (1152) || pk (1184) || H(pk) (32) || z (32)`.
pub const SECRET_KEY_LEN: usize = 2400;
/// Bytes of a Kyber768 ciphertext.
pub const CIPHERTEXT_LEN: usize = 1088;
/// Bytes of the shared secret.
pub const SHARED_SECRET_LEN: usize = 32;

const _: () = assert!(PUBLIC_KEY_LEN == MlKem768PublicKey::len());
const _: () = assert!(SECRET_KEY_LEN == MlKem768PrivateKey::len());
const _: () = assert!(CIPHERTEXT_LEN == MlKem768Ciphertext::len());
const _: () = assert!(SHARED_SECRET_LEN == libcrux_ml_kem::SHARED_SECRET_SIZE);

/// Where the public key sits inside a secret key (after the 1152-byte IND-CPA secret).
const PK_OFFSET: usize = SECRET_KEY_LEN - PUBLIC_KEY_LEN - 64;
/// Where the implicit-rejection secret z sits: the last 32 bytes.
const Z_OFFSET: usize = SECRET_KEY_LEN - 32;

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

/// A Kyber768 secret key in circl's 2400-byte layout, kept unpacked too (for decapsulation without
/// re-deriving the matrix). Both forms are zeroized on drop; `Debug` shows nothing.
pub struct SecretKey {
    key: Box<MlKem768PrivateKey>,
    unpacked: backend::KeyPair,
}

impl SecretKey {
    /// Parses a 2400-byte secret key, checking that its embedded public key is well formed
    /// and matches the embedded `H(pk)` (the FIPS 203 decapsulation-key check).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != SECRET_KEY_LEN {
            return Err(length_error("secret key", SECRET_KEY_LEN, bytes.len()));
        }
        let mut key: Box<MlKem768PrivateKey> = Box::default();
        key[0..].copy_from_slice(bytes);
        let key = Self::new(key);
        parse_public_key(key.public_key())?;
        // The hash check reads only public data (pk and H(pk)), so libcrux's portable code is enough.
        if !mlkem768::portable::validate_private_key_only(&key.key) {
            return Err(Error::InvalidPublicKey);
        }
        Ok(key)
    }

    fn new(key: Box<MlKem768PrivateKey>) -> Self {
        let unpacked = backend::KeyPair::unpack(&key);
        Self { key, unpacked }
    }

    /// The 2400 bytes of the key.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.key.as_slice()
    }

    /// The public key embedded in the secret key.
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        &self.key[PK_OFFSET..PK_OFFSET + PUBLIC_KEY_LEN]
    }

    fn rejection_secret(&self) -> &[u8] {
        &self.key[Z_OFFSET..]
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.key[0..].zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").finish_non_exhaustive()
    }
}

fn length_error(what: &'static str, expected: usize, got: usize) -> Error {
    Error::InvalidLength {
        what,
        expected,
        got,
    }
}

/// A public key of the right length whose 768 coefficients are all below q (the FIPS 203
/// modulus check; circl would accept a larger one, key generation never makes one).
fn parse_public_key(bytes: &[u8]) -> Result<MlKem768PublicKey, Error> {
    let key = MlKem768PublicKey::try_from(bytes)
        .map_err(|_| length_error("public key", PUBLIC_KEY_LEN, bytes.len()))?;
    if mlkem768::validate_public_key(&key) {
        Ok(key)
    } else {
        Err(Error::InvalidPublicKey)
    }
}

/// Round-3 keygen from a 64-byte seed = d (32) || z (32): (rho, sigma) = SHA3-512(d) (no k byte), z is the
/// implicit-rejection secret. This is what circl's kyber768.NewKeyFromSeed does.
#[must_use]
pub fn keypair_from_seed(seed: &[u8; 64]) -> (Vec<u8>, SecretKey) {
    let (mut secret, public) = kyber768::generate_key_pair(*seed).into_parts();
    let mut key: Box<MlKem768PrivateKey> = Box::default();
    key[0..].copy_from_slice(secret.as_slice());
    secret[0..].zeroize();
    (public.as_slice().to_vec(), SecretKey::new(key))
}

/// Round-3 encapsulation from a 32-byte seed: m = SHA3-256(seed) first ("hash of shame"), then
/// (Kbar, r) = SHA3-512(m || SHA3-256(pk)), c = Enc(pk, m, r), K = SHAKE256(Kbar || SHA3-256(c), 32).
/// This is what circl's EncapsulateTo(ct, ss, pk, seed) does.
///
/// A public key with a coefficient not below q is refused with [`Error::InvalidPublicKey`]
/// (circl would accept it; such a key never comes out of key generation).
///
/// Built on ML-KEM encapsulation, which with message `m` computes exactly round 3's
/// `(Kbar, r) = G(m || H(pk))` and `c`: this function hashes the seed into `m` first and applies
/// round 3's KDF to `Kbar` after.
pub fn encapsulate_with_seed(
    pk: &[u8],
    seed: &[u8; 32],
) -> Result<(Vec<u8>, [u8; SHARED_SECRET_LEN]), Error> {
    let public_key = unpacked_public_key(pk)?;
    let message = Zeroizing::new(sha3::Sha3_256::digest(seed).into());
    let (ciphertext, kbar) = public_key.encapsulate(*message);
    let kbar = Zeroizing::new(kbar);
    let ciphertext_hash = sha3::Sha3_256::digest(ciphertext.as_slice());
    let shared_secret = shake256_32(&[kbar.as_slice(), ciphertext_hash.as_slice()]);
    Ok((ciphertext.as_slice().to_vec(), *shared_secret))
}

thread_local! {
    /// The last public key this thread encapsulated to, checked and unpacked: a client sends its
    /// requests to one gateway key, and unpacking (sampling the matrix) is a third of the work.
    static LAST_PUBLIC_KEY: RefCell<Option<(MlKem768PublicKey, Rc<backend::PublicKey>)>> =
        const { RefCell::new(None) };
}

/// `pk` checked ([`parse_public_key`]) and unpacked, from the one-entry cache when it matches.
fn unpacked_public_key(pk: &[u8]) -> Result<Rc<backend::PublicKey>, Error> {
    let cached = LAST_PUBLIC_KEY.with_borrow(|last| {
        last.as_ref()
            .filter(|(bytes, _)| bytes.as_slice().as_slice() == pk)
            .map(|(_, unpacked)| Rc::clone(unpacked))
    });
    if let Some(unpacked) = cached {
        return Ok(unpacked);
    }
    let public_key = parse_public_key(pk)?;
    let unpacked = Rc::new(backend::PublicKey::unpack(&public_key));
    LAST_PUBLIC_KEY.set(Some((public_key, Rc::clone(&unpacked))));
    Ok(unpacked)
}

/// Encapsulation with a fresh 32-byte seed from the operating system's RNG.
pub fn encapsulate(pk: &[u8]) -> Result<(Vec<u8>, [u8; SHARED_SECRET_LEN]), Error> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut_slice()).map_err(|_| Error::RandomnessUnavailable)?;
    encapsulate_with_seed(pk, &seed)
}

/// Constant-time decapsulation with implicit rejection: K = SHAKE256(z || SHA3-256(c)) on failure.
///
/// Round-3 and ML-KEM decapsulation share everything up to the choice of key: decrypt to m',
/// (Kbar', r') = G(m' || H(pk)), re-encrypt, compare. libcrux's ML-KEM decapsulation therefore
/// returns `Kbar'` for a valid ciphertext and `J(z || c)` = SHAKE256(z || c)[:32] otherwise. This
/// function recomputes `J(z || c)`, takes equality with it (constant time) as the rejection flag
/// (a valid ciphertext whose `Kbar'` equals `J(z || c)` has probability 2^-256 and cannot be
/// steered without z), selects `Kbar'` or `z` and applies round 3's KDF, as circl does.
pub fn decapsulate(sk: &SecretKey, ct: &[u8]) -> Result<[u8; SHARED_SECRET_LEN], Error> {
    let ciphertext = MlKem768Ciphertext::try_from(ct)
        .map_err(|_| length_error("ciphertext", CIPHERTEXT_LEN, ct.len()))?;
    let candidate = Zeroizing::new(sk.unpacked.decapsulate(&ciphertext));
    let rejection_key = shake256_32(&[sk.rejection_secret(), ct]);
    let rejected = candidate.ct_eq(rejection_key.as_slice());

    let mut chosen = Zeroizing::new([0u8; 32]);
    for ((out, kbar), z) in chosen
        .iter_mut()
        .zip(candidate.iter())
        .zip(sk.rejection_secret())
    {
        *out = u8::conditional_select(kbar, z, rejected);
    }
    let ciphertext_hash = sha3::Sha3_256::digest(ct);
    Ok(*shake256_32(&[
        chosen.as_slice(),
        ciphertext_hash.as_slice(),
    ]))
}

/// SHAKE-256 of the concatenated parts, 32 bytes out (round 3's KDF and FIPS 203's J).
fn shake256_32(parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut shake = sha3::Shake256::default();
    for part in parts {
        shake.update(part);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    shake.finalize_xof().read(out.as_mut_slice());
    out
}
