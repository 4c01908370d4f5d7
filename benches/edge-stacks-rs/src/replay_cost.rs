//! The price of the gateway's replay guard (`openpcc_edge::replay::ReplayGuard`) beside the work
//! it guards, in one process, one run: nanoseconds per `admit` of a fresh and of a replayed
//! encapsulated key with the guard holding its full default capacity (2^20 keys), for X25519
//! (32-byte `enc`) and X25519Kyber768Draft00 (1120-byte `enc`), the peak resident memory of the full
//! guard (both generations full), and the nanoseconds of one `decapsulate_request` of a 1 KiB request with each KEM.
//! Prints one JSON line.

use std::hint::black_box;
use std::time::{Duration, Instant};

use openpcc_edge::replay::{Admission, ReplayGuard};
use openpcc_ohttp::{encapsulate_request, Aead, GatewayKey, Kdf, Kem, SymmetricSuite};

const CAPACITY: usize = 1 << 20;

/// Peak resident memory of this process so far (`VmHWM`), KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// (ns per fresh admit while filling to capacity, ns per replayed admit, peak MiB the guard held).
/// The keys are made in one reused buffer, so the resident memory that grows is the guard's.
fn guard_cost(enc_len: usize) -> (f64, f64, f64) {
    let mut buffer = vec![0x5a_u8; enc_len];
    let before = peak_rss_kib();
    let guard = ReplayGuard::new(Duration::from_secs(3600), CAPACITY).expect("capacity");
    let total = CAPACITY as u64;
    let started = Instant::now();
    for i in 0..total {
        buffer[..8].copy_from_slice(&i.to_le_bytes());
        assert_eq!(guard.admit(1, black_box(&buffer)), Admission::Fresh);
    }
    let fresh = started.elapsed();
    let held = peak_rss_kib().saturating_sub(before) as f64 / 1024.0;
    let recent = total / 16; // the newest keys: still remembered whatever the turnovers
    let started = Instant::now();
    for i in total - recent..total {
        buffer[..8].copy_from_slice(&i.to_le_bytes());
        assert_eq!(guard.admit(1, black_box(&buffer)), Admission::Replayed);
    }
    let replayed = started.elapsed();
    (fresh.as_nanos() as f64 / total as f64, replayed.as_nanos() as f64 / recent as f64, held)
}

fn decapsulate_cost(kem: Kem) -> f64 {
    let suite = vec![SymmetricSuite { kdf: Kdf::HkdfSha256, aead: Aead::Aes128Gcm }];
    let key = GatewayKey::from_seed(1, kem, &[7u8; 32], suite).expect("seed");
    let sealed: Vec<Vec<u8>> = (0..512).map(|_| encapsulate_request(key.key_config(), &[0x42; 1596]).expect("seal").0).collect();
    let started = Instant::now();
    for s in &sealed {
        black_box(key.decapsulate_request(black_box(s)).expect("open"));
    }
    started.elapsed().as_nanos() as f64 / sealed.len() as f64
}

fn main() {
    let (x_fresh, x_replayed, x_mib) = guard_cost(32);
    // The guard keeps 16-byte digests whatever the `enc` length: its memory is measured once (the
    // first guard's peak; the second would be hidden under it).
    let (k_fresh, k_replayed, _) = guard_cost(1120);
    let x_open = decapsulate_cost(Kem::X25519);
    let k_open = decapsulate_cost(Kem::X25519Kyber768Draft00);
    println!(
        "{{\"capacity\":{CAPACITY},\"x25519\":{{\"admit_fresh_ns\":{x_fresh:.0},\"admit_replayed_ns\":{x_replayed:.0},\"decapsulate_ns\":{x_open:.0}}},\"guard_peak_mib\":{x_mib:.1},\"x25519kyber768\":{{\"admit_fresh_ns\":{k_fresh:.0},\"admit_replayed_ns\":{k_replayed:.0},\"decapsulate_ns\":{k_open:.0}}}}}"
    );
}
