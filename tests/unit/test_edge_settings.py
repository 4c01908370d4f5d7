"""The relay and gateway roles' settings and the gateway's key rotation, without starting a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpcc import cli
from openpcc.exceptions import (
    ConfigSyntaxError,
    EdgeConfigError,
    SettingValueError,
    UnknownSettingError,
)
from openpcc.services import gateway, relay
from openpcc.services._edge import server_json


def test_defaults_toml_and_environment(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[relay]\nport = 4100\nrate_per_second = 5.0\n')
    merged = relay.load(toml, env={"OPENPCC_RELAY_PORT": "4200", "OPENPCC_RELAY_BURST": "7"})
    assert merged["port"] == 4200 and merged["rate_per_second"] == 5.0 and merged["burst"] == 7.0
    assert relay.load(toml, env={})["port"] == 4100
    assert relay.load(None, env={})["max_body_bytes"] == 16 * 1024 * 1024
    config = json.loads(server_json("relay", merged))
    assert config["listen"] == "127.0.0.1:4200" and config["role"] == "relay"
    assert "port" not in config and "shutdown_deadline_secs" not in config


def test_unknown_setting_and_bad_override_are_refused(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[relay]\ngateway = "x"\n')
    with pytest.raises(UnknownSettingError, match="unknown setting"):
        relay.load(unknown, env={})
    with pytest.raises(SettingValueError, match="must be int"):
        relay.load(None, env={"OPENPCC_RELAY_PORT": "eighty"})
    # settings the Python-served roles share but the Rust server has no use for are refused too
    common = tmp_path / "common.toml"
    common.write_text('[gateway]\nrequest_timeout = 5.0\n')
    with pytest.raises(UnknownSettingError, match="unknown setting"):
        gateway.load(common, env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n")
    with pytest.raises(ConfigSyntaxError, match="not valid TOML"):
        gateway.load(bad, env={})
    kem = tmp_path / "kem.toml"
    kem.write_text("[gateway]\nkem = 16\n")
    with pytest.raises(SettingValueError, match="kem"):
        gateway.load(kem, env={})


def test_gateway_keys_dir_defaults_under_home(tmp_path: Path) -> None:
    assert gateway.load(None, env={"OPENPCC_HOME": str(tmp_path)})["keys_dir"] == str(tmp_path / "gateway" / "keys")


def test_ipv6_listen_address(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[relay]\nhost = "::1"\nport = 0\n')
    merged = relay.load(toml, env={})
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


@pytest.mark.parametrize("role", ["relay", "gateway"])
def test_a_bad_setting_is_exit_2_before_any_server_starts(
    role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(f'[{role}]\nworkers = "two"\n')
    assert cli.main([role, "--config", str(toml)]) == cli.EXIT_UNREADABLE
    assert f"openpcc {role}: [{role}]: workers must be int" in capsys.readouterr().err
