//! Quick timing of keygen, encapsulation and decapsulation (no Criterion):
//! `cargo run --release -p openpcc-kyber --example micro_bench`.
//! The circl figures for comparison come from `go test -bench . ./...` in tests/interop/kyber.

use std::hint::black_box;
use std::time::{Duration, Instant};

use openpcc_kyber::{decapsulate, encapsulate_with_seed, keypair_from_seed};

const ROUNDS: u32 = 2000;

fn time(name: &str, mut operation: impl FnMut()) {
    for _ in 0..ROUNDS / 10 {
        operation();
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        operation();
    }
    let per_op: Duration = start.elapsed() / ROUNDS;
    println!("{name:<12} {:>8.1} us/op", per_op.as_secs_f64() * 1e6);
}

fn main() {
    let (pk, sk) = keypair_from_seed(&[1; 64]);
    let (ct, _) = encapsulate_with_seed(&pk, &[2; 32]).expect("valid public key");
    time("keygen", || {
        black_box(keypair_from_seed(black_box(&[1; 64])));
    });
    time("encapsulate", || {
        black_box(encapsulate_with_seed(black_box(&pk), black_box(&[2; 32]))).ok();
    });
    time("decapsulate", || {
        black_box(decapsulate(black_box(&sk), black_box(&ct))).ok();
    });
}
