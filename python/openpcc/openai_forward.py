"""What the OpenAI-compatible fronts share (:mod:`openpcc.httpx`, :mod:`openpcc.proxy`): which call goes
where, the checks made before a credit is spent, the answers' shapes, and the OpenAI errors.

A call is checked here first (path, method, size, JSON, model, the fields the engines check), so a
malformed request costs nothing and reaches no node. Chat and text completions are forwarded as they
are; ``/v1/responses`` is rewritten into a chat completion (:mod:`openpcc.responses_api`) and its answer
back. ``/v1/models`` is answered locally. Only ``Content-Type: application/json`` is forwarded, never
the caller's other headers (the SDKs' ``X-Stainless-*`` headers name the OS, runtime and versions;
``Authorization`` carries an API key the private path does not use).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from openpcc import exceptions as errors
from openpcc.completions import COMPLETIONS_PATH, parse_request
from openpcc.exceptions import (
    EndpointNotFoundError,
    EngineError,
    EngineRequestError,
    ModelNotFoundError,
    NoCreditError,
    OpenPCCError,
    PrivatePathError,
    RequestTooLargeError,
)
from openpcc.responses_api import (
    CHAT_PATH,
    RESPONSES_PATH,
    ResponseStreamTranslator,
    chat_request,
    response_from_chat,
)

#: A node refuses inner bodies above this (``services.node.MAX_INNER_BODY``).
MAX_BODY_BYTES = 1 << 20
MAX_ERROR_BODY_BYTES = 64 * 1024
MODELS_PATH = "/v1/models"
JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream"
SSE_DONE_EVENT = b"data: [DONE]"
#: After a caller read a complete answer, what may still be read for the node's trailer (its refund).
DRAIN_LIMIT_BYTES = 64 * 1024
INNER_HEADERS = {"content-type": JSON_TYPE}
NODE_ID_HEADER = "x-openpcc-node-id"
SHOULD_RETRY_HEADER = "x-should-retry"  # the OpenAI SDKs honour it before their own retry rules


@dataclass(frozen=True)
class Call:
    """A checked call to forward: ``inner_path`` and ``body`` go to the node."""

    endpoint: str
    inner_path: str
    body: bytes
    request: dict[str, Any]
    model: str
    stream: bool


@dataclass(frozen=True)
class LocalAnswer:
    """A call answered without the private path (``/v1/models``)."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("content-type", JSON_TYPE)])


def endpoint_of(path: str) -> str:
    """The OpenAI endpoint a request path names, whatever the base URL in front of it
    (``/anything/v1/chat/completions`` and ``/chat/completions`` both name ``/v1/chat/completions``)."""
    path = "/" + path.strip("/")
    at = path.rfind("/v1/")
    return path[at:] if at >= 0 else "/v1" + path


@dataclass(frozen=True)
class Models:
    """``listed``: what ``/v1/models`` shows; ``only``: the names calls may name (None: any, the router
    then answers a name no node serves with 404 ``model_not_found``, before any credit is spent)."""

    listed: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None

    @classmethod
    def of(cls, explicit: Sequence[str] | None, default: str | None) -> Models:
        if explicit is not None:
            return cls(tuple(explicit), tuple(explicit))
        return cls((default,) if default else ())


