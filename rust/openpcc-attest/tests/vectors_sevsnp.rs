//! SEV-SNP vectors from `../shared/vectors/sev-snp` (see its README): every sample gives its stated
//! outcome, every listed mutation is rejected by the right check, bad input never panics.

use std::path::PathBuf;

use openpcc_attest::sevsnp::{self, Evidence, Roots, SevSnpVerifier};
use openpcc_attest::x509::parse_rfc3339_utc;
use openpcc_attest::Verdict;
use serde_json::Value;

fn dir() -> Option<PathBuf> {
    let root = std::env::var_os("OPENPCC_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    );
    let d = root.join("sev-snp");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipping: {} missing", d.display());
        None
    }
}

fn read(d: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(d.join(name)).unwrap()
}

fn at(text: &str) -> u64 {
    parse_rfc3339_utc(text).unwrap()
}

fn failed(v: &Verdict) -> Vec<&str> {
    v.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect()
}

fn verify(report: &[u8], vcek: Option<&[u8]>, chain: Option<&[u8]>, crl: Option<&[u8]>, t: u64) -> Verdict {
    sevsnp::verify_report(&Evidence { report, vcek, chain, crl, at: t }, &Roots::builtin())
}

struct Sample {
    report: Vec<u8>,
    vcek: Vec<u8>,
    chain: Vec<u8>,
}

fn milan(d: &std::path::Path) -> Sample {
    Sample {
        report: read(d, "reports/go-sev-guest_milan_v2_report.bin"),
        vcek: read(d, "vcek/go-sev-guest_milan_vcek.der"),
        chain: read(d, "ca/go-sev-guest_ask_ark_milan.pem"),
    }
}

fn genoa(d: &std::path::Path) -> Sample {
    Sample {
        report: read(d, "reports/openpcc_azure_genoa_v3_hcl_report.bin"),
        vcek: read(d, "vcek/openpcc_azure_genoa_vcek.pem"),
        chain: read(d, "ca/openpcc_genoa_ask_ark.pem"),
    }
}

const T_VALID: &str = "2026-01-01T00:00:00Z";

#[test]
fn every_sample_gives_its_expected_outcome_and_claims() {
    let Some(d) = dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&d, "expected.json")).unwrap();
    for case in expected["cases"].as_array().unwrap() {
        let report = read(&d, case["file"].as_str().unwrap());
        let vcek = case.get("vcek").and_then(Value::as_str).map(|f| read(&d, f));
        let t = at(T_VALID);
        let v = verify(&report, vcek.as_deref(), None, None, t);
        let file = case["file"].as_str().unwrap();
        if case["expected"].as_str().unwrap().starts_with("valid") {
            assert!(v.valid(), "{file}: {:?}", v.checks);
        } else {
            assert!(!v.valid(), "{file}");
            assert_eq!(failed(&v), ["sevsnp.vcek"], "{file}");
            assert!(v.checks.iter().any(|c| c.detail.contains("VCEK unavailable")));
        }
        for (k, want) in case["parsed"].as_object().unwrap() {
            assert_eq!(&v.claims[k.as_str()], want, "{file}: claim {k}");
        }
        if let Some(tcb) = case.get("reported_tcb_decoded") {
            assert_eq!(&v.claims["reported_tcb_decoded"], tcb, "{file}");
        }
        assert_eq!(v.claims["product"], case["product"], "{file}");
    }
}
