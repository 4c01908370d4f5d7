"""The OHTTP relay role: ``openpcc relay --config FILE``.

Reads the ``[relay]`` table (see docs/edge.md), starts the Rust relay (it forwards encapsulated
requests to ``gateway_url``, streaming both ways, with only allow-listed headers and per-source
limits), and stops it gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpcc.services._edge import RoleProcess, read_table, settings

ROLE = "relay"

DEFAULTS: dict[str, Any] = {
    "port": 3100,
    "gateway_url": "http://127.0.0.1:3200/",
    "max_body_bytes": 16 * 1024 * 1024,
    "max_concurrent_per_source": 64,
    "rate_per_second": 200.0,
    "burst": 400.0,
}


def load(path: str | Path | None) -> dict[str, Any]:
    """The relay's settings from ``path`` (defaults when ``None``) and the environment."""
    table = read_table(path, ROLE) if path is not None else {}
    return settings(ROLE, table, DEFAULTS)


def main(config: str | Path | None) -> int:
    return RoleProcess(ROLE, load(config)).run()
