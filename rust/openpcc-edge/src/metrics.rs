//! Prometheus counters and histograms of one server. Labels come from fixed sets: no address, no
//! path, no body ever reaches a metric.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Outcome classes counted per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx from upstream (or served locally).
    Ok,
    /// 4xx sent because the client's request was refused.
    ClientError,
    /// Refused by the rate or concurrency limits (429).
    Limited,
    /// Upstream unreachable or failed (502/503/504).
    UpstreamError,
    /// Any other 5xx.
    ServerError,
}

const OUTCOMES: [(Outcome, &str); 5] = [
    (Outcome::Ok, "ok"),
    (Outcome::ClientError, "client_error"),
    (Outcome::Limited, "limited"),
    (Outcome::UpstreamError, "upstream_error"),
    (Outcome::ServerError, "server_error"),
];

/// A latency histogram (cumulative buckets written at render time).
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str) {
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        #[allow(clippy::cast_precision_loss)] // metrics precision
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Every metric of one server.
#[derive(Default)]
pub struct Metrics {
    outcomes: [AtomicU64; OUTCOMES.len()],
    head_latency: Histogram,
    stream_duration: Histogram,
    active_streams: AtomicU64,
    open_connections: AtomicU64,
    connections_total: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
}

impl Metrics {
    /// Counts one finished request head with its outcome and time to response head.
    pub fn record(&self, outcome: Outcome, head_latency: Duration) {
        if let Some(i) = OUTCOMES.iter().position(|(o, _)| *o == outcome) {
            self.outcomes[i].fetch_add(1, Ordering::Relaxed);
        }
        self.head_latency.observe(head_latency);
    }

    /// A stream (request body and response body in flight) has started; ends when the guard drops.
    pub fn stream_started(self: &std::sync::Arc<Self>) -> StreamGuard {
        self.active_streams.fetch_add(1, Ordering::Relaxed);
        StreamGuard {
            metrics: self.clone(),
            started: std::time::Instant::now(),
        }
    }

    pub(crate) fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Request body bytes read from clients.
    pub(crate) fn add_bytes_received(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }

    /// Response body bytes written to clients.
    pub(crate) fn add_bytes_sent(&self, n: u64) {
        self.bytes_sent.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests whose response body is still flowing.
    #[must_use]
    pub fn active_streams(&self) -> u64 {
        self.active_streams.load(Ordering::Relaxed)
    }

    /// Open client connections.
    #[must_use]
    pub fn open_connections(&self) -> u64 {
        self.open_connections.load(Ordering::Relaxed)
    }

    /// Requests counted so far, all outcomes.
    #[must_use]
    pub fn requests_total(&self) -> u64 {
        self.outcomes
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition, names prefixed `openpcc_<role>_`.
    #[must_use]
    pub fn render(&self, role: &str) -> String {
        let mut out = String::new();
        let p = format!("openpcc_{role}");
        let _ = writeln!(out, "# TYPE {p}_requests_total counter");
        for ((_, label), count) in OUTCOMES.iter().zip(&self.outcomes) {
            let _ = writeln!(
                out,
                "{p}_requests_total{{outcome=\"{label}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        self.head_latency
            .render(&mut out, &format!("{p}_response_head_seconds"));
        self.stream_duration
            .render(&mut out, &format!("{p}_stream_seconds"));
        let gauges = [
            ("active_streams", "gauge", &self.active_streams),
            ("open_connections", "gauge", &self.open_connections),
            ("connections_total", "counter", &self.connections_total),
            ("bytes_received_total", "counter", &self.bytes_received),
            ("bytes_sent_total", "counter", &self.bytes_sent),
        ];
        for (name, kind, value) in gauges {
            let _ = writeln!(
                out,
                "# TYPE {p}_{name} {kind}\n{p}_{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// Held by a response body while it streams; counts the stream out when dropped.
pub struct StreamGuard {
    metrics: std::sync::Arc<Metrics>,
    started: std::time::Instant,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.metrics.active_streams.fetch_sub(1, Ordering::Relaxed);
        self.metrics.stream_duration.observe(self.started.elapsed());
    }
}
