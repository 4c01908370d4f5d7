use std::time::Instant;
use openpcc_hpke::{Aead, Kdf, Kem, Suite};
fn main() {
    for kem in [Kem::X25519, Kem::P256, Kem::X25519Kyber768Draft00] {
        let suite = Suite::new(kem, Kdf::HkdfSha256, Aead::Aes128Gcm);
        let (sk, pk) = suite.generate_key_pair().unwrap();
        let pt = vec![0u8; 1024];
        let n = 3000;
        let t = Instant::now();
        for _ in 0..n { let (enc, ct) = suite.seal(&pk, b"", b"", &pt).unwrap(); suite.open(&enc, &sk, b"", b"", &ct).unwrap(); }
        let dt = t.elapsed().as_secs_f64() / n as f64;
        let t2 = Instant::now();
        for _ in 0..n { let _ = suite.setup_base_sender(&pk, b"").unwrap(); }
        let ds = t2.elapsed().as_secs_f64() / n as f64;
        println!("{kem:?}: seal+open {:.1} us ({:.0}/s), setup_sender {:.1} us", dt*1e6, 1.0/dt, ds*1e6);
    }
}
