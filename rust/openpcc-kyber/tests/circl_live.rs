//! Re-runs the circl generator (tests/interop/kyber) with `go run` and checks its output, plus
//! extra SHAKE-derived vectors, against this crate. Skips when `go` is not on PATH or when
//! `OPENPCC_SKIP_LIVE_GO` is set (for machines with Go but without the module proxy or cache);
//! with `CI` set either one fails instead.

mod common;
#[path = "../../test-support/prerequisites.rs"]
mod prerequisites;

use std::process::Command;

const EXTRA_VECTORS: usize = 100;

fn go_available() -> bool {
    Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn live_circl_output_matches_committed_file_and_this_crate() {
    if std::env::var_os("OPENPCC_SKIP_LIVE_GO").is_some() {
        prerequisites::missing("live circl cross-check: OPENPCC_SKIP_LIVE_GO is set");
        return;
    }
    if !go_available() {
        prerequisites::missing("live circl cross-check: `go` is not on PATH");
        return;
    }
    let output = Command::new("go")
        .args(["run", ".", "-extra", &EXTRA_VECTORS.to_string()])
        .current_dir(common::interop_dir())
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .expect("failed to start go");
    assert!(
        output.status.success(),
        "go run failed (set OPENPCC_SKIP_LIVE_GO=1 to skip without the Go module proxy): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let live = common::parse(&String::from_utf8(output.stdout).expect("go output is not UTF-8"));
    let committed = common::parse(&common::committed_vectors_json());

    assert_eq!(live.vectors.len(), committed.vectors.len() + EXTRA_VECTORS);
    assert_eq!(
        live.vectors[..committed.vectors.len()],
        committed.vectors[..],
        "committed file is stale"
    );
    for vector in &live.vectors {
        common::check_vector(vector);
    }
}
