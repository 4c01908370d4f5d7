"""Token streams and refunds as the Go reference (twoway/bhttp v0.0.80) read them, from recorded vectors.

``tests/interop/stream-vectors.json`` was recorded by ``python -m tests.support.stream_interop``; these
checks need no Go: they rebuild our node's bytes from the recorded inputs (so the recorded reference output
still applies to what we send today) and assert what the reference made of them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from openpcc import compute
from openpcc._openpcc.compute import _seal_request_with

from tests.support import stream_interop as si

DATA: dict[str, Any] = json.loads(si.VECTORS.read_text())
CASES = {c["name"]: c for c in DATA["cases"]}
TOKENS_TEXT = b"".join(si.TOKENS).decode()


def test_vectors_cover_both_clients() -> None:
    assert set(CASES) == set(si.CASES)
    assert DATA["node"] == si.node_key() and DATA["rng"] == si.RNG.hex()
    assert DATA["tokens"] == [t.hex() for t in si.TOKENS]


@pytest.mark.parametrize("name", sorted(si.CASES))
def test_our_node_still_sends_the_recorded_bytes(name: str) -> None:
    case = CASES[name]
    assert bytes.fromhex(case["request_plaintext"]) == si.request_plaintext(case["asks_padding"])
    padding, wire, outer = si.our_node(case)
    assert padding == ("fixed" if case["asks_padding"] else "per-piece") == case["padding"]
    assert wire.hex() == case["wire"]
    assert outer == case["outer_trailer"]


@pytest.mark.parametrize("name", sorted(si.CASES))
def test_our_client_reads_our_node(name: str) -> None:
    case = CASES[name]
    rng, node = si.RNG, DATA["node"]
    req = _seal_request_with(
        [bytes.fromhex(case["request_plaintext"])],
        [(node["id"], bytes.fromhex(node["pk"]))],
        compute.REQUEST,
        rng[:32],
        rng[32:44],
        [rng[44:76]],
    )
    assert req.body.hex() == case["request_body"]  # the reference client sealed the same bytes
    opener = req.token_stream_opener(node["id"])
    body = opener.feed(bytes.fromhex(case["wire"]))
    last, trailers = opener.finish()
    assert body + last == b"".join(si.TOKENS)  # filler (if any) removed
    assert trailers == si.TRAILERS


def test_reference_client_without_filler_gets_what_the_reference_node_sends() -> None:
    case = CASES["reference-client"]
    ours, theirs = case["reference_client"], case["reference_node"]
    assert "error" not in ours and "error" not in theirs
    assert ours["body"] == theirs["body"] == TOKENS_TEXT
    assert ours["status"] == theirs["status"] == 200
    assert ours["header"] == theirs["header"] == {"Content-Type": ["application/x-ndjson"]}
    assert ours["trailer"] == theirs["trailer"] == {"X-Example": ["done"]}


def test_reference_client_with_filler_sees_spaces() -> None:
    """What a reference client decodes if it asked for filler anyway: the JSON lines with filler spaces
    between them (insignificant to NDJSON readers) and after the last one."""
    res = CASES["openpcc-client"]["reference_client"]
    assert "error" not in res
    assert res["status"] == 200 and res["trailer"] == {"X-Example": ["done"]}
    body: str = res["body"]
    assert body != TOKENS_TEXT and len(body) > len(TOKENS_TEXT)
    assert [line.strip() for line in body.splitlines() if line.strip()] == TOKENS_TEXT.splitlines()
    assert body.replace(" ", "") == TOKENS_TEXT.replace(" ", "")  # only spaces were added


@pytest.mark.parametrize("name", sorted(si.CASES))
def test_router_reads_the_outer_refund_rounded_down(name: str) -> None:
    case = CASES[name]
    unused = DATA["credit"] - DATA["used"]
    rounded, value = compute.refund_amount_trailer(unused)
    assert value == case["outer_trailer"]
    assert case["reference_client"]["refund_amount"] == rounded <= unused
    assert compute.parse_refund_amount_trailer(value) == rounded
    # the refund never travels inside the encrypted response
    assert "X-Refund-Amount" not in case["reference_client"].get("trailer", {})
