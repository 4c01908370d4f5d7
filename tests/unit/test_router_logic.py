"""The router's pure pieces: grading (spec §9.2), the refund cap (spec §12.2 item 1), parsing node events and
routing info, the node network allow-list, and the router-nonce piece."""

from __future__ import annotations

import asyncio
import base64
import collections
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from openpcc import compute
from openpcc.attestation import EvidenceList, EvidencePiece, EvidenceType
from openpcc.credits import MAX_AMOUNT, Value
from openpcc.exceptions import RequestRejectedError
from openpcc.services.node import uuid7
from openpcc.services.router import (
    HEALTH_OK,
    HEALTH_UNAVAILABLE,
    HEALTH_UNKNOWN,
    Grading,
    NodeNetworks,
    capped_refund,
    parse_node_event,
    parse_routing_info,
    refund_of,
    with_router_nonce,
)


def history(*oks: bool, start: float = 1000.0) -> collections.deque[tuple[float, bool]]:
    return collections.deque((start + i, ok) for i, ok in enumerate(oks))


def test_grading_as_the_reference() -> None:
    grading = Grading()
    now = 1100.0
    assert grading.grade(history(True, True), now) == HEALTH_UNKNOWN
    assert grading.grade(history(True, True, True), now) == HEALTH_OK
    assert grading.grade(history(*[True] * 10, False, False, False), now) == HEALTH_UNAVAILABLE  # streak of 3
    assert grading.grade(history(*[True] * 8, False, True), now) == HEALTH_OK  # 9 of 10 is the 0.9 needed
    assert grading.grade(history(*[True] * 7, False, True), now) == HEALTH_UNAVAILABLE  # 8 of 9 is less
    assert grading.grade(history(True, False, True, True, True), now) == HEALTH_UNAVAILABLE  # 0.8
    old = history(*[False] * 5, start=0.0)
    old.extend(history(True, True, True, start=1050.0))
    assert grading.grade(old, now) == HEALTH_OK  # checks older than the window are forgotten
    assert len(old) == 3


def test_refunds_are_capped_at_the_credit() -> None:
    spent = Value.exact(64)
    assert capped_refund(Value.exact(16), spent) == (Value.exact(16), False)
    assert capped_refund(Value.exact(64), spent) == (Value.exact(64), False)
    assert capped_refund(Value.exact(MAX_AMOUNT), spent) == (spent, True)
    assert capped_refund(Value.exact(0), spent) == (None, False)
    assert capped_refund(Value.special(0), spent) == (None, False)
    assert capped_refund(None, spent) == (None, False)
    assert refund_of(base64.b64encode(Value.exact(48).to_proto()).decode()) == Value.exact(48)
    for unreadable in ("", "%%%", base64.b64encode(b"\xff\xff\xff").decode()):
        assert refund_of(unreadable) is None


def event(**routing: object) -> bytes:
    info = {"url": "http://127.0.0.1:3700/", "healthcheckUrl": "http://127.0.0.1:3700/_health", "tags": ["llm"]}
    info.update(routing)
    return compute.encode_message(
        "csprotos.NodeEvent", {"nodeId": uuid7(), "eventIndex": 4, "heartbeat": {"routingInfo": info}}
    )


def test_node_events() -> None:
    parsed = parse_node_event(event())
    assert parsed.index == 4 and parsed.routing is not None and parsed.routing.tags == ("llm",)
    shutdown = compute.encode_message("csprotos.NodeEvent", {"nodeId": uuid7(), "eventIndex": 9, "shutdown": {}})
    assert parse_node_event(shutdown).routing is None
    bad = [
        b"\xff\x00",
        compute.encode_message("csprotos.NodeEvent", {"nodeId": str(uuid.uuid4()), "shutdown": {}}),
        compute.encode_message("csprotos.NodeEvent", {"nodeId": uuid7()}),
        event(tags=[]),
        event(tags=["x" * 513]),
        event(tags=[f"t{i}" for i in range(65)]),
        event(url="ftp://127.0.0.1/"),
        event(url="127.0.0.1:3700"),
        event(healthcheckUrl=""),
    ]
    for body in bad:
        with pytest.raises(RequestRejectedError) as caught:
            parse_node_event(body)
        assert caught.value.code == 231


def test_routing_info() -> None:
    node = uuid7()
    good = base64.b64encode(compute.encode_compute_request_info([(node, b"k" * 113)])).decode()
    assert parse_routing_info(good) == [(node, b"k" * 113)]
    bad = [
        None, "", "%%%",
        base64.b64encode(compute.encode_compute_request_info([])).decode(),
        base64.b64encode(compute.encode_compute_request_info([(str(uuid.uuid4()), b"k")])).decode(),
        base64.b64encode(compute.encode_compute_request_info([(node, b"k" * 385)])).decode(),
        base64.b64encode(compute.encode_compute_request_info([(uuid7(), b"k")] * 65)).decode(),
    ]
    for text in bad:
        with pytest.raises(RequestRejectedError) as caught:
            parse_routing_info(text)
        assert caught.value.code == 230


def test_node_networks() -> None:
    async def check() -> None:
        loopback = NodeNetworks("127.0.0.0/8,::1/128")
        assert await loopback.allows("http://127.0.0.1:3700/")
        assert await loopback.allows("http://[::1]:3700/")
        assert await loopback.allows("http://localhost:3700/")
        assert not await loopback.allows("http://192.0.2.1/")
        assert not await loopback.allows("http://name.invalid/")
        assert await NodeNetworks("*").allows("http://192.0.2.1/")

    asyncio.run(check())


def test_router_nonce_piece_is_added_once() -> None:
    bundle = EvidenceList.of([EvidencePiece(EvidenceType.TPM_QUOTE, b"q")]).encode()
    first = with_router_nonce(bundle, b"a" * 32)
    again = EvidenceList.decode(with_router_nonce(first, b"b" * 32))
    assert [p.data for p in again.all_of(EvidenceType.OPENPCC_ROUTER_NONCE)] == [b"b" * 32]
    assert again.first(EvidenceType.TPM_QUOTE) == EvidencePiece(EvidenceType.TPM_QUOTE, b"q")


def test_cli_exit_2_for_an_unreadable_policy(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(f'[router]\nport = 0\npolicy = "{tmp_path / "missing.toml"}"\n')
    env = {"OPENPCC_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "openpcc", "router", "--config", str(path)],
        capture_output=True, env=env, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert b"cannot read policy" in done.stderr
