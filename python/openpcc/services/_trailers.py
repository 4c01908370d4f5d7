"""Streaming with HTTP/1.1 trailers, which aiohttp lacks: the reference carries refunds in trailers
(``X-Refund-Amount`` node → router, ``X-Refund`` router → client; spec §1.4).

* :class:`TrailerStreamResponse`: an aiohttp streaming response whose chunked body ends with trailers.
  aiohttp always ends a chunked body with an empty trailer section, so this writes the last chunk itself
  (through the writer ``prepare()`` returns, with its ``chunked`` switch turned off for that one write); ``tests/services/test_trailers.py`` fails if aiohttp changes under it.
* :func:`open_stream`: a client on h11 (a sans-IO HTTP/1.1 library) over asyncio streams that yields the
  response body chunk by chunk as it arrives and then its trailers. aiohttp's client reads and drops them.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

import h11
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from openpcc.exceptions import HTTPStreamError, TrailerError

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FIELD_VALUE = re.compile(r"^[\t\x20-\x7e\x80-\xff]*$")
READ_SIZE = 1 << 16


def _check_field(name: str, value: str) -> None:
    if not _TOKEN.match(name):
        raise TrailerError("a trailer name must be an HTTP token")
    if not _FIELD_VALUE.match(value):
        raise TrailerError(f"trailer {name} has characters HTTP cannot carry")


class TrailerStreamResponse(web.StreamResponse):
    """A chunked response that announces ``trailer_names`` and ends with :meth:`finish`."""

    def __init__(
        self, trailer_names: Iterable[str], *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status=status, headers=headers)
        names = list(trailer_names)
        for name in names:
            _check_field(name, "")
        self._announced = {n.lower() for n in names}
        self.headers["Trailer"] = ", ".join(names)
        self.enable_chunked_encoding()
        self._writer: AbstractStreamWriter | None = None

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        writer = await super().prepare(request)
        self._writer = self._writer or writer
        return writer

    async def finish(self, trailers: Mapping[str, str]) -> None:
        """Ends the body with ``trailers`` (each announced in the ``Trailer`` header)."""
        lines = []
        for name, value in trailers.items():
            if name.lower() not in self._announced:
                raise TrailerError(f"trailer {name} was not announced")
            _check_field(name, value)
            lines.append(f"{name}: {value}\r\n")
        writer = self._writer
        if writer is None or not hasattr(writer, "chunked") or not writer.chunked:
            raise TrailerError("finish() needs a prepared chunked response")
        writer.chunked = False  # from here on our bytes go out as they are: the last chunk, then trailers
        await writer.write(("0\r\n" + "".join(lines) + "\r\n").encode("latin-1"))
        await self.write_eof()


class StreamedResponse:
    """A response whose body is read as it arrives; ``trailers`` is filled once the body has ended."""

    def __init__(
        self, conn: h11.Connection, reader: asyncio.StreamReader, head: h11.Response, read_timeout: float
    ) -> None:
        self.status = head.status_code
        self.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers]
        self.trailers: dict[str, str] = {}
        self._conn = conn
        self._reader = reader
        self._read_timeout = read_timeout

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    async def iter_body(self) -> AsyncIterator[bytes]:
        while True:
            event = await _next_event(self._conn, self._reader, self._read_timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.trailers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
                return
            else:
                raise HTTPStreamError("the peer closed the connection before the end of the body")

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_body()])


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader, timeout: float) -> object:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            raise HTTPStreamError("the peer's answer is not valid HTTP/1.1") from None
        if event is not h11.NEED_DATA:
            return event
        try:
            async with asyncio.timeout(timeout):
                data = await reader.read(READ_SIZE)
        except TimeoutError:
            raise HTTPStreamError("the peer did not answer in time") from None
        conn.receive_data(data)


@asynccontextmanager
async def open_stream(
    method: str,
    url: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | AsyncIterable[bytes] = b"",
    connect_timeout: float = 9.0,
    read_timeout: float = 300.0,
    max_header_bytes: int = 64 * 1024,
) -> AsyncIterator[StreamedResponse]:
    """Sends one request (a streamed body goes out chunked) and yields the response once its head is in.

    One connection per exchange, closed when the block ends. Errors are :class:`HTTPStreamError` and
    name no URL (it may carry a token).
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPStreamError("only http:// and https:// URLs are supported")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await asyncio.open_connection(
                parts.hostname, port, ssl=ssl.create_default_context() if parts.scheme == "https" else None
            )
    except (OSError, TimeoutError) as exc:
        raise HTTPStreamError(f"cannot connect: {type(exc).__name__}") from None
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=max_header_bytes)
    try:
        await _send_request(conn, writer, method, parts, list(headers), body)
        head = await _next_event(conn, reader, read_timeout)
        if not isinstance(head, h11.Response):
            raise HTTPStreamError("the peer closed the connection without answering")
        yield StreamedResponse(conn, reader, head, read_timeout)
    except (OSError, h11.LocalProtocolError) as exc:
        raise HTTPStreamError(f"the exchange failed: {type(exc).__name__}") from None
    finally:
        writer.close()


async def _send_request(
    conn: h11.Connection,
    writer: asyncio.StreamWriter,
    method: str,
    parts: urllib.parse.SplitResult,
    headers: list[tuple[str, str]],
    body: bytes | AsyncIterable[bytes],
) -> None:
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    framing = ("content-length", str(len(body))) if isinstance(body, bytes) else ("transfer-encoding", "chunked")
    request = h11.Request(
        method=method, target=target, headers=[("host", parts.netloc), *headers, framing, ("connection", "close")]
    )
    writer.write(conn.send(request) or b"")
    if isinstance(body, bytes):
        if body:
            writer.write(conn.send(h11.Data(data=body)) or b"")
    else:
        async for chunk in body:
            if chunk:
                writer.write(conn.send(h11.Data(data=chunk)) or b"")
                await writer.drain()
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
