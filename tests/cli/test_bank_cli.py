"""``openpcc currency-key``: a new 0600 safe-prime key the banks load, never replacing an existing one."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from openpcc import blindrsa, config
from openpcc.credits import Issuer, public_key_from_jwk


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "openpcc", *args], check=False, capture_output=True, timeout=300
    )


def test_currency_key_creates_a_private_safe_prime_key(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "currency-key.pem"
    made = run("currency-key", "--out", str(out), "--bits", "1024")
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = blindrsa.SecretKey.from_pem(config.read_key_file(out).decode())
    Issuer(key)  # refuses keys without safe primes
    assert public_key_from_jwk(json.loads(made.stdout)).n == key.public_key().n
    again = run("currency-key", "--out", str(out), "--bits", "1024")
    assert again.returncode == 2
    assert b"refusing to replace" in again.stderr
    assert (
        blindrsa.SecretKey.from_pem(config.read_key_file(out).decode()).public_key().n
        == key.public_key().n
    )
