//! Round trips with fresh randomness, key encodings and bad input, on the partially-blind vector key
//! (RSA-2048 with safe primes) and the RFC 9474 key (RSA-4096, ordinary primes).

mod common;

use common::{hex_field, pad, vectors_json};
use openpcc_blindrsa::{
    blind, blind_sign, finalize, hooks, pb_blind, pb_blind_sign, pb_finalize, pb_verify, prepare,
    verify, Error, PublicKey, Salt, SecretKey, Variant,
};

fn safe_prime_key() -> Option<(SecretKey, serde_json::Value)> {
    let doc = vectors_json("partially-blind-rsa", "test-vectors.json")?;
    let v = doc[0].clone();
    let sk = SecretKey::from_primes(
        &hex_field(&v, "p"),
        &hex_field(&v, "q"),
        &hex_field(&v, "e"),
    )
    .unwrap();
    Some((sk, v))
}

fn rfc_key() -> Option<SecretKey> {
    let doc = vectors_json("blind-rsa", "rfc9474-test-vectors.json")?;
    let v = &doc["vectors"][0];
    Some(
        SecretKey::from_primes(&hex_field(v, "p"), &hex_field(v, "q"), &hex_field(v, "e")).unwrap(),
    )
}

#[test]
fn every_variant_round_trips_with_fresh_randomness() {
    let Some((sk, _)) = safe_prime_key() else {
        return;
    };
    let pk = sk.public_key();
    for variant in Variant::ALL {
        let msg = prepare(variant, b"a credit").unwrap();
        let b1 = blind(&pk, variant, Salt::Random, &msg).unwrap();
        let b2 = blind(&pk, variant, Salt::Random, &msg).unwrap();
        assert_ne!(
            b1.blinded_msg, b2.blinded_msg,
            "{variant:?}: blinding is random"
        );
        let sig = finalize(
            &pk,
            variant,
            &msg,
            &blind_sign(&sk, &b1.blinded_msg).unwrap(),
            &b1.inv,
        )
        .unwrap();
        verify(&pk, variant, &msg, &sig).unwrap();
        assert_eq!(
            Variant::from_name(&format!("RSABSSA-{}", variant.suffix())).unwrap(),
            variant
        );
    }
}

#[test]
fn partially_blind_zero_salt_is_the_reference_encoding() {
    let Some((sk, _)) = safe_prime_key() else {
        return;
    };
    let pk = sk.public_key();
    let variant = Variant::PssDeterministic;
    let info = [0x02, 0x24];
    let msg = [7u8; 24];
    let b = pb_blind(&pk, variant, Salt::Zeros, &msg, &info).unwrap();
    let sig = pb_finalize(
        &pk,
        variant,
        &msg,
        &info,
        &pb_blind_sign(&sk, &b.blinded_msg, &info).unwrap(),
        &b.inv,
    )
    .unwrap();
    pb_verify(&pk, variant, &msg, &info, &sig).unwrap();
    // The zero salt makes the encoding deterministic: the same r gives the same blinded message.
    let r = pad(&[3u8; 1], pk.modulus_len());
    let one = hooks::pb_blind_with_factor(&pk, &msg, &info, &[0u8; 48], &r).unwrap();
    let two = hooks::pb_blind_with_factor(&pk, &msg, &info, &[0u8; 48], &r).unwrap();
    assert_eq!(one.blinded_msg, two.blinded_msg);
    // A signature for one value does not verify as another.
    assert_eq!(
        pb_verify(&pk, variant, &msg, &[0x02, 0x25], &sig),
        Err(Error::VerificationFailed)
    );
}

#[test]
fn keys_round_trip_through_pem_and_der() {
    let Some((sk, v)) = safe_prime_key() else {
        return;
    };
    let pem = sk.to_pem().unwrap();
    let again = SecretKey::from_pem(&pem).unwrap();
    assert_eq!(again.public_key(), sk.public_key());
    assert_eq!(
        SecretKey::from_der(&sk.to_der().unwrap())
            .unwrap()
            .public_key(),
        sk.public_key()
    );
    let pk = sk.public_key();
    assert_eq!(PublicKey::from_pem(&pk.to_pem().unwrap()).unwrap(), pk);
    assert_eq!(PublicKey::from_der(&pk.to_der().unwrap()).unwrap(), pk);
    assert_eq!(
        PublicKey::from_components(&hex_field(&v, "n"), &hex_field(&v, "e")).unwrap(),
        pk
    );
    assert_eq!(pk.e(), vec![1, 0, 1]);
    assert_eq!(pk.bits(), 2048);
}

