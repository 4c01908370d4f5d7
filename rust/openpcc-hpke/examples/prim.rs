use std::time::Instant;
fn main() {
    let n = 500;
    let sk = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let pk = sk.public_key();
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(std::hint::black_box(&sk).public_key()); }
    println!("p256 fixed-base: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine())); }
    println!("p256 variable-base: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(p256::PublicKey::from_sec1_bytes(&[4u8;1]).ok()); }
    let s = x25519_dalek::StaticSecret::from([7u8; 32]);
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(x25519_dalek::PublicKey::from(std::hint::black_box(&s))); }
    println!("x25519 fixed-base: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(x25519_dalek::x25519([7u8;32], std::hint::black_box([9u8;32]))); }
    println!("x25519 variable-base: {:.1} us", t.elapsed().as_secs_f64() / n as f64 * 1e6);
}
