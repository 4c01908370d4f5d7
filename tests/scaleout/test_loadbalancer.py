"""The HAProxy configuration openpcc generates, run by the real HAProxy in its own process (stopped by
PID): HAProxy accepts it, streams bodies piece by piece with their trailers, adds no client address,
retries a connection that never reached a replica on another one, never resends a request a replica may
have processed, and takes a replica whose health check fails out of rotation."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web
from openpcc import config
from openpcc.exceptions import LoadBalancerError
from openpcc.services import _http
from openpcc.services._trailers import TrailerStreamResponse, open_stream
from openpcc.services.loadbalancer import HAProxy, Pool, Timeouts, haproxy_config
from support.scaleout import require_haproxy
from support.servers import free_port

LOOPBACK = "127.0.0.1"


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))  # type: ignore[arg-type]


def test_haproxy_accepts_the_generated_configuration(tmp_path: Path) -> None:
    binary = require_haproxy()
    pools = [Pool("gateway", LOOPBACK, 3200, ((LOOPBACK, 3201), (LOOPBACK, 3202))),
             Pool("router", "::1", 3600, (("::1", 3601),), health_path=None)]
    text = haproxy_config(pools)
    (tmp_path / "h.cfg").write_text(text)
    check = subprocess.run([binary, "-c", "-f", str(tmp_path / "h.cfg")], capture_output=True, text=True,
                           timeout=30, check=False)
    assert check.returncode == 0, check.stderr
    assert "retry-on conn-failure" in text
    assert "server gateway-2 127.0.0.1:3202 check" in text
    assert "server router-1 [::1]:3601\n" in text
    # Nothing that would hand client addresses to the roles or to a log, nor buffer bodies.
    directives = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for absent in ("forwardfor", "http-buffer-request", "\n    log ", "empty-response", "all-retryable-errors"):
        assert absent not in directives


@pytest.mark.parametrize(
    ("pool", "reason"),
    [
        (lambda: Pool("gateway one", LOOPBACK, 3200, ((LOOPBACK, 3201),)), "pool name"),
        (lambda: Pool("gateway", LOOPBACK, 3200, ()), "no replicas"),
        (lambda: Pool("gateway", LOOPBACK, 70000, ((LOOPBACK, 3201),)), "port"),
        (lambda: Pool("gateway", "127.0.0.1\n    log x", 3200, ((LOOPBACK, 3201),)), "host"),
        (lambda: Pool("gateway", LOOPBACK, 3200, ((LOOPBACK, 3201),), health_path="/x y"), "health_path"),
    ],
)
def test_bad_pools_are_refused_before_any_file_is_written(pool: object, reason: str) -> None:
    with pytest.raises(LoadBalancerError, match=reason):
        pool()  # type: ignore[operator]


def test_two_pools_with_one_name_are_refused() -> None:
    p = Pool("gateway", LOOPBACK, 3200, ((LOOPBACK, 3201),))
    with pytest.raises(LoadBalancerError, match="differ"):
        haproxy_config([p, p])


# --- a streaming replica in this process, HAProxy in front -----------------------------------------


class Replica:
    """An aiohttp service on a thread of its own: ``POST /`` streams two pieces, the second only once
    the test allows it, then a trailer; its ``GET /healthz`` answers 503 once :attr:`healthy` is cleared."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        cfg = config.load(None, env={"OPENPCC_HOME": str(tmp_path), "OPENPCC_ROUTER_PORT": "0"}).role("router")
        self.name = name
        self.service = _http.HTTPService(cfg)
        self.healthy = True
        self.requests = 0
        self.seen_headers: list[dict[str, str]] = []
        self.loop = asyncio.new_event_loop()
        self.proceed = asyncio.Event()
        self.service.add_route("POST", "/", self._stream)
        self.service.add_readiness_check("test", self._readiness)
        self.port = 0

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.seen_headers.append(dict(request.headers))
        received = await _http.read_body(request)
        response = TrailerStreamResponse(["X-Refund"], headers={"X-Replica": self.name})
        await response.prepare(request)
        await response.write(b"first:" + received)
        await self.proceed.wait()
        await response.write(b"second")
        await response.finish({"X-Refund": "AAEC"})
        return response

    async def _readiness(self) -> str | None:
        return None if self.healthy else "told to fail"

    def allow_second_piece(self) -> None:
        self.loop.call_soon_threadsafe(self.proceed.set)

    @contextmanager
    def running(self) -> Iterator[Replica]:
        thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        thread.start()
        _, self.port = asyncio.run_coroutine_threadsafe(self.service.start(), self.loop).result(30)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            thread.join(10)


