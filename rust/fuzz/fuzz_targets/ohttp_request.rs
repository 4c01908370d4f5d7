#![no_main]
//! Gateway request decapsulation and client response decapsulation on arbitrary bytes: typed errors only.

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openpcc_ohttp::{encapsulate_request, Aead, ClientContext, GatewayKey, Kdf, Kem, SymmetricSuite};

fn fixtures() -> &'static (GatewayKey, ClientContext) {
    static FIXTURES: OnceLock<(GatewayKey, ClientContext)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let suites = vec![SymmetricSuite { kdf: Kdf::HkdfSha256, aead: Aead::Aes128Gcm }];
        let key = GatewayKey::from_seed(1, Kem::X25519, &[7; 32], suites).unwrap();
        let (_, client) = encapsulate_request(key.key_config(), b"fuzz").unwrap();
        (key, client)
    })
}

fuzz_target!(|data: &[u8]| {
    let (key, client) = fixtures();
    let _ = key.decapsulate_request(data);
    let _ = client.decapsulate_response(data);
});
