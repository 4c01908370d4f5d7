"""The interface every inference engine implements, and what the engines share.

An engine takes an OpenAI-style completion request (the path and the parsed JSON body) and answers an
:class:`EngineResponse`: an async iterator of the bytes to send back, exactly as the OpenAI API frames
them (``data: {...}\\n\\n`` server-sent events ending with ``data: [DONE]\\n\\n`` for ``stream=true``,
one JSON body otherwise), and the token counts for the refund once it ends.

``await engine.open(path, body)`` validates the request and raises an :class:`~openpcc.exceptions.EngineError`
before anything is sent (bad body, unknown model or path), so the caller can still choose the HTTP
status. Errors after that (an upstream dying mid-stream) are raised by the iteration. Closing the response
(``aclose()``, leaving ``async with``, or cancelling the task that iterates) stops the generation at
once; :attr:`EngineResponse.usage` then holds the tokens generated so far and no longer changes.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any, Self

from openpcc.completions import (
    CHAT_PATH,
    COMPLETIONS_PATH,
    JSON_CONTENT_TYPE,
    PATHS,
    SSE_CONTENT_TYPE,
    SSE_DONE,
    CompletionRequest,
    Message,
    Usage,
    parse_request,
)
from openpcc.exceptions import EngineError

# What the engines share; the request types live in openpcc.completions and are re-exported here.
__all__ = [
    "CHAT_PATH",
    "COMPLETIONS_PATH",
    "JSON_CONTENT_TYPE",
    "PATHS",
    "SSE_CONTENT_TYPE",
    "SSE_DONE",
    "CompletionRequest",
    "Engine",
    "EngineResponse",
    "Framer",
    "Message",
    "StopMatcher",
    "TextEngine",
    "Usage",
    "error_body",
    "json_bytes",
    "parse_request",
    "sse_event",
    "word_tokens",
]


def error_body(exc: EngineError) -> dict[str, Any]:
    """The OpenAI error object for ``exc`` (``{"error": {"message", "type", "param", "code"}}``)."""
    return {"error": {"message": str(exc), "type": exc.error_type, "param": exc.param, "code": exc.code}}


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def sse_event(obj: Any) -> bytes:
    """One server-sent event as the OpenAI API writes it: ``data: <json>`` and a blank line."""
    return b"data: " + json_bytes(obj) + b"\n\n"


class Framer:
    """Turns generated text into the OpenAI API's chunks and bodies for one request."""

    def __init__(self, request: CompletionRequest) -> None:
        self.request = request
        prefix = "chatcmpl-" if request.is_chat else "cmpl-"
        self.id = prefix + secrets.token_hex(12)
        self.created = int(time.time())
        self.object = "chat.completion" if request.is_chat else "text_completion"

    def _envelope(self, chunk: bool) -> dict[str, Any]:
        kind = self.object + ".chunk" if chunk and self.request.is_chat else self.object
        return {"id": self.id, "object": kind, "created": self.created, "model": self.request.model}

    def _choice(self, text: str, finish_reason: str | None, *, first: bool) -> dict[str, Any]:
        if not self.request.is_chat:
            return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        delta: dict[str, Any] = {"role": "assistant", "content": text} if first else {"content": text}
        if finish_reason is not None and not text:
            delta = {}
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    def chunk(self, text: str, finish_reason: str | None = None, *, first: bool = False) -> bytes:
        obj = self._envelope(True) | {"choices": [self._choice(text, finish_reason, first=first)]}
        if self.request.include_usage:
            obj["usage"] = None
        return sse_event(obj)

    def usage_chunk(self, usage: Usage) -> bytes:
        return sse_event(self._envelope(True) | {"choices": [], "usage": usage.as_openai()})

    def body(self, text: str, finish_reason: str, usage: Usage) -> bytes:
        if self.request.is_chat:
            choice: dict[str, Any] = {
                "index": 0, "message": {"role": "assistant", "content": text},
                "logprobs": None, "finish_reason": finish_reason,
            }
        else:
            choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        return json_bytes(self._envelope(False) | {"choices": [choice], "usage": usage.as_openai()})


class StopMatcher:
    """Cuts generated text at the first stop sequence, holding back a tail that may begin one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """The text that can be sent now; sets :attr:`stopped` when a stop sequence appeared."""
        if not self.stops:
            return text
        self._pending += text
        cut = min((i for s in self.stops if (i := self._pending.find(s)) >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self._pending = self._pending[:cut], ""
            return out
        keep = max((_overlap(self._pending, s) for s in self.stops), default=0)
        out = self._pending[: len(self._pending) - keep]
        self._pending = self._pending[len(out):]
        return out

    def flush(self) -> str:
        """What was held back, once generation ended without a stop sequence."""
        out, self._pending = self._pending, ""
        return out


def _overlap(text: str, stop: str) -> int:
    """The length of the longest end of ``text`` that is a proper start of ``stop``."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if text.endswith(stop[:n]):
            return n
    return 0


_WORD_TOKEN = re.compile(r"\s*\S+|\s+")


