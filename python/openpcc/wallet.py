"""The client's wallet: credits kept ready for requests, safe across crashes and processes (spec §8.7).

The wallet holds blinded credits of one value (``credit_amount``) in a local file, and one pseudonymous
account at the blind bank (a random 32-byte bearer token) where money waits between uses:

* **refill** (:meth:`Wallet.refill`): when fewer than ``low_water`` credits are held, withdraw a batch from
  the blind account; when the account cannot pay for it, first withdraw ``source_amount`` from the auth
  bank with the API key and deposit it into the account;
* **take** (:meth:`Wallet.take`) hands one credit out, removed from the file before the caller sees it, so
  no two callers (threads or processes sharing the file) ever get the same credit;
  :meth:`Wallet.give_back` puts back one the caller did not spend;
* **refunds** (:meth:`Wallet.deposit_refund`): an unblinded refund is exchanged for a blinded credit of the
  same value, which is deposited into the account (consolidated);
* **close** (:meth:`Wallet.close`) deposits every held credit into the account;
* **status** (:meth:`Wallet.status`) reports what is held, by value, and the pending operations;
* **badge** (:meth:`Wallet.badge`): the auth bank's badge (spec §8.9), taken from its withdrawal answers (the
  latest wins) and kept in the file, which the client sends to nodes in ``X-Confsec-Badge``.

Crash safety: before each bank call the operation is written to the file (write-ahead), with everything
needed to finish it (the blinding secrets of the credits asked for, the credit being deposited). A process
that dies mid-call leaves the operation in the file; the next process to open the wallet finishes it.
Every bank operation the wallet uses can be repeated safely: a withdrawal is repeated with the same
blinded messages (the bank answers a repeat with the same signatures, without a second debit), an exchange
is repeated with the same refund and blinded message (the bank answers with the signature it kept, without
a second spend), a deposit repeated is either accepted or refused as already spent, and an auth withdrawal
is idempotent the same way. Only a bank that refuses the repeat of an exchange as spent (the refund went
elsewhere, or a bank without idempotent exchanges) loses its value: :meth:`Wallet.status` counts it in
``lost``.

Every change is saved by writing a new file, fsync and an atomic rename, under an exclusive
``fcntl.flock`` on ``<file>.lock`` held for the whole operation (bank calls included). The file is
encrypted with AES-256-GCM; its key is in the system keyring when ``keyring`` is installed with a working
backend, else in ``<file>.key`` (mode 0600). A file that does not decrypt or parse raises
:class:`~openpcc.exceptions.WalletFileError`.

This module is a library: it never imports :mod:`openpcc.services`. Bank calls go through a
:class:`BankClient`; :class:`HTTPBankClient` speaks the reference's protobuf bodies over a pluggable
:data:`Transport` (direct HTTP here; in production the blind bank is reached through OHTTP).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import importlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openpcc import bhttp, blindrsa, config, ohttp
from openpcc.badge import Badge
from openpcc.compute import decode_message, encode_message
from openpcc.credits import (
    ATTESTATION_VALUE,
    NONCE_QUANTUM_SECONDS,
    Credit,
    Nonce,
    PendingCredit,
    Value,
)
from openpcc.exceptions import (
    BadgeError,
    BankRequestError,
    BHTTPError,
    InsufficientBalanceError,
    InvalidCreditError,
    MalformedInputError,
    NonceConsumedError,
    OHTTPError,
    WalletEmptyError,
    WalletError,
    WalletFileError,
)

ACCOUNT_TOKEN_LENGTH = 32
MAX_BATCH = 15
BANK_HOST = "confsec-bank.invalid"
API_KEY_HEADER = "cf-authorization"
ERROR_CODE_HEADER = "X-Openpcc-Error-Code"
_MAGIC = b"OPCCWAL1"
_FORMAT = 1
_KEYRING_SERVICE = "openpcc-wallet"
# The blind bank's error codes the wallet acts on (docs/errors.md).
_CODE_NONCE_LOCKED = 401
_CODE_NONCE_CONSUMED = 402
_CODE_INSUFFICIENT_BALANCE = 500


# --- transport and bank client -----------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


Transport = Callable[[str, str, dict[str, str], bytes], Response]
"""``transport(method, path, headers, body)``: sends one inner HTTP request to a fixed origin."""


def direct_transport(base_url: str, timeout: float = 30.0) -> Transport:
    """A transport that sends plain HTTP to ``base_url`` (tests, and banks reached without OHTTP)."""
    base = base_url.rstrip("/")

    def send(method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        # Host names the inner request's origin for OHTTP; sent directly, the URL's host is right.
        sent = {k: v for k, v in headers.items() if k.lower() != "host"}
        request = urllib.request.Request(
            base + path, data=body or None, method=method, headers=sent
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return Response(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as exc:
            return Response(exc.code, dict(exc.headers), exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise BankRequestError(0, None, f"bank unreachable: {type(exc).__name__}") from None

    if not base.startswith(("http://", "https://")):
        raise WalletError("bank URL must be http:// or https://")
    return send


#: What the reference's Go transport adds inside every encapsulated request (spec §2.8).
INNER_USER_AGENT = "Go-http-client/1.1"
#: OpenPCC pads every inner OHTTP message to a multiple of this (spec §2.6).
OHTTP_PAD = 532


def ohttp_transport(
    relay_url: str, key_config: Callable[[], ohttp.KeyConfig], host: str = BANK_HOST, timeout: float = 30.0
) -> Transport:
    """A transport that encapsulates each request to the gateway (OHTTP, spec §2) and posts it to the relay;
    the inner request goes to ``http://<host><path>``. ``key_config()`` names the pinned gateway key to use
    now (it is asked at every call, so a rotation takes effect)."""
    if not relay_url.startswith(("http://", "https://")):
        raise WalletError("relay URL must be http:// or https://")

    def send(method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        fields = [(k.lower(), v) for k, v in headers.items() if k.lower() != "host"]
        if not any(k == "user-agent" for k, _ in fields):
            fields.append(("user-agent", INNER_USER_AGENT))
        inner = bhttp.Request(
            method=method, scheme="http", authority=host, path=path, headers=fields, content=body
        )
        encoded = bhttp.encode(bhttp.normalize_request(inner), pad_to_multiple_of=OHTTP_PAD)
        data, context = ohttp.encapsulate_request(key_config(), encoded)
        outer = urllib.request.Request(
            relay_url, data=data, method="POST",
            headers={"Content-Type": ohttp.REQUEST_MEDIA_TYPE, "Date": _http_date(), "User-Agent": ""},
        )
        try:
            with urllib.request.urlopen(outer, timeout=timeout) as reply:
                media_type = reply.headers.get("Content-Type", "")
                raw = reply.read()
        except urllib.error.HTTPError as exc:
            raise BankRequestError(0, None, f"the relay or gateway answered {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise BankRequestError(0, None, f"relay unreachable: {type(exc).__name__}") from None
        try:
            opener = ohttp.ResponseOpener(context, media_type)
            plain = b"".join(opener.feed(raw)) + opener.finish()
            answer = bhttp.decode_response(plain)
        except (OHTTPError, BHTTPError) as exc:
            raise BankRequestError(0, None, f"the gateway's answer does not open: {type(exc).__name__}") from None
        names = {n.decode("latin-1"): v.decode("latin-1") for n, v in answer.headers}
        return Response(answer.status, names, answer.content)

    return send


def _http_date() -> str:
    import email.utils

    return email.utils.formatdate(usegmt=True)


class BankClient(Protocol):
    """What the wallet needs from the auth bank (API key) and the blind bank (bearer account tokens)."""

    def auth_withdraw(self, value: Value, blinded_message: bytes) -> bytes: ...

    def deposit(self, account: bytes, credit: Credit) -> int: ...

    def withdraw(
        self, account: bytes, requests: list[tuple[Value, bytes]]
    ) -> tuple[int, list[bytes]]: ...

    def exchange(self, credit: Credit, blinded_message: bytes) -> bytes: ...

    def balance(self, account: bytes) -> int: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text or ""), validate=True)
    except ValueError:
        raise MalformedInputError("bank answer holds a field that does not decode") from None


def _currency(value: Value) -> dict[str, str]:
    return {"currency": _b64(value.blind_bytes)}


def _credit_message(credit: Credit) -> dict[str, Any]:
    return decode_message("csprotos.Credit", credit.encode())


class HTTPBankClient:
    """:class:`BankClient` over the reference's endpoints and protobuf bodies (spec §1.3)."""

    def __init__(self, bank: Transport, auth: Transport | None = None, api_key: str = "") -> None:
        self._bank = bank
        self._auth = auth
        self._api_key = api_key
        #: The badge of the latest auth answer that carried a well-formed one (spec §8.9).
        self.last_badge: Badge | None = None
        #: Why the latest auth answer's badge was refused (malformed, or a model named twice), if it was.
        self.badge_error: BadgeError | None = None

    def _take_badge(self, answer: dict[str, Any]) -> None:
        """Keeps the answer's badge after the reference client's check (no model named twice). A bad badge
        does not fail the withdrawal: the credit was paid for; :meth:`Wallet.badge` reports it instead."""
        if "badge" not in answer:
            return
        try:
            badge = Badge.from_message(answer["badge"])
            badge.check_distinct()
        except BadgeError as exc:
            self.badge_error = exc
            return
        self.last_badge, self.badge_error = badge, None

    def _call(
        self,
        transport: Transport,
        path: str,
        name: str,
        message: dict[str, Any],
        headers: dict[str, str],
    ) -> dict[str, Any]:
        body = encode_message(f"csprotos.{name}Request", message)
        reply = transport(
            "POST", path, {"Content-Type": "application/octet-stream", **headers}, body
        )
        if reply.status != 200:
            raise _rejection(reply)
        return decode_message(f"csprotos.{name}Response", reply.body)

    def _bank_call(self, path: str, name: str, message: dict[str, Any]) -> dict[str, Any]:
        return self._call(self._bank, path, name, message, {"Host": BANK_HOST})

    def auth_withdraw(self, value: Value, blinded_message: bytes) -> bytes:
        if self._auth is None or not self._api_key:
            raise WalletError(
                "no auth bank or API key configured: the wallet cannot get new credits"
            )
        message = {
            "apiKey": self._api_key,
            "value": _currency(value),
            "blindedMessage": _b64(blinded_message),
        }
        answer = self._call(
            self._auth, "/api/auth", "AuthWithdrawal", message, {API_KEY_HEADER: self._api_key}
        )
        self._take_badge(answer)
        return _unb64(answer.get("blindSignature"))

    def attestation_withdraw(self, blinded_message: bytes) -> bytes:
        """A blind signature over an attestation-value credit (``POST /api/attestationRequest``), which
        pays for one manifest query (spec §1.3); the auth bank debits nothing."""
        if self._auth is None or not self._api_key:
            raise WalletError("no auth bank or API key configured: no attestation credit can be had")
        message = {
            "apiKey": self._api_key,
            "value": _currency(ATTESTATION_VALUE),
            "blindedMessage": _b64(blinded_message),
        }
        answer = self._call(
            self._auth, "/api/attestationRequest", "AuthWithdrawal", message, {API_KEY_HEADER: self._api_key}
        )
        self._take_badge(answer)
        return _unb64(answer.get("blindSignature"))

    def deposit(self, account: bytes, credit: Credit) -> int:
        message = {"accountToken": _b64(account), "credit": _credit_message(credit)}
        return int(self._bank_call("/deposit", "Deposit", message).get("balance", 0))

    def withdraw(
        self, account: bytes, requests: list[tuple[Value, bytes]]
    ) -> tuple[int, list[bytes]]:
        message = {
            "accountToken": _b64(account),
            "requests": [{"value": _currency(v), "blindedMessage": _b64(b)} for v, b in requests],
        }
        answer = self._call(self._bank, "/withdraw", "BatchWithdraw", message, {"Host": BANK_HOST})
        return int(answer.get("balance", 0)), [_unb64(s) for s in answer.get("blindSignatures", [])]

    def exchange(self, credit: Credit, blinded_message: bytes) -> bytes:
        message = {"credit": _credit_message(credit), "blindedMessage": _b64(blinded_message)}
        return _unb64(self._bank_call("/exchange", "Exchange", message).get("blindSignature"))

    def balance(self, account: bytes) -> int:
        return int(
            self._bank_call("/balance", "Balance", {"accountToken": _b64(account)}).get(
                "balance", 0
            )
        )


