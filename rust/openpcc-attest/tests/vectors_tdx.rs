//! TDX vectors from `tests/data/vectors/tdx` (see its README): every quote parses to its stated
//! fields, verifies with its collateral to the stated outcome at the stated instants, every listed
//! mutation is rejected, bad input never panics.

#![allow(clippy::many_single_char_names)] // d = vectors dir, t = instant, v = verdict...

mod common;

use common::{at, failed, read};
use std::path::{Path, PathBuf};

use openpcc_attest::tdx::{self, TdxRoot};
use openpcc_attest::Verdict;
use serde_json::{json, Value};

fn dir() -> Option<PathBuf> {
    common::vectors_dir("tdx")
}

fn text(d: &Path, name: &str) -> String {
    String::from_utf8(read(d, name)).unwrap()
}

/// The go-tdx-guest PCS bodies and DER CRLs, in the collateral JSON format.
fn go_collateral(d: &Path, tcbinfo: &str) -> Vec<u8> {
    let g = "collateral/go-tdx-guest/";
    json!({
        "tcb_info": text(d, &format!("{g}{tcbinfo}")),
        "tcb_info_issuer_chain": text(d, &format!("{g}tcb_info_issuer_chain.pem")),
        "qe_identity": text(d, &format!("{g}qe_identity.json")),
        "qe_identity_issuer_chain": text(d, &format!("{g}qe_identity_issuer_chain.pem")),
        "pck_crl": hex::encode(read(d, &format!("{g}pckcrl_platform.der"))),
        "pck_crl_issuer_chain": text(d, &format!("{g}pck_crl_issuer_chain.pem")),
        "root_ca_crl": hex::encode(read(d, &format!("{g}rootcrl.der"))),
    })
    .to_string()
    .into_bytes()
}

fn collateral_for(d: &Path, case: &Value) -> Vec<u8> {
    match &case["collateral"] {
        Value::String(f) => read(d, f),
        Value::Array(files) => {
            let tcb = files[0]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            go_collateral(d, &tcb)
        }
        _ => unreachable!(),
    }
}

fn verify(d: &Path, quote: &str, collateral: &[u8], t: u64) -> Verdict {
    tdx::verify_quote(&read(d, quote), Some(collateral), t, &TdxRoot::builtin())
}

#[test]
fn every_quote_parses_to_its_stated_fields() {
    let Some(d) = dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&d, "expected.json")).unwrap();
    for case in expected["quotes"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let v = tdx::parse_quote(&read(&d, file));
        assert!(v.valid(), "{file}: {:?}", v.checks);
        let c = &v.claims;
        for (k, want) in case["header"].as_object().unwrap() {
            if !matches!(k.as_str(), "body_type" | "body_size") {
                assert_eq!(&c[k.as_str()], want, "{file}: header {k}");
            }
        }
        assert_eq!(c["body_kind"], case["body_kind"], "{file}");
        assert_eq!(c["tee_type"], case["header"]["tee_type"], "{file}");
        assert_eq!(c["user_data"], case["header"]["user_data"], "{file}");
        let used = case["bytes_used_by_quote"].as_u64().unwrap();
        assert_eq!(
            c["trailing_bytes"],
            case["length"].as_u64().unwrap() - used,
            "{file}"
        );
        for (k, want) in case["body"].as_object().unwrap() {
            assert_eq!(&c[k.as_str()], want, "{file}: {k}");
        }
        for (k, want) in case["qe_report"].as_object().unwrap() {
            assert_eq!(&c["qe_report"][k.as_str()], want, "{file}: qe {k}");
        }
        assert_eq!(c["fmspc"], case["pck"]["fmspc"], "{file}");
        assert_eq!(c["pck_pce_svn"], case["pck"]["pcesvn"], "{file}");
        assert_eq!(c.get("pck_cpusvn"), Some(&case["pck"]["cpusvn"]), "{file}");
    }
}

#[test]
fn every_quote_passes_its_crypto_checks() {
    let Some(d) = dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&d, "expected.json")).unwrap();
    for case in expected["quotes"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        // No collateral: only the collateral check may fail; pick an instant inside the PCK window.
        let t = at(case["pck"]["not_before"].as_str().unwrap()) + 86_400;
        let v = tdx::verify_quote(&read(&d, file), None, t, &TdxRoot::builtin());
        assert_eq!(
            failed(&v),
            ["tdx.collateral.parse"],
            "{file}: {:?}",
            v.checks
        );
    }
}

