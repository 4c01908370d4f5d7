//! Loading and checking the circl Kyber768 vectors (tests/interop/kyber at the repository root).
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::PathBuf;

use openpcc_kyber::{decapsulate, encapsulate_with_seed, keypair_from_seed, SecretKey};
use serde::Deserialize;
use sha3::digest::{Digest, ExtendableOutput, Update, XofReader};

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct VectorFile {
    pub(crate) source: String,
    pub(crate) generator: String,
    pub(crate) notes: String,
    pub(crate) vectors: Vec<Vector>,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct Vector {
    pub(crate) name: String,
    pub(crate) key_seed: String,
    pub(crate) encaps_seed: String,
    pub(crate) public_key: String,
    pub(crate) secret_key: String,
    pub(crate) ciphertext: String,
    pub(crate) shared_secret: String,
    pub(crate) corrupted_bit: usize,
    pub(crate) corrupted_ciphertext: String,
    pub(crate) corrupted_shared_secret: String,
    pub(crate) random_ciphertext: String,
    pub(crate) random_shared_secret: String,
}

pub(crate) fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/kyber")
}

pub(crate) fn committed_vectors_json() -> String {
    let path = interop_dir().join("circl-kyber768-vectors.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub(crate) fn parse(json: &str) -> VectorFile {
    serde_json::from_str(json).expect("vector file is not the expected JSON")
}

fn unhex(field: &str, value: &str) -> Vec<u8> {
    hex::decode(value).unwrap_or_else(|e| panic!("{field} is not hex: {e}"))
}

fn fixed<const N: usize>(field: &str, value: &str) -> [u8; N] {
    unhex(field, value)
        .try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("{field} has {} bytes", v.len()))
}

/// K = SHAKE256(z || SHA3-256(c)), computed here independently of the crate.
pub(crate) fn implicit_rejection_key(secret_key: &[u8], ciphertext: &[u8]) -> [u8; 32] {
    let z = &secret_key[2368..2400];
    let mut shake = sha3::Shake256::default();
    shake.update(z);
    shake.update(&sha3::Sha3_256::digest(ciphertext));
    let mut out = [0u8; 32];
    shake.finalize_xof().read(&mut out);
    out
}

/// Checks every byte of one circl vector against this crate.
pub(crate) fn check_vector(v: &Vector) {
    let name = &v.name;
    let (pk, sk) = keypair_from_seed(&fixed::<64>("key_seed", &v.key_seed));
    assert_eq!(hex::encode(&pk), v.public_key, "{name}: public key");
    assert_eq!(
        hex::encode(sk.as_bytes()),
        v.secret_key,
        "{name}: secret key"
    );

    let (ct, ss) = encapsulate_with_seed(&pk, &fixed::<32>("encaps_seed", &v.encaps_seed))
        .unwrap_or_else(|e| panic!("{name}: encapsulate: {e}"));
    assert_eq!(hex::encode(&ct), v.ciphertext, "{name}: ciphertext");
    assert_eq!(hex::encode(ss), v.shared_secret, "{name}: shared secret");

    let parsed = SecretKey::from_bytes(&unhex("secret_key", &v.secret_key))
        .unwrap_or_else(|e| panic!("{name}: circl's secret key refused: {e}"));
    assert_eq!(
        decapsulate(&parsed, &ct).ok(),
        Some(ss),
        "{name}: decapsulate"
    );

    let corrupted = unhex("corrupted_ciphertext", &v.corrupted_ciphertext);
    let mut expected_corruption = ct.clone();
    expected_corruption[v.corrupted_bit / 8] ^= 1 << (v.corrupted_bit % 8);
    assert_eq!(
        corrupted, expected_corruption,
        "{name}: corrupted ciphertext is one bit flip"
    );
    check_rejection(name, &sk, &corrupted, &v.corrupted_shared_secret);
    check_rejection(
        name,
        &parsed,
        &unhex("random_ciphertext", &v.random_ciphertext),
        &v.random_shared_secret,
    );
}

fn check_rejection(name: &str, sk: &SecretKey, ciphertext: &[u8], circl_key: &str) {
    let key = decapsulate(sk, ciphertext).unwrap_or_else(|e| panic!("{name}: rejected with {e}"));
    assert_eq!(
        hex::encode(key),
        circl_key,
        "{name}: implicit rejection key vs circl"
    );
    assert_eq!(
        key,
        implicit_rejection_key(sk.as_bytes(), ciphertext),
        "{name}: KDF(z || H(c))"
    );
}