def _rejection(reply: Response) -> Exception:
    code_text = next(
        (v for k, v in reply.headers.items() if k.lower() == ERROR_CODE_HEADER.lower()), ""
    )
    code = int(code_text) if code_text.isdigit() else None
    reason = None
    with contextlib.suppress(MalformedInputError, ValueError):
        reason = str(decode_message("csprotos.Error", reply.body).get("Message", ""))[:200] or None
    if code == _CODE_NONCE_CONSUMED or reply.status == 410:
        return NonceConsumedError("the bank says this credit was spent already")
    if code == _CODE_INSUFFICIENT_BALANCE or reply.status == 429:
        return InsufficientBalanceError("the bank says the balance is too low")
    return BankRequestError(reply.status, code, reason)


# --- the wallet file ---------------------------------------------------------------------


def _encode_pending(p: PendingCredit) -> dict[str, Any]:
    return {
        "value": p.value.blind_bytes.hex(),
        "nonce": p.nonce.to_proto().hex(),
        "blinded": p.blinded_message.hex(),
        "inv": p.inv.hex(),
        "not_before": p.not_before,
    }


def _decode_pending(d: dict[str, Any]) -> PendingCredit:
    return PendingCredit(
        Value.from_blind_bytes(bytes.fromhex(d["value"])),
        Nonce.from_proto(bytes.fromhex(d["nonce"])),
        bytes.fromhex(d["blinded"]),
        bytes.fromhex(d["inv"]),
        d["not_before"],
    )