#[test]
fn every_collateral_case_gives_its_expected_outcome() {
    let Some(d) = dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&d, "expected.json")).unwrap();
    for case in expected["collateral_cases"].as_array().unwrap() {
        let quote = case["quote"].as_str().unwrap();
        let col = collateral_for(&d, case);
        let status = case["tcb_level_match"]["status"].as_str().unwrap();
        let t = case
            .get("suggested_verification_time")
            .or(case.get("verification_time_used_by_origin_tests"))
            .and_then(Value::as_str)
            .unwrap();
        let v = verify(&d, quote, &col, at(t));
        assert_eq!(
            v.claims.get("tcb_status").and_then(Value::as_str),
            Some(status),
            "{quote}: {:?}",
            v.checks
        );
        match quote {
            "quotes/dcap-qvl_sgx_v3.dat" => {
                // Intel's verdict is valid with ConfigurationAndSWHardeningNeeded: the relying
                // party must accept that status explicitly.
                assert_eq!(failed(&v), ["tdx.tcb.status"], "{quote}: {:?}", v.checks);
                let accepted = tdx::verify_quote_accepting(
                    &read(&d, quote),
                    Some(&col),
                    at(t),
                    &TdxRoot::builtin(),
                    &tdx::AcceptedTcb::new([status]),
                );
                assert!(accepted.valid(), "{quote}: {:?}", accepted.checks);
                assert_eq!(
                    accepted.claims["advisory_ids"], case["tcb_level_match"]["advisoryIDs"],
                    "{quote}"
                );
            }
            "quotes/dcap-qvl_tdx_v4.dat" => {
                assert!(v.valid(), "{quote}: {:?}", v.checks);
                assert_eq!(
                    v.claims["advisory_ids"], case["tcb_level_match"]["advisoryIDs"],
                    "{quote}"
                );
                assert_eq!(v.claims["qe_tcb_status"], case["qe_identity_tcb_status"]);
            }
            "quotes/dcap-qvl_tdx_v5_outdated.dat" | "quotes/go-tdx-guest_v4_spr_e4.dat" => {
                assert_eq!(failed(&v), ["tdx.tcb.status"], "{quote}: {:?}", v.checks);
            }
            "quotes/go-tdx-guest_v5_td15.dat" => {
                let f = failed(&v);
                assert!(
                    f.contains(&"tdx.collateral.freshness"),
                    "{quote}: {:?}",
                    v.checks
                );
                assert!(
                    !f.contains(&"tdx.quote.signature") && !f.contains(&"tdx.pck_chain"),
                    "{quote}"
                );
            }
            other => panic!("unexpected case {other}"),
        }
    }
}

#[test]
fn every_listed_mutation_is_rejected() {
    let Some(d) = dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&d, "expected.json")).unwrap();
    let t = at("2023-07-01T01:00:00Z");
    for m in expected["negative_mutations"].as_array().unwrap() {
        let mut quote = read(&d, m["quote"].as_str().unwrap());
        let off = usize::from_str_radix(m["offset"].as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap();
        quote[off] =
            u8::from_str_radix(m["new_byte"].as_str().unwrap().trim_start_matches("0x"), 16)
                .unwrap();
        let v = tdx::verify_quote(&quote, None, t, &TdxRoot::builtin());
        let f = failed(&v);
        let want = match m["expected"].as_str().unwrap() {
            e if e.contains("unsupported quote version") => "tdx.quote.parse",
            e if e.contains("length mismatch") => "tdx.quote.parse",
            e if e.contains("quote ECDSA signature") => "tdx.quote.signature",
            _ => "tdx.pck_chain",
        };
        assert_eq!(
            f.first().copied(),
            Some(want),
            "offset {off:#x}: {:?}",
            v.checks
        );
    }
}

#[test]
fn spr_e4_pck_chain_expired_in_2053() {
    let Some(d) = dir() else { return };
    let col = go_collateral(&d, "tcbinfo_50806f000000.json");
    let v = verify(
        &d,
        "quotes/go-tdx-guest_v4_spr_e4.dat",
        &col,
        at("2053-07-01T00:00:00Z"),
    );
    assert!(
        failed(&v).contains(&"tdx.pck_chain.validity"),
        "{:?}",
        v.checks
    );
}

