//! SEV-SNP vectors from `tests/data/vectors/sev-snp` (see its README): every sample gives its stated
//! outcome, every listed mutation is rejected by the right check, bad input never panics.

#![allow(clippy::many_single_char_names)] // d = vectors dir, t = instant, v = verdict...

mod common;

use common::{at, failed, read};
use std::path::PathBuf;

use openpcc_attest::sevsnp::{self, Evidence, Roots, SevSnpVerifier};
use openpcc_attest::Verdict;
use serde_json::Value;

fn dir() -> Option<PathBuf> {
    common::vectors_dir("sev-snp")
}

fn verify(
    report: &[u8],
    vcek: Option<&[u8]>,
    chain: Option<&[u8]>,
    crl: Option<&[u8]>,
    t: u64,
) -> Verdict {
    sevsnp::verify_report(
        &Evidence {
            report,
            vcek,
            chain,
            crl,
            at: t,
        },
        &Roots::builtin(),
    )
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
        let vcek = case
            .get("vcek")
            .and_then(Value::as_str)
            .map(|f| read(&d, f));
        let t = at(T_VALID);
        let v = verify(&report, vcek.as_deref(), None, None, t);
        let file = case["file"].as_str().unwrap();
        if case["expected"].as_str().unwrap().starts_with("valid") {
            assert!(v.valid(), "{file}: {:?}", v.checks);
        } else {
            assert!(!v.valid(), "{file}");
            assert_eq!(failed(&v), ["sevsnp.vcek"], "{file}");
            assert!(v
                .checks
                .iter()
                .any(|c| c.detail.contains("VCEK unavailable")));
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

#[test]
fn flipped_report_or_signature_bytes_fail_the_signature() {
    let Some(d) = dir() else { return };
    let s = milan(&d);
    let t = at(T_VALID);
    for i in [0x04, 0x38, 0x50, 0x90, 0x1A0, 0x29F, 0x2A0, 0x2E8, 0x2D0] {
        let mut r = s.report.clone();
        r[i] ^= 1;
        let v = verify(&r, Some(&s.vcek), Some(&s.chain), None, t);
        let f = failed(&v);
        assert!(
            f.contains(&"sevsnp.report.signature"),
            "byte {i:#x}: {:?}",
            v.checks
        );
    }
}

#[test]
fn reserved_signature_bytes_must_be_zero() {
    let Some(d) = dir() else { return };
    let s = milan(&d);
    for offset in [0x2A0 + 50, 0x2E8 + 71, 0x330, 0x49F] {
        let mut r = s.report.clone();
        r[offset] = 1;
        let v = verify(&r, Some(&s.vcek), None, None, at(T_VALID));
        assert_eq!(
            failed(&v),
            ["sevsnp.report.signature"],
            "offset {offset:#x}"
        );
    }
}

#[test]
fn milan_report_against_the_genoa_chain_fails() {
    let Some(d) = dir() else { return };
    let s = milan(&d);
    let genoa_chain = read(&d, "ca/go-sev-guest_ask_ark_genoa.pem");
    let v = verify(
        &s.report,
        Some(&s.vcek),
        Some(&genoa_chain),
        None,
        at(T_VALID),
    );
    assert_eq!(failed(&v), ["sevsnp.chain.vcek"], "{:?}", v.checks);
    // Another chip's VCEK: signature and chip id fail.
    let g = genoa(&d);
    let v = verify(&s.report, Some(&g.vcek), None, None, at(T_VALID));
    let f = failed(&v);
    assert!(
        f.contains(&"sevsnp.report.signature") && f.contains(&"sevsnp.chip_id.match"),
        "{f:?}"
    );
}

#[test]
fn chain_order_does_not_matter_and_builtin_intermediates_are_used() {
    let Some(d) = dir() else { return };
    let s = milan(&d);
    let t = at(T_VALID);
    let ark_first = read(&d, "ca/openpcc_milan_ark_ask.pem");
    assert!(verify(&s.report, Some(&s.vcek), Some(&ark_first), None, t).valid());
    assert!(verify(&s.report, Some(&s.vcek), None, None, t).valid());
    let g = genoa(&d);
    assert!(verify(&g.report, Some(&g.vcek), Some(&g.chain), None, t).valid());
}

#[test]
fn truncation_and_wrong_sizes_are_parse_failures() {
    let Some(d) = dir() else { return };
    let s = milan(&d);
    for cut in [0, 4, 0x2A0, 0x49F] {
        let v = verify(&s.report[..cut], Some(&s.vcek), None, None, at(T_VALID));
        assert!(failed(&v).contains(&"sevsnp.report.parse"), "cut {cut}");
    }
    let mut long = s.report.clone();
    long.push(0);
    assert_eq!(
        failed(&sevsnp::parse_report(&long)),
        ["sevsnp.report.parse"]
    );
    for version in [0u32, 1, 6, 0xFFFF_FFFF] {
        let mut r = s.report.clone();
        r[..4].copy_from_slice(&version.to_le_bytes());
        let v = sevsnp::parse_report(&r);
        assert_eq!(failed(&v), ["sevsnp.report.parse"]);
        assert!(v.checks[0].detail.contains("unsupported report version"));
    }
}

#[test]
fn certificates_are_judged_at_the_instant() {
    let Some(d) = dir() else { return };
    let s = milan(&d);
    for t in ["2022-09-24T00:55:27Z", "2029-09-24T00:55:29Z"] {
        let v = verify(&s.report, Some(&s.vcek), None, None, at(t));
        assert_eq!(failed(&v), ["sevsnp.chain.validity"], "{t}");
    }
    for t in ["2022-09-24T00:55:28Z", "2029-09-24T00:55:28Z"] {
        assert!(
            verify(&s.report, Some(&s.vcek), None, None, at(t)).valid(),
            "{t}"
        );
    }
}

#[test]
fn crls_are_checked_when_given() {
    let Some(d) = dir() else { return };
    let s = milan(&d);
    let milan_crl = read(&d, "crl/openpcc_milan_crl.pem");
    assert!(verify(
        &s.report,
        Some(&s.vcek),
        None,
        Some(&milan_crl),
        at("2026-01-01T00:00:00Z")
    )
    .valid());
    // Past nextUpdate the CRL is stale.
    let v = verify(
        &s.report,
        Some(&s.vcek),
        None,
        Some(&milan_crl),
        at("2026-06-01T00:00:00Z"),
    );
    assert_eq!(failed(&v), ["sevsnp.chain.validity"]);
    // The Genoa CRL is not the Milan ARK's.
    let genoa_crl = read(&d, "crl/openpcc_genoa_crl.pem");
    let v = verify(
        &s.report,
        Some(&s.vcek),
        None,
        Some(&genoa_crl),
        at("2025-06-01T00:00:00Z"),
    );
    assert_eq!(failed(&v), ["sevsnp.crl"]);
    // The Genoa CRL verifies for the Genoa chain (current ASK 0x20002 not revoked) while fresh.
    let g = genoa(&d);
    let v = verify(
        &g.report,
        Some(&g.vcek),
        Some(&g.chain),
        Some(&genoa_crl),
        at("2025-10-01T00:00:00Z"),
    );
    assert!(v.valid(), "{:?}", v.checks);
    let v = verify(
        &g.report,
        Some(&g.vcek),
        Some(&g.chain),
        Some(b"junk"),
        at("2025-10-01T00:00:00Z"),
    );
    assert_eq!(failed(&v), ["sevsnp.crl"]);
}

#[test]
fn azure_runtime_data_change_breaks_the_binding() {
    let Some(d) = dir() else { return };
    let g = genoa(&d);
    let mut r = g.report.clone();
    r[1236 + 10] ^= 1;
    let v = verify(&r, Some(&g.vcek), None, None, at(T_VALID));
    assert_eq!(failed(&v), ["sevsnp.hcl.report_data"]);
    let mut r = g.report.clone();
    r[2599] = 1;
    assert_eq!(failed(&sevsnp::parse_report(&r)), ["sevsnp.hcl.parse"]);
    for cut in [4, 0x20, 0x4C0, 0x4D0, 0x4D4, 2000] {
        assert_eq!(
            failed(&sevsnp::parse_report(&g.report[..cut])),
            ["sevsnp.hcl.parse"],
            "cut {cut}"
        );
    }
}

#[test]
fn untrusted_or_looping_chains_fail() {
    let Some(d) = dir() else { return };
    let s = milan(&d);
    let t = at(T_VALID);
    // A chain made of the VCEK itself (it names SEV-Milan as issuer: nothing issues it).
    let vcek_pem =
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &s.vcek).unwrap();
    let v = verify(&s.report, Some(&s.vcek), Some(vcek_pem.as_bytes()), None, t);
    assert!(!v.valid());
    // Trusting only the Genoa ARK: the Milan ASK's issuer is unknown.
    let roots = Roots::from_arks(&read(&d, "ca/genoa_ark.pem")).unwrap();
    let v = sevsnp::verify_report(
        &Evidence {
            report: &s.report,
            vcek: Some(&s.vcek),
            chain: Some(&s.chain),
            crl: None,
            at: t,
        },
        &roots,
    );
    assert!(failed(&v).contains(&"sevsnp.chain.ark"), "{:?}", v.checks);
    // An ASK and ARK that sign each other cannot form a loop: the depth is fixed.
    let both = [read(&d, "ca/milan_ask.pem"), read(&d, "ca/milan_ask.pem")].concat();
    assert!(verify(&s.report, Some(&s.vcek), Some(&both), None, t).valid());
    assert!(!verify(&s.report, Some(b"not a cert"), None, None, t).valid());
}

#[test]
fn turin_vcek_chains_to_the_turin_ask() {
    let Some(d) = dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&d, "expected.json")).unwrap();
    let want = &expected["certificate_checks"]["virtee_turin_vcek.der"]["extensions"];
    let vcek = read(&d, "vcek/virtee_turin_vcek.der");
    // A synthetic v3 Turin report (unsigned): chain checks pass, the signature cannot.
    let mut r = read(&d, "reports/openpcc_gce_milan_v4_report.bin");
    r[..4].copy_from_slice(&3u32.to_le_bytes());
    r[0x188] = 0x1A;
    r[0x189] = 0x02;
    let hwid = hex::decode(want["hwID"].as_str().unwrap()).unwrap();
    r[0x1A0..0x1E0].fill(0);
    r[0x1A0..0x1A8].copy_from_slice(&hwid);
    r[0x180..0x188].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
    let v = verify(&r, Some(&vcek), None, None, at("2026-01-01T00:00:00Z"));
    assert_eq!(failed(&v), ["sevsnp.report.signature"], "{:?}", v.checks);
    assert_eq!(v.claims["reported_tcb_decoded"]["fmc"], want["fmcSPL"]);
    assert_eq!(
        v.claims["reported_tcb_decoded"]["microcode"],
        want["ucodeSPL"]
    );
    // A different microcode SPL no longer matches the VCEK.
    r[0x187] = 10;
    assert!(failed(&verify(
        &r,
        Some(&vcek),
        None,
        None,
        at("2026-01-01T00:00:00Z")
    ))
    .contains(&"sevsnp.tcb.match"));
}

