//! NVIDIA GPU and `NVSwitch` SPDM evidence from the repository vectors: every sample valid, every
//! mutation rejected with the check that catches it.

mod common;

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use openpcc_attest::nvidia::{self, VerifyOptions};
use openpcc_attest::Verdict;
use serde_json::Value;

/// 2026-01-01T00:00:00Z: inside every device certificate's validity window.
const AT: u64 = 1_767_225_600;

fn dir() -> Option<PathBuf> {
    common::vectors_dir("nvidia")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().unwrap().join(name)).unwrap()
}

fn opts() -> VerifyOptions {
    VerifyOptions {
        at_unix: AT,
        ..VerifyOptions::default()
    }
}

fn failed(v: &Verdict) -> Vec<String> {
    v.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.clone())
        .collect()
}

fn expected_cases() -> Vec<Value> {
    let json: Value = serde_json::from_slice(&read("expected.json")).unwrap();
    json["cases"].as_array().unwrap().clone()
}

fn hopper_pair() -> Vec<u8> {
    let mut data = read("hopperAttestationReport.txt");
    data.push(b'\n');
    data.extend(read("hopperCertChain.txt"));
    data
}

#[test]
fn every_sample_is_valid_with_its_expected_framing() {
    if dir().is_none() {
        return;
    }
    let cases = expected_cases();
    let gpu = nvidia::verify_evidence(&read("gpu_evidence.json"), &opts());
    let switch = nvidia::verify_evidence(&read("switch_evidence.json"), &opts());
    let pair = nvidia::verify_evidence(&hopper_pair(), &opts());
    for v in [&gpu, &switch, &pair] {
        assert!(v.valid(), "{:?}", v.first_failure());
    }
    let mut devices: Vec<&Value> = Vec::new();
    devices.extend(pair.claims["devices"].as_array().unwrap());
    devices.extend(gpu.claims["devices"].as_array().unwrap());
    devices.extend(switch.claims["devices"].as_array().unwrap());
    assert_eq!(devices.len(), cases.len());
    assert_eq!(cases.len(), 13);
    for (case, device) in cases.iter().zip(devices) {
        let file = case["file"].as_str().unwrap();
        assert_eq!(device["request_nonce"], case["request_nonce"], "{file}");
        assert_eq!(device["responder_nonce"], case["responder_nonce"], "{file}");
        let measurements = device["measurements"].as_object().unwrap();
        assert_eq!(
            measurements.len() as u64,
            case["number_of_blocks"].as_u64().unwrap(),
            "{file}"
        );
        assert!(
            measurements
                .values()
                .all(|m| m.as_str().unwrap().len() == 96),
            "{file}"
        );
        assert_eq!(
            device["leaf_subject"].as_str().unwrap().split(',').next(),
            case["leaf_subject"].as_str().unwrap().split(',').next()
        );
        if let Some(driver) = case.get("driver_version") {
            assert_eq!(&device["driver_version"], driver, "{file}");
            assert_eq!(&device["vbios_version"], &case["vbios_version"], "{file}");
        }
    }
    // 8 GPUs + 4 switches: spdm, chain, signature, nonce for each, versions for GPUs
    assert!(gpu
        .checks
        .iter()
        .any(|c| c.name == "nvidia.7.vbios_version" && c.ok));
    assert!(switch
        .checks
        .iter()
        .any(|c| c.name == "nvidia.3.nonce" && c.ok));
}

fn one_gpu_item() -> Value {
    let list: Value = serde_json::from_slice(&read("gpu_evidence.json")).unwrap();
    list[0].clone()
}

fn with_evidence(item: &Value, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut item = item.clone();
    let mut raw = BASE64.decode(item["evidence"].as_str().unwrap()).unwrap();
    edit(&mut raw);
    item["evidence"] = Value::String(BASE64.encode(raw));
    serde_json::to_vec(&item).unwrap()
}

