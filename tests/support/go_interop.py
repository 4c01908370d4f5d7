"""Building and running the Go reference harness (``tests/interop/go``) for the live interop tests.

Without a usable Go (missing, older than 1.25, or a harness that does not build) the calling test is
skipped with what was looked for; when the environment variable ``CI`` is set it fails instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .prerequisites import missing

HARNESS_DIR = Path(__file__).resolve().parents[1] / "interop" / "go"
MIN_GO = (1, 25)  # twoway and bhttp v0.0.80 need it


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        missing(
            f"`go` (>= {MIN_GO[0]}.{MIN_GO[1]}) is not on PATH: live interop with the Go reference "
            "skipped (recorded vectors still run)"
        )
    version = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=False, timeout=60
    ).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < MIN_GO:
        missing(
            f"`go` at {go} reports {version or 'no version'}; the harness needs Go >= "
            f"{MIN_GO[0]}.{MIN_GO[1]} (twoway/bhttp v0.0.80)"
        )
    return go


def build_harness(out_dir: Path) -> Path:
    """Builds ``tests/interop/go`` into ``out_dir``; returns the binary."""
    go = go_binary()
    out = out_dir / "interop"
    build = subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=HARNESS_DIR,
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
        env={**os.environ, "GOFLAGS": "-mod=readonly"},
    )
    if build.returncode != 0:
        missing(
            f"Go harness {HARNESS_DIR} did not build (module proxy unreachable?): "
            f"{build.stderr.strip()[-400:]}"
        )
    return out


def run(harness: Path, mode: str, payload: dict[str, Any]) -> Any:
    res = subprocess.run(
        [str(harness), mode],
        input=json.dumps(payload),
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)
