#![no_main]
//! Key config and `application/ohttp-keys` decoders: no panic; what decodes re-encodes to the same bytes.

use libfuzzer_sys::fuzz_target;
use openpcc_ohttp::{decode_key_configs, encode_key_configs, KeyConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = KeyConfig::decode(data) {
        assert_eq!(config.to_bytes(), data);
    }
    if let Ok(configs) = decode_key_configs(data) {
        assert_eq!(encode_key_configs(&configs).unwrap(), data);
    }
});
