//! Synthetic logs: layouts, replay rules and malformed headers, independent of the repository vectors.

use super::*;
use crate::eventlog::types::HashAlg;

const SHA1: u16 = 0x0004;
const SHA256: u16 = 0x000B;

fn hash(alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
    alg.digest_parts(parts.iter().copied())
}

fn sha1_record(pcr: u32, event_type: u32, digest: &[u8; 20], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&pcr.to_le_bytes());
    out.extend_from_slice(&event_type.to_le_bytes());
    out.extend_from_slice(digest);
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn spec_id(algs: &[(u16, u16)]) -> Vec<u8> {
    let mut d = b"Spec ID Event03\0".to_vec();
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(&[0, 2, 0, 2]);
    d.extend_from_slice(&u32::try_from(algs.len()).unwrap().to_le_bytes());
    for (alg, size) in algs {
        d.extend_from_slice(&alg.to_le_bytes());
        d.extend_from_slice(&size.to_le_bytes());
    }
    d.push(0);
    d
}

fn agile_record(pcr: u32, event_type: u32, digests: &[(u16, Vec<u8>)], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&pcr.to_le_bytes());
    out.extend_from_slice(&event_type.to_le_bytes());
    out.extend_from_slice(&u32::try_from(digests.len()).unwrap().to_le_bytes());
    for (alg, d) in digests {
        out.extend_from_slice(&alg.to_le_bytes());
        out.extend_from_slice(d);
    }
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn both(data: &[u8]) -> Vec<(u16, Vec<u8>)> {
    vec![
        (SHA1, hash(HashAlg::Sha1, &[data])),
        (SHA256, hash(HashAlg::Sha256, &[data])),
    ]
}

fn agile_log(records: &[Vec<u8>]) -> Vec<u8> {
    let mut log = sha1_record(0, 3, &[0; 20], &spec_id(&[(SHA1, 20), (SHA256, 32)]));
    for r in records {
        log.extend_from_slice(r);
    }
    log
}

#[test]
fn replay_extends_each_bank_from_zero() {
    let sep = [0u8; 4];
    let log = agile_log(&[
        agile_record(4, 4, &both(&sep), &sep),
        agile_record(4, 4, &both(&sep), &sep),
    ]);
    let pcrs = replay(&log).unwrap();
    let d = hash(HashAlg::Sha256, &[&sep]);
    let once = hash(HashAlg::Sha256, &[&[0u8; 32], &d]);
    let twice = hash(HashAlg::Sha256, &[&once, &d]);
    assert_eq!(pcrs[&HashAlg::Sha256][&4], twice);
    assert!(verify(&log, None).valid());
}

#[test]
fn startup_locality_seeds_pcr0_only_before_pcr0_is_extended() {
    let loc = b"StartupLocality\0\x03";
    let zero = vec![(SHA1, vec![0; 20]), (SHA256, vec![0; 32])];
    let sep = [0u8; 4];
    let log = agile_log(&[
        agile_record(0, 3, &zero, loc),
        agile_record(0, 4, &both(&sep), &sep),
    ]);
    let mut start = [0u8; 32];
    start[31] = 3;
    let want = hash(HashAlg::Sha256, &[&start, &hash(HashAlg::Sha256, &[&sep])]);
    assert_eq!(replay(&log).unwrap()[&HashAlg::Sha256][&0], want);

    let late = agile_log(&[
        agile_record(0, 4, &both(&sep), &sep),
        agile_record(0, 3, &zero, loc),
    ]);
    let want = hash(
        HashAlg::Sha256,
        &[&[0u8; 32], &hash(HashAlg::Sha256, &[&sep])],
    );
    assert_eq!(replay(&late).unwrap()[&HashAlg::Sha256][&0], want);
}

#[test]
fn sha1_only_logs_replay_the_sha1_bank() {
    let data = b"action";
    let digest: [u8; 20] = hash(HashAlg::Sha1, &[data]).try_into().unwrap();
    let mut log = sha1_record(5, 5, &digest, data);
    log.extend(sha1_record(5, 5, &digest, data));
    let parsed = parse(&log).unwrap();
    assert_eq!(parsed.format, LogFormat::Sha1Only);
    let pcrs = replay(&log).unwrap();
    assert_eq!(pcrs.keys().copied().collect::<Vec<_>>(), [HashAlg::Sha1]);
    let once = hash(HashAlg::Sha1, &[&[0u8; 20], &digest]);
    assert_eq!(
        pcrs[&HashAlg::Sha1][&5],
        hash(HashAlg::Sha1, &[&once, &digest])
    );
}

