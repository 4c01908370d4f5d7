"""Spending credits (spec §8.5): the router's and the banks' side of a payment.

:class:`Spender` checks a credit (its value, its nonce's validity window, its signature under the
currency key for that value), then locks its nonce and hands back a :class:`Transaction`. The caller
commits (the nonce is consumed: the credit can never be spent again), commits with a refund, or rolls
back (the lock is released: the credit stays spendable). Locks go through a :class:`NonceLocker`: the
nonce-locking service over HTTP (:class:`~openpcc.services.noncelock.NonceLockClient`) or a role's own
:class:`~openpcc.services.store.NonceStore` (:class:`StoreNonceLocker`), which are interchangeable.

Refunds differ from the reference, whose router mints whatever refund a node asks for (spec §12.2):
:meth:`Transaction.commit_with_refund` mints an unblinded credit only when the amount is at most the
credit spent and the node is one the caller says it admitted; otherwise ``RefundRefusedError`` and
nothing is minted. The refund is minted after the nonce is consumed, so a failed commit never leaves
both the spent credit and its refund usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Protocol, Self

from aiohttp import ClientSession

from openpcc import blindrsa
from openpcc.config import RoleConfig, read_key_file
from openpcc.credits import Credit, Issuer, Value
from openpcc.exceptions import (
    RefundRefusedError,
    StoreError,
    StoreUnavailableError,
    UsageError,
    WrongCreditValueError,
)
from openpcc.services._http import client_session
from openpcc.services.noncelock import Nonce as LockNonce
from openpcc.services.noncelock import NonceLockClient
from openpcc.services.store import NonceStore, open_nonce_store

PURGE_INTERVAL_S = 600.0
log = logging.getLogger("openpcc.services.spending")

__all__ = [
    "NonceLocker",
    "RoleNonceLocker",
    "Spender",
    "StoreNonceLocker",
    "Transaction",
    "lock_nonce_of",
]


class NonceLocker(Protocol):
    """What a spender needs from nonce locking (``NonceLockClient`` and ``StoreNonceLocker`` have it)."""

    async def lock(self, nonce: LockNonce) -> str: ...
    async def consume(self, nonce: LockNonce, ticket: str) -> None: ...
    async def release(self, nonce: LockNonce, ticket: str) -> None: ...


def lock_nonce_of(credit: Credit) -> LockNonce:
    """The credit's nonce in the form nonce locking keys it by."""
    return LockNonce(credit.nonce.timestamp, credit.nonce.nonce)


