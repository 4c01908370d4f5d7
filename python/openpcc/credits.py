"""OpenPCC's anonymous currency (spec §8): values, nonces, credits, and their blind issuance.

* :class:`Value` — a 9-bit floating value (5-bit exponent, 4-bit mantissa, spec §8.1) plus a flag
  for special values; ``Value.exact(a)``, ``Value.rounded(x, r)`` (stochastic rounding),
  ``Value.special(n)``; wire form ``blind_bytes`` (2 bytes) and the ``Currency`` protobuf.
* :class:`Nonce` — a timestamp quantized to the hour and 16 random bytes (spec §8.2);
  :func:`safe_nonce_timestamp` picks the hour, :meth:`Nonce.is_expired_at` is the validity window.
* :class:`Credit` — ``Credit{value, nonce, signature}`` (spec §8.4); ``encode``/``decode`` (protobuf),
  ``to_text``/``from_text`` (base64), :meth:`Credit.verify` against the currency key.
* Issuance: the client makes a :class:`PendingCredit` (a fresh nonce, blinded under the key derived
  for the value), sends ``value.blind_bytes`` and ``blinded_message``; an :class:`Issuer` signs it
  (:meth:`Issuer.blind_sign`); the client's :meth:`PendingCredit.finalize` unblinds and checks the
  signature. :meth:`Issuer.issue_unblinded` makes a credit whose nonce the issuer knows (refunds).

The signature is partially blind RSA (RSAPBSSA-SHA384-PSS-Deterministic, salt of 48 zero bytes) over
the 24-byte nonce with the 2-byte value as public metadata, as the reference does (spec §8.3).

Deviation from the reference: parsing blind bytes keeps the special flag when bit 8 is also set
(the reference loses it for a first byte of 3, spec §12.3).
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openpcc import blindrsa
from openpcc._openpcc import credits as _wire
from openpcc.exceptions import (
    BlindRSAError,
    CurrencyValueError,
    ExpiredCreditError,
    InvalidCreditError,
    MalformedCreditError,
)

MAX_AMOUNT = 0b1_1111 << 30
"""33,285,996,544: the largest amount (exponent 31, mantissa 0b1111)."""
NONCE_LEN = 16
NONCE_QUANTUM_SECONDS = 3600
CLOCK_SKEW_SECONDS = 30
NONCE_LIFESPAN_SECONDS = 86400 + 7200
NONCE_LOCK_SECONDS = 300
SALT = bytes(48)
"""The reference's PSS salt: 48 zero bytes (the randomness is in the nonce)."""
VARIANT = blindrsa.PSS_DETERMINISTIC

__all__ = [
    "ATTESTATION_VALUE",
    "MAX_AMOUNT",
    "NONCE_LEN",
    "Credit",
    "Issuer",
    "Nonce",
    "PendingCredit",
    "Value",
    "public_key_from_jwk",
    "public_key_to_jwk",
    "random_rounding_factor",
    "safe_nonce_timestamp",
]


# --- values -----------------------------------------------------------------


def _significant_bits(amount: int) -> int:
    return amount.bit_length() - ((amount & -amount).bit_length() - 1)


