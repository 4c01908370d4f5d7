//! Vectors lookup and verdict helpers for the integration tests of this crate.
// Each test crate compiles this module on its own and uses only part of it.

#[path = "../../../test-support/prerequisites.rs"]
mod prerequisites;

use std::path::{Path, PathBuf};

use openpcc_attest::Verdict;

/// `$OPENPCC_VECTORS/<topic>` (default: the repository's `tests/data/vectors/<topic>`), or `None`
/// (with a note on stderr) when it is absent so the tests skip; under `CI` a missing topic panics.
pub(crate) fn vectors_dir(topic: &str) -> Option<PathBuf> {
    prerequisites::topic_dir(topic)
}

/// The bytes of `dir/name`; panics naming the file when it cannot be read.
#[allow(dead_code)]
pub(crate) fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Seconds since the Unix epoch of an RFC 3339 UTC instant written in a test.
#[allow(dead_code)]
pub(crate) fn at(text: &str) -> u64 {
    openpcc_attest::x509::parse_rfc3339_utc(text).unwrap()
}

/// The names of the checks `verdict` failed, in order.
#[allow(dead_code)]
pub(crate) fn failed(verdict: &Verdict) -> Vec<&str> {
    verdict
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect()
}
