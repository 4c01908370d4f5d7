"""The blind bank: the reference's BlindBank API (spec §1.3, §8.6) on port 3500, over a durable store.

Pseudonymous accounts are keyed by 32-byte bearer tokens, of which the store keeps only a hash
(:func:`~openpcc.services.store.account_id`). Every endpoint is ``POST``, binary, with the reference's
protobuf bodies:

* ``/deposit`` ``DepositRequest{account_token, credit}`` → ``DepositResponse{balance}``: the credit is
  checked and its nonce locked (:mod:`openpcc.services.spending`), the account credited under an
  operation id derived from the nonce (so one nonce credits at most once, whatever happens to the lock),
  then the nonce consumed;
* ``/withdraw`` ``BatchWithdrawRequest{requests (1..15), account_token}`` →
  ``BatchWithdrawResponse{balance, blind_signatures}``: the sum is debited **before** anything is signed,
  under an operation id derived from the account and the requests, so a replay returns the same
  signatures without a second debit;
* ``/exchange`` ``ExchangeRequest{credit, blinded_message}`` → ``ExchangeResponse{blind_signature}``:
  the credit is spent and a blinded credit of the same value signed, the signature kept under the
  credit's spend id (the deposit's), so a repeat of the same exchange returns the same signature
  without a second spend and another blinded message for that credit is refused;
* ``/withdraw-full`` ``WithdrawFullUnblindedRequest{account_token}`` →
  ``WithdrawFullUnblindedResponse{credit}``: the account is zeroed and an unblinded credit of the
  stochastically rounded balance issued;
* ``/balance`` ``BalanceRequest{account_token}`` → ``BalanceResponse{balance}`` (0 for unknown accounts).

Nonces are locked through the nonce-locking service named by ``noncelock_url`` (the reference's bank
uses a nonce locker the same way), or, when it is empty, in the bank's own database. A refusal changes
nothing stored; its status and code are listed in ``docs/banks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from openpcc import blindrsa, config
from openpcc.compute import decode_message, encode_message
from openpcc.credits import MAX_AMOUNT, Credit, Issuer, Value
from openpcc.exceptions import (
    BalanceLimitError,
    BlindRSAError,
    ConfigError,
    CurrencyValueError,
    ExpiredCreditError,
    IdempotencyConflictError,
    InsufficientBalanceError,
    InvalidAPIKeyError,
    InvalidCreditError,
    InvalidMessageError,
    MalformedCreditError,
    NonceConsumedError,
    NonceInvalidError,
    NonceLockedError,
    RequestRejectedError,
    StoreUnavailableError,
    TicketMismatchError,
    UnknownAccountError,
    WrongCreditValueError,
)
from openpcc.services import _http
from openpcc.services.errors import Code
from openpcc.services.noncelock import decode_strict
from openpcc.services.spending import RoleNonceLocker, Spender, lock_nonce_of
from openpcc.services.store import AccountKind, BankStore, account_id, open_bank_store

ROLE = "bank"
ACCOUNT_TOKEN_LENGTH = 32
MAX_BATCH = 15
CURRENCY_KEY_FILE = "currency-key.pem"

log = logging.getLogger("openpcc.services.bank")

# The first matching class (in this order) gives the wire code.
_OUTCOMES: tuple[tuple[type[Exception], Code], ...] = (
    (InvalidMessageError, Code.INVALID_MESSAGE),
    (MalformedCreditError, Code.MALFORMED_CREDIT),
    (CurrencyValueError, Code.WRONG_CREDIT_VALUE),
    (WrongCreditValueError, Code.WRONG_CREDIT_VALUE),
    (InvalidCreditError, Code.INVALID_CREDIT),
    (ExpiredCreditError, Code.EXPIRED_CREDIT),
    (NonceInvalidError, Code.INVALID_NONCE),
    (NonceLockedError, Code.NONCE_LOCKED),
    (NonceConsumedError, Code.NONCE_CONSUMED),
    (TicketMismatchError, Code.TICKET_MISMATCH),
    (InsufficientBalanceError, Code.INSUFFICIENT_BALANCE),
    (UnknownAccountError, Code.UNKNOWN_ACCOUNT),
    (IdempotencyConflictError, Code.IDEMPOTENCY_CONFLICT),
    (BalanceLimitError, Code.BALANCE_LIMIT),
    (InvalidAPIKeyError, Code.INVALID_API_KEY),
    (StoreUnavailableError, Code.STORE_UNAVAILABLE),
)


@contextlib.contextmanager
def as_rejection() -> Iterator[None]:
    """Turns the typed errors of credits, nonce locking and the store into wire codes."""
    try:
        yield
    except tuple(cls for cls, _ in _OUTCOMES) as exc:
        code = next(code for cls, code in _OUTCOMES if isinstance(exc, cls))
        raise RequestRejectedError(code, _reason(exc)) from None


def _reason(exc: Exception) -> str | None:
    # Our own texts name fields and sizes, never values; a peer's or the database's text is not repeated.
    return (
        str(exc)
        if type(exc).__module__ == "openpcc.exceptions"
        and not isinstance(exc, StoreUnavailableError)
        else None
    )


# --- reading messages ---------------------------------------------------------------


def _bytes_field(message: dict[str, Any], name: str) -> bytes:
    raw = message.get(name)
    if raw is None:
        return b""
    try:
        return base64.b64decode(str(raw), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidMessageError(f"{name} does not decode") from None


def account_of(message: dict[str, Any]) -> bytes:
    """The stored id of the message's account token (``UnknownAccountError`` for a wrong length)."""
    token = _bytes_field(message, "accountToken")
    if len(token) != ACCOUNT_TOKEN_LENGTH:
        raise UnknownAccountError(
            f"account token must be {ACCOUNT_TOKEN_LENGTH} bytes, got {len(token)}"
        )
    return account_id(AccountKind.BLIND, token)


