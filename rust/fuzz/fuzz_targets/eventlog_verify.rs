//! Arbitrary bytes as a TCG event log: parsing, replay and verification never panic, and a log
//! that parses always replays or reports the event missing a bank.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openpcc_attest::eventlog;

fuzz_target!(|data: &[u8]| {
    let verdict = eventlog::verify(data, None);
    match eventlog::parse(data) {
        Ok(parsed) => {
            assert!(verdict.checks[0].ok);
            for event in &parsed.events {
                let _ = eventlog::decode_event_data(event);
                let _ = eventlog::event_json(event);
            }
            let _ = eventlog::replay_parsed(&parsed);
        }
        Err(_) => assert!(!verdict.valid()),
    }
});