#[test]
fn flipped_signature_measurement_or_nonce_breaks_the_signature() {
    if dir().is_none() {
        return;
    }
    let item = one_gpu_item();
    let sig = with_evidence(&item, |raw| {
        let last = raw.len() - 1;
        raw[last] ^= 1;
    });
    assert_eq!(
        failed(&nvidia::verify_evidence(&sig, &opts())),
        ["nvidia.0.signature"]
    );
    // first measurement value byte: request 37 + header 8 + block header 4 + dmtf header 3
    let measurement = with_evidence(&item, |raw| raw[37 + 8 + 7] ^= 1);
    assert_eq!(
        failed(&nvidia::verify_evidence(&measurement, &opts())),
        ["nvidia.0.signature"]
    );
    let nonce = with_evidence(&item, |raw| raw[4] ^= 1);
    assert_eq!(
        failed(&nvidia::verify_evidence(&nonce, &opts())),
        ["nvidia.0.signature", "nvidia.0.nonce"]
    );
}

#[test]
fn wrong_expected_nonce_is_rejected_and_right_one_accepted() {
    if dir().is_none() {
        return;
    }
    let item = serde_json::to_vec(&one_gpu_item()).unwrap();
    let right = hex::decode(one_gpu_item()["nonce"].as_str().unwrap()).unwrap();
    let ok = nvidia::verify_evidence(
        &item,
        &VerifyOptions {
            nonce: Some(right.clone()),
            ..opts()
        },
    );
    assert!(ok.valid());
    let mut wrong = right;
    wrong[0] ^= 1;
    let bad = nvidia::verify_evidence(
        &item,
        &VerifyOptions {
            nonce: Some(wrong),
            ..opts()
        },
    );
    assert_eq!(failed(&bad), ["nvidia.0.nonce"]);
}

#[test]
fn certificates_outside_their_validity_fail_the_chain() {
    if dir().is_none() {
        return;
    }
    let before = VerifyOptions {
        at_unix: 1_500_000_000,
        ..opts()
    };
    let v = nvidia::verify_evidence(&hopper_pair(), &before);
    assert_eq!(failed(&v), ["nvidia.0.chain", "nvidia.0.signature"]);
    assert!(v.first_failure().unwrap().detail.contains("not yet valid"));
    let after = VerifyOptions {
        at_unix: 253_402_300_800,
        ..opts()
    };
    let v = nvidia::verify_evidence(&hopper_pair(), &after);
    assert!(v.first_failure().unwrap().detail.contains("expired"));
}

