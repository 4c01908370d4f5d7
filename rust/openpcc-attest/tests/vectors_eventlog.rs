//! Every TCG event log in the repository vectors replays to its expected PCRs; mutations fail cleanly.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use openpcc_attest::eventlog::{self, DataCheck, ExpectedPcrs, HashAlg};
use serde_json::Value;

fn vectors_dir() -> Option<PathBuf> {
    common::vectors_dir("tpm")
}

struct Case {
    file: String,
    log: Vec<u8>,
    expected: ExpectedPcrs,
    events: usize,
    locality: Option<u8>,
}

fn cases() -> Vec<Case> {
    let Some(dir) = vectors_dir() else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["eventlogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let file = c["file"].as_str().unwrap().to_owned();
            let mut expected = ExpectedPcrs::new();
            for (bank, regs) in c["expected_pcrs"].as_object().unwrap() {
                let regs: BTreeMap<u32, Vec<u8>> = regs
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(i, v)| {
                        (
                            i.parse().unwrap(),
                            hex::decode(v.as_str().unwrap()).unwrap(),
                        )
                    })
                    .collect();
                expected.insert(HashAlg::from_name(bank).unwrap(), regs);
            }
            Case {
                log: std::fs::read(dir.join(&file)).unwrap(),
                file,
                expected,
                events: usize::try_from(c["events_including_header"].as_u64().unwrap()).unwrap(),
                locality: c["startup_locality"]
                    .as_u64()
                    .map(|l| u8::try_from(l).unwrap()),
            }
        })
        .collect()
}

#[test]
fn every_log_replays_to_its_expected_pcrs() {
    let cases = cases();
    for case in &cases {
        let replay = eventlog::replay(&case.log).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        for (bank, regs) in &case.expected {
            for (pcr, want) in regs {
                let got = replay[bank]
                    .get(pcr)
                    .unwrap_or_else(|| panic!("{} {bank:?} PCR {pcr} absent", case.file));
                assert_eq!(
                    hex::encode(got),
                    hex::encode(want),
                    "{} {} PCR {pcr}",
                    case.file,
                    bank.name()
                );
            }
        }
        let verdict = eventlog::verify(&case.log, Some(&case.expected));
        assert!(
            verdict.valid(),
            "{}: {:?}",
            case.file,
            verdict.first_failure()
        );
        let banks = case.expected.len();
        let pcr_checks = verdict
            .checks
            .iter()
            .filter(|c| c.name.starts_with("eventlog.pcrs."))
            .count();
        assert_eq!(pcr_checks, banks, "{}", case.file);
    }
    if vectors_dir().is_some() {
        assert_eq!(cases.len(), 12);
    }
}

#[test]
fn event_counts_format_and_startup_locality_match_the_readme() {
    for case in cases() {
        let parsed = eventlog::parse(&case.log).unwrap();
        assert_eq!(parsed.events.len(), case.events, "{}", case.file);
        let is_sha1 = case.file.contains("debian-10");
        assert_eq!(
            parsed.format == eventlog::LogFormat::Sha1Only,
            is_sha1,
            "{}",
            case.file
        );
        let verdict = eventlog::verify(&case.log, None);
        let claimed = &verdict.claims["events"]["startup_locality"];
        assert_eq!(
            claimed.as_u64().map(|l| u8::try_from(l).unwrap()),
            case.locality,
            "{}",
            case.file
        );
    }
}

#[test]
fn no_event_in_the_vectors_has_data_that_contradicts_its_digest() {
    let mut seen = BTreeMap::<&str, usize>::new();
    for case in cases() {
        let parsed = eventlog::parse(&case.log).unwrap();
        for event in &parsed.events {
            let check = eventlog::check_event_data(event);
            assert_ne!(
                check,
                DataCheck::Mismatch,
                "{} event {}",
                case.file,
                event.index
            );
            *seen.entry(check.name()).or_default() += 1;
        }
    }
    if vectors_dir().is_some() {
        // GCE firmware hashes only the contents of EV_EFI_VARIABLE_BOOT; GRUB hashes the command
        // without its prefix; old COS firmware measures `db` authority events differently.
        assert!(seen["match"] > 200, "{seen:?}");
        assert!(seen["match-variable-contents"] >= 40, "{seen:?}");
        assert!(seen["match-grub-string"] >= 380, "{seen:?}");
        assert!(seen["advisory-mismatch"] >= 5, "{seen:?}");
    }
}

#[test]
fn kernel_cmdline_and_secure_boot_are_exposed() {
    let Some(dir) = vectors_dir() else { return };
    let log = std::fs::read(dir.join("openpcc/gce_tcg_event_log.bin")).unwrap();
    let verdict = eventlog::verify(&log, None);
    let events = &verdict.claims["events"];
    let cmdline = events["kernel_cmdline"].as_str().unwrap();
    assert!(
        cmdline.starts_with("/vmlinuz-6.8.0-1030-gcp ro rd.dm=1 systemd.verity=1"),
        "{cmdline}"
    );
    assert_eq!(events["secure_boot"], Value::Bool(true));
    let no_sb = std::fs::read(dir.join("eventlogs/ubuntu-2104-no-secure-boot.bin")).unwrap();
    assert_eq!(
        eventlog::verify(&no_sb, None).claims["events"]["secure_boot"],
        Value::Bool(false)
    );
    let sb = std::fs::read(dir.join("eventlogs/cos-85-amd-sev.bin")).unwrap();
    assert_eq!(
        eventlog::verify(&sb, None).claims["events"]["secure_boot"],
        Value::Bool(true)
    );
}

