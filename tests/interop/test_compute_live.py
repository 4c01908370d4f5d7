"""Live interop with the Go reference (tests/interop/go), both directions.

Skipped without Go >= 1.25 (the message names what was looked for); a failure instead when ``CI`` is set.

* the reference client seals a request (unchunked and chunked, 3 candidates); our node opens it and answers
  (unchunked, chunked, and a length-hiding token stream); the reference client opens and BHTTP-decodes it;
* our client seals a request; the reference node opens it and answers; our client opens that.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from openpcc import compute

from tests.support import go_interop, stream_interop

pytestmark = pytest.mark.interop

IDS = [f"01936e5a-0000-7000-8000-00000000000{i}" for i in range(1, 4)]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return go_interop.build_harness(tmp_path_factory.mktemp("interop"))


def _run(harness: Path, mode: str, payload: dict[str, Any]) -> Any:
    return go_interop.run(harness, mode, payload)


def _nodes() -> list[dict[str, str]]:
    out = []
    for node_id in IDS:
        sk = ec.generate_private_key(ec.SECP256R1())
        pk = sk.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        out.append(
            {
                "id": node_id,
                "sk": sk.private_numbers().private_value.to_bytes(32, "big").hex(),
                "pk": pk.hex(),
            }
        )
    return out


REQUEST_PT = (
    b"\x00\x04POST\x04http\x0fconfsec.invalid\x0c/api/generate" + b"\x00" * 484
)  # 514 bytes
RESPONSE_PIECES = [b"\x03\x40\xc8", b"\x00", b"\x05hello", b"\x00\x00", b"\x00" * 504]
TOKENS = [b'{"response":"Hi"}\n', b'{"response":" there"}\n', b'{"done":true}\n']


@pytest.mark.parametrize("media_type", [compute.REQUEST, compute.CHUNKED_REQUEST])
def test_reference_client_to_our_node(harness: Path, media_type: str) -> None:
    nodes = _nodes()
    rng = os.urandom(32 + 12 + 32 * 3)
    chunks = [REQUEST_PT] if media_type == compute.REQUEST else [REQUEST_PT[:100], REQUEST_PT[100:]]
    client_in: dict[str, Any] = {
        "nodes": nodes,
        "media_type": media_type,
        "chunks": [c.hex() for c in chunks],
        "candidates": [0, 1, 2],
        "rng": rng.hex(),
        "responses": [],
    }
    sealed = _run(harness, "client", client_in)
    body = bytes.fromhex(sealed["body"])
    responses = []
    for ci, key_hex in enumerate(sealed["encapsulated_keys"]):
        # A node request answers once: one unwrap per answer.
        def unwrap(key_hex: str = key_hex, sk_hex: str = nodes[ci]["sk"]) -> compute.NodeRequest:
            return compute.NodeRequest.unwrap(
                media_type, bytes.fromhex(key_hex), bytes.fromhex(sk_hex)
            )

        assert unwrap().open_body(body) == REQUEST_PT
        responses.append(
            {
                "candidate": ci,
                "media_type": compute.RESPONSE,
                "body": unwrap().seal_response(b"".join(RESPONSE_PIECES), chunked=False).hex(),
            }
        )
        responses.append(
            {
                "candidate": ci,
                "media_type": compute.CHUNKED_RESPONSE,
                "body": unwrap().seal_response(b"".join(RESPONSE_PIECES)).hex(),
            }
        )
        for padding in ("fixed", "per-piece"):
            s = unwrap().token_stream_sealer(
                200,
                [(b"content-type", b"application/x-ndjson"), (b"trailer", b"x-example")],
                padding=padding,
                now_ns=0,
            )
            wire = s.response_nonce + b"".join(s.start())
            for i, tok in enumerate(TOKENS):
                wire += b"".join(
                    s.poll(now_ns=(i + 1) * 30_000_000) + s.feed(tok, now_ns=(i + 1) * 30_000_000)
                )
            wire += b"".join(s.poll(now_ns=10**9) + s.finish([(b"x-example", b"done")]))
            responses.append(
                {
                    "candidate": ci,
                    "media_type": compute.CHUNKED_RESPONSE,
                    "body": wire.hex(),
                    "stream": padding,
                }
            )
    opened = _run(harness, "client", {**client_in, "responses": responses})
    assert opened["body"] == sealed["body"]  # same RNG bytes, same contexts
    for resp, res in zip(responses, opened["results"]):
        assert not res.get("error"), res["error"]
        if "stream" in resp:
            assert res["status"] == 200 and res["header"] == {
                "Content-Type": ["application/x-ndjson"]
            }
            assert res["trailer"] == {"X-Example": ["done"]}  # announced, so the reference keeps it
            # The reference sees our filler as insignificant whitespace in the body.
            text = b"".join(TOKENS).decode()
            assert res["body"].replace(" ", "") == text.replace(" ", "")
            if resp["stream"] == "per-piece":
                assert res["body"] == text
        else:
            assert bytes.fromhex(res["plaintext"]) == b"".join(RESPONSE_PIECES)
            assert res["status"] == 200 and res["body"] == "hello"


@pytest.mark.parametrize("chunked", [False, True])
def test_our_client_to_reference_node(harness: Path, chunked: bool) -> None:
    nodes = _nodes()
    req = compute.seal_request(
        REQUEST_PT, [(n["id"], bytes.fromhex(n["pk"])) for n in nodes], chunked=chunked
    )
    for ci, (node_id, key) in enumerate(req.encapsulated_keys):
        for resp_media in (compute.RESPONSE, compute.CHUNKED_RESPONSE):
            payload = {
                "node_sk": nodes[ci]["sk"],
                "requests": [
                    {
                        "media_type": req.media_type,
                        "encapsulated_key": key.hex(),
                        "body": req.body.hex(),
                        "response": {
                            "media_type": resp_media,
                            "chunks": [p.hex() for p in RESPONSE_PIECES],
                            "nonce": os.urandom(16).hex(),
                        },
                    }
                ],
            }
            (res,) = _run(harness, "node", payload)
            assert not res.get("error"), res["error"]
            assert bytes.fromhex(res["request_plaintext"]) == REQUEST_PT
            body = bytes.fromhex(res["response_body"])
            assert req.open_response(node_id, resp_media, body) == b"".join(RESPONSE_PIECES)


def test_token_streams_and_refunds_match_the_recorded_vectors(harness: Path) -> None:
    """Records tests/interop/stream-vectors.json again with the live reference: it must not have changed
    (tests/vectors/test_stream_reference.py asserts what the recorded reference output means)."""
    live = stream_interop.record(harness)
    recorded = json.loads(stream_interop.VECTORS.read_text())
    assert live == recorded
