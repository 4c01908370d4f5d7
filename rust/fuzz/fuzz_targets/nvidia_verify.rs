//! Arbitrary bytes as NVIDIA SPDM evidence (raw exchange, and any container format): parsing and
//! verification never panic, and nothing unsigned is ever accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openpcc_attest::nvidia::{self, VerifyOptions};

fuzz_target!(|data: &[u8]| {
    if let Ok(exchange) = nvidia::parse_exchange(data) {
        assert_eq!(exchange.signed.len() + nvidia::SIGNATURE_LEN, data.len());
        let _ = nvidia::parse_opaque(exchange.response.opaque);
    }
    let verdict = nvidia::verify_evidence(data, &VerifyOptions { at_unix: 1_767_225_600, ..VerifyOptions::default() });
    assert!(!verdict.valid());
});
