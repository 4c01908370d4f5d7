"""Prerequisites of the scale-out tests: HAProxy, and a PostgreSQL cluster run by the library's own
server helper (``openpcc.services.pgserver``), each stopped by its PID; and bank deposits sealed through
gateways, the probe that shows replicas share their spent credits.

A missing HAProxy or PostgreSQL skips naming what was looked for (``scripts/install-netdeps.sh``,
``scripts/install-postgres.sh``), or fails when ``CI`` is set.
"""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpcc.compute import decode_message, encode_message
from openpcc.credits import Credit, Issuer, Value
from openpcc.exceptions import DatabaseServerError, LoadBalancerError
from openpcc.services import loadbalancer, pgserver

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