@dataclass(frozen=True, order=True)
class Value:
    """A currency value: ``raw`` is the 9-bit number (bits 8..4 exponent, 3..0 mantissa);
    ``is_special`` marks values that are not amounts (e.g. the attestation value)."""

    raw: int
    is_special: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.raw <= 0x1FF:
            raise CurrencyValueError("currency value must fit 9 bits")

    @classmethod
    def exact(cls, amount: int) -> Value:
        """The value of exactly ``amount``; ``CurrencyValueError`` if it has more than 5 significant
        bits (and is >= 16), is negative or exceeds :data:`MAX_AMOUNT`."""
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise CurrencyValueError("an exact amount is an int")
        if amount < 0:
            raise CurrencyValueError("currency cannot be negative")
        if amount > MAX_AMOUNT:
            raise CurrencyValueError(f"currency cannot be more than {MAX_AMOUNT:,}")
        if amount < 16:
            return cls(amount)
        if _significant_bits(amount) > 5:
            raise CurrencyValueError("currency cannot exactly represent that number")
        bits = amount.bit_length()
        mantissa = (amount >> (bits - 5)) & 0xF
        return cls(((bits - 4) << 4) | mantissa)

    @classmethod
    def special(cls, n: int) -> Value:
        """A special value (shift flag set) numbered like ``exact(n)``."""
        return cls(cls.exact(n).raw, is_special=True)

    @classmethod
    def rounded(cls, amount: float, r: float | None = None) -> Value:
        """Stochastic rounding (spec §8.1): one of the two representable neighbours of ``amount``,
        the upper one when ``r`` exceeds the lower one's probability. ``r`` in [0, 1); ``None`` draws
        it at random (53 bits); ``1.0`` always rounds up, as the reference's client does."""
        if math.isnan(amount) or amount < 0:
            raise CurrencyValueError("currency cannot be negative")
        if r is None:
            r = random_rounding_factor()
        lo, hi = math.floor(amount), math.ceil(amount)
        if hi > MAX_AMOUNT:
            raise CurrencyValueError(f"currency cannot be more than {MAX_AMOUNT:,}")
        is_integer = lo == hi
        if hi <= 32:
            if is_integer:
                return cls.exact(hi)
        else:
            shift = lo.bit_length() - 5
            lo, hi = (lo >> shift) << shift, ((lo >> shift) + 1) << shift
            if is_integer and lo == amount:
                return cls.exact(lo)
        p_lower = (hi - amount) / (hi - lo)
        return cls.exact(hi if r > p_lower else lo)

    @property
    def amount(self) -> int:
        """The amount; ``CurrencyValueError`` for a special value."""
        if self.is_special:
            raise CurrencyValueError("tried to read the amount of a special currency value")
        exponent = self.raw >> 4
        if exponent == 0:
            return self.raw
        return ((self.raw & 0xF) | 0x10) << (exponent - 1)

    @property
    def is_spendable(self) -> bool:
        """A non-zero amount (what deposits, withdrawals and exchanges require)."""
        return not self.is_special and self.raw != 0

    @property
    def blind_bytes(self) -> bytes:
        """The 2-byte wire form: ``(bit8 << 1) | special``, then the low 8 bits."""
        return bytes([((self.raw >> 8) << 1) | int(self.is_special), self.raw & 0xFF])

    @classmethod
    def from_blind_bytes(cls, data: bytes) -> Value:
        """Parses the 2-byte form; ``MalformedCreditError`` for another length or a first byte > 3."""
        data = bytes(data)
        if len(data) != 2:
            raise MalformedCreditError(f"currency value must be 2 bytes, got {len(data)}")
        if data[0] > 3:
            raise MalformedCreditError("currency value uses too many bits")
        return cls(((data[0] >> 1) << 8) | data[1], is_special=bool(data[0] & 1))

    def to_proto(self) -> bytes:
        """The ``Currency`` protobuf."""
        return _wire.encode_currency(self.blind_bytes)

    @classmethod
    def from_proto(cls, data: bytes) -> Value:
        return cls.from_blind_bytes(_wire.decode_currency(data))

    def __repr__(self) -> str:
        if self.is_special:
            return f"Value.special(raw={self.raw})"
        return f"Value.exact({self.amount})"


ATTESTATION_VALUE = Value.special(0)
"""The special value the attestation requests carry (blind bytes ``01 00``)."""


def random_rounding_factor() -> float:
    """A uniform float in [0, 1) with 53 random bits."""
    return secrets.randbits(53) / (1 << 53)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key_to_jwk(key: blindrsa.PublicKey) -> dict[str, str]:
    """The currency public key as the JWK the reference publishes (``kty`` RSA, ``n``, ``e``)."""
    return {"kty": "RSA", "n": _b64url(key.n), "e": _b64url(key.e)}


def public_key_from_jwk(jwk: dict[str, object]) -> blindrsa.PublicKey:
    """Parses an RSA JWK (``kty``, ``n``, ``e`` in base64url); ``BlindRSAKeyError`` otherwise."""
    n_text, e_text = jwk.get("n"), jwk.get("e")
    if jwk.get("kty") != "RSA" or not isinstance(n_text, str) or not isinstance(e_text, str):
        raise blindrsa.BlindRSAKeyError("not an RSA JWK with n and e")
    try:
        n, e = (_b64url_decode(text) for text in (n_text, e_text))
    except (binascii.Error, ValueError) as exc:
        raise blindrsa.BlindRSAKeyError("JWK n or e is not base64url") from exc
    return blindrsa.PublicKey(n, e)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- nonces -----------------------------------------------------------------


