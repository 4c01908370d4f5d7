"""Reading engine answers in tests: SSE events parsed back, the text they carry."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine
from typing import Any

from openpcc.services.engines.base import EngineResponse


def split_events(raw: bytes) -> list[bytes]:
    """The ``data:`` payloads of a server-sent-event stream; asserts the OpenAI framing on the way."""
    assert raw.endswith(b"\n\n"), raw[-40:]
    events = raw[:-2].split(b"\n\n")
    assert all(e.startswith(b"data: ") for e in events), events
    return [e[len(b"data: "):] for e in events]


def chunks(raw: bytes) -> list[dict[str, Any]]:
    events = split_events(raw)
    assert events[-1] == b"[DONE]"
    return [json.loads(e) for e in events[:-1]]


def streamed_text(objs: list[dict[str, Any]]) -> str:
    out = []
    for obj in objs:
        for choice in obj["choices"]:
            out.append(choice["delta"].get("content", "") if "delta" in choice else choice["text"])
    return "".join(out)


async def collect(response: EngineResponse) -> list[bytes]:
    return [piece async for piece in response]


TEST_TIMEOUT_S = 120


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Runs an ``async def`` test in its own event loop, bounded in time (no pytest-asyncio here)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), TEST_TIMEOUT_S))

    return run
