"""Blind-bank throughput: one deposit (check the credit, lock and consume its nonce, credit the account)
and one withdrawal (debit, then blind-sign one credit), on SQLite (``synchronous=FULL``) and a durable
PostgreSQL (``fsync=on``), each against the cryptography alone in the same run: the signature check for a
deposit, the blind signature for a withdrawal (RSA-2048 with safe primes, the committed test key).

Rows: ``openpcc`` (SQLite) and ``openpcc-postgresql`` are the bank operation; ``signature check alone`` /
``blind signing alone`` are the crypto share. Their "speed-up" column is crypto median / SQLite bank
median, i.e. the share of a SQLite operation spent in the crypto; for PostgreSQL divide the two medians.
Calls go through the service's own methods (``BlindBankService.deposit``/``withdraw``, as the HTTP
handlers call them, including their ``asyncio.to_thread`` hops), without HTTP.

Run: ``pytest benches/test_bench_banks.py --benchmark-enable --benchmark-only --benchmark-json=F`` then
``python benches/ratios.py F``.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openpcc import config
from openpcc.credits import Credit, Issuer, PendingCredit, Value
from openpcc.services.bank import BlindBankService
from openpcc.services.store import AccountKind, account_id
from support.currency_key import load_test_currency_key
from support.postgres import durable_postgres_server, durable_postgres_url  # noqa: F401  (fixtures)

ROUNDS = 40
ISSUER = Issuer(load_test_currency_key())
KEY = ISSUER.public_key
VALUE = Value.exact(64)


@pytest.fixture(params=["sqlite", "postgresql"])
def bank(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, BlindBankService, asyncio.AbstractEventLoop]]:
    if request.param == "sqlite":
        impl, database = "openpcc", f"sqlite:{tmp_path / 'bank.sqlite3'}"
    else:
        impl, database = "openpcc-postgresql", str(request.getfixturevalue("durable_postgres_url"))
    env = {"OPENPCC_HOME": str(tmp_path), "OPENPCC_BANK_DATABASE": database}
    service = BlindBankService(config.load(None, env=env).role("bank"), issuer=ISSUER)
    loop = asyncio.new_event_loop()
    try:
        yield impl, service, loop
    finally:
        loop.run_until_complete(service.http.stop())
        loop.close()


def fresh_credits() -> Iterator[Credit]:
    while True:
        yield ISSUER.issue_unblinded(VALUE)


def rounds(
    paired: Callable[[str, str], Any],
    group: str,
    impl: str,
    target: Callable[..., Any],
    setup: Callable[[], Any],
) -> None:
    paired(group, impl).pedantic(
        target, setup=lambda: ((setup(),), {}), rounds=ROUNDS, warmup_rounds=2
    )


def test_deposit(
    paired: Callable[[str, str], Any], bank: tuple[str, BlindBankService, asyncio.AbstractEventLoop]
) -> None:
    impl, service, loop = bank
    account = account_id(AccountKind.BLIND, secrets.token_bytes(32))
    credits = fresh_credits()
    rounds(
        paired,
        "bank-deposit",
        impl,
        lambda c: loop.run_until_complete(service.deposit(account, c)),
        lambda: next(credits),
    )


def test_deposit_signature_check_alone(paired: Callable[[str, str], Any]) -> None:
    credits = fresh_credits()
    rounds(
        paired,
        "bank-deposit",
        "signature check alone",
        lambda c: c.verify(KEY),
        lambda: next(credits),
    )


def test_withdraw(
    paired: Callable[[str, str], Any], bank: tuple[str, BlindBankService, asyncio.AbstractEventLoop]
) -> None:
    impl, service, loop = bank
    account = account_id(AccountKind.BLIND, secrets.token_bytes(32))
    service.store.credit(AccountKind.BLIND, account, 1 << 40, b"fund", create=True)
    ISSUER.blind_sign(
        VALUE, PendingCredit.create(KEY, VALUE).blinded_message
    )  # derive the value's key first

    def withdraw(blinded: bytes) -> None:
        loop.run_until_complete(service.withdraw(account, [(VALUE, blinded)]))

    rounds(
        paired,
        "bank-withdraw",
        impl,
        withdraw,
        lambda: PendingCredit.create(KEY, VALUE).blinded_message,
    )


def test_withdraw_blind_signing_alone(paired: Callable[[str, str], Any]) -> None:
    ISSUER.blind_sign(VALUE, PendingCredit.create(KEY, VALUE).blinded_message)

    def sign(blinded: bytes) -> None:
        ISSUER.blind_sign(VALUE, blinded)

    rounds(
        paired,
        "bank-withdraw",
        "blind signing alone",
        sign,
        lambda: PendingCredit.create(KEY, VALUE).blinded_message,
    )
