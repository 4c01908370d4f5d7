"""Processes and an OHTTP client for the relay and gateway tests.

Every server runs in its own process (``python -m openpcc relay|gateway --config FILE`` or the
upstream script), bound to 127.0.0.1 on a port it chose, and is stopped by its PID.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from openpcc import bhttp, ohttp

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 20.0


@dataclass
class Proc:
    """A started server process and where it listens."""

    popen: subprocess.Popen[str]
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM by PID, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        out = self.popen.stdout.read() if self.popen.stdout else ""
        self.lines.extend(out.splitlines())
        return self.popen.returncode


def _wait_for_listen_line(popen: subprocess.Popen[str]) -> tuple[int, list[str]]:
    assert popen.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    lines = []
    while time.monotonic() < deadline:
        line = popen.stdout.readline()
        if not line:
            if popen.poll() is not None:
                break
            continue
        lines.append(line.rstrip())
        if "listening on http://" in line:
            return int(line.rsplit(":", 1)[1]), lines
    popen.kill()
    raise RuntimeError(f"server did not start: {lines}")


@contextmanager
def role(name: str, config: Path, env: dict[str, str] | None = None) -> Iterator[Proc]:
    """``openpcc <name> --config <config>`` in its own process, stopped by PID afterwards."""
    popen = subprocess.Popen(
        [sys.executable, "-m", "openpcc", name, "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})},
    )
    proc = None
    try:
        port, lines = _wait_for_listen_line(popen)
        proc = Proc(popen, port, lines)
        yield proc
    finally:
        if proc is not None:
            proc.stop()
        elif popen.poll() is None:
            popen.kill()
            popen.wait(5)


@contextmanager
def upstream(state: Path) -> Iterator[Proc]:
    """The loopback upstream (``edge_upstream.py``) in its own process."""
    port_file = state / "upstream.port"
    popen = subprocess.Popen(
        [sys.executable, str(HERE / "edge_upstream.py"), str(port_file), str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or popen.poll() is not None:
                raise RuntimeError("upstream did not start")
            time.sleep(0.02)
        yield Proc(popen, int(port_file.read_text()))
    finally:
        if popen.poll() is None:
            os.kill(popen.pid, signal.SIGKILL)
        popen.wait(5)


def write_config(path: Path, role_name: str, **settings: object) -> Path:
    lines = [f"[{role_name}]"]
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


# --- client ------------------------------------------------------------------


def get(url: str, path: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def key_config(gateway_url: str, now: int | None = None) -> ohttp.KeyConfig:
    """The client's choice (spec §2.3): the active key with the latest ``active_from``."""
    now = int(time.time()) if now is None else now
    _, _, periods = get(gateway_url, "/key-rotation-periods")
    active = [p for p in json.loads(periods) if p["active_from"] <= now <= p["active_until"]]
    chosen = max(active, key=lambda p: p["active_from"])
    _, _, raw = get(gateway_url, "/.well-known/ohttp-gateway")
    return next(c for c in ohttp.decode_key_configs(raw) if c.key_id == chosen["key_id"])


def inner_request(host: str, path: str, body: bytes = b"", method: str = "POST",
                  headers: list[tuple[str, str]] | None = None) -> bhttp.Request:
    return bhttp.Request(method=method, scheme="http", authority=host, path=path,
                         headers=headers or [("user-agent", "Go-http-client/1.1")], content=body)


@dataclass
class Reply:
    status: int
    content_type: str
    response: bhttp.Response | None
    outer_body: bytes
    first_piece_at: float | None = None


def _post(url: str, content_type: str, body: bytes | Iterator[bytes], timeout: float,
          extra: dict[str, str] | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Content-Type": content_type, **(extra or {})}
    if isinstance(body, bytes):
        conn.request("POST", "/", body=body, headers=headers)
    else:
        headers["Incremental"] = "?1"
        conn.request("POST", "/", body=body, headers=headers, encode_chunked=True)
    return conn, conn.getresponse()


def send_plain(url: str, config: ohttp.KeyConfig, request: bhttp.Request, timeout: float = 15.0,
               extra: dict[str, str] | None = None, on_first_piece: object = None) -> Reply:
    """A plain OHTTP request (known-length BHTTP padded to 532) through ``url``."""
    encoded = bhttp.encode(bhttp.normalize_request(request), pad_to_multiple_of=532)
    data, context = ohttp.encapsulate_request(config, encoded)
    conn, resp = _post(url, "message/ohttp-req", data, timeout, extra)
    try:
        return _read_response(resp, context, on_first_piece)
    finally:
        conn.close()


def send_chunked(url: str, config: ohttp.KeyConfig, request: bhttp.Request, timeout: float = 15.0,
                 on_first_piece: object = None) -> Reply:
    """A chunked OHTTP request (indeterminate BHTTP, reference 532-byte chunks) through ``url``."""
    encoded = bhttp.encode(bhttp.normalize_request(request, indeterminate=True), indeterminate=True)
    sealer = ohttp.ChunkedRequestSealer(config, fixed_chunk_len=ohttp.REFERENCE_CHUNK_LEN)
    pieces = sealer.feed(encoded) + sealer.finish()
    conn, resp = _post(url, "message/ohttp-chunked-req", iter(pieces), timeout)
    try:
        return _read_response(resp, sealer.client_context, on_first_piece)
    finally:
        conn.close()


def _read_response(resp: http.client.HTTPResponse, context: ohttp.ClientContext, on_first_piece: object) -> Reply:
    """Opens a plain or chunked response (by its Content-Type); a chunked one is read incrementally
    and ``on_first_piece()`` is called when its first content arrives."""
    ctype = resp.getheader("Content-Type", "")
    if resp.status != 200:
        return Reply(resp.status, ctype, None, resp.read())
    if ctype == "message/ohttp-res":
        body = resp.read()
        return Reply(200, ctype, bhttp.decode_response(context.decapsulate_response(body)), body)
    if ctype != "message/ohttp-chunked-res":
        raise AssertionError(f"unexpected response type {ctype}")
    opener = ohttp.ChunkedResponseOpener(context)
    decoder = bhttp.StreamDecoder()
    events: list[object] = []
    first_at = None
    raw = b""
    while True:
        data = resp.read1(65536)
        if not data:
            break
        raw += data
        for pt in opener.feed(data):
            new = decoder.feed(pt)
            if first_at is None and any(isinstance(e, bhttp.BodyChunk) for e in new):
                first_at = time.monotonic()
                if callable(on_first_piece):
                    on_first_piece()
            events.extend(new)
    events.extend(decoder.feed(opener.finish()))
    events.extend(decoder.finish())
    return Reply(200, ctype, _assemble(events), raw, first_at)


def _assemble(events: list[object]) -> bhttp.Response:
    head = next(e for e in events if isinstance(e, bhttp.Head))
    content = b"".join(e.data for e in events if isinstance(e, bhttp.BodyChunk))
    trailers = [f for e in events if isinstance(e, bhttp.Trailers) for f in e.fields]
    base = head.message
    assert isinstance(base, bhttp.Response), "the gateway's reply does not start with a response head"
    return bhttp.Response(status=base.status, headers=base.headers, content=content, trailers=trailers)
