"""The cost of durable stores: one nonce spend (lock + consume) and one bank debit, on SQLite
(``synchronous=FULL``) and PostgreSQL (``fsync=on``), each over its own file or database on this machine's disk, against the reference's design of the same operation: an in-memory
map under a mutex (its ``inmem`` nonce locker and bank), rebuilt here in Python. The peer keeps nothing
across a restart; the ratio is what durability and cross-process atomicity cost per operation.

Run: ``pytest benches/test_bench_stores.py --benchmark-enable --benchmark-only``.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openpcc.exceptions import InsufficientBalanceError, NonceConsumedError
from openpcc.services.store import AccountKind, open_bank_store, open_nonce_store
from support.postgres import durable_postgres_server, durable_postgres_url  # noqa: F401  (fixtures)

NOW = 1_800_000_000.0
HOUR = int(NOW) // 3600 * 3600


class InMemoryNonceLocker:
    """The reference's in-memory nonce locker, in outline: a map from nonce to state under one mutex."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[bytes, tuple[str, str]] = {}

    def spend(self, nonce: bytes, ticket: str) -> None:
        with self._lock:
            if nonce in self._state:
                raise NonceConsumedError("nonce is consumed")
            self._state[nonce] = ("locked", ticket)
        with self._lock:
            self._state[nonce] = ("consumed", "")


class InMemoryBank:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[bytes, int] = {}

    def debit(self, account: bytes, amount: int) -> int:
        with self._lock:
            balance = self._balances.get(account, 0)
            if balance < amount:
                raise InsufficientBalanceError("insufficient balance")
            self._balances[account] = balance - amount
            return balance - amount


def nonces() -> Iterator[bytes]:
    for i in itertools.count():
        yield HOUR.to_bytes(8, "big") + i.to_bytes(16, "big")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "openpcc", f"sqlite:{tmp_path / 'bench.sqlite3'}"
    return "openpcc-postgresql", str(request.getfixturevalue("durable_postgres_url"))


def test_nonce_spend(paired: Callable[[str, str], Any], database: tuple[str, str]) -> None:
    impl, url = database
    store = open_nonce_store(url)
    fresh = nonces()

    def spend() -> None:
        nonce = next(fresh)
        store.lock(nonce, "t", NOW, 300.0, HOUR + 7200)
        store.consume(nonce, "t", NOW)

    try:
        paired("store-nonce-spend", impl)(spend)
    finally:
        store.close()


def test_nonce_spend_in_memory_peer(paired: Callable[[str, str], Any]) -> None:
    locker, fresh = InMemoryNonceLocker(), nonces()
    paired("store-nonce-spend", "in-memory (reference design)")(lambda: locker.spend(next(fresh), "t"))


def test_bank_debit(paired: Callable[[str, str], Any], database: tuple[str, str]) -> None:
    impl, url = database
    store = open_bank_store(url)
    account = hashlib.sha256(b"bench").digest()
    store.credit(AccountKind.BLIND, account, 1 << 60, b"fund", create=True)
    ops = (i.to_bytes(8, "big") for i in itertools.count())
    try:
        paired("store-bank-debit", impl)(lambda: store.debit(AccountKind.BLIND, account, 1, next(ops)))
    finally:
        store.close()


def test_bank_debit_in_memory_peer(paired: Callable[[str, str], Any]) -> None:
    bank, account = InMemoryBank(), b"a" * 32
    bank._balances[account] = 1 << 60
    paired("store-bank-debit", "in-memory (reference design)")(lambda: bank.debit(account, 1))
