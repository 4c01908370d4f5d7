"""Token streams and refunds against the Go reference: the cases, how they are recorded, how they are checked.

``tests/interop/stream-vectors.json`` holds, per case, what our node sent and what the reference made of it:
the reference client (twoway v0.0.80 opener + bhttp v0.0.80 decoder) reading our token stream, the router's
reading of our outer ``X-Refund-Amount`` trailer, and what the reference node itself would send for the same
engine output. Regenerate (needs Go >= 1.25) with::

    .venv/bin/python -m tests.support.stream_interop

Cases: ``reference-client`` (the request does not ask for filler: our node must answer like the reference)
and ``openpcc-client`` (the request asks with ``X-Openpcc-Padding: fixed``: filler, which the reference
decoder sees as spaces in the body).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from openpcc import bhttp, compute
from openpcc._openpcc.compute import _token_stream_sealer_with

VECTORS = Path(__file__).resolve().parents[1] / "interop" / "stream-vectors.json"
COMPUTE_VECTORS = Path(__file__).resolve().parents[1] / "interop" / "compute-vectors.json"

TOKENS = [b'{"response":"The"}\n', b'{"response":" sky"}\n', b'{"response":" is blue."}\n']
STEP_NS = 30_000_000  # tokens 30 ms apart: every token gets its own flush under "fixed"
HEADERS = [(b"content-type", b"application/x-ndjson"), (b"trailer", b"x-example")]
TRAILERS = [(b"x-example", b"done")]
CREDIT = 262_144
USED = 1_000  # the node's usage; the refund is the rest, rounded down
RNG = hashlib.shake_256(b"openpcc stream interop vectors v1").digest(32 + 12 + 32)
CASES = {"reference-client": False, "openpcc-client": True}  # name -> the request asks for filler


def node_key() -> dict[str, str]:
    """Node 0 of compute-vectors.json (DeriveKeyPair(0xa0 * 32)), so no key material is invented here."""
    node: dict[str, str] = json.loads(COMPUTE_VECTORS.read_text())["nodes"][0]
    return node


def request_plaintext(asks: bool) -> bytes:
    request = bhttp.Request(
        b"POST",
        b"http",
        b"confsec.invalid",
        b"/api/generate",
        [(b"content-type", b"application/json")],
        b'{"model":"llama3.2:1b","prompt":"Why is the sky blue?"}',
    )
    if asks:
        request = compute.with_padding_request(request)
    return compute._encode_like_reference(request, False)


def response_nonce(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()[:16]


def our_node(case: dict[str, Any]) -> tuple[str, bytes, str]:
    """Our node on the sealed request: returns (padding chosen, token-stream wire, outer refund trailer)."""
    node = compute.NodeRequest.unwrap(
        compute.REQUEST, bytes.fromhex(case["encapsulated_key"]), bytes.fromhex(node_key()["sk"])
    )
    inner = compute.open_http_request(node, bytes.fromhex(case["request_body"]))
    for_engine, padding = compute.take_padding_request(inner)
    assert all(n.lower() != compute.PADDING_HEADER.encode() for n, _ in for_engine.headers)
    s = _token_stream_sealer_with(
        node, response_nonce(case["name"]), 200, HEADERS, padding=padding, now_ns=0
    )
    chunks = list(s.start())
    t = 0
    for tok in TOKENS:
        t += STEP_NS
        chunks += s.poll(now_ns=t) + s.feed(tok, now_ns=t)
    chunks += s.poll(now_ns=t + STEP_NS) + s.finish(TRAILERS)
    _, outer = compute.refund_amount_trailer(CREDIT - USED)
    return padding, s.response_nonce + b"".join(chunks), outer


def record(harness: Path) -> dict[str, Any]:
    """Runs every case through the Go reference (``harness`` built from tests/interop/go)."""
    from tests.support.go_interop import run

    node = node_key()
    cases = []
    for name, asks in CASES.items():
        pt = request_plaintext(asks)
        client_in: dict[str, Any] = {
            "nodes": [node],
            "media_type": compute.REQUEST,
            "chunks": [pt.hex()],
            "candidates": [0],
            "rng": RNG.hex(),
            "responses": [],
        }
        sealed = run(harness, "client", client_in)
        case: dict[str, Any] = {
            "name": name,
            "asks_padding": asks,
            "request_plaintext": pt.hex(),
            "request_body": sealed["body"],
            "encapsulated_key": sealed["encapsulated_keys"][0],
        }
        padding, wire, outer = our_node(case)
        case.update(padding=padding, wire=wire.hex(), outer_trailer=outer)
        response = {"candidate": 0, "media_type": compute.CHUNKED_RESPONSE, "body": wire.hex()}
        opened = run(
            harness, "client", {**client_in, "responses": [{**response, "outer_trailer": outer}]}
        )
        case["reference_client"] = opened["results"][0]
        case["reference_node"] = run(
            harness,
            "encode-response",
            {
                "status": 200,
                "headers": [[n.decode(), v.decode()] for n, v in HEADERS if n != b"trailer"],
                "pieces": [t.hex() for t in TOKENS],
                "trailers": [[n.decode(), v.decode()] for n, v in TRAILERS],
            },
        )
        cases.append(case)
    return {
        "comment": "Recorded by `python -m tests.support.stream_interop` against github.com/openpcc/twoway and "
        "bhttp v0.0.80 (tests/interop/go); checked by tests/vectors/test_stream_reference.py.",
        "node": node,
        "rng": RNG.hex(),
        "tokens": [t.hex() for t in TOKENS],
        "credit": CREDIT,
        "used": USED,
        "cases": cases,
    }


def main() -> None:
    from tests.support.go_interop import build_harness

    with tempfile.TemporaryDirectory() as tmp:
        data = record(build_harness(Path(tmp)))
    VECTORS.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {VECTORS}", file=sys.stderr)


if __name__ == "__main__":
    main()