def safe_nonce_timestamp(now: int, r: float | None = None) -> tuple[int, int | None]:
    """The hour-quantized timestamp for a new nonce at ``now`` (spec §8.2) and, when the next hour was
    chosen within the first 30 s of the current one, the time before which the credit must not be
    used (else ``None``). The chance of taking the next hour grows towards the end of the hour."""
    if r is None:
        r = random_rounding_factor()
    base = now - now % NONCE_QUANTUM_SECONDS
    into = now - base
    if 1 - into / NONCE_QUANTUM_SECONDS < r:
        unsafe_until = base + CLOCK_SKEW_SECONDS if into < CLOCK_SKEW_SECONDS else None
        return base + NONCE_QUANTUM_SECONDS, unsafe_until
    return base, None


@dataclass(frozen=True)
class Nonce:
    """``timestamp`` (Unix seconds, a multiple of 3600 when made here) and 16 ``nonce`` bytes."""

    timestamp: int
    nonce: bytes

    def __post_init__(self) -> None:
        if len(self.nonce) != NONCE_LEN:
            raise MalformedCreditError(f"nonce must be {NONCE_LEN} bytes, got {len(self.nonce)}")
        if not -(1 << 63) <= self.timestamp < (1 << 63):
            raise MalformedCreditError("nonce timestamp out of int64 range")

    @classmethod
    def generate(cls, now: int | None = None, r: float | None = None) -> tuple[Nonce, int | None]:
        """A fresh nonce and its "not before" time (see :func:`safe_nonce_timestamp`)."""
        timestamp, unsafe_until = safe_nonce_timestamp(int(time.time()) if now is None else now, r)
        return cls(timestamp, secrets.token_bytes(NONCE_LEN)), unsafe_until

    @property
    def blind_bytes(self) -> bytes:
        """``I2OSP(timestamp, 8) || nonce``: the 24-byte message that is signed."""
        return self.timestamp.to_bytes(8, "big", signed=True) + self.nonce

    def is_expired_at(self, now: int) -> bool:
        """Outside ``[hour(now - 30 s), hour(now + 26 h + 30 s)]`` (the nonce lockers' window)."""
        earliest = (now - CLOCK_SKEW_SECONDS) // NONCE_QUANTUM_SECONDS * NONCE_QUANTUM_SECONDS
        latest = (
            (now + NONCE_LIFESPAN_SECONDS + CLOCK_SKEW_SECONDS)
            // NONCE_QUANTUM_SECONDS
            * NONCE_QUANTUM_SECONDS
        )
        return self.timestamp < earliest or self.timestamp > latest

    def to_proto(self) -> bytes:
        return _wire.encode_nonce(self.timestamp, self.nonce)

    @classmethod
    def from_proto(cls, data: bytes) -> Nonce:
        timestamp, nonce = _wire.decode_nonce(data)
        return cls(timestamp, nonce)


# --- credits ----------------------------------------------------------------


@dataclass(frozen=True)
class Credit:
    """A signed credit. Blinded and unblinded credits share this form (spec §8.4)."""

    value: Value
    nonce: Nonce
    signature: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not self.signature:
            raise MalformedCreditError("credit has no signature")

    def encode(self) -> bytes:
        """The ``Credit`` protobuf."""
        return _wire.encode_credit(
            self.value.blind_bytes, self.nonce.timestamp, self.nonce.nonce, self.signature
        )

    @classmethod
    def decode(cls, data: bytes) -> Credit:
        """Parses a ``Credit`` protobuf; ``MalformedCreditError`` for anything missing or malformed."""
        value, timestamp, nonce, signature = _wire.decode_credit(data)
        return cls(Value.from_blind_bytes(value), Nonce(timestamp, nonce), signature)

    def to_text(self) -> str:
        """``b64(proto)``, the header form."""
        return base64.b64encode(self.encode()).decode()

    @classmethod
    def from_text(cls, text: str | bytes) -> Credit:
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedCreditError("credit text is not base64") from exc
        return cls.decode(data)

    def verify(self, key: blindrsa.PublicKey) -> None:
        """Checks the signature with the credit's own value as metadata; ``InvalidCreditError``."""
        if len(self.signature) != key.modulus_len:
            raise InvalidCreditError("credit signature has the wrong length for the currency key")
        try:
            blindrsa.pb_verify(
                key, self.nonce.blind_bytes, self.value.blind_bytes, self.signature, VARIANT
            )
        except BlindRSAError as exc:
            raise InvalidCreditError("credit signature does not verify") from exc

    def check(self, key: blindrsa.PublicKey, now: int | None = None) -> None:
        """:meth:`verify` plus the nonce's validity window (``ExpiredCreditError``)."""
        if self.nonce.is_expired_at(int(time.time()) if now is None else now):
            raise ExpiredCreditError("credit nonce is outside its validity window")
        self.verify(key)