#[test]
fn cached_verifier_gives_the_same_verdict() {
    let Some(d) = dir() else { return };
    let verifier = SevSnpVerifier::default();
    for s in [milan(&d), genoa(&d)] {
        for t in [T_VALID, "2040-01-01T00:00:00Z"] {
            let ev = Evidence {
                report: &s.report,
                vcek: Some(&s.vcek),
                chain: Some(&s.chain),
                crl: None,
                at: at(t),
            };
            let cold = sevsnp::verify_report(&ev, &Roots::builtin());
            assert_eq!(verifier.verify(&ev), cold);
            assert_eq!(verifier.verify(&ev), cold);
        }
    }
}

#[test]
fn robustness_truncate_and_flip_never_panics() {
    let Some(d) = dir() else { return };
    let verifier = SevSnpVerifier::default();
    for s in [milan(&d), genoa(&d)] {
        let t = at(T_VALID);
        for cut in (0..s.report.len()).step_by(7) {
            let ev = Evidence {
                report: &s.report[..cut],
                vcek: Some(&s.vcek),
                chain: None,
                crl: None,
                at: t,
            };
            // Only the HCL wrapper's zero padding (after its runtime data, byte 2436) may go.
            assert_eq!(verifier.verify(&ev).valid(), cut >= 2436, "cut {cut}");
        }
        for i in (0..s.report.len()).step_by(13) {
            let mut r = s.report.clone();
            r[i] ^= 0x5a;
            let ev = Evidence {
                report: &r,
                vcek: Some(&s.vcek),
                chain: None,
                crl: None,
                at: t,
            };
            let _ = verifier.verify(&ev);
        }
        for cut in (0..s.vcek.len()).step_by(7) {
            let ev = Evidence {
                report: &s.report,
                vcek: Some(&s.vcek[..cut]),
                chain: None,
                crl: None,
                at: t,
            };
            assert!(!sevsnp::verify_report(&ev, &Roots::builtin()).valid());
        }
        for i in (0..s.chain.len()).step_by(13) {
            let mut c = s.chain.clone();
            c[i] ^= 0x01;
            let ev = Evidence {
                report: &s.report,
                vcek: Some(&s.vcek),
                chain: Some(&c),
                crl: None,
                at: t,
            };
            let _ = sevsnp::verify_report(&ev, &Roots::builtin());
        }
    }
}
