"""A cancelled stream stops the node's generation and returns the unused part of its credit as a refund,
every role its own process on loopback (``support.client_stack``): the client sends a refund claim (the
hash of a secret) with its request; when it closes the answer early the router asks the node to stop
(``POST /cancel``), drains the node's answer to its ``X-Refund-Amount``, keeps the minted refund in its store
under the claim, and the client claims it through the relay and the gateway (docs/router.md, docs/client.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpcc
import pytest
from openpcc.client import AsyncChatStream, ChatStream
from openpcc.credits import Credit
from openpcc.services.errors import ERROR_CODE_HEADER
from support.client_stack import ClientStack, client_stack
from support.servers import free_port, role_process

TOKEN_DELAY = 0.1
CREDIT = 4096
#: 120 words: answered one word per token, the whole answer would take the node 12 s.
PROMPT = " ".join(f"word{i}" for i in range(120))
CLAIM_TYPE = "application/vnd.openpcc.refund-claim"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientStack]:
    with client_stack(tmp_path_factory.mktemp("cancel"), nodes=("a",), echo_token_delay=TOKEN_DELAY) as running:
        yield running


def wait_for(check: Any, what: str, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def post(url: str, body: bytes, content_type: str = "application/octet-stream", **headers: str) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def abandon_after_a_few_tokens(client: openpcc.Client) -> Any:
    """Streams the long answer, reads three text pieces, closes it; the response (its ``refund`` is set once
    the claimed refund was deposited)."""
    answer = client.chat([{"role": "user", "content": PROMPT}], stream=True)
    assert isinstance(answer, ChatStream)
    pieces = iter(answer)
    for _ in range(3):
        assert next(pieces)
    answer.close()
    return answer.response


def metric(stack: ClientStack, role: str, name: str) -> float:
    """The sum of the samples of exactly ``name`` (labels included when given) at ``role``'s /metrics."""
    with urllib.request.urlopen(stack.url(role) + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    pattern = re.escape(name) + ("" if "{" in name else r"(?:\{[^}]*\})?") + r" (\S+)$"
    return sum(float(m.group(1)) for m in re.finditer("^" + pattern, text, re.MULTILINE))


def node_metric(stack: ClientStack, name: str) -> float:
    return metric(stack, "node-a", name)


def test_an_abandoned_stream_stops_the_node_and_its_unused_credit_comes_back(stack: ClientStack) -> None:
    stopped_before = node_metric(stack, 'openpcc_node_engine_streams_ended_total{how="cancelled_by_router"}')
    claimed_before = metric(stack, "router", 'openpcc_router_refunds_total{how="claimed"}')
    with openpcc.Client(stack.client_config("abandon", concurrency=1, batch=2)) as client:
        wallet = client.wallet
        wallet.refill()
        before = wallet.status().held + wallet.account_balance()
        response = abandon_after_a_few_tokens(client)
        # The whole answer takes 12 s: the node must be done long before.
        wait_for(lambda: node_metric(stack, "openpcc_node_engine_streams") == 0, "the node kept generating", 4.0)
        assert node_metric(stack, 'openpcc_node_engine_streams_ended_total{how="cancelled_by_router"}') == (
            stopped_before + 1
        )
    # close() waited for the claim and the refund's deposit.
    refund = response.refund
    assert refund is not None and 0 < refund < CREDIT
    # The node counted 120 prompt tokens (60) and the few generated before the cancel (2 each), rounded
    # down to 5 significant bits: most of the credit comes back.
    assert refund > CREDIT - 512
    assert wallet.status().held + wallet.account_balance() == before - CREDIT + refund
    assert wallet.status().pending == [] and wallet.status().lost == 0
    assert metric(stack, "router", 'openpcc_router_refunds_total{how="claimed"}') == claimed_before + 1


class KeptClaims:
    """Stands in for the client's background claim: keeps the claim secrets so the test can claim itself."""

    def __init__(self) -> None:
        self.secrets: list[bytes] = []

    def __call__(self, secret: bytes, _response: Any) -> None:
        self.secrets.append(secret)


def abandoned_claim(stack: ClientStack, name: str, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Abandons a stream with the client's claiming turned off; the secret, once the router keeps the refund."""
    kept = KeptClaims()
    claimable_before = metric(stack, "router", 'openpcc_router_refunds_total{how="claimable"}')
    with openpcc.Client(stack.client_config(name, concurrency=1, batch=2)) as client:
        monkeypatch.setattr(client._async, "_claim_later", kept)
        abandon_after_a_few_tokens(client)
    wait_for(
        lambda: metric(stack, "router", 'openpcc_router_refunds_total{how="claimable"}') == claimable_before + 1,
        "the router kept no refund",
    )
    (secret,) = kept.secrets
    return secret


def claim(stack: ClientStack, secret: bytes, path: str = "/refund-claims") -> tuple[int, bytes, Any]:
    return post(stack.url("router") + path, secret)


def test_a_claim_is_taken_once_and_a_wrong_secret_changes_nothing(
    stack: ClientStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = abandoned_claim(stack, "once", monkeypatch)
    status, body, headers = claim(stack, secrets.token_bytes(32))
    assert status == 404 and headers[ERROR_CODE_HEADER] == "235"
    status, body, _ = claim(stack, secret)
    assert status == 200
    refund = Credit.from_text(body.decode())
    assert 0 < refund.value.amount < CREDIT
    status, _, headers = claim(stack, secret)
    assert status == 404 and headers[ERROR_CODE_HEADER] == "235"


def test_a_kept_refund_survives_a_router_restart(stack: ClientStack, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = abandoned_claim(stack, "restart", monkeypatch)
    stack.restart("router")
    # The form a client sends through the gateway: POST / with the refund-claim media type.
    status, body, _ = post(stack.url("router") + "/", secret, CLAIM_TYPE)
    assert status == 200 and 0 < Credit.from_text(body.decode()).value.amount < CREDIT
    assert post(stack.url("router") + "/", secret, CLAIM_TYPE)[0] == 404


def test_another_router_replica_on_the_same_store_serves_the_claim(
    stack: ClientStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = abandoned_claim(stack, "replica", monkeypatch)
    _role, text, port, extra = stack._starts["router"]
    other_port = free_port()
    with role_process("router", text.replace(f"port = {port}", f"port = {other_port}"), tmp_path, other_port, extra) as other:
        status, body, _ = post(other.url + "/refund-claims", secret)
        assert status == 200 and 0 < Credit.from_text(body.decode()).value.amount < CREDIT
    assert claim(stack, secret)[0] == 404  # taken through the other replica


def test_the_async_client_claims_the_refund_of_an_abandoned_stream(stack: ClientStack) -> None:
    async def go() -> tuple[int, int, int | None]:
        async with openpcc.AsyncClient(stack.client_config("async", concurrency=1, batch=2)) as client:
            wallet = client.wallet
            await asyncio.to_thread(wallet.refill)
            before = wallet.status().held + wallet.account_balance()
            answer = await client.chat([{"role": "user", "content": PROMPT}], stream=True)
            assert isinstance(answer, AsyncChatStream)
            pieces = answer.__aiter__()
            for _ in range(3):
                assert await anext(pieces)
            await answer.aclose()
        # aclose() of the client waited for the claim and the deposit
        return before, wallet.status().held + wallet.account_balance(), answer.response.refund

    before, after, refund = asyncio.run(go())
    assert refund is not None and CREDIT - 512 < refund < CREDIT
    assert after == before - CREDIT + refund


def test_without_a_claim_the_router_spends_the_credit_as_before(
    stack: ClientStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that sends no claim (the reference's) is not refunded: nothing is kept, the node is not asked."""
    from openpcc import client as client_module

    claimable_before = metric(stack, "router", 'openpcc_router_refunds_total{how="claimable"}')
    gone_before = metric(stack, "router", 'openpcc_router_streams_ended_total{how="client_gone"}')
    stopped_before = node_metric(stack, 'openpcc_node_engine_streams_ended_total{how="cancelled_by_router"}')
    monkeypatch.setattr(client_module, "REFUND_CLAIM_HEADER", "x-not-a-claim")  # ignored by the router
    with openpcc.Client(stack.client_config("noclaim", concurrency=1, batch=2)) as client:
        abandon_after_a_few_tokens(client)
        wait_for(
            lambda: metric(stack, "router", 'openpcc_router_streams_ended_total{how="client_gone"}') == gone_before + 1,
            "the router did not see the client go",
        )
        wait_for(lambda: node_metric(stack, "openpcc_node_engine_streams") == 0, "the node kept generating", 4.0)
    assert metric(stack, "router", 'openpcc_router_refunds_total{how="claimable"}') == claimable_before
    assert node_metric(stack, 'openpcc_node_engine_streams_ended_total{how="cancelled_by_router"}') == stopped_before


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\x00" * 31, "application/octet-stream", 400),
        (b"\x00" * 33, "application/octet-stream", 400),
        (b"\x00" * 4096, "application/octet-stream", 400),
        (b"", "application/octet-stream", 400),
        (b"\x00" * 32, "application/json", 415),
    ],
)
def test_bad_refund_claims_are_clear_4xx(stack: ClientStack, body: bytes, content_type: str, status: int) -> None:
    got, answer, _ = post(stack.url("router") + "/refund-claims", body, content_type)
    assert got == status and b"\x00" not in answer


def test_a_malformed_claim_header_is_refused_before_anything_is_spent(stack: ClientStack) -> None:
    """Checked before the routing info and the credit (here absent): the error names the header."""
    for value in ("not base64!", base64.b64encode(b"short").decode(), base64.b64encode(bytes(33)).decode()):
        status, body, headers = post(
            stack.url("router") + "/", b"sealed", "application/confsec-req", **{"X-Openpcc-Refund-Claim": value}
        )
        assert status == 400 and headers[ERROR_CODE_HEADER] == "200"
        assert b"X-Openpcc-Refund-Claim" in body


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"\x01" * 16, "application/octet-stream", 400, "200"),
        (b"\x01" * 64, "application/octet-stream", 400, "200"),
        (b"\x01" * 100_000, "application/octet-stream", 400, "200"),
        (hashlib.sha256(b"no such request").digest(), "application/octet-stream", 404, "236"),
        (b"\x01" * 32, "text/plain", 415, None),
    ],
)
def test_bad_cancels_are_clear_4xx(stack: ClientStack, body: bytes, content_type: str, status: int, code: str | None) -> None:
    got, answer, headers = post(stack.url("node-a") + "/cancel", body, content_type)
    assert got == status
    if code is not None:
        assert headers[ERROR_CODE_HEADER] == code
    assert body.hex() not in stack.roles["node-a"].output()  # ids are never logged
    del answer


def test_no_prompt_reaches_a_log(stack: ClientStack) -> None:
    log = stack.roles["node-a"].output() + stack.roles["router"].output()
    assert PROMPT.split()[5] not in log
    assert json.dumps(PROMPT) not in log