#[test]
fn digest_lists_must_follow_the_spec_id_table() {
    let sep = [0u8; 4];
    let undeclared = agile_log(&[agile_record(4, 4, &[(0x000C, vec![0; 48])], &sep)]);
    assert!(matches!(
        parse(&undeclared),
        Err(EventLogError::UndeclaredAlgorithm {
            index: 1,
            alg: 0x000C
        })
    ));
    let repeated = agile_log(&[agile_record(
        4,
        4,
        &[(SHA1, vec![0; 20]), (SHA1, vec![0; 20])],
        &sep,
    )]);
    assert!(matches!(
        parse(&repeated),
        Err(EventLogError::BadDigestList { .. })
    ));
    let missing = agile_log(&[agile_record(
        4,
        4,
        &[(SHA1, hash(HashAlg::Sha1, &[&sep]))],
        &sep,
    )]);
    assert!(matches!(
        replay(&missing),
        Err(EventLogError::MissingDigest {
            index: 1,
            bank: "sha256"
        })
    ));
    let verdict = verify(&missing, None);
    assert_eq!(
        verdict.first_failure().map(|c| c.name.as_str()),
        Some("eventlog.replay")
    );
}

#[test]
fn malformed_spec_id_headers_are_rejected() {
    for algs in [
        &[][..],
        &[(SHA256, 20)],
        &[(SHA1, 20), (SHA1, 20)],
        &[(SHA1, 0)],
    ] {
        let log = sha1_record(0, 3, &[0; 20], &spec_id(algs));
        assert!(
            matches!(parse(&log), Err(EventLogError::BadSpecId(_))),
            "{algs:?}"
        );
    }
    let mut data = spec_id(&[(SHA1, 20)]);
    data.push(0);
    assert!(matches!(
        parse(&sha1_record(0, 3, &[0; 20], &data)),
        Err(EventLogError::BadSpecId("trailing bytes"))
    ));
}

#[test]
fn unknown_banks_parse_but_are_not_replayed() {
    const SM3: u16 = 0x0012;
    let mut log = sha1_record(0, 3, &[0; 20], &spec_id(&[(SHA256, 32), (SM3, 32)]));
    let sep = [0u8; 4];
    log.extend(agile_record(
        4,
        4,
        &[(SHA256, hash(HashAlg::Sha256, &[&sep])), (SM3, vec![7; 32])],
        &sep,
    ));
    let pcrs = replay(&log).unwrap();
    assert_eq!(pcrs.keys().copied().collect::<Vec<_>>(), [HashAlg::Sha256]);
    assert_eq!(
        check_event_data(&parse(&log).unwrap().events[1]),
        DataCheck::Match
    );
}

#[test]
fn boot_variable_contents_only_and_grub_strings_are_recognised() {
    let mut var = vec![0u8; 16];
    var.extend_from_slice(&4u64.to_le_bytes());
    var.extend_from_slice(&2u64.to_le_bytes());
    var.extend("Boot".encode_utf16().flat_map(u16::to_le_bytes));
    var.extend_from_slice(&[1, 0]);
    let contents_only = both(&[1, 0]);
    let log = agile_log(&[agile_record(1, 0x8000_0002, &contents_only, &var)]);
    assert_eq!(
        check_event_data(&parse(&log).unwrap().events[1]),
        DataCheck::MatchVariableContents
    );

    let cmd = b"kernel_cmdline: /vmlinuz ro\0";
    let log = agile_log(&[agile_record(8, 0xD, &both(b"/vmlinuz ro"), cmd)]);
    let parsed = parse(&log).unwrap();
    assert_eq!(
        check_event_data(&parsed.events[1]),
        DataCheck::MatchGrubString
    );
    assert_eq!(
        kernel_cmdline(&parsed.events[1]).as_deref(),
        Some("/vmlinuz ro")
    );
    let lying = agile_log(&[agile_record(8, 0xD, &both(b"/vmlinuz rw"), cmd)]);
    assert_eq!(
        check_event_data(&parse(&lying).unwrap().events[1]),
        DataCheck::Mismatch
    );
}
