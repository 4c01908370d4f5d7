//! Wrong lengths, malformed keys and tampered ciphertexts: typed errors or implicit rejection,
//! never a panic.

mod common;

use openpcc_kyber::{
    decapsulate, encapsulate, encapsulate_with_seed, keypair_from_seed, Error, SecretKey,
    CIPHERTEXT_LEN, PUBLIC_KEY_LEN, SECRET_KEY_LEN,
};

fn keypair() -> (Vec<u8>, SecretKey) {
    keypair_from_seed(&[0x42; 64])
}

fn length_error(what: &'static str, expected: usize, got: usize) -> Error {
    Error::InvalidLength {
        what,
        expected,
        got,
    }
}

#[test]
fn public_key_of_wrong_length_is_refused() {
    let (pk, _) = keypair();
    for len in [
        0,
        1,
        32,
        PUBLIC_KEY_LEN - 32,
        PUBLIC_KEY_LEN - 1,
        PUBLIC_KEY_LEN + 1,
        1216,
    ] {
        let mut candidate = pk.clone();
        candidate.resize(len, 0);
        let expected = length_error("public key", PUBLIC_KEY_LEN, len);
        assert_eq!(
            encapsulate_with_seed(&candidate, &[0; 32]),
            Err(expected.clone())
        );
        assert_eq!(encapsulate(&candidate), Err(expected));
    }
}

#[test]
fn public_key_with_a_coefficient_not_below_q_is_refused() {
    let (pk, _) = keypair();
    // Coefficients are packed 12 bits each; bytes 3k, 3k+1 hold coefficient 2k's low 12 bits.
    for (offset, value) in [(0, 3329u16), (1149, 3329), (381, 0x0fff)] {
        let mut bad = pk.clone();
        bad[offset] = (value & 0xff) as u8;
        bad[offset + 1] = (bad[offset + 1] & 0xf0) | (value >> 8) as u8;
        assert_eq!(
            encapsulate_with_seed(&bad, &[0; 32]),
            Err(Error::InvalidPublicKey)
        );
    }
    // rho (the last 32 bytes) is free-form: any value is a valid key.
    let mut other_rho = pk;
    other_rho[PUBLIC_KEY_LEN - 1] ^= 0xff;
    assert!(encapsulate_with_seed(&other_rho, &[0; 32]).is_ok());
}

#[test]
fn ciphertext_of_wrong_length_is_refused() {
    let (pk, sk) = keypair();
    let (ct, _) = encapsulate(&pk).unwrap();
    for len in [0, 1, 960, CIPHERTEXT_LEN - 1, CIPHERTEXT_LEN + 1, 1120] {
        let mut candidate = ct.clone();
        candidate.resize(len, 0);
        assert_eq!(
            decapsulate(&sk, &candidate),
            Err(length_error("ciphertext", CIPHERTEXT_LEN, len))
        );
    }
}

#[test]
fn secret_key_of_wrong_length_is_refused_at_every_field_boundary() {
    let (_, sk) = keypair();
    for len in [
        0,
        1152,
        1152 + PUBLIC_KEY_LEN,
        2368,
        SECRET_KEY_LEN - 1,
        SECRET_KEY_LEN + 1,
    ] {
        let mut candidate = sk.as_bytes().to_vec();
        candidate.resize(len, 0);
        assert_eq!(
            SecretKey::from_bytes(&candidate).err(),
            Some(length_error("secret key", SECRET_KEY_LEN, len))
        );
    }
}

#[test]
fn secret_key_whose_public_key_does_not_match_its_hash_is_refused() {
    let (_, sk) = keypair();
    for offset in [1152, 1152 + 700, 1152 + PUBLIC_KEY_LEN - 1, 2336, 2367] {
        let mut bad = sk.as_bytes().to_vec();
        bad[offset] ^= 0x01;
        assert_eq!(
            SecretKey::from_bytes(&bad).err(),
            Some(Error::InvalidPublicKey),
            "offset {offset}"
        );
    }
}

