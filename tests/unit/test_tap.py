"""The demo's hop tap: bytes pass unchanged; it records request/response heads and trailers, never bodies."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from openpcc.services.tap import TapSet, _Framing

SECRET = b"the prompt must never be recorded"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Refund\r\n\r\n"
    b"5\r\nhello\r\n" + b"%x\r\n" % len(SECRET) + SECRET + b"\r\n0\r\nX-Refund: 42\r\n\r\n"
)


@pytest.fixture
def upstream() -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection HTTP/1.1 server answering two requests with chunked bodies and a trailer."""
    received: list[bytes] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            data = b""
            while data.count(SECRET) < 2:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            received.append(data)
            conn.sendall(RESPONSE + RESPONSE)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], received
    thread.join(5)
    listener.close()


def test_tap_passes_bytes_and_records_heads_and_trailers_only(upstream: tuple[int, list[bytes]]) -> None:
    port, received = upstream
    first = b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nX-Credit: abc\r\n\r\n" % len(SECRET) + SECRET
    second = (
        b"POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(SECRET) + SECRET + b"\r\n0\r\n\r\n"
    )
    with TapSet() as taps:
        tap = taps.add("client → upstream", port)
        with socket.create_connection(("127.0.0.1", tap.port), timeout=5) as conn:
            conn.sendall(first + second)
            answer = b""
            while answer.count(b"X-Refund: 42") < 2:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert received == [first + second]  # unchanged, in one stream
        assert answer == RESPONSE + RESPONSE
        assert tap.bytes_up == len(first + second) and tap.bytes_down == len(answer)
        starts = [e.request.start_line for e in tap.exchanges]
        assert starts == ["POST /one HTTP/1.1", "POST /two HTTP/1.1"]
        assert ("X-Credit", "abc") in tap.exchanges[0].request.headers
        for exchange in tap.exchanges:
            assert exchange.response is not None and exchange.response.start_line == "HTTP/1.1 200 OK"
            assert exchange.response.trailers == [("X-Refund", "42")]
        assert SECRET.decode() not in repr(tap.exchanges)


def test_framing_gives_up_on_garbage_without_raising() -> None:
    seen = []
    framing = _Framing(True, seen.append)
    framing.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert framing.broken and len(seen) == 1
    framing.feed(b"more bytes")  # ignored, no error


def test_an_unreachable_target_closes_the_client_connection() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with TapSet() as taps:
        tap = taps.add("to nowhere", dead)
        with socket.create_connection(("127.0.0.1", tap.port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\n\r\n")
            assert conn.recv(10) == b""
