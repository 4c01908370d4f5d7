"""A loopback upstream for the relay and gateway tests, run in its own process:

    python edge_upstream.py <port-file> <state-dir>

It binds 127.0.0.1 on a free port, writes the port to <port-file>, and serves until killed:

* ``POST /deposit`` (and the other bank paths), ``POST /compute-manifests``: a known-length JSON
  echo ``{"path", "len", "sha256", "headers"}`` of what arrived;
* ``GET /ping``: ``pong``;
* ``POST /`` (compute): a chunked response announcing ``Trailer: X-Refund``. It sends ``first
  piece`` at once, then waits (at most 10 s) for ``<state-dir>/release`` before sending the rest,
  and touches ``<state-dir>/finished`` when done, so a test can prove that the first piece
  reached the client before the upstream finished;
* ``POST /big``: a 1 MiB chunked response of pattern bytes.

It records every request's header names in ``<state-dir>/seen.jsonl`` (names only, never values
of cookies or authorization) for the header-stripping tests.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATE = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(".")
BANK = {"/deposit", "/exchange", "/withdraw", "/withdraw-full", "/balance", "/compute-manifests"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        return

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _record(self) -> None:
        with open(STATE / "seen.jsonl", "a") as handle:
            handle.write(json.dumps(sorted(k.lower() for k in self.headers)) + "\n")

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self) -> None:
        self._record()
        if self.path == "/ping":
            self._send(200, b"pong", "text/plain")
        else:
            self._send(404, b"no")

    def do_POST(self) -> None:
        self._record()
        body = self._body()
        if self.path in BANK:
            echo = {
                "path": self.path,
                "len": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "headers": sorted(k.lower() for k in self.headers),
            }
            self._send(200, json.dumps(echo).encode())
        elif self.path == "/":
            self._stream_compute()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(64):
                self._chunk(bytes([i]) * 16384)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b"no")

    def _stream_compute(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", "X-Refund")
        self.end_headers()
        self._chunk(b"first piece")
        release = STATE / "release"
        deadline = time.monotonic() + 10
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._chunk(b" second piece")
        self.wfile.write(b"0\r\nX-Refund: cmVmdW5k\r\n\r\n")
        self.wfile.flush()
        (STATE / "finished").touch()


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(sys.argv[1]).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
