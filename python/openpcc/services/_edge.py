"""What the relay and gateway roles share: reading their TOML table, starting the Rust server
(``openpcc._openpcc.edge``), supervising it and stopping it gracefully on SIGTERM or SIGINT.

The data path never enters Python: this module only configures, watches and stops the server.
Role settings parsing is deliberately local and small, so it can move into ``openpcc.config``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from openpcc._openpcc.edge import EdgeServer
from openpcc.exceptions import EdgeConfigError

log = logging.getLogger("openpcc.services")

#: Settings both roles understand, with their defaults (see docs/edge.md).
COMMON_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "workers": 2,
    "header_timeout_secs": 10.0,
    "body_idle_timeout_secs": 30.0,
    "max_connections": 4096,
    "shutdown_deadline_secs": 10.0,
}

#: Settings read by Python only (never sent to the Rust server).
PYTHON_ONLY = {"host", "port", "shutdown_deadline_secs"}


def read_table(path: str | Path, role: str) -> dict[str, Any]:
    """The ``[role]`` table of a TOML file (empty when the file has none)."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise EdgeConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EdgeConfigError(f"{path} is not TOML: {exc}") from None
    table = document.get(role, {})
    if not isinstance(table, dict):
        raise EdgeConfigError(f"[{role}] must be a table")
    return table


def _coerce(value: str, like: Any, name: str) -> Any:
    try:
        if isinstance(like, bool):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
    except ValueError:
        raise EdgeConfigError(f"environment override {name} is not a number") from None
    return value


def settings(
    role: str, table: Mapping[str, Any], defaults: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Defaults, then the TOML table, then ``OPENPCC_<ROLE>_<KEY>`` environment overrides."""
    merged = {**COMMON_DEFAULTS, **defaults}
    unknown = set(table) - set(merged)
    if unknown:
        raise EdgeConfigError(f"[{role}]: unknown settings {sorted(unknown)}")
    merged.update(table)
    environ = os.environ if environ is None else environ
    for key, value in list(merged.items()):
        name = f"OPENPCC_{role.upper()}_{key.upper()}"
        if name in environ:
            merged[key] = _coerce(environ[name], value, name)
    return merged


def server_json(role: str, merged: Mapping[str, Any]) -> str:
    """The JSON the Rust server takes: ``listen`` from host and port, Python-only keys removed."""
    host = str(merged["host"])
    listen = f"[{host}]:{int(merged['port'])}" if ":" in host else f"{host}:{int(merged['port'])}"
    config = {k: v for k, v in merged.items() if k not in PYTHON_ONLY}
    config.update(role=role, listen=listen)
    return json.dumps(config)


class RoleProcess:
    """One running role: the server, its stop event, and the supervision loop."""

    def __init__(self, role: str, merged: Mapping[str, Any], tick: Callable[[], None] | None = None) -> None:
        self.role = role
        self.merged = dict(merged)
        self.tick = tick
        self.stopping = threading.Event()
        self.server: EdgeServer | None = None

    def start(self) -> tuple[str, int]:
        self.server = EdgeServer.start(server_json(self.role, self.merged))
        return self.server.address

    def request_stop(self, *_: object) -> None:
        self.stopping.set()

    def run(self) -> int:
        """Starts, prints the bound address, supervises until a signal; returns the exit code."""
        host, port = self.start()
        print(f"openpcc {self.role} listening on http://{host}:{port}", flush=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)
        assert self.server is not None
        while not self.stopping.wait(0.5):
            if self.tick is not None:
                self.tick()
            if not self.server.status()["running"]:
                log.error("%s server stopped unexpectedly", self.role)
                return 1
        left = self.server.stop(float(self.merged["shutdown_deadline_secs"]))
        print(f"openpcc {self.role} stopped ({left} connections cut at the deadline)", flush=True)
        return 0
