//! Arbitrary bytes into the one-shot BHTTP decoder. Whatever decodes must re-encode, in both
//! framings, to bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openpcc_bhttp::{decode, encode, EncodeOptions, Framing};

fuzz_target!(|data: &[u8]| {
    let Ok(decoded) = decode(data) else { return };
    for indeterminate in [false, true] {
        let options = EncodeOptions::new(indeterminate, None);
        let bytes = encode(&decoded.message, &options).expect("a decoded message must encode");
        let again = decode(&bytes).expect("an encoded message must decode");
        assert_eq!(again.message, decoded.message);
        assert_eq!(again.framing == Framing::Indeterminate, indeterminate);
        assert_eq!(again.padding_len, 0);
    }
    // Same framing as the input: the encoder writes shortest varints and every section, so the
    // canonical form is never longer than the unpadded input plus the three empty-section bytes
    // (lengths or terminators) that RFC 9292 truncation may have dropped.
    let same = EncodeOptions::new(decoded.framing == Framing::Indeterminate, None);
    let canonical = encode(&decoded.message, &same).expect("a decoded message must encode");
    let unpadded = data.len() as u64 - decoded.padding_len;
    assert!(canonical.len() as u64 <= unpadded + 3);
});