#[test]
fn collateral_outside_its_window_is_stale() {
    let Some(d) = dir() else { return };
    let col = read(&d, "collateral/dcap-qvl/tdx_v4_collateral.json");
    for t in ["2025-06-19T10:32:26Z", "2025-07-19T10:00:36Z"] {
        let v = verify(&d, "quotes/dcap-qvl_tdx_v4.dat", &col, at(t));
        assert_eq!(failed(&v), ["tdx.collateral.freshness"], "{t}");
    }
    for t in ["2025-06-19T10:32:27Z", "2025-07-19T10:00:35Z"] {
        assert!(
            verify(&d, "quotes/dcap-qvl_tdx_v4.dat", &col, at(t)).valid(),
            "{t}"
        );
    }
}

#[test]
fn tampered_collateral_is_rejected() {
    let Some(d) = dir() else { return };
    let raw = read(&d, "collateral/dcap-qvl/tdx_v4_collateral.json");
    let t = at("2025-07-01T00:00:00Z");
    let mut col: Value = serde_json::from_slice(&raw).unwrap();
    let tcb = col["tcb_info"]
        .as_str()
        .unwrap()
        .replacen("\"UpToDate\"", "\"OutOfDate\"", 1);
    col["tcb_info"] = tcb.into();
    let v = verify(
        &d,
        "quotes/dcap-qvl_tdx_v4.dat",
        col.to_string().as_bytes(),
        t,
    );
    assert!(
        failed(&v).contains(&"tdx.collateral.tcb_info"),
        "{:?}",
        v.checks
    );

    let mut col: Value = serde_json::from_slice(&raw).unwrap();
    let qe = col["qe_identity"]
        .as_str()
        .unwrap()
        .replacen("\"isvprodid\":2", "\"isvprodid\":3", 1);
    col["qe_identity"] = qe.into();
    let v = verify(
        &d,
        "quotes/dcap-qvl_tdx_v4.dat",
        col.to_string().as_bytes(),
        t,
    );
    assert!(
        failed(&v).contains(&"tdx.collateral.qe_identity"),
        "{:?}",
        v.checks
    );

    // Collateral of another platform (SGX, other FMSPC) for a TDX quote.
    let other = read(&d, "collateral/dcap-qvl/sgx_v3_collateral.json");
    let v = verify(&d, "quotes/dcap-qvl_tdx_v4.dat", &other, t);
    assert!(
        failed(&v).contains(&"tdx.collateral.tcb_info"),
        "{:?}",
        v.checks
    );

    for junk in [&b""[..], b"{}", b"[1,2]", b"{\"tcb_info\": 5}"] {
        let v = verify(&d, "quotes/dcap-qvl_tdx_v4.dat", junk, t);
        assert_eq!(failed(&v), ["tdx.collateral.parse"]);
    }
}

