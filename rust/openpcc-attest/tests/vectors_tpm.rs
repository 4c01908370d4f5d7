//! TPM 2.0 vectors from `tests/data/vectors/tpm` (go-attestation, go-tpm-tools, openpcc): every
//! quote gives the outcome `expected.json` states, the derived negatives fail with the named
//! check, and mutated input never panics.

mod common;

use common::{failed, read};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use openpcc_attest::tpm::{
    check_rek, verify_certify_creation, verify_quote, AkSource, CreationInput, Freshness, HashAlg,
    PcrValues, QuoteInput, TpmsAttest, TpmtPublic, TpmtSignature,
};
use openpcc_attest::Verdict;
use serde_json::Value;

fn root() -> Option<PathBuf> {
    common::vectors_dir("tpm")
}

fn expected(dir: &Path) -> Value {
    serde_json::from_slice(&read(dir, "expected.json")).unwrap()
}

/// 2024-06-01T00:00:00Z and 2026-01-01T00:00:00Z: instants inside the vendors' validity windows.
const JUNE_2024: u64 = 1_717_200_000;
const JAN_2026: u64 = 1_767_225_600;

fn ak(bytes: &[u8]) -> AkSource<'_> {
    AkSource {
        ak: bytes,
        intermediates: &[],
        at_unix: JAN_2026,
        allow_weak: false,
    }
}

/// The Windows (go-attestation) AK signs with SHA-1: its vectors verify only when weak AKs are
/// allowed, as a policy's `tpm.allow_weak_ak` does.
fn weak_ak(bytes: &[u8]) -> AkSource<'_> {
    AkSource {
        allow_weak: true,
        ..ak(bytes)
    }
}

fn assert_valid(v: &Verdict, what: &str) {
    assert!(v.valid(), "{what}: {}", v.to_json());
}

