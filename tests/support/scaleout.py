"""Prerequisites of the scale-out tests: HAProxy, and a PostgreSQL cluster run by the library's own
server helper (``openpcc.services.pgserver``), each stopped by its PID; and bank deposits sealed through
gateways, the probe that shows replicas share their spent credits.

A missing HAProxy or PostgreSQL skips naming what was looked for (``scripts/install-netdeps.sh``,
``scripts/install-postgres.sh``), or fails when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pwd
import random
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from openpcc import bhttp, compute
from openpcc.compute import decode_message, encode_message
from openpcc.credits import Credit, Issuer, Value
from openpcc.exceptions import DatabaseServerError, LoadBalancerError
from openpcc.services import loadbalancer, pgserver
from openpcc.services._trailers import open_stream
from openpcc.services.errors import ERROR_CODE_HEADER

from . import edge
from .currency_key import load_test_currency_key
from .prerequisites import missing
from .servers import free_port


def require_haproxy() -> str:
    try:
        return loadbalancer.haproxy_binary()
    except LoadBalancerError as exc:
        missing(f"HAProxy: {exc}")


def cluster_dir() -> Path:
    """A fresh directory the server's account can reach (as root: under /tmp, owned by postgres)."""
    root = Path(tempfile.mkdtemp(prefix="openpcc-scale-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(pgserver.SERVER_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    return root


@pytest.fixture(scope="module")
def local_postgres() -> Iterator[pgserver.LocalPostgres]:
    """A cluster started by :class:`pgserver.LocalPostgres` (fsync off: test data), for the module."""
    try:
        pgserver.bin_dir()
    except DatabaseServerError as exc:
        missing(f"PostgreSQL: {exc}")
    root = cluster_dir()
    server = pgserver.LocalPostgres(root, free_port(), durable=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# --- bank deposits through the OHTTP path: a spent credit shows on every replica -----------------

ISSUER = Issuer(load_test_currency_key())
BINARY = [("content-type", "application/octet-stream")]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def deposit_body(token: bytes, c: Credit) -> bytes:
    message = decode_message("csprotos.Credit", c.encode())
    return encode_message("csprotos.DepositRequest", {"accountToken": b64(token), "credit": message})


def deposit_through(url: str, token: bytes, c: Credit, key_source: str | None = None) -> int:
    """Seals a deposit (a fresh encapsulation each time) to the key ``key_source`` (default: ``url``, a
    gateway) publishes, posts it to ``url`` (a gateway, the load balancer or the relay) and returns the
    bank's inner status."""
    reply = edge.send_plain(url, edge.key_config(key_source or url), edge.inner_request(
        "confsec-bank.invalid", "/deposit", deposit_body(token, c), headers=BINARY))
    assert reply.status == 200 and reply.response is not None, (reply.status, reply.outer_body[:200])
    return reply.response.status


def deposit_direct(bank_url: str, token: bytes, c: Credit) -> int:
    request = urllib.request.Request(bank_url + "/deposit", data=deposit_body(token, c), method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def balance(bank_url: str, token: bytes) -> int:
    body = encode_message("csprotos.BalanceRequest", {"accountToken": b64(token)})
    request = urllib.request.Request(bank_url + "/balance", data=body, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return int(decode_message("csprotos.BalanceResponse", resp.read()).get("balance", 0))


def fresh_credit(amount: int = 64) -> Credit:
    return ISSUER.issue_unblinded(Value.exact(amount))


# --- compute requests sealed to a node, sent to a router directly ------------------------------------


def seal_chat(node_url: str, text: str) -> compute.ComputeRequest:
    """A streamed echo chat completion sealed to the node at ``node_url`` (its ``/info`` key)."""
    with urllib.request.urlopen(node_url + "/info", timeout=10) as resp:
        info = json.loads(resp.read())
    body = {"model": "echo", "stream": True, "messages": [{"role": "user", "content": text}]}
    request = bhttp.Request(method=b"POST", scheme=b"https", authority=b"confsec.invalid", path=b"/v1/chat/completions",
                            headers=[(b"content-type", b"application/json")], content=json.dumps(body).encode())
    return compute.seal_http_request(request, [(info["node_id"], base64.b64decode(info["request_public_key"]))])


def send_compute(router_url: str, sealed: compute.ComputeRequest, paid: Credit) -> tuple[int, str]:
    """``POST <router>/`` paid with ``paid``: (status, error code header) once the answer has ended."""
    info = compute.encode_compute_request_info(sealed.encapsulated_keys)
    headers = [("Content-Type", sealed.media_type), ("X-Routing-Info", base64.b64encode(info).decode()),
               ("X-Credit", paid.to_text())]

    async def go() -> tuple[int, str]:
        async with open_stream("POST", router_url + "/", headers=headers, body=sealed.body, read_timeout=60) as resp:
            await resp.read()
            return resp.status, resp.header(ERROR_CODE_HEADER) or ""

    return asyncio.run(asyncio.wait_for(go(), timeout=90))


# --- waiting and port blocks for stacks ------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def free_base_port() -> int:
    """A ``base_port`` whose whole block, replicas included, is free now (bounded tries)."""
    from openpcc import config
    from openpcc.services import supervisor

    block = supervisor.REPLICA_OFFSETS["router"] + config.MAX_REPLICAS
    for _ in range(50):
        base = random.randrange(20000, 60000 - block)
        if all(_bindable(base + i) for i in range(block)):
            return base
    raise RuntimeError("no free block of loopback ports")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --- stacks ---------------------------------------------------------------------------------------


def router_overrides(**extra: object) -> dict[str, object]:
    """``[router]`` settings for test stacks: health rounds every half second (nodes routable sooner)."""
    return {"health_interval_secs": 0.5, "health_timeout_secs": 1.0, "health_retries": 1, **extra}


def routable_nodes(router_url: str) -> float:
    """The router's ``openpcc_router_routable_nodes`` gauge (0 when it does not answer)."""
    try:
        with urllib.request.urlopen(router_url + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("openpcc_router_routable_nodes "):
            return float(line.split()[1])
    return 0.0
