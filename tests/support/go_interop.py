"""Building the Go harnesses under ``tests/interop`` (:func:`go_build`) and running the reference
harness ``tests/interop/go`` for the live interop tests.

Without a usable Go (missing, older than the harness needs, or a harness that does not build) the
calling test is skipped with what was looked for; when the environment variable ``CI`` is set it fails
instead.
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


def go_binary(min_version: tuple[int, int], needed_for: str) -> str:
    """``go`` on PATH when it is at least ``min_version``; otherwise the caller is skipped (fails under CI)."""
    wanted = f"{min_version[0]}.{min_version[1]}"
    go = shutil.which("go")
    if go is None:
        missing(f"`go` (>= {wanted}) is not on PATH: needed for {needed_for}")
    version = subprocess.run(
        [go, "env", "GOVERSION"], capture_output=True, text=True, check=False, timeout=60
    ).stdout.strip()
    found = re.match(r"go(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < min_version:
        missing(f"`go` at {go} reports {version or 'no version'}; {needed_for} needs Go >= {wanted}")
    return go


def go_build(
    package_dir: Path,
    binary: Path,
    *,
    min_version: tuple[int, int],
    needed_for: str,
    goflags: str | None = None,
    timeout: float = 600,
) -> Path:
    """``go build -o binary .`` in ``package_dir`` (a Go module under tests/interop); returns ``binary``.

    Without a recent enough Go, or when the build fails (module proxy unreachable?), the caller is
    skipped saying so, or fails under CI.
    """
    go = go_binary(min_version, needed_for)
    env = {**os.environ, "GOFLAGS": goflags} if goflags is not None else None
    build = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=package_dir,
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        env=env,
    )
    if build.returncode != 0:
        missing(
            f"the Go harness {package_dir} did not build (module proxy unreachable?): "
            f"{build.stderr.strip()[-400:]}"
        )
    return binary


def build_harness(out_dir: Path) -> Path:
    """Builds ``tests/interop/go`` into ``out_dir``; returns the binary."""
    return go_build(
        HARNESS_DIR,
        out_dir / "interop",
        min_version=MIN_GO,
        needed_for="live interop with the Go reference (twoway/bhttp v0.0.80; recorded vectors still run)",
        goflags="-mod=readonly",
    )


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
