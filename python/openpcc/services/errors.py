"""The stable error codes every openpcc service puts on the wire, grouped by hundreds.

| range | family |
|---|---|
| 1xx | keys (reserved for the gateway's OHTTP key errors, which keep the reference's numbers) |
| 2xx | the request itself: its framing, size, media type, timing |
| 3xx | the service's state: capacity, shutdown, storage |
| 4xx | credits and nonces |
| 5xx | bank accounts and balances |

Binary endpoints answer the reference's ``Error{Message}`` protobuf (spec §1.5) with the code in the
``X-Openpcc-Error-Code`` header; the others answer JSON ``{"error": message, "code": n}``, which the
reference's JSON error decoder also reads. Numbers never change meaning once released; a test checks
that each has a message, a status and a line in ``docs/errors.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

ERROR_CODE_HEADER = "X-Openpcc-Error-Code"


class Code(IntEnum):
    """Stable wire codes (see the module docstring for the ranges)."""

    BAD_REQUEST = 200
    BODY_TOO_LARGE = 201
    UNSUPPORTED_MEDIA_TYPE = 202
    REQUEST_TIMEOUT = 203
    NOT_FOUND = 204
    METHOD_NOT_ALLOWED = 205
    INVALID_MESSAGE = 206
    UNAUTHORIZED = 207
    DECAPSULATION_FAILED = 220
    REPLAYED_REQUEST = 221
    INVALID_ROUTING_INFO = 230
    INVALID_NODE_EVENT = 231
    NODE_NOT_ADMITTED = 232
    NO_CANDIDATE = 233
    NODE_FAILED = 234
    NO_REFUND = 235
    UNKNOWN_REQUEST = 236

    OVERLOADED = 300
    SHUTTING_DOWN = 301
    STORE_UNAVAILABLE = 302
    RATE_LIMITED = 320
    NOT_READY = 321
    INTERNAL = 399

    INVALID_NONCE = 400
    NONCE_LOCKED = 401
    NONCE_CONSUMED = 402
    TICKET_MISMATCH = 403
    INVALID_CREDIT = 404
    EXPIRED_CREDIT = 405
    WRONG_CREDIT_VALUE = 406
    MALFORMED_CREDIT = 407

    INSUFFICIENT_BALANCE = 500
    UNKNOWN_ACCOUNT = 501
    IDEMPOTENCY_CONFLICT = 502
    BALANCE_LIMIT = 503
    INVALID_API_KEY = 504


@dataclass(frozen=True)
class ErrorInfo:
    status: int
    message: str


# Messages the reference uses are kept word for word ("invalid input", "nonce is locked", ...), so a
# reference peer that compares texts still understands us.
ERRORS: dict[Code, ErrorInfo] = {
    Code.BAD_REQUEST: ErrorInfo(400, "bad request"),
    Code.BODY_TOO_LARGE: ErrorInfo(413, "request body too large"),
    Code.UNSUPPORTED_MEDIA_TYPE: ErrorInfo(415, "invalid Content-Type, requires 'application/octet-stream'"),
    Code.REQUEST_TIMEOUT: ErrorInfo(408, "request not received in time"),
    Code.NOT_FOUND: ErrorInfo(404, "not found"),
    Code.METHOD_NOT_ALLOWED: ErrorInfo(405, "method not allowed"),
    Code.INVALID_MESSAGE: ErrorInfo(400, "invalid input"),
    Code.UNAUTHORIZED: ErrorInfo(401, "unauthorized"),
    Code.DECAPSULATION_FAILED: ErrorInfo(400, "failed to decapsulate encrypted request"),
    Code.REPLAYED_REQUEST: ErrorInfo(409, "request already received"),
    Code.INVALID_ROUTING_INFO: ErrorInfo(400, "invalid routing info in X-Routing-Info header"),
    Code.INVALID_NODE_EVENT: ErrorInfo(400, "invalid node event"),
    Code.NODE_NOT_ADMITTED: ErrorInfo(403, "node not admitted"),
    Code.NO_CANDIDATE: ErrorInfo(404, "all candidate nodes unavailable"),
    Code.NODE_FAILED: ErrorInfo(502, "the node failed before answering"),
    Code.NO_REFUND: ErrorInfo(404, "no refund under this claim"),
    Code.UNKNOWN_REQUEST: ErrorInfo(404, "no such request in flight"),
    Code.RATE_LIMITED: ErrorInfo(429, "too many requests, retry later"),
    Code.NOT_READY: ErrorInfo(503, "not ready"),
    Code.OVERLOADED: ErrorInfo(503, "too many requests in flight"),
    Code.SHUTTING_DOWN: ErrorInfo(503, "shutting down"),
    Code.STORE_UNAVAILABLE: ErrorInfo(503, "store unavailable"),
    Code.INTERNAL: ErrorInfo(500, "internal server error"),
    Code.INVALID_NONCE: ErrorInfo(400, "invalid input"),
    Code.NONCE_LOCKED: ErrorInfo(409, "nonce is locked"),
    Code.NONCE_CONSUMED: ErrorInfo(410, "nonce is consumed"),
    Code.TICKET_MISMATCH: ErrorInfo(400, "invalid input"),
    Code.INVALID_CREDIT: ErrorInfo(400, "invalid input"),
    Code.EXPIRED_CREDIT: ErrorInfo(400, "invalid input"),
    Code.WRONG_CREDIT_VALUE: ErrorInfo(400, "invalid input"),
    Code.MALFORMED_CREDIT: ErrorInfo(400, "invalid input"),
    Code.INSUFFICIENT_BALANCE: ErrorInfo(429, "insufficient balance"),
    Code.UNKNOWN_ACCOUNT: ErrorInfo(400, "invalid account"),
    Code.IDEMPOTENCY_CONFLICT: ErrorInfo(409, "operation id reused with different arguments"),
    Code.BALANCE_LIMIT: ErrorInfo(400, "amount out of range"),
    Code.INVALID_API_KEY: ErrorInfo(401, "invalid API key"),
}


def list_error_codes() -> list[tuple[int, int, str]]:
    """``(code, HTTP status, message)`` for every code, in order."""
    return [(int(code), ERRORS[code].status, ERRORS[code].message) for code in Code]
