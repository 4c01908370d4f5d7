//! What the integration tests need from outside their crate: the third-party vectors (the repository's
//! `tests/data/vectors`, or `$OPENPCC_VECTORS`) and, for live cross-checks, a Go toolchain.
//!
//! Each crate's tests include this one file with
//! `#[path = "../../test-support/prerequisites.rs"] mod prerequisites;`.
//! A missing prerequisite prints what was looked for and the caller returns early (the test shows as
//! passed, so the message is all that tells); with the environment variable `CI` set (to anything but
//! `""`, `0` or `false`) it panics instead, so a CI run cannot pass by silently testing less.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::PathBuf;

/// Whether `CI` is set, as `tests/support/prerequisites.py` reads it.
pub(crate) fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        !matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false"
        )
    })
}

/// Reports a missing prerequisite: panics under CI, otherwise prints `skipped: <what>` on stderr.
pub(crate) fn missing(what: &str) {
    assert!(
        !running_in_ci(),
        "{what} (CI is set: a missing prerequisite fails the run)"
    );
    eprintln!("skipped: {what}");
}

/// `$OPENPCC_VECTORS`, else the repository's `tests/data/vectors`.
pub(crate) fn vectors_root() -> PathBuf {
    std::env::var_os("OPENPCC_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/vectors"),
        PathBuf::from,
    )
}

/// `<root>/<topic>`, or `None` after [`missing`] when it is not a directory.
pub(crate) fn topic_dir(topic: &str) -> Option<PathBuf> {
    let dir = vectors_root().join(topic);
    if dir.is_dir() {
        Some(dir)
    } else {
        missing(&format!(
            "test vectors not found at {} (OPENPCC_VECTORS overrides the root)",
            dir.display()
        ));
        None
    }
}

/// `<root>/<topic>/<name>`, or `None` after [`missing`] when it is not a file.
pub(crate) fn vector_file(topic: &str, name: &str) -> Option<PathBuf> {
    let path = vectors_root().join(topic).join(name);
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!(
            "test vector file not found: {} (OPENPCC_VECTORS overrides the root)",
            path.display()
        ));
        None
    }
}
