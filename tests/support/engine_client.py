"""The request surface of ``openpcc.Client`` / ``AsyncClient`` (stack contract §3) answered by a real
engine in this process, with no private path in between.

It lets the OpenAI front's own parts (checks, Responses translation, error mapping, streaming through
the SDK) be tested without a stack; the end-to-end tests run the same code over a real stack. It answers
as a node does: the engine's status and bytes, an engine error as its OpenAI error body. ``failure``
makes every request raise that exception instead, as the real client raises its typed errors.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from openpcc.exceptions import EngineError, ResponseStreamError
from openpcc.services.engines import Engine, error_body


class EngineAnswer:
    """An ``AsyncPrivateResponse``: the engine's answer, closable mid-stream."""

    def __init__(self, status: int, content_type: str, pieces: AsyncIterator[bytes] | None, body: bytes = b"",
                 break_after: int | None = None):
        self.break_after = break_after  # pieces passed on before the answer "breaks off"
        self.status = status
        self.headers = [("content-type", content_type)]
        self.node_id = "in-process-engine"
        self._pieces = pieces
        self._body = body
        self.closed = False
        self.exhausted = False  # read to its end (where the real client gets the router's refund trailer)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._pieces is None:
            yield self._body
        else:
            async for index, piece in _enumerate(self._pieces):
                if index == self.break_after:
                    raise ResponseStreamError("the answer broke off or did not decrypt")
                yield piece
        self.exhausted = True

    async def aread(self) -> bytes:
        return b"".join([piece async for piece in self.aiter_bytes()])

    async def aclose(self) -> None:
        self.closed = True
        if self._pieces is not None:
            await self._pieces.aclose()  # type: ignore[attr-defined]


async def _enumerate(pieces: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    index = 0
    async for piece in pieces:
        yield index, piece
        index += 1


class AsyncEngineClient:
    def __init__(self, engine: Engine, *, model: str | None = None, failure: Exception | None = None,
                 break_after: int | None = None) -> None:
        self.engine = engine
        self.model = model
        self.failure = failure
        self.break_after = break_after
        self.received: list[tuple[str, bytes]] = []  # (path, body) of every request, as the node got it
        self.answers: list[EngineAnswer] = []

    async def request(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                      body: bytes = b"", model: str | None = None, credit_amount: int | None = None,
                      stream: bool = False) -> EngineAnswer:
        if self.failure is not None:
            raise self.failure
        assert method == "POST" and dict(headers or {}) == {"content-type": "application/json"}
        self.received.append((path, body))
        try:
            response = await self.engine.open(path, json.loads(body))
        except EngineError as exc:
            answer = EngineAnswer(exc.status, "application/json", None, json.dumps(error_body(exc)).encode())
        else:
            answer = EngineAnswer(200, response.content_type, response.__aiter__(), break_after=self.break_after)
        self.answers.append(answer)
        return answer

    async def aclose(self) -> None:
        await self.engine.aclose()


class _SyncAnswer:
    """A ``PrivateResponse`` over an :class:`EngineAnswer` run on the client's loop thread."""

    def __init__(self, answer: EngineAnswer, loop: asyncio.AbstractEventLoop) -> None:
        self._answer = answer
        self._loop = loop
        self.status, self.headers, self.node_id = answer.status, answer.headers, answer.node_id

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def iter_bytes(self) -> Iterator[bytes]:
        pieces = self._answer.aiter_bytes()
        while True:
            try:
                yield self._run(anext(pieces))
            except StopAsyncIteration:
                return

    def read(self) -> bytes:
        return b"".join(self.iter_bytes())

    def close(self) -> None:
        self._run(self._answer.aclose())


class EngineClient:
    """The synchronous surface; the engine runs on a loop in a thread of its own (stopped by close)."""

    def __init__(self, engine: Engine, *, model: str | None = None, failure: Exception | None = None,
                 break_after: int | None = None) -> None:
        self._async = AsyncEngineClient(engine, model=model, failure=failure, break_after=break_after)
        self.model = model
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @property
    def received(self) -> list[tuple[str, bytes]]:
        return self._async.received

    @property
    def answers(self) -> list[EngineAnswer]:
        return self._async.answers

    def request(self, method: str, path: str, **options: Any) -> _SyncAnswer:
        future = asyncio.run_coroutine_threadsafe(self._async.request(method, path, **options), self._loop)
        return _SyncAnswer(future.result(timeout=30), self._loop)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._async.aclose(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
