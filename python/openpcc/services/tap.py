"""A transparent TCP tap for ``openpcc demo``: it sits on one hop (e.g. relay → gateway), passes every
byte on unchanged and records what the receiving role saw besides the body: each HTTP/1.1 request and
response head, the trailers, and the byte counts. Bodies are never kept: the parser only follows their
framing (``Content-Length`` or chunked) to find the next head.

It runs on its own event loop thread, listens on loopback and is stopped by :meth:`TapSet.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

MAX_HEAD = 64 * 1024
HOST = "127.0.0.1"


@dataclass
class Message:
    """One request or response head (start line and fields) and its trailers, in arrival order."""

    start_line: str
    headers: list[tuple[str, str]]
    trailers: list[tuple[str, str]] = field(default_factory=list)


class _Framing:
    """Follows HTTP/1.1 framing of one direction of a connection; records heads and trailers only."""

    def __init__(self, is_request: bool, record: Callable[[Message], None]) -> None:
        self.is_request = is_request
        self.record = record
        self.buffer = bytearray()
        self.state = "head"
        self.remaining = 0
        self.current: Message | None = None
        self.broken = False  # not HTTP/1.1 as expected: pass bytes on, stop parsing

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        self.buffer += data
        progress = True
        while progress and not self.broken:
            progress = self._step()

    def _line(self) -> bytes | None:
        end = self.buffer.find(b"\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self.broken = True
            return None
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def _step(self) -> bool:
        if self.state == "head":
            return self._head()
        if self.state == "body":
            take = min(self.remaining, len(self.buffer))
            del self.buffer[:take]
            self.remaining -= take
            if self.remaining == 0:
                self.state = "head"
                return True
            return False
        if self.state == "chunk-size":
            line = self._line()
            if line is None:
                return False
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.broken = True
                return False
            self.state, self.remaining = ("trailers", 0) if size == 0 else ("chunk-data", size + 2)
            return True
        if self.state == "chunk-data":
            take = min(self.remaining, len(self.buffer))
            del self.buffer[:take]
            self.remaining -= take
            if self.remaining == 0:
                self.state = "chunk-size"
                return True
            return False
        if self.state == "trailers":
            line = self._line()
            if line is None:
                return False
            if line == b"":
                self.state = "head"
            elif self.current is not None:
                self.current.trailers.append(_field(line))
            return True
        if self.state == "until-close":
            self.buffer.clear()
        return False

    def _head(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self.broken = True
            return False
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        del self.buffer[: end + 4]
        start = lines[0].decode("latin-1")
        headers = [_field(line) for line in lines[1:] if line]
        self.current = Message(start, headers)
        self.record(self.current)
        names = {k.lower(): v for k, v in headers}
        if "chunked" in names.get("transfer-encoding", "").lower():
            self.state = "chunk-size"
        elif "content-length" in names:
            try:
                self.remaining = int(names["content-length"])
            except ValueError:
                self.broken = True
                return False
            self.state = "body" if self.remaining else "head"
        elif self.is_request or _no_body_status(start):
            self.state = "head"
        else:
            self.state = "until-close"
        return True


def _field(line: bytes) -> tuple[str, str]:
    name, _, value = line.decode("latin-1").partition(":")
    return name.strip(), value.strip()


def _no_body_status(start: str) -> bool:
    parts = start.split()
    return len(parts) > 1 and (parts[1].startswith("1") or parts[1] in ("204", "304"))


@dataclass
class Exchange:
    """One request and its response on a tapped hop."""

    request: Message
    response: Message | None = None


class Tap:
    """One hop: listens on ``port`` and forwards to ``target_port``, counting and recording heads."""

    def __init__(self, name: str, target_port: int) -> None:
        self.name = name
        self.target_port = target_port
        self.port = 0
        self.bytes_up = 0  # towards the role behind the tap
        self.bytes_down = 0
        self.exchanges: list[Exchange] = []
        self._server: asyncio.Server | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            writer.close()
            return
        pending: list[Exchange] = []

        def on_request(message: Message) -> None:
            exchange = Exchange(message)
            pending.append(exchange)
            with self._lock:
                self.exchanges.append(exchange)

        def on_response(message: Message) -> None:
            if _no_body_status(message.start_line) and message.start_line.split()[1].startswith("1"):
                return  # an interim answer (100 Continue): the final one follows
            if pending:
                pending.pop(0).response = message

        await asyncio.gather(
            self._pipe(reader, up_writer, _Framing(True, on_request), up=True),
            self._pipe(up_reader, writer, _Framing(False, on_response), up=False),
            return_exceptions=True,
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framing: _Framing, *, up: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                framing.feed(data)
                with self._lock:
                    if up:
                        self.bytes_up += len(data)
                    else:
                        self.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class TapSet:
    """Taps on several hops, served by one event loop thread."""

    def __init__(self) -> None:
        self.taps: dict[str, Tap] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="openpcc-taps")
        self._thread.start()

    def add(self, name: str, target_port: int) -> Tap:
        tap = Tap(name, target_port)
        asyncio.run_coroutine_threadsafe(tap.start(), self._loop).result(10)
        self.taps[name] = tap
        return tap

    def close(self) -> None:
        for tap in self.taps.values():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(tap.stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