def prepare(method: str, path: str, body: bytes, models: Models | None = None) -> Call | LocalAnswer:
    """The call ``method path`` with ``body`` asks for, checked; raises an :class:`EngineError` (the
    OpenAI error to answer) when it is not one to forward."""
    models = models or Models()
    endpoint = endpoint_of(path)
    if endpoint == MODELS_PATH or endpoint.startswith(MODELS_PATH + "/"):
        if method != "GET":
            raise EndpointNotFoundError(f"{endpoint} answers GET only")
        return _models_answer(endpoint, models.listed)
    if endpoint not in (CHAT_PATH, COMPLETIONS_PATH, RESPONSES_PATH):
        raise EndpointNotFoundError(
            "unknown endpoint; served: /v1/chat/completions, /v1/completions, /v1/responses, /v1/models"
        )
    if method != "POST":
        raise EndpointNotFoundError(f"{endpoint} answers POST only")
    request = _parse_json(body)
    model = request.get("model")
    if isinstance(model, str) and models.only is not None and model not in models.only:
        raise ModelNotFoundError(
            "the model does not exist or is not served through this private path", param="model"
        )
    inner = chat_request(request) if endpoint == RESPONSES_PATH else request
    inner_path = CHAT_PATH if endpoint == RESPONSES_PATH else endpoint
    checked = _check_engine_fields(inner_path, inner)
    inner_body = body if inner is request else json.dumps(inner, separators=(",", ":")).encode()
    if len(inner_body) > MAX_BODY_BYTES:
        raise RequestTooLargeError(f"the request body exceeds {MAX_BODY_BYTES} bytes")
    return Call(endpoint, inner_path, inner_body, request, checked.model, checked.stream)


def _parse_json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise RequestTooLargeError(f"the request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise EngineRequestError(
            "the body of the request is not valid JSON (it must be a JSON object)"
        ) from None
    if not isinstance(request, dict):
        raise EngineRequestError("the request body must be a JSON object")
    return request


def _check_engine_fields(path: str, request: dict[str, Any]) -> Any:
    """The engines' own checks, run before any credit is spent (the node runs them again)."""
    return parse_request(path, request, None)


def _models_answer(endpoint: str, names: Sequence[str]) -> LocalAnswer:
    if endpoint == MODELS_PATH:
        listing = {"object": "list", "data": [_model_object(name) for name in names]}
        return LocalAnswer(200, json.dumps(listing).encode())
    name = endpoint[len(MODELS_PATH) + 1:]
    if name not in names:
        raise ModelNotFoundError("the model does not exist or is not served through this private path",
                                 param="model")
    return LocalAnswer(200, json.dumps(_model_object(name)).encode())


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "openpcc"}


# --- errors -------------------------------------------------------------------------------------


def error_body(exc: EngineError) -> bytes:
    """``{"error": {"message", "type", "param", "code"}}``, as the OpenAI API writes it."""
    return json.dumps(
        {"error": {"message": str(exc), "type": exc.error_type, "param": exc.param, "code": exc.code}}
    ).encode()


def error_headers(exc: EngineError) -> list[tuple[str, str]]:
    headers = [("content-type", JSON_TYPE)]
    if not getattr(exc, "retryable", exc.status in (429, 500, 502, 503, 504)):
        headers.append((SHOULD_RETRY_HEADER, "false"))
    return headers


def is_unreachable(exc: BaseException) -> bool:
    """True when the private path could not be reached at all (the SDKs' connection error)."""
    if isinstance(exc, errors.RelayError):
        return exc.status == 0
    return isinstance(exc, errors.HTTPStreamError | OSError)


def openai_error(exc: OpenPCCError) -> EngineError:
    """The OpenAI error a failure of the private path is reported as. Attestation, policy and
    transparency failures are a 502 naming the failed check, never retried; a model no node serves is a
    404 ``model_not_found``; messages are the library's, which name checks, nodes and fields, never
    secrets or the prompt."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, errors.NoVerifiedNodeError) and not exc.rejections and not isinstance(
        exc, errors.PolicyRejectedError
    ):
        return ModelNotFoundError(f"no node serves this model: {exc}", param="model")
    if isinstance(exc, errors.NoVerifiedNodeError | errors.AttestationError | errors.TransparencyError):
        return errors.AttestationFailedError(f"no node passed verification: {exc}")
    if isinstance(exc, errors.WalletEmptyError | errors.InsufficientBalanceError):
        return NoCreditError(f"no credit for this request: {exc}")
    if isinstance(exc, errors.ClientUsageError):
        return EngineRequestError(str(exc))
    error = PrivatePathError(f"the private path failed: {exc}")
    if isinstance(exc, errors.CandidatesUnavailableError):
        error.status = 503
    elif isinstance(exc, errors.ClientConfigError):
        error.retryable = False
    return error


def _inner_error_body(status: int, body: bytes) -> bytes:
    """A node's error answer in the OpenAI shape (its own checks answer ``{"error": "message"}``)."""
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        shaped = {k: error.get(k) for k in ("message", "type", "param", "code")}
    else:
        message = error if isinstance(error, str) else f"the node answered HTTP {status}"
        kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
        shaped = {"message": message, "type": kind, "param": None, "code": None}
    return json.dumps({"error": shaped}).encode()


