"""A replay sent to another gateway replica than the first copy: the replay guard is per replica
(docs/edge.md, "Replays"), so the second replica forwards it, and the single-use value inside the
request stops it downstream. Here: two gateway replicas sharing one key directory in front of the
real blind bank (SQLite); a credit deposited through replica A, the same sealed request replayed
to A (refused by A's guard) and to B (forwarded, refused by the bank: the credit's nonce is
consumed), the account credited exactly once."""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpcc import bhttp, config, ohttp
from openpcc.compute import decode_message, encode_message
from openpcc.credits import Issuer, Value
from openpcc.services.errors import ERROR_CODE_HEADER, Code
from openpcc.services.gateway import write_key_file
from support import edge
from support.currency_key import TEST_CURRENCY_KEY_PEM, load_test_currency_key
from support.servers import RoleProcess, free_port, role_process

from .conftest import gateway_config

BANK = "confsec-bank.invalid"
BINARY = [("content-type", "application/octet-stream")]


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[RoleProcess]:
    data_dir = tmp_path / "bankdata"
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
    port = free_port()
    text = f'[bank]\nport = {port}\ndatabase = "sqlite:{tmp_path / "bank.sqlite3"}"\ndata_dir = "{data_dir}"\n'
    with role_process("bank", text, tmp_path / "bank", port) as proc:
        yield proc


def post(url: str, body: bytes) -> tuple[int, bytes, str]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "message/ohttp-req"})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("Content-Type", "")
    finally:
        conn.close()


def inner_answer(context: ohttp.ClientContext, outer: tuple[int, bytes, str]) -> bhttp.Response:
    status, body, content_type = outer
    assert status == 200 and content_type == "message/ohttp-res", (status, body[:200])
    return bhttp.decode_response(context.decapsulate_response(body))


def field(response: bhttp.Response, name: str) -> str:
    return next((v.decode() for k, v in response.headers if k.decode().lower() == name.lower()), "")


def seal(key_config: ohttp.KeyConfig, path: str, message: bytes) -> tuple[bytes, ohttp.ClientContext]:
    request = edge.inner_request(BANK, path, message, headers=BINARY)
    encoded = bhttp.encode(bhttp.normalize_request(request), pad_to_multiple_of=532)
    data, context = ohttp.encapsulate_request(key_config, encoded)
    return data, context


def test_replay_to_another_replica_is_stopped_by_the_credit_nonce(tmp_path: Path, bank: RoleProcess) -> None:
    keys_dir = tmp_path / "keys"
    now = int(time.time())
    write_key_file(keys_dir, 1, 0x0030, now - 60, now + 3600)
    token = bytes(range(32))
    credit = Issuer(load_test_currency_key()).issue_unblinded(Value.exact(64))
    deposit = encode_message("csprotos.DepositRequest", {
        "accountToken": base64.b64encode(token).decode(),
        "credit": decode_message("csprotos.Credit", credit.encode()),
    })
    balance_request = encode_message("csprotos.BalanceRequest", {"accountToken": base64.b64encode(token).decode()})
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    with edge.role("gateway", gateway_config(a_dir, bank.url, keys_dir)) as replica_a, \
            edge.role("gateway", gateway_config(b_dir, bank.url, keys_dir)) as replica_b:
        key_config = edge.key_config(replica_a.url)
        sealed, context = seal(key_config, "/deposit", deposit)
        first = inner_answer(context, post(replica_a.url, sealed))
        assert first.status == 200, (first.status, field(first, ERROR_CODE_HEADER))
        assert decode_message("csprotos.DepositResponse", first.content)["balance"] == "64"

        status, problem, _ = post(replica_a.url, sealed)  # the same replica: its guard refuses
        assert status == 400 and b"replayed request" in problem

        replayed = inner_answer(context, post(replica_b.url, sealed))  # another replica forwards it
        assert replayed.status == 410, replayed.status
        assert field(replayed, ERROR_CODE_HEADER) == str(int(Code.NONCE_CONSUMED))

        balance_sealed, balance_context = seal(key_config, "/balance", balance_request)
        balance = inner_answer(balance_context, post(replica_b.url, balance_sealed))
        assert decode_message("csprotos.BalanceResponse", balance.content)["balance"] == "64"  # credited once
