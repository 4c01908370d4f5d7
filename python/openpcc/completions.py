"""The OpenAI-style completion request (``/v1/chat/completions``, ``/v1/completions``), parsed and checked
as the OpenAI API checks it. One parser serves both sides: the compute node's engines, and the client
side (``openpcc.openai_forward``), which runs the same checks before any credit is spent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpcc.exceptions import (
    EndpointNotFoundError,
    EngineRequestError,
    ModelNotFoundError,
)

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
PATHS = (CHAT_PATH, COMPLETIONS_PATH)
SSE_CONTENT_TYPE = "text/event-stream"
JSON_CONTENT_TYPE = "application/json"
SSE_DONE = b"data: [DONE]\n\n"
MAX_STOP_SEQUENCES = 4
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True)
class Usage:
    """Tokens read and written by one request (what the node's refund is computed from)."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_openai(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    """A validated request. ``messages`` for chat, ``prompt`` for a plain completion; ``body`` is the
    request as received (what an upstream engine forwards)."""

    path: str
    model: str
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int | None
    messages: tuple[Message, ...] = ()
    prompt: str = ""
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_chat(self) -> bool:
        return self.path == CHAT_PATH


# --- validating requests -------------------------------------------------------------


def parse_request(path: str, body: Any, models: Sequence[str] | None) -> CompletionRequest:
    """``body`` checked as the OpenAI API checks it; ``models`` are the names served (None: any)."""
    if path not in PATHS:
        raise EndpointNotFoundError(f"no engine endpoint at this path; endpoints: {', '.join(PATHS)}")
    if not isinstance(body, dict):
        raise EngineRequestError("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise EngineRequestError("'model' must be a non-empty string", param="model")
    if models is not None and model not in models:
        raise ModelNotFoundError("the requested model is not served by this node", param="model")
    if body.get("n", 1) != 1 or isinstance(body.get("n"), bool):
        raise EngineRequestError("only n=1 is supported", param="n")
    stream = _optional(body, "stream", bool, False)
    options = body.get("stream_options")
    if options is not None and not stream:
        raise EngineRequestError("'stream_options' is only allowed when 'stream' is true", param="stream_options")
    if options is not None and not isinstance(options, dict):
        raise EngineRequestError("'stream_options' must be an object", param="stream_options")
    include_usage = _optional(options or {}, "include_usage", bool, False, param="stream_options.include_usage")
    common = {
        "path": path, "model": model, "stream": stream, "include_usage": include_usage,
        "max_tokens": _max_tokens(body), "temperature": _number(body, "temperature", 1.0, 0.0, 2.0),
        "top_p": _number(body, "top_p", 1.0, 0.0, 1.0), "stop": _stop(body.get("stop")),
        "seed": _optional(body, "seed", int, None), "body": body,
    }
    if path == CHAT_PATH:
        return CompletionRequest(messages=_messages(body.get("messages")), **common)
    return CompletionRequest(prompt=_prompt(body.get("prompt")), **common)


def _optional(body: Mapping[str, Any], key: str, kind: type, default: Any, *, param: str | None = None) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise EngineRequestError(f"'{param or key}' must be a {kind.__name__}", param=param or key)
    return value


def _number(body: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise EngineRequestError(f"'{key}' must be a number from {low:g} to {high:g}", param=key)
    return float(value)


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    value: int | None = _optional(body, key, int, None)
    if value is not None and value < 1:
        raise EngineRequestError(f"'{key}' must be at least 1", param=key)
    return value


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list) or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise EngineRequestError(
            f"'stop' must be a non-empty string or a list of at most {MAX_STOP_SEQUENCES} of them", param="stop"
        )
    return tuple(stops)


def _messages(value: Any) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise EngineRequestError("'messages' must be a non-empty array", param="messages")
    return tuple(_message(item, i) for i, item in enumerate(value))


def _message(item: Any, index: int) -> Message:
    param = f"messages.[{index}]"
    if not isinstance(item, dict) or item.get("role") not in _ROLES:
        raise EngineRequestError(
            f"{param} must be an object with a 'role' among {', '.join(sorted(_ROLES))}", param=param
        )
    content = item.get("content")
    if content is None and item["role"] == "assistant" and item.get("tool_calls"):
        content = ""  # a tool-call turn: no text (its calls reach an upstream engine in the body)
    if isinstance(content, list):
        content = _text_parts(content, param)
    if not isinstance(content, str):
        raise EngineRequestError(f"{param}.content must be a string or an array of text parts", param=param)
    return Message(item["role"], content)


def _text_parts(parts: list[Any], param: str) -> str:
    texts = []
    for part in parts:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise EngineRequestError(f"{param}.content supports only parts of type 'text'", param=param)
        texts.append(part["text"])
    return "".join(texts)


def _prompt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise EngineRequestError("'prompt' must be a string (one prompt per request)", param="prompt")
    return value


# --- OpenAI framing -----------------------------------------------------------------