#[test]
fn wrong_root_dropped_leaf_and_foreign_chain_are_rejected() {
    if dir().is_none() {
        return;
    }
    let other_root = read("verifier_RIM_root.pem");
    let v = nvidia::verify_evidence(
        &hopper_pair(),
        &VerifyOptions {
            roots_pem: Some(other_root),
            ..opts()
        },
    );
    assert_eq!(failed(&v), ["nvidia.0.chain", "nvidia.0.signature"]);

    let chain = String::from_utf8(read("hopperCertChain.txt")).unwrap();
    let second = chain
        .match_indices("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .unwrap()
        .0;
    let mut dropped = read("hopperAttestationReport.txt");
    dropped.push(b'\n');
    dropped.extend(&chain.as_bytes()[second..]);
    let v = nvidia::verify_evidence(&dropped, &opts());
    assert_eq!(
        failed(&v),
        ["nvidia.0.chain", "nvidia.0.signature"],
        "the BROM certificate is a CA, not a device leaf"
    );

    let list: Value = serde_json::from_slice(&read("gpu_evidence.json")).unwrap();
    let mut item = list[0].clone();
    item["certificate"] = list[1]["certificate"].clone();
    let v = nvidia::verify_evidence(&serde_json::to_vec(&item).unwrap(), &opts());
    assert_eq!(failed(&v), ["nvidia.0.signature"]);
}

#[test]
fn a_looping_chain_is_rejected() {
    if dir().is_none() {
        return;
    }
    let mut data = hopper_pair();
    data.extend(read("verifier_device_root.pem"));
    let v = nvidia::verify_evidence(&data, &opts());
    assert!(v.first_failure().unwrap().detail.contains("repeats"));
}

#[test]
fn unparsable_roots_are_a_failed_check() {
    let v = nvidia::verify_evidence(
        b"00",
        &VerifyOptions {
            roots_pem: Some(b"not pem".to_vec()),
            ..opts()
        },
    );
    assert_eq!(failed(&v), ["nvidia.roots"]);
}

#[test]
fn malformed_containers_and_reports_are_failed_checks() {
    if dir().is_none() {
        return;
    }
    for data in [
        &b""[..],
        b"[]",
        b"{}",
        b"zz",
        b"[{\"evidence\": \"!!\"}]",
        &[0xff, 0xfe],
    ] {
        let v = nvidia::verify_evidence(data, &opts());
        assert_eq!(failed(&v), ["nvidia.format"], "{data:?}");
    }
    let item = one_gpu_item();
    let trailing = with_evidence(&item, |raw| raw.push(0));
    assert!(nvidia::verify_evidence(&trailing, &opts()).checks[1]
        .detail
        .contains("trailing"));
    let huge_record = with_evidence(&item, |raw| {
        raw[37 + 5..37 + 8].copy_from_slice(&[0xff, 0xff, 0xff]);
    });
    assert_eq!(
        failed(&nvidia::verify_evidence(&huge_record, &opts())),
        ["nvidia.0.spdm"]
    );
    let other_slot = with_evidence(&item, |raw| raw[37 + 3] = 1);
    assert_eq!(
        failed(&nvidia::verify_evidence(&other_slot, &opts())),
        ["nvidia.0.spdm"]
    );
    let wrong_version = with_evidence(&item, |raw| raw[37] = 0x12);
    assert_eq!(
        failed(&nvidia::verify_evidence(&wrong_version, &opts())),
        ["nvidia.0.spdm"]
    );
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    if dir().is_none() {
        return;
    }
    let item = one_gpu_item();
    let raw = BASE64.decode(item["evidence"].as_str().unwrap()).unwrap();
    for len in (0..raw.len()).step_by(89) {
        let data = with_evidence(&item, |r| r.truncate(len));
        assert!(
            !nvidia::verify_evidence(&data, &opts()).valid(),
            "length {len}"
        );
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..40 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let at = usize::try_from(state % raw.len() as u64).unwrap();
        let data = with_evidence(&item, |r| r[at] ^= 0x41);
        assert!(
            !nvidia::verify_evidence(&data, &opts()).valid(),
            "flip at {at}"
        );
    }
}

#[test]
fn a_tampered_intermediate_fails_even_after_the_genuine_chain_was_cached() {
    use der::{Decode, Encode, EncodePem};
    if dir().is_none() {
        return;
    }
    assert!(nvidia::verify_evidence(&hopper_pair(), &opts()).valid());
    let chain = nvidia::parse_pem_chain(&read("hopperCertChain.txt")).unwrap();
    let mut pem = String::new();
    for (i, cert) in chain.iter().enumerate() {
        let mut der = cert.to_der().unwrap();
        if i == 2 {
            let last = der.len() - 1;
            der[last] ^= 1; // inside the signature's s value
        }
        let cert = x509_cert::Certificate::from_der(&der).unwrap();
        pem.push_str(&cert.to_pem(der::pem::LineEnding::LF).unwrap());
    }
    let mut data = read("hopperAttestationReport.txt");
    data.push(b'\n');
    data.extend(pem.as_bytes());
    let v = nvidia::verify_evidence(&data, &opts());
    assert_eq!(failed(&v), ["nvidia.0.chain", "nvidia.0.signature"]);
    assert!(
        v.first_failure()
            .unwrap()
            .detail
            .contains("does not verify"),
        "{}",
        v.first_failure().unwrap().detail
    );
    nvidia::clear_signature_cache();
    assert!(nvidia::verify_evidence(&hopper_pair(), &opts()).valid());
}
