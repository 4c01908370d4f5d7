//! Arbitrary bytes as an HPKE `enc`, ciphertext, sender public key, serialized secret key and external DH
//! output, for every KEM and mode: every call returns, nothing panics, and a failed open leaves the
//! context where it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openpcc_hpke::{Aead, Kdf, Kem, RecipientOptions, SecretKey, Suite};

const KEMS: [Kem; 6] = [Kem::P256, Kem::P384, Kem::P521, Kem::X25519, Kem::X448, Kem::X25519Kyber768Draft00];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let kem = KEMS[usize::from(selector) % KEMS.len()];
    let suite = Suite::new(kem, Kdf::HkdfSha256, Aead::Aes128Gcm);
    let Ok((sk, pk)) = suite.derive_key_pair(&[7u8; 32][..kem.min_ikm_len().min(32)].repeat(3)) else { return };

    // Bit 3: take exactly Nenc bytes as enc (reaches the curve code), else split at the second byte.
    let (enc, rest) = if selector & 0x08 != 0 {
        rest.split_at(kem.enc_len().min(rest.len()))
    } else {
        let cut = rest.first().map_or(0, |&b| usize::from(b) * 8).min(rest.len());
        rest.split_at(cut)
    };
    let (pk_s, ct) = rest.split_at(if selector & 0x10 != 0 { kem.public_key_len().min(rest.len()) } else { 0 });

    let psk = (selector & 0x20 != 0).then_some((&b"0123456789abcdef0123456789abcdef"[..], &b"id"[..]));
    let pk_s = (selector & 0x10 != 0).then_some(pk_s);
    if let Ok(mut ctx) = suite.setup_recipient(enc, &sk, b"info", &RecipientOptions { psk, pk_s }) {
        if ctx.open(b"", ct).is_err() {
            assert_eq!(ctx.seq(), 0);
        }
        let _ = ctx.export(ct, usize::from(selector) * 64);
    }
    let _ = suite.setup_base_recipient_external(enc, &pk, b"", |_| Ok(ct.to_vec()));
    let _ = SecretKey::from_bytes(kem, rest);
    let _ = suite.derive_key_pair(ct);
});
