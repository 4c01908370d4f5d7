#![no_main]
//! Chunked request and response openers fed arbitrary bytes at arbitrary split points: no panic, no
//! unbounded buffering, and after an error every call fails.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openpcc_ohttp::chunked::{ChunkedRequestOpener, ChunkedRequestSealer, ChunkedResponseOpener, SealerOptions};
use openpcc_ohttp::{Aead, ClientContext, Ephemeral, GatewayKey, Kdf, Kem, SymmetricSuite};

fn fixtures() -> &'static (GatewayKey, ClientContext) {
    static FIXTURES: OnceLock<(GatewayKey, ClientContext)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let suites = vec![SymmetricSuite { kdf: Kdf::HkdfSha256, aead: Aead::Aes128Gcm }];
        let key = GatewayKey::from_seed(1, Kem::X25519, &[7; 32], suites).unwrap();
        let (_, client) = ChunkedRequestSealer::new(key.key_config(), SealerOptions::default(), Ephemeral::Random).unwrap();
        (key, client)
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&step, data)) = input.split_first() else { return };
    let step = usize::from(step).max(1);
    let (key, client) = fixtures();
    let mut request = ChunkedRequestOpener::new(key.clone(), 64);
    let mut response = ChunkedResponseOpener::new(client.clone(), 64);
    let (mut request_failed, mut response_failed) = (false, false);
    for piece in data.chunks(step) {
        let mut out = Vec::new();
        let r = request.push(piece, &mut out);
        assert!(!(request_failed && r.is_ok()), "request opener accepted input after an error");
        request_failed |= r.is_err();
        assert!(out.iter().all(|pt| pt.len() <= 64));
        let r = response.push(piece, &mut out);
        assert!(!(response_failed && r.is_ok()), "response opener accepted input after an error");
        response_failed |= r.is_err();
    }
    let _ = request.finish();
    let _ = response.finish();
});