def credit_of(message: dict[str, Any]) -> Credit:
    raw = message.get("credit")
    if not isinstance(raw, dict):
        raise MalformedCreditError("credit required")
    return Credit.decode(encode_message("csprotos.Credit", raw))


def blind_request_of(message: dict[str, Any], key: blindrsa.PublicKey) -> tuple[Value, bytes]:
    """``(value, blinded_message)`` of a ``BlindSignRequest``: a spendable value and a blinded message
    the key can sign (the modulus' length, below the modulus)."""
    value_message = message.get("value")
    if not isinstance(value_message, dict):
        raise MalformedCreditError("blind sign request has no value")
    value = Value.from_blind_bytes(_bytes_field(value_message, "currency"))
    if not value.is_spendable:
        raise WrongCreditValueError("requested value must be a non-zero amount")
    return value, blinded_message_of(message, key)


def blinded_message_of(message: dict[str, Any], key: blindrsa.PublicKey) -> bytes:
    blinded = _bytes_field(message, "blindedMessage")
    if len(blinded) != key.modulus_len or blinded >= key.n:
        raise MalformedCreditError(
            f"blinded message must be {key.modulus_len} bytes below the modulus"
        )
    return blinded


def operation_id(kind: bytes, *parts: bytes) -> bytes:
    """An idempotency key: SHA-256 over a label and length-prefixed parts."""
    h = hashlib.sha256(b"openpcc bank op v1\x00" + kind + b"\x00")
    for part in parts:
        h.update(len(part).to_bytes(4, "big") + part)
    return h.digest()


def spend_id(credit: Credit) -> bytes:
    """The operation id a credit is spent under, by a deposit or an exchange: one nonce, one spend.
    (The label is the one deposits used before exchanges shared it.)"""
    return operation_id(b"deposit", lock_nonce_of(credit).key)


# --- the service ----------------------------------------------------------------------


def load_issuer(cfg: config.RoleConfig) -> Issuer:
    """The currency signing key from ``currency_key_file`` (default ``<data_dir>/currency-key.pem``),
    a 0600 PEM file; ``ConfigError`` when it is missing."""
    path = Path(str(cfg["currency_key_file"]) or cfg.data_dir / CURRENCY_KEY_FILE)
    try:
        pem = config.read_key_file(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{cfg.label}: no currency signing key at {path} (create one with: openpcc currency-key --out FILE)"
        ) from None
    try:
        return Issuer(blindrsa.SecretKey.from_pem(pem.decode("ascii", "replace")))
    except BlindRSAError as exc:
        raise ConfigError(
            f"{cfg.label}: the currency key at {path} is unusable: {type(exc).__name__}"
        ) from None


def check_currency_key_bundle(cfg: config.RoleConfig, key: blindrsa.PublicKey) -> bytes | None:
    """The logged currency key statement of ``currency_key_bundle_file`` (``None`` when unset);
    ``ConfigError`` when it is unreadable or names another key than the one this role signs with."""
    from openpcc.exceptions import TransparencyError
    from openpcc.transparency.stack import statement_currency_key

    path = str(cfg["currency_key_bundle_file"])
    if not path:
        return None
    try:
        bundle = Path(path).read_bytes()
        logged = statement_currency_key(bundle)
    except OSError as exc:
        raise ConfigError(f"{cfg.label}: cannot read currency_key_bundle_file: {exc.strerror}") from None
    except TransparencyError as exc:
        raise ConfigError(f"{cfg.label}: currency_key_bundle_file is not a currency key statement: {exc}") from None
    if (logged.n, logged.e) != (key.n, key.e):
        raise ConfigError(
            f"{cfg.label}: currency_key_bundle_file names another currency key than currency_key_file holds"
        )
    return bundle


