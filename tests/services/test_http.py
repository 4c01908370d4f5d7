"""openpcc.services._http: limits, health, metrics, error format, graceful shutdown, clean logs.

Each test starts a real aiohttp server on 127.0.0.1 (a free port) inside the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openpcc import config
from openpcc.compute import decode_message
from openpcc.exceptions import RequestRejectedError
from openpcc.services import _http
from openpcc.services.errors import ERROR_CODE_HEADER, ERRORS, Code, list_error_codes

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def role_config(tmp_path: Path, **overrides: Any) -> config.RoleConfig:
    env = {"OPENPCC_HOME": str(tmp_path), "OPENPCC_NONCELOCK_PORT": "0"}
    env |= {f"OPENPCC_NONCELOCK_{k.upper()}": str(v) for k, v in overrides.items()}
    return config.load(None, env=env).role("noncelock")


def build(tmp_path: Path, **overrides: Any) -> _http.HTTPService:
    service = _http.HTTPService(role_config(tmp_path, **overrides))

    async def echo(request: web.Request) -> web.Response:
        return _http.binary_response(await _http.read_body(request))

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("s", "0.5")))
        return web.Response(text="done")

    async def boom(_request: web.Request) -> web.Response:
        raise RuntimeError("secret-in-exception-text")

    async def reject(_request: web.Request) -> web.Response:
        raise RequestRejectedError(Code.NONCE_LOCKED)

    service.add_route("POST", "/echo", echo, binary=True)
    service.add_route("GET", "/slow", slow)
    service.add_route("GET", "/boom", boom)
    service.add_route("POST", "/reject", reject, binary=True)
    return service


@asynccontextmanager
async def running(service: _http.HTTPService) -> AsyncIterator[str]:
    host, port = await service.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        await service.stop()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(200):  # bounded: 10 s
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in 10 s")


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), timeout=60))


def test_healthz_reports_readiness_and_why(tmp_path: Path) -> None:
    service = build(tmp_path)
    state: dict[str, str | None] = {"store": "store not opened"}

    async def check() -> str | None:
        return state["store"]

    service.add_readiness_check("store", check)

    async def body() -> None:
        async with running(service) as url, aiohttp.ClientSession() as client:
            async with client.get(url + "/healthz") as resp:
                assert resp.status == 503
                assert await resp.json() == {
                    "ready": False, "role": "noncelock", "reasons": {"store": "store not opened"},
                }
            async with client.get(url + "/_health") as resp:
                assert resp.status == 503
            state["store"] = None
            async with client.get(url + "/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["ready"] is True
            async with client.get(url + "/_health") as resp:
                assert (resp.status, await resp.json()) == (200, {"status": "OK"})

    run(body)


def test_metrics_count_requests_and_latency_by_route(tmp_path: Path) -> None:
    service = build(tmp_path)

    async def body() -> None:
        async with running(service) as url, aiohttp.ClientSession() as client:
            for _ in range(3):
                async with client.post(url + "/echo", data=b"x", headers={"Content-Type": _http.BINARY}) as r:
                    assert r.status == 200
            async with client.get(url + "/nowhere/secret-path") as r:
                assert r.status == 404
            async with client.get(url + "/metrics") as r:
                text = await r.text()
        assert 'openpcc_noncelock_requests_total{method="POST",route="/echo",status="200"} 3.0' in text
        assert 'openpcc_noncelock_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
        assert 'openpcc_noncelock_request_duration_seconds_count{route="/echo"} 3.0' in text
        assert "openpcc_noncelock_active_requests" in text
        assert "secret-path" not in text

    run(body)


def test_errors_have_stable_codes_in_json_and_in_the_reference_protobuf(tmp_path: Path) -> None:
    service = build(tmp_path)

    async def body() -> None:
        async with running(service) as url, aiohttp.ClientSession() as client:
            async with client.get(url + "/nowhere") as r:
                assert r.status == 404 and r.headers[ERROR_CODE_HEADER] == "204"
                assert await r.json() == {"error": "not found", "code": 204}
            async with client.post(url + "/slow") as r:
                assert r.status == 405 and r.headers[ERROR_CODE_HEADER] == "205"
            async with client.get(url + "/boom") as r:
                assert r.status == 500 and (await r.json())["code"] == 399
                assert "secret-in-exception-text" not in await r.text()
            async with client.post(url + "/reject") as r:
                assert r.status == 409 and r.headers[ERROR_CODE_HEADER] == "401"
                assert r.content_type == _http.BINARY
                assert decode_message("csprotos.Error", await r.read()) == {"Message": "nonce is locked"}

    run(body)


def test_bodies_over_the_limit_get_413_declared_or_streamed(tmp_path: Path) -> None:
    service = build(tmp_path, max_body_bytes=1000)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * 400

    async def body() -> None:
        async with running(service) as url, aiohttp.ClientSession() as client:
            async with client.post(url + "/echo", data=b"x" * 1000) as r:
                assert r.status == 200 and len(await r.read()) == 1000
            async with client.post(url + "/echo", data=b"x" * 1001) as r:
                assert r.status == 413 and r.headers[ERROR_CODE_HEADER] == "201"
            async with client.post(url + "/echo", data=chunks()) as r:  # chunked: no Content-Length
                assert r.status == 413 and r.headers[ERROR_CODE_HEADER] == "201"

    run(body)


def test_requests_beyond_max_concurrency_get_503_at_once(tmp_path: Path) -> None:
    service = build(tmp_path, max_concurrency=2)

    async def body() -> None:
        async with running(service) as url, aiohttp.ClientSession() as client:

            async def get(path: str) -> int:
                async with client.get(url + path) as r:
                    await r.read()
                    return r.status

            slow = [asyncio.create_task(get("/slow?s=1")) for _ in range(2)]
            await until(lambda: service.in_flight == 2)
            assert await get("/slow?s=0") == 503
            assert await get("/metrics") == 200  # operations endpoints still answer
            assert sorted(await asyncio.gather(*slow)) == [200, 200]
            assert await get("/slow?s=0") == 200

    run(body)


def test_a_body_that_trickles_in_gets_408(tmp_path: Path) -> None:
    service = build(tmp_path, request_timeout=0.5)

    async def body() -> None:
        async with running(service) as url:
            port = int(url.rsplit(":", 1)[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout=5)
            assert b" 408 " in status_line
            writer.close()

    run(body)


def test_headers_that_trickle_in_get_the_connection_closed(tmp_path: Path) -> None:
    service = build(tmp_path, request_timeout=0.5)

    async def body() -> None:
        async with running(service) as url:
            port = int(url.rsplit(":", 1)[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            loop = asyncio.get_running_loop()
            started = loop.time()
            closed = False
            for piece in [b"GET /slow HTTP/1.1\r\n", b"Host: x\r\n"] + [b"X-A: b\r\n"] * 20:
                try:
                    writer.write(piece)
                    await writer.drain()
                except ConnectionError:
                    closed = True
                    break
                if reader.at_eof():
                    closed = True
                    break
                await asyncio.sleep(0.2)
            if not closed:
                closed = await asyncio.wait_for(reader.read(), timeout=5) == b""
            assert closed
            assert loop.time() - started < 3.5
            writer.close()

    run(body)


def test_shutdown_finishes_in_flight_requests_and_refuses_new_ones(tmp_path: Path) -> None:
    service = build(tmp_path, shutdown_timeout=5)

    async def body() -> None:
        host, port = await service.start()
        url = f"http://{host}:{port}"
        async with aiohttp.ClientSession() as client:

            async def get() -> tuple[int, str]:
                async with client.get(url + "/slow?s=1") as r:
                    return r.status, await r.text()

            in_flight = asyncio.create_task(get())
            await until(lambda: service.in_flight == 1)
            stopping = asyncio.create_task(service.stop())
            await asyncio.sleep(0)
            assert (await service.health()).reasons == {"service": "shutting down"}
            assert await in_flight == (200, "done")
            await stopping
            with pytest.raises(aiohttp.ClientConnectionError):
                async with client.get(url + "/healthz"):
                    pass

    run(body)


def test_logs_never_carry_bodies_paths_headers_or_client_addresses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    canary = "CANARY-7f3a9c"
    service = build(tmp_path, max_body_bytes=64)
    ports: list[int] = []

    async def raw(request: bytes, port: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ports.append(writer.get_extra_info("sockname")[1])
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        writer.close()
        return answer

    async def body() -> None:
        async with running(service) as url:
            port = int(url.rsplit(":", 1)[1])
            b = canary.encode()
            requests = [
                b"POST /echo?q=" + b + b" HTTP/1.1\r\nHost: x\r\nX-Secret: " + b
                + b"\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + b[:13],
                b"GET /" + b + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /boom HTTP/1.1\r\nHost: " + b + b"\r\nConnection: close\r\n\r\n",
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
                + b * 8,
                b"GET /" + b + b"\x00 HTTP/1.1\r\n" + b + b"\r\n\r\n",  # not HTTP at all
            ]
            for request in requests:
                await raw(request, port)

    with caplog.at_level(logging.DEBUG):
        run(body)
    logged = "\n".join(r.getMessage() + " " + repr(r.args) + " " + (r.exc_text or "") for r in caplog.records)
    assert caplog.records, "the service logged nothing: the test would prove nothing"
    assert canary not in logged
    for port in ports:
        assert not re.search(rf"\b{port}\b", logged), "a client port reached the logs"


def test_every_error_code_has_a_status_a_message_and_documentation() -> None:
    docs = DOCS.read_text()
    codes = list_error_codes()
    assert len({c for c, _, _ in codes}) == len(codes) == len(Code)
    for code, status, message in codes:
        assert 400 <= status < 600 and message
        assert code // 100 in (2, 3, 4, 5), f"code {code} is outside the documented ranges"
        assert re.search(rf"^\| {code} \| {status} \| {re.escape(message)} \| \S", docs, re.MULTILINE), (
            f"docs/errors.md has no row for code {code}"
        )
    assert set(ERRORS) == set(Code)


def test_the_client_session_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")

    async def body() -> None:
        async with _http.client_session(timeout=5) as session:
            assert session.trust_env is False

    run(body)


def test_json_error_bodies_decode_as_the_reference_json_error(tmp_path: Path) -> None:
    response = _http.error_response(Code.NOT_FOUND)
    assert json.loads(response.text or "")["error"] == "not found"


def test_a_configured_bearer_token_is_required_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = "tok-" + "9" * 28
    token_file = tmp_path / "keys" / "noncelock.token"
    config.write_key_file(token_file, token.encode() + b"\n")
    service = build(tmp_path, auth_token_file=token_file)

    async def body() -> None:
        async with running(service) as url, aiohttp.ClientSession() as client:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
                async with client.post(url + "/echo", data=b"x", headers=headers) as r:
                    assert r.status == 401 and r.headers[ERROR_CODE_HEADER] == "207"
            async with client.post(url + "/echo", data=b"x", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
            async with client.get(url + "/healthz") as r:  # probes need no token
                assert r.status == 200

    with caplog.at_level(logging.DEBUG):
        run(body)
    assert token not in caplog.text


def test_a_token_file_others_can_read_or_a_short_token_is_refused(tmp_path: Path) -> None:
    from openpcc.exceptions import InsecureFileError, SettingValueError

    short = tmp_path / "keys" / "short.token"
    config.write_key_file(short, b"abc")
    with pytest.raises(SettingValueError):
        build(tmp_path, auth_token_file=short)
    loose = tmp_path / "keys" / "loose.token"
    config.write_key_file(loose, b"x" * 32)
    loose.chmod(0o644)
    with pytest.raises(InsecureFileError):
        build(tmp_path, auth_token_file=loose)
