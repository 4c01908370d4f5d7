//! The gateway's replay guard: a bounded, time-windowed memory of the encapsulated keys (`enc`) of
//! the requests it opened.
//!
//! An OHTTP request carries no timestamp, so a sealed request stays openable for as long as its key
//! is active (days). No bounded memory can cover that; this guard covers the recent past — the
//! window in which a replay is cheap and most useful to an attacker (a relay or an observer resending
//! what it just saw) — and the single-use values inside the requests cover the rest: a credit's
//! nonce is consumed by the bank or the router, and the node's own guard refuses a repeated inner
//! `enc` (docs/edge.md, "Replays").
//!
//! A request is remembered only after it authenticated (its first chunk opened), so garbage cannot
//! fill the memory, and it is keyed by SHA-256 of the key id and the `enc` (any other `enc` yields
//! another HPKE shared secret, so an altered copy fails to open). The memory is two generations of
//! 128-bit digests per shard: the current one and the previous one; every `window` the previous
//! generation is dropped whole. A digest is therefore remembered at least `window` and at most
//! twice that. When a shard's current generation reaches its share of `capacity`, it turns over
//! early, so under a flood of valid requests the window shrinks instead of memory growing; the
//! `replay_turnovers_early_total` metric says when that happens.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

const SHARDS: usize = 16;

type Fingerprint = [u8; 16];

struct Generations {
    current: HashSet<Fingerprint>,
    previous: HashSet<Fingerprint>,
    started: Instant,
}

/// What [`ReplayGuard::admit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// First time this `enc` was seen in the window: go on.
    Fresh,
    /// The same encapsulated request was opened before, inside the window.
    Replayed,
}

/// Remembers the encapsulated keys of opened requests for a window, in bounded memory.
pub struct ReplayGuard {
    shards: Vec<Mutex<Generations>>,
    window: Duration,
    per_generation: usize,
    early_turnovers: std::sync::atomic::AtomicU64,
}

impl ReplayGuard {
    /// A guard remembering each request for `window` (up to twice that), at most about `capacity`
    /// requests at once; `None` when `capacity` is 0 (the guard is off).
    #[must_use]
    pub fn new(window: Duration, capacity: usize) -> Option<Self> {
        if capacity == 0 || window.is_zero() {
            return None;
        }
        let per_generation = (capacity / (2 * SHARDS)).max(1);
        let now = Instant::now();
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Generations {
                    current: HashSet::new(),
                    previous: HashSet::new(),
                    started: now,
                })
            })
            .collect();
        Some(Self {
            shards,
            window,
            per_generation,
            early_turnovers: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Records the request of `key_id` whose encapsulated key is `enc`; `Replayed` when it was
    /// recorded before within the window.
    pub fn admit(&self, key_id: u8, enc: &[u8]) -> Admission {
        let print = fingerprint(key_id, enc);
        let shard = &self.shards[usize::from(print[0]) % SHARDS];
        let mut generations = shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if now.duration_since(generations.started) >= self.window {
            generations.turn_over(now);
            if now.duration_since(generations.started) >= self.window {
                generations.previous.clear(); // idle for two windows: nothing is recent
            }
        }
        if generations.previous.contains(&print) || !generations.current.insert(print) {
            return Admission::Replayed;
        }
        if generations.current.len() >= self.per_generation {
            generations.turn_over(now);
            self.early_turnovers
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Admission::Fresh
    }

    /// How often a generation filled up before its window ended (the window was cut short).
    #[must_use]
    pub fn early_turnovers(&self) -> u64 {
        self.early_turnovers
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Generations {
    fn turn_over(&mut self, now: Instant) {
        self.previous = std::mem::take(&mut self.current);
        self.started = now;
    }
}

fn fingerprint(key_id: u8, enc: &[u8]) -> Fingerprint {
    let digest = Sha256::new()
        .chain_update([key_id])
        .chain_update(enc)
        .finalize();
    let mut print = [0u8; 16];
    print.copy_from_slice(&digest[..16]);
    print
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_sight_is_a_replay_per_key_id() {
        let guard = ReplayGuard::new(Duration::from_secs(60), 1024).unwrap();
        assert_eq!(guard.admit(1, b"enc-a"), Admission::Fresh);
        assert_eq!(guard.admit(1, b"enc-a"), Admission::Replayed);
        assert_eq!(guard.admit(1, b"enc-b"), Admission::Fresh);
        assert_eq!(guard.admit(2, b"enc-a"), Admission::Fresh); // another key: another request
        assert_eq!(guard.admit(1, b"enc-a"), Admission::Replayed);
    }

    #[test]
    fn forgets_after_two_windows() {
        let guard = ReplayGuard::new(Duration::from_millis(40), 1024).unwrap();
        assert_eq!(guard.admit(1, b"x"), Admission::Fresh);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(guard.admit(1, b"x"), Admission::Replayed); // one window later: previous generation
        std::thread::sleep(Duration::from_millis(90));
        assert_eq!(guard.admit(1, b"x"), Admission::Fresh);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let guard = ReplayGuard::new(Duration::from_secs(3600), 64).unwrap();
        for i in 0u32..10_000 {
            assert_eq!(guard.admit(1, &i.to_be_bytes()), Admission::Fresh);
        }
        let held: usize = guard
            .shards
            .iter()
            .map(|s| {
                let g = s.lock().unwrap();
                g.current.len() + g.previous.len()
            })
            .sum();
        assert!(held <= 64 + 2 * SHARDS, "{held}");
        assert!(guard.early_turnovers() > 0);
        assert_eq!(guard.admit(1, &9_999u32.to_be_bytes()), Admission::Replayed);
        // the newest are kept
    }

    #[test]
    fn zero_capacity_turns_the_guard_off() {
        assert!(ReplayGuard::new(Duration::from_secs(1), 0).is_none());
    }
}
