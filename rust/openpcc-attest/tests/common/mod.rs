//! Shared-vectors lookup and verdict helpers for the integration tests of this crate.
// Each test crate compiles this module on its own and uses only part of it.

use std::path::{Path, PathBuf};

use openpcc_attest::Verdict;

/// `$OPENPCC_VECTORS/<topic>` (default `../shared/vectors/<topic>` beside the repo), or `None`
/// (with a note on stderr) when it is absent so the tests skip instead of failing.
pub(crate) fn vectors_dir(topic: &str) -> Option<PathBuf> {
    let root = std::env::var_os("OPENPCC_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    );
    let dir = root.join(topic);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: shared vectors not found at {}", dir.display());
        None
    }
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