#[test]
fn bad_input_gives_typed_errors() {
    let Some((sk, _)) = safe_prime_key() else {
        return;
    };
    let pk = sk.public_key();
    let k = pk.modulus_len();
    let n = pk.n();
    let variant = Variant::PssDeterministic;
    let inv = vec![1u8; k];

    // Wrong lengths.
    for len in [0, k - 1, k + 1] {
        assert!(matches!(
            blind_sign(&sk, &vec![1u8; len]),
            Err(Error::InvalidLength {
                what: "blinded message",
                ..
            })
        ));
        assert!(matches!(
            finalize(&pk, variant, b"m", &vec![1u8; len], &inv),
            Err(Error::InvalidLength { .. })
        ));
        assert!(matches!(
            finalize(&pk, variant, b"m", &inv, &vec![1u8; len]),
            Err(Error::InvalidLength {
                what: "inverse",
                ..
            })
        ));
        assert!(matches!(
            verify(&pk, variant, b"m", &vec![1u8; len]),
            Err(Error::InvalidLength {
                what: "signature",
                ..
            })
        ));
    }
    // Representatives out of range: n itself, and all-ones.
    assert_eq!(
        blind_sign(&sk, &n),
        Err(Error::OutOfRange("blinded message"))
    );
    assert_eq!(
        blind_sign(&sk, &vec![0xff; k]),
        Err(Error::OutOfRange("blinded message"))
    );
    assert_eq!(
        finalize(&pk, variant, b"m", &n, &inv),
        Err(Error::OutOfRange("blind signature"))
    );
    assert_eq!(
        finalize(&pk, variant, b"m", &inv, &n),
        Err(Error::OutOfRange("inverse"))
    );
    assert_eq!(
        verify(&pk, variant, b"m", &n),
        Err(Error::VerificationFailed)
    );
    // A blinding factor sharing a factor with n (here p) is not invertible.
    let Some(doc) = vectors_json("partially-blind-rsa", "test-vectors.json") else {
        return;
    };
    let p = pad(&hex_field(&doc[0], "p"), k);
    assert_eq!(
        hooks::blind_with_factor(&pk, b"m", &[], &p).map(|_| ()),
        Err(Error::NotInvertible("blinding factor"))
    );
    assert_eq!(
        hooks::blind_with_factor(&pk, b"m", &[], &vec![0u8; k]).map(|_| ()),
        Err(Error::NotInvertible("blinding factor"))
    );
    // A wrong inverse finalizes to a signature that fails its check.
    let msg = b"m";
    let b = blind(&pk, variant, Salt::Random, msg).unwrap();
    let blind_sig = blind_sign(&sk, &b.blinded_msg).unwrap();
    assert_eq!(
        finalize(&pk, variant, msg, &blind_sig, &inv),
        Err(Error::VerificationFailed)
    );
    // Garbage keys and names.
    assert!(matches!(
        PublicKey::from_der(b"\x30\x00"),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        SecretKey::from_pem("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        PublicKey::from_components(&[0xff; 64], &[1, 0, 1]),
        Err(Error::InvalidKey(_))
    ));
    assert!(matches!(
        Variant::from_name("RSABSSA-SHA256-PSS-Randomized"),
        Err(Error::UnknownVariant(_))
    ));
}

#[test]
fn partially_blind_refuses_keys_without_safe_primes() {
    let Some(sk) = rfc_key() else { return };
    assert!(!sk.has_safe_primes());
    assert_eq!(sk.derive(b"metadata").map(|_| ()), Err(Error::UnsafePrimes));
    assert_eq!(
        pb_blind_sign(&sk, &vec![1u8; 512], b"metadata"),
        Err(Error::UnsafePrimes)
    );
}
