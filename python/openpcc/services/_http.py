"""The one HTTP plumbing every Python role shares (aiohttp on asyncio).

A role builds an :class:`HTTPService` from its :class:`~openpcc.config.RoleConfig`, adds its routes and
readiness checks, and calls :func:`serve` (or :meth:`HTTPService.start` in tests). The service brings:

* limits: ``max_body_bytes`` (413, checked on ``Content-Length`` and while reading),
  ``max_concurrency`` requests at once (503 beyond, never queued), ``request_timeout`` for a request's
  headers and body to arrive (408, or the connection closed while headers trickle in);
* ``GET /healthz`` (ready or not, and why) and the reference's ``GET /_health`` (``{"status":"OK"}``);
* ``GET /metrics`` in the Prometheus text format: ``openpcc_<role>_requests_total``,
  ``openpcc_<role>_request_duration_seconds``, ``openpcc_<role>_active_requests``;
* errors with stable codes (:mod:`openpcc.services.errors`): the reference's ``Error{Message}`` protobuf
  on binary routes, JSON elsewhere;
* graceful shutdown on SIGTERM/SIGINT: stop accepting, report not ready, let in-flight requests finish
  for up to ``shutdown_timeout`` seconds;
* an optional bearer token (``auth_token_file``) every request but the operations endpoints must carry;
* logs with the method, the route pattern, the status and the duration, never a body, a raw path, a
  header value or a client address (aiohttp's access log, which prints the peer address, is off).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import prometheus_client
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from openpcc.config import RoleConfig, read_key_file
from openpcc.exceptions import RequestRejectedError, SettingValueError
from openpcc.services.errors import ERROR_CODE_HEADER, ERRORS, Code

BINARY = "application/octet-stream"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ReadinessCheck = Callable[[], Awaitable[str | None]]  # None when ready, else the reason it is not

_BINARY_ROUTE = web.AppKey("openpcc_binary_routes", set)
_OPERATIONS_ROUTES = frozenset({"/healthz", "/_health", "/metrics"})
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class Health:
    ready: bool
    reasons: dict[str, str]


class HTTPService:
    """One role's HTTP server: routes plus the shared limits, health, metrics and error format."""

    def __init__(self, cfg: RoleConfig, *, logger: logging.Logger | None = None) -> None:
        self.cfg = cfg
        self.log = logger or logging.getLogger(f"openpcc.services.{cfg.label}")
        self._checks: dict[str, ReadinessCheck] = {}
        self._startups: list[Callable[[], Awaitable[None]]] = []
        self._cleanups: list[Callable[[], Awaitable[None]]] = []
        self._active = 0
        self._stopping = False
        self._started = False  # the startup actions have run (until then /healthz says "starting")
        self._runner: web.AppRunner | None = None
        #: ``(host, port)`` once bound (the port chosen when ``port = 0``).
        self.address: tuple[str, int] | None = None
        self._token = _load_token(cfg)
        # aiohttp's protocol errors name the peer and quote the raw bytes: keep only the error's type.
        self._protocol_log = logging.getLogger(f"openpcc.services.{cfg.label}.http")
        self._protocol_log.addFilter(_redact_protocol_record)
        self.registry = CollectorRegistry(auto_describe=True)
        prefix = f"openpcc_{cfg.role}"
        self._requests = Counter(
            f"{prefix}_requests", "Requests answered, by route and status", ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            f"{prefix}_request_duration_seconds", "Time from routing to the end of the response, by route",
            ["route"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self._active_gauge = Gauge(
            f"{prefix}_active_requests", "Requests and streams in flight", registry=self.registry
        )
        self.app = web.Application(
            client_max_size=cfg["max_body_bytes"], middlewares=[self._middleware]
        )
        self.app[_BINARY_ROUTE] = set()
        self.app[SERVICE] = self
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/_health", self._reference_health)
        self.app.router.add_get("/metrics", self._metrics)

    # --- building ---------------------------------------------------------

    def add_route(self, method: str, path: str, handler: Handler, *, binary: bool = False) -> None:
        """Routes ``method path`` to ``handler``. ``binary``: errors as the reference's protobuf."""
        resource = self.app.router.add_route(method, path, handler).resource
        if binary and resource is not None:
            self.app[_BINARY_ROUTE].add(resource.canonical)

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """``check()`` returns None when the role can serve, or a short reason why not (no secrets)."""
        self._checks[name] = check

    def on_startup(self, action: Callable[[], Awaitable[None]]) -> None:
        """Runs ``action`` once the socket is bound (start background tasks here)."""
        self._startups.append(action)

    def on_cleanup(self, action: Callable[[], Awaitable[None]]) -> None:
        """Runs ``action`` after the last in-flight request finished at shutdown (close stores here)."""
        self._cleanups.append(action)

    # --- running -----------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Binds ``host:port`` and serves; returns the bound address (the port when ``port = 0``)."""
        timeout = float(self.cfg["request_timeout"])
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, keepalive_timeout=timeout,
            shutdown_timeout=float(self.cfg["shutdown_timeout"]),
            max_line_size=8190, max_field_size=8190, logger=self._protocol_log,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port, backlog=128)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.address = (str(host), int(port))
        for action in self._startups:
            await action()
        self._started = True
        self.log.info("%s listening on %s:%d", self.cfg.label, host, port)
        return host, port

    async def stop(self) -> None:
        """Stops accepting, waits for in-flight requests (up to ``shutdown_timeout``), then cleans up."""
        self._stopping = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for action in reversed(self._cleanups):
            await action()
        self.log.info("%s stopped", self.cfg.label)

    @property
    def in_flight(self) -> int:
        """Requests being handled now (the operations endpoints excepted)."""
        return self._active

    async def health(self) -> Health:
        if self._stopping:
            return Health(False, {"service": "shutting down"})
        if not self._started:
            return Health(False, {"service": "starting"})
        reasons: dict[str, str] = {}
        for name, check in self._checks.items():
            try:
                reason = await check()
            except Exception as exc:  # noqa: BLE001  (a failing check means "not ready", whatever it raised)
                reason = f"check failed: {type(exc).__name__}"
            if reason is not None:
                reasons[name] = reason
        return Health(not reasons, reasons)

    # --- built-in endpoints ------------------------------------------------

    async def _healthz(self, _request: web.Request) -> web.Response:
        health = await self.health()
        body = {"ready": health.ready, "role": self.cfg.label, "reasons": health.reasons}
        return web.json_response(body, status=200 if health.ready else 503)

    async def _reference_health(self, _request: web.Request) -> web.Response:
        health = await self.health()
        if health.ready:
            return web.json_response({"status": "OK"})
        return web.json_response({"status": "NOT READY"}, status=503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=prometheus_client.generate_latest(self.registry),
            headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST},
        )

    # --- the middleware every request goes through --------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = _route_name(request)
        binary = route in request.app[_BINARY_ROUTE]
        started = time.perf_counter()
        if route in _OPERATIONS_ROUTES:
            # Cheap and read-only: answered even when overloaded or stopping, so probes see why.
            response: web.StreamResponse = await handler(request)
        elif self._token is not None and not _authorized(request, self._token):
            response = error_response(Code.UNAUTHORIZED, binary=binary)
        elif self._stopping:
            response = error_response(Code.SHUTTING_DOWN, binary=binary)
        elif self._active >= self.cfg["max_concurrency"]:
            response = error_response(Code.OVERLOADED, binary=binary)
        else:
            response = await self._handle(request, handler, binary)
        status = response.status
        elapsed = time.perf_counter() - started
        self._requests.labels(route, request.method, str(status)).inc()
        self._latency.labels(route).observe(elapsed)
        self.log.info("%s %s %d %.1fms", request.method, route, status, elapsed * 1000)
        return response

    async def _handle(self, request: web.Request, handler: Handler, binary: bool) -> web.StreamResponse:
        self._active += 1
        self._active_gauge.inc()
        try:
            declared = request.content_length
            if declared is not None and declared > self.cfg["max_body_bytes"]:
                return error_response(Code.BODY_TOO_LARGE, binary=binary)
            return await handler(request)
        except RequestRejectedError as exc:
            return error_response(Code(exc.code), exc.detail, binary=binary)
        except web.HTTPException as exc:
            return error_response(_code_for_status(exc.status), binary=binary)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  (any bug becomes a 500, never a dropped connection)
            # The type only: an exception's text may quote input.
            self.log.error("%s %s failed: %s", request.method, _route_name(request), type(exc).__name__)
            return error_response(Code.INTERNAL, binary=binary)
        finally:
            self._active -= 1
            self._active_gauge.dec()


