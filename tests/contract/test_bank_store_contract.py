"""The BankStore contract (spec §8.6), run against every implementation: SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from openpcc.exceptions import (
    BalanceLimitError,
    IdempotencyConflictError,
    InsufficientBalanceError,
    NonceConsumedError,
    UnknownAccountError,
    UsageError,
)
from openpcc.services.store import AccountKind, BankStore, open_backend, open_bank_store
from openpcc.services.store.base import MAX_BALANCE
from openpcc.services.store.sql import BANK_MIGRATIONS

BLIND, KEY = AccountKind.BLIND, AccountKind.API_KEY


def account(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def op(name: str) -> bytes:
    return hashlib.sha256(b"op:" + name.encode()).digest()


@contextmanager
def _opened(database: str) -> Iterator[BankStore]:
    store = open_bank_store(database)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def bank(database: str) -> Iterator[BankStore]:
    store = open_bank_store(database)
    try:
        yield store
    finally:
        store.close()


def test_deposits_create_blind_accounts_and_unknown_accounts_hold_nothing(bank: BankStore) -> None:
    a = account("a")
    assert bank.balance(BLIND, a) == 0 and not bank.account_exists(BLIND, a)
    assert bank.credit(BLIND, a, 100, op("d1"), create=True) == 100
    assert bank.credit(BLIND, a, 50, op("d2"), create=True) == 150
    assert bank.balance(BLIND, a) == 150 and bank.account_exists(BLIND, a)
    assert bank.balance(KEY, a) == 0  # the namespaces never meet


def test_debits_check_the_balance_in_the_same_transaction(bank: BankStore) -> None:
    a = account("a")
    bank.credit(BLIND, a, 100, op("d"), create=True)
    assert bank.debit(BLIND, a, 60, op("w1")) == 40
    with pytest.raises(InsufficientBalanceError):
        bank.debit(BLIND, a, 41, op("w2"))
    assert bank.balance(BLIND, a) == 40
    with pytest.raises(InsufficientBalanceError):  # the same error for an unknown account
        bank.debit(BLIND, account("nobody"), 1, op("w3"))
    assert bank.debit(BLIND, a, 40, op("w2")) == 0  # a failed op id may be used again: nothing was applied


def test_operations_are_idempotent(bank: BankStore) -> None:
    a = account("a")
    assert bank.credit(BLIND, a, 100, op("d"), create=True) == 100
    assert bank.credit(BLIND, a, 100, op("d"), create=True) == 100  # replayed: applied once
    assert bank.balance(BLIND, a) == 100
    assert bank.debit(BLIND, a, 30, op("w")) == 70
    assert bank.debit(BLIND, a, 30, op("w")) == 70
    assert bank.balance(BLIND, a) == 70
    for replay in (
        lambda: bank.debit(BLIND, a, 31, op("w")),
        lambda: bank.debit(BLIND, account("b"), 30, op("w")),
        lambda: bank.credit(BLIND, a, 30, op("w"), create=True),
    ):
        with pytest.raises(IdempotencyConflictError):
            replay()
    assert bank.balance(BLIND, a) == 70


def test_exchanges_keep_their_answer_and_refuse_other_arguments(bank: BankStore) -> None:
    request, other = account("blinded"), account("other blinded")
    assert bank.exchanged(op("x"), request, 64) is None
    assert bank.record_exchange(op("x"), request, 64, b"signature") == b"signature"
    # A repeat, even one that signed again, gets the answer kept first.
    assert bank.record_exchange(op("x"), request, 64, b"resigned") == b"signature"
    assert bank.exchanged(op("x"), request, 64) == b"signature"
    for refused in (
        lambda: bank.exchanged(op("x"), other, 64),
        lambda: bank.exchanged(op("x"), request, 32),
        lambda: bank.record_exchange(op("x"), other, 64, b"signature"),
    ):
        with pytest.raises(IdempotencyConflictError):
            refused()
    # An operation id a deposit used is spent: no exchange under it.
    bank.credit(BLIND, account("a"), 64, op("d"), create=True)
    for spent in (
        lambda: bank.exchanged(op("d"), request, 64),
        lambda: bank.record_exchange(op("d"), request, 64, b"signature"),
    ):
        with pytest.raises(NonceConsumedError):
            spent()
    # And a deposit under an exchange's id is refused.
    with pytest.raises(IdempotencyConflictError):
        bank.credit(BLIND, account("a"), 64, op("x"), create=True)
    assert bank.balance(BLIND, account("a")) == 64


def test_a_version_1_bank_schema_is_upgraded_keeping_its_operations(database: str) -> None:
    backend = open_backend(database)
    assert backend.migrate("bank", BANK_MIGRATIONS[:1]) == 1
    with backend.transaction() as cur:
        cur.execute(
            "INSERT INTO bank_accounts (id, kind, balance) VALUES (?, 'blind', 64)", (account("a"),)
        )
        cur.execute(
            "INSERT INTO bank_operations (op_id, kind, account, operation, amount, result)"
            " VALUES (?, 'blind', ?, 'credit', 64, 64)",
            (op("d"), account("a")),
        )
    backend.close()
    with _opened(database) as bank:
        assert bank.credit(BLIND, account("a"), 64, op("d"), create=True) == 64  # still a replay
        with pytest.raises(NonceConsumedError):
            bank.exchanged(op("d"), account("blinded"), 64)
        assert bank.record_exchange(op("x"), account("blinded"), 64, b"signature") == b"signature"


def test_withdraw_everything(bank: BankStore) -> None:
    a = account("a")
    with pytest.raises(InsufficientBalanceError):
        bank.debit_all(BLIND, a, op("f0"))
    bank.credit(BLIND, a, 77, op("d"), create=True)
    assert bank.debit_all(BLIND, a, op("f1")) == 77
    assert bank.debit_all(BLIND, a, op("f1")) == 77  # replay returns what was taken, takes nothing
    assert bank.balance(BLIND, a) == 0
    with pytest.raises(InsufficientBalanceError):
        bank.debit_all(BLIND, a, op("f2"))


def test_api_key_accounts_are_funded_never_created_by_a_credit(bank: BankStore) -> None:
    k = account("api-key-hash")
    with pytest.raises(UnknownAccountError):
        bank.credit(KEY, k, 10, op("fund0"), create=False)
    bank.create_api_key_account(k, "local dev key", 1000)
    with pytest.raises(IdempotencyConflictError):
        bank.create_api_key_account(k, "again", 5)
    assert bank.account_exists(KEY, k) and not bank.account_exists(BLIND, k)
    assert bank.credit(KEY, k, 10, op("fund1"), create=False) == 1010
    assert bank.debit(KEY, k, 1010, op("w")) == 0


@pytest.mark.parametrize("amount", [0, -1, MAX_BALANCE + 1, True])
def test_amounts_out_of_range_change_nothing(bank: BankStore, amount: int) -> None:
    a = account("a")
    bank.credit(BLIND, a, 5, op("d"), create=True)
    with pytest.raises(BalanceLimitError):
        bank.credit(BLIND, a, amount, op("bad-credit"), create=True)
    with pytest.raises(BalanceLimitError):
        bank.debit(BLIND, a, amount, op("bad-debit"))
    assert bank.balance(BLIND, a) == 5


def test_credits_stop_at_the_balance_limit(bank: BankStore) -> None:
    a = account("a")
    bank.credit(BLIND, a, MAX_BALANCE, op("d1"), create=True)
    with pytest.raises(BalanceLimitError):
        bank.credit(BLIND, a, 1, op("d2"), create=True)
    assert bank.balance(BLIND, a) == MAX_BALANCE


def test_64_concurrent_withdrawals_against_a_balance_for_one_give_exactly_one(database: str) -> None:
    """Each worker has its own store and connections: only the database can keep them apart."""
    a, workers = account("a"), 64
    stores = [open_bank_store(database) for _ in range(workers)]
    stores[0].credit(BLIND, a, 100, op("d"), create=True)
    barrier = threading.Barrier(workers, timeout=60)

    def withdraw(i: int) -> str:
        barrier.wait()
        try:
            stores[i].debit(BLIND, a, 60, op(f"w{i}"))
            return "ok"
        except InsufficientBalanceError:
            return "refused"

    try:
        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(withdraw, range(workers)))
        assert outcomes.count("ok") == 1, outcomes
        assert stores[0].balance(BLIND, a) == 40
    finally:
        for s in stores:
            s.close()


def test_64_concurrent_replays_of_one_operation_apply_it_once(database: str) -> None:
    a, workers = account("a"), 64
    stores = [open_bank_store(database) for _ in range(workers)]
    stores[0].credit(BLIND, a, 1000, op("d"), create=True)
    barrier = threading.Barrier(workers, timeout=60)

    def replay(i: int) -> int:
        barrier.wait()
        return stores[i].debit(BLIND, a, 10, op("same"))

    try:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(replay, range(workers)))
        assert set(results) == {990}
        assert stores[0].balance(BLIND, a) == 990
    finally:
        for s in stores:
            s.close()


CHILD = """
import hashlib, sys
from openpcc.services.store import AccountKind, open_bank_store
bank = open_bank_store(sys.argv[1])
account = hashlib.sha256(b"a").digest()
for i in range(100000):
    bank.debit(AccountKind.BLIND, account, 10, hashlib.sha256(b"op:w%d" % i).digest())
    print(i, flush=True)
