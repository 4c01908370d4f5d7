//! One-shot seal+open of 1 KiB per KEM, timed in Rust (no Python overhead):
//! `cargo run --release -p openpcc-hpke --example seal_open_speed`.

use std::time::Instant;

use openpcc_hpke::{Aead, Error, Kdf, Kem, Suite};

const ROUNDS: u32 = 3000;

fn main() -> Result<(), Error> {
    for kem in [
        Kem::X25519,
        Kem::P256,
        Kem::P384,
        Kem::X25519Kyber768Draft00,
    ] {
        let suite = Suite::new(kem, Kdf::HkdfSha256, Aead::Aes128Gcm);
        let (sk, pk) = suite.generate_key_pair()?;
        let pt = vec![0u8; 1024];
        let start = Instant::now();
        for _ in 0..ROUNDS {
            let (enc, ct) = suite.seal(&pk, b"", b"", &pt)?;
            suite.open(&enc, &sk, b"", b"", &ct)?;
        }
        let per_round = start.elapsed() / ROUNDS;
        println!(
            "{kem:?}: seal+open 1 KiB {per_round:?} ({:.0}/s)",
            1.0 / per_round.as_secs_f64()
        );
    }
    Ok(())
}
