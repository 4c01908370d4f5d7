"""Nonce locking: the reference's "credithole" API (spec §1.3, §8.5) on port 3501, over a durable store.

``POST /lock`` with ``LockRequest{nonce}`` answers ``LockResponse{ticket}``; ``POST /consume`` and
``POST /release`` take ``UnlockRequest{nonce, ticket}`` and answer an empty body. Statuses are the
reference's: 400 "invalid input" (a malformed body, a nonce of the wrong length or outside its validity
window, a ticket that does not hold the lock), 409 "nonce is locked", 410 "nonce is consumed"; a
reference router can use this service as it uses ``mem-credithole``.

Unlike the reference's in-memory locker, a consumed nonce is kept in the role's store (SQLite or
PostgreSQL) until it could no longer pass the validity window, so a restart forgets no spent nonce, and
several replicas may share one PostgreSQL. Bodies must be the canonical encoding of their message:
unknown fields are refused rather than ignored.

:class:`NonceLockClient` is the caller's side (the router's spending path): ``async with
client.spend(nonce):`` locks, consumes when the block succeeds and releases when it raises.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import calendar
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientSession, web

from openpcc import config
from openpcc.compute import decode_message, encode_message
from openpcc.exceptions import (
    InvalidMessageError,
    MalformedInputError,
    NonceConsumedError,
    NonceInvalidError,
    NonceLockedError,
    NonceLockError,
    RequestRejectedError,
    ServiceError,
    StoreError,
    StoreUnavailableError,
    TicketMismatchError,
    UnauthorizedError,
)
from openpcc.services import _http
from openpcc.services.errors import ERROR_CODE_HEADER, Code
from openpcc.services.store import NonceStore, open_nonce_store

ROLE = "noncelock"
NONCE_LENGTH = 16
QUANTUM_S = 3600  # nonce timestamps are quantized to the hour (spec §8.2)
CLOCK_SKEW_S = 30
LIFESPAN_S = 86400 + 7200
MAX_TICKET_LENGTH = 128
# A consumed nonce is refused as expired from ts + QUANTUM_S + CLOCK_SKEW_S on; keep it a minute longer
# so replicas whose clocks differ slightly never both see it as absent.
RETENTION_MARGIN_S = 60

log = logging.getLogger("openpcc.services.noncelock")


@dataclass(frozen=True)
class Nonce:
    """A credit's nonce: its hour-quantized timestamp (seconds) and 16 random bytes."""

    timestamp: int
    value: bytes

    @property
    def key(self) -> bytes:
        """The 24-byte blind-signature message (``I2OSP(timestamp, 8) || nonce``), the store's key."""
        return self.timestamp.to_bytes(8, "big", signed=True) + self.value

    def is_expired_at(self, now: float) -> bool:
        """The reference's ``Nonce.IsExpiredAt`` (spec §8.2)."""
        oldest = (int(now) - CLOCK_SKEW_S) // QUANTUM_S * QUANTUM_S
        newest = (int(now) + LIFESPAN_S + CLOCK_SKEW_S) // QUANTUM_S * QUANTUM_S
        return self.timestamp < oldest or self.timestamp > newest

    @property
    def purge_after(self) -> int:
        return self.timestamp + QUANTUM_S + CLOCK_SKEW_S + RETENTION_MARGIN_S

    def to_message(self) -> dict[str, Any]:
        when = datetime.fromtimestamp(self.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"timestamp": when, "nonce": base64.b64encode(self.value).decode()}


# --- messages ------------------------------------------------------------------


def decode_strict(name: str, body: bytes) -> dict[str, Any]:
    """Decodes ``body`` and insists it is the message's canonical encoding: unknown fields, repeated or
    out-of-order fields and trailing bytes are refused instead of silently dropped."""
    try:
        message = decode_message(name, body)
        canonical = encode_message(name, message)
    except (MalformedInputError, ValueError):
        raise InvalidMessageError(f"body is not a {name.split('.')[-1]}") from None
    if canonical != body:
        raise InvalidMessageError("unknown fields or a non-canonical encoding")
    return message


