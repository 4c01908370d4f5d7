"""``openpcc transparency``: keys, a log directory, the monitor and bundle verification, run as the
installed command line (exit 0 ok, 1 refused, 2 unreadable)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.vectors import vector_path

GITHUB = "https://token.actions.githubusercontent.com"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openpcc", "transparency", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_log_append_and_monitor(tmp_path: Path) -> None:
    keygen = _run("keygen", "log.example/openpcc", "--out", str(tmp_path / "log.key"))
    assert keygen.returncode == 0, keygen.stderr
    vkey = keygen.stdout.strip()
    assert vkey.startswith("log.example/openpcc+")
    assert (tmp_path / "log.key").stat().st_mode & 0o777 == 0o600
    bundle = vector_path("sigstore", "reference-dev-bundles/ohttp-key-configs.sigstore.pb")
    other = tmp_path / "note.txt"
    other.write_bytes(b"not a bundle")
    log = str(tmp_path / "log")
    appended = _run(
        "append", "--log", log, "--key", str(tmp_path / "log.key"), str(bundle), str(other)
    )
    assert appended.returncode == 0, appended.stderr
    assert "size 2" in appended.stdout
    state = str(tmp_path / "seen.checkpoint")
    first = _run("monitor", "--log", log, "--log-key", vkey, "--state", state)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith(
        "0\thttps://confident.security/v2/ohttp-keys ohttp-keys=250bacca1ea0e67c"
    )
    assert lines[1].startswith("1\tnot a statement bundle")
    # Nothing new: nothing printed; then one new entry is printed alone.
    assert _run("monitor", "--log", log, "--log-key", vkey, "--state", state).stdout == ""
    (tmp_path / "third").write_bytes(b"third")
    _run("append", "--log", log, "--key", str(tmp_path / "log.key"), str(tmp_path / "third"))
    third = _run("monitor", "--log", log, "--log-key", vkey, "--state", state)
    assert len(third.stdout.splitlines()) == 1
    assert third.stdout.startswith("2\tnot a statement bundle")


def test_monitor_refuses_a_log_signed_by_another_key(tmp_path: Path) -> None:
    _run("keygen", "log.example/openpcc", "--out", str(tmp_path / "a.key"))
    other = _run("keygen", "log.example/openpcc", "--out", str(tmp_path / "b.key")).stdout.strip()
    (tmp_path / "e").write_bytes(b"e")
    _run(
        "append",
        "--log",
        str(tmp_path / "log"),
        "--key",
        str(tmp_path / "a.key"),
        str(tmp_path / "e"),
    )
    refused = _run(
        "monitor",
        "--log",
        str(tmp_path / "log"),
        "--log-key",
        other,
        "--state",
        str(tmp_path / "s"),
    )
    assert refused.returncode == 1
    assert "refused" in refused.stderr


def test_verify_bundle(tmp_path: Path) -> None:
    bundle = str(vector_path("sigstore", "reference-dev-bundles/ohttp-key-configs.sigstore.pb"))
    root = str(vector_path("sigstore", "trusted-roots/staging-trusted_root.json"))
    subject = r"https://github\.com/confidentsecurity/T/\.github/workflows/.+"
    ok = _run(
        "verify",
        bundle,
        "--trusted-root",
        root,
        "--issuer",
        GITHUB,
        "--subject-regex",
        subject,
        "--at",
        "2026-01-01T00:00:00Z",
    )
    assert ok.returncode == 0, ok.stderr
    assert '"active_key_id": 1' in ok.stdout
    expired = _run(
        "verify",
        bundle,
        "--trusted-root",
        root,
        "--issuer",
        GITHUB,
        "--subject-regex",
        subject,
        "--at",
        "2026-03-19T00:00:00Z",
    )
    assert expired.returncode == 1 and "no OHTTP key rotation period is active" in expired.stderr
    wrong = _run(
        "verify",
        bundle,
        "--trusted-root",
        root,
        "--issuer",
        "https://accounts.google.com",
        "--subject-regex",
        subject,
    )
    assert wrong.returncode == 1 and "identity policy" in wrong.stderr
    missing = _run(
        "verify",
        str(tmp_path / "none.pb"),
        "--trusted-root",
        root,
        "--issuer",
        GITHUB,
        "--subject-regex",
        subject,
    )
    assert missing.returncode == 2


def test_local_profile_sign_verify_and_monitor(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    init = _run("profile-init", "--dir", str(profile))
    assert init.returncode == 0, init.stderr
    log_key = init.stdout.split("log key: ")[1].strip()
    jwk = tmp_path / "jwk.json"
    jwk.write_bytes(b'{"kty":"RSA","use":"sig","kid":"0","n":"AQAB","e":"AQAB"}')
    bundle = tmp_path / "jwk.sigstore.json"
    signed = _run(
        "sign",
        "--profile",
        str(profile),
        "--identity",
        "ops@openpcc.localhost",
        "--issuer",
        "https://openpcc.localhost/oidc",
        "--jwk",
        str(jwk),
        "--out",
        str(bundle),
    )
    assert signed.returncode == 0, signed.stderr
    verified = _run(
        "verify",
        str(bundle),
        "--trusted-root",
        str(profile / "trusted_root.json"),
        "--issuer",
        "https://openpcc.localhost/oidc",
        "--subject",
        "ops@openpcc.localhost",
    )
    assert verified.returncode == 0, verified.stderr
    assert '"predicate_type": "https://confident.security/v1/public-key"' in verified.stdout
    monitor = _run(
        "monitor",
        "--log",
        str(profile / "log"),
        "--log-key",
        log_key,
        "--state",
        str(tmp_path / "seen"),
    )
    assert monitor.returncode == 0, monitor.stderr
    assert monitor.stdout.startswith("0\tdsse entry signed by ops@openpcc.localhost (https://openpcc.localhost/oidc)")
    assert (profile / "ca.key").stat().st_mode & 0o777 == 0o600