@dataclass
class State:
    """What the wallet file holds (decrypted)."""

    account: bytes
    credits: list[Credit] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    lost: int = 0
    expired: int = 0
    badge: Badge | None = None  # the auth bank's latest badge (spec §8.9)

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "format": _FORMAT,
            "account": self.account.hex(),
            "credits": [c.encode().hex() for c in self.credits],
            "pending": self.pending,
            "lost": self.lost,
            "expired": self.expired,
        }
        if self.badge is not None:
            doc["badge"] = self.badge.encode().hex()
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> State:
        try:
            doc = json.loads(data)
            if doc["format"] != _FORMAT:
                raise WalletFileError(f"wallet file format {doc['format']} is not {_FORMAT}")
            account = bytes.fromhex(doc["account"])
            if len(account) != ACCOUNT_TOKEN_LENGTH:
                raise WalletFileError("wallet account token has the wrong length")
            credits = [Credit.decode(bytes.fromhex(c)) for c in doc["credits"]]
            pending = list(doc["pending"])
            for op in pending:
                _check_op(op)
            badge = Badge.decode(bytes.fromhex(doc["badge"])) if "badge" in doc else None
            if badge is not None:
                badge.check_distinct()
            return cls(account, credits, pending, int(doc["lost"]), int(doc["expired"]), badge)
        except (KeyError, TypeError, ValueError, MalformedInputError) as exc:
            raise WalletFileError(
                f"wallet file content is malformed: {type(exc).__name__}"
            ) from None


