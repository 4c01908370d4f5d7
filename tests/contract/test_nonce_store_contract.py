"""The NonceStore contract (spec §8.5), run against every implementation: SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from openpcc.exceptions import (
    MigrationError,
    NonceConsumedError,
    NonceLockedError,
    StoreError,
    StoreUnavailableError,
    TicketMismatchError,
)
from openpcc.services.store import NonceStore, open_backend, open_nonce_store

NOW = 1_800_000_000.0
LOCK = 300.0
PURGE_AFTER = int(NOW) + 7200


def nonce(i: int = 0) -> bytes:
    return int(NOW // 3600 * 3600).to_bytes(8, "big") + i.to_bytes(16, "big")


@pytest.fixture
def store(database: str) -> Iterator[NonceStore]:
    s = open_nonce_store(database)
    try:
        yield s
    finally:
        s.close()


def test_lock_consume_and_never_again(store: NonceStore) -> None:
    n = nonce()
    assert store.state(n, NOW) == "free"
    store.lock(n, "t1", NOW, LOCK, PURGE_AFTER)
    assert store.state(n, NOW) == "locked"
    with pytest.raises(NonceLockedError):
        store.lock(n, "t2", NOW, LOCK, PURGE_AFTER)
    store.consume(n, "t1", NOW + 1)
    assert store.state(n, NOW) == "consumed"
    with pytest.raises(NonceConsumedError):
        store.lock(n, "t3", NOW + 2, LOCK, PURGE_AFTER)
    with pytest.raises(NonceConsumedError):
        store.consume(n, "t1", NOW + 2)
    with pytest.raises(NonceConsumedError):
        store.release(n, "t1", NOW + 2)
    # Not even once the lock duration is long past.
    with pytest.raises(NonceConsumedError):
        store.lock(n, "t4", NOW + 10 * LOCK, LOCK, PURGE_AFTER)


def test_the_ticket_must_match(store: NonceStore) -> None:
    n = nonce()
    store.lock(n, "right", NOW, LOCK, PURGE_AFTER)
    with pytest.raises(TicketMismatchError):
        store.consume(n, "wrong", NOW)
    with pytest.raises(TicketMismatchError):
        store.release(n, "wrong", NOW)
    assert store.state(n, NOW) == "locked"
    with pytest.raises(TicketMismatchError):
        store.consume(nonce(1), "right", NOW)  # a nonce never locked


def test_a_released_nonce_can_be_locked_again(store: NonceStore) -> None:
    n = nonce()
    store.lock(n, "t1", NOW, LOCK, PURGE_AFTER)
    store.release(n, "t1", NOW)
    assert store.state(n, NOW) == "free"
    with pytest.raises(TicketMismatchError):
        store.release(n, "t1", NOW)  # released twice
    store.lock(n, "t2", NOW, LOCK, PURGE_AFTER)
    store.consume(n, "t2", NOW)


def test_an_expired_lock_can_be_taken_over_and_its_old_ticket_is_dead(store: NonceStore) -> None:
    n = nonce()
    store.lock(n, "slow", NOW, LOCK, PURGE_AFTER)
    with pytest.raises(NonceLockedError):
        store.lock(n, "eager", NOW + LOCK - 1, LOCK, PURGE_AFTER)
    assert store.state(n, NOW + LOCK) == "free"
    with pytest.raises(TicketMismatchError):
        store.consume(n, "slow", NOW + LOCK)  # too late, even before anyone took it over
    store.lock(n, "eager", NOW + LOCK, LOCK, PURGE_AFTER)
    with pytest.raises(TicketMismatchError):
        store.release(n, "slow", NOW + LOCK)
    store.consume(n, "eager", NOW + LOCK + 1)


def test_purge_forgets_only_records_past_their_window(store: NonceStore) -> None:
    old, fresh, held = nonce(1), nonce(2), nonce(3)
    store.lock(old, "a", NOW, LOCK, int(NOW) + 10)
    store.consume(old, "a", NOW)
    store.lock(fresh, "b", NOW, LOCK, PURGE_AFTER)
    store.consume(fresh, "b", NOW)
    store.lock(held, "c", NOW, LOCK, int(NOW) + 10)
    assert store.purge(NOW + 11) == 1  # held's lock still runs until NOW + LOCK
    assert store.state(old, NOW + 11) == "free"
    assert store.state(fresh, NOW + 11) == "consumed"
    assert store.state(held, NOW + 11) == "locked"
    assert store.purge(NOW + LOCK) == 1


def test_migrations_are_idempotent_and_refuse_a_newer_schema(database: str) -> None:
    open_nonce_store(database).close()
    store = open_nonce_store(database)  # second start: nothing to apply
    store.lock(nonce(), "t", NOW, LOCK, PURGE_AFTER)
    store.close()
    backend = open_backend(database)
    with backend.transaction() as cur:
        cur.execute(
            "INSERT INTO schema_migrations (component, version, description) VALUES (?, ?, ?)",
            ("nonces", 99, "from the future"),
        )
    backend.close()
    with pytest.raises(MigrationError):
        open_nonce_store(database)


def test_64_simultaneous_spends_of_one_nonce_give_exactly_one_success(database: str) -> None:
    """Each worker has its own store (its own connections): only the database can keep them apart."""
    n, workers = nonce(), 64
    stores = [open_nonce_store(database) for _ in range(workers)]
    barrier = threading.Barrier(workers, timeout=60)

    def spend(i: int) -> str:
        barrier.wait()
        try:
            stores[i].lock(n, f"ticket-{i}", NOW, LOCK, PURGE_AFTER)
            stores[i].consume(n, f"ticket-{i}", NOW)
            return "spent"
        except NonceLockedError:
            return "locked"
        except NonceConsumedError:
            return "consumed"

    try:
        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(spend, range(workers)))
    finally:
        for s in stores:
            s.close()
    assert outcomes.count("spent") == 1, outcomes
    assert set(outcomes) <= {"spent", "locked", "consumed"}


def test_an_unreachable_database_is_a_typed_error(tmp_path: os.PathLike[str]) -> None:
    with pytest.raises(StoreUnavailableError) as info:
        open_nonce_store("postgresql://nobody:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(info.value)
    blocker = os.path.join(tmp_path, "file")
    open(blocker, "w").close()
    with pytest.raises(StoreUnavailableError):
        open_nonce_store(f"sqlite:{blocker}/sub/db.sqlite3")


def test_the_sqlite_file_is_private(tmp_path: os.PathLike[str]) -> None:
    import stat
    from pathlib import Path

    path = Path(tmp_path) / "role" / "noncelock.sqlite3"
    open_nonce_store(f"sqlite:{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_statement_the_schema_refuses_is_a_typed_store_error(store: NonceStore) -> None:
    with pytest.raises(StoreError):
        store.lock(b"short", "t", NOW, LOCK, PURGE_AFTER)  # the CHECK on the 24-byte key
    store.lock(nonce(), "t", NOW, LOCK, PURGE_AFTER)  # the store still works afterwards
