"""HTTP transports that carry OpenAI API calls over the private path, for the OpenAI SDKs' HTTP client.

:class:`PrivateTransport` (for ``httpx.Client``) and :class:`AsyncPrivateTransport` (for
``httpx.AsyncClient``) send each call through :class:`openpcc.Client` / :class:`openpcc.AsyncClient`:
sealed to attested nodes, through the relay and gateway, answered by a node, decrypted here and
streamed back as it arrives::

    import httpx2, openai
    from openpcc.httpx import PrivateTransport

    client = openai.OpenAI(base_url="http://openpcc.invalid/v1", api_key="unused",
                           http_client=httpx2.Client(transport=PrivateTransport()))

Current ``openai`` releases use ``httpx2``; older ones use ``httpx``. Both work: the transports subclass
whichever is installed (``httpx2`` first) and answer each request with its own library's types.

Every call is checked before a credit is spent (:mod:`openpcc.openai_forward`). Each call, a retry by
the SDK included, is sealed anew and paid with a fresh credit: no credit is ever presented twice.
Failures reach the SDK as HTTP answers in the OpenAI error shape (so as the SDK's own
``APIStatusError`` subclasses): an attestation or policy failure is a 502 naming the failed check and
marked ``x-should-retry: false``; a private path that cannot be reached at all is a connection error
(``APIConnectionError``); a stream that breaks off is a read error.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from types import ModuleType
from typing import Any

from openpcc.exceptions import EngineError, OpenPCCError
from openpcc.openai_forward import (
    DRAIN_LIMIT_BYTES,
    INNER_HEADERS,
    NODE_ID_HEADER,
    Adapter,
    LocalAnswer,
    Models,
    adapter_for,
    answer_status,
    error_body,
    error_headers,
    header,
    is_unreachable,
    openai_error,
    prepare,
)


def _installed_library() -> ModuleType:
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("openpcc.httpx needs httpx2 or httpx: pip install 'openpcc[openai]'")


_http: Any = _installed_library()


def _library_of(request: Any) -> Any:
    """The module (httpx2 or httpx) whose Request this is: the answer must be of the same library."""
    return sys.modules.get(type(request).__module__.split(".")[0], _http)


def _models_of(client: Any, models: Sequence[str] | None) -> Models:
    """``models`` when given (listed, and the only names accepted); else the client's ``[client] model``
    is listed and any name is accepted (the router tells which are served)."""
    default = getattr(client, "model", None)
    settings = getattr(client, "profile_settings", None) or getattr(getattr(client, "_async", None),
                                                                     "profile_settings", None)
    if default is None and settings is not None:
        default = settings["model"]
    return Models.of(models, default if isinstance(default, str) else None)


def _error_response(lib: Any, request: Any, exc: EngineError) -> Any:
    return lib.Response(exc.status, headers=error_headers(exc), content=error_body(exc), request=request)


def _local_response(lib: Any, request: Any, answer: LocalAnswer) -> Any:
    return lib.Response(answer.status, headers=answer.headers, content=answer.body, request=request)


def _answer_headers(adapter: Adapter, node_id: str) -> list[tuple[str, str]]:
    headers = [("content-type", adapter.content_type)]
    if node_id:
        headers.append((NODE_ID_HEADER, node_id))
    return headers


class PrivateTransport(_http.BaseTransport):  # type: ignore[misc]
    """A synchronous transport over :class:`openpcc.Client`.

    ``client``: an ``openpcc.Client`` to use (closed by its owner); without one, the transport makes
    one from ``config`` and ``client_options`` (the ``[client]`` settings) and closes it in :meth:`close`.
    ``models``: the model names ``/v1/models`` lists and the only ones calls may name (None: list the
    client's default model and let any name through; the router answers one no node serves with a 404).
    """

    def __init__(self, client: Any = None, *, config: Any = None, models: Sequence[str] | None = None,
                 **client_options: Any) -> None:
        self._owned = client is None
        if client is None:
            from openpcc.client import Client

            client = Client(config, **client_options)
        self.client = client
        self.models = _models_of(client, models)

    def handle_request(self, request: Any) -> Any:
        lib = _library_of(request)
        try:
            call = prepare(request.method, request.url.path, request.read(), self.models)
        except EngineError as exc:
            return _error_response(lib, request, exc)
        if isinstance(call, LocalAnswer):
            return _local_response(lib, request, call)
        try:
            answer = self.client.request("POST", call.inner_path, headers=INNER_HEADERS, body=call.body,
                                         model=call.model, stream=call.stream)
        except OpenPCCError as exc:
            if is_unreachable(exc):
                raise lib.ConnectError(f"the private path is unreachable: {exc}", request=request) from exc
            return _error_response(lib, request, openai_error(exc))
        adapter = adapter_for(call, answer.status, header(answer.headers, "content-type"))
        stream = _SyncAnswer(lib, request, answer, adapter)
        return lib.Response(answer_status(answer.status),
                            headers=_answer_headers(adapter, getattr(answer, "node_id", "")),
                            stream=stream, request=request)

    def close(self) -> None:
        if self._owned:
            self.client.close()


class AsyncPrivateTransport(_http.AsyncBaseTransport):  # type: ignore[misc]
    """The asynchronous transport, over :class:`openpcc.AsyncClient` (same arguments as
    :class:`PrivateTransport`)."""

    def __init__(self, client: Any = None, *, config: Any = None, models: Sequence[str] | None = None,
                 **client_options: Any) -> None:
        self._owned = client is None
        if client is None:
            from openpcc.client import AsyncClient

            client = AsyncClient(config, **client_options)
        self.client = client
        self.models = _models_of(client, models)

    async def handle_async_request(self, request: Any) -> Any:
        lib = _library_of(request)
        try:
            call = prepare(request.method, request.url.path, await request.aread(), self.models)
        except EngineError as exc:
            return _error_response(lib, request, exc)
        if isinstance(call, LocalAnswer):
            return _local_response(lib, request, call)
        try:
            answer = await self.client.request("POST", call.inner_path, headers=INNER_HEADERS,
                                               body=call.body, model=call.model, stream=call.stream)
        except OpenPCCError as exc:
            if is_unreachable(exc):
                raise lib.ConnectError(f"the private path is unreachable: {exc}", request=request) from exc
            return _error_response(lib, request, openai_error(exc))
        adapter = adapter_for(call, answer.status, header(answer.headers, "content-type"))
        stream = _AsyncAnswer(lib, request, answer, adapter)
        return lib.Response(answer_status(answer.status),
                            headers=_answer_headers(adapter, getattr(answer, "node_id", "")),
                            stream=stream, request=request)

    async def aclose(self) -> None:
        if self._owned:
            closing = getattr(self.client, "aclose", None) or self.client.close
            result = closing()
            if inspect.isawaitable(result):
                await result


class _SyncAnswer(_http.SyncByteStream):  # type: ignore[misc]
    """The decrypted answer, adapted piece by piece. Closing it before the answer is complete abandons the
    node's stream (the node stops); closing it once it is (an SDK stops at ``data: [DONE]``) first reads
    what is left, bounded, so the router's refund trailer still reaches the wallet."""

    def __init__(self, lib: Any, request: Any, answer: Any, adapter: Adapter) -> None:
        self._lib, self._request, self._answer, self._adapter = lib, request, answer, adapter
        self._pieces: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        self._pieces = iter(self._answer.iter_bytes())
        try:
            for piece in self._pieces:
                out = self._adapter.feed(piece)
                if out:
                    yield out
            tail = self._adapter.finish()
        except OpenPCCError as exc:
            raise self._lib.ReadError(f"the private answer broke off: {exc}", request=self._request) from exc
        if tail:
            yield tail

    def close(self) -> None:
        try:
            if self._adapter.complete and self._pieces is not None:
                with contextlib.suppress(OpenPCCError):
                    _drain(self._pieces)
        finally:
            self._answer.close()


def _drain(pieces: Iterator[bytes]) -> None:
    read = 0
    for piece in pieces:
        read += len(piece)
        if read > DRAIN_LIMIT_BYTES:
            return


class _AsyncAnswer(_http.AsyncByteStream):  # type: ignore[misc]
    def __init__(self, lib: Any, request: Any, answer: Any, adapter: Adapter) -> None:
        self._lib, self._request, self._answer, self._adapter = lib, request, answer, adapter
        self._pieces: AsyncIterator[bytes] | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self._pieces = aiter(self._answer.aiter_bytes())
        try:
            async for piece in self._pieces:
                out = self._adapter.feed(piece)
                if out:
                    yield out
            tail = self._adapter.finish()
        except OpenPCCError as exc:
            raise self._lib.ReadError(f"the private answer broke off: {exc}", request=self._request) from exc
        if tail:
            yield tail

    async def aclose(self) -> None:
        try:
            if self._adapter.complete and self._pieces is not None:
                with contextlib.suppress(OpenPCCError):
                    read = 0
                    async for piece in self._pieces:
                        read += len(piece)
                        if read > DRAIN_LIMIT_BYTES:
                            break
        finally:
            await self._answer.aclose()


__all__ = ["AsyncPrivateTransport", "PrivateTransport"]
