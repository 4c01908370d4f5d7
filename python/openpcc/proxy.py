"""``openpcc proxy``: a local OpenAI-compatible HTTP server that forwards every call through the private path.

Point any OpenAI SDK, curl or editor plug-in at ``http://127.0.0.1:8787/v1`` and its calls are sealed to
verified nodes by :class:`openpcc.AsyncClient` (relay, gateway, router, node); answers stream back as they
are decrypted. Endpoints: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``POST /v1/responses``
(carried as chat completions, :mod:`openpcc.responses_api`), ``GET /v1/models``; ``stream: true`` answers
are server-sent events.

It listens on loopback by default. Bound to any other address it demands a bearer token
(``Authorization: Bearer <token>``, the SDKs' ``api_key``), read from ``--token-file`` or
``OPENPCC_PROXY_TOKEN``; with a token set it is demanded on loopback too.

Bad input gets the OpenAI API's statuses and error bodies (``{"error": {"message", "type", "param",
"code"}}``) before any credit is spent: 400 for a malformed body, 404 for an unknown endpoint or model,
413 for a body above what a node accepts, 401 for a wrong token. A caller that goes away mid-stream
abandons the node's stream: the node stops generating and the unused credit comes back to the wallet.
Logs carry the endpoint, status and error type only: no body, prompt, token or client address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from openpcc.exceptions import (
    EngineError,
    OpenPCCError,
    PrivatePathError,
    ProxyAuthError,
    RequestTooLargeError,
    UsageError,
)
from openpcc.openai_forward import (
    DRAIN_LIMIT_BYTES,
    INNER_HEADERS,
    MAX_BODY_BYTES,
    NODE_ID_HEADER,
    SSE_TYPE,
    Adapter,
    Call,
    LocalAnswer,
    adapter_for,
    answer_status,
    error_body,
    error_headers,
    header,
    is_unreachable,
    openai_error,
    prepare,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
TOKEN_ENV = "OPENPCC_PROXY_TOKEN"
log = logging.getLogger("openpcc.proxy")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ProxyServer:
    """The proxy over ``client`` (an :class:`openpcc.AsyncClient`, closed by its owner).

    ``token``: the bearer token callers must present (required unless ``host`` is loopback).
    ``models``: the names ``/v1/models`` lists and the only ones calls may name (None: list the client's
    ``model``, let any name through).
    """

    def __init__(self, client: Any, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 token: str | None = None, models: Sequence[str] | None = None) -> None:
        if not is_loopback(host) and not token:
            raise UsageError(f"the proxy listens on {host}, not loopback: it needs a bearer token "
                             f"(--token-file or {TOKEN_ENV})")
        from openpcc.httpx import _models_of

        self.client = client
        self.host, self.port = host, port
        self._token = token.encode() if token else None
        self.models = _models_of(client, models)
        self._runner: web.AppRunner | None = None
        self.abandoned = 0  # streams whose caller went away before the end

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> tuple[str, int]:
        app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)  # the access log would name client addresses
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.host, self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- one call -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.path
        try:
            self._authorize(request)
            call = prepare(request.method, request.path, await _read_body(request), self.models)
        except EngineError as exc:
            log.info("%s %s: %d %s", request.method, endpoint, exc.status, exc.code or exc.error_type)
            return _error_response(exc)
        if isinstance(call, LocalAnswer):
            return web.Response(status=call.status, body=call.body, headers=dict(call.headers))
        return await self._forward(request, call)

    def _authorize(self, request: web.Request) -> None:
        if self._token is None:
            return
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self._token):
            raise ProxyAuthError("a valid bearer token is required (Authorization: Bearer <token>)")

    async def _forward(self, request: web.Request, call: Call) -> web.StreamResponse:
        try:
            answer = await self.client.request("POST", call.inner_path, headers=INNER_HEADERS, body=call.body,
                                               model=call.model, stream=call.stream)
        except OpenPCCError as exc:
            error = (PrivatePathError(f"the private path is unreachable: {exc}") if is_unreachable(exc)
                     else openai_error(exc))
            log.info("%s: %d %s (%s)", call.endpoint, error.status, error.code, type(exc).__name__)
            return _error_response(error)
        try:
            adapter = adapter_for(call, answer.status, header(answer.headers, "content-type"))
            return await self._relay(request, call, answer, adapter)
        finally:
            await answer.aclose()  # a no-op after a complete answer; abandons the node's stream otherwise

    async def _relay(self, request: web.Request, call: Call, answer: Any, adapter: Adapter) -> web.StreamResponse:
        status = answer_status(answer.status)
        headers = {"Content-Type": adapter.content_type, "Cache-Control": "no-cache"}
        node_id = getattr(answer, "node_id", "")
        if node_id:
            headers[NODE_ID_HEADER] = node_id
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        pieces = aiter(answer.aiter_bytes())
        try:
            async for piece in pieces:
                out = adapter.feed(piece)
                if out:
                    await response.write(out)
            tail = adapter.finish()
            if tail:
                await response.write(tail)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            if adapter.complete:  # the caller had it all: read on for the refund trailer
                await _drain(pieces)
                raise
            self.abandoned += 1
            log.info("%s: the caller went away mid-answer; the node's stream is abandoned", call.endpoint)
            raise
        except OpenPCCError as exc:
            log.warning("%s: the answer broke off (%s)", call.endpoint, type(exc).__name__)
            if adapter.content_type == SSE_TYPE:
                broken = PrivatePathError("the private answer broke off before its end")
                await response.write(b"data: " + error_body(broken) + b"\n\n")
        log.info("%s: %d", call.endpoint, status)
        return response


async def _drain(pieces: Any) -> None:
    """Reads what is left of a complete answer (its trailer), bounded."""
    read = 0
    with contextlib.suppress(OpenPCCError):
        async for piece in pieces:
            read += len(piece)
            if read > DRAIN_LIMIT_BYTES:
                return


async def _read_body(request: web.Request) -> bytes:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise RequestTooLargeError(f"the request body exceeds {MAX_BODY_BYTES} bytes")
    pieces, size = [], 0
    async for piece in request.content.iter_chunked(1 << 16):
        size += len(piece)
        if size > MAX_BODY_BYTES:
            raise RequestTooLargeError(f"the request body exceeds {MAX_BODY_BYTES} bytes")
        pieces.append(piece)
    return b"".join(pieces)


def _error_response(exc: EngineError) -> web.Response:
    return web.Response(status=exc.status, body=error_body(exc), headers=dict(error_headers(exc)))


# --- the command ----------------------------------------------------------------------------------

EXIT_OK, EXIT_PROFILE = 0, 2


def add_command(commands: Any) -> None:
    p = commands.add_parser(
        "proxy",
        help="serve a local OpenAI-compatible API that forwards every call through the private path",
        description=(
            "Serve POST /v1/chat/completions, /v1/completions, /v1/responses and GET /v1/models on "
            f"{DEFAULT_HOST}:{DEFAULT_PORT}, each call sealed to a verified node through the relay and gateway "
            "(docs/openai.md). Reads the [client] table of --config (default: <home>/openpcc.toml). On an "
            f"address other than loopback it demands a bearer token (--token-file or {TOKEN_ENV}). Runs until "
            "SIGTERM or Ctrl-C. Exit 2 when the profile or the token cannot be read or the address is refused."
        ),
    )
    p.add_argument("--config", metavar="FILE", help="configuration file (default: <home>/openpcc.toml)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    p.add_argument("--token-file", metavar="FILE",
                   help=f"file holding the bearer token callers must present (else {TOKEN_ENV}, if set)")
    p.add_argument("--model", action="append", dest="models", metavar="NAME",
                   help="a model name to list and accept (repeatable; default: the profile's `model`)")
    p.set_defaults(run=run)


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        token = Path(args.token_file).read_text().strip()
        if not token:
            raise UsageError(f"{args.token_file} holds no token")
        return token
    return os.environ.get(TOKEN_ENV) or None


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        token = _token(args)
        if not is_loopback(args.host) and not token:
            raise UsageError(f"--host {args.host} is not loopback: a bearer token is required "
                             f"(--token-file or {TOKEN_ENV})")
        from openpcc.client import AsyncClient

        client = AsyncClient(args.config)
        server = ProxyServer(client, host=args.host, port=args.port, token=token, models=args.models)
    except (OpenPCCError, OSError) as exc:
        print(f"openpcc proxy: {exc}", file=sys.stderr)
        return EXIT_PROFILE
    try:
        asyncio.run(_serve(server))
    except OSError as exc:
        print(f"openpcc proxy: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_PROFILE
    return EXIT_OK


async def _serve(server: ProxyServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        host, port = await server.start()
        print(json.dumps({"proxy": f"http://{host}:{port}/v1"}), flush=True)
        await stop.wait()
    finally:
        await server.stop()
        await server.client.aclose()


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ProxyServer", "add_command", "is_loopback", "run"]
