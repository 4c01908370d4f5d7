"""The relay and gateway roles' settings and the gateway's key rotation, without starting a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpcc.exceptions import EdgeConfigError
from openpcc.services import gateway, relay
from openpcc.services._edge import server_json, settings


def test_defaults_toml_and_environment(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[relay]\nport = 4100\nrate_per_second = 5.0\n')
    merged = settings("relay", {"port": 4100, "rate_per_second": 5.0}, relay.DEFAULTS,
                      environ={"OPENPCC_RELAY_PORT": "4200", "OPENPCC_RELAY_BURST": "7"})
    assert merged["port"] == 4200 and merged["rate_per_second"] == 5.0 and merged["burst"] == 7.0
    assert relay.load(toml)["port"] == 4100
    config = json.loads(server_json("relay", merged))
    assert config["listen"] == "127.0.0.1:4200" and config["role"] == "relay"
    assert "port" not in config and "shutdown_deadline_secs" not in config


def test_unknown_setting_and_bad_override_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EdgeConfigError, match="unknown settings"):
        settings("relay", {"gateway": "x"}, relay.DEFAULTS, environ={})
    with pytest.raises(EdgeConfigError, match="not a number"):
        settings("relay", {}, relay.DEFAULTS, environ={"OPENPCC_RELAY_PORT": "eighty"})
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n")
    with pytest.raises(EdgeConfigError, match="not TOML"):
        gateway.load(bad)
    kem = tmp_path / "kem.toml"
    kem.write_text("[gateway]\nkem = 16\n")
    with pytest.raises(EdgeConfigError, match="kem"):
        gateway.load(kem)


def test_ipv6_listen_address() -> None:
    merged = settings("relay", {"host": "::1", "port": 0}, relay.DEFAULTS, environ={})
    assert json.loads(server_json("relay", merged))["listen"] == "[::1]:0"


def test_key_files_are_private_and_atomic(tmp_path: Path) -> None:
    path = gateway.write_key_file(tmp_path / "keys", 7, 0x0020, 100, 200)
    assert path.stat().st_mode & 0o777 == 0o600
    assert not list((tmp_path / "keys").glob(".*"))
    data = json.loads(path.read_text())
    assert data["key_id"] == 7 and len(bytes.fromhex(data["seed"])) == 32
    with pytest.raises(EdgeConfigError):
        gateway.write_key_file(tmp_path / "keys", 1, 0x0010, 100, 200)
    with pytest.raises(EdgeConfigError):
        gateway.write_key_file(tmp_path / "keys", 1, 0x0020, 200, 100)


def test_rotation_publishes_the_next_key_half_a_lifetime_early(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    lifetime, overlap = 100, 10
    assert len(gateway.rotate(keys, 0x0030, lifetime, overlap, now=1000)) == 1
    first = gateway.key_windows(keys)[0]
    assert first.active_from <= 1000 <= first.active_until
    assert gateway.rotate(keys, 0x0030, lifetime, overlap, now=1020) == []  # not due yet
    assert len(gateway.rotate(keys, 0x0030, lifetime, overlap, now=1050)) == 1  # half a lifetime left
    second = gateway.key_windows(keys)[1]
    assert second.active_from == first.active_until - overlap  # overlapping windows
    assert second.key_id != first.key_id
    assert gateway.rotate(keys, 0x0030, lifetime, overlap, now=1060) == []  # written once
    gateway.rotate(keys, 0x0030, lifetime, overlap, now=first.active_until + overlap + 1)
    assert first.path.exists() is False  # long expired files are removed
    with pytest.raises(EdgeConfigError):
        gateway.rotate(keys, 0x0030, 10, 6)
