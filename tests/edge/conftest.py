"""Fixtures: a loopback upstream, a gateway with keys in a temporary directory, a relay in front.

Each runs in its own process on 127.0.0.1 and is stopped by PID when the test module ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpcc.services.gateway import write_key_file
from support import edge


@dataclass
class Stack:
    upstream: edge.Proc
    gateway: edge.Proc
    relay: edge.Proc
    state: Path
    keys_dir: Path


def gateway_config(tmp: Path, upstream_url: str, keys_dir: Path, **extra: object) -> Path:
    settings: dict[str, object] = {
        "port": 0, "keys_dir": str(keys_dir), "bank_url": upstream_url, "router_url": upstream_url,
        "manage_keys": False, "key_reload_secs": 0.2, "workers": 2,
    }
    settings.update(extra)
    return edge.write_config(tmp / "gateway.toml", "gateway", **settings)


def relay_config(tmp: Path, gateway_url: str, **extra: object) -> Path:
    settings: dict[str, object] = {"port": 0, "gateway_url": gateway_url + "/", "workers": 2}
    settings.update(extra)
    return edge.write_config(tmp / "relay.toml", "relay", **settings)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("edge")
    state = tmp / "state"
    state.mkdir()
    keys_dir = tmp / "keys"
    now = int(time.time())
    write_key_file(keys_dir, 1, 0x0030, now - 60, now + 3600)
    write_key_file(keys_dir, 2, 0x0020, now - 60, now + 3600)
    with edge.upstream(state) as up:
        with edge.role("gateway", gateway_config(tmp, up.url, keys_dir, max_body_bytes=256 * 1024)) as gw:
            relay_toml = relay_config(tmp, gw.url, max_body_bytes=256 * 1024, rate_per_second=1000.0, burst=1000.0)
            with edge.role("relay", relay_toml) as relay:
                yield Stack(up, gw, relay, state, keys_dir)
            assert_quiet(relay)
        assert_quiet(gw)


def assert_quiet(proc: edge.Proc) -> None:
    """A role prints its start and stop lines only: no address, no body, no request."""
    for line in proc.lines:
        assert line.startswith("openpcc "), line
        assert "listening on" in line or "stopped" in line, line
