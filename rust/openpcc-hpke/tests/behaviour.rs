//! Behaviour beyond the RFC vectors: the hybrid KEM, the external-DH recipient, and every error path.

use openpcc_hpke::{Aead, Error, Kdf, Kem, RecipientOptions, SecretKey, SenderOptions, Suite};

const ALL_KEMS: [Kem; 6] = [
    Kem::P256,
    Kem::P384,
    Kem::P521,
    Kem::X25519,
    Kem::X448,
    Kem::X25519Kyber768Draft00,
];

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn hybrid_derive_key_pair_reproduces_the_reference_gateway_key() {
    // spec §13.3: the mem-gateway seed gives the public key of the signed dev bundle.
    let suite = Suite::new(Kem::X25519Kyber768Draft00, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (sk, pk) = suite
        .derive_key_pair(&hex(
            "0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997",
        ))
        .unwrap();
    assert_eq!(pk.len(), 1216);
    assert_eq!(sk.as_bytes().len(), 2432);
    assert_eq!(
        pk[..32],
        hex("43f39b8b1a493650689ae718f0d2630b3cf5b63c660c6fcb5c49686d646e232d")
    );
    assert_eq!(pk[32..48], hex("ede001b083470ba169750cae7e097989"));
    // The serialized secret key round-trips and gives the same public key.
    let parsed = SecretKey::from_bytes(Kem::X25519Kyber768Draft00, sk.as_bytes()).unwrap();
    assert_eq!(parsed.public_key(), pk.as_slice());
}

#[test]
fn every_kem_round_trips_and_rejects_tampering() {
    for kem in ALL_KEMS {
        for (kdf, aead) in [
            (Kdf::HkdfSha256, Aead::Aes128Gcm),
            (Kdf::HkdfSha384, Aead::Aes256Gcm),
            (Kdf::HkdfSha512, Aead::ChaCha20Poly1305),
        ] {
            let suite = Suite::new(kem, kdf, aead);
            let (sk, pk) = suite.generate_key_pair().unwrap();
            let (enc, ct) = suite.seal(&pk, b"info", b"aad", b"hello").unwrap();
            assert_eq!(enc.len(), kem.enc_len());
            assert_eq!(
                suite.open(&enc, &sk, b"info", b"aad", &ct).unwrap(),
                b"hello"
            );

            let mut bad_ct = ct.clone();
            *bad_ct.last_mut().unwrap() ^= 0x80;
            assert_eq!(
                suite.open(&enc, &sk, b"info", b"aad", &bad_ct),
                Err(Error::OpenFailed),
                "{kem:?}"
            );
            assert_eq!(
                suite.open(&enc, &sk, b"other", b"aad", &ct),
                Err(Error::OpenFailed)
            );
            assert_eq!(
                suite.open(&enc, &sk, b"info", b"", &ct),
                Err(Error::OpenFailed)
            );
            // A modified enc either is not a valid key or decapsulates to a different secret.
            let mut bad_enc = enc.clone();
            *bad_enc.last_mut().unwrap() ^= 0x01;
            assert!(matches!(
                suite.open(&bad_enc, &sk, b"info", b"aad", &ct),
                Err(Error::OpenFailed | Error::InvalidKey)
            ));
            let (other_sk, _) = suite.generate_key_pair().unwrap();
            assert_eq!(
                suite.open(&enc, &other_sk, b"info", b"aad", &ct),
                Err(Error::OpenFailed)
            );
        }
    }
}

#[test]
fn hybrid_kyber_half_is_bound_to_the_secret() {
    let suite = Suite::new(Kem::X25519Kyber768Draft00, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (sk, pk) = suite.generate_key_pair().unwrap();
    let (enc, ct) = suite.seal(&pk, b"", b"", b"pq").unwrap();
    // Flip a bit in the Kyber ciphertext only: implicit rejection yields another secret, so open fails.
    let mut bad_enc = enc.clone();
    bad_enc[600] ^= 0x04;
    assert_eq!(
        suite.open(&bad_enc, &sk, b"", b"", &ct),
        Err(Error::OpenFailed)
    );
    assert_eq!(
        suite.open(&enc[..1119], &sk, b"", b"", &ct),
        Err(Error::InvalidInput("enc has the wrong length"))
    );
}

#[test]
fn hybrid_encapsulation_is_deterministic_from_the_seed() {
    let suite = Suite::new(Kem::X25519Kyber768Draft00, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (sk, pk) = suite.derive_key_pair(&[7u8; 32]).unwrap();
    let seed = [9u8; 64];
    let opts = SenderOptions {
        ikm_e: Some(&seed),
        ..SenderOptions::default()
    };
    let (enc1, mut s1) = suite.setup_sender(&pk, b"i", &opts).unwrap();
    let (enc2, mut s2) = suite.setup_sender(&pk, b"i", &opts).unwrap();
    assert_eq!(enc1, enc2);
    assert_eq!(s1.seal(b"", b"m").unwrap(), s2.seal(b"", b"m").unwrap());
    let mut r = suite.setup_base_recipient(&enc1, &sk, b"i").unwrap();
    assert_eq!(
        r.export(b"ctx", 16).unwrap(),
        s1.export(b"ctx", 16).unwrap()
    );
    let short = SenderOptions {
        ikm_e: Some(&seed[..32]),
        ..SenderOptions::default()
    };
    assert!(matches!(
        suite.setup_sender(&pk, b"i", &short),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(
        r.open(b"", &s2.seal(b"", b"n").unwrap()),
        Err(Error::OpenFailed)
    ); // seq 0 vs 1
}

#[test]
fn hybrid_has_no_auth_mode() {
    let suite = Suite::new(Kem::X25519Kyber768Draft00, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (sk, pk) = suite.generate_key_pair().unwrap();
    let opts = SenderOptions {
        sk_s: Some(&sk),
        ..SenderOptions::default()
    };
    assert!(matches!(
        suite.setup_sender(&pk, b"", &opts),
        Err(Error::Unsupported(_))
    ));
    let (enc, _) = suite.setup_base_sender(&pk, b"").unwrap();
    let opts = RecipientOptions {
        pk_s: Some(&pk),
        ..RecipientOptions::default()
    };
    assert!(matches!(
        suite.setup_recipient(&enc, &sk, b"", &opts),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn external_dh_recipient_matches_the_software_recipient() {
    for kem in [Kem::P256, Kem::P384, Kem::P521, Kem::X25519, Kem::X448] {
        let suite = Suite::new(kem, Kdf::HkdfSha256, Aead::Aes128Gcm);
        let (sk, pk) = suite.generate_key_pair().unwrap();
        let (enc, mut sender) = suite.setup_base_sender(&pk, b"info").unwrap();
        let ct = sender.seal(b"", b"tpm").unwrap();
        // Stand-in for ECDH_ZGen: DH done by a second suite over the same secret scalar.
        let dh = |pk_e: &[u8]| -> Result<Vec<u8>, Error> {
            assert_eq!(pk_e, enc.as_slice());
            Ok(raw_dh(kem, &sk, pk_e))
        };
        let mut recipient = suite
            .setup_base_recipient_external(&enc, &pk, b"info", dh)
            .unwrap();
        assert_eq!(recipient.open(b"", &ct).unwrap(), b"tpm");
        assert_eq!(
            recipient.export(b"x", 32).unwrap(),
            sender.export(b"x", 32).unwrap()
        );
    }
}

/// `DH(sk, pk_e)` computed with the curve crates directly, as a device holding the scalar would.
fn raw_dh(kem: Kem, sk: &SecretKey, pk_e: &[u8]) -> Vec<u8> {
    match kem {
        Kem::P256 => {
            let sk = p256::SecretKey::from_slice(sk.as_bytes()).unwrap();
            let pk = p256::PublicKey::from_sec1_bytes(pk_e).unwrap();
            p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine())
                .raw_secret_bytes()
                .to_vec()
        }
        Kem::P384 => {
            let sk = p384::SecretKey::from_slice(sk.as_bytes()).unwrap();
            let pk = p384::PublicKey::from_sec1_bytes(pk_e).unwrap();
            p384::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine())
                .raw_secret_bytes()
                .to_vec()
        }
        Kem::P521 => {
            let sk = p521::SecretKey::from_slice(sk.as_bytes()).unwrap();
            let pk = p521::PublicKey::from_sec1_bytes(pk_e).unwrap();
            p521::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine())
                .raw_secret_bytes()
                .to_vec()
        }
        Kem::X25519 => {
            x25519_dalek::x25519(sk.as_bytes().try_into().unwrap(), pk_e.try_into().unwrap())
                .to_vec()
        }
        Kem::X448 => {
            x448::x448_unchecked(sk.as_bytes().try_into().unwrap(), pk_e.try_into().unwrap())
                .to_vec()
        }
        Kem::X25519Kyber768Draft00 => unreachable!(),
    }
}

#[test]
fn external_dh_errors() {
    let suite = Suite::new(Kem::P256, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (_, pk) = suite.generate_key_pair().unwrap();
    let (enc, _) = suite.setup_base_sender(&pk, b"").unwrap();
    // The provider's own error comes back unchanged.
    let failing = |_: &[u8]| -> Result<Vec<u8>, Error> { Err(Error::InvalidInput("tpm refused")) };
    assert_eq!(
        suite
            .setup_base_recipient_external(&enc, &pk, b"", failing)
            .err(),
        Some(Error::InvalidInput("tpm refused"))
    );
    let short = |_: &[u8]| -> Result<Vec<u8>, Error> { Ok(vec![1; 31]) };
    assert_eq!(
        suite
            .setup_base_recipient_external(&enc, &pk, b"", short)
            .err(),
        Some(Error::ExternalDh)
    );
    // enc is checked before the device is asked: wrong length, compressed form, point off the curve.
    let never = |_: &[u8]| -> Result<Vec<u8>, Error> { panic!("dh must not be called") };
    assert!(matches!(
        suite.setup_base_recipient_external(&enc[..64], &pk, b"", never),
        Err(Error::InvalidInput(_))
    ));
    let mut off_curve = enc.clone();
    off_curve[64] ^= 1;
    assert_eq!(
        suite
            .setup_base_recipient_external(&off_curve, &pk, b"", never)
            .err(),
        Some(Error::InvalidKey)
    );
    let mut compressed = enc.clone();
    compressed[0] = 0x02;
    assert_eq!(
        suite
            .setup_base_recipient_external(&compressed, &pk, b"", never)
            .err(),
        Some(Error::InvalidKey)
    );
    let hybrid = Suite::new(Kem::X25519Kyber768Draft00, Kdf::HkdfSha256, Aead::Aes128Gcm);
    assert!(matches!(
        hybrid.setup_base_recipient_external(&[0; 1120], &[0; 1216], b"", never),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn invalid_public_keys_are_rejected() {
    let p256 = Suite::new(Kem::P256, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (_, pk) = p256.generate_key_pair().unwrap();
    let mut off_curve = pk.clone();
    off_curve[40] ^= 1;
    assert_eq!(
        p256.setup_base_sender(&off_curve, b"").err(),
        Some(Error::InvalidKey)
    );
    assert_eq!(
        p256.setup_base_sender(&pk[..33], b"").err(),
        Some(Error::InvalidKey)
    );
    assert_eq!(
        p256.setup_base_sender(&[0u8; 65], b"").err(),
        Some(Error::InvalidKey)
    );
    // X25519 small-order points give an all-zero DH: rejected.
    let x25519 = Suite::new(Kem::X25519, Kdf::HkdfSha256, Aead::Aes128Gcm);
    assert_eq!(
        x25519.setup_base_sender(&[0u8; 32], b"").err(),
        Some(Error::InvalidKey)
    );
    let mut one = [0u8; 32];
    one[0] = 1;
    assert_eq!(
        x25519.setup_base_sender(&one, b"").err(),
        Some(Error::InvalidKey)
    );
    let (sk, _) = x25519.generate_key_pair().unwrap();
    assert_eq!(
        x25519.setup_base_recipient(&[0u8; 32], &sk, b"").err(),
        Some(Error::InvalidKey)
    );
    let x448 = Suite::new(Kem::X448, Kdf::HkdfSha512, Aead::Aes256Gcm);
    assert_eq!(
        x448.setup_base_sender(&[0u8; 56], b"").err(),
        Some(Error::InvalidKey)
    );
}

#[test]
fn invalid_secret_keys_are_rejected() {
    assert_eq!(
        SecretKey::from_bytes(Kem::P256, &[0u8; 32]).err(),
        Some(Error::InvalidKey)
    );
    assert_eq!(
        SecretKey::from_bytes(Kem::P256, &[0xFF; 32]).err(),
        Some(Error::InvalidKey)
    ); // >= n
    assert_eq!(
        SecretKey::from_bytes(Kem::P256, &[1u8; 31]).err(),
        Some(Error::InvalidKey)
    );
    assert_eq!(
        SecretKey::from_bytes(Kem::P521, &[0xFF; 66]).err(),
        Some(Error::InvalidKey)
    );
    assert_eq!(
        SecretKey::from_bytes(Kem::X25519, &[1u8; 33]).err(),
        Some(Error::InvalidKey)
    );
    assert_eq!(
        SecretKey::from_bytes(Kem::X25519Kyber768Draft00, &[1u8; 2432]).err(),
        Some(Error::InvalidKey)
    );
    // A key of another KEM is refused by the suite.
    let p256 = Suite::new(Kem::P256, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let x25519 = Suite::new(Kem::X25519, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (foreign_key, foreign_pk) = x25519.generate_key_pair().unwrap();
    let (enc, _) = x25519.setup_base_sender(&foreign_pk, b"").unwrap();
    assert_eq!(p256.public_key(&foreign_key).err(), Some(Error::InvalidKey));
    assert!(p256.setup_base_recipient(&enc, &foreign_key, b"").is_err());
}

#[test]
fn derive_key_pair_needs_enough_ikm() {
    for kem in ALL_KEMS {
        let suite = Suite::new(kem, Kdf::HkdfSha256, Aead::Aes128Gcm);
        let short = vec![1u8; kem.min_ikm_len() - 1];
        assert!(
            matches!(suite.derive_key_pair(&short), Err(Error::InvalidInput(_))),
            "{kem:?}"
        );
        let (sk1, pk1) = suite
            .derive_key_pair(&vec![1u8; kem.min_ikm_len()])
            .unwrap();
        let (sk2, pk2) = suite
            .derive_key_pair(&vec![1u8; kem.min_ikm_len()])
            .unwrap();
        assert_eq!((sk1, pk1), (sk2, pk2));
    }
}

#[test]
fn psk_inputs_must_be_consistent() {
    let suite = Suite::new(Kem::X25519, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (sk, pk) = suite.generate_key_pair().unwrap();
    for psk in [
        (&b""[..], &b"id"[..]),
        (&b"secret"[..], &b""[..]),
        (&b""[..], &b""[..]),
    ] {
        let opts = SenderOptions {
            psk: Some(psk),
            ..SenderOptions::default()
        };
        assert!(matches!(
            suite.setup_sender(&pk, b"", &opts),
            Err(Error::InvalidInput(_))
        ));
    }
    let psk = Some((&[5u8; 32][..], &b"id"[..]));
    let (enc, mut s) = suite
        .setup_sender(
            &pk,
            b"",
            &SenderOptions {
                psk,
                ..SenderOptions::default()
            },
        )
        .unwrap();
    let ct = s.seal(b"", b"m").unwrap();
    // Without the psk, or with another id, the recipient derives other keys.
    assert_eq!(
        suite
            .setup_base_recipient(&enc, &sk, b"")
            .unwrap()
            .open(b"", &ct),
        Err(Error::OpenFailed)
    );
    let other = RecipientOptions {
        psk: Some((&[5u8; 32], b"other")),
        ..RecipientOptions::default()
    };
    assert_eq!(
        suite
            .setup_recipient(&enc, &sk, b"", &other)
            .unwrap()
            .open(b"", &ct),
        Err(Error::OpenFailed)
    );
    let right = RecipientOptions {
        psk,
        ..RecipientOptions::default()
    };
    assert_eq!(
        suite
            .setup_recipient(&enc, &sk, b"", &right)
            .unwrap()
            .open(b"", &ct)
            .unwrap(),
        b"m"
    );
}

#[test]
fn export_length_is_limited() {
    let suite = Suite::new(Kem::X25519, Kdf::HkdfSha256, Aead::ExportOnly);
    let (_, pk) = suite.generate_key_pair().unwrap();
    let (_, s) = suite.setup_base_sender(&pk, b"").unwrap();
    assert_eq!(s.export(b"", 255 * 32).unwrap().len(), 8160);
    assert_eq!(
        s.export(b"", 255 * 32 + 1),
        Err(Error::InvalidInput("export length too large"))
    );
    assert_eq!(
        s.export(b"", usize::MAX),
        Err(Error::InvalidInput("export length too large"))
    );
    assert_eq!(s.export(b"", 0).unwrap(), Vec::<u8>::new());
}

#[test]
fn message_limit_is_a_clean_error() {
    let suite = Suite::new(Kem::X25519, Kdf::HkdfSha256, Aead::ChaCha20Poly1305);
    let (sk, pk) = suite.generate_key_pair().unwrap();
    let (enc, mut s) = suite.setup_base_sender(&pk, b"").unwrap();
    let mut r = suite.setup_base_recipient(&enc, &sk, b"").unwrap();
    s.set_seq_for_tests(u64::MAX - 1);
    r.set_seq_for_tests(u64::MAX - 1);
    let ct = s.seal(b"", b"last").unwrap();
    assert_eq!(r.open(b"", &ct).unwrap(), b"last");
    assert_eq!(s.seal(b"", b"more"), Err(Error::MessageLimit));
    assert_eq!(r.open(b"", &ct), Err(Error::MessageLimit));
}

#[test]
fn short_ciphertexts_fail_to_open() {
    let suite = Suite::new(Kem::X25519, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (sk, pk) = suite.generate_key_pair().unwrap();
    let (enc, _) = suite.setup_base_sender(&pk, b"").unwrap();
    let mut r = suite.setup_base_recipient(&enc, &sk, b"").unwrap();
    for len in [0, 1, 15] {
        assert_eq!(r.open(b"", &vec![0u8; len]), Err(Error::OpenFailed));
    }
    assert_eq!(r.seq(), 0);
}

#[test]
fn unknown_ids_are_unsupported() {
    assert_eq!(
        Kem::try_from(0x0013).err(),
        Some(Error::UnsupportedSuite(0x0013))
    );
    assert_eq!(
        Kdf::try_from(0x0004).err(),
        Some(Error::UnsupportedSuite(0x0004))
    );
    assert_eq!(
        Aead::try_from(0x0000).err(),
        Some(Error::UnsupportedSuite(0x0000))
    );
    assert_eq!(
        Suite::from_ids(0x0020, 1, 1).unwrap(),
        Suite::new(Kem::X25519, Kdf::HkdfSha256, Aead::Aes128Gcm)
    );
}

#[test]
fn debug_output_hides_secrets() {
    let suite = Suite::new(Kem::P256, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (sk, pk) = suite.derive_key_pair(&[3u8; 32]).unwrap();
    let (enc, s) = suite.setup_base_sender(&pk, b"").unwrap();
    let r = suite.setup_base_recipient(&enc, &sk, b"").unwrap();
    let secret_hex = hex::encode(sk.as_bytes());
    for text in [format!("{sk:?}"), format!("{s:?}"), format!("{r:?}")] {
        assert!(
            !text.contains(&secret_hex) && !text.contains(&format!("{:?}", sk.as_bytes())),
            "{text}"
        );
    }
}

#[test]
fn contexts_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<openpcc_hpke::SenderContext>();
    check::<openpcc_hpke::RecipientContext>();
    check::<SecretKey>();
}

fn random_bytes(max_len: usize) -> Vec<u8> {
    let mut len = [0u8; 2];
    getrandom::fill(&mut len).unwrap();
    let mut out = vec![0u8; usize::from(u16::from_le_bytes(len)) % (max_len + 1)];
    getrandom::fill(&mut out).unwrap();
    out
}

/// Fuzz-style: random keys, encs and ciphertexts of random lengths give errors, never panics.
#[test]
fn random_input_never_panics() {
    for kem in ALL_KEMS {
        let suite = Suite::new(kem, Kdf::HkdfSha256, Aead::Aes128Gcm);
        let (sk, pk) = suite.generate_key_pair().unwrap();
        for round in 0..60 {
            // Mostly right-sized inputs (to reach the curve code), sometimes any size.
            let enc = if round % 3 == 0 {
                random_bytes(1300)
            } else {
                random_exact(kem.enc_len())
            };
            let ct = random_bytes(64);
            assert!(suite.open(&enc, &sk, b"", b"", &ct).is_err());
            let _ = suite.setup_base_recipient(&enc, &sk, b"");
            let bad_pk = if round % 3 == 0 {
                random_bytes(1300)
            } else {
                random_exact(kem.public_key_len())
            };
            let _ = suite.setup_base_sender(&bad_pk, b"");
            let _ = SecretKey::from_bytes(kem, &random_exact(kem.secret_key_len()));
            let _ = SecretKey::from_bytes(kem, &random_bytes(3000));
            let _ = suite.setup_base_recipient_external(&enc, &pk, b"", |_| Ok(random_bytes(80)));
            let _ = suite.derive_key_pair(&random_bytes(100));
            if kem.supports_auth() {
                let opts = RecipientOptions {
                    pk_s: Some(&bad_pk),
                    ..RecipientOptions::default()
                };
                let _ = suite.setup_recipient(&enc, &sk, b"", &opts);
            }
        }
    }
}

fn random_exact(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    getrandom::fill(&mut out).unwrap();
    out
}

#[test]
fn explicit_ephemeral_key_matches_ikm_e() {
    for kem in [Kem::P256, Kem::X25519, Kem::X448] {
        let suite = Suite::new(kem, Kdf::HkdfSha256, Aead::Aes128Gcm);
        let (_, pk_r) = suite.generate_key_pair().unwrap();
        let ikm_e = vec![9u8; kem.secret_key_len()];
        let (sk_e, _) = suite.derive_key_pair(&ikm_e).unwrap();
        let opts = SenderOptions {
            ikm_e: Some(&ikm_e),
            ..SenderOptions::default()
        };
        let (enc1, mut s1) = suite.setup_sender(&pk_r, b"i", &opts).unwrap();
        let (enc2, mut s2) = suite
            .setup_base_sender_with_ephemeral(&pk_r, b"i", &sk_e)
            .unwrap();
        assert_eq!(enc1, enc2);
        assert_eq!(s1.seal(b"", b"m").unwrap(), s2.seal(b"", b"m").unwrap());
    }
    let hybrid = Suite::new(Kem::X25519Kyber768Draft00, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let (sk, pk) = hybrid.generate_key_pair().unwrap();
    assert!(matches!(
        hybrid.setup_base_sender_with_ephemeral(&pk, b"", &sk),
        Err(Error::Unsupported(_))
    ));
}
