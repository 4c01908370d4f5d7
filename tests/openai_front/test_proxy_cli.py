"""``openpcc proxy`` as a command: what it refuses before serving (exit 2, a reason, no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def proxy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openpcc", "proxy", *args], capture_output=True, text=True,
                          timeout=60, check=False, env=env)


def test_off_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    done = proxy("--host", "0.0.0.0", "--config", str(tmp_path / "none.toml"),
                 env={"PATH": "/usr/bin:/bin", "OPENPCC_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert "bearer token is required" in done.stderr and "Traceback" not in done.stderr


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    done = proxy("--token-file", str(tmp_path / "token"))
    assert done.returncode == 2 and "holds no token" in done.stderr


def test_an_unreadable_profile_is_refused(tmp_path: Path) -> None:
    done = proxy("--config", str(tmp_path / "missing.toml"),
                 env={"PATH": "/usr/bin:/bin", "OPENPCC_HOME": str(tmp_path)})
    assert done.returncode == 2 and done.stderr.startswith("openpcc proxy: ") and "Traceback" not in done.stderr
