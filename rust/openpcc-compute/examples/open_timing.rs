//! Timing loops for large-body open (no `perf` on the build machine): `cargo run --release -p
//! openpcc-compute --example open_timing`.
use std::hint::black_box;
use std::time::Instant;

use openpcc_compute::{Framing, NodeRequest, SealedRequest, SUITE};
use openpcc_hpke::{Aead, AeadKey};

fn time<T>(name: &str, iters: u32, mut f: impl FnMut() -> T) {
    let mut samples = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        samples.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(iters));
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "{name:<40} min {:>9.1} us  median {:>9.1} us",
        samples[0], samples[3]
    );
}

fn main() {
    let size = 1 << 20;
    let pt = vec![0x5au8; size];
    let key = AeadKey::new(Aead::Aes256Gcm, &[7; 32]).unwrap();
    let nonce = [1u8; 12];
    let ct = key.seal(&nonce, b"", &pt).unwrap();
    time("hpke AeadKey::seal 1MiB aes256", 50, || {
        key.seal(&nonce, b"", &pt).unwrap()
    });
    time("hpke AeadKey::open 1MiB aes256", 50, || {
        key.open(&nonce, b"", &ct).unwrap()
    });
    let mut out = vec![0u8; size];
    time("hpke AeadKey::open_into 1MiB (reused buf)", 50, || {
        key.open_into(&nonce, b"", &ct, &mut out).unwrap();
    });
    time("vec![0; 1MiB] + write", 50, || {
        let mut v = vec![0u8; size];
        v.fill(1);
        v
    });

    let (sk, pk) = SUITE.derive_key_pair(&[3; 32]).unwrap();
    for framing in [Framing::Unchunked, Framing::Chunked] {
        let req = SealedRequest::seal(framing, &pt).unwrap();
        let (ek, _) = req.encapsulate_key(&pk).unwrap();
        let media = framing.request_media_type();
        time(&format!("{framing:?} unwrap"), 50, || {
            NodeRequest::unwrap(media, &ek, &sk).unwrap()
        });
        let node = NodeRequest::unwrap(media, &ek, &sk).unwrap();
        time(&format!("{framing:?} open_body 1MiB"), 20, || {
            node.open_body(req.body()).unwrap()
        });
        time(
            &format!("{framing:?} body_opener push/finish 1MiB"),
            20,
            || {
                let mut o = node.body_opener().unwrap();
                let n = o.push(req.body()).unwrap().len();
                (n, o.finish().unwrap())
            },
        );
    }
}