@contextmanager
def balancer(tmp_path: Path, replicas: list[tuple[str, int]], **timeouts: float) -> Iterator[HAProxy]:
    require_haproxy()
    proxy = HAProxy([Pool("role", LOOPBACK, free_port(), tuple(replicas))], tmp_path / "lb", Timeouts(**timeouts))  # type: ignore[arg-type]
    with proxy:
        yield proxy


def front_url(proxy: HAProxy) -> str:
    return f"http://{LOOPBACK}:{proxy.pools[0].listen_port}/"


async def prompt() -> AsyncIterator[bytes]:
    yield b"pro"
    yield b"mpt"


def test_bodies_stream_piece_by_piece_and_trailers_cross(tmp_path: Path) -> None:
    with Replica(tmp_path, "a").running() as replica, balancer(tmp_path, [(LOOPBACK, replica.port)]) as proxy:

        async def body() -> None:
            async with open_stream("POST", front_url(proxy), body=prompt(),
                                   headers=[("X-Forwarded-For", "203.0.113.9")]) as resp:
                assert resp.status == 200
                assert resp.header("x-replica") == "a"
                chunks = resp.iter_body()
                # The first piece arrives while the replica still holds back the second: nothing is buffered.
                assert await chunks.__anext__() == b"first:prompt"
                replica.allow_second_piece()
                assert b"".join([c async for c in chunks]) == b"second"
                assert resp.trailers == {"x-refund": "AAEC"}

        run(body())
        headers = {k.lower(): v for k, v in replica.seen_headers[0].items()}
        # HAProxy adds no address of its own; what a client sent is the client's business (the relay drops it).
        assert headers.get("x-forwarded-for") == "203.0.113.9"
        assert "forwarded" not in headers and "via" not in headers


def closed_port() -> int:
    return free_port()  # bound then released: nothing listens there


def test_a_connection_that_never_reached_a_replica_is_retried_on_another(tmp_path: Path) -> None:
    with Replica(tmp_path, "live").running() as live:
        live.allow_second_piece()
        # No health checks: the dead replica stays in rotation, so every request routed to it must be retried.
        pool = Pool("role", LOOPBACK, free_port(), ((LOOPBACK, closed_port()), (LOOPBACK, live.port)), health_path=None)
        require_haproxy()
        with HAProxy([pool], tmp_path / "lb") as proxy:

            async def one() -> int:
                async with open_stream("POST", front_url(proxy), body=b"x") as resp:
                    await resp.read()
                    return resp.status

            statuses = [run(one()) for _ in range(6)]
        assert statuses == [200] * 6
        assert live.requests == 6


class Swallower:
    """Accepts connections, reads a request and closes without answering: a replica that may have
    processed the request (and spent its credit) before dying."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    piece = conn.recv(4096)
                    if not piece:
                        break
                    data += piece
                if data:
                    self.requests += 1

    @contextmanager
    def running(self) -> Iterator[Swallower]:
        self.thread.start()
        try:
            yield self
        finally:
            self._stop = True
            self.thread.join(5)
            self.sock.close()


def test_a_request_a_replica_may_have_processed_is_never_sent_again(tmp_path: Path) -> None:
    with Replica(tmp_path, "live").running() as live, Swallower().running() as swallower:
        live.allow_second_piece()
        pool = Pool("role", LOOPBACK, free_port(), ((LOOPBACK, swallower.port), (LOOPBACK, live.port)), health_path=None)
        require_haproxy()
        with HAProxy([pool], tmp_path / "lb") as proxy:

            async def one() -> int:
                async with open_stream("POST", front_url(proxy), body=b"x") as resp:
                    await resp.read()
                    return resp.status

            statuses = [run(one()) for _ in range(6)]
    failed = statuses.count(502)
    assert failed >= 1 and failed + statuses.count(200) == 6, statuses
    # Each request reached exactly one replica: the swallowed ones were answered 502, not resent.
    assert swallower.requests == failed
    assert live.requests == 6 - failed


def test_a_replica_failing_its_health_check_leaves_the_rotation(tmp_path: Path) -> None:
    with Replica(tmp_path, "a").running() as a, Replica(tmp_path, "b").running() as b:
        a.allow_second_piece()
        b.allow_second_piece()
        a.healthy = False
        with balancer(tmp_path, [(LOOPBACK, a.port), (LOOPBACK, b.port)], check_interval=0.1, fall=1, rise=1) as proxy:

            async def replica_of_one() -> str:
                async with open_stream("POST", front_url(proxy), body=b"x") as resp:
                    await resp.read()
                    return resp.header("x-replica") or ""

            async def settle() -> None:
                await asyncio.sleep(1.0)  # ten check intervals

            run(settle())
            assert {run(replica_of_one()) for _ in range(6)} == {"b"}
