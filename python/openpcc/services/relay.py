"""The OHTTP relay role: ``openpcc relay --config FILE``.

Reads the ``[relay]`` table (see docs/edge.md and docs/configuration.md), starts the Rust relay (it forwards encapsulated
requests to ``gateway_url``, streaming both ways, with only allow-listed headers and per-source
limits), and stops it gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openpcc.services._edge import RoleProcess, role_config

ROLE = "relay"


def load(path: str | Path | None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The relay's settings (``[relay]`` in docs/configuration.md) from ``path`` (defaults when ``None``)
    and ``env`` (default: the process environment)."""
    return dict(role_config(ROLE, path, env).values)


def main(config: str | Path | None) -> int:
    return RoleProcess(ROLE, load(config)).run()
