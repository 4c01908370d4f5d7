//! Shared-vectors lookup for the integration tests of this crate.
// Each test crate compiles this module on its own and uses only part of it.

use std::path::PathBuf;

/// `$OPENPCC_VECTORS/<topic>/<name>` (default `../shared/vectors/<topic>/<name>` beside the repo).
/// When it is absent the test is skipped with a note naming the path, or fails when `CI` is set.
pub(crate) fn vectors_json(topic: &str, name: &str) -> Option<serde_json::Value> {
    let root = std::env::var_os("OPENPCC_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    );
    let path = root.join(topic).join(name);
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "shared vectors not found at {} (CI is set)",
            path.display()
        );
        eprintln!("skipping: shared vectors not found at {}", path.display());
        return None;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(serde_json::from_str(&text).unwrap())
}

/// A hex field (with or without `0x`); an empty string is the empty byte string.
pub(crate) fn hex_field(v: &serde_json::Value, key: &str) -> Vec<u8> {
    let s = v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing field {key}"));
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.len() % 2 == 1 {
        hex::decode(format!("0{s}")).unwrap()
    } else {
        hex::decode(s).unwrap()
    }
}

/// `x` left-padded with zeros to `len` bytes.
pub(crate) fn pad(x: &[u8], len: usize) -> Vec<u8> {
    let x = &x[x.iter().take_while(|b| **b == 0).count()..];
    let mut out = vec![0u8; len - x.len()];
    out.extend_from_slice(x);
    out
}