class StoreNonceLocker:
    """Nonce locking on a role's own :class:`NonceStore` (its database), for a role that is not pointed at
    a nonce-locking service. Tickets are random; the store's contract does the rest."""

    def __init__(
        self,
        store: NonceStore,
        *,
        lock_duration: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.lock_duration = lock_duration
        self.clock = clock

    async def lock(self, nonce: LockNonce) -> str:
        ticket = secrets.token_hex(16)
        await asyncio.to_thread(
            self.store.lock, nonce.key, ticket, self.clock(), self.lock_duration, nonce.purge_after
        )
        return ticket

    async def consume(self, nonce: LockNonce, ticket: str) -> None:
        await asyncio.to_thread(self.store.consume, nonce.key, ticket, self.clock())

    async def release(self, nonce: LockNonce, ticket: str) -> None:
        await asyncio.to_thread(self.store.release, nonce.key, ticket, self.clock())


class RoleNonceLocker:
    """A role's nonce locking as its configuration says: the service at ``noncelock_url`` (with the token
    in ``noncelock_token_file``), or, when the URL is empty, the role's own database. :meth:`open` must
    run inside the event loop before the first lock (the HTTP client needs the loop); :meth:`close` at
    shutdown."""

    def __init__(self, cfg: RoleConfig, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self._url = str(cfg["noncelock_url"])
        self._session: ClientSession | None = None
        self._clock = clock
        self._purger: asyncio.Task[None] | None = None
        self._store: NonceStore | None = None if self._url else open_nonce_store(cfg.database)
        self._locker: NonceLocker | None = (
            StoreNonceLocker(self._store, clock=clock) if self._store is not None else None
        )

    async def open(self) -> None:
        if self._store is not None and self._purger is None:
            self._purger = asyncio.create_task(self._purge_forever(self._store))
        if self._url and self._session is None:
            path = str(self.cfg["noncelock_token_file"])
            token = read_key_file(Path(path)).decode().strip() if path else None
            self._session = client_session()
            self._locker = NonceLockClient(self._url, self._session, token=token)

    async def _purge_forever(self, store: NonceStore) -> None:
        """Deletes nonces past their validity window now and then, as the nonce-locking service does."""
        while True:
            await asyncio.sleep(PURGE_INTERVAL_S)
            try:
                await asyncio.to_thread(store.purge, self._clock())
            except StoreError as exc:
                log.warning("nonce purge skipped: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        if self._session is not None:
            await self._session.close()
        if self._store is not None:
            await asyncio.to_thread(self._store.close)

    def _active(self) -> NonceLocker:
        if self._locker is None:
            raise StoreUnavailableError("nonce locking is not open yet")
        return self._locker

    async def lock(self, nonce: LockNonce) -> str:
        return await self._active().lock(nonce)

    async def consume(self, nonce: LockNonce, ticket: str) -> None:
        await self._active().consume(nonce, ticket)

    async def release(self, nonce: LockNonce, ticket: str) -> None:
        await self._active().release(nonce, ticket)


class Spender:
    """Verifies and locks credits. ``issuer`` (the currency signing key) is needed only to mint refunds."""

    def __init__(
        self,
        public_key: blindrsa.PublicKey,
        locker: NonceLocker,
        *,
        issuer: Issuer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_key = public_key
        self.locker = locker
        self.issuer = issuer
        self.clock = clock

    def check(self, credit: Credit, *, value: Value | None = None) -> None:
        """Everything but the lock: a spendable value (exactly ``value`` when given, which may be a special
        value such as the attestation value), a nonce
        in its validity window, a signature that verifies (``WrongCreditValueError``,
        ``ExpiredCreditError``, ``InvalidCreditError``)."""
        if value is not None:
            # The required value may be special: the router's manifests take the attestation value.
            if credit.value != value:
                raise WrongCreditValueError("credit value is not the one required")
        elif not credit.value.is_spendable:
            raise WrongCreditValueError("credit value must be a non-zero amount")
        credit.check(self.public_key, int(self.clock()))

    async def begin(self, credit: Credit, *, value: Value | None = None) -> Transaction:
        """Checks ``credit`` and locks its nonce (``NonceLockedError`` while another transaction holds it,
        ``NonceConsumedError`` once spent)."""
        # The RSA check runs without the GIL: off the event loop, so other requests go on meanwhile.
        await asyncio.to_thread(self.check, credit, value=value)
        nonce = lock_nonce_of(credit)
        ticket = await self.locker.lock(nonce)
        return Transaction(self, credit, nonce, ticket)


class Transaction:
    """One locked credit. Exactly one of :meth:`commit`, :meth:`commit_with_refund` or :meth:`rollback`
    takes effect; a rollback after a commit does nothing (as the reference's ``Rollback``)."""

    def __init__(self, spender: Spender, credit: Credit, nonce: LockNonce, ticket: str) -> None:
        self.spender = spender
        self.credit = credit
        self._nonce = nonce
        self._ticket = ticket
        self._done = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        """Rolls back when the block raised or did not finish the transaction."""
        if not self._done:
            await asyncio.shield(self.rollback())

    async def commit(self) -> None:
        self._claim()
        await self.spender.locker.consume(self._nonce, self._ticket)

    async def commit_with_refund(
        self, refund: Value, node_id: str, admitted: Collection[str]
    ) -> Credit:
        """Commits, then mints an unblinded credit of ``refund`` for the node ``node_id``. Refused, before
        anything changes, when ``node_id`` is not in ``admitted`` (the nodes the caller sent the request
        to), when ``refund`` is not an amount, or when it is more than the credit spent."""
        issuer = self.spender.issuer
        if issuer is None:
            raise UsageError("this spender holds no currency signing key; it cannot mint refunds")
        if node_id not in admitted:
            raise RefundRefusedError("refund from a node the caller did not admit")
        if not refund.is_spendable:
            raise RefundRefusedError(
                "refund must be a non-zero amount (commit without one instead)"
            )
        if refund.amount > self.credit.value.amount:
            raise RefundRefusedError("refund is more than the credit spent")
        await self.commit()
        return await asyncio.to_thread(issuer.issue_unblinded, refund, int(self.spender.clock()))

    async def rollback(self) -> None:
        if self._done:
            return
        self._done = True
        await self.spender.locker.release(self._nonce, self._ticket)

    def _claim(self) -> None:
        if self._done:
            raise UsageError("the transaction was already committed or rolled back")
        self._done = True
