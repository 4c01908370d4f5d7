"""The latency the load balancer hop adds: the same request to a gateway directly (``openpcc``) and through
HAProxy configured by ``openpcc.services.loadbalancer`` (``openpcc-haproxy``), in the same run, each over
one keep-alive connection. The ratio column reads ``variant: N.NNx`` = direct median / through-HAProxy
median (below 1: the hop's cost).

Groups: ``lb hop: GET /healthz`` (the hop alone: a tiny answer the gateway makes itself) and
``lb hop: sealed balance`` (an OHTTP-sealed ``/balance`` through the gateway to a bank on SQLite and back,
the shape of a real bank call). Every server is its own process on loopback, stopped by PID.

Run: ``pytest benches/test_bench_scaleout.py --benchmark-enable --benchmark-only --benchmark-json=F``
then ``python benches/ratios.py F``.
"""

from __future__ import annotations

import http.client
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openpcc import bhttp, config, ohttp
from openpcc.compute import encode_message
from openpcc.services.loadbalancer import HAProxy, Pool
from support import edge
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.scaleout import BINARY, b64, require_haproxy
from support.servers import free_port, role_process

ROUNDS = 200
LOOPBACK = "127.0.0.1"


class Endpoints:
    def __init__(self, direct: int, balanced: int, key: ohttp.KeyConfig) -> None:
        self.ports = {"openpcc": direct, "openpcc-haproxy": balanced}
        self.key = key


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    require_haproxy()
    tmp = tmp_path_factory.mktemp("lbhop")
    with ExitStack() as stack:
        bank_port = free_port()
        data = tmp / "bank"
        config.write_key_file(data / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
        bank_toml = f'[bank]\nport = {bank_port}\ndata_dir = "{data}"\n'
        bank = stack.enter_context(role_process("bank", bank_toml, tmp / "bank-run", bank_port))
        gateway_port = free_port()
        gateway_toml = edge.write_config(tmp / "gateway.toml", "gateway", port=gateway_port,
                                         keys_dir=str(tmp / "keys"), bank_url=bank.url, router_url=bank.url,
                                         workers=1)
        gateway = stack.enter_context(edge.role("gateway", gateway_toml))
        front = free_port()
        stack.enter_context(HAProxy([Pool("gateway", LOOPBACK, front, ((LOOPBACK, gateway.port),))], tmp / "lb"))
        yield Endpoints(gateway.port, front, edge.key_config(gateway.url))


def _healthz(conn: http.client.HTTPConnection) -> None:
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200


def _balance(key: ohttp.KeyConfig) -> Callable[[http.client.HTTPConnection], None]:
    body = encode_message("csprotos.BalanceRequest", {"accountToken": b64(os.urandom(32))})
    inner = bhttp.encode(bhttp.normalize_request(edge.inner_request(
        "confsec-bank.invalid", "/balance", body, headers=BINARY)), pad_to_multiple_of=532)

    def call(conn: http.client.HTTPConnection) -> None:
        sealed, context = ohttp.encapsulate_request(key, inner)
        conn.request("POST", "/", body=sealed, headers={"Content-Type": "message/ohttp-req"})
        resp = conn.getresponse()
        answer = resp.read()
        assert resp.status == 200
        assert bhttp.decode_response(context.decapsulate_response(answer)).status == 200

    return call


@pytest.mark.parametrize("impl", ["openpcc", "openpcc-haproxy"])
def test_lb_hop_healthz(paired: Any, endpoints: Endpoints, impl: str) -> None:
    conn = http.client.HTTPConnection(LOOPBACK, endpoints.ports[impl], timeout=30)
    try:
        _healthz(conn)  # open the keep-alive connection outside the timing
        paired("lb hop: GET /healthz", impl).pedantic(_healthz, args=(conn,), rounds=ROUNDS, warmup_rounds=10)
    finally:
        conn.close()


@pytest.mark.parametrize("impl", ["openpcc", "openpcc-haproxy"])
def test_lb_hop_sealed_balance(paired: Any, endpoints: Endpoints, impl: str) -> None:
    call = _balance(endpoints.key)
    conn = http.client.HTTPConnection(LOOPBACK, endpoints.ports[impl], timeout=30)
    try:
        call(conn)
        paired("lb hop: sealed balance", impl).pedantic(call, args=(conn,), rounds=ROUNDS, warmup_rounds=10)
    finally:
        conn.close()