/// The issuer chain with one base64 character changed in the signature of its first
/// certificate (its last bytes).
fn corrupt_first_signature(pem: &str) -> String {
    let end = pem.find("-----END CERTIFICATE-----").unwrap();
    let mut b = pem.as_bytes().to_vec();
    let i = (end - 40..end - 10)
        .rev()
        .find(|&i| b[i - 1..=i + 1].iter().all(u8::is_ascii_alphanumeric))
        .unwrap();
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

#[test]
fn each_issuer_chain_is_checked_unless_the_two_are_identical() {
    let Some(d) = dir() else { return };
    let raw = read(&d, "collateral/dcap-qvl/tdx_v4_collateral.json");
    let t = at("2025-07-01T00:00:00Z");
    let run = |key: &str, chain: String| {
        let mut col: Value = serde_json::from_slice(&raw).unwrap();
        col[key] = chain.into();
        verify(
            &d,
            "quotes/dcap-qvl_tdx_v4.dat",
            col.to_string().as_bytes(),
            t,
        )
    };
    let col: Value = serde_json::from_slice(&raw).unwrap();
    let chain = col["tcb_info_issuer_chain"].as_str().unwrap().to_owned();
    assert_eq!(col["qe_identity_issuer_chain"].as_str().unwrap(), chain);
    // Same certificates, other bytes: verified on its own and fine.
    let v = run("qe_identity_issuer_chain", chain.replace('\n', "\r\n"));
    assert!(v.valid(), "{:?}", v.checks);
    // A bad signing certificate in either chain fails that document only.
    let v = run("qe_identity_issuer_chain", corrupt_first_signature(&chain));
    assert_eq!(failed(&v), ["tdx.collateral.qe_identity"]);
    let v = run("tcb_info_issuer_chain", corrupt_first_signature(&chain));
    assert_eq!(failed(&v), ["tdx.collateral.tcb_info"]);
}

#[test]
fn a_wrong_root_fails_the_chain() {
    let Some(d) = dir() else { return };
    // An AMD root is a well-formed certificate but not Intel's.
    let amd = std::fs::read(d.join("../sev-snp/ca/milan_ark.pem")).unwrap();
    let root = TdxRoot::from_der_or_pem(&amd).unwrap();
    let v = tdx::verify_quote(
        &read(&d, "quotes/dcap-qvl_tdx_v4.dat"),
        None,
        at("2025-07-01T00:00:00Z"),
        &root,
    );
    assert!(failed(&v).contains(&"tdx.pck_chain"), "{:?}", v.checks);
}

#[test]
fn truncation_at_field_boundaries_is_a_parse_failure() {
    let Some(d) = dir() else { return };
    let q = read(&d, "quotes/go-tdx-guest_v5_td15.dat");
    for cut in [
        0, 1, 47, 48, 50, 54, 701, 702, 705, 706, 770, 834, 840, 1224, 1288, 1290, 1322, 1328, 5005,
    ] {
        let v = tdx::parse_quote(&q[..cut]);
        assert_eq!(failed(&v), ["tdx.quote.parse"], "cut {cut}");
    }
}

#[test]
fn robustness_truncate_and_flip_never_panics() {
    let Some(d) = dir() else { return };
    let col = read(&d, "collateral/dcap-qvl/tdx_v4_collateral.json");
    let t = at("2025-07-01T00:00:00Z");
    let root = TdxRoot::builtin();
    for file in [
        "quotes/dcap-qvl_tdx_v4.dat",
        "quotes/go-tdx-guest_v5_td15.dat",
        "quotes/dcap-qvl_sgx_v3.dat",
    ] {
        let q = read(&d, file);
        for cut in (0..q.len()).step_by(7) {
            let _ = tdx::verify_quote(&q[..cut], Some(&col), t, &root);
        }
        for i in (0..q.len()).step_by(13) {
            let mut m = q.clone();
            m[i] ^= 0x5a;
            let v = tdx::verify_quote(&m, Some(&col), t, &root);
            // Past the PCK chain the quote's bytes end (or are padding): any flip before must fail.
            if i < 632 {
                assert!(!v.valid(), "{file}: flip at {i} accepted");
            }
        }
    }
    for cut in (0..col.len()).step_by(97) {
        let _ = verify(&d, "quotes/dcap-qvl_tdx_v4.dat", &col[..cut], t);
    }
}

#[test]
fn cached_verifier_gives_the_same_verdicts() {
    let Some(d) = dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&d, "expected.json")).unwrap();
    let verifier = tdx::TdxVerifier::default();
    for case in expected["collateral_cases"].as_array().unwrap() {
        let quote = read(&d, case["quote"].as_str().unwrap());
        let col = collateral_for(&d, case);
        for t in [
            "2023-07-01T01:00:00Z",
            "2025-07-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
        ] {
            let cold = tdx::verify_quote(&quote, Some(&col), at(t), &TdxRoot::builtin());
            assert_eq!(verifier.verify(&quote, Some(&col), at(t)), cold);
            assert_eq!(verifier.verify(&quote, Some(&col), at(t)), cold);
        }
        let cold = tdx::verify_quote(
            &quote,
            None,
            at("2025-07-01T00:00:00Z"),
            &TdxRoot::builtin(),
        );
        assert_eq!(
            verifier.verify(&quote, None, at("2025-07-01T00:00:00Z")),
            cold
        );
    }
}

#[test]
fn sgx_collateral_for_a_td_quote_is_the_wrong_kind() {
    let Some(d) = dir() else { return };
    // Same FMSPC family is not needed: the kind check is independent of the FMSPC check.
    let col = read(&d, "collateral/dcap-qvl/sgx_v3_collateral.json");
    let v = verify(
        &d,
        "quotes/dcap-qvl_tdx_v4.dat",
        &col,
        at("2025-07-01T00:00:00Z"),
    );
    assert!(
        failed(&v).contains(&"tdx.collateral.kind"),
        "{:?}",
        v.checks
    );
}

