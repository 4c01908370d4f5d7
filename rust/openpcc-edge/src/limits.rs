//! Per-source admission: a token bucket for the request rate and a cap on concurrent requests.
//! Sources are keyed by IPv4 address or IPv6 /64 and never leave this module (no log, no metric).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The source's token bucket is empty.
    Rate,
    /// The source already has the maximum number of requests in flight.
    Concurrency,
}

struct Source {
    active: u32,
    tokens: f64,
    refilled: Instant,
}

/// The admission table of one relay.
pub struct SourceLimits {
    table: Mutex<HashMap<IpAddr, Source>>,
    rate: f64,
    burst: f64,
    max_active: u32,
}

/// Sources above this many entries trigger a sweep of idle, full buckets.
const SWEEP_ABOVE: usize = 16 * 1024;

/// IPv6 clients usually own a whole /64: count it as one source.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::V6(segments.into())
        }
    }
}

impl SourceLimits {
    /// `rate` tokens per second, buckets of `burst`, `max_active` concurrent requests per source.
    #[must_use]
    pub fn new(rate: f64, burst: f64, max_active: u32) -> Arc<Self> {
        Arc::new(Self {
            table: Mutex::new(HashMap::new()),
            rate,
            burst,
            max_active,
        })
    }

    /// Admits one request from `ip`, or says why not. The permit releases the slot when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<SourcePermit, Refusal> {
        let key = source_key(ip);
        let now = Instant::now();
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if table.len() > SWEEP_ABOVE {
            self.sweep(&mut table, now);
        }
        let source = table.entry(key).or_insert(Source {
            active: 0,
            tokens: self.burst,
            refilled: now,
        });
        source.tokens = self
            .burst
            .min(source.tokens + now.duration_since(source.refilled).as_secs_f64() * self.rate);
        source.refilled = now;
        if source.active >= self.max_active {
            return Err(Refusal::Concurrency);
        }
        if source.tokens < 1.0 {
            return Err(Refusal::Rate);
        }
        source.tokens -= 1.0;
        source.active += 1;
        Ok(SourcePermit {
            limits: self.clone(),
            key,
        })
    }

    fn sweep(&self, table: &mut HashMap<IpAddr, Source>, now: Instant) {
        table.retain(|_, s| {
            let tokens = s.tokens + now.duration_since(s.refilled).as_secs_f64() * self.rate;
            s.active > 0 || tokens < self.burst
        });
    }

    fn release(&self, key: IpAddr) {
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(source) = table.get_mut(&key) {
            source.active = source.active.saturating_sub(1);
        }
    }
}

/// One admitted request; dropping it frees the source's slot.
pub struct SourcePermit {
    limits: Arc<SourceLimits>,
    key: IpAddr,
}

impl Drop for SourcePermit {
    fn drop(&mut self) {
        self.limits.release(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_and_concurrency() {
        let limits = SourceLimits::new(0.001, 2.0, 1);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let first = limits.admit(ip).unwrap();
        assert_eq!(limits.admit(ip).err(), Some(Refusal::Concurrency));
        drop(first);
        let second = limits.admit(ip).unwrap();
        drop(second);
        assert_eq!(limits.admit(ip).err(), Some(Refusal::Rate));
        // another source is unaffected
        assert!(limits.admit("127.0.0.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let limits = SourceLimits::new(0.001, 10.0, 1);
        let _held = limits.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert_eq!(
            limits.admit("2001:db8::2".parse().unwrap()).err(),
            Some(Refusal::Concurrency)
        );
        assert!(limits.admit("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}
