"""The circl (Go) partially blind RSA peer of ``tests/interop/blindrsa``, for the interop test and the
benchmark. Without Go (or when the build fails) the caller is skipped with the reason, or fails when
``CI`` is set."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .go_interop import go_build

PEER_DIR = Path(__file__).resolve().parents[1] / "interop" / "blindrsa"


def build_peer(out_dir: Path) -> Path:
    """Builds the peer into ``out_dir``; skips (fails under CI) without ``go`` or on a build error."""
    return go_build(
        PEER_DIR, out_dir / "blindrsa-peer", min_version=(1, 25), needed_for="the circl (Go) blind RSA peer"
    )


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
