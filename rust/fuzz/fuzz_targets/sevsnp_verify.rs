//! Arbitrary bytes as an SEV-SNP report (bare or Azure HCL), VCEK and chain: parsing and
//! verification never panic, and a report that does not parse is never valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openpcc_attest::sevsnp::{self, Evidence, Roots};

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose where the report ends and the VCEK begins.
    let (split, rest) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    let (report, vcek) = rest.split_at(split.min(rest.len()));
    let parsed = sevsnp::parse_report(report);
    let evidence = Evidence { report, vcek: Some(vcek), chain: None, crl: None, at: 1_767_225_600 };
    let verdict = sevsnp::verify_report(&evidence, &Roots::builtin());
    if !parsed.valid() {
        assert!(!verdict.valid());
    }
});
