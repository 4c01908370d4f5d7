"""Slow requests at every POST endpoint of the compute node, the auth bank, the blind bank and nonce
locking, each role its own process: a body that trickles in gets 408 with a reason, headers that trickle
in get the connection closed, while other users' requests are answered, nothing stored changes, the role
keeps serving and nothing the slow caller sent reaches a log or an answer. A flood of malformed and
oversized bodies at once gets 4xx with codes while other users are served. (Malformed, oversized and
replayed bodies at these endpoints are the cases in test_node.py, test_auth.py, test_bank.py and
test_noncelock.py.)"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openpcc import compute, config
from openpcc.compute import encode_message
from openpcc.services.errors import ERROR_CODE_HEADER
from openpcc.services.noncelock import Nonce, lock_request
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.servers import RoleProcess, free_port, role_process

REQUEST_TIMEOUT = 1.0
SLOW_CALLERS = 4  # stalled connections at once, besides the one under test
BINARY = "application/octet-stream"


@dataclass
class Role:
    proc: RoleProcess
    database: Path | None
    headers: dict[str, str]  # what a well-formed request to this role carries besides its body
    good: Callable[[aiohttp.ClientSession, str], Any]  # another user's request; returns its status
    binary_paths: tuple[str, ...] = ()  # paths that take application/octet-stream whatever `headers` say

    def headers_for(self, path: str) -> dict[str, str]:
        return {"Content-Type": BINARY} if path in self.binary_paths else self.headers


def _role_text(role: str, port: int, database: Path | None, **extra: object) -> str:
    lines = [f"[{role}]", f"port = {port}", f"request_timeout = {REQUEST_TIMEOUT}", 'log_level = "debug"']
    if database is not None:
        lines.append(f'database = "sqlite:///{database}"')
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


async def _status(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> int:
    async with session.request(method, url, **kwargs) as resp:
        await resp.read()
        return resp.status


def _node(tmp: Path) -> Iterator[Role]:
    port = free_port()
    # The request key's home (TPM or software) plays no part in reading a request's bytes.
    text = _role_text("node", port, None, engine="echo", danger_software_request_key=True)
    headers = {"Content-Type": compute.CHUNKED_REQUEST, "X-Credit-Amount": "100",
               "X-Encapsulated-Key": base64.b64encode(secrets.token_bytes(65)).decode()}

    def good(session: aiohttp.ClientSession, url: str) -> Any:
        return _status(session, "GET", url + "/evidence")

    with role_process("node", "[node.a]\n" + text.split("\n", 1)[1], tmp, port, ("--name", "a")) as proc:
        yield Role(proc, None, headers, good, binary_paths=("/evidence",))


def _auth(tmp: Path) -> Iterator[Role]:
    port, database, data_dir = free_port(), tmp / "auth.db", tmp / "authdata"
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
    keys = tmp / "keys.bin"
    keys.write_bytes(b"\x01\x00\x20example-key-configs")
    text = _role_text("auth", port, database, data_dir=str(data_dir), ohttp_key_configs_file=str(keys))
    (tmp / "auth.toml").write_text(text)
    added = subprocess.run(
        [sys.executable, "-m", "openpcc", "auth", "keys", "add", "--balance", "1000", "--config", str(tmp / "auth.toml")],
        check=True, capture_output=True, timeout=60, env={"PATH": "/usr/bin:/bin", "OPENPCC_HOME": str(tmp)},
    )
    api_key = added.stdout.decode().strip()
    headers = {"Content-Type": BINARY, "cf-authorization": api_key}

    def good(session: aiohttp.ClientSession, url: str) -> Any:
        return _status(session, "GET", url + "/api/config", headers=headers)

    with role_process("auth", text, tmp, port) as proc:
        yield Role(proc, database, headers, good)


def _bank(tmp: Path) -> Iterator[Role]:
    port, database, data_dir = free_port(), tmp / "bank.db", tmp / "bankdata"
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
    text = _role_text("bank", port, database, data_dir=str(data_dir))
    balance = encode_message("csprotos.BalanceRequest", {"accountToken": base64.b64encode(secrets.token_bytes(32)).decode()})

    def good(session: aiohttp.ClientSession, url: str) -> Any:
        return _status(session, "POST", url + "/balance", data=balance, headers={"Content-Type": BINARY})

    with role_process("bank", text, tmp, port) as proc:
        yield Role(proc, database, {"Content-Type": BINARY}, good)


def _noncelock(tmp: Path) -> Iterator[Role]:
    port, database = free_port(), tmp / "noncelock.db"
    text = _role_text("noncelock", port, database)

    def good(session: aiohttp.ClientSession, url: str) -> Any:
        nonce = Nonce(int(time.time()) // 3600 * 3600, secrets.token_bytes(16))
        return _status(session, "POST", url + "/lock", data=lock_request(nonce), headers={"Content-Type": BINARY})

    with role_process("noncelock", text, tmp, port) as proc:
        yield Role(proc, database, {"Content-Type": BINARY}, good)


STARTERS = {"node": _node, "auth": _auth, "bank": _bank, "noncelock": _noncelock}
ENDPOINTS = {
    "node": ["/", "/generate", "/evidence"],
    "auth": ["/api/auth", "/api/attestationRequest", "/api/refund", "/api/config"],
    "bank": ["/deposit", "/withdraw", "/exchange", "/withdraw-full", "/balance"],
    "noncelock": ["/lock", "/consume", "/release"],
}
# Endpoints that answer without reading a body: a trickling one holds nothing, the answer comes at once.
BODY_IGNORED = {("auth", "/api/config")}
CASES = [(role, path) for role, paths in ENDPOINTS.items() for path in paths]


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Role]]:
    """Each role started on first use and kept for the module, stopped by PID at its end."""
    with contextlib.ExitStack() as stack:
        running: dict[str, Role] = {}

        def get(name: str) -> Role:
            if name not in running:
                starter = contextlib.contextmanager(STARTERS[name])
                running[name] = stack.enter_context(starter(tmp_path_factory.mktemp(name)))
            return running[name]

        yield get


def stored_rows(database: Path | None) -> dict[str, list[tuple[Any, ...]]]:
    if database is None:
        return {}
    with sqlite3.connect(database) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr) for table in tables}


async def _stalled_request(port: int, path: str, headers: dict[str, str], first_bytes: bytes) -> bytes:
    """Sends the head and a part of a body that claims 4096 bytes, then nothing; returns what comes back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4096\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode() + first_bytes)
    await writer.drain()
    try:
        return await asyncio.wait_for(_read_response(reader), timeout=REQUEST_TIMEOUT + 10)
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    """One response: its head and a Content-Length body (or all until the connection closes)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    body = await (reader.readexactly(length) if length is not None else reader.read())
    return head + body


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(("name", "path"), CASES)
def test_a_body_that_trickles_in_gets_408_and_nobody_else_waits(
    roles: Callable[[str], Role], name: str, path: str
) -> None:
    started = roles(name)
    canary = ("CANARY" + secrets.token_hex(12)).encode()
    port = int(started.proc.url.rsplit(":", 1)[1])

    async def scenario() -> tuple[list[bytes], int, dict[str, list[tuple[Any, ...]]]]:
        slow = [asyncio.ensure_future(_stalled_request(port, path, started.headers_for(path), canary))
                for _ in range(1 + SLOW_CALLERS)]
        await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as session:
            other_user = await started.good(session, started.proc.url)
        if (name, path) not in BODY_IGNORED:
            assert not any(task.done() for task in slow), "the slow callers must still be waiting"
        rows_while_waiting = stored_rows(started.database)
        return list(await asyncio.gather(*slow)), other_user, rows_while_waiting

    answers, other_user, rows_while_waiting = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    assert other_user == 200
    for raw in answers:
        status, headers, body = _parse(raw)
        assert canary not in raw
        if (name, path) in BODY_IGNORED:
            assert status == 200, raw[:300]
            continue
        assert status == 408, raw[:300]
        assert headers.get(ERROR_CODE_HEADER.lower()), raw[:300]
        assert b"timeout" in body.lower() or b"too long" in body.lower() or b"in time" in body.lower(), body
        assert canary not in raw
    assert stored_rows(started.database) == rows_while_waiting
    assert healthz(started.proc.url)["ready"] is True
    log = started.proc.output()
    assert canary.decode() not in log and "Traceback" not in log


def healthz(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


@pytest.mark.parametrize("name", list(STARTERS))
def test_headers_that_trickle_in_get_the_connection_closed(roles: Callable[[str], Role], name: str) -> None:
    started = roles(name)
    port = int(started.proc.url.rsplit(":", 1)[1])
    path = ENDPOINTS[name][0]

    async def scenario() -> tuple[bool, int]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        closed = False
        try:
            for piece in [f"POST {path} HTTP/1.1\r\n".encode(), b"Host: x\r\n"] + [b"X-Slow: y\r\n"] * 40:
                try:
                    writer.write(piece)
                    await writer.drain()
                except ConnectionError:
                    closed = True
                    break
                if reader.at_eof():
                    closed = True
                    break
                await asyncio.sleep(0.25)
            if not closed:
                closed = await asyncio.wait_for(reader.read(), timeout=REQUEST_TIMEOUT + 5) == b""
        finally:
            writer.close()
        async with aiohttp.ClientSession() as session:
            return closed, await started.good(session, started.proc.url)

    closed, other_user = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    assert closed, "a caller whose headers trickle in must not hold a connection open"
    assert other_user == 200


@pytest.mark.parametrize("size", [0, 1, 15, 65, 4096])
def test_an_evidence_nonce_outside_16_to_64_bytes_gets_400_and_no_quote(roles: Callable[[str], Role], size: int) -> None:
    node = roles("node").proc
    nonce = secrets.token_bytes(size)
    quotes = node_metric(node.url, "openpcc_node_quotes_total")
    request = urllib.request.Request(node.url + "/evidence", data=nonce, method="POST",
                                     headers={"Content-Type": BINARY})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert refused.value.headers.get(ERROR_CODE_HEADER)
    assert refused.value.read()
    assert node_metric(node.url, "openpcc_node_quotes_total") == quotes
    assert healthz(node.url)["ready"] is True


def node_metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    assert found, f"{name} is not among the node's metrics"
    return float(found.group(1))


FLOOD = 12  # bad requests of each kind, all at once


@pytest.mark.parametrize(("name", "path"), [(role, paths[0]) for role, paths in ENDPOINTS.items()])
def test_a_flood_of_malformed_and_oversized_bodies_leaves_other_users_served(
    roles: Callable[[str], Role], name: str, path: str
) -> None:
    started = roles(name)
    canary = ("CANARY" + secrets.token_hex(12)).encode()
    malformed = canary + secrets.token_bytes(200)
    oversized = canary + bytes(3 << 20)  # beyond every role's max_body_bytes

    async def scenario() -> tuple[list[tuple[int, str, bytes]], list[int], dict[str, list[tuple[Any, ...]]]]:
        before = stored_rows(started.database)
        async with aiohttp.ClientSession() as session:

            async def bad(body: bytes) -> tuple[int, str, bytes]:
                try:
                    async with session.post(started.proc.url + path, data=body,
                                            headers=started.headers_for(path)) as resp:
                        return resp.status, resp.headers.get(ERROR_CODE_HEADER, ""), await resp.read()
                except aiohttp.ClientError:  # the server may close on an oversized body: no answer to read
                    return 413, "closed", b""

            bad_calls = [bad(malformed) for _ in range(FLOOD)] + [bad(oversized) for _ in range(FLOOD)]
            good_calls = [started.good(session, started.proc.url) for _ in range(4)]
            results = await asyncio.gather(*bad_calls, *good_calls)
        return list(results[: 2 * FLOOD]), list(results[2 * FLOOD:]), before

    refused, served, before = asyncio.run(asyncio.wait_for(scenario(), timeout=90))
    assert served == [200] * 4
    for status, code, body in refused:
        assert 400 <= status < 500 and code, (status, code, body[:200])
        assert canary not in body
    after = stored_rows(started.database)
    if name == "noncelock":  # each good user locked one nonce of its own; the flood stored nothing
        assert sum(map(len, after.values())) == sum(map(len, before.values())) + 4
    else:
        assert after == before
    assert healthz(started.proc.url)["ready"] is True
    log = started.proc.output()
    assert canary.decode() not in log and "Traceback" not in log
