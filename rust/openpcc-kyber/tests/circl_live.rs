//! Re-runs the circl generator (tests/interop/kyber) with `go run` and checks its output, plus
//! extra SHAKE-derived vectors, against this crate. Skips when `go` is not on PATH.

mod common;

use std::process::Command;

const EXTRA_VECTORS: &str = "100";

fn go_available() -> bool {
    Command::new("go").arg("version").output().is_ok_and(|out| out.status.success())
}

#[test]
fn live_circl_output_matches_committed_file_and_this_crate() {
    if !go_available() {
        eprintln!("skipping live circl cross-check: `go` is not on PATH");
        return;
    }
    let output = Command::new("go")
        .args(["run", ".", "-extra", EXTRA_VECTORS])
        .current_dir(common::interop_dir())
        .env("GOFLAGS", "-mod=readonly")
        .output()
        .expect("failed to start go");
    assert!(
        output.status.success(),
        "go run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let live = common::parse(&String::from_utf8(output.stdout).expect("go output is not UTF-8"));
    let committed = common::parse(&common::committed_vectors_json());

    assert_eq!(live.vectors.len(), committed.vectors.len() + 100);
    assert_eq!(live.vectors[..committed.vectors.len()], committed.vectors[..], "committed file is stale");
    for vector in &live.vectors {
        common::check_vector(vector);
    }
}