def word_tokens(text: str) -> list[str]:
    """``text`` cut into words with their leading spaces; joined back they give ``text`` exactly."""
    return _WORD_TOKEN.findall(text)


# --- responses and engines -------------------------------------------------------------


class EngineResponse:
    """One answer: iterate it for the bytes to send, read :attr:`usage` when it ends.

    Use it as ``async with`` (or call :meth:`aclose`) so that a consumer that stops early stops the
    generation too.
    """

    def __init__(
        self, request: CompletionRequest, pieces: Callable[[EngineResponse], AsyncIterator[bytes]]
    ) -> None:
        self.request = request
        self._usage: Usage | None = None
        self.finished = False
        self._pieces = pieces(self)

    @property
    def stream(self) -> bool:
        return self.request.stream

    @property
    def content_type(self) -> str:
        return SSE_CONTENT_TYPE if self.request.stream else JSON_CONTENT_TYPE

    @property
    def usage(self) -> Usage | None:
        """The token counts: final once the iteration ended or was closed; None when the engine cannot
        know them (an upstream cut off before it reported usage)."""
        return self._usage

    def set_usage(self, usage: Usage | None) -> None:
        """For engines: record the counts so far (called as tokens arrive and at the end)."""
        if not self.finished:
            self._usage = usage

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._pieces:
                yield piece
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stops the generation (if still running) and freezes :attr:`usage`."""
        if self.finished:
            return
        try:
            await self._pieces.aclose()  # type: ignore[attr-defined]
        finally:
            self.finished = True

    async def read(self) -> bytes:
        """The whole answer (for ``stream=false``, the JSON body)."""
        return b"".join([piece async for piece in self])

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class Engine(ABC):
    """An inference engine. ``models``: the model names it serves (None: whatever its upstream serves)."""

    name: str

    @property
    @abstractmethod
    def models(self) -> tuple[str, ...] | None: ...

    async def open(self, path: str, body: Any) -> EngineResponse:
        """Validates the request and starts answering it (raises EngineError before any byte is sent)."""
        request = parse_request(path, body, self.models)
        return await self._open(request)

    @abstractmethod
    async def _open(self, request: CompletionRequest) -> EngineResponse: ...

    async def check(self) -> str | None:
        """None when the engine can answer, else a short reason (a node's readiness check)."""
        return None

    async def aclose(self) -> None:
        """Releases what the engine holds (HTTP sessions, the model)."""


class TextEngine(Engine):
    """An engine that generates text itself (echo, embedded llama.cpp): the framing is done here.

    ``max_tokens`` caps every answer: a request without ``max_tokens`` gets this many at most, one
    asking for more gets this many.
    """

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens

    def token_limit(self, request: CompletionRequest) -> int:
        return min(request.max_tokens or self.max_tokens, self.max_tokens)

    @abstractmethod
    def _prepare(self, request: CompletionRequest) -> tuple[int, Any]:
        """The prompt's token count and whatever :meth:`_generate` needs (raises ContextLengthError
        when the prompt does not fit)."""

    @abstractmethod
    def _generate(self, request: CompletionRequest, prepared: Any, counts: list[int]) -> AsyncIterator[str]:
        """Text pieces, one per generated token; ``counts[0]`` is incremented per token generated (also
        for tokens whose text is held back or cut by a stop sequence). Stops after :meth:`token_limit`
        tokens; closing the iterator stops the generation."""

    async def _open(self, request: CompletionRequest) -> EngineResponse:
        prompt_tokens, prepared = self._prepare(request)
        response = EngineResponse(request, lambda r: self._frame(request, prompt_tokens, prepared, r))
        response.set_usage(Usage(prompt_tokens, 0))
        return response

    async def _frame(
        self, request: CompletionRequest, prompt_tokens: int, prepared: Any, response: EngineResponse
    ) -> AsyncIterator[bytes]:
        counts = [0]
        framer = Framer(request)
        stop = StopMatcher(request.stop)
        texts: list[str] = []
        if request.stream and request.is_chat:
            yield framer.chunk("", first=True)  # the role, as the OpenAI API opens a chat stream
        tokens = self._generate(request, prepared, counts)
        try:
            async for piece in tokens:
                response.set_usage(Usage(prompt_tokens, counts[0]))
                text = stop.feed(piece)
                if request.stream and text:
                    yield framer.chunk(text)
                texts.append(text)
                if stop.stopped:
                    break
        finally:
            await tokens.aclose()  # type: ignore[attr-defined]
            response.set_usage(Usage(prompt_tokens, counts[0]))
        tail = stop.flush()
        texts.append(tail)
        reason = "length" if not stop.stopped and counts[0] >= self.token_limit(request) else "stop"
        usage = Usage(prompt_tokens, counts[0])
        if not request.stream:
            yield framer.body("".join(texts), reason, usage)
            return
        if tail:
            yield framer.chunk(tail)
        yield framer.chunk("", reason)
        if request.include_usage:
            yield framer.usage_chunk(usage)
        yield SSE_DONE