#[test]
fn azure_tdx_hcl_binds_runtime_data_and_matches_its_quote() {
    let Some(d) = dir() else { return };
    let expected: Value = serde_json::from_slice(&read(&d, "expected.json")).unwrap();
    let hcl = read(&d, "azure/openpcc_azure_tdx_hcl_report.bin");
    let quote = read(&d, "azure/openpcc_azure_tdx_v4_quote.bin");
    let v = tdx::verify_azure_hcl(&hcl, Some(&quote));
    assert!(v.valid(), "{:?}", v.checks);
    assert!(expected["azure_tdx_hcl"]["checks"]
        .as_object()
        .unwrap()
        .values()
        .all(|x| x == true));
    let q = tdx::parse_quote(&quote);
    for k in ["mrtd", "rtmr0", "rtmr3", "report_data"] {
        assert_eq!(v.claims[k], q.claims[k], "{k}");
    }
    let json_at = usize::try_from(
        expected["azure_tdx_hcl"]["runtime_data_offset"]
            .as_u64()
            .unwrap(),
    )
    .unwrap()
        + 20;
    let mut m = hcl.clone();
    m[json_at + 3] ^= 1;
    assert_eq!(
        failed(&tdx::verify_azure_hcl(&m, Some(&quote))),
        ["tdx.hcl.report_data"]
    );
    let mut m = hcl.clone();
    m[0x20 + 600] ^= 1; // inside TDINFO
    let f = tdx::verify_azure_hcl(&m, Some(&quote));
    assert!(
        failed(&f).contains(&"tdx.hcl.tdreport_hashes"),
        "{:?}",
        f.checks
    );
    let other = read(&d, "quotes/dcap-qvl_tdx_v4.dat");
    assert_eq!(
        failed(&tdx::verify_azure_hcl(&hcl, Some(&other))),
        ["tdx.hcl.quote_match"]
    );
    let snp =
        std::fs::read(d.join("../sev-snp/reports/openpcc_azure_genoa_v3_hcl_report.bin")).unwrap();
    assert_eq!(
        failed(&tdx::verify_azure_hcl(&snp, None)),
        ["tdx.hcl.parse"]
    );
    for cut in (0..hcl.len()).step_by(7) {
        let _ = tdx::verify_azure_hcl(&hcl[..cut], Some(&quote));
    }
}

#[test]
fn looping_or_reordered_issuer_chains_fail() {
    let Some(d) = dir() else { return };
    let raw = read(&d, "collateral/dcap-qvl/tdx_v4_collateral.json");
    let t = at("2025-07-01T00:00:00Z");
    let col: Value = serde_json::from_slice(&raw).unwrap();
    let pem = col["tcb_info_issuer_chain"].as_str().unwrap();
    let blocks: Vec<String> = pem
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("BEGIN"))
        .map(str::to_owned)
        .collect();
    assert_eq!(blocks.len(), 2);
    let (signer, root) = (&blocks[0], &blocks[1]);
    for bad in [
        format!("{signer}\n{signer}\n{root}"), // the signer "issued by" itself: a loop
        format!("{root}\n{root}"),             // the root repeated
        format!("{root}\n{signer}"),           // reversed
        signer.clone(),                        // root missing: signed by the root, so accepted
    ] {
        let mut c = col.clone();
        c["tcb_info_issuer_chain"] = bad.clone().into();
        let v = verify(
            &d,
            "quotes/dcap-qvl_tdx_v4.dat",
            c.to_string().as_bytes(),
            t,
        );
        if bad == *signer {
            assert!(v.valid(), "{:?}", v.checks);
        } else {
            assert!(
                failed(&v).contains(&"tdx.collateral.tcb_info"),
                "{:?}",
                v.checks
            );
        }
    }
}

/// Every CRL of the TDX vectors: the go-tdx-guest DER files and the hex ones of each dcap-qvl
/// collateral.
fn all_crls(d: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        (
            "go pck".to_owned(),
            read(d, "collateral/go-tdx-guest/pckcrl_platform.der"),
        ),
        (
            "go root".to_owned(),
            read(d, "collateral/go-tdx-guest/rootcrl.der"),
        ),
    ];
    for name in ["tdx_v4", "tdx_v5_outdated", "sgx_v3"] {
        let col: Value = serde_json::from_slice(&read(
            d,
            &format!("collateral/dcap-qvl/{name}_collateral.json"),
        ))
        .unwrap();
        for key in ["pck_crl", "root_ca_crl"] {
            let der = hex::decode(col[key].as_str().unwrap()).unwrap();
            out.push((format!("{name} {key}"), der));
        }
    }
    out
}

