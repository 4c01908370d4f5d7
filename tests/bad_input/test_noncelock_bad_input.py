"""Nonce-locking request bodies, boundary by boundary (style item 14), below the HTTP layer.

A valid LockRequest is ``0a L1 | 0a 06 08 <ts varint, 5 bytes> | 12 10 <16 nonce bytes>``: the outer
field header is 2 bytes, the Timestamp submessage 2 + 6, the nonce 2 + 16, so 30 bytes in all.
Every truncation, every appended byte and every single-byte flip must either decode to a well-formed
nonce or raise a MalformedInputError (InvalidMessageError for the framing, NonceInvalidError for the
values), never anything else.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc.exceptions import InvalidMessageError, MalformedInputError, NonceInvalidError
from openpcc.services.noncelock import (
    Nonce,
    _nonce_from,
    _ticket_from,
    decode_strict,
    lock_request,
)

NONCE = Nonce(int(time.time()) // 3600 * 3600, bytes(range(16)))
VALID = lock_request(NONCE)


def parse(body: bytes) -> Nonce:
    return _nonce_from(decode_strict("csprotos.LockRequest", body))


def test_the_valid_body_and_its_layout() -> None:
    assert len(VALID) == 2 + (2 + 6) + (2 + 16)
    assert parse(VALID) == NONCE
    assert issubclass(NonceInvalidError, MalformedInputError)
    assert issubclass(InvalidMessageError, MalformedInputError)


@pytest.mark.parametrize("cut", range(len(VALID)))
def test_every_truncation_is_refused(cut: int) -> None:
    with pytest.raises(MalformedInputError):
        parse(VALID[:cut])


@pytest.mark.parametrize("extra", [b"\x00", b"\x08\x01", b"\x1a\x00", b"\x0a\x00", VALID])
def test_trailing_bytes_are_refused(extra: bytes) -> None:
    with pytest.raises(MalformedInputError):
        parse(VALID + extra)


@pytest.mark.parametrize("offset", range(len(VALID)))
def test_every_single_byte_flip_is_refused_or_still_well_formed(offset: int) -> None:
    body = bytearray(VALID)
    body[offset] ^= 0x01
    try:
        nonce = parse(bytes(body))
    except MalformedInputError:
        return
    assert len(nonce.value) == 16 and nonce != NONCE  # a flip inside the values: a different nonce


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_raise_anything_but_invalid_input(body: bytes) -> None:
    try:
        nonce = parse(body)
    except MalformedInputError:
        return
    assert len(nonce.value) == 16


@pytest.mark.parametrize("ticket", [None, "", "x" * 129, 5])
def test_tickets_must_be_short_non_empty_text(ticket: object) -> None:
    with pytest.raises(NonceInvalidError):
        _ticket_from({"ticket": ticket})
    assert _ticket_from({"ticket": "x" * 128}) == "x" * 128
