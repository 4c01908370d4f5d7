//! The OHTTP relay and gateway data path (spec §1.3, §2): hyper on a Tokio runtime owned by a
//! [`Server`], configured from JSON, started and stopped by the Python roles.
//!
//! * [`relay`]: streams encapsulated requests to one gateway and back, with an allow-list of
//!   headers, per-source rate and concurrency limits and a body size limit;
//! * [`gateway`]: decapsulates plain and chunked OHTTP, applies the inner allow-list, forwards to
//!   the bank or router with bodies streamed both ways, serves its key configurations;
//! * both serve `/healthz` and Prometheus `/metrics` and never log a body or a client address.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod body;
pub mod config;
pub mod gateway;
pub mod inner;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod relay;
pub mod replay;
mod respond;
pub mod server;

pub use config::EdgeConfig;
pub use server::{Server, Status};

/// Errors of starting a server. Nothing here carries request data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range.
    #[error("configuration: {0}")]
    Config(&'static str),
    /// The configuration JSON does not parse.
    #[error("configuration: {0}")]
    ConfigJson(String),
    /// The listen address cannot be bound.
    #[error("cannot bind the listen address: {0}")]
    Bind(std::io::Error),
    /// A runtime or socket error.
    #[error("i/o: {0}")]
    Io(std::io::Error),
    /// The key directory or a key file is unusable.
    #[error("key file: {0}")]
    KeyFile(&'static str),
}
