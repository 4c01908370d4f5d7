"""Streaming with trailers: our aiohttp response writes them, our h11 client reads them, chunk by chunk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from openpcc import config
from openpcc.exceptions import HTTPStreamError, TrailerError
from openpcc.services import _http
from openpcc.services._trailers import TrailerStreamResponse, open_stream


def service(tmp_path: Path) -> tuple[_http.HTTPService, asyncio.Event]:
    cfg = config.load(None, env={"OPENPCC_HOME": str(tmp_path), "OPENPCC_ROUTER_PORT": "0"}).role("router")
    svc = _http.HTTPService(cfg)
    proceed = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        received = await _http.read_body(request)
        response = TrailerStreamResponse(["X-Refund"], headers={"X-Node-ID": "n1"})
        await response.prepare(request)
        await response.write(b"first:" + received)
        await proceed.wait()  # the client must have the first chunk before the rest exists
        await response.write(b"second")
        await response.finish({"X-Refund": "AAEC"})
        return response

    async def undeclared(request: web.Request) -> web.StreamResponse:
        response = TrailerStreamResponse(["X-Refund"])
        await response.prepare(request)
        try:
            await response.finish({"X-Other": "1"})
        except TrailerError:
            await response.finish({"X-Refund": "ok"})
        return response

    svc.add_route("POST", "/", stream)
    svc.add_route("GET", "/undeclared", undeclared)
    return svc, proceed


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=60))  # type: ignore[arg-type]


def test_trailers_arrive_after_a_body_streamed_chunk_by_chunk(tmp_path: Path) -> None:
    svc, proceed = service(tmp_path)

    async def body_chunks() -> AsyncIterator[bytes]:
        yield b"pro"
        yield b"mpt"

    async def body() -> None:
        host, port = await svc.start()
        try:
            async with open_stream("POST", f"http://{host}:{port}/", body=body_chunks()) as resp:
                assert resp.status == 200
                assert resp.header("x-node-id") == "n1"
                assert resp.header("trailer") == "X-Refund"
                chunks = resp.iter_body()
                assert await chunks.__anext__() == b"first:prompt"
                assert resp.trailers == {}
                proceed.set()
                rest = b"".join([c async for c in chunks])
                assert rest == b"second"
                assert resp.trailers == {"x-refund": "AAEC"}
        finally:
            await svc.stop()

    run(body())


def test_an_unannounced_trailer_is_refused_and_the_stream_still_ends_well(tmp_path: Path) -> None:
    svc, _ = service(tmp_path)

    async def body() -> None:
        host, port = await svc.start()
        try:
            async with open_stream("GET", f"http://{host}:{port}/undeclared") as resp:
                assert await resp.read() == b""
                assert resp.trailers == {"x-refund": "ok"}
        finally:
            await svc.stop()

    run(body())


def test_aiohttp_clients_still_read_the_body(tmp_path: Path) -> None:
    svc, proceed = service(tmp_path)
    proceed.set()

    async def body() -> None:
        host, port = await svc.start()
        try:
            async with aiohttp.ClientSession() as s, s.post(f"http://{host}:{port}/", data=b"x") as r:
                assert await r.read() == b"first:xsecond"
        finally:
            await svc.stop()

    run(body())


@pytest.mark.parametrize(
    ("names", "trailers", "reason"),
    [
        (["X Refund"], {}, "token"),
        (["X-Refund"], {"X-Refund": "a\r\nInjected: 1"}, "cannot carry"),
        (["X-Refund"], {"X-Refund": "fine"}, "prepared"),
    ],
)
def test_names_and_values_http_cannot_carry_are_refused(
    names: list[str], trailers: dict[str, str], reason: str
) -> None:
    async def body() -> None:
        await TrailerStreamResponse(names).finish(trailers)  # the name fails at once, the value on finish

    with pytest.raises(TrailerError, match=reason):
        run(body())


def test_client_errors_are_typed_and_name_no_url() -> None:
    async def body() -> None:
        with pytest.raises(HTTPStreamError) as info:
            async with open_stream("GET", "http://127.0.0.1:1/secret-token"):
                pass
        assert "secret-token" not in str(info.value)
        with pytest.raises(HTTPStreamError):
            async with open_stream("GET", "ftp://127.0.0.1/"):
                pass

        async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(garbage, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(HTTPStreamError):
                async with open_stream("GET", f"http://127.0.0.1:{port}/"):
                    pass
        finally:
            server.close()
            await server.wait_closed()

    run(body())
