"""The circl (Go) partially blind RSA peer of ``tests/interop/blindrsa``, for the interop test and the
benchmark. Without Go (or when the build fails) the caller is skipped with the reason, or fails when
``CI`` is set."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .prerequisites import missing

PEER_DIR = Path(__file__).resolve().parents[1] / "interop" / "blindrsa"


def build_peer(out_dir: Path) -> Path:
    """Builds the peer into ``out_dir``; skips (fails under CI) without ``go`` or on a build error."""
    go = shutil.which("go")
    if go is None:
        missing("`go` is not on PATH: the circl (Go) blind RSA peer is unavailable")
    binary = out_dir / "blindrsa-peer"
    build = subprocess.run(
        [str(go), "build", "-o", str(binary), "."],
        cwd=PEER_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if build.returncode != 0:
        missing(f"could not build {PEER_DIR}: {build.stderr.strip()[-300:]}")
    return binary


class GoPeer:
    """A running peer: ``signature`` is circl's credit signature of ``msg`` under ``info``;
    ``run(step, count)`` repeats blind, sign, finalize or verify ``count`` times in Go."""

    def __init__(self, binary: Path, key_pem: str, info: bytes, msg: bytes) -> None:
        self.proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        try:
            setup = {"key_pem": key_pem, "info": info.hex(), "msg": msg.hex()}
            self.stdin.write(json.dumps(setup) + "\n")
            self.stdin.flush()
            self.signature = bytes.fromhex(self.stdout.readline().strip())
        except BaseException:
            self.close()
            raise

    def run(self, step: str, count: int) -> None:
        self.stdin.write(f"{step} {count}\n")
        self.stdin.flush()
        if self.stdout.readline().strip() != "ok":
            raise RuntimeError(f"the Go peer failed on {step}")

    def close(self) -> None:
        try:
            self.stdin.close()
            self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