# --- answers --------------------------------------------------------------------------------------


class Adapter(Protocol):
    """Turns a node's answer into the answer the caller's endpoint expects, piece by piece.
    ``complete``: the caller has all it will read (an SSE stream's ``data: [DONE]`` passed), so a caller
    that stops reading now is done, not abandoning: the rest (the refund trailer) is still to be read."""

    content_type: str
    complete: bool

    def feed(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class _Passthrough:
    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        self.complete = False
        self._tail = b""  # the end of what passed, where a split "data: [DONE]" may begin

    def feed(self, data: bytes) -> bytes:
        if self.content_type.startswith(SSE_TYPE) and not self.complete:
            seen = self._tail + data
            self.complete = SSE_DONE_EVENT in seen
            self._tail = seen[-len(SSE_DONE_EVENT):]
        return data

    def finish(self) -> bytes:
        return b""


class _Collect:
    """Reads the whole answer (bounded), then rewrites it once."""

    complete = False

    def __init__(self, rewrite: Any, limit: int) -> None:
        self.content_type = JSON_TYPE
        self._rewrite = rewrite
        self._limit = limit
        self._pieces: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> bytes:
        self._size += len(data)
        if self._size <= self._limit:
            self._pieces.append(data)
        return b""

    def finish(self) -> bytes:
        body: bytes = self._rewrite(b"".join(self._pieces))
        return body


class _ResponsesStream:
    content_type = SSE_TYPE
    complete = False  # its last event comes once the node's answer ended

    def __init__(self, request: dict[str, Any]) -> None:
        self._translator = ResponseStreamTranslator(request)

    def feed(self, data: bytes) -> bytes:
        return self._translator.feed(data)

    def finish(self) -> bytes:
        return self._translator.finish()


def _response_body(request: dict[str, Any], body: bytes) -> bytes:
    try:
        chat = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise errors.UpstreamError("the engine's answer is not JSON") from None
    return json.dumps(response_from_chat(request, chat)).encode()


def adapter_for(call: Call, status: int, content_type: str) -> Adapter:
    """How to turn the node's answer (``status``, ``content_type``) into the caller's."""
    if status != 200:
        return _Collect(lambda body: _inner_error_body(status, body), MAX_ERROR_BODY_BYTES)
    if call.endpoint != RESPONSES_PATH:
        return _Passthrough(content_type or (SSE_TYPE if call.stream else JSON_TYPE))
    if call.stream:
        return _ResponsesStream(call.request)
    return _Collect(lambda body: _response_body(call.request, body), 64 * MAX_BODY_BYTES)


def answer_status(status: int) -> int:
    """A node's status as the caller sees it: 200, an error status as it is, anything else a 502."""
    return status if status == 200 or 400 <= status < 600 else 502


def header(headers: Sequence[tuple[str, str]], name: str) -> str:
    """The first value of ``name`` in a header list (case-insensitive), or ``""``."""
    return next((v for k, v in headers if k.lower() == name), "")


__all__ = [
    "MAX_BODY_BYTES", "Adapter", "Call", "LocalAnswer", "Models", "adapter_for", "answer_status", "endpoint_of",
    "error_body", "error_headers", "header", "is_unreachable", "openai_error", "prepare",
]
