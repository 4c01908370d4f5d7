"""``openpcc noncelock``: help text, and a clear exit 2 (no traceback) for a bad configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def openpcc(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "OPENPCC_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "openpcc", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_help_names_the_endpoints(tmp_path: Path) -> None:
    result = openpcc("noncelock", "--help", home=tmp_path)
    assert result.returncode == 0
    assert "/lock" in result.stdout and "--config" in result.stdout


def test_a_bad_config_exits_2_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[noncelock]\nprot = 3501\n")
    result = openpcc("noncelock", "--config", str(config), home=tmp_path)
    assert result.returncode == 2
    assert "unknown setting 'prot'" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unusable_store_exits_2_without_the_password(tmp_path: Path) -> None:
    config = tmp_path / "pg.toml"
    config.write_text('[noncelock]\ndatabase = "postgresql://u:hunter2@127.0.0.1:1/x"\n')
    result = openpcc("noncelock", "--config", str(config), home=tmp_path)
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
