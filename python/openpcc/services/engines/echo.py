"""The echo engine: a deterministic engine for tests and benchmarks.

It answers the last user message (for ``/v1/completions``, the prompt) word by word, each word with
its leading spaces one token (:func:`~openpcc.services.engines.base.word_tokens`), after an optional
per-token delay. The prompt's token count is the number of such tokens over every message. Framing,
``max_tokens``, ``stop`` and cancellation behave as with the real engines.

A chat request whose last user message is exactly ``/echo-request`` is answered with the whole request
body the engine received (JSON, sorted keys), so an end-to-end test can see exactly what reached the node
(tools, tool calls, response formats).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from openpcc.services.engines.base import CompletionRequest, TextEngine, word_tokens

DEFAULT_MODEL = "echo"
ECHO_REQUEST = "/echo-request"


class EchoEngine(TextEngine):
    name = "echo"

    def __init__(self, model: str = DEFAULT_MODEL, *, token_delay: float = 0.0, max_tokens: int = 4096) -> None:
        super().__init__(max_tokens)
        self.model = model or DEFAULT_MODEL
        self.token_delay = token_delay

    @property
    def models(self) -> tuple[str, ...]:
        return (self.model,)

    def _prepare(self, request: CompletionRequest) -> tuple[int, None]:
        if request.is_chat:
            return sum(len(word_tokens(m.content)) for m in request.messages), None
        return len(word_tokens(request.prompt)), None

    @staticmethod
    def answer(request: CompletionRequest) -> str:
        """The text echoed back (before ``max_tokens`` and ``stop`` apply)."""
        if not request.is_chat:
            return request.prompt
        users = [m.content for m in request.messages if m.role == "user"]
        if users and users[-1] == ECHO_REQUEST:
            return json.dumps(request.body, sort_keys=True, separators=(", ", ": "))
        return users[-1] if users else ""

    async def _generate(self, request: CompletionRequest, _prepared: None, counts: list[int]) -> AsyncIterator[str]:
        for token in word_tokens(self.answer(request))[: self.token_limit(request)]:
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
            counts[0] += 1
            yield token