/// `RevocationList` (entries checked in place) must accept exactly what x509-cert's
/// `CertificateList` accepts (with the same signed/outer algorithm rule), and agree on issuer,
/// window, entries and every listed serial.
fn crl_readers_agree(der: &[u8], serials: &[Vec<u8>]) -> Result<bool, String> {
    use der::Decode as _;
    use openpcc_attest::x509::RevocationList;
    use x509_cert::crl::CertificateList;
    let full = <CertificateList>::from_der(der)
        .ok()
        .filter(|c| c.signature_algorithm == c.tbs_cert_list.signature);
    match (full, RevocationList::from_der_or_pem(der)) {
        (Some(full), Ok(fast)) => {
            let tbs = &full.tbs_cert_list;
            let listed: Vec<Vec<u8>> = tbs
                .revoked_certificates
                .iter()
                .flatten()
                .map(|r| strip_zeros(r.serial_number.as_bytes()).to_vec())
                .collect();
            let window = (
                tbs.this_update.to_unix_duration().as_secs(),
                tbs.next_update
                    .map_or(u64::MAX, |t| t.to_unix_duration().as_secs()),
            );
            let same = tbs.issuer.to_string() == fast.issuer()
                && window == fast.window()
                && listed.len() == fast.entries()
                && serials
                    .iter()
                    .all(|s| listed.contains(s) == fast.revokes(s));
            same.then_some(true)
                .ok_or_else(|| "readers disagree".to_owned())
        }
        (None, Err(_)) => Ok(false),
        (full, fast) => Err(format!(
            "x509-cert accepts: {}, RevocationList: {:?}",
            full.is_some(),
            fast.err()
        )),
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    &b[b.iter().position(|x| *x != 0).unwrap_or(b.len())..]
}

#[test]
fn revocation_list_reads_crls_exactly_as_x509_cert_does() {
    use der::Decode as _;
    let Some(d) = dir() else { return };
    for (name, der) in all_crls(&d) {
        let crl: x509_cert::crl::CertificateList =
            x509_cert::crl::CertificateList::from_der(&der).unwrap();
        let mut serials: Vec<Vec<u8>> = crl
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten()
            .map(|r| strip_zeros(r.serial_number.as_bytes()).to_vec())
            .collect();
        serials.push(vec![0x01, 0x02]);
        assert_eq!(crl_readers_agree(&der, &serials), Ok(true), "{name}");
        // Every byte of the header and first entries; the entries after repeat their shape.
        for i in (0..der.len()).filter(|i| *i < 640 || i % 7 == 0) {
            for mask in [0x01, 0x80, 0xff] {
                let mut m = der.clone();
                m[i] ^= mask;
                let r = crl_readers_agree(&m, &serials);
                assert!(r.is_ok(), "{name}: byte {i} ^ {mask:#x}: {r:?}");
            }
        }
        for cut in (0..der.len()).step_by(3) {
            assert!(
                crl_readers_agree(&der[..cut], &serials).is_ok(),
                "{name}: cut {cut}"
            );
        }
    }
}

/// DER of the OID ecdsa-with-SHA256 (1.2.840.10045.4.3.2); its last byte 0x02 becomes 0x03 for SHA-384.
const ECDSA_SHA256: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];

#[test]
fn a_crl_whose_outer_algorithm_differs_from_the_signed_one_is_refused() {
    use openpcc_attest::x509::{RevocationList, X509Error};
    let Some(d) = dir() else { return };
    let expected = X509Error::Der("crl whose signature algorithm differs from its signed one");
    for (name, der) in all_crls(&d) {
        let outer = der
            .windows(ECDSA_SHA256.len())
            .rposition(|w| w == ECDSA_SHA256)
            .expect("ecdsa-with-SHA256 crl");
        let mut m = der.clone();
        m[outer + ECDSA_SHA256.len() - 1] = 0x03; // ecdsa-with-SHA384, outside the signed bytes
        assert_eq!(
            RevocationList::from_der_or_pem(&m).err(),
            Some(expected.clone()),
            "{name}"
        );
    }
}

#[test]
fn a_certificate_whose_outer_algorithm_differs_from_the_signed_one_is_refused() {
    use openpcc_attest::x509::{Cert, X509Error};
    let Some(d) = dir() else { return };
    let der = read(&d, "intel_sgx_root_ca.der");
    assert!(Cert::from_der(&der).is_ok());
    let outer = der.windows(10).rposition(|w| w == ECDSA_SHA256).unwrap();
    let mut m = der.clone();
    m[outer + 9] = 0x03;
    assert_eq!(
        Cert::from_der(&m).err(),
        Some(X509Error::Der(
            "certificate whose signature algorithm differs from its signed one"
        ))
    );
}
