"""The official ``openai`` SDK's clients, over the private path.

``openpcc.openai.OpenAI(...)`` and ``openpcc.openai.AsyncOpenAI(...)`` return the SDK's own
``openai.OpenAI`` / ``openai.AsyncOpenAI``, unchanged, whose HTTP client carries every call through
:mod:`openpcc.httpx`::

    from openpcc.openai import OpenAI

    client = OpenAI()                      # the [client] settings of ~/.openpcc/openpcc.toml
    response = client.responses.create(model="SmolLM2-135M-Instruct", input="Say hello.")
    print(response.output_text)

Arguments: ``config`` (path or ``openpcc.config.Config`` for :class:`openpcc.Client`), ``private_client``
(an ``openpcc.Client`` / ``AsyncClient`` already made; closed by its owner), ``models`` (see
:class:`openpcc.httpx.PrivateTransport`); every other keyword goes to the SDK's constructor. ``base_url``
defaults to ``http://openpcc.invalid/v1`` (a name that never resolves: nothing leaves but through the
private path) and ``api_key`` to ``"openpcc"`` (the private path pays with anonymous credits, not keys).
``max_retries`` keeps the SDK's default: each retry is sealed anew with a fresh credit, and failures a
retry cannot mend (attestation, policy) are marked not to be retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai as _sdk  # the official SDK: absolute import, this module is openpcc.openai

from openpcc.httpx import AsyncPrivateTransport, PrivateTransport

BASE_URL = "http://openpcc.invalid/v1"
API_KEY = "openpcc"


def _sdk_http() -> Any:
    """The HTTP library this SDK release is built on (``httpx2`` now, ``httpx`` before): its client class
    is the one the SDK accepts as ``http_client``."""
    base = _sdk._base_client  # the SDK names no public alias for it
    return getattr(base, "httpx2", None) or getattr(base, "httpx")  # noqa: B009 - absent from new stubs


def OpenAI(
    *, config: Any = None, private_client: Any = None, models: Sequence[str] | None = None, **sdk_options: Any
) -> _sdk.OpenAI:
    """An ``openai.OpenAI`` whose every call goes through the private path."""
    transport = PrivateTransport(private_client, config=config, models=models)
    sdk_options.setdefault("base_url", BASE_URL)
    sdk_options.setdefault("api_key", API_KEY)
    return _sdk.OpenAI(http_client=_sdk_http().Client(transport=transport), **sdk_options)


def AsyncOpenAI(
    *, config: Any = None, private_client: Any = None, models: Sequence[str] | None = None, **sdk_options: Any
) -> _sdk.AsyncOpenAI:
    """An ``openai.AsyncOpenAI`` whose every call goes through the private path."""
    transport = AsyncPrivateTransport(private_client, config=config, models=models)
    sdk_options.setdefault("base_url", BASE_URL)
    sdk_options.setdefault("api_key", API_KEY)
    return _sdk.AsyncOpenAI(http_client=_sdk_http().AsyncClient(transport=transport), **sdk_options)


__all__ = ["API_KEY", "BASE_URL", "AsyncOpenAI", "OpenAI"]