class BlindBankService:
    """The BlindBank endpoints over a :class:`BankStore`, on the shared HTTP plumbing."""

    def __init__(
        self,
        cfg: config.RoleConfig,
        *,
        issuer: Issuer | None = None,
        store: BankStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.issuer = issuer if issuer is not None else load_issuer(cfg)
        self.key = self.issuer.public_key
        check_currency_key_bundle(cfg, self.key)
        self.store = store if store is not None else open_bank_store(cfg.database)
        self.clock = clock
        self.locker = RoleNonceLocker(cfg, clock)
        self.spender = Spender(self.key, self.locker, issuer=self.issuer, clock=clock)
        self.http = _http.HTTPService(cfg, logger=log)
        self._operation_locks: dict[bytes, tuple[asyncio.Lock, int]] = {}
        routes = (
            ("/deposit", self._deposit),
            ("/withdraw", self._withdraw),
            ("/exchange", self._exchange),
            ("/withdraw-full", self._withdraw_full),
            ("/balance", self._balance),
        )
        for path, handler in routes:
            self.http.add_route("POST", path, handler, binary=True)
        self.http.add_readiness_check("store", self._store_ready)
        self.http.on_startup(self.locker.open)
        self.http.on_cleanup(self._close)

    async def start(self) -> tuple[str, int]:
        return await self.http.start()

    async def stop(self) -> None:
        await self.http.stop()

    async def _close(self) -> None:
        await self.locker.close()
        await asyncio.to_thread(self.store.close)

    async def _store_ready(self) -> str | None:
        try:
            await asyncio.to_thread(self.store.balance, AccountKind.BLIND, bytes(32))
        except StoreUnavailableError:
            return "store unreachable"
        return None

    async def _read(self, request: web.Request, name: str) -> dict[str, Any]:
        _http.require_binary(request)
        return decode_strict(f"csprotos.{name}", await _http.read_body(request))

    @staticmethod
    def _answer(name: str, message: dict[str, Any]) -> web.Response:
        return _http.binary_response(encode_message(f"csprotos.{name}", message))

    # --- endpoints ---------------------------------------------------------------

    async def _deposit(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            message = await self._read(request, "DepositRequest")
            account = account_of(message)
            credit = credit_of(message)
            balance = await self.deposit(account, credit)
        return self._answer("DepositResponse", {"balance": balance})

    async def deposit(self, account: bytes, credit: Credit) -> int:
        """Spends ``credit`` into ``account`` (a stored id); returns the new balance."""
        op = spend_id(credit)
        async with await self.spender.begin(credit) as txn:
            try:
                balance = await asyncio.to_thread(
                    self.store.credit,
                    AccountKind.BLIND,
                    account,
                    credit.value.amount,
                    op,
                    create=True,
                )
            except IdempotencyConflictError:
                # This nonce was deposited before (into another account) but its lock was never
                # consumed, e.g. after a crash: it is spent, so consume it now.
                await txn.commit()
                raise NonceConsumedError("credit was deposited already") from None
            await txn.commit()
        return balance

    async def _withdraw(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            message = await self._read(request, "BatchWithdrawRequest")
            account = account_of(message)
            requests = [blind_request_of(r, self.key) for r in message.get("requests", [])]
            balance, signatures = await self.withdraw(account, requests)
        body = {
            "balance": balance,
            "blindSignatures": [base64.b64encode(s).decode() for s in signatures],
        }
        return self._answer("BatchWithdrawResponse", body)

    async def withdraw(
        self, account: bytes, requests: list[tuple[Value, bytes]]
    ) -> tuple[int, list[bytes]]:
        """Debits the sum of ``requests`` first, then signs each; all or nothing."""
        if not 1 <= len(requests) <= MAX_BATCH:
            raise InvalidMessageError(
                f"a withdrawal takes 1..{MAX_BATCH} requests, got {len(requests)}"
            )
        if len({blinded for _, blinded in requests}) != len(requests):
            raise InvalidMessageError("duplicate blinded messages")
        total = sum(value.amount for value, _ in requests)
        op = operation_id(
            b"withdraw", account, *(value.blind_bytes + blinded for value, blinded in requests)
        )
        balance = await asyncio.to_thread(self.store.debit, AccountKind.BLIND, account, total, op)
        try:
            signatures = [
                await asyncio.to_thread(self.issuer.blind_sign, v, b) for v, b in requests
            ]
        except BlindRSAError:
            # Inputs were checked, so this is the key's fault: give the money back, sign nothing.
            await asyncio.to_thread(
                self.store.credit,
                AccountKind.BLIND,
                account,
                total,
                operation_id(b"undo", op),
                create=True,
            )
            raise
        return balance, signatures

    async def _exchange(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            message = await self._read(request, "ExchangeRequest")
            credit = credit_of(message)
            blinded = blinded_message_of(message, self.key)
            signature = await self.exchange(credit, blinded)
        return self._answer(
            "ExchangeResponse", {"blindSignature": base64.b64encode(signature).decode()}
        )

    async def exchange(self, credit: Credit, blinded: bytes) -> bytes:
        """Spends ``credit`` for a blind signature on a new credit of the same value.

        Idempotent: the signature is kept under the credit's spend id (the one a deposit of it would
        use), so a repeat with the same blinded message gets the same signature and spends nothing,
        while another blinded message (``IdempotencyConflictError``) or a deposit of the credit
        (``NonceConsumedError``) is refused. Identical exchanges racing in this process wait for the
        first; across replicas, the store's primary key keeps one answer."""
        op = spend_id(credit)
        request = hashlib.sha256(blinded).digest()
        amount = credit.value.amount
        async with self._one_at_a_time(op):
            earlier = await asyncio.to_thread(self.store.exchanged, op, request, amount)
            if earlier is not None:
                await self._settle(credit)
                return earlier
            async with await self.spender.begin(credit) as txn:
                signature = await asyncio.to_thread(self.issuer.blind_sign, credit.value, blinded)
                signature = await asyncio.to_thread(
                    self.store.record_exchange, op, request, amount, signature
                )
                await txn.commit()
        return signature

    async def _settle(self, credit: Credit) -> None:
        """Checks a credit exchanged before and consumes its nonce, in case the bank died between
        keeping the answer and consuming it (the lock has expired then)."""
        with contextlib.suppress(NonceConsumedError, NonceLockedError):
            async with await self.spender.begin(credit) as txn:
                await txn.commit()

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, op: bytes) -> AsyncIterator[None]:
        lock, users = self._operation_locks.get(op, (asyncio.Lock(), 0))
        self._operation_locks[op] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._operation_locks[op]
            if users == 1:
                del self._operation_locks[op]
            else:
                self._operation_locks[op] = (lock, users - 1)

    async def _withdraw_full(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            message = await self._read(request, "WithdrawFullUnblindedRequest")
            credit = await self.withdraw_full(account_of(message))
        answer = {"credit": decode_message("csprotos.Credit", credit.encode())}
        return self._answer("WithdrawFullUnblindedResponse", answer)

    async def withdraw_full(self, account: bytes) -> Credit:
        """Zeroes the account and issues an unblinded credit of its stochastically rounded balance."""
        held = await asyncio.to_thread(self.store.balance, AccountKind.BLIND, account)
        if held > MAX_AMOUNT:
            raise BalanceLimitError(
                "the balance is more than one credit can carry; withdraw part first"
            )
        op = operation_id(b"withdraw-full", account, secrets.token_bytes(16))
        taken = await asyncio.to_thread(self.store.debit_all, AccountKind.BLIND, account, op)
        if taken > MAX_AMOUNT:  # a deposit raced in between: put it all back
            await asyncio.to_thread(
                self.store.credit,
                AccountKind.BLIND,
                account,
                taken,
                operation_id(b"undo", op),
                create=True,
            )
            raise BalanceLimitError(
                "the balance is more than one credit can carry; withdraw part first"
            )
        return await asyncio.to_thread(
            self.issuer.issue_unblinded, Value.rounded(taken), int(self.clock())
        )

    async def _balance(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            message = await self._read(request, "BalanceRequest")
            balance = await asyncio.to_thread(
                self.store.balance, AccountKind.BLIND, account_of(message)
            )
        return self._answer("BalanceResponse", {"balance": balance})


# --- the process -----------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    """``openpcc bank --config FILE``: serve until SIGTERM/SIGINT."""
    cfg = config.load(args.config).role(ROLE)
    _http.configure_logging(str(cfg["log_level"]))
    service = BlindBankService(cfg)
    asyncio.run(_http.run_until_signalled(service.http))
    return 0
