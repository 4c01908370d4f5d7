//! RFC 9474 Appendix A vectors (and circl's copy) and the draft-amjad-cfrg-partially-blind-rsa vectors.

mod common;

use common::{hex_field, pad, vectors_json};
use openpcc_blindrsa::{
    blind_sign, finalize, hooks, pb_finalize, pb_verify, verify, Error, PublicKey, SecretKey,
    Variant,
};

/// r from the vector's `inv` (r = inv^-1 mod n), through the crate's own arithmetic: blinding with
/// r' = inv and reading back the inverse gives r.
fn r_from_inv(pk: &PublicKey, inv: &[u8]) -> Vec<u8> {
    let k = pk.modulus_len();
    hooks::blind_with_factor(pk, b"", &[], &pad(inv, k))
        .unwrap()
        .inv
        .to_vec()
}

fn check_rfc9474_vector(v: &serde_json::Value) {
    let name = v["name"].as_str().unwrap();
    let variant = Variant::from_name(name).unwrap();
    let sk =
        SecretKey::from_primes(&hex_field(v, "p"), &hex_field(v, "q"), &hex_field(v, "e")).unwrap();
    let pk = sk.public_key();
    assert_eq!(
        pk.n(),
        pad(&hex_field(v, "n"), pk.modulus_len()),
        "{name}: n"
    );
    let k = pk.modulus_len();
    let msg = hex_field(v, "msg");
    let prefix = hex_field(v, "msg_prefix");
    let prepared = [prefix.as_slice(), msg.as_slice()].concat();
    assert_eq!(
        prefix.len(),
        if variant.is_randomized() { 32 } else { 0 },
        "{name}"
    );
    let salt = hex_field(v, "salt");
    assert_eq!(salt.len(), variant.salt_len(), "{name}");
    let inv = pad(&hex_field(v, "inv"), k);

    let r = r_from_inv(&pk, &inv);
    let blinded = hooks::blind_with_factor(&pk, &prepared, &salt, &r).unwrap();
    assert_eq!(
        blinded.blinded_msg,
        hex_field(v, "blinded_msg"),
        "{name}: blinded_msg"
    );
    assert_eq!(blinded.inv.as_slice(), inv.as_slice(), "{name}: inv");

    let blind_sig = blind_sign(&sk, &blinded.blinded_msg).unwrap();
    assert_eq!(blind_sig, hex_field(v, "blind_sig"), "{name}: blind_sig");
    let sig = finalize(&pk, variant, &prepared, &blind_sig, &inv).unwrap();
    assert_eq!(sig, hex_field(v, "sig"), "{name}: sig");
    verify(&pk, variant, &prepared, &sig).unwrap();

    // Negative: a flipped bit in the signature or the message, or a dropped prefix.
    let mut bad = sig.clone();
    bad[k - 1] ^= 1;
    assert_eq!(
        verify(&pk, variant, &prepared, &bad),
        Err(Error::VerificationFailed)
    );
    let mut bad_msg = prepared.clone();
    bad_msg[0] ^= 0x80;
    assert_eq!(
        verify(&pk, variant, &bad_msg, &sig),
        Err(Error::VerificationFailed)
    );
    if variant.is_randomized() {
        assert_eq!(
            verify(&pk, variant, &msg, &sig),
            Err(Error::VerificationFailed)
        );
    }
    assert!(matches!(
        finalize(&pk, variant, &prepared, &blind_sig[1..], &inv),
        Err(Error::InvalidLength {
            what: "blind signature",
            ..
        })
    ));
}

#[test]
fn rfc9474_appendix_a() {
    let Some(doc) = vectors_json("blind-rsa", "rfc9474-test-vectors.json") else {
        return;
    };
    let vectors = doc["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 4);
    for v in vectors {
        check_rfc9474_vector(v);
    }
}

#[test]
fn circl_rfc9474_copy() {
    // circl's file: `input_msg` is the prepared message; its PSSZERO-Deterministic vector uses an
    // older blind, which is just another valid r here.
    let Some(doc) = vectors_json("blind-rsa", "circl-test_vectors_rfc9474.json") else {
        return;
    };
    let vectors = doc.as_array().unwrap();
    assert_eq!(vectors.len(), 4);
    for v in vectors {
        let prepared = hex_field(v, "input_msg");
        let prefix = hex_field(v, "msg_prefix");
        assert_eq!(prepared, [prefix, hex_field(v, "msg")].concat());
        check_rfc9474_vector(v);
    }
}

#[test]
fn partially_blind_draft_vectors() {
    let Some(doc) = vectors_json("partially-blind-rsa", "test-vectors.json") else {
        return;
    };
    let vectors = doc.as_array().unwrap();
    assert_eq!(vectors.len(), 4);
    let variant = Variant::PssDeterministic;
    for (i, v) in vectors.iter().enumerate() {
        let sk = SecretKey::from_primes(&hex_field(v, "p"), &hex_field(v, "q"), &hex_field(v, "e"))
            .unwrap();
        assert!(sk.has_safe_primes(), "vector {i}: safe primes");
        let pk = sk.public_key();
        let k = pk.modulus_len();
        let (msg, info) = (hex_field(v, "msg"), hex_field(v, "info"));

        let derived = pk.derive(&info).unwrap();
        assert_eq!(derived.e(), hex_field(v, "eprime"), "vector {i}: eprime");
        assert_eq!(
            sk.derive(&info).unwrap().public_key(),
            derived,
            "vector {i}: derived pair"
        );

        let r = pad(&hex_field(v, "r"), k);
        let blinded =
            hooks::pb_blind_with_factor(&pk, &msg, &info, &hex_field(v, "salt"), &r).unwrap();
        assert_eq!(
            blinded.blinded_msg,
            hex_field(v, "blind_msg"),
            "vector {i}: blind_msg"
        );
        let blind_sig = openpcc_blindrsa::pb_blind_sign(&sk, &blinded.blinded_msg, &info).unwrap();
        assert_eq!(
            blind_sig,
            hex_field(v, "blind_sig"),
            "vector {i}: blind_sig"
        );
        let sig = pb_finalize(&pk, variant, &msg, &info, &blind_sig, &blinded.inv).unwrap();
        assert_eq!(sig, hex_field(v, "sig"), "vector {i}: sig");
        pb_verify(&pk, variant, &msg, &info, &sig).unwrap();

        // Negative: other metadata, or the base key instead of the derived one.
        let other_info: &[u8] = if info.is_empty() { b"metadata" } else { b"" };
        assert_eq!(
            pb_verify(&pk, variant, &msg, other_info, &sig),
            Err(Error::VerificationFailed)
        );
        let framed = openpcc_blindrsa::metadata_message(&info, &msg).unwrap();
        assert_eq!(
            verify(&pk, variant, &framed, &sig),
            Err(Error::VerificationFailed)
        );
    }
}