def _load_token(cfg: RoleConfig) -> bytes | None:
    path = str(cfg["auth_token_file"])
    if not path:
        return None
    token = read_key_file(Path(path)).strip()
    if len(token) < 16:
        raise SettingValueError("auth_token_file must hold a token of at least 16 bytes")
    return token


def _authorized(request: web.Request, token: bytes) -> bool:
    presented = request.headers.get("Authorization", "").encode("latin-1", "replace")
    return hmac.compare_digest(presented, b"Bearer " + token)


def _redact_protocol_record(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    record.msg = "dropped a malformed or failed HTTP exchange (%s)"
    record.args = (type(exc).__name__ if exc is not None else "no detail",)
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    return True


def _route_name(request: web.Request) -> str:
    """The route pattern (``/lock``), never the raw path, which a client controls."""
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return resource.canonical if resource is not None else "unmatched"


def _code_for_status(status: int) -> Code:
    return {
        404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED, 413: Code.BODY_TOO_LARGE,
        415: Code.UNSUPPORTED_MEDIA_TYPE, 408: Code.REQUEST_TIMEOUT,
    }.get(status, Code.BAD_REQUEST if 400 <= status < 500 else Code.INTERNAL)


def error_response(code: Code, detail: str | None = None, *, binary: bool = False) -> web.Response:
    """The error for ``code``: the reference's ``Error{Message}`` protobuf when ``binary``, else JSON."""
    info = ERRORS[code]
    message = info.message if not detail else f"{info.message}: {detail}"
    headers = {ERROR_CODE_HEADER: str(int(code))}
    if info.status in (429, 503):
        headers["Retry-After"] = "1"
    if binary:
        from openpcc.compute import encode_message

        body = encode_message("csprotos.Error", {"Message": message})
        return web.Response(status=info.status, body=body, content_type=BINARY, headers=headers)
    text = json.dumps({"error": message, "code": int(code)})
    return web.Response(status=info.status, text=text, content_type="application/json", headers=headers)


# --- reading requests ------------------------------------------------------------


def _limits(request: web.Request) -> tuple[int, float]:
    cfg: RoleConfig = request.app[SERVICE].cfg
    return int(cfg["max_body_bytes"]), float(cfg["request_timeout"])


SERVICE = web.AppKey("openpcc_service", HTTPService)


async def iter_body(request: web.Request, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
    """The request body chunk by chunk as it arrives, within ``max_body_bytes`` and ``request_timeout``."""
    limit, timeout = _limits(request)
    deadline = asyncio.get_running_loop().time() + timeout
    received = 0
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await request.content.read(chunk_size)
        except TimeoutError:
            raise RequestRejectedError(Code.REQUEST_TIMEOUT) from None
        if not chunk:
            return
        received += len(chunk)
        if received > limit:
            raise RequestRejectedError(Code.BODY_TOO_LARGE)
        yield chunk


async def read_body(request: web.Request) -> bytes:
    """The whole request body, within ``max_body_bytes`` and ``request_timeout``."""
    return b"".join([chunk async for chunk in iter_body(request)])


def require_binary(request: web.Request) -> None:
    """Refuses a body that is not ``application/octet-stream``, as the reference's binary endpoints do."""
    if request.content_type != BINARY:
        raise RequestRejectedError(Code.UNSUPPORTED_MEDIA_TYPE)


def binary_response(body: bytes, status: int = 200) -> web.Response:
    """A binary (protobuf) answer with an explicit Content-Length, as the reference's ``WriteBinary``."""
    return web.Response(status=status, body=body, content_type=BINARY)


# --- the client side ---------------------------------------------------------------


def client_session(*, timeout: float = 30.0, connect_timeout: float = 9.0, limit: int = 100) -> ClientSession:
    """An aiohttp client for calling other roles: bounded time and connections, no proxy variables
    (a role never routes its peers' traffic through whatever ``HTTP_PROXY`` says)."""
    return ClientSession(
        timeout=ClientTimeout(total=timeout, connect=connect_timeout),
        connector=TCPConnector(limit=limit),
        trust_env=False,
        auto_decompress=False,
    )


# --- running a role as a process ------------------------------------------------------


async def run_until_signalled(service: HTTPService, ready: Callable[[str, int], None] | None = None) -> None:
    """Serves until SIGTERM or SIGINT, then shuts down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        host, port = await service.start()
        if ready is not None:
            ready(host, port)
        await stop.wait()
        service.log.info("%s: signal received, finishing in-flight requests", service.cfg.label)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
        await service.stop()


def configure_logging(level: str) -> None:
    """Plain ``time level logger message`` lines on stderr; aiohttp's own access log stays off."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("aiohttp.access").disabled = True
