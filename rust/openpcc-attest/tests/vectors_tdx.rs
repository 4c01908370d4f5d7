//! TDX vectors from `../shared/vectors/tdx` (see its README): every quote parses to its stated
//! fields, verifies with its collateral to the stated outcome at the stated instants, every listed
//! mutation is rejected, bad input never panics.

use std::path::{Path, PathBuf};

use openpcc_attest::tdx::{self, TdxRoot};
use openpcc_attest::x509::parse_rfc3339_utc;
use openpcc_attest::Verdict;
use serde_json::{json, Value};

fn dir() -> Option<PathBuf> {
    let root = std::env::var_os("OPENPCC_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    );
    let d = root.join("tdx");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipping: {} missing", d.display());
        None
    }
}

fn read(d: &Path, name: &str) -> Vec<u8> {
    std::fs::read(d.join(name)).unwrap()
}

fn text(d: &Path, name: &str) -> String {
    String::from_utf8(read(d, name)).unwrap()
}

fn at(t: &str) -> u64 {
    parse_rfc3339_utc(t).unwrap()
}

fn failed(v: &Verdict) -> Vec<&str> {
    v.checks.iter().filter(|c| !c.ok).map(|c| c.name.as_str()).collect()
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
            let tcb = files[0].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
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
        assert_eq!(c["trailing_bytes"], case["length"].as_u64().unwrap() - used, "{file}");
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
        assert_eq!(failed(&v), ["tdx.collateral.parse"], "{file}: {:?}", v.checks);
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
        assert_eq!(v.claims.get("tcb_status").and_then(Value::as_str), Some(status), "{quote}: {:?}", v.checks);
        match quote {
            "quotes/dcap-qvl_tdx_v4.dat" | "quotes/dcap-qvl_sgx_v3.dat" => {
                assert!(v.valid(), "{quote}: {:?}", v.checks);
                assert_eq!(v.claims["advisory_ids"], case["tcb_level_match"]["advisoryIDs"], "{quote}");
                assert_eq!(v.claims["qe_tcb_status"], case["qe_identity_tcb_status"]);
            }
            "quotes/dcap-qvl_tdx_v5_outdated.dat" | "quotes/go-tdx-guest_v4_spr_e4.dat" => {
                assert_eq!(failed(&v), ["tdx.tcb.status"], "{quote}: {:?}", v.checks);
            }
            "quotes/go-tdx-guest_v5_td15.dat" => {
                let f = failed(&v);
                assert!(f.contains(&"tdx.collateral.freshness"), "{quote}: {:?}", v.checks);
                assert!(!f.contains(&"tdx.quote.signature") && !f.contains(&"tdx.pck_chain"), "{quote}");
            }
            other => panic!("unexpected case {other}"),
        }
    }
}
