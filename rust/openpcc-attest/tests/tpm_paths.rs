//! TPM AK certificate chains under the shared path rules, with a synthetic root (the built-in
//! GCE and Azure roots cannot sign test chains). Fixtures: `tests/data/tpm_paths`, written by
//! `tests/support/gen_tpm_path_fixtures.py`. Each chain's signatures all verify; only the path
//! rules decide.

use openpcc_attest::tpm::{parse_certificate, verify_chain_to};
use x509_cert::Certificate;

const JAN_2026: u64 = 1_767_225_600;

fn cert(name: &str) -> Certificate {
    let path = format!(
        "{}/tests/data/tpm_paths/{name}.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    parse_certificate(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn anchors() -> Vec<(&'static str, Certificate)> {
    vec![("synthetic-root", cert("root"))]
}

#[test]
fn an_ak_under_a_ca_within_its_path_length_verifies() {
    let path = verify_chain_to(&cert("ak_ok"), &[cert("ca0")], &anchors(), JAN_2026).unwrap();
    assert_eq!(path.last().map(String::as_str), Some("synthetic-root"));
}

#[test]
fn tpm_ak_chain_refuses_a_sub_ca_beyond_its_issuers_path_length() {
    let why = verify_chain_to(
        &cert("ak_under_sub"),
        &[cert("sub"), cert("ca0")],
        &anchors(),
        JAN_2026,
    )
    .unwrap_err();
    assert!(why.contains("pathLenConstraint"), "{why}");
}

#[test]
fn tpm_ak_chain_refuses_an_issuer_without_key_cert_sign() {
    let why = verify_chain_to(
        &cert("ak_under_nosign"),
        &[cert("nosign")],
        &anchors(),
        JAN_2026,
    )
    .unwrap_err();
    assert!(why.contains("keyCertSign"), "{why}");
}
