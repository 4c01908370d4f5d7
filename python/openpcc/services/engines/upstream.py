"""An OpenAI-compatible HTTP upstream (vLLM, the llama.cpp server, Ollama's ``/v1`` API) as an engine.

The request body is forwarded as received, except that a streamed request always asks the upstream for
its token counts (``stream_options.include_usage``). The answer streams through chunk by chunk; the usage
chunk the upstream sends at the end is read for the refund and taken out of the answer unless the client
asked for it. Upstream failures become :class:`~openpcc.exceptions.EngineError` s: its 4xx answers keep
their meaning (400, 404 unknown model, 429), the rest is a 502; a stream that breaks off before
``data: [DONE]`` raises :class:`~openpcc.exceptions.EngineStreamError` from the iteration.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from openpcc.exceptions import (
    EngineError,
    EngineOverloadedError,
    EngineRequestError,
    EngineStreamError,
    EngineUnavailableError,
    ModelNotFoundError,
    UpstreamError,
)
from openpcc.services.engines.base import (
    SSE_DONE,
    CompletionRequest,
    Engine,
    EngineResponse,
    Usage,
    sse_event,
)

MAX_ERROR_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_EVENT_BYTES = 1024 * 1024


class UpstreamEngine(Engine):
    """Forwards to ``base_url`` (``http://host:port``, the ``/v1/...`` path is the request's).

    ``model``: the one model name this node serves (requests for others are refused before reaching the
    upstream); empty lets every name through to the upstream. ``timeout``: seconds to wait for the
    upstream's next bytes. ``api_key``: sent as ``Authorization: Bearer`` (vLLM ``--api-key``).
    """

    name = "upstream"

    def __init__(
        self, base_url: str, *, model: str = "", timeout: float = 300.0, connect_timeout: float = 10.0,
        api_key: str | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise EngineUnavailableError("the upstream URL must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=timeout)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._session: aiohttp.ClientSession | None = None

    @property
    def models(self) -> tuple[str, ...] | None:
        return (self.model,) if self.model else None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No proxy variables: the plaintext request must go to the configured upstream only.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, trust_env=False, connector=aiohttp.TCPConnector(limit=256)
            )
        return self._session

    async def check(self) -> str | None:
        """Asks the upstream's ``GET /v1/models`` (every OpenAI-compatible server has it)."""
        try:
            async with self._client().get(
                self.base_url + "/v1/models", headers=self._headers, timeout=aiohttp.ClientTimeout(total=5)
            ) as answer:
                return None if answer.status == 200 else f"the upstream answered HTTP {answer.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"the upstream is unreachable ({type(exc).__name__})"

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _open(self, request: CompletionRequest) -> EngineResponse:
        body = dict(request.body)
        if request.stream:
            body["stream_options"] = dict(body.get("stream_options") or {}) | {"include_usage": True}
        try:
            upstream = await self._client().post(
                self.base_url + request.path, data=json.dumps(body).encode(), headers=self._headers
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EngineUnavailableError(f"the upstream is unreachable ({type(exc).__name__})") from None
        try:
            if upstream.status != 200:
                raise await _upstream_failure(upstream)
            if request.stream and upstream.content_type != "text/event-stream":
                raise UpstreamError(f"the upstream answered a stream as {upstream.content_type!r}")
        except BaseException:
            upstream.release()
            raise
        relay = _relay_stream if request.stream else _relay_body
        return EngineResponse(request, lambda response: relay(upstream, response))


async def _upstream_failure(upstream: aiohttp.ClientResponse) -> EngineError:
    """The EngineError for a non-200 answer, keeping the upstream's own message when it sent one."""
    message = f"the upstream refused the request (HTTP {upstream.status})"
    try:
        raw = await upstream.content.read(MAX_ERROR_BYTES)
        detail = json.loads(raw).get("error")
        detail = detail.get("message") if isinstance(detail, dict) else detail
        if isinstance(detail, str) and detail:
            message = f"upstream: {detail[:500]}"
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError):
        pass
    status = upstream.status
    if status == 404:
        return ModelNotFoundError(message)
    if status == 429:
        return EngineOverloadedError(message)
    if status in (401, 403):
        return EngineUnavailableError(f"the upstream refused the node's credentials (HTTP {status})")
    if 400 <= status < 500:
        return EngineRequestError(message)
    return UpstreamError(f"the upstream failed (HTTP {status})")


def _usage_of(obj: Mapping[str, Any]) -> Usage | None:
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int) and prompt >= 0 and completion >= 0:
        return Usage(prompt, completion)
    return None


async def _relay_body(upstream: aiohttp.ClientResponse, response: EngineResponse) -> AsyncIterator[bytes]:
    try:
        raw = await _read_limited(upstream, MAX_BODY_BYTES)
        try:
            obj = json.loads(raw)
        except ValueError:
            raise UpstreamError("the upstream's answer is not JSON") from None
        if not isinstance(obj, dict):
            raise UpstreamError("the upstream's answer is not a JSON object")
        response.set_usage(_usage_of(obj))
        yield raw
    finally:
        upstream.release()


async def _read_limited(upstream: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks, size = [], 0
    try:
        async for chunk in upstream.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise UpstreamError(f"the upstream's answer exceeds {limit} bytes")
            chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise EngineStreamError(f"the upstream connection failed mid-answer ({type(exc).__name__})") from None
    return b"".join(chunks)


async def _events(upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The ``data:`` payloads of the upstream's server-sent events, as they complete."""
    buffer = b""
    try:
        async for chunk in upstream.content.iter_any():
            buffer += chunk.replace(b"\r\n", b"\n")
            while (end := buffer.find(b"\n\n")) >= 0:
                event, buffer = buffer[:end], buffer[end + 2:]
                data = b"\n".join(
                    line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
                )
                if data:
                    yield data
            if len(buffer) > MAX_EVENT_BYTES:
                raise UpstreamError(f"the upstream sent an event over {MAX_EVENT_BYTES} bytes")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise EngineStreamError(f"the upstream connection failed mid-stream ({type(exc).__name__})") from None


async def _relay_stream(upstream: aiohttp.ClientResponse, response: EngineResponse) -> AsyncIterator[bytes]:
    keep_usage = response.request.include_usage
    done = False
    try:
        async for data in _events(upstream):
            if data == b"[DONE]":
                done = True
                yield SSE_DONE
                break
            event = _relayed_event(data, response, keep_usage)
            if event is not None:
                yield event
        if not done:
            raise EngineStreamError("the upstream's stream ended before data: [DONE]")
    finally:
        if done:
            upstream.release()
        else:
            upstream.close()  # stopped early: drop the connection so the upstream stops generating


def _relayed_event(data: bytes, response: EngineResponse, keep_usage: bool) -> bytes | None:
    """The event to pass on for one upstream chunk (None: drop it), recording its usage."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise UpstreamError("the upstream sent an event that is not JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamError("the upstream sent an event that is not a JSON object")
    if isinstance(obj.get("error"), dict):
        raise EngineStreamError("the upstream reported an error mid-stream")
    if "usage" not in obj:
        return b"data: " + data + b"\n\n"
    usage = _usage_of(obj)
    if usage is not None:
        response.set_usage(usage)
    if keep_usage:
        return b"data: " + data + b"\n\n"
    if not obj.get("choices"):
        return None  # the usage-only chunk the client did not ask for
    del obj["usage"]
    return sse_event(obj)
