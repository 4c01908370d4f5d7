"""The compute layer: requests sealed once for several candidate nodes, their responses, and encrypted
token streams whose chunk sizes do not reveal token lengths.

Byte-compatible with the Go reference (twoway's multi-recipient scheme, spec §4.2-§4.5). The Rust core does
the work; this module re-exports it. Token-stream padding is described in ``docs/token-stream-padding.md``.

The unchunked/chunked *BHTTP* plaintext (padded to multiples of 514) is built with ``openpcc.bhttp``.
"""

from __future__ import annotations

from openpcc._openpcc.compute import (
    CHUNKED_REQUEST,
    CHUNKED_RESPONSE,
    DEFAULT_FRAME,
    DEFAULT_MAX_DELAY_MS,
    ENCAPSULATED_KEY_LEN,
    MAX_CHUNK_PLAINTEXT,
    REQUEST,
    RESPONSE,
    ComputeRequest,
    NodeRequest,
    ResponseOpener,
    TokenStreamOpener,
    TokenStreamSealer,
    decode_compute_request_info,
    encode_compute_request_info,
    seal_request,
)

__all__ = [
    "CHUNKED_REQUEST",
    "CHUNKED_RESPONSE",
    "DEFAULT_FRAME",
    "DEFAULT_MAX_DELAY_MS",
    "ENCAPSULATED_KEY_LEN",
    "MAX_CHUNK_PLAINTEXT",
    "REQUEST",
    "RESPONSE",
    "ComputeRequest",
    "NodeRequest",
    "ResponseOpener",
    "TokenStreamOpener",
    "TokenStreamSealer",
    "decode_compute_request_info",
    "encode_compute_request_info",
    "seal_request",
]
