"""Malformed credits, nonces, values and blind-sign requests: only the typed errors, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc._openpcc import credits as wire
from openpcc.credits import Credit, Nonce, Value
from openpcc.exceptions import CreditError, MalformedCreditError, MalformedInputError


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_malformed(data: bytes) -> None:
    for decode in (Credit.decode, Nonce.from_proto, Value.from_proto):
        try:
            decode(data)
        except MalformedCreditError as exc:
            assert isinstance(exc, (CreditError, MalformedInputError))
    try:
        wire.decode_blind_sign_request(data)
    except MalformedCreditError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_text_decodes_or_raises_malformed(data: bytes) -> None:
    try:
        Credit.from_text(data)
    except MalformedCreditError:
        pass


def test_a_valid_credit_with_any_single_byte_flipped_never_crashes() -> None:
    credit = Credit(Value.exact(16), Nonce(7200, bytes(16)), b"\x01" * 8)
    data = credit.encode()
    for i in range(len(data)):
        mutated = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
        try:
            Credit.decode(mutated)
        except MalformedCreditError:
            pass