def _check_op(op: dict[str, Any]) -> None:
    kind = op["kind"]
    if kind in ("auth_withdraw", "withdraw"):
        [_decode_pending(p) for p in op["pendings"]]
    elif kind == "deposit":
        Credit.decode(bytes.fromhex(op["credit"]))
    elif kind == "exchange":
        Credit.decode(bytes.fromhex(op["credit"]))
        _decode_pending(op["pending"])
    else:
        raise WalletFileError(f"unknown pending operation {kind!r}")


class _KeyStore:
    """The file key: in the system keyring when a working one exists, else a 0600 file."""

    def __init__(self, path: Path, entry: str, use_keyring: bool) -> None:
        self.path = path
        self.entry = entry
        self.keyring = _working_keyring() if use_keyring else None
        self.where = "keyring" if self.keyring is not None else "file"

    def get_or_create(self) -> bytes:
        if self.keyring is not None:
            stored = self.keyring.get_password(_KEYRING_SERVICE, self.entry)
            if stored:
                return bytes.fromhex(stored)
        elif self.path.exists():
            key = config.read_key_file(self.path)
            if len(key) != 32:
                raise WalletFileError("wallet key file does not hold a 32-byte key")
            return key
        key = AESGCM.generate_key(bit_length=256)
        if self.keyring is not None:
            self.keyring.set_password(_KEYRING_SERVICE, self.entry, key.hex())
        else:
            config.write_key_file(self.path, key)
        return key


def _working_keyring() -> Any:
    try:
        keyring = importlib.import_module("keyring")
        fail = importlib.import_module("keyring.backends.fail")
        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
        return keyring
    except Exception:  # noqa: BLE001 -- any keyring import or backend failure means: use the file
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class WalletFile:
    """The encrypted state file, its key and its lock."""

    def __init__(self, path: str | os.PathLike[str], *, use_keyring: bool = True) -> None:
        self.path = Path(path)
        config.ensure_private_dir(self.path.parent)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.keys = _KeyStore(
            self.path.with_name(self.path.name + ".key"), str(self.path.resolve()), use_keyring
        )
        self._key: bytes | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _aead(self) -> AESGCM:
        if self._key is None:
            self._key = self.keys.get_or_create()
        return AESGCM(self._key)

    def load(self) -> State:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            state = State(secrets.token_bytes(ACCOUNT_TOKEN_LENGTH))
            self.save(state)
            return state
        if len(blob) < len(_MAGIC) + 12 + 16 or not blob.startswith(_MAGIC):
            raise WalletFileError("wallet file is not an openpcc wallet (bad header or too short)")
        nonce = blob[len(_MAGIC) : len(_MAGIC) + 12]
        try:
            plain = self._aead().decrypt(nonce, blob[len(_MAGIC) + 12 :], _MAGIC)
        except InvalidTag:
            raise WalletFileError(
                "wallet file does not decrypt: tampered, or another key"
            ) from None
        return State.from_json(plain)

    def save(self, state: State) -> None:
        nonce = secrets.token_bytes(12)
        _write_atomically(
            self.path, _MAGIC + nonce + self._aead().encrypt(nonce, state.to_json(), _MAGIC)
        )


# --- the wallet --------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletStatus:
    held: int  # total value of the credits held locally
    credits_by_value: dict[int, int]
    pending: list[str]  # kinds of operations not finished (left by a process that died)
    lost: int  # value the bank took but never gave back (a refund it refused as spent elsewhere)
    expired: int  # value of credits that expired in the file (the wallet was not used in time)
    key_storage: str  # "keyring" or "file"