"""


def test_a_process_killed_mid_operation_loses_no_committed_debit(database: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    a = account("a")
    with _opened(database) as bank:
        bank.credit(BLIND, a, 10_000_000, op("d"), create=True)
    child = subprocess.Popen([sys.executable, "-c", CHILD, database], stdout=subprocess.PIPE, text=True)
    confirmed = 0
    try:
        assert child.stdout is not None
        for _ in child.stdout:
            confirmed += 1
            if confirmed == 200:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=20)
    backend = open_backend(database)
    try:
        with backend.transaction() as cur:
            cur.execute("SELECT op_id FROM bank_operations WHERE operation = 'debit' AND result IS NOT NULL")
            recorded = {bytes(row[0]) for row in cur.fetchall()}
    finally:
        backend.close()
    assert {op(f"w{i}") for i in range(confirmed)} <= recorded  # every debit seen committed is there
    assert confirmed <= len(recorded) <= confirmed + 1  # at most one commit whose print the kill cut off
    with _opened(database) as bank:
        assert bank.balance(BLIND, a) == 10_000_000 - 10 * len(recorded)  # and the balance agrees


def test_account_ids_are_kind_separated_hashes_of_the_secret(bank: BankStore) -> None:
    from openpcc.services.store import account_id

    token = bytes(range(32))
    blind, key = account_id(BLIND, token), account_id(KEY, token)
    assert len(blind) == len(key) == 32 and blind != key and token not in (blind, key)
    assert account_id(BLIND, token) == blind  # stable across calls and processes
    bank.credit(BLIND, blind, 5, op("d"), create=True)
    assert bank.balance(BLIND, account_id(BLIND, token)) == 5
    with pytest.raises(UsageError):
        account_id("other", token)
