"""The upstream engine against real loopback servers: the echo engine behind
``openpcc.services.engines.serve`` in its own process (stopped, or killed mid-stream, by its PID), and
for the upstream error statuses and other OpenAI-compatible dialects a small aiohttp server on a free
loopback port that answers what each case needs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from openpcc.exceptions import (
    EngineOverloadedError,
    EngineRequestError,
    EngineStreamError,
    EngineUnavailableError,
    ModelNotFoundError,
    UpstreamError,
)
from openpcc.services.engines.base import SSE_DONE, Usage, word_tokens
from openpcc.services.engines.upstream import UpstreamEngine
from support.engine_server import engine_server
from support.servers import free_port

from .helpers import async_test, chunks, collect, streamed_text

CHAT = "/v1/chat/completions"
TEXT = "one two three four five six"


def chat(model: str = "echo", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": TEXT}], **extra}


@asynccontextmanager
async def engine_for(url: str, **kwargs: object) -> AsyncIterator[UpstreamEngine]:
    engine = UpstreamEngine(url, **kwargs)  # type: ignore[arg-type]
    try:
        yield engine
    finally:
        await engine.aclose()


@asynccontextmanager
async def loopback_app(handler: Callable[[web.Request], object]) -> AsyncIterator[str]:
    """An aiohttp server on a free 127.0.0.1 port answering every completion path with ``handler``."""
    app = web.Application()
    app.router.add_post("/v1/{tail:.*}", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_stream_arrives_chunk_by_chunk_and_usage_is_stripped_when_not_asked() -> None:
    with engine_server("--engine", "echo", "--token-delay", "0.1") as server:

        async def run() -> None:
            async with engine_for(server.url, model="echo") as engine:
                loop = asyncio.get_running_loop()
                arrivals: list[tuple[float, bytes]] = []
                async with await engine.open(CHAT, chat(stream=True)) as answer:
                    async for piece in answer:
                        arrivals.append((loop.time(), piece))
                pieces = [p for _, p in arrivals]
                objs = chunks(b"".join(pieces))
                assert pieces[-1] == SSE_DONE
                assert streamed_text(objs) == TEXT
                # one piece per upstream event, passed on as it came: the first token long before the end
                assert len(pieces) == 1 + len(word_tokens(TEXT)) + 1 + 1
                first_token_at = arrivals[1][0]
                assert arrivals[-1][0] - first_token_at >= 0.3
                # the engine asked for usage; the client did not, so none of it shows
                assert all("usage" not in o for o in objs)
                assert all(o["choices"] for o in objs)
                assert answer.usage == Usage(6, 6)

        asyncio.run(asyncio.wait_for(run(), 60))


def test_usage_is_kept_when_the_client_asks_and_non_stream_passes_through() -> None:
    with engine_server("--engine", "echo") as server:

        async def run() -> None:
            async with engine_for(server.url) as engine:
                body = chat(stream=True, stream_options={"include_usage": True}, max_tokens=4)
                async with await engine.open(CHAT, body) as answer:
                    objs = chunks(b"".join(await collect(answer)))
                assert objs[-1]["choices"] == [] and objs[-1]["usage"]["completion_tokens"] == 4
                assert all(o["usage"] is None for o in objs[:-1])
                assert answer.usage == Usage(6, 4)
                async with await engine.open(CHAT, chat()) as answer:
                    assert answer.content_type == "application/json"
                    body_out = json.loads(await answer.read())
                assert body_out["choices"][0]["message"]["content"] == TEXT
                assert answer.usage == Usage(6, 6)
                assert await engine.check() is None  # its /v1/models answers

        asyncio.run(asyncio.wait_for(run(), 60))


def test_upstream_refusals_keep_their_meaning() -> None:
    with engine_server("--engine", "echo", "--model", "served") as server:

        async def run() -> None:
            async with engine_for(server.url) as engine:  # no model pinned: the upstream decides
                with pytest.raises(ModelNotFoundError) as raised:
                    await engine.open(CHAT, chat("unknown-model"))
                assert raised.value.status == 404
            async with engine_for(server.url, model="served") as engine:  # pinned: refused before sending
                with pytest.raises(ModelNotFoundError):
                    await engine.open(CHAT, chat("unknown-model"))

        asyncio.run(asyncio.wait_for(run(), 60))


def test_upstream_dying_mid_stream_raises_a_clear_error() -> None:
    with engine_server("--engine", "echo", "--token-delay", "0.05") as server:

        async def run() -> None:
            async with engine_for(server.url) as engine:
                long_text = " ".join(["word"] * 400)
                body = {"model": "echo", "messages": [{"role": "user", "content": long_text}], "stream": True}
                answer = await engine.open(CHAT, body)
                received = 0
                with pytest.raises(EngineStreamError) as raised:
                    async with answer:
                        async for _piece in answer:
                            received += 1
                            if received == 3:
                                server.kill()
                assert 3 <= received < 400
                assert "mid-stream" in str(raised.value) or "[DONE]" in str(raised.value)
                assert raised.value.status == 502
                assert answer.usage is None  # the upstream never reported its counts: no refund basis

        asyncio.run(asyncio.wait_for(run(), 60))


@async_test
async def test_unreachable_upstream_is_unavailable() -> None:
    async with engine_for(f"http://127.0.0.1:{free_port()}") as engine:
        with pytest.raises(EngineUnavailableError) as raised:
            await engine.open(CHAT, chat())
        reason = await engine.check()
    assert raised.value.status == 503
    assert reason is not None and "unreachable" in reason


@pytest.mark.parametrize(
    ("status", "error", "keeps_message"),
    [
        (400, EngineRequestError, True),
        (404, ModelNotFoundError, True),
        (422, EngineRequestError, True),
        (429, EngineOverloadedError, True),
        (401, EngineUnavailableError, False),
        (500, UpstreamError, False),
        (503, UpstreamError, False),
    ],
)
@async_test
async def test_upstream_statuses_map_to_typed_errors(status: int, error: type[Exception], keeps_message: bool) -> None:
    async def refuse(_request: web.Request) -> web.Response:
        body = {"error": {"message": "upstream says no", "type": "x", "param": None, "code": None}}
        return web.json_response(body, status=status)

    async with loopback_app(refuse) as url, engine_for(url) as engine:
        with pytest.raises(error) as raised:
            await engine.open(CHAT, chat(stream=True))
    assert type(raised.value) is error
    assert ("upstream says no" in str(raised.value)) is keeps_message


def _sse(*objs: object) -> bytes:
    return b"".join(b"data: " + json.dumps(o).encode() + b"\n\n" for o in objs)


@async_test
async def test_usage_inside_the_last_choice_chunk_is_read_and_removed() -> None:
    """llama.cpp's server puts usage on the chunk that carries finish_reason, not on a chunk of its own."""
    seen: list[dict[str, object]] = []

    async def llama_cpp_style(request: web.Request) -> web.StreamResponse:
        seen.append(await request.json())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        base = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        first = {"index": 0, "delta": {"content": "hi"}, "finish_reason": None}
        await response.write(_sse(base | {"choices": [first]}))
        await response.write(_sse(base | {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
        }))
        await response.write(b"data: [DONE]\r\n\r\n")  # CRLF framing is accepted too
        return response

    async with (
        loopback_app(llama_cpp_style) as url,
        engine_for(url) as engine,
        await engine.open(CHAT, chat("m", stream=True)) as answer,
    ):
        objs = chunks(b"".join(await collect(answer)))
    assert seen[0]["stream_options"] == {"include_usage": True}
    assert [o["choices"][0]["finish_reason"] for o in objs] == [None, "stop"]
    assert all("usage" not in o for o in objs)
    assert answer.usage == Usage(7, 1)