@dataclass(frozen=True)
class WalletSettings:
    credit_amount: int = 262144
    concurrency: int = 2
    low_water: int = 0  # 0: = concurrency
    batch: int = 0  # credits per refill withdrawal; 0: 2 x concurrency (at most 15)
    source_amount: int = 0  # 0: 10 x credit_amount
    max_delay: float = 5.0
    # Credits whose nonce expires within this many seconds go back into the account (spec §8.2: a
    # nonce is valid until 30 s after the end of its hour).
    expiry_margin: float = 300.0

    def resolved_low_water(self) -> int:
        return self.low_water or self.concurrency

    def resolved_batch(self) -> int:
        return max(1, min(MAX_BATCH, self.batch or 2 * self.concurrency))

    def resolved_source(self) -> int:
        return self.source_amount or 10 * self.credit_amount


Fault = Callable[[str], None]
"""Called at each step of an operation (``"<op>:saved"`` after the write-ahead, ``"<op>:answered"`` after
the bank's answer and before it is saved); tests use it to kill the process there."""


class Wallet:
    """Credits for requests, kept in one encrypted file shared safely between processes."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        bank: BankClient,
        key: blindrsa.PublicKey,
        settings: WalletSettings | None = None,
        *,
        use_keyring: bool = True,
        fault: Fault | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.file = WalletFile(path, use_keyring=use_keyring)
        self.bank = bank
        self.key = key
        self.settings = settings or WalletSettings()
        self.value = Value.exact(self.settings.credit_amount)
        self._fault = fault or (lambda step: None)
        self._sleep = sleep
        self._clock = clock
        self._random = secrets.SystemRandom()
        self._refilling = threading.Lock()
        self._held_after_take = sys.maxsize  # what the last take() left; top_up() refills below low water
        with self._session():
            pass  # finishes what a dead process left

    # --- sessions: lock, load, recover -------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[State]:
        with self.file.locked():
            state = self.file.load()
            self._recover(state)
            self._sweep(state)
            yield state

    def _recover(self, state: State) -> None:
        """Finishes every pending operation that is due (a deposit deferred by :meth:`deposit_refund` waits
        for its time: whoever opens the wallet after it, this process or another, finishes it)."""
        finishers: dict[str, Callable[[State, dict[str, Any]], Any]] = {
            "auth_withdraw": self._finish_auth_withdraw,
            "deposit": self._finish_deposit,
            "withdraw": self._finish_withdraw,
            "exchange": self._finish_exchange,
        }
        for op in list(state.pending):
            if op not in state.pending or float(op.get("not_before", 0)) > self._clock():
                continue
            try:
                finishers[op["kind"]](state, op)
            except BankRequestError as exc:
                if op["kind"] != "deposit" or exc.code != _CODE_NONCE_LOCKED:
                    raise
                # Another role holds the credit's nonce: a router that died mid-request keeps it locked
                # until the lock expires (the noncelock's lock_duration). The deposit stays pending for
                # a later session instead of blocking every other operation meanwhile.

    def _begin(self, state: State, op: dict[str, Any], *, remove: Credit | None = None) -> None:
        if remove is not None:
            state.credits.remove(remove)
        state.pending.append(op)
        self.file.save(state)
        self._fault(f"{op['kind']}:saved")

    def _end(self, state: State, op: dict[str, Any]) -> None:
        self._fault(f"{op['kind']}:answered")
        state.pending.remove(op)
        self.file.save(state)

    def _delay(self) -> None:
        if self.settings.max_delay > 0:
            self._sleep(self._random.uniform(0, self.settings.max_delay))

    # --- the operations, each write-ahead -----------------------------------------------

    def _new_pendings(self, value: Value, count: int) -> list[PendingCredit]:
        now = int(self._clock())
        # Near the end of the hour the next hour is already likely (spec §8.2); make it certain, so
        # no new credit is born within the sweep's margin of its expiry.
        late = now % NONCE_QUANTUM_SECONDS >= NONCE_QUANTUM_SECONDS - self.settings.expiry_margin
        r = 1.0 if late else None
        return [PendingCredit.create(self.key, value, now, r) for _ in range(count)]

    def _sweep(self, state: State) -> None:
        """Deposits credits about to expire into the account; drops (and counts) expired ones."""
        now = int(self._clock())
        soon = now + int(self.settings.expiry_margin)
        for credit in list(state.credits):
            if credit.nonce.is_expired_at(now):
                state.credits.remove(credit)
                state.expired += credit.value.amount
                self.file.save(state)
            elif credit.nonce.is_expired_at(soon):
                self._deposit_held(state, credit)

    def _deposit_held(self, state: State, credit: Credit) -> None:
        op = {"kind": "deposit", "credit": credit.encode().hex()}
        self._begin(state, op, remove=credit)
        self._finish_deposit(state, op)

    def _finish_auth_withdraw(self, state: State, op: dict[str, Any], *, defer: bool = False) -> dict[str, Any] | None:
        pending = _decode_pending(op["pendings"][0])
        try:
            signature = self.bank.auth_withdraw(pending.value, pending.blinded_message)
        except InsufficientBalanceError:
            state.pending.remove(op)  # nothing was debited
            self.file.save(state)
            raise
        self._fault("auth_withdraw:answered")
        self._keep_badge(state)
        credit = self._finalize(state, op, [pending], [signature])[0]
        if not defer:
            self._then_deposit(state, op, credit)
            return None
        return self._defer_deposit(state, op, credit)

    def _finalize(
        self,
        state: State,
        op: dict[str, Any],
        pendings: list[PendingCredit],
        signatures: list[bytes],
    ) -> list[Credit]:
        """Unblinds; signatures that do not verify were paid for and a repeat returns them again, so
        the operation is dropped and its value counted lost before ``InvalidCreditError`` is raised."""
        try:
            return [p.finalize(self.key, s) for p, s in zip(pendings, signatures, strict=True)]
        except InvalidCreditError:
            state.lost += sum(p.value.amount for p in pendings)
            state.pending.remove(op)
            self.file.save(state)
            raise

    def _keep_badge(self, state: State) -> None:
        """Saves the bank client's latest badge when it differs from the one kept (the latest wins: an auth
        bank whose model set changed hands out the new badge with its next answer)."""
        latest = getattr(self.bank, "last_badge", None)
        if isinstance(latest, Badge) and latest != state.badge:
            state.badge = latest
            self.file.save(state)

    def _then_deposit(self, state: State, op: dict[str, Any], credit: Credit) -> None:
        """Replaces ``op`` by the deposit of its result in one write: the credit is never only in memory."""
        deposit = {"kind": "deposit", "credit": credit.encode().hex()}
        state.pending[state.pending.index(op)] = deposit
        self.file.save(state)
        self._fault("deposit:saved")
        self._delay()
        self._finish_deposit(state, deposit)

    def _finish_deposit(self, state: State, op: dict[str, Any]) -> None:
        credit = Credit.decode(bytes.fromhex(op["credit"]))
        with contextlib.suppress(NonceConsumedError):  # a repeat of a deposit the bank took
            self.bank.deposit(state.account, credit)
        self._end(state, op)

    def _finish_withdraw(self, state: State, op: dict[str, Any]) -> None:
        pendings = [_decode_pending(p) for p in op["pendings"]]
        try:
            _, signatures = self.bank.withdraw(
                state.account, [(p.value, p.blinded_message) for p in pendings]
            )
        except InsufficientBalanceError:
            state.pending.remove(op)  # all or nothing: nothing was debited
            self.file.save(state)
            raise
        if len(signatures) != len(pendings):
            # Paid for, and a repeat would answer the same: drop it, count it, say so.
            state.lost += sum(p.value.amount for p in pendings)
            state.pending.remove(op)
            self.file.save(state)
            raise BankRequestError(200, None, "the bank answered a different number of signatures")
        self._fault("withdraw:answered")
        state.credits.extend(self._finalize(state, op, pendings, signatures))
        state.pending.remove(op)
        self.file.save(state)

    def _finish_exchange(self, state: State, op: dict[str, Any], *, defer: bool = False) -> float | None:
        credit = Credit.decode(bytes.fromhex(op["credit"]))
        pending = _decode_pending(op["pending"])
        try:
            signature = self.bank.exchange(credit, pending.blinded_message)
        except NonceConsumedError:
            # The bank keeps an exchange's answer and gives it again, so this refund was spent by
            # something else (a deposit, or a bank that does not keep answers): its value is gone.
            state.lost += credit.value.amount
            state.pending.remove(op)
            self.file.save(state)
            return None
        self._fault("exchange:answered")
        credit = self._finalize(state, op, [pending], [signature])[0]
        if not defer:
            self._then_deposit(state, op, credit)
            return None
        return float(self._defer_deposit(state, op, credit)["not_before"])

    def _defer_deposit(self, state: State, op: dict[str, Any], credit: Credit) -> dict[str, Any]:
        """Replaces ``op`` by the deposit of its result, written ahead with the time it is due: the random
        wait that unlinks it from the operation before is spent without the lock, so other requests take
        credits meanwhile. Whoever opens the wallet after that time finishes it (:meth:`_recover`)."""
        due = self._clock() + (self._random.uniform(0, self.settings.max_delay) if self.settings.max_delay > 0 else 0)
        deposit = {"kind": "deposit", "credit": credit.encode().hex(), "not_before": due}
        state.pending[state.pending.index(op)] = deposit
        self.file.save(state)
        self._fault("deposit:saved")
        return deposit

    def _finish_deferred(self, deposit: dict[str, Any]) -> None:
        """Waits (without the lock) until ``deposit`` is due, then finishes it unless a session already did."""
        wait = float(deposit["not_before"]) - self._clock()
        if wait > 0:
            self._sleep(wait)
        with self._session() as state:
            if deposit in state.pending:
                self._finish_deposit(state, deposit)

    def _withdraw_batch(self, state: State, count: int) -> None:
        pendings = self._new_pendings(self.value, count)
        op = {"kind": "withdraw", "pendings": [_encode_pending(p) for p in pendings]}
        self._begin(state, op)
        self._finish_withdraw(state, op)

    def _fund_account(self, state: State, *, defer: bool = False) -> dict[str, Any] | None:
        """Moves ``source_amount`` from the auth bank into the blind account. With ``defer`` the deposit half
        is written ahead and returned, so its random wait can be spent without the lock."""
        pending = self._new_pendings(Value.rounded(self.settings.resolved_source(), 1.0), 1)[0]
        op = {"kind": "auth_withdraw", "pendings": [_encode_pending(pending)]}
        self._begin(state, op)
        return self._finish_auth_withdraw(state, op, defer=defer)

    # --- the public API -------------------------------------------------------------------

    def _held(self, state: State) -> int:
        return sum(1 for c in state.credits if c.value == self.value)

    def refill(self) -> int:
        """Withdraws credits when fewer than ``low_water`` are held; returns how many are held. The random
        waits between bank operations are spent without the wallet's lock, so requests keep taking credits
        meanwhile; one refill runs at a time per wallet object (this waits for one under way)."""
        with self._refilling:
            self._refill()
        return self.held()

    def top_up(self) -> bool:
        """A background :meth:`refill`, only when the last :meth:`take` left the wallet below ``low_water``
        and no refill is under way: on the request path's heels it costs nothing otherwise. Returns whether
        it ran."""
        if self._held_after_take >= self.settings.resolved_low_water():
            return False
        if not self._refilling.acquire(blocking=False):
            return False
        try:
            self._refill()
        finally:
            self._refilling.release()
        return True

    def held(self) -> int:
        """How many credits the wallet holds (no bank call)."""
        with self.file.locked():
            return self._held(self.file.load())

    def _refill(self) -> None:
        low_water, count, amount = self.settings.resolved_low_water(), self.settings.resolved_batch(), self.value.amount
        with self._session() as state:
            if self._held(state) >= low_water:
                return
            balance = self.bank.balance(state.account)
        if balance < count * amount:
            self._delay()
            try:
                with self._session() as state:
                    deposit = self._fund_account(state, defer=True)
                if deposit is not None:
                    self._finish_deferred(deposit)
            except InsufficientBalanceError:
                if balance < amount:
                    raise
            self._delay()
        with self._session() as state:
            if self._held(state) >= low_water:
                return
            count = min(count, self.bank.balance(state.account) // amount)
            if count == 0:
                raise InsufficientBalanceError("the blind account cannot pay for one credit")
            self._withdraw_batch(state, count)

    def _refill_in_session(self, state: State) -> None:
        """The refill of an empty wallet, inside the caller's session: atomic against every other holder of
        the file (threads and processes), at the price of its random waits under the lock."""
        count = self.settings.resolved_batch()
        balance = self.bank.balance(state.account)
        if balance < count * self.value.amount:
            self._delay()
            try:
                self._fund_account(state)
            except InsufficientBalanceError:
                if balance < self.value.amount:
                    raise
            self._delay()
            balance = self.bank.balance(state.account)
        count = min(count, balance // self.value.amount)
        if count == 0:
            raise InsufficientBalanceError("the blind account cannot pay for one credit")
        self._withdraw_batch(state, count)

    def take(self) -> Credit:
        """One credit of ``credit_amount``, removed from the wallet: the caller must spend it or give it back.
        An empty wallet is refilled first; callers that top up with :meth:`refill` in the background keep
        that rare."""
        with self._session() as state:
            if self._held(state) == 0:
                self._refill_in_session(state)
            credit = next((c for c in state.credits if c.value == self.value), None)
            if credit is None:
                raise WalletEmptyError("no credit of the configured value is held")
            state.credits.remove(credit)
            self.file.save(state)
            self._held_after_take = self._held(state)
            return credit

    def give_back(self, credit: Credit) -> None:
        """Returns an unspent credit taken with :meth:`take`."""
        credit.verify(self.key)
        with self._session() as state:
            if credit not in state.credits:
                state.credits.append(credit)
                self.file.save(state)

    def deposit_refund(self, refund: Credit) -> None:
        """Consolidates an unblinded refund: exchanged for a blinded credit, deposited into the account after
        a random wait (``max_delay``) spent without holding the wallet's lock."""
        refund.verify(self.key)
        with self._session() as state:
            pending = self._new_pendings(refund.value, 1)[0]
            op = {
                "kind": "exchange",
                "credit": refund.encode().hex(),
                "pending": _encode_pending(pending),
            }
            self._begin(state, op)
            due = self._finish_exchange(state, op, defer=True)
        if due is None:
            return
        wait = due - self._clock()
        if wait > 0:
            self._sleep(wait)
        with self._session():
            pass  # finishes the deposit, now due, unless another session already did

    def deposit_unused(self, credit: Credit) -> None:
        """Deposits a credit taken with :meth:`take` whose fate is unknown (a request abandoned after the
        router may have spent it): the bank takes it if it is unspent and refuses it harmlessly if not."""
        credit.verify(self.key)
        with self._session() as state:
            op = {"kind": "deposit", "credit": credit.encode().hex()}
            self._begin(state, op)
            self._finish_deposit(state, op)

    def attestation_credit(self) -> Credit:
        """A fresh attestation-value credit from the auth bank (free; pays for one manifest query)."""
        withdraw = getattr(self.bank, "attestation_withdraw", None)
        if withdraw is None:
            raise WalletError("this bank client cannot get attestation credits")
        pending = PendingCredit.create(self.key, ATTESTATION_VALUE, int(self._clock()))
        credit = pending.finalize(self.key, withdraw(pending.blinded_message))
        if getattr(self.bank, "last_badge", None) is not None:
            with self.file.locked():
                state = self.file.load()
                self._keep_badge(state)
        pending.wait_until_usable(self._sleep)
        return credit

    def badge(self) -> Badge | None:
        """The badge the client sends with each request (``X-Confsec-Badge``, spec §8.9): the one kept in the
        wallet file (a restart keeps it), else one asked of the auth bank with a free attestation withdrawal
        (whose credit is dropped). None when the auth bank issues none. Raises :class:`BadgeError` when the
        auth bank's badge was refused (malformed, or a model named twice, as the reference's client refuses)."""
        with self.file.locked():
            kept = self.file.load().badge
        withdraw = getattr(self.bank, "attestation_withdraw", None)
        if kept is not None or withdraw is None:
            return kept
        withdraw(PendingCredit.create(self.key, ATTESTATION_VALUE, int(self._clock())).blinded_message)
        with self.file.locked():
            state = self.file.load()
            self._keep_badge(state)
        error = getattr(self.bank, "badge_error", None)
        if state.badge is None and isinstance(error, BadgeError):
            raise error
        return state.badge

    def close(self) -> None:
        """Deposits every held credit into the blind account (the money stays there for next time)."""
        with self._session() as state:
            for credit in list(state.credits):
                self._delay()
                self._deposit_held(state, credit)

    def account_balance(self) -> int:
        """The blind account's balance at the bank."""
        with self._session() as state:
            return self.bank.balance(state.account)

    def status(self) -> WalletStatus:
        """What is held, by value, what is pending, what was lost; no bank call."""
        with self.file.locked():
            state = self.file.load()
        by_value = Counter(c.value.amount for c in state.credits)
        return WalletStatus(
            held=sum(c.value.amount for c in state.credits),
            credits_by_value=dict(sorted(by_value.items())),
            pending=[op["kind"] for op in state.pending],
            lost=state.lost,
            expired=state.expired,
            key_storage=self.file.keys.where,
        )


WALLET_FILE = "wallet.bin"


def open_wallet(
    profile: config.RoleConfig, key: blindrsa.PublicKey, *, bank: Transport | None = None, **kwargs: Any
) -> Wallet:
    """The wallet of a client profile (:meth:`openpcc.config.Config.client`). The blind bank is reached
    through ``bank`` (e.g. :func:`ohttp_transport`, as :class:`openpcc.Client` does) or, without it,
    directly at the profile's ``bank_url``; the auth bank is always reached directly (spec §1.3)."""
    api_key = ""
    if profile["api_key_file"]:
        api_key = (
            config.read_key_file(Path(profile["api_key_file"])).decode("ascii", "replace").strip()
        )
    client = HTTPBankClient(
        bank or direct_transport(profile["bank_url"]), direct_transport(profile["auth_url"]), api_key
    )
    settings = WalletSettings(
        credit_amount=profile["credit_amount"],
        concurrency=profile["concurrency"],
        low_water=profile["low_water"],
        batch=profile["batch"],
        source_amount=profile["source_amount"],
        max_delay=profile["max_delay"],
    )
    return Wallet(
        profile.data_dir / WALLET_FILE,
        client,
        key,
        settings,
        use_keyring=profile["use_keyring"],
        **kwargs,
    )
