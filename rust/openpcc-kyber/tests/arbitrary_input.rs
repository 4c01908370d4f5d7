//! Pseudo-random bytes of every interesting length through every entry point: a typed error
//! or a key, never a panic.

mod common;

use openpcc_kyber::{
    decapsulate, encapsulate_with_seed, keypair_from_seed, Error, SecretKey, CIPHERTEXT_LEN,
    PUBLIC_KEY_LEN, SECRET_KEY_LEN,
};
use sha3::digest::{ExtendableOutput, Update, XofReader};

fn noise(label: &str, index: usize, len: usize) -> Vec<u8> {
    let mut shake = sha3::Shake256::default();
    shake.update(format!("{label} {index}").as_bytes());
    let mut out = vec![0u8; len];
    shake.finalize_xof().read(&mut out);
    out
}

/// A public key whose `t_hat` coefficients are pseudo-random but below q, with a random rho.
fn canonical_public_key(index: usize) -> Vec<u8> {
    let mut pk = noise("rho", index, PUBLIC_KEY_LEN);
    let raw = noise("coefficients", index, 2 * 768);
    for (triple, pair) in pk[..1152].chunks_exact_mut(3).zip(raw.chunks_exact(4)) {
        let c0 = u16::from_le_bytes([pair[0], pair[1]]) % 3329;
        let c1 = u16::from_le_bytes([pair[2], pair[3]]) % 3329;
        let packed = u32::from(c0) | (u32::from(c1) << 12);
        triple.copy_from_slice(&packed.to_le_bytes()[..3]);
    }
    pk
}

#[test]
fn random_public_keys_are_refused_or_encapsulated_to() {
    let (mut refused, mut accepted) = (0, 0);
    for i in 0..200 {
        match encapsulate_with_seed(&noise("pk", i, PUBLIC_KEY_LEN), &[0; 32]) {
            Err(Error::InvalidPublicKey) => refused += 1,
            Ok((ct, _)) => {
                assert_eq!(ct.len(), CIPHERTEXT_LEN);
                accepted += 1;
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    // 768 coefficients, each not below q with probability 767/4096: practically all refused.
    assert_eq!((refused, accepted), (200, 0));
}

#[test]
fn any_canonical_public_key_is_usable() {
    for i in 0..50 {
        let pk = canonical_public_key(i);
        let (ct, ss) = encapsulate_with_seed(&pk, &[3; 32]).expect("canonical key");
        let (ct_again, ss_again) = encapsulate_with_seed(&pk, &[3; 32]).expect("canonical key");
        assert_eq!((ct, ss), (ct_again, ss_again), "deterministic in the seed");
    }
}

#[test]
fn random_secret_keys_are_refused() {
    for i in 0..100 {
        let bytes = noise("sk", i, SECRET_KEY_LEN);
        assert_eq!(
            SecretKey::from_bytes(&bytes).err(),
            Some(Error::InvalidPublicKey)
        );
    }
}

#[test]
fn random_ciphertexts_of_every_length_never_panic() {
    let (_, sk) = keypair_from_seed(&[5; 64]);
    for len in (0..=CIPHERTEXT_LEN + 40)
        .step_by(17)
        .chain([CIPHERTEXT_LEN])
    {
        let ct = noise("ct", len, len);
        match decapsulate(&sk, &ct) {
            Ok(key) => {
                assert_eq!(len, CIPHERTEXT_LEN);
                assert_eq!(key, common::implicit_rejection_key(sk.as_bytes(), &ct));
            }
            Err(Error::InvalidLength { got, .. }) => assert_eq!(got, len),
            Err(other) => panic!("unexpected error {other}"),
        }
    }
}
