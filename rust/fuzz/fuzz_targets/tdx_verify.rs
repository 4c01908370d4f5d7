//! Arbitrary bytes as a TDX quote and its collateral: parsing and verification never panic, and
//! a quote that does not parse is never valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openpcc_attest::tdx::{self, TdxRoot};

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose where the quote ends and the collateral begins.
    let (split, rest) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    let (quote, collateral) = rest.split_at(split.min(rest.len()));
    let parsed = tdx::parse_quote(quote);
    let verdict = tdx::verify_quote(quote, Some(collateral), 1_767_225_600, &TdxRoot::builtin());
    if !parsed.valid() {
        assert!(!verdict.valid());
    }
});
