"""RFC 9474 Appendix A (and circl's copy) and draft-amjad-cfrg-partially-blind-rsa vectors, through
``openpcc.blindrsa``, with the blinding factor checked against plain Python integers too."""

from __future__ import annotations

from typing import Any

import pytest
from openpcc import blindrsa
from openpcc._openpcc.blindrsa import _blind_with_factor, _pb_blind_with_factor
from openpcc.exceptions import BlindRSAInputError, InvalidSignatureError

from tests.support.vectors import load_json


def h(v: dict[str, Any], key: str) -> bytes:
    text = v[key].removeprefix("0x")
    return bytes.fromhex(text.rjust(len(text) + len(text) % 2, "0"))


def as_int(v: dict[str, Any], key: str) -> int:
    return int.from_bytes(h(v, key), "big")


def rfc9474_vectors() -> list[dict[str, Any]]:
    return list(load_json("blind-rsa", "rfc9474-test-vectors.json")["vectors"])


def circl_vectors() -> list[dict[str, Any]]:
    return list(load_json("blind-rsa", "circl-test_vectors_rfc9474.json"))


def check_rfc9474(v: dict[str, Any]) -> None:
    variant = v["name"]
    sk = blindrsa.SecretKey.from_primes(h(v, "p"), h(v, "q"), h(v, "e"))
    pk = sk.public_key()
    k = pk.modulus_len
    n = as_int(v, "n")
    assert int.from_bytes(pk.n, "big") == n
    prepared = h(v, "msg_prefix") + h(v, "msg")
    inv = as_int(v, "inv")
    r = pow(inv, -1, n).to_bytes(k, "big")
    blinded, got_inv = _blind_with_factor(pk, prepared, h(v, "salt"), r)
    assert blinded == h(v, "blinded_msg")
    assert got_inv == inv.to_bytes(k, "big")
    blind_sig = blindrsa.blind_sign(sk, blinded)
    assert blind_sig == h(v, "blind_sig")
    sig = blindrsa.finalize(pk, prepared, blind_sig, got_inv, variant)
    assert sig == h(v, "sig")
    blindrsa.verify(pk, prepared, sig, variant)
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    with pytest.raises(InvalidSignatureError):
        blindrsa.verify(pk, prepared, flipped, variant)
    if h(v, "msg_prefix"):
        with pytest.raises(InvalidSignatureError):
            blindrsa.verify(pk, h(v, "msg"), sig, variant)
    with pytest.raises(BlindRSAInputError, match="unexpected input size"):
        blindrsa.finalize(pk, prepared, blind_sig[:-1], got_inv, variant)


@pytest.mark.parametrize("index", range(4))
def test_rfc9474_appendix_a(index: int) -> None:
    check_rfc9474(rfc9474_vectors()[index])


@pytest.mark.parametrize("index", range(4))
def test_circl_copy_of_rfc9474(index: int) -> None:
    v = circl_vectors()[index]
    assert h(v, "input_msg") == h(v, "msg_prefix") + h(v, "msg")
    check_rfc9474(v)


@pytest.mark.parametrize("index", range(4))
def test_partially_blind_draft_vectors(index: int) -> None:
    v = load_json("partially-blind-rsa", "test-vectors.json")[index]
    sk = blindrsa.SecretKey.from_primes(h(v, "p"), h(v, "q"), h(v, "e"))
    assert sk.has_safe_primes()
    pk = sk.public_key()
    k = pk.modulus_len
    msg, info = h(v, "msg"), h(v, "info")
    assert pk.derive(info).e == h(v, "eprime")
    assert sk.derive(info).public_key() == pk.derive(info)

    r = as_int(v, "r")
    blinded, inv = _pb_blind_with_factor(pk, msg, info, h(v, "salt"), r.to_bytes(k, "big"))
    assert blinded == h(v, "blind_msg")
    n = as_int(v, "n")
    assert int.from_bytes(inv, "big") == pow(r, -1, n)
    blind_sig = blindrsa.pb_blind_sign(sk, blinded, info)
    assert blind_sig == h(v, "blind_sig")
    sig = blindrsa.pb_finalize(pk, msg, info, blind_sig, inv)
    assert sig == h(v, "sig")
    blindrsa.pb_verify(pk, msg, info, sig)

    # The signature is plain RSASSA-PSS under (n, e') over the framed message: check it with
    # Python integers as well (s^e' mod n ends in 0xbc, the PSS trailer).
    e_prime = as_int(v, "eprime")
    encoded = pow(int.from_bytes(sig, "big"), e_prime, n).to_bytes(k, "big")
    assert encoded[-1] == 0xBC
    other = b"" if info else b"metadata"
    with pytest.raises(InvalidSignatureError):
        blindrsa.pb_verify(pk, msg, other, sig)
    with pytest.raises(InvalidSignatureError):
        blindrsa.verify(pk, blindrsa.metadata_message(info, msg), sig, blindrsa.PSS_DETERMINISTIC)
