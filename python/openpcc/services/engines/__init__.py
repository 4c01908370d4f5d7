"""Inference engines for the compute node: one interface (:mod:`.base`), three engines.

* :class:`~openpcc.services.engines.llama.LlamaEngine`: the embedded default, SmolLM2-135M-Instruct run
  by llama.cpp in this process;
* :class:`~openpcc.services.engines.upstream.UpstreamEngine`: any OpenAI-compatible HTTP server;
* :class:`~openpcc.services.engines.echo.EchoEngine`: deterministic, for tests.

:func:`from_config` builds the one a node's settings name (``[node.<name>] engine = ...``).
"""

from __future__ import annotations

from pathlib import Path

from openpcc.config import RoleConfig, read_key_file
from openpcc.exceptions import SettingValueError
from openpcc.services.engines.base import Engine, EngineResponse, Usage, error_body

__all__ = ["Engine", "EngineResponse", "Usage", "error_body", "from_config"]


def from_config(cfg: RoleConfig) -> Engine:
    """The engine ``cfg`` (a node's settings) names. Loading the embedded model blocks for about a
    second: call it from a worker thread in a running event loop."""
    kind = cfg["engine"]
    if kind == "echo":
        from openpcc.services.engines.echo import EchoEngine

        return EchoEngine(cfg["model"], token_delay=cfg["echo_token_delay"], max_tokens=cfg["max_tokens"])
    if kind == "upstream":
        from openpcc.services.engines.upstream import UpstreamEngine

        if not cfg["upstream_url"]:
            raise SettingValueError(f"[{cfg.role}.{cfg.name}]: engine = \"upstream\" needs upstream_url")
        key_file = cfg["upstream_api_key_file"]
        api_key = read_key_file(Path(key_file)).decode().strip() if key_file else None
        return UpstreamEngine(
            cfg["upstream_url"], model=cfg["model"], timeout=cfg["upstream_timeout"], api_key=api_key
        )
    from openpcc.services.engines.llama import LlamaEngine

    return LlamaEngine(
        cfg["model_file"] or None, model=cfg["model"], context_tokens=cfg["context_tokens"],
        threads=cfg["engine_threads"], max_tokens=cfg["max_tokens"],
    )
