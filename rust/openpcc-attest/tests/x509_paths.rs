//! The shared path rules (`x509::check_path`) on real vendor certificates: every real chain the
//! vectors hold meets them, and an end-entity certificate or an exhausted path length is refused.

mod common;

use common::{read, vectors_dir};
use openpcc_attest::x509::{self, Cert};

fn certs(topic: &str, name: &str) -> Option<Vec<Cert>> {
    let dir = vectors_dir(topic)?;
    Some(x509::certs_from_der_or_pem(&read(&dir, name)).unwrap())
}

#[test]
fn real_gce_ak_chain_meets_the_path_rules() {
    let (Some(leaf), Some(inter), Some(root)) = (
        certs("tpm", "openpcc/gce_ak_cert.pem"),
        certs("tpm", "openpcc/gce_ak_intermediate_cert.pem"),
        certs("tpm", "openpcc/gce_ek_ak_root.pem"),
    ) else {
        return;
    };
    let path = [
        leaf[0].certificate(),
        inter[0].certificate(),
        root[0].certificate(),
    ];
    assert_eq!(x509::check_path(&path), Ok(()));
}

#[test]
fn check_issuer_refuses_an_ak_certificate_as_an_issuer() {
    let Some(leaf) = certs("tpm", "openpcc/gce_ak_cert.pem") else {
        return;
    };
    let why = x509::check_issuer(leaf[0].certificate(), 0).unwrap_err();
    assert!(why.contains("not a CA"), "{why}");
}

#[test]
fn check_path_refuses_an_intermediate_beyond_a_zero_path_length() {
    // Azure's vTPM CA has pathLen 0: a CA below it (here: itself again) breaks the constraint.
    let (Some(leaf), Some(inter), Some(root)) = (
        certs("tpm", "openpcc/azure_ak_cert_01.pem"),
        certs("tpm", "openpcc/azure_tpm_intermediate_01.pem"),
        certs("tpm", "openpcc/azure_tpm_root_2023.pem"),
    ) else {
        return;
    };
    let ok = [
        leaf[0].certificate(),
        inter[0].certificate(),
        root[0].certificate(),
    ];
    assert_eq!(x509::check_path(&ok), Ok(()));
    let deep = [
        leaf[0].certificate(),
        inter[0].certificate(),
        inter[0].certificate(),
        root[0].certificate(),
    ];
    let why = x509::check_path(&deep).unwrap_err();
    assert!(why.contains("pathLenConstraint"), "{why}");
}

#[test]
fn check_crl_issuer_needs_crl_sign() {
    // AMD's ASK asserts keyCertSign only; its ARK signs the CRL.
    let Some(chain) = certs("sev-snp", "ca/milan_ask.pem") else {
        return;
    };
    assert!(x509::check_crl_issuer(chain[0].certificate()).is_err());
    let Some(ark) = certs("sev-snp", "ca/milan_ark.pem") else {
        return;
    };
    assert_eq!(x509::check_crl_issuer(ark[0].certificate()), Ok(()));
}
