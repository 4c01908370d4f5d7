"""What the relay and gateway roles share: reading their settings (``openpcc.config``), starting the
Rust server (``openpcc._openpcc.edge``), supervising it and stopping it gracefully on SIGTERM or SIGINT.

The data path never enters Python: this module only configures, watches and stops the server.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from openpcc import config
from openpcc._openpcc.edge import EdgeServer
from openpcc.config import RoleConfig

log = logging.getLogger("openpcc.services")

#: Settings read by Python only (never sent to the Rust server).
PYTHON_ONLY = {"host", "port", "shutdown_deadline_secs"}


def role_config(role: str, path: str | Path | None, env: Mapping[str, str] | None = None) -> RoleConfig:
    """The role's validated settings (:mod:`openpcc.config`): defaults, the ``[role]`` table of ``path``,
    then ``OPENPCC_<ROLE>_<KEY>`` from ``env`` (default: the process environment)."""
    return config.load(path, env).role(role)


def server_json(role: str, merged: Mapping[str, Any]) -> str:
    """The JSON the Rust server takes: ``listen`` from host and port, Python-only keys removed."""
    host = str(merged["host"])
    listen = f"[{host}]:{int(merged['port'])}" if ":" in host else f"{host}:{int(merged['port'])}"
    server = {k: v for k, v in merged.items() if k not in PYTHON_ONLY}
    server.update(role=role, listen=listen)
    return json.dumps(server)


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
