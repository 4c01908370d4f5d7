"""The compute layer: requests sealed once for several candidate nodes, their responses, and encrypted
token streams whose chunk sizes do not reveal token lengths.

Byte-compatible with the Go reference (twoway's multi-recipient scheme, spec §4.2-§4.5). The Rust core does
the work; this module re-exports it. Token-stream padding is described in ``docs/token-stream-padding.md``.

Protobufs: the messages this layer and the router exchange (spec §11) come from ``proto/csprotos/*.proto``,
compiled into the Rust core; :func:`encode_message`/:func:`decode_message` reach every one of them by name,
and :func:`encode_compute_request_info` is the typed shortcut for ``X-Routing-Info``.

The unchunked/chunked *BHTTP* plaintext (padded to multiples of 514) is built with ``openpcc.bhttp``.

Every byte argument accepts ``bytes``, ``bytearray`` or ``memoryview`` (the node's secret key is copied once
into memory that is zeroized after use); streams take input with ``feed``. A ``NodeRequest`` answers at most
once: a second ``seal_response`` or ``token_stream_sealer`` raises ``ComputeStateError``.

Node side, per request (``docs/token-stream-padding.md``, ``docs/refunds.md``)::

    inner = open_http_request(node, body)              # the decrypted inner request
    inner, padding = take_padding_request(inner)       # X-Openpcc-Padding removed: the engine never sees it
    sealer = node.token_stream_sealer(200, headers, padding=padding)   # "fixed" only if the client asked
    ...                                                # feed/poll/finish: the encrypted outer body
    rounded, value = refund_amount_trailer(unused_credit)   # outer trailer X-Refund-Amount: value
"""

from __future__ import annotations

import json
from typing import Any

from openpcc import bhttp
from openpcc._openpcc.compute import (
    CHUNKED_REQUEST,
    CHUNKED_RESPONSE,
    CURRENCY_SIGNIFICANT_BITS,
    DEFAULT_FRAME,
    DEFAULT_MAX_DELAY_MS,
    ENCAPSULATED_KEY_LEN,
    MAX_CHUNK_PLAINTEXT,
    PADDING_FIXED,
    PADDING_HEADER,
    REFUND_AMOUNT_TRAILER,
    REQUEST,
    RESPONSE,
    ComputeRequest,
    NodeRequest,
    ResponseOpener,
    TokenStreamOpener,
    TokenStreamSealer,
    _decode_message_json,
    _encode_message_json,
    _take_padding_request,
    decode_compute_request_info,
    encode_compute_request_info,
    message_names,
    parse_refund_amount_trailer,
    refund_amount_trailer,
    seal_request,
)

__all__ = [
    "CHUNKED_REQUEST",
    "CHUNKED_RESPONSE",
    "CURRENCY_SIGNIFICANT_BITS",
    "DEFAULT_FRAME",
    "DEFAULT_MAX_DELAY_MS",
    "ENCAPSULATED_KEY_LEN",
    "MAX_CHUNK_PLAINTEXT",
    "PADDING_FIXED",
    "PADDING_HEADER",
    "REFUND_AMOUNT_TRAILER",
    "REQUEST",
    "RESPONSE",
    "ComputeRequest",
    "NodeRequest",
    "ResponseOpener",
    "TokenStreamOpener",
    "TokenStreamSealer",
    "decode_compute_request_info",
    "decode_message",
    "encode_compute_request_info",
    "encode_message",
    "message_names",
    "open_http_request",
    "open_http_response",
    "parse_refund_amount_trailer",
    "refund_amount_trailer",
    "seal_http_request",
    "seal_http_response",
    "seal_request",
    "take_padding_request",
    "with_padding_request",
]


def _encode_like_reference(message: bhttp.Request | bhttp.Response, indeterminate: bool) -> bytes:
    # messages/messages.go: compute messages are padded to a multiple of 514 with 514-byte content chunks.
    return bhttp.encode(
        message,
        indeterminate=indeterminate,
        pad_to_multiple_of=MAX_CHUNK_PLAINTEXT,
        max_encoded_chunk_len=MAX_CHUNK_PLAINTEXT,
    )


def with_padding_request(request: bhttp.Request) -> bhttp.Request:
    """``request`` with one ``X-Openpcc-Padding: fixed`` header field (any earlier one replaced): asks the
    node for a length-hiding token stream. It travels inside the encrypted request, never in the body."""
    headers = [(n, v) for n, v in request.headers if n.lower() != PADDING_HEADER.encode()]
    headers.append((PADDING_HEADER.encode(), PADDING_FIXED.encode()))
    return request.replace(headers=headers)


def seal_http_request(
    request: bhttp.Request, candidates: list[tuple[str, bytes]], *, chunked: bool = False
) -> ComputeRequest:
    """Encodes ``request`` as the reference does (BHTTP padded to 514; indeterminate-length when chunked)
    and seals it for ``candidates`` = ``[(node_id, public_key)]``. Our client always asks for length-hiding
    filler: the header ``X-Openpcc-Padding: fixed`` is added to the inner request."""
    inner = _encode_like_reference(with_padding_request(request), chunked)
    return seal_request(inner, candidates, chunked=chunked)


def open_http_request(node: NodeRequest, body: bytes) -> bhttp.Request:
    """Node side: opens the body and decodes its BHTTP request (padding accepted). The request still holds
    any ``X-Openpcc-Padding`` field: pass it through :func:`take_padding_request` before the engine."""
    return bhttp.decode_request(node.open_body(body))


def take_padding_request(request: bhttp.Request) -> tuple[bhttp.Request, str]:
    """Node side: ``(request without X-Openpcc-Padding, padding)`` where padding is ``"fixed"`` when the
    client asked for filler and ``"per-piece"`` (what the reference sends) when it did not; pass it to
    ``NodeRequest.token_stream_sealer(padding=...)``. A value other than ``fixed`` raises
    :class:`openpcc.exceptions.ComputeMalformedError` (answer 400)."""
    headers, padding = _take_padding_request(request.headers)
    if padding == "per-piece":
        return request, padding
    return request.replace(headers=headers), padding


def seal_http_response(
    node: NodeRequest, response: bhttp.Response, *, chunked: bool = True
) -> bytes:
    """Node side: encodes ``response`` as the reference does and seals it (the reference always chunks)."""
    return node.seal_response(_encode_like_reference(response, chunked), chunked=chunked)


def open_http_response(
    request: ComputeRequest, node_id: str, media_type: str, body: bytes
) -> bhttp.Response:
    """Client side: opens the response of ``node_id`` (the router's ``X-Node-ID``) and decodes it."""
    return bhttp.decode_response(request.open_response(node_id, media_type, body))


def encode_message(name: str, value: dict[str, Any]) -> bytes:
    """Serializes message ``name`` (e.g. ``"csprotos.NodeEvent"``) from its protobuf-JSON form as a dict:
    camelCase or declared field names, bytes as base64 strings, int64 as str or int. Fields present in
    ``value`` are serialized even when zero (explicit presence, as in the reference)."""
    return _encode_message_json(name, json.dumps(value))


def decode_message(name: str, data: bytes) -> dict[str, Any]:
    """Parses message ``name`` into its protobuf-JSON form as a dict (the inverse of :func:`encode_message`)."""
    out: dict[str, Any] = json.loads(_decode_message_json(name, data))
    return out