fn pcr_values(bank: HashAlg, json: &Value) -> PcrValues {
    let values = json
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.parse().unwrap(),
                hex::decode(v.as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    PcrValues { bank, values }
}

struct Windows {
    ak: Vec<u8>,
    quote: Vec<u8>,
    sig: Vec<u8>,
    create_attest: Vec<u8>,
    create_sig: Vec<u8>,
    pcrs: PcrValues,
}

fn windows(dir: &Path) -> Windows {
    let j: Value =
        serde_json::from_slice(&read(dir, "go-attestation/windows_gcp_shielded_vm.json")).unwrap();
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let mut values = BTreeMap::new();
    for p in j["Log"]["PCRs"].as_array().unwrap() {
        assert_eq!(p["DigestAlg"], 3);
        values.insert(
            u32::try_from(p["Index"].as_u64().unwrap()).unwrap(),
            b64(&p["Digest"]),
        );
    }
    Windows {
        ak: b64(&j["AK"]["Public"]),
        quote: b64(&j["Quote"]["Quote"]),
        sig: b64(&j["Quote"]["Signature"]),
        create_attest: b64(&j["AK"]["CreateAttestation"]),
        create_sig: b64(&j["AK"]["CreateSignature"]),
        pcrs: PcrValues {
            bank: HashAlg::Sha1,
            values,
        },
    }
}

#[test]
fn windows_gce_quote_and_creation_are_valid() {
    let Some(dir) = root() else { return };
    let w = windows(&dir);
    let exp = &expected(&dir)["quotes"][0];
    let public = TpmtPublic::decode(&w.ak).unwrap();
    assert_eq!(
        hex::encode(public.name().unwrap()),
        exp["ak_public"]["name"].as_str().unwrap()
    );
    assert_eq!(
        format!("{:#x}", public.object_attributes),
        exp["ak_public"]["objectAttributes"].as_str().unwrap()
    );
    let attest = TpmsAttest::decode(&w.quote).unwrap();
    assert_eq!(
        attest.clock_info.clock,
        exp["attest"]["clock"].as_u64().unwrap()
    );
    assert_eq!(
        format!("{:#x}", attest.firmware_version),
        exp["attest"]["firmwareVersion"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(&attest.qualified_signer),
        exp["attest"]["qualifiedSigner"].as_str().unwrap()
    );
    assert!(matches!(
        TpmtSignature::decode(&w.sig).unwrap(),
        TpmtSignature::RsaSsa {
            hash: HashAlg::Sha1,
            ..
        }
    ));

    let v = verify_quote(&QuoteInput {
        attest: &w.quote,
        signature: &w.sig,
        ak: weak_ak(&w.ak),
        nonce: Freshness::NotRequired,
        pcrs: Some(&w.pcrs),
    });
    assert_valid(&v, "windows quote");
    assert_eq!(v.claims["pcrs"]["bank"], "sha1");
    let strict = verify_quote(&QuoteInput {
        attest: &w.quote,
        signature: &w.sig,
        ak: ak(&w.ak),
        nonce: Freshness::NotRequired,
        pcrs: Some(&w.pcrs),
    });
    assert_eq!(failed(&strict), ["tpm.quote.signature"]);

    let c = verify_certify_creation(&CreationInput {
        attest: &w.create_attest,
        signature: &w.create_sig,
        ak: weak_ak(&w.ak),
        object_public: Some(&w.ak),
    });
    assert_valid(&c, "windows creation");
    assert_eq!(c.claims["object_name"], exp["ak_public"]["name"]);
}

#[test]
fn go_tpm_tools_quotes_are_valid_in_every_bank() {
    let Some(dir) = root() else { return };
    let exp = expected(&dir);
    let mut seen = 0;
    for q in exp["quotes"].as_array().unwrap().iter().skip(1) {
        let ak_pub = read(&dir, q["extracted_files"]["ak_pub"].as_str().unwrap());
        let public = TpmtPublic::decode(&ak_pub).unwrap();
        assert_eq!(
            hex::encode(public.name().unwrap()),
            q["ak_public"]["name"].as_str().unwrap()
        );
        for bank in q["banks"].as_array().unwrap() {
            let hash = HashAlg::from_name(bank["bank"].as_str().unwrap()).unwrap();
            let quote = read(&dir, bank["quote"].as_str().unwrap());
            let sig = read(&dir, bank["signature"].as_str().unwrap());
            let nonce = hex::decode(bank["attest"]["extraData"].as_str().unwrap()).unwrap();
            let pcrs = pcr_values(hash, &bank["pcr_values"]);
            let v = verify_quote(&QuoteInput {
                attest: &quote,
                signature: &sig,
                ak: ak(&ak_pub),
                nonce: Freshness::Nonce(&nonce),
                pcrs: Some(&pcrs),
            });
            assert_valid(&v, bank["quote"].as_str().unwrap());
            assert_eq!(v.claims["nonce"], bank["attest"]["extraData"]);
            assert_eq!(v.claims["clock"]["clock"], bank["attest"]["clock"]);
            seen += 1;
        }
    }
    assert_eq!(seen, 6);
}

#[test]
fn go_tpm_tools_ak_certificate_key_verifies_but_its_issuer_is_unknown() {
    let Some(dir) = root() else { return };
    let cert = read(
        &dir,
        "go-tpm-tools/extracted/gce-cos-85-nonce9009.ak_cert.der",
    );
    let quote = read(
        &dir,
        "go-tpm-tools/extracted/gce-cos-85-nonce9009.quote_sha256.tpms_attest.bin",
    );
    let sig = read(
        &dir,
        "go-tpm-tools/extracted/gce-cos-85-nonce9009.quote_sha256.tpmt_signature.bin",
    );
    let exp = expected(&dir);
    let pcrs = pcr_values(HashAlg::Sha256, &exp["quotes"][2]["banks"][1]["pcr_values"]);
    let v = verify_quote(&QuoteInput {
        attest: &quote,
        signature: &sig,
        ak: ak(&cert),
        nonce: Freshness::Nonce(&[0x90, 0x09]),
        pcrs: Some(&pcrs),
    });
    // Issued by Google's 2020 "tpm_ek_intermediate_2", which is neither shipped nor embedded.
    assert_eq!(failed(&v), ["tpm.ak.chain"], "{}", v.to_json());
}

fn chain(dir: &Path, leaf: &str, intermediates: &[&str], at: u64) -> Verdict {
    let leaf = read(dir, leaf);
    let inter: Vec<Vec<u8>> = intermediates.iter().map(|n| read(dir, n)).collect();
    // Any quote will do: only the AK checks are looked at here.
    let v = verify_quote(&QuoteInput {
        attest: &[],
        signature: &[],
        ak: AkSource {
            ak: &leaf,
            intermediates: &inter,
            at_unix: at,
            allow_weak: false,
        },
        nonce: Freshness::NotRequired,
        pcrs: None,
    });
    Verdict {
        checks: v
            .checks
            .into_iter()
            .filter(|c| c.name.starts_with("tpm.ak."))
            .collect(),
        claims: v.claims,
    }
}

#[test]
fn gce_and_azure_ak_certificates_chain_to_the_built_in_roots() {
    let Some(dir) = root() else { return };
    let gce = chain(
        &dir,
        "openpcc/gce_ak_cert.pem",
        &["openpcc/gce_ak_intermediate_cert.pem"],
        JAN_2026,
    );
    assert_valid(&gce, "gce chain");
    assert_eq!(
        gce.claims["ak_chain"].as_array().unwrap().last().unwrap(),
        "gce-ek-ak-root"
    );
    for leaf in [
        "openpcc/azure_ak_cert_01.pem",
        "openpcc/azure_ak_cert_03.pem",
    ] {
        let v = chain(&dir, leaf, &[], JAN_2026);
        assert_valid(&v, leaf);
        assert_eq!(
            v.claims["ak_chain"].as_array().unwrap().last().unwrap(),
            "azure-vtpm-root-2023"
        );
    }
    // Without its intermediate the GCE certificate has no path; outside validity it fails too.
    assert_eq!(
        failed(&chain(&dir, "openpcc/gce_ak_cert.pem", &[], JAN_2026)),
        ["tpm.ak.chain"]
    );
    assert_eq!(
        failed(&chain(&dir, "openpcc/azure_ak_cert_01.pem", &[], JUNE_2024)),
        ["tpm.ak.chain"]
    );
    assert_eq!(
        failed(&chain(
            &dir,
            "openpcc/azure_ak_cert_03.pem",
            &[],
            JAN_2026 + 365 * 86_400
        )),
        ["tpm.ak.chain"]
    );
}

struct Cos {
    ak: Vec<u8>,
    quote: Vec<u8>,
    sig: Vec<u8>,
    pcrs: PcrValues,
}

fn cos(dir: &Path) -> Cos {
    let exp = expected(dir);
    Cos {
        ak: read(
            dir,
            "go-tpm-tools/extracted/gce-cos-85-nonce9009.ak_pub.tpmt_public.bin",
        ),
        quote: read(
            dir,
            "go-tpm-tools/extracted/gce-cos-85-nonce9009.quote_sha256.tpms_attest.bin",
        ),
        sig: read(
            dir,
            "go-tpm-tools/extracted/gce-cos-85-nonce9009.quote_sha256.tpmt_signature.bin",
        ),
        pcrs: pcr_values(HashAlg::Sha256, &exp["quotes"][2]["banks"][1]["pcr_values"]),
    }
}

fn run(
    c: &Cos,
    quote: &[u8],
    sig: &[u8],
    akb: &[u8],
    nonce: Freshness<'_>,
    pcrs: Option<&PcrValues>,
) -> Verdict {
    verify_quote(&QuoteInput {
        attest: quote,
        signature: sig,
        ak: ak(akb),
        nonce,
        pcrs: pcrs.or(Some(&c.pcrs)),
    })
}

#[test]
fn negatives_fail_with_the_named_check() {
    let Some(dir) = root() else { return };
    let c = cos(&dir);
    let nonce = Freshness::Nonce(&[0x90, 0x09]);
    assert_valid(&run(&c, &c.quote, &c.sig, &c.ak, nonce, None), "baseline");

    let v = run(
        &c,
        &c.quote,
        &c.sig,
        &c.ak,
        Freshness::Nonce(&[0x90, 0x0a]),
        None,
    );
    assert_eq!(failed(&v), ["tpm.quote.nonce"]);
    let v = run(&c, &c.quote, &c.sig, &c.ak, Freshness::Unspecified, None);
    assert_eq!(failed(&v), ["tpm.quote.nonce"]);

    let mut sig = c.sig.clone();
    *sig.last_mut().unwrap() ^= 1;
    assert_eq!(
        failed(&run(&c, &c.quote, &sig, &c.ak, nonce, None)),
        ["tpm.quote.signature"]
    );

    // Changing extraData inside the quote breaks the signature (and the nonce).
    let mut quote = c.quote.clone();
    let pos = quote.windows(2).position(|w| w == [0x90, 0x09]).unwrap();
    quote[pos + 1] = 0x0a;
    assert_eq!(
        failed(&run(&c, &quote, &c.sig, &c.ak, nonce, None)),
        ["tpm.quote.signature", "tpm.quote.nonce"]
    );

    let mut pcrs = c.pcrs.clone();
    pcrs.values.get_mut(&7).unwrap()[0] ^= 1;
    assert_eq!(
        failed(&run(&c, &c.quote, &c.sig, &c.ak, nonce, Some(&pcrs))),
        ["tpm.quote.pcr_digest"]
    );

    // Relabelling: same bytes in the same order under other indices keeps the digest but not
    // the selection (the reference accepted this, spec §12.2 item 6).
    let relabelled = PcrValues {
        bank: HashAlg::Sha256,
        values: c
            .pcrs
            .values
            .values()
            .cloned()
            .zip(1u32..)
            .map(|(v, i)| (i, v))
            .collect(),
    };
    assert_eq!(
        failed(&run(&c, &c.quote, &c.sig, &c.ak, nonce, Some(&relabelled))),
        ["tpm.quote.pcr_selection"]
    );
    let mut fewer = c.pcrs.clone();
    fewer.values.remove(&23);
    assert_eq!(
        failed(&run(&c, &c.quote, &c.sig, &c.ak, nonce, Some(&fewer))),
        ["tpm.quote.pcr_selection", "tpm.quote.pcr_digest"]
    );
    let wrong_bank = PcrValues {
        bank: HashAlg::Sha1,
        ..c.pcrs.clone()
    };
    let v = run(&c, &c.quote, &c.sig, &c.ak, nonce, Some(&wrong_bank));
    assert!(failed(&v).contains(&"tpm.quote.pcr_selection"));
}

#[test]
fn malformed_quotes_and_wrong_keys_fail_with_the_named_check() {
    let Some(dir) = root() else { return };
    let c = cos(&dir);
    let nonce = Freshness::Nonce(&[0x90, 0x09]);
    let mut trailing = c.quote.clone();
    trailing.push(0);
    assert_eq!(
        failed(&run(&c, &trailing, &c.sig, &c.ak, nonce, None)),
        ["tpm.attest.parse"]
    );
    assert_eq!(
        failed(&run(
            &c,
            &c.quote[..c.quote.len() - 1],
            &c.sig,
            &c.ak,
            nonce,
            None
        )),
        ["tpm.attest.parse"]
    );
    let mut magic = c.quote.clone();
    magic[0] ^= 0xff;
    assert_eq!(
        failed(&run(&c, &magic, &c.sig, &c.ak, nonce, None)),
        ["tpm.attest.magic"]
    );

    let other_ak = windows(&dir).ak;
    assert_eq!(
        failed(&run(&c, &c.quote, &c.sig, &other_ak, nonce, None)),
        ["tpm.quote.signature"]
    );

    let v = verify_quote(&QuoteInput {
        attest: &c.quote,
        signature: &c.sig,
        ak: ak(&c.ak),
        nonce,
        pcrs: None,
    });
    assert_eq!(failed(&v), ["tpm.quote.pcr_digest"]);

    // A creation attestation is not a quote.
    let w = windows(&dir);
    let v = verify_quote(&QuoteInput {
        attest: &w.create_attest,
        signature: &w.create_sig,
        ak: weak_ak(&w.ak),
        nonce,
        pcrs: None,
    });
    assert_eq!(failed(&v), ["tpm.attest.type"]);
}

#[test]
fn rek_checks_reject_a_signing_key_without_policy() {
    let Some(dir) = root() else { return };
    let c = cos(&dir);
    let v = check_rek(&c.ak, Some(&c.pcrs), &openpcc_attest::tpm::REFERENCE_PCRS);
    assert_eq!(
        failed(&v),
        ["tpm.rek.type", "tpm.rek.attributes", "tpm.rek.policy"]
    );
}

fn mutations(base: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let truncations = (0..base.len()).map(|n| base[..n].to_vec());
    let flips = (0..base.len()).flat_map(move |i| {
        [0x01u8, 0x80, 0xff].into_iter().map(move |m| {
            let mut b = base.to_vec();
            b[i] ^= m;
            b
        })
    });
    truncations.chain(flips)
}

#[test]
fn mutated_input_never_panics_and_never_verifies() {
    let Some(dir) = root() else { return };
    let c = cos(&dir);
    let nonce = Freshness::Nonce(&[0x90, 0x09]);
    for q in mutations(&c.quote) {
        assert!(!run(&c, &q, &c.sig, &c.ak, nonce, None).valid());
    }
    for s in mutations(&c.sig) {
        assert!(!run(&c, &c.quote, &s, &c.ak, nonce, None).valid());
    }
    for a in mutations(&c.ak).step_by(7) {
        // Flipping bits of the AK outside the key material (e.g. attributes still restricted|sign)
        // can leave a valid key, but never one that verifies this signature.
        let v = run(&c, &c.quote, &c.sig, &a, nonce, None);
        if v.valid() {
            let key = |b: &[u8]| TpmtPublic::decode(b).unwrap().key;
            assert_eq!(key(&a), key(&c.ak));
        }
    }
    let w = windows(&dir);
    for a in mutations(&w.create_attest) {
        let v = verify_certify_creation(&CreationInput {
            attest: &a,
            signature: &w.create_sig,
            ak: weak_ak(&w.ak),
            object_public: Some(&w.ak),
        });
        assert!(!v.valid());
    }
    for leaf in mutations(&read(&dir, "openpcc/azure_ak_cert_01.pem")).step_by(13) {
        let _ = chain(&dir, "openpcc/azure_ak_cert_01.pem", &[], JAN_2026);
        let _ = openpcc_attest::tpm::parse_certificate(&leaf);
    }
}

/// A REK public area as `openpcc.tpm.client.rek_template` marshals it, with the P-256 base point
/// standing in for the TPM-generated key.
fn rek_public(attrs: u32, policy: &[u8]) -> Vec<u8> {
    let gx =
        hex::decode("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296").unwrap();
    let gy =
        hex::decode("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5").unwrap();
    let mut out = Vec::new();
    out.extend_from_slice(&[0x00, 0x23, 0x00, 0x0b]);
    out.extend_from_slice(&attrs.to_be_bytes());
    out.extend_from_slice(&u16::try_from(policy.len()).unwrap().to_be_bytes());
    out.extend_from_slice(policy);
    out.extend_from_slice(&[0x00, 0x10, 0x00, 0x10, 0x00, 0x03, 0x00, 0x10]);
    for c in [&gx, &gy] {
        out.extend_from_slice(&[0x00, 0x20]);
        out.extend_from_slice(c);
    }
    out
}

#[test]
fn rek_checks_accept_a_pcr_bound_decrypt_key_and_name_each_defect() {
    use openpcc_attest::tpm::{attr, policy_pcr_digest, REFERENCE_PCRS};
    let values: BTreeMap<u32, Vec<u8>> = REFERENCE_PCRS
        .iter()
        .map(|&i| (i, vec![u8::try_from(i).unwrap(); 32]))
        .collect();
    let pcrs = PcrValues {
        bank: HashAlg::Sha256,
        values,
    };
    let ordered: Vec<&[u8]> = pcrs.values.values().map(Vec::as_slice).collect();
    let policy = policy_pcr_digest(HashAlg::Sha256, &REFERENCE_PCRS, &ordered);
    let good = attr::FIXED_TPM
        | attr::FIXED_PARENT
        | attr::SENSITIVE_DATA_ORIGIN
        | attr::NO_DA
        | attr::DECRYPT;
    let v = check_rek(&rek_public(good, &policy), Some(&pcrs), &REFERENCE_PCRS);
    assert_valid(&v, "rek");
    assert_eq!(v.claims["rek_public_key"].as_str().unwrap().len(), 130);

    for bad in [
        good | attr::USER_WITH_AUTH,
        good | attr::SIGN_ENCRYPT,
        good & !attr::FIXED_TPM,
        good & !attr::SENSITIVE_DATA_ORIGIN,
    ] {
        assert_eq!(
            failed(&check_rek(
                &rek_public(bad, &policy),
                Some(&pcrs),
                &REFERENCE_PCRS
            )),
            ["tpm.rek.attributes"]
        );
    }
    let mut other = pcrs.clone();
    other.values.insert(12, vec![0xee; 32]);
    assert_eq!(
        failed(&check_rek(
            &rek_public(good, &policy),
            Some(&other),
            &REFERENCE_PCRS
        )),
        ["tpm.rek.policy"]
    );
    assert_eq!(
        failed(&check_rek(
            &rek_public(good, &policy),
            None,
            &REFERENCE_PCRS
        )),
        ["tpm.rek.policy"]
    );
    let mut trailing = rek_public(good, &policy);
    trailing.push(0);
    assert_eq!(
        failed(&check_rek(&trailing, Some(&pcrs), &REFERENCE_PCRS)),
        ["tpm.rek.parse"]
    );
}

#[test]
fn certify_creation_negatives_name_the_failed_check() {
    let Some(dir) = root() else { return };
    let w = windows(&dir);
    let cos_ak = cos(&dir).ak;
    let run = |attest: &[u8], sig: &[u8], object: &[u8]| {
        failed(&verify_certify_creation(&CreationInput {
            attest,
            signature: sig,
            ak: weak_ak(&w.ak),
            object_public: Some(object),
        }))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    };
    assert_eq!(
        run(&w.create_attest, &w.create_sig, &cos_ak),
        ["tpm.creation.object_name"]
    );
    let mut sig = w.create_sig.clone();
    sig[10] ^= 1;
    assert_eq!(
        run(&w.create_attest, &sig, &w.ak),
        ["tpm.creation.signature"]
    );
    // As TPM2B_ATTEST (the reference's CertifyRekCreation piece) it verifies the same.
    let mut wrapped = u16::try_from(w.create_attest.len())
        .unwrap()
        .to_be_bytes()
        .to_vec();
    wrapped.extend_from_slice(&w.create_attest);
    assert!(run(&wrapped, &w.create_sig, &w.ak).is_empty());
    wrapped.push(0);
    assert_eq!(run(&wrapped, &w.create_sig, &w.ak), ["tpm.creation.parse"]);
    assert_eq!(run(&w.quote, &w.sig, &w.ak), ["tpm.creation.type"]);
}
