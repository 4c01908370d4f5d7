"""Blind-bank request bodies, boundary by boundary, below the HTTP layer: every truncation, every
single-byte flip and arbitrary bytes either parse to a well-formed request or raise one of the typed
errors the bank maps to a 4xx (malformed input, a credit error, a bad account), never anything else."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc.compute import decode_message, encode_message
from openpcc.credits import Issuer, PendingCredit, Value
from openpcc.exceptions import CreditError, MalformedInputError, UnknownAccountError
from openpcc.services.bank import account_of, blind_request_of, credit_of
from openpcc.services.noncelock import decode_strict
from support.currency_key import load_test_currency_key

ISSUER = Issuer(load_test_currency_key())
KEY = ISSUER.public_key
TOKEN = bytes(range(32))
TYPED = (MalformedInputError, CreditError, UnknownAccountError)


def parse_deposit(body: bytes) -> Any:
    message = decode_strict("csprotos.DepositRequest", body)
    return account_of(message), credit_of(message)


def parse_withdraw(body: bytes) -> Any:
    message = decode_strict("csprotos.BatchWithdrawRequest", body)
    return account_of(message), [blind_request_of(r, KEY) for r in message.get("requests", [])]


DEPOSIT = encode_message(
    "csprotos.DepositRequest",
    {
        "accountToken": base64.b64encode(TOKEN).decode(),
        "credit": decode_message(
            "csprotos.Credit", ISSUER.issue_unblinded(Value.exact(64)).encode()
        ),
    },
)
WITHDRAW = encode_message(
    "csprotos.BatchWithdrawRequest",
    {
        "requests": [
            decode_message(
                "csprotos.BlindSignRequest",
                PendingCredit.create(KEY, Value.exact(64)).sign_request(),
            )
        ],
        "accountToken": base64.b64encode(TOKEN).decode(),
    },
)
CASES: list[tuple[Callable[[bytes], Any], bytes]] = [
    (parse_deposit, DEPOSIT),
    (parse_withdraw, WITHDRAW),
]


def parses_or_is_refused(parse: Callable[[bytes], Any], body: bytes) -> None:
    try:
        parse(body)
    except TYPED:
        pass


def test_the_valid_bodies_parse() -> None:
    for parse, body in CASES:
        parse(body)


@pytest.mark.parametrize(("parse", "body"), CASES, ids=["deposit", "withdraw"])
def test_every_truncation_is_refused(parse: Callable[[bytes], Any], body: bytes) -> None:
    for cut in range(len(body)):
        with pytest.raises(TYPED):
            parse(body[:cut])


@pytest.mark.parametrize(("parse", "body"), CASES, ids=["deposit", "withdraw"])
def test_every_single_byte_flip_is_refused_or_well_formed(
    parse: Callable[[bytes], Any], body: bytes
) -> None:
    for offset in range(len(body)):
        flipped = bytearray(body)
        flipped[offset] ^= 0x01
        parses_or_is_refused(parse, bytes(flipped))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_refused_or_well_formed(body: bytes) -> None:
    for parse, _ in CASES:
        parses_or_is_refused(parse, body)