@dataclass(frozen=True)
class PendingCredit:
    """The client's half of a blind issuance: keep it until the blind signature comes back.
    ``inv`` is secret (it links the blinded message to the credit)."""

    value: Value
    nonce: Nonce
    blinded_message: bytes
    inv: bytes = field(repr=False)
    not_before: int | None = None

    @classmethod
    def create(
        cls, key: blindrsa.PublicKey, value: Value, now: int | None = None, r: float | None = None
    ) -> PendingCredit:
        """A fresh nonce for ``value``, blinded under the currency key derived for it."""
        nonce, not_before = Nonce.generate(now, r)
        blinded, inv = blindrsa.pb_blind(
            key, nonce.blind_bytes, value.blind_bytes, VARIANT, zero_salt=True
        )
        return cls(value, nonce, blinded, inv, not_before)

    def sign_request(self) -> bytes:
        """The ``BlindSignRequest`` protobuf for the issuer."""
        return _wire.encode_blind_sign_request(self.value.blind_bytes, self.blinded_message)

    def finalize(self, key: blindrsa.PublicKey, blind_signature: bytes) -> Credit:
        """Unblinds and checks the signature; ``InvalidCreditError`` if the issuer signed wrongly."""
        try:
            signature = blindrsa.pb_finalize(
                key,
                self.nonce.blind_bytes,
                self.value.blind_bytes,
                blind_signature,
                self.inv,
                VARIANT,
            )
        except BlindRSAError as exc:
            raise InvalidCreditError(f"blind signature does not finalize: {exc}") from exc
        return Credit(self.value, self.nonce, signature)

    def wait_until_usable(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Sleeps until ``not_before`` when the nonce took the next hour early (spec §8.2)."""
        if self.not_before is not None:
            delay = self.not_before - time.time()
            if delay > 0:
                sleep(delay)


class Issuer:
    """Holds the currency signing key (safe primes required) and signs blinded credits."""

    def __init__(self, key: blindrsa.SecretKey) -> None:
        if not key.has_safe_primes():
            raise blindrsa.UnsafePrimesError("the currency key needs safe primes")
        self._key = key
        self.public_key = key.public_key()
        self._derived: dict[bytes, blindrsa.SecretKey] = {}

    def _key_for(self, value: Value) -> blindrsa.SecretKey:
        info = value.blind_bytes
        derived = self._derived.get(info)
        if derived is None:
            derived = self._key.derive(info)
            self._derived[info] = derived
        return derived

    def blind_sign(self, value: Value, blinded_message: bytes) -> bytes:
        """Signs a blinded credit of ``value``. The caller decides whether ``value`` may be issued."""
        return blindrsa.blind_sign(self._key_for(value), blinded_message)

    def blind_sign_request(self, request: bytes) -> tuple[Value, bytes]:
        """Parses a ``BlindSignRequest`` and signs it: ``(value, blind_signature)``."""
        value_bytes, blinded = _wire.decode_blind_sign_request(request)
        value = Value.from_blind_bytes(value_bytes)
        return value, self.blind_sign(value, blinded)

    def issue_unblinded(self, value: Value, now: int | None = None) -> Credit:
        """A credit whose nonce the issuer chose (so it knows it): refunds, full withdrawals."""
        pending = PendingCredit.create(self.public_key, value, now)
        return pending.finalize(self.public_key, self.blind_sign(value, pending.blinded_message))
