"""openpcc.config: defaults, file, environment, typed errors, the data directory, and the docs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from openpcc import config
from openpcc.exceptions import (
    ConfigError,
    ConfigSyntaxError,
    InsecureFileError,
    MalformedInputError,
    SettingValueError,
    UnknownSettingError,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "openpcc.toml"
    path.write_text(text)
    return path


def test_no_file_gives_the_reference_ports_on_loopback(tmp_path: Path) -> None:
    cfg = config.load(None, env={"OPENPCC_HOME": str(tmp_path)})
    expected = {"auth": 3000, "relay": 3100, "gateway": 3200, "bank": 3500, "noncelock": 3501, "router": 3600}
    for role, port in expected.items():
        rc = cfg.role(role)
        assert (rc.host, rc.port) == ("127.0.0.1", port)
    assert cfg.role("node", "a").port == 3700
    assert cfg.role("noncelock")["lock_duration"] == 300.0


def test_nodes_count_up_from_3700_in_file_order(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, "[node.b]\n[node.a]\nhost = '127.0.0.2'\n"), env={})
    assert cfg.node_names() == ["b", "a"]
    assert cfg.role("node", "b").port == 3700
    assert cfg.role("node", "a").port == 3701
    assert cfg.role("node", "a").host == "127.0.0.2"
    assert cfg.role("node", "a").label == "node-a"


def test_file_then_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[noncelock]\nport = 4000\nlock_duration = 5\n")
    cfg = config.load(path, env={"OPENPCC_NONCELOCK_PORT": "4001", "OPENPCC_NODE_A_PORT": "4100"})
    rc = cfg.role("noncelock")
    assert rc.port == 4001
    assert rc["lock_duration"] == 5.0 and isinstance(rc["lock_duration"], float)
    assert cfg.role("node", "a").port == 4100


def test_home_and_data_dir(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, f"home = '{tmp_path / 'h'}'\n"), env={})
    assert cfg.role("bank").data_dir == tmp_path / "h" / "bank"
    assert cfg.role("bank").database == f"sqlite:{tmp_path / 'h' / 'bank' / 'bank.sqlite3'}"
    assert config.load(None, env={"OPENPCC_HOME": "/x"}).home == Path("/x")
    xdg = config.default_home({"XDG_DATA_HOME": "/data"})
    assert xdg == Path("/data/openpcc")
    assert config.default_home({"XDG_DATA_HOME": "relative"}) == Path.home() / ".local/share/openpcc"


@pytest.mark.parametrize(
    ("text", "env", "error"),
    [
        ("[noncelock\n", {}, ConfigSyntaxError),
        ("[noncelok]\n", {}, UnknownSettingError),
        ("[noncelock]\nprot = 1\n", {}, UnknownSettingError),
        ("[noncelock]\nport = 'x'\n", {}, SettingValueError),
        ("[noncelock]\nport = 70000\n", {}, SettingValueError),
        ("[noncelock]\nport = true\n", {}, SettingValueError),
        ("[noncelock]\nlock_duration = -1\n", {}, SettingValueError),
        ("[noncelock]\nlock_duration = nan\n", {}, SettingValueError),
        ("[noncelock]\ndatabase = 'mysql://x'\n", {}, SettingValueError),
        ("[noncelock]\nlog_level = 'loud'\n", {}, SettingValueError),
        ("noncelock = 3\n", {}, ConfigSyntaxError),
        ("[node]\nport = 1\n", {}, ConfigSyntaxError),
        ("home = 3\n", {}, SettingValueError),
        ("", {"OPENPCC_NONCELOCK_PORT": "eleven"}, SettingValueError),
        ("", {"OPENPCC_NONCELOCK_PROT": "1"}, UnknownSettingError),
    ],
)
def test_bad_config_is_a_typed_error(tmp_path: Path, text: str, env: dict[str, str], error: type) -> None:
    with pytest.raises(error) as info:
        config.load(write(tmp_path, text), env=env).role("noncelock")
    assert isinstance(info.value, ConfigError)
    assert str(info.value)


def test_syntax_errors_are_malformed_input_and_missing_files_too(tmp_path: Path) -> None:
    with pytest.raises(MalformedInputError):
        config.load(write(tmp_path, "= 1"), env={})
    with pytest.raises(ConfigSyntaxError, match="cannot read"):
        config.load(tmp_path / "absent.toml", env={})


def test_a_database_password_never_reaches_the_error_text(tmp_path: Path) -> None:
    with pytest.raises(SettingValueError) as info:
        config.load(write(tmp_path, "[bank]\ndatabase = 'mysql://u:hunter2@db/x'\n"), env={}).role("bank")
    assert "hunter2" not in str(info.value)


def test_unknown_role_and_instance_names() -> None:
    cfg = config.load(None, env={})
    with pytest.raises(UnknownSettingError):
        cfg.role("printer")
    with pytest.raises(UnknownSettingError):
        cfg.role("node")
    with pytest.raises(UnknownSettingError):
        cfg.role("bank", "a")
    with pytest.raises(UnknownSettingError):
        cfg.role("bank")["lock_duration"]


def test_key_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    key = tmp_path / "home" / "auth" / "signing.key"
    config.write_key_file(key, b"secret")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert config.read_key_file(key) == b"secret"
    config.write_key_file(key, b"rotated")
    assert config.read_key_file(key) == b"rotated"
    os.chmod(key, 0o644)
    with pytest.raises(InsecureFileError):
        config.read_key_file(key)
    os.chmod(key.parent, 0o755)
    with pytest.raises(InsecureFileError):
        config.ensure_private_dir(key.parent)


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text()
    begin, end = "<!-- settings:begin -->\n", "<!-- settings:end -->"
    assert begin in text and end in text, "docs/configuration.md lost its settings markers"
    documented = text.split(begin, 1)[1].split(end, 1)[0]
    assert documented.strip() == config.settings_markdown().strip(), (
        "docs/configuration.md is out of date: regenerate the table with "
        "python -c 'from openpcc.config import settings_markdown; print(settings_markdown())'"
    )
    for role, setting in config.iter_settings():
        assert f"| `{setting.key}` |" in documented, (role, setting.key)
        assert setting.help


def test_the_client_profile(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[client]\nconcurrency = 4\nmax_delay = 0\n')
    profile = config.load(path, env={"OPENPCC_HOME": str(tmp_path), "OPENPCC_CLIENT_CREDIT_AMOUNT": "64"}).client()
    assert (profile["concurrency"], profile["max_delay"], profile["credit_amount"]) == (4, 0.0, 64)
    assert profile.data_dir == tmp_path / "client" and profile["use_keyring"] is True
    path.write_text('[client]\nconcurency = 4\n')
    with pytest.raises(UnknownSettingError):
        config.load(path, env={}).client()
    path.write_text('[client]\nmax_delay = -1\n')
    with pytest.raises(SettingValueError):
        config.load(path, env={}).client()