@pytest.mark.parametrize(
    "script",
    [
        b"data: {not json}\n\n",
        b"data: [1, 2]\n\n",
        b'data: {"error": {"message": "oom"}}\n\n',
        _sse({"choices": [{"delta": {"content": "a"}}]}),  # then the stream just ends: no [DONE]
    ],
)
@async_test
async def test_broken_upstream_streams_raise(script: bytes) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(script)
        return response

    async with loopback_app(broken) as url, engine_for(url) as engine:
        answer = await engine.open(CHAT, chat(stream=True))
        with pytest.raises(UpstreamError):
            async with answer:
                await collect(answer)


@async_test
async def test_a_stream_answered_as_json_is_refused() -> None:
    async def wrong(_request: web.Request) -> web.Response:
        return web.json_response({"choices": []})

    async with loopback_app(wrong) as url, engine_for(url) as engine:
        with pytest.raises(UpstreamError):
            await engine.open(CHAT, chat(stream=True))


def test_bad_base_url_is_refused() -> None:
    with pytest.raises(EngineUnavailableError):
        UpstreamEngine("ftp://127.0.0.1:1")


@async_test
async def test_closing_early_drops_the_upstream_connection_so_it_stops() -> None:
    written = [0]
    stopped = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for _ in range(2000):
                chunk = {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
                await response.write(_sse(chunk))
                written[0] += 1
                await asyncio.sleep(0.005)
        except (ConnectionError, asyncio.CancelledError):
            stopped.set()
            raise
        return response

    async with loopback_app(endless) as url, engine_for(url) as engine:
        answer = await engine.open(CHAT, chat(stream=True))
        received = 0
        async for _piece in answer:
            received += 1
            if received == 3:
                break
        await answer.aclose()
        await asyncio.wait_for(stopped.wait(), 10)
    assert written[0] < 2000
