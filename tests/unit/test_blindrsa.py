"""openpcc.blindrsa: round trips with fresh randomness, key encodings and bad input."""

from __future__ import annotations

import pytest
from openpcc import blindrsa
from openpcc._openpcc.blindrsa import _blind_with_factor
from openpcc.exceptions import (
    BlindRSAInputError,
    BlindRSAKeyError,
    InvalidSignatureError,
    MalformedInputError,
    UnsafePrimesError,
)

from tests.support.currency_key import load_test_currency_key


@pytest.fixture(scope="module")
def sk() -> blindrsa.SecretKey:
    return load_test_currency_key()


@pytest.mark.parametrize("variant", blindrsa.VARIANTS)
def test_round_trip_per_variant(sk: blindrsa.SecretKey, variant: str) -> None:
    pk = sk.public_key()
    msg = blindrsa.prepare(b"hello", variant)
    assert len(msg) == 5 + (blindrsa.PREFIX_LEN if "Randomized" in variant else 0)
    blinded, inv = blindrsa.blind(pk, bytearray(msg), variant)
    again, _ = blindrsa.blind(pk, msg, variant)
    assert blinded != again
    sig = blindrsa.finalize(pk, msg, blindrsa.blind_sign(sk, blinded), inv, variant)
    blindrsa.verify(pk, msg, sig, variant)
    # Python integers agree: sig^e mod n is the PSS encoding (trailer 0xbc).
    n, e = (int.from_bytes(x, "big") for x in (pk.n, pk.e))
    assert pow(int.from_bytes(sig, "big"), e, n).to_bytes(pk.modulus_len, "big")[-1] == 0xBC


def test_partially_blind_zero_salt_round_trip(sk: blindrsa.SecretKey) -> None:
    pk = sk.public_key()
    info, msg = b"\x02\x24", bytes(24)
    blinded, inv = blindrsa.pb_blind(pk, msg, info, zero_salt=True)
    derived = sk.derive(info)
    sig = blindrsa.pb_finalize(pk, msg, info, blindrsa.blind_sign(derived, blinded), inv)
    blindrsa.pb_verify(pk, msg, info, sig)
    with pytest.raises(InvalidSignatureError):
        blindrsa.pb_verify(pk, msg, b"\x02\x25", sig)


def test_keys_encode_and_compare(sk: blindrsa.SecretKey) -> None:
    pk = sk.public_key()
    assert blindrsa.PublicKey.from_pem(pk.to_pem()) == pk
    assert blindrsa.PublicKey.from_der(pk.to_der()) == pk
    assert blindrsa.PublicKey(pk.n, pk.e) == pk
    assert blindrsa.SecretKey.from_der(sk.to_der()).public_key() == pk
    assert pk.bits == 2048 and pk.modulus_len == 256 and pk.e == b"\x01\x00\x01"
    assert sk.has_safe_primes()
    assert "2048" in repr(pk)


def test_bad_input(sk: blindrsa.SecretKey) -> None:
    pk = sk.public_key()
    k = pk.modulus_len
    for bad in (b"", bytes(k - 1), bytes(k + 1)):
        with pytest.raises(BlindRSAInputError, match="unexpected input size"):
            blindrsa.blind_sign(sk, bad)
    with pytest.raises(BlindRSAInputError, match="out of range"):
        blindrsa.blind_sign(sk, pk.n)
    with pytest.raises(MalformedInputError, match="out of range"):
        blindrsa.finalize(pk, b"m", b"\xff" * k, b"\x01" * k, blindrsa.PSS_DETERMINISTIC)
    with pytest.raises(BlindRSAInputError, match="not invertible"):
        _blind_with_factor(pk, b"m", b"", bytes(k))
    blinded, _ = blindrsa.blind(pk, b"m", blindrsa.PSS_DETERMINISTIC)
    with pytest.raises(InvalidSignatureError):
        blindrsa.finalize(
            pk, b"m", blindrsa.blind_sign(sk, blinded), b"\x01" * k, blindrsa.PSS_DETERMINISTIC
        )
    with pytest.raises(BlindRSAInputError, match="unknown variant"):
        blindrsa.prepare(b"m", "RSABSSA-SHA256-PSS-Randomized")
    with pytest.raises(BlindRSAKeyError):
        blindrsa.PublicKey.from_der(b"\x30\x00")
    with pytest.raises(BlindRSAKeyError):
        blindrsa.PublicKey(b"\xff" * 64, b"\x01\x00\x01")
    with pytest.raises(TypeError):
        blindrsa.blind_sign(sk, "text")  # type: ignore[arg-type]


def test_partially_blind_needs_safe_primes() -> None:
    # 1024-bit key with ordinary primes: generated here by Python's `cryptography`.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    plain = blindrsa.SecretKey.from_der(der)
    assert not plain.has_safe_primes()
    with pytest.raises(UnsafePrimesError):
        plain.derive(b"\x00\x10")


def test_generated_keys_have_safe_primes() -> None:
    from cryptography.hazmat.primitives import serialization

    sk = blindrsa.SecretKey.generate(1024)
    assert sk.public_key().bits == 1024
    numbers = serialization.load_der_private_key(sk.to_der(), None).private_numbers()  # type: ignore[union-attr]
    for prime in (numbers.p, numbers.q):
        half = (prime - 1) // 2
        assert pow(2, prime - 1, prime) == 1 and pow(2, half - 1, half) == 1  # Fermat, base 2
    # A fresh parse recomputes the check rather than trusting the generator.
    assert blindrsa.SecretKey.from_der(sk.to_der()).has_safe_primes()
    with pytest.raises(BlindRSAKeyError):
        blindrsa.SecretKey.generate(1000)
