"""The auth bank: the reference's Auth API (spec §1.2, §1.3) on port 3000, with real API-key accounts.

API keys are identified accounts whose balance an operator funds (``openpcc auth keys add --balance N``
prints a new key once; the store keeps only its hash, :func:`~openpcc.services.store.account_id`). The
key travels in the ``cf-authorization`` header and, for the binary endpoints, also in the body's
``api_key``; both must name a known key (401, code 504, otherwise).

* ``POST /api/auth`` ``AuthWithdrawalRequest{api_key, value, blinded_message}`` →
  ``AuthWithdrawalResponse{blind_signature, badge}``: the value is debited **before** signing, under an
  operation id derived from the key and the request (a replay is answered again, not debited again);
  429 when the balance is short, as the reference's client expects;
* ``POST /api/attestationRequest``: the same message with the special attestation value (spec §8.1):
  signed without a debit, as the reference;
* ``POST /api/refund`` ``AuthRefundRequest{api_key, credit}`` → 200, empty: the credit is spent
  (:mod:`openpcc.services.spending`) and its amount credited back to the key;
* ``GET /api/config`` → ``AuthConfigResponse`` (spec §1.2): bank, router and relay URLs, and
  ``currency_key_bundle``: with ``currency_key_bundle_file`` the signed, logged statement of the
  currency key (a Sigstore bundle, as the reference; checked at start to name this bank's key),
  else the plain JWK (UTF-8 JSON); ``ohttp_key_configs_bundle``: with ``ohttp_key_configs_bundle_file``
  the signed, logged statement of the gateway's keys (re-read when the operator republishes it), else
  the plain ``application/ohttp-keys`` bytes of ``ohttp_key_configs_file``.

Badges (spec §8.9, :mod:`openpcc.badge`) are Ed25519 signatures over the ``Credentials`` protobuf
(``0a <len> <models>``, the models sorted, each a little-endian ``uint32`` length and its ASCII bytes), the
same for every API key: the models of ``badge_models``. Every withdrawal answer carries it; nodes check it
with its public key (``<data_dir>/badge-public-key.pem``, written when the auth bank creates its key).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openpcc import config
from openpcc.badge import Badge, encode_models, public_key_pem
from openpcc.compute import encode_message
from openpcc.credits import ATTESTATION_VALUE, Credit, Issuer, Value, public_key_to_jwk
from openpcc.exceptions import (
    ConfigError,
    IdempotencyConflictError,
    InvalidAPIKeyError,
    MalformedCreditError,
    NonceConsumedError,
    WrongCreditValueError,
)
from openpcc.services import _http
from openpcc.services.bank import (
    _bytes_field,
    as_rejection,
    blinded_message_of,
    check_currency_key_bundle,
    credit_of,
    load_issuer,
    operation_id,
)
from openpcc.services.noncelock import decode_strict
from openpcc.services.spending import RoleNonceLocker, Spender, lock_nonce_of
from openpcc.services.store import AccountKind, BankStore, account_id, open_bank_store

ROLE = "auth"
API_KEY_HEADER = "cf-authorization"
BADGE_KEY_FILE = "badge-key.pem"
BADGE_PUBLIC_KEY_FILE = "badge-public-key.pem"
API_KEY_PREFIX = "opk_"
MAX_API_KEY_LENGTH = 256

log = logging.getLogger("openpcc.services.auth")


# --- badges (spec §8.9) --------------------------------------------------------------


def credentials_models(models: Iterable[str]) -> bytes:
    """The ``models`` field of ``Credentials`` (:func:`openpcc.badge.encode_models`)."""
    return encode_models(models)


def badge_message(key: Ed25519PrivateKey, models: Iterable[str]) -> dict[str, Any]:
    """The ``Badge`` message (protobuf-JSON form): the credentials and Ed25519 over their encoding."""
    return Badge.issue(key, models).to_message()


def load_badge_key(cfg: config.RoleConfig) -> Ed25519PrivateKey:
    """The badge key from ``badge_key_file`` (default ``<data_dir>/badge-key.pem``), created (0600) when
    the default file does not exist yet, with its public key beside it (``badge-public-key.pem``)."""
    configured = str(cfg["badge_key_file"])
    path = Path(configured or cfg.data_dir / BADGE_KEY_FILE)
    if not configured:
        ensure_badge_key(path)
    try:
        pem = config.read_key_file(path)
    except FileNotFoundError:
        raise ConfigError(f"{cfg.label}: no badge key at {path}") from None
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"{cfg.label}: the badge key at {path} is not Ed25519")
    return loaded


def ensure_badge_key(path: Path) -> Path:
    """Creates a badge key at ``path`` (PKCS#8 PEM, 0600) unless one is there, and its public key beside it
    unless that is there; returns the public key's path (what nodes read as ``badge_public_key``)."""
    public = path.with_name(BADGE_PUBLIC_KEY_FILE)
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        config.write_key_file(path, pem)
    if not public.exists():
        key = serialization.load_pem_private_key(config.read_key_file(path), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"the badge key at {path} is not Ed25519")
        write_badge_public_key(public, key)
    return public


def write_badge_public_key(path: Path, key: Ed25519PrivateKey) -> None:
    """The badge public key (PEM, ``SubjectPublicKeyInfo``) nodes read as ``badge_public_key``."""
    config.ensure_private_dir(path.parent)
    path.write_bytes(public_key_pem(key))


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# --- API keys ----------------------------------------------------------------------------


def new_api_key() -> str:
    """A fresh API key: a prefix and 256 random bits, URL-safe."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_account(key: str) -> bytes:
    return account_id(AccountKind.API_KEY, key.encode())


def add_api_key(store: BankStore, balance: int, label: str = "") -> str:
    """Creates a funded API-key account; returns the key (stored only as its hash)."""
    key = new_api_key()
    store.create_api_key_account(api_key_account(key), label, balance)
    return key


# --- the service ----------------------------------------------------------------------------


class AuthBankService:
    """The Auth endpoints over a :class:`BankStore`, on the shared HTTP plumbing."""

    def __init__(
        self,
        cfg: config.RoleConfig,
        *,
        issuer: Issuer | None = None,
        store: BankStore | None = None,
        badge_key: Ed25519PrivateKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.issuer = issuer if issuer is not None else load_issuer(cfg)
        self.key = self.issuer.public_key
        self.currency_key_bundle = check_currency_key_bundle(cfg, self.key)
        self.badge_key = badge_key if badge_key is not None else load_badge_key(cfg)
        self.badge = badge_message(self.badge_key, _split(str(cfg["badge_models"])))
        self.remote_config = self._remote_config()
        self._ohttp_bundle_stamp = self._bundle_stamp()
        self.store = store if store is not None else open_bank_store(cfg.database)
        self.locker = RoleNonceLocker(cfg, clock)
        self.spender = Spender(self.key, self.locker, issuer=self.issuer, clock=clock)
        self.http = _http.HTTPService(cfg, logger=log)
        self.http.add_route("GET", "/api/config", self._config, binary=True)
        self.http.add_route("POST", "/api/config", self._config, binary=True)
        for path, handler in (
            ("/api/auth", self._withdraw),
            ("/api/attestationRequest", self._attestation),
            ("/api/refund", self._refund),
        ):
            self.http.add_route("POST", path, handler, binary=True)
        self.http.on_startup(self.locker.open)
        self.http.on_cleanup(self._close)

    def _remote_config(self) -> bytes:
        message: dict[str, Any] = {
            "routerUrl": str(self.cfg["router_url"]),
            "bankUrl": str(self.cfg["bank_url"]),
            "relays": [{"url": url} for url in _split(str(self.cfg["relay_urls"]))],
            "currencyKeyBundle": base64.b64encode(
                self.currency_key_bundle
                if self.currency_key_bundle is not None
                else json.dumps(public_key_to_jwk(self.key)).encode()
            ).decode(),
        }
        for setting in ("ohttp_key_configs_bundle_file", "ohttp_key_configs_file"):
            path = str(self.cfg[setting])
            if not path:
                continue
            try:
                message["ohttpKeyConfigsBundle"] = base64.b64encode(Path(path).read_bytes()).decode()
            except OSError as exc:
                raise ConfigError(f"{self.cfg.label}: cannot read {setting}: {exc.strerror}") from None
            break
        return encode_message("csprotos.AuthConfigResponse", message)

    async def start(self) -> tuple[str, int]:
        return await self.http.start()

    async def stop(self) -> None:
        await self.http.stop()

    async def _close(self) -> None:
        await self.locker.close()
        await asyncio.to_thread(self.store.close)

    async def _account(self, request: web.Request, message: dict[str, Any] | None = None) -> bytes:
        """The stored id of the request's API key; ``InvalidAPIKeyError`` unless it is known and the
        header and the body (when it has one) agree."""
        header = request.headers.get(API_KEY_HEADER, "")
        if not 0 < len(header) <= MAX_API_KEY_LENGTH:
            raise InvalidAPIKeyError("API key required in cf-authorization")
        if message is not None:
            body_key = str(message.get("apiKey", ""))
            if not hmac.compare_digest(body_key.encode(), header.encode()):
                raise InvalidAPIKeyError("api_key and cf-authorization differ")
        account = api_key_account(header)
        if not await asyncio.to_thread(self.store.account_exists, AccountKind.API_KEY, account):
            raise InvalidAPIKeyError("unknown API key")
        return account

    async def _read(self, request: web.Request, name: str) -> dict[str, Any]:
        _http.require_binary(request)
        return decode_strict(f"csprotos.{name}", await _http.read_body(request))

    # --- endpoints ---------------------------------------------------------------

    async def _config(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            await self._account(request)
        return _http.binary_response(self.current_remote_config())

    def current_remote_config(self) -> bytes:
        """The remote configuration, made again when ``ohttp_key_configs_bundle_file`` changed (the operator
        republished the gateway's keys: a rotation)."""
        stamp = self._bundle_stamp()
        if stamp != self._ohttp_bundle_stamp:
            try:
                self.remote_config = self._remote_config()
                self._ohttp_bundle_stamp = stamp
            except ConfigError as exc:  # keep serving the last statement read
                log.warning("%s", exc)
        return self.remote_config

    def _bundle_stamp(self) -> tuple[int, int] | None:
        path = str(self.cfg["ohttp_key_configs_bundle_file"])
        try:
            info = os.stat(path) if path else None
        except OSError:
            return None
        return None if info is None else (info.st_mtime_ns, info.st_size)

    async def _withdraw(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            message = await self._read(request, "AuthWithdrawalRequest")
            account = await self._account(request, message)
            value = _value_of(message)
            if not value.is_spendable:
                raise WrongCreditValueError("requested value must be a non-zero amount")
            blinded = blinded_message_of(message, self.key)
            signature = await self.withdraw(account, value, blinded)
        return self._signed(signature)

    async def withdraw(self, account: bytes, value: Value, blinded: bytes) -> bytes:
        """Debits ``value`` from the API key's account, then signs (a replay is not debited again)."""
        op = operation_id(b"auth-withdraw", account, value.blind_bytes + blinded)
        await asyncio.to_thread(self.store.debit, AccountKind.API_KEY, account, value.amount, op)
        return await asyncio.to_thread(self.issuer.blind_sign, value, blinded)

    async def _attestation(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            message = await self._read(request, "AuthWithdrawalRequest")
            await self._account(request, message)
            if _value_of(message) != ATTESTATION_VALUE:
                raise WrongCreditValueError("an attestation request takes the attestation value")
            blinded = blinded_message_of(message, self.key)
            signature = await asyncio.to_thread(self.issuer.blind_sign, ATTESTATION_VALUE, blinded)
        return self._signed(signature)

    def _signed(self, signature: bytes) -> web.Response:
        body = {"blindSignature": base64.b64encode(signature).decode(), "badge": self.badge}
        return _http.binary_response(encode_message("csprotos.AuthWithdrawalResponse", body))

    async def _refund(self, request: web.Request) -> web.StreamResponse:
        with as_rejection():
            message = await self._read(request, "AuthRefundRequest")
            account = await self._account(request, message)
            await self.refund(account, credit_of(message))
        return _http.binary_response(b"")

    async def refund(self, account: bytes, credit: Credit) -> int:
        """Spends ``credit`` and credits its amount back to the API key; returns the new balance."""
        op = operation_id(b"auth-refund", lock_nonce_of(credit).key)
        async with await self.spender.begin(credit) as txn:
            try:
                balance = await asyncio.to_thread(
                    self.store.credit,
                    AccountKind.API_KEY,
                    account,
                    credit.value.amount,
                    op,
                    create=False,
                )
            except IdempotencyConflictError:
                await txn.commit()
                raise NonceConsumedError("credit was refunded already") from None
            await txn.commit()
        return balance


def _value_of(message: dict[str, Any]) -> Value:
    value_message = message.get("value")
    if not isinstance(value_message, dict):
        raise MalformedCreditError("request has no value")
    return Value.from_blind_bytes(_bytes_field(value_message, "currency"))


# --- the process -----------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    """``openpcc auth --config FILE``: serve until SIGTERM/SIGINT."""
    cfg = config.load(args.config).role(ROLE)
    _http.configure_logging(str(cfg["log_level"]))
    service = AuthBankService(cfg)
    asyncio.run(_http.run_until_signalled(service.http))
    return 0


def add_key_command(args: argparse.Namespace) -> int:
    """``openpcc auth keys add --balance N``: prints a new funded API key (once; only its hash is kept)."""
    cfg = config.load(args.config).role(ROLE)
    store = open_bank_store(cfg.database)
    try:
        key = add_api_key(store, args.balance, args.label)
    finally:
        store.close()
    print(key)
    return 0