/// Finds the first event of `event_type` and returns the byte range of its data.
fn data_range(log: &[u8], event_type: u32) -> std::ops::Range<usize> {
    let parsed = eventlog::parse(log).unwrap();
    let event = parsed
        .events
        .iter()
        .find(|e| e.event_type == event_type)
        .unwrap();
    let start = event.data.as_ptr() as usize - log.as_ptr() as usize;
    start..start + event.data.len()
}

fn sample() -> Option<(Vec<u8>, ExpectedPcrs)> {
    let case = cases()
        .into_iter()
        .find(|c| c.file.ends_with("ubuntu-2104-no-dbx.bin"))?;
    Some((case.log, case.expected))
}

#[test]
fn a_changed_separator_fails_the_data_check() {
    let Some((mut log, _)) = sample() else { return };
    let range = data_range(&log, 4);
    log[range.start] ^= 1;
    let verdict = eventlog::verify(&log, None);
    let failed = verdict.first_failure().unwrap();
    assert_eq!(failed.name, "eventlog.event_data");
    assert!(failed.detail.contains("EV_SEPARATOR"), "{}", failed.detail);
}

#[test]
fn a_changed_kernel_cmdline_fails_the_data_check() {
    let Some((mut log, _)) = sample() else { return };
    let parsed = eventlog::parse(&log).unwrap();
    let event = parsed
        .events
        .iter()
        .find(|e| eventlog::kernel_cmdline(e).is_some())
        .unwrap();
    let at = event.data.as_ptr() as usize - log.as_ptr() as usize + event.data.len() - 3;
    drop(parsed);
    log[at] ^= 0x20;
    let verdict = eventlog::verify(&log, None);
    assert_eq!(verdict.first_failure().unwrap().name, "eventlog.event_data");
}

#[test]
fn a_flipped_digest_breaks_the_quote_comparison() {
    let Some((mut log, expected)) = sample() else {
        return;
    };
    let parsed = eventlog::parse(&log).unwrap();
    // an image-load digest (not checkable against its data) in PCR 4
    let event = parsed
        .events
        .iter()
        .find(|e| e.event_type == 0x8000_0003)
        .unwrap();
    let digest = event.digest(HashAlg::Sha256).unwrap();
    let at = digest.as_ptr() as usize - log.as_ptr() as usize;
    drop(parsed);
    log[at] ^= 0x80;
    let verdict = eventlog::verify(&log, Some(&expected));
    let failed: Vec<_> = verdict
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["eventlog.pcrs.sha256"]);
    assert!(verdict.first_failure().unwrap().detail.contains("PCR 4"));
}

#[test]
fn a_quote_bank_absent_from_the_log_fails() {
    let Some(dir) = vectors_dir() else { return };
    let log = std::fs::read(dir.join("eventlogs/debian-10.bin")).unwrap();
    let mut expected = ExpectedPcrs::new();
    expected.insert(HashAlg::Sha256, BTreeMap::from([(0, vec![0u8; 32])]));
    let verdict = eventlog::verify(&log, Some(&expected));
    assert_eq!(
        verdict.first_failure().unwrap().name,
        "eventlog.pcrs.sha256"
    );
}

#[test]
fn truncation_is_a_failed_check_never_a_panic() {
    let Some((log, expected)) = sample() else {
        return;
    };
    let boundaries: Vec<usize> = eventlog::parse(&log)
        .unwrap()
        .events
        .iter()
        .map(|e| e.offset)
        .collect();
    for len in (0..log.len()).step_by(5) {
        let verdict = eventlog::verify(&log[..len], Some(&expected));
        assert!(!verdict.valid(), "length {len}");
        if len > 0 && boundaries.contains(&len) {
            // a prefix cut at a record boundary is a well-formed shorter log: the quote catches it
            assert!(
                verdict
                    .checks
                    .iter()
                    .any(|c| c.name.starts_with("eventlog.pcrs.") && !c.ok),
                "length {len}"
            );
        } else {
            assert_eq!(
                (verdict.checks[0].name.as_str(), verdict.checks[0].ok),
                ("eventlog.parse", false)
            );
        }
    }
}

#[test]
fn trailing_garbage_is_rejected() {
    let Some((mut log, _)) = sample() else { return };
    log.extend_from_slice(b"garbage");
    let verdict = eventlog::verify(&log, None);
    assert!(!verdict.checks[0].ok);
    assert!(
        verdict.checks[0].detail.contains("truncated"),
        "{}",
        verdict.checks[0].detail
    );
}

#[test]
fn huge_declared_sizes_fail_without_allocating() {
    let Some((log, _)) = sample() else { return };
    let parsed = eventlog::parse(&log).unwrap();
    let second = parsed.events[1].offset;
    let first_size_at = second - parsed.events[0].data.len() - 4;
    drop(parsed);
    for size in [u32::MAX, u32::MAX / 2, 0x7fff_ffff] {
        let mut bad = log.clone();
        bad[first_size_at..first_size_at + 4].copy_from_slice(&size.to_le_bytes());
        assert!(!eventlog::verify(&bad, None).valid());
        // the digest count of the first crypto-agile record
        let mut bad = log.clone();
        bad[second + 8..second + 12].copy_from_slice(&size.to_le_bytes());
        let verdict = eventlog::verify(&bad, None);
        assert!(
            verdict.checks[0].detail.contains("more digests"),
            "{}",
            verdict.checks[0].detail
        );
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let Some((log, expected)) = sample() else {
        return;
    };
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..1000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bad = log.clone();
        let at = usize::try_from(state % log.len() as u64).unwrap();
        bad[at] ^= u8::try_from((state >> 32) & 0xff).unwrap() | 1;
        let _ = eventlog::verify(&bad, Some(&expected));
    }
}
