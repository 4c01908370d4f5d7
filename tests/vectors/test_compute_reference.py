"""openpcc.compute against vectors the Go reference (twoway v0.0.80, bhttp v0.0.80) produced.

The vectors live in ``tests/interop/compute-vectors.json``; ``tests/interop/README.md`` gives the command
that regenerates them. Every check compares exact bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openpcc import compute
from openpcc._openpcc.compute import _seal_response_with

VECTORS = Path(__file__).resolve().parents[1] / "interop" / "compute-vectors.json"


def _load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text())
    return data


DATA = _load()
NODES = DATA["nodes"]
REQUESTS = DATA["requests"]


def _h(s: str) -> bytes:
    return bytes.fromhex(s)


def _candidates(req: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [(NODES[i]["id"], _h(NODES[i]["pk"])) for i in req["candidates"]]


def _seal_like_reference(req: dict[str, Any]) -> compute.ComputeRequest:
    from openpcc._openpcc.compute import _seal_request_with

    return _seal_request_with(
        [_h(c) for c in req["chunks"]],
        _candidates(req),
        req["media_type"],
        _h(req["dek"]),
        _h(req["body_nonce"]),
        [_h(x) for x in req["ikm_e"]],
    )


def test_vector_file_covers_the_cases() -> None:
    names = {r["name"] for r in REQUESTS}
    assert names == {
        "unchunked-1",
        "unchunked-3",
        "chunked-exact-1",
        "chunked-exact-3",
        "chunked-natural-3",
    }
    # The RNG stream is read in the reference's order: DEK(32), body nonce(12), 32-byte seed per candidate.
    for r in REQUESTS:
        rng = _h(r["rng"])
        assert rng[:32] == _h(r["dek"]) and rng[32:44] == _h(r["body_nonce"])
        assert b"".join(_h(x) for x in r["ikm_e"]) == rng[44:]


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r["name"])
def test_client_seal_matches_reference_bytes(req: dict[str, Any]) -> None:
    sealed = _seal_like_reference(req)
    assert sealed.media_type == req["media_type"]
    assert sealed.body == _h(req["body"])
    assert [k for _, k in sealed.encapsulated_keys] == [_h(k) for k in req["encapsulated_keys"]]
    assert all(len(_h(k)) == compute.ENCAPSULATED_KEY_LEN == 120 for k in req["encapsulated_keys"])


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r["name"])
def test_client_opens_reference_responses(req: dict[str, Any]) -> None:
    sealed = _seal_like_reference(req)
    cands = _candidates(req)
    for resp in req["responses"]:
        node_id = cands[resp["candidate"]][0]
        pt = sealed.open_response(node_id, resp["media_type"], _h(resp["body"]))
        assert pt == b"".join(_h(c) for c in resp["chunks"])


def _unwrap(req: dict[str, Any], ci: int, idx: int) -> compute.NodeRequest:
    return compute.NodeRequest.unwrap(
        req["media_type"], _h(req["encapsulated_keys"][ci]), _h(NODES[idx]["sk"])
    )


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r["name"])
def test_node_opens_reference_request_and_answers_identically(req: dict[str, Any]) -> None:
    plaintext = b"".join(_h(c) for c in req["chunks"])
    for ci, idx in enumerate(req["candidates"]):
        assert _unwrap(req, ci, idx).open_body(_h(req["body"])) == plaintext
        for resp in (r for r in req["responses"] if r["candidate"] == ci):
            # A node request answers once: one unwrap per recorded response.
            body = _seal_response_with(
                _unwrap(req, ci, idx),
                [_h(c) for c in resp["chunks"]],
                resp["media_type"],
                _h(resp["response_nonce"]),
            )
            assert body == _h(resp["body"])


def test_plaintexts_are_bhttp_padded_to_514() -> None:
    for req in REQUESTS:
        assert len(b"".join(_h(c) for c in req["chunks"])) % compute.MAX_CHUNK_PLAINTEXT == 0


def test_reference_plaintexts_decode_with_padding() -> None:
    """Our BHTTP decoder accepts the reference's compute messages, zero padding included."""
    from openpcc import bhttp

    for req in REQUESTS:
        decoded = bhttp.decode_request(b"".join(_h(c) for c in req["chunks"]))
        assert decoded.path == b"/api/generate" and b"sky" in decoded.content
        for resp in req["responses"]:
            r = bhttp.decode_response(b"".join(_h(c) for c in resp["chunks"]))
            assert r.status == 200 and r.content.endswith(b' scattering"}\n')
