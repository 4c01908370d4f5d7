"""Engine settings in a node's table build the engine they name."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from openpcc import config
from openpcc.exceptions import InsecureFileError, SettingValueError, UnknownSettingError
from openpcc.services.engines import from_config
from openpcc.services.engines.echo import EchoEngine
from openpcc.services.engines.upstream import UpstreamEngine


def node(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> config.RoleConfig:
    path = tmp_path / "openpcc.toml"
    path.write_text(text)
    return config.load(path, env or {}).role("node", "a")


def test_defaults_name_the_embedded_engine(tmp_path: Path) -> None:
    cfg = node(tmp_path, "[node.a]\n")
    assert cfg["engine"] == "llama" and cfg["model"] == "" and cfg["max_tokens"] == 512


def test_echo_from_file_and_environment(tmp_path: Path) -> None:
    cfg = node(tmp_path, '[node.a]\nengine = "echo"\necho_token_delay = 0.25\n', {"OPENPCC_NODE_A_MAX_TOKENS": "7"})
    engine = from_config(cfg)
    assert isinstance(engine, EchoEngine)
    assert engine.models == ("echo",) and engine.token_delay == 0.25 and engine.max_tokens == 7


def test_upstream_needs_a_url_and_reads_its_key_file(tmp_path: Path) -> None:
    with pytest.raises(SettingValueError, match="upstream_url"):
        from_config(node(tmp_path, '[node.a]\nengine = "upstream"\n'))
    key = tmp_path / "upstream.key"
    config.write_key_file(key, b"sk-test-0123456789\n")
    cfg = node(
        tmp_path,
        f'[node.a]\nengine = "upstream"\nupstream_url = "http://127.0.0.1:8000/"\nmodel = "m"\n'
        f'upstream_api_key_file = "{key}"\n',
    )
    engine = from_config(cfg)
    assert isinstance(engine, UpstreamEngine)
    assert engine.base_url == "http://127.0.0.1:8000" and engine.models == ("m",)
    assert engine._headers["Authorization"] == "Bearer sk-test-0123456789"
    asyncio.run(engine.aclose())


def test_a_readable_key_file_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "upstream.key"
    key.write_text("sk-test-0123456789")
    os.chmod(key, 0o644)
    text = f'[node.a]\nengine = "upstream"\nupstream_url = "http://127.0.0.1:1"\nupstream_api_key_file = "{key}"\n'
    cfg = node(tmp_path, text)
    with pytest.raises(InsecureFileError):
        from_config(cfg)


@pytest.mark.parametrize(
    "line",
    [
        'engine = "gpt"',
        'upstream_url = "ftp://x"',
        "max_tokens = 0",
        "context_tokens = -1",
        "engine_threads = -2",
        "echo_token_delay = -0.1",
        "upstream_timeout = 0",
    ],
)
def test_bad_engine_settings_are_refused(tmp_path: Path, line: str) -> None:
    with pytest.raises(SettingValueError):
        node(tmp_path, f"[node.a]\n{line}\n")


def test_unknown_engine_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownSettingError):
        node(tmp_path, "[node.a]\nengine_temperature = 1.0\n")
