"""Exchanges recorded from the reference's github.com/openpcc/ohttp v0.0.80 (its Transport client against
its Middleware gateway over loopback HTTP; ``ohttp-vectors.json``), checked without Go: all four
request/response pairings on 0x0030 and 0x0020, in the module's default configuration and in OpenPCC's
(fixed 532-byte chunks, messages padded to multiples of 532).

* our gateway opens the reference client's plain and chunked requests (``RequestOpener`` by media type);
* the reference gateway picks the response form from the response (``/plain`` known length ->
  ``message/ohttp-res``, ``/chunked`` streamed with a trailer -> ``message/ohttp-chunked-res``) whatever
  the request's form;
* our gateway, given the reference's response nonce and chunk boundaries, seals the identical response
  in every pairing (so both response secrets are derived as the reference derives them).

The Rust test ``rust/openpcc-ohttp/tests/reference_exchanges.rs`` also re-seals the requests and opens
the responses as the client."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from openpcc import bhttp, ohttp
from openpcc._openpcc.ohttp import _response_sealer_with_nonce

VECTORS = Path(__file__).resolve().parent / "ohttp-vectors.json"
TAG_LEN = 16


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())  # committed: a missing file fails
    return data


DATA = _load()
CASES = DATA["cases"]


def _name(case: dict[str, Any]) -> str:
    path = case["path"].strip("/")
    return f"{case['config']}-kem{case['kem']:04x}-{case['request_form']}-req-{path}-resp"


def _gateway_key(key_id: int) -> ohttp.GatewayKey:
    entry = next(k for k in DATA["keys"] if k["key_id"] == key_id)
    key = ohttp.GatewayKey.from_seed(
        key_id, entry["kem"], bytes.fromhex(entry["seed"]), [ohttp.HKDF_SHA256_AES128GCM]
    )
    assert key.key_config.encode().hex() == entry["key_config"]
    return key


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A QUIC varint at ``data[at:]``: (value, next offset)."""
    length = 1 << (data[at] >> 6)
    value = int.from_bytes(data[at : at + length], "big") & ((1 << (8 * length - 2)) - 1)
    return value, at + length


def _chunk_plaintext_lens(wire: bytes, nonce_len: int) -> list[int]:
    """Plaintext lengths of the non-final chunks of a chunked response (the final one runs to the end)."""
    lens: list[int] = []
    at = nonce_len
    while True:
        sealed, at = _varint(wire, at)
        if sealed == 0:
            assert len(wire) - at == TAG_LEN, "the reference's final chunk is empty"
            return lens
        lens.append(sealed - TAG_LEN)
        at += sealed


def test_vectors_cover_every_pairing_on_both_suites() -> None:
    pairings = {
        (c["config"], c["kem"], c["request_media_type"], c["response_media_type"]) for c in CASES
    }
    assert len(pairings) == 16
    assert "v0.0.80" in DATA["versions"]


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_our_gateway_on_reference_exchange(case: dict[str, Any]) -> None:
    key = _gateway_key(case["key_id"])
    request = bytes.fromhex(case["encapsulated_request"])
    response = bytes.fromhex(case["encapsulated_response"])
    request_pt = bytes.fromhex(case["request_plaintext"])
    response_pt = bytes.fromhex(case["response_plaintext"])

    opener = ohttp.RequestOpener(key, case["request_media_type"])
    assert opener.chunked == (case["request_form"] == "chunked")
    assert b"".join(opener.feed(request)) + opener.finish() == request_pt
    inner = bhttp.decode_request(request_pt)
    assert (inner.method, inner.authority, inner.path) == (
        b"POST",
        b"ohttp.invalid",
        case["path"].encode(),
    )
    assert inner.content.hex() == case["request_body"]

    chunked_response = case["path"] == "/chunked"
    expected_type = (
        ohttp.CHUNKED_RESPONSE_MEDIA_TYPE if chunked_response else ohttp.RESPONSE_MEDIA_TYPE
    )
    assert case["response_media_type"] == expected_type
    context = opener.response_context
    assert context is not None and context.request_chunked == opener.chunked

    nonce = response[:16]
    sealer = _response_sealer_with_nonce(
        context, nonce, chunked=chunked_response, max_chunk_len=16384
    )
    assert sealer.media_type == expected_type
    pieces, at = [], 0
    for length in _chunk_plaintext_lens(response, 16) if chunked_response else [len(response_pt)]:
        pieces += sealer.feed(response_pt[at : at + length])
        at += length
    assert at == len(response_pt)
    assert b"".join(pieces + sealer.finish()) == response

    if case["config"] == "openpcc":  # OpenPCC pads every message to a multiple of 532 (spec §2.6)
        assert len(request_pt) % 532 == 0 and len(response_pt) % 532 == 0
    reply = bhttp.decode_response(response_pt)
    digest = hashlib.sha256(inner.content).hexdigest()
    assert reply.status == 200
    assert reply.content == f"reference {case['path']} {digest}".encode()
    assert (dict(reply.trailers).get(b"x-digest") == digest.encode()) == chunked_response