def _nonce_from(message: dict[str, Any]) -> Nonce:
    raw = message.get("nonce")
    if not isinstance(raw, dict) or "timestamp" not in raw or "nonce" not in raw:
        raise NonceInvalidError("nonce with timestamp and value required")
    try:
        value = base64.b64decode(raw["nonce"], validate=True)
        when = datetime.fromisoformat(str(raw["timestamp"]))
    except (binascii.Error, ValueError):
        raise NonceInvalidError("nonce does not decode") from None
    if len(value) != NONCE_LENGTH:
        raise NonceInvalidError(f"nonce must be {NONCE_LENGTH} bytes, got {len(value)}")
    if when.microsecond:
        raise NonceInvalidError("nonce timestamp must be whole seconds")
    return Nonce(calendar.timegm(when.utctimetuple()), value)


def _ticket_from(message: dict[str, Any]) -> str:
    ticket = message.get("ticket")
    if not isinstance(ticket, str) or not 0 < len(ticket) <= MAX_TICKET_LENGTH:
        raise NonceInvalidError(f"ticket must be 1..{MAX_TICKET_LENGTH} characters")
    return ticket


def lock_request(nonce: Nonce) -> bytes:
    return encode_message("csprotos.LockRequest", {"nonce": nonce.to_message()})


def unlock_request(nonce: Nonce, ticket: str) -> bytes:
    return encode_message("csprotos.UnlockRequest", {"nonce": nonce.to_message(), "ticket": ticket})


# --- the service ------------------------------------------------------------------


_OUTCOMES: dict[type[Exception], Code] = {
    InvalidMessageError: Code.INVALID_MESSAGE,
    NonceInvalidError: Code.INVALID_NONCE,
    NonceLockedError: Code.NONCE_LOCKED,
    NonceConsumedError: Code.NONCE_CONSUMED,
    TicketMismatchError: Code.TICKET_MISMATCH,
    StoreUnavailableError: Code.STORE_UNAVAILABLE,
}