#[test]
fn secret_key_round_trips_and_any_z_or_s_is_accepted() {
    let (pk, sk) = keypair();
    let parsed = SecretKey::from_bytes(sk.as_bytes()).unwrap();
    assert_eq!(parsed.as_bytes(), sk.as_bytes());

    // A different z changes only the rejection key; a different s_hat makes decryption fail,
    // so decapsulation falls back to KDF(z || H(c)) instead of erroring.
    let (ct, ss) = encapsulate_with_seed(&pk, &[7; 32]).unwrap();
    let mut other_z = sk.as_bytes().to_vec();
    other_z[2399] ^= 0x80;
    assert_eq!(
        decapsulate(&SecretKey::from_bytes(&other_z).unwrap(), &ct),
        Ok(ss)
    );

    let mut other_s = sk.as_bytes().to_vec();
    other_s[..1152].fill(0);
    let with_zero_s = SecretKey::from_bytes(&other_s).unwrap();
    let key = decapsulate(&with_zero_s, &ct).unwrap();
    assert_ne!(key, ss);
    assert_eq!(key, common::implicit_rejection_key(&other_s, &ct));
}

#[test]
fn tampering_anywhere_in_the_ciphertext_gives_the_implicit_rejection_key() {
    let (pk, sk) = keypair();
    let (ct, ss) = encapsulate_with_seed(&pk, &[9; 32]).unwrap();
    assert_eq!(decapsulate(&sk, &ct), Ok(ss));
    for offset in [0, 319, 320, 959, 960, 1000, CIPHERTEXT_LEN - 1] {
        for mask in [0x01, 0x80, 0xff] {
            let mut tampered = ct.clone();
            tampered[offset] ^= mask;
            let key = decapsulate(&sk, &tampered).unwrap();
            assert_eq!(
                key,
                common::implicit_rejection_key(sk.as_bytes(), &tampered),
                "{offset}"
            );
            assert_ne!(key, ss);
        }
    }
    for filler in [0x00, 0xff] {
        let constant = vec![filler; CIPHERTEXT_LEN];
        let key = decapsulate(&sk, &constant).unwrap();
        assert_eq!(
            key,
            common::implicit_rejection_key(sk.as_bytes(), &constant)
        );
    }
}

#[test]
fn random_encapsulation_round_trips_and_uses_fresh_seeds() {
    let (pk, sk) = keypair();
    let (ct1, ss1) = encapsulate(&pk).unwrap();
    let (ct2, ss2) = encapsulate(&pk).unwrap();
    assert_ne!(ct1, ct2);
    assert_ne!(ss1, ss2);
    assert_eq!(decapsulate(&sk, &ct1), Ok(ss1));
    assert_eq!(decapsulate(&sk, &ct2), Ok(ss2));
}

#[test]
fn decapsulating_with_another_key_gives_that_keys_rejection_key() {
    let (pk, _) = keypair();
    let (_, other_sk) = keypair_from_seed(&[0x43; 64]);
    let (ct, ss) = encapsulate_with_seed(&pk, &[1; 32]).unwrap();
    let key = decapsulate(&other_sk, &ct).unwrap();
    assert_ne!(key, ss);
    assert_eq!(
        key,
        common::implicit_rejection_key(other_sk.as_bytes(), &ct)
    );
}

#[test]
fn errors_and_debug_output_carry_no_key_material() {
    let (_, sk) = keypair();
    let debug = format!("{sk:?}");
    assert_eq!(debug, "SecretKey { .. }");
    let z_hex = hex::encode(&sk.as_bytes()[2368..]);
    assert!(!debug.contains(&z_hex));
    assert_eq!(
        length_error("ciphertext", CIPHERTEXT_LEN, 5).to_string(),
        "invalid ciphertext length: expected 1088, got 5"
    );
    assert_eq!(Error::InvalidPublicKey.to_string(), "invalid public key");
}
