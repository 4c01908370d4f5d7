"""openpcc.credits: the value tables of spec §8.1 and the reference's value_test examples, nonces and
their window (§8.2), the credit message (§8.4) and blind issuance (§8.3), cross-checked with plain
Python integers and hashlib."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from openpcc import blindrsa
from openpcc.credits import (
    ATTESTATION_VALUE,
    MAX_AMOUNT,
    Credit,
    Issuer,
    Nonce,
    PendingCredit,
    Value,
    safe_nonce_timestamp,
)
from openpcc.exceptions import (
    CurrencyValueError,
    ExpiredCreditError,
    InvalidCreditError,
    MalformedCreditError,
    MalformedInputError,
    UnsafePrimesError,
)

from tests.support.currency_key import load_test_currency_key

HOUR = 3600


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer(load_test_currency_key())


# --- values ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "blind"),
    [(10, "000a"), (16, "0010"), (262144, "00f0"), (2621440, "0224")],
)
def test_spec_value_table(amount: int, blind: str) -> None:
    value = Value.exact(amount)
    assert value.blind_bytes.hex() == blind
    assert Value.from_blind_bytes(bytes.fromhex(blind)) == value
    assert value.amount == amount


def test_special_values() -> None:
    assert ATTESTATION_VALUE.blind_bytes.hex() == "0100"
    assert Value.from_blind_bytes(b"\x01\x00") == ATTESTATION_VALUE
    with pytest.raises(CurrencyValueError):
        _ = ATTESTATION_VALUE.amount
    assert not ATTESTATION_VALUE.is_spendable
    assert not Value.exact(0).is_spendable and Value.exact(1).is_spendable
    # Deviation from the reference (spec §12.3): a first byte of 3 keeps the special flag.
    assert Value.from_blind_bytes(b"\x03\x00").is_special


@pytest.mark.parametrize(
    ("x", "r", "expected"),
    [
        (256000, 1.0, 262144),  # spec §8.1
        (10 * 262144, 1.0, 2621440),  # the wallet's source amount (spec §8.7)
        (1, 0.3, 1),
        (1.6, 0.0, 1),
        (1.6, 0.5, 2),
        (1.6, 1.0, 2),
        (68, 0.3, 68),
        (69, 0.0, 68),
        (69, 0.5, 68),
        (69, 1.0, 72),  # the reference's comment table says 69 here, its code gives 72
        (145.3, 0.5, 144),
        (32, 0.9, 32),
        (33, 0.9, 34),
        (MAX_AMOUNT, 0.5, MAX_AMOUNT),
    ],
)
def test_stochastic_rounding(x: float, r: float, expected: int) -> None:
    assert Value.rounded(x, r).amount == expected


def test_rounding_is_unbiased_on_average() -> None:
    total = sum(Value.rounded(69).amount for _ in range(4000))
    assert 68.5 < total / 4000 < 69.5


def test_every_raw_value_round_trips() -> None:
    for raw in range(512):
        value = Value(raw)
        assert Value.exact(value.amount) == value
        assert Value.from_blind_bytes(value.blind_bytes) == value
        assert Value.from_proto(value.to_proto()) == value
    assert Value(0x1FF).amount == MAX_AMOUNT == 33_285_996_544


@pytest.mark.parametrize("amount", [-1, 33, 63, MAX_AMOUNT + 1, MAX_AMOUNT - 1])
def test_unrepresentable_amounts(amount: int) -> None:
    with pytest.raises(CurrencyValueError):
        Value.exact(amount)


def test_bad_values() -> None:
    with pytest.raises(CurrencyValueError):
        Value.rounded(MAX_AMOUNT + 0.5, 0.0)
    with pytest.raises(CurrencyValueError):
        Value.rounded(-0.5, 0.0)
    with pytest.raises(CurrencyValueError):
        Value(0x200)
    for bad in (b"", b"\x00", b"\x00\x00\x00", b"\x04\x00"):
        with pytest.raises(MalformedCreditError):
            Value.from_blind_bytes(bad)
    with pytest.raises(MalformedInputError):
        Value.from_proto(b"\xff")


# --- nonces ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("into_hour", "r", "hour", "unsafe"),
    [
        (100, 0.0, 0, False),
        (100, 0.97, 0, False),
        (100, 0.98, 1, False),
        (10, 0.999, 1, True),
        (3599, 0.001, 1, False),
        (0, 0.5, 0, False),
    ],
)
def test_safe_nonce_timestamp(into_hour: int, r: float, hour: int, unsafe: bool) -> None:
    base = 500_000 * HOUR
    ts, not_before = safe_nonce_timestamp(base + into_hour, r)
    assert ts == base + hour * HOUR
    assert not_before == (base + 30 if unsafe else None)


def test_nonce_window() -> None:
    now = 500_000 * HOUR + 1000
    hour = now - now % HOUR
    nonce = Nonce(hour, bytes(16))
    assert not nonce.is_expired_at(now)
    assert not Nonce(hour + 26 * HOUR, bytes(16)).is_expired_at(now)
    assert Nonce(hour + 27 * HOUR, bytes(16)).is_expired_at(now)
    assert Nonce(hour - HOUR, bytes(16)).is_expired_at(now)
    # Within 30 s of the hour, the previous hour still counts (clock skew).
    assert not Nonce(hour - HOUR, bytes(16)).is_expired_at(hour + 29)
    assert nonce.blind_bytes == hour.to_bytes(8, "big") + bytes(16)
    assert Nonce.from_proto(nonce.to_proto()) == nonce
    with pytest.raises(MalformedCreditError):
        Nonce(hour, bytes(15))


# --- credits -----------------------------------------------------------------


def test_credit_wire_bytes() -> None:
    nonce = Nonce(0x1234, bytes(range(16)))
    credit = Credit(Value.exact(2621440), nonce, b"\xaa" * 3)
    expected = (
        bytes.fromhex("0a040a020224")
        + bytes.fromhex("12170a0308b4241210")
        + bytes(range(16))
        + bytes.fromhex("1a03aaaaaa")
    )
    assert credit.encode() == expected
    assert Credit.decode(expected) == credit
    assert Credit.from_text(credit.to_text()) == credit


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing present
        bytes.fromhex("0a040a020224"),  # value only
        bytes.fromhex("0a040a0202241a01aa"),  # no nonce
        bytes.fromhex("0a040a02022412121210") + bytes(16) + b"\x1a\x01\xaa",  # no timestamp
        bytes.fromhex("0a040a02022412060a02080112001a01aa"),  # empty nonce
        bytes.fromhex("0a030a010212060a02080112001a01aa"),  # 1-byte value
        b"\xff\xff",
    ],
)
def test_malformed_credits(data: bytes) -> None:
    with pytest.raises(MalformedCreditError):
        Credit.decode(data)


def test_malformed_credit_text() -> None:
    with pytest.raises(MalformedCreditError):
        Credit.from_text("not base64!")


def test_blind_issuance_round_trip(issuer: Issuer) -> None:
    key = issuer.public_key
    value = Value.exact(262144)
    now = 500_000 * HOUR + 100
    pending = PendingCredit.create(key, value, now=now, r=0.0)
    blind_sig = issuer.blind_sign(value, pending.blinded_message)
    credit = pending.finalize(key, blind_sig)
    credit.verify(key)
    credit.check(key, now=now)
    with pytest.raises(ExpiredCreditError):
        credit.check(key, now=now + 27 * HOUR)
    # The signature is bound to the value and the nonce.
    with pytest.raises(InvalidCreditError):
        Credit(Value.exact(524288), credit.nonce, credit.signature).verify(key)
    with pytest.raises(InvalidCreditError):
        Credit(
            value, Nonce(credit.nonce.timestamp + HOUR, credit.nonce.nonce), credit.signature
        ).verify(key)
    # Signed for another value, the blind signature does not finalize.
    with pytest.raises(InvalidCreditError):
        pending.finalize(key, issuer.blind_sign(Value.exact(16), pending.blinded_message))
    # Through the protobuf request too.
    signed_value, sig = issuer.blind_sign_request(pending.sign_request())
    assert signed_value == value
    assert pending.finalize(key, sig) == credit  # zero salt: RSA signing is deterministic


def test_unblinded_issuance(issuer: Issuer) -> None:
    credit = issuer.issue_unblinded(Value.exact(40))
    credit.check(issuer.public_key)
    assert Credit.decode(credit.encode()) == credit


def test_issuer_needs_safe_primes() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    plain = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = plain.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(UnsafePrimesError):
        Issuer(blindrsa.SecretKey.from_der(der))


def _pss_zero_salt_encoding(message: bytes, em_bits: int) -> bytes:
    """EMSA-PSS-ENCODE with SHA-384 and a salt of 48 zero bytes, in plain Python."""
    em_len = (em_bits + 7) // 8
    salt = bytes(48)
    h = hashlib.sha384(bytes(8) + hashlib.sha384(message).digest() + salt).digest()
    db = bytes(em_len - 48 - 48 - 2) + b"\x01" + salt
    mask = b"".join(
        hashlib.sha384(h + i.to_bytes(4, "big")).digest() for i in range((len(db) + 47) // 48)
    )
    masked = bytearray(a ^ b for a, b in zip(db, mask))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked) + h + b"\xbc"


def test_credit_matches_the_reference_construction_in_python_integers(issuer: Issuer) -> None:
    key = issuer.public_key
    credit = issuer.issue_unblinded(Value.exact(2621440))
    n = int.from_bytes(key.n, "big")
    k = key.modulus_len
    info = credit.value.blind_bytes
    okm = HKDF(algorithm=hashes.SHA384(), length=k // 2 + 16, salt=key.n, info=b"PBRSA").derive(
        b"key" + info + b"\x00"
    )
    e_prime = bytearray(okm[: k // 2])
    e_prime[0] &= 0x3F
    e_prime[-1] |= 1
    assert key.derive(info).e == bytes(e_prime)
    message = b"msg" + len(info).to_bytes(4, "big") + info + credit.nonce.blind_bytes
    assert len(message) == 3 + 4 + 2 + 24
    encoded = pow(int.from_bytes(credit.signature, "big"), int.from_bytes(e_prime, "big"), n)
    assert encoded.to_bytes(k, "big") == _pss_zero_salt_encoding(message, n.bit_length() - 1)


def test_public_key_jwk_round_trip(issuer: Issuer) -> None:
    from openpcc.credits import public_key_from_jwk, public_key_to_jwk
    from openpcc.exceptions import BlindRSAKeyError

    jwk = public_key_to_jwk(issuer.public_key)
    assert jwk["kty"] == "RSA" and jwk["e"] == "AQAB" and "=" not in jwk["n"]
    assert public_key_from_jwk(jwk) == issuer.public_key
    bad_jwks: list[dict[str, object]] = [
        {"kty": "EC", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "n": 5, "e": "AQAB"},
        {"kty": "RSA", "n": "!!!", "e": "AQAB"},
    ]
    for bad in bad_jwks:
        with pytest.raises(BlindRSAKeyError):
            public_key_from_jwk(bad)
