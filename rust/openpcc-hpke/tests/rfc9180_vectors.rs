//! Every case of the RFC 9180 test vectors (`tests/data/vectors/hpke/test-vectors.json.gz`): key derivation,
//! every encryption in order (sender and recipient) and every export, in all four modes.

#[path = "../../test-support/prerequisites.rs"]
mod prerequisites;

use std::io::Read;

use openpcc_hpke::{Aead, Error, RecipientOptions, SenderOptions, Suite};
use serde_json::Value;

fn load(name: &str) -> Option<Vec<Value>> {
    let path = prerequisites::vector_file("hpke", name)?;
    let mut text = String::new();
    let mut file = std::fs::File::open(&path).unwrap();
    if path.extension().is_some_and(|ext| ext == "gz") {
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
    } else {
        file.read_to_string(&mut text).unwrap();
    }
    Some(serde_json::from_str::<Vec<Value>>(&text).unwrap())
}

fn hex_field(case: &Value, name: &str) -> Vec<u8> {
    hex::decode(
        case[name]
            .as_str()
            .unwrap_or_else(|| panic!("field {name}")),
    )
    .unwrap()
}

fn opt_hex(case: &Value, name: &str) -> Option<Vec<u8>> {
    case.get(name)
        .and_then(Value::as_str)
        .map(|s| hex::decode(s).unwrap())
}

fn id(case: &Value, name: &str) -> u16 {
    u16::try_from(case[name].as_u64().unwrap()).unwrap()
}

#[test]
fn every_rfc9180_case() {
    let Some(cases) = load("test-vectors.json.gz") else {
        return;
    };
    assert_eq!(cases.len(), 128);
    let (mut encryptions, mut exports) = (0usize, 0usize);
    for (index, case) in cases.iter().enumerate() {
        let (e, x) = check_case(case).unwrap_or_else(|err| panic!("case {index}: {err}"));
        encryptions += e;
        exports += x;
    }
    assert_eq!((encryptions, exports), (24_672, 384));
}

fn check_case(case: &Value) -> Result<(usize, usize), Error> {
    let suite = Suite::from_ids(id(case, "kem_id"), id(case, "kdf_id"), id(case, "aead_id"))?;
    let info = hex_field(case, "info");
    let (sk_r, pk_r) = suite.derive_key_pair(&hex_field(case, "ikmR"))?;
    assert_eq!(sk_r.as_bytes(), hex_field(case, "skRm"));
    assert_eq!(pk_r, hex_field(case, "pkRm"));
    // circl's hybrid vectors name the 64-byte encapsulation seed "ier" and list no ephemeral key pair.
    let ikm_e = opt_hex(case, "ikmE")
        .or_else(|| opt_hex(case, "ier"))
        .expect("ikmE or ier");
    if let Some(sk_em) = opt_hex(case, "skEm") {
        let (sk_e, pk_e) = suite.derive_key_pair(&ikm_e)?;
        assert_eq!(sk_e.as_bytes(), sk_em);
        assert_eq!(pk_e, hex_field(case, "pkEm"));
    }

    let sender_key = match opt_hex(case, "ikmS") {
        Some(ikm_s) => {
            let (sk_s, pk_s) = suite.derive_key_pair(&ikm_s)?;
            assert_eq!(sk_s.as_bytes(), hex_field(case, "skSm"));
            assert_eq!(pk_s, hex_field(case, "pkSm"));
            Some((sk_s, pk_s))
        }
        None => None,
    };
    let psk = opt_hex(case, "psk").zip(opt_hex(case, "psk_id"));
    let psk_ref = psk.as_ref().map(|(p, i)| (p.as_slice(), i.as_slice()));
    let sender_opts = SenderOptions {
        psk: psk_ref,
        sk_s: sender_key.as_ref().map(|(sk, _)| sk),
        ikm_e: Some(&ikm_e),
    };
    let (enc, mut sender) = suite.setup_sender(&pk_r, &info, &sender_opts)?;
    assert_eq!(enc, hex_field(case, "enc"));
    let recipient_opts = RecipientOptions {
        psk: psk_ref,
        pk_s: sender_key.as_ref().map(|(_, pk)| pk.as_slice()),
    };
    let mut recipient = suite.setup_recipient(&enc, &sk_r, &info, &recipient_opts)?;

    let encryptions = case["encryptions"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    for (seq, encryption) in encryptions.iter().enumerate() {
        let (aad, pt, ct) = (
            hex_field(encryption, "aad"),
            hex_field(encryption, "pt"),
            hex_field(encryption, "ct"),
        );
        assert_eq!(sender.seq(), seq as u64);
        assert_eq!(sender.seal(&aad, &pt)?, ct, "seal #{seq}");
        assert_eq!(recipient.open(&aad, &ct)?, pt, "open #{seq}");
    }
    if suite.aead == Aead::ExportOnly {
        assert!(matches!(sender.seal(b"", b"x"), Err(Error::Unsupported(_))));
        assert!(matches!(
            recipient.open(b"", &[0u8; 17]),
            Err(Error::Unsupported(_))
        ));
    } else {
        assert!(!encryptions.is_empty());
        // A flipped bit in the next expected ciphertext must not open, and must not advance the sequence.
        let ct = sender.seal(b"aad", b"next")?;
        let mut tampered = ct.clone();
        tampered[0] ^= 1;
        let seq = recipient.seq();
        assert_eq!(recipient.open(b"aad", &tampered), Err(Error::OpenFailed));
        assert_eq!(recipient.seq(), seq);
        assert_eq!(recipient.open(b"aad", &ct)?, b"next");
    }

    let exports = case["exports"].as_array().unwrap();
    for export in exports {
        let context = hex_field(export, "exporter_context");
        let len = usize::try_from(export["L"].as_u64().unwrap()).unwrap();
        let expected = hex_field(export, "exported_value");
        assert_eq!(sender.export(&context, len)?, expected);
        assert_eq!(recipient.export(&context, len)?, expected);
    }
    Ok((encryptions.len(), exports.len()))
}

/// circl's `X25519Kyber768Draft00` vectors (`hpke/testdata/hybrid-x25119-kyber768-test-vectors.json`, removed
/// from circl in 1987ada). Not among the repository's vectors: ignored (and counted as such) until the file is
/// added to `tests/data/vectors/hpke`; `cargo test -- --ignored` runs it.
#[test]
#[ignore = "hpke/hybrid-x25119-kyber768-test-vectors.json is not among the repository's vectors"]
fn circl_hybrid_cases() {
    let Some(cases) = load("hybrid-x25119-kyber768-test-vectors.json") else {
        return;
    };
    for (index, case) in cases.iter().enumerate() {
        check_case(case).unwrap_or_else(|err| panic!("case {index}: {err}"));
    }
}
