"""``openpcc proxy`` (:class:`~openpcc.proxy.ProxyServer`) served on a loop thread, for tests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import openai
from openpcc.proxy import ProxyServer


class Running:
    """A proxy served on a loop thread of its own, stopped (and its thread joined) by ``stop``."""

    def __init__(self, private: Any, **options: object) -> None:
        self.private = private
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = ProxyServer(private, host="127.0.0.1", port=0, **options)  # type: ignore[arg-type]
        self.run(self.server.start())

    def run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    def sdk(self, api_key: str = "unused", **options: object) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=api_key, **options)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.run(self.server.stop())
        self.run(self.private.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
