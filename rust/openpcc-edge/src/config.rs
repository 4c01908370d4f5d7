//! Configuration of one edge server, deserialized from JSON (the Python role builds it from TOML).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::Error;

/// Which role the server plays, with its settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Role {
    /// The OHTTP relay: forwards encapsulated requests to one gateway, stripping what identifies clients.
    Relay(RelayConfig),
    /// The OHTTP gateway: decapsulates, forwards the inner request to the bank or the router.
    Gateway(GatewayConfig),
}

/// Settings shared by both roles.
/// (Unknown keys are refused by the Python role, which knows every setting: serde cannot refuse
/// them next to a flattened enum.)
#[derive(Clone, Debug, Deserialize)]
pub struct EdgeConfig {
    /// Address to listen on (loopback by default in the Python roles).
    pub listen: SocketAddr,
    /// Tokio worker threads.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Seconds a client has to send a complete request head (slowloris guard).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: f64,
    /// Seconds a request body may stay silent before the request is abandoned.
    #[serde(default = "default_body_idle")]
    pub body_idle_timeout_secs: f64,
    /// Largest number of open client connections; more wait in the listen backlog.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// The role and its own settings.
    #[serde(flatten)]
    pub role: Role,
}

/// Relay settings.
#[derive(Clone, Debug, Deserialize)]
pub struct RelayConfig {
    /// Where every encapsulated request goes (the gateway's `POST /`).
    pub gateway_url: String,
    /// Largest request body, in bytes.
    #[serde(default = "default_relay_body")]
    pub max_body_bytes: u64,
    /// Concurrent requests one source address may have in flight.
    #[serde(default = "default_per_source")]
    pub max_concurrent_per_source: u32,
    /// Sustained requests per second per source address (token bucket refill).
    #[serde(default = "default_rate")]
    pub rate_per_second: f64,
    /// Token bucket size: the burst a source may send at once.
    #[serde(default = "default_burst")]
    pub burst: f64,
}

/// Gateway settings.
#[derive(Clone, Debug, Deserialize)]
pub struct GatewayConfig {
    /// Directory of key files (`*.json`), read-only, shared by replicas.
    pub keys_dir: PathBuf,
    /// Where inner requests for `confsec-bank.invalid` go.
    pub bank_url: String,
    /// Where inner requests for `confsec-router.invalid` go.
    pub router_url: String,
    /// Largest plain (non-chunked) encapsulated request, in bytes.
    #[serde(default = "default_gateway_body")]
    pub max_body_bytes: u64,
    /// Largest plain inner response the gateway buffers to seal it in one piece.
    #[serde(default = "default_gateway_body")]
    pub max_plain_response_bytes: u64,
    /// Largest chunk plaintext accepted in a chunked request.
    #[serde(default = "default_request_chunk")]
    pub max_request_chunk: usize,
    /// How often the key directory is checked for changes, in seconds.
    #[serde(default = "default_reload")]
    pub key_reload_secs: f64,
    /// Seconds an opened request's encapsulated key is remembered against replays (up to twice that).
    #[serde(default = "default_replay_window")]
    pub replay_window_secs: f64,
    /// Encapsulated keys remembered at most at once (0: no replay guard); beyond it the window shrinks.
    #[serde(default = "default_replay_entries")]
    pub replay_cache_entries: usize,
}

fn default_workers() -> usize {
    2
}
fn default_header_timeout() -> f64 {
    10.0
}
fn default_body_idle() -> f64 {
    30.0
}
fn default_max_connections() -> usize {
    4096
}
fn default_relay_body() -> u64 {
    16 * 1024 * 1024
}
fn default_per_source() -> u32 {
    64
}
fn default_rate() -> f64 {
    200.0
}
fn default_burst() -> f64 {
    400.0
}
fn default_gateway_body() -> u64 {
    16 * 1024 * 1024
}
fn default_request_chunk() -> usize {
    openpcc_ohttp::DEFAULT_MAX_REQUEST_CHUNK
}
fn default_reload() -> f64 {
    1.0
}
fn default_replay_window() -> f64 {
    600.0
}
fn default_replay_entries() -> usize {
    1 << 20
}

/// Seconds to a duration; negative, zero or non-finite values are refused by [`EdgeConfig::check`].
pub(crate) fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value)
}

fn positive(value: f64, what: &'static str) -> Result<(), Error> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(())
    } else {
        Err(Error::Config(what))
    }
}

impl EdgeConfig {
    /// Parses and checks a JSON configuration.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let config: Self =
            serde_json::from_str(text).map_err(|e| Error::ConfigJson(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), Error> {
        if self.workers == 0 || self.workers > 256 {
            return Err(Error::Config("workers must be 1..=256"));
        }
        if self.max_connections == 0 {
            return Err(Error::Config("max_connections must be positive"));
        }
        positive(
            self.header_timeout_secs,
            "header_timeout_secs must be positive",
        )?;
        positive(
            self.body_idle_timeout_secs,
            "body_idle_timeout_secs must be positive",
        )?;
        match &self.role {
            Role::Relay(relay) => {
                positive(relay.rate_per_second, "rate_per_second must be positive")?;
                positive(relay.burst, "burst must be positive")?;
                if relay.max_concurrent_per_source == 0 {
                    return Err(Error::Config("max_concurrent_per_source must be positive"));
                }
            }
            Role::Gateway(gateway) => {
                positive(gateway.key_reload_secs, "key_reload_secs must be positive")?;
                positive(
                    gateway.replay_window_secs,
                    "replay_window_secs must be positive",
                )?;
                if gateway.max_request_chunk == 0 {
                    return Err(Error::Config("max_request_chunk must be positive"));
                }
            }
        }
        Ok(())
    }

    /// `"relay"` or `"gateway"`.
    #[must_use]
    pub fn role_name(&self) -> &'static str {
        match self.role {
            Role::Relay(_) => "relay",
            Role::Gateway(_) => "gateway",
        }
    }
}