class NonceLockService:
    """The credithole endpoints over a :class:`NonceStore`, on the shared HTTP plumbing."""

    def __init__(
        self, cfg: config.RoleConfig, store: NonceStore | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.cfg = cfg
        self.store = store if store is not None else open_nonce_store(cfg.database)
        self.clock = clock
        self.http = _http.HTTPService(cfg, logger=log)
        for path, handler in (("/lock", self._lock), ("/consume", self._consume), ("/release", self._release)):
            self.http.add_route("POST", path, handler, binary=True)
        self.http.add_readiness_check("store", self._store_ready)
        self.http.on_startup(self._start_purger)
        self.http.on_cleanup(self._close)
        self._purger: asyncio.Task[None] | None = None

    async def start(self) -> tuple[str, int]:
        return await self.http.start()

    async def stop(self) -> None:
        await self.http.stop()

    async def _start_purger(self) -> None:
        self._purger = asyncio.create_task(self._purge_forever())

    async def _close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        await asyncio.to_thread(self.store.close)

    async def _store_ready(self) -> str | None:
        try:
            await asyncio.to_thread(self.store.ping)
        except StoreUnavailableError:
            return "store unreachable"
        return None

    async def _purge_forever(self) -> None:
        interval = float(self.cfg["purge_interval"])
        while True:
            await asyncio.sleep(interval)
            try:
                purged = await asyncio.to_thread(self.store.purge, self.clock())
                log.debug("purged %d expired nonce records", purged)
            except StoreError as exc:
                log.warning("purge skipped: %s", type(exc).__name__)

    async def _read(self, request: web.Request, name: str) -> tuple[Nonce, dict[str, Any]]:
        _http.require_binary(request)
        message = decode_strict(name, await _http.read_body(request))
        nonce = _nonce_from(message)
        if nonce.is_expired_at(self.clock()):
            raise NonceInvalidError("nonce is expired or too far in the future")
        return nonce, message

    async def _lock(self, request: web.Request) -> web.StreamResponse:
        with _as_rejection():
            nonce, _ = await self._read(request, "csprotos.LockRequest")
            ticket = secrets.token_hex(16)
            now = self.clock()
            await asyncio.to_thread(
                self.store.lock, nonce.key, ticket, now, float(self.cfg["lock_duration"]), nonce.purge_after
            )
        if request.transport is None or request.transport.is_closing():
            # The caller is gone and will never learn the ticket: free the nonce now, not at lock expiry.
            await asyncio.to_thread(self.store.release, nonce.key, ticket, self.clock())
        return _http.binary_response(encode_message("csprotos.LockResponse", {"ticket": ticket}))

    async def _consume(self, request: web.Request) -> web.StreamResponse:
        with _as_rejection():
            nonce, message = await self._read(request, "csprotos.UnlockRequest")
            await asyncio.to_thread(self.store.consume, nonce.key, _ticket_from(message), self.clock())
        return _http.binary_response(b"")

    async def _release(self, request: web.Request) -> web.StreamResponse:
        with _as_rejection():
            nonce, message = await self._read(request, "csprotos.UnlockRequest")
            await asyncio.to_thread(self.store.release, nonce.key, _ticket_from(message), self.clock())
        return _http.binary_response(b"")


@contextlib.contextmanager
def _as_rejection() -> Any:
    try:
        yield
    except (InvalidMessageError, NonceLockError, StoreUnavailableError) as exc:
        raise RequestRejectedError(_OUTCOMES[type(exc)]) from None


# --- the caller's side ---------------------------------------------------------------


class NonceLockClient:
    """Calls a nonce-locking service (ours or the reference's credithole) and maps its statuses back to
    :class:`NonceLockedError`, :class:`NonceConsumedError` and :class:`NonceInvalidError`."""

    def __init__(self, base_url: str, session: ClientSession, *, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self._headers = {"Content-Type": _http.BINARY}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"

    async def lock(self, nonce: Nonce) -> str:
        body = await self._post("/lock", lock_request(nonce))
        return str(decode_message("csprotos.LockResponse", body).get("ticket", ""))

    async def consume(self, nonce: Nonce, ticket: str) -> None:
        await self._post("/consume", unlock_request(nonce, ticket))

    async def release(self, nonce: Nonce, ticket: str) -> None:
        await self._post("/release", unlock_request(nonce, ticket))

    @asynccontextmanager
    async def spend(self, nonce: Nonce) -> AsyncIterator[str]:
        """Locks ``nonce``; consumes it when the block succeeds, releases it when the block raises (or is
        cancelled), so a failed request never keeps a credit locked until the lock expires."""
        ticket = await self.lock(nonce)
        try:
            yield ticket
        except BaseException:
            with contextlib.suppress(ServiceError, OSError, asyncio.TimeoutError):
                await asyncio.shield(self.release(nonce, ticket))
            raise
        await self.consume(nonce, ticket)

    async def _post(self, path: str, body: bytes) -> bytes:
        async with self.session.post(self.base_url + path, data=body, headers=self._headers) as resp:
            answer = await resp.read()
            if resp.status == 200:
                return answer
            code = resp.headers.get(ERROR_CODE_HEADER, "")
        if resp.status == 401:
            raise UnauthorizedError("nonce locking refused our token")
        if resp.status == 409:
            raise NonceLockedError("nonce is locked")
        if resp.status == 410:
            raise NonceConsumedError("nonce is consumed")
        if resp.status == 400:
            raise (TicketMismatchError if code == str(int(Code.TICKET_MISMATCH)) else NonceInvalidError)(
                "nonce locking refused the request"
            )
        raise StoreUnavailableError(f"nonce locking answered {resp.status}")


# --- the process -----------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    """``openpcc noncelock --config FILE``: serve until SIGTERM/SIGINT."""
    cfg = config.load(args.config).role(ROLE)
    _http.configure_logging(str(cfg["log_level"]))
    service = NonceLockService(cfg)
    asyncio.run(_http.run_until_signalled(service.http))
    return 0
