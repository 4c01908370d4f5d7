"""The stores written once in SQL for both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

from openpcc.exceptions import NonceConsumedError, NonceLockedError, TicketMismatchError
from openpcc.services.store.base import Backend, Cursor, Migration, NonceStore

NONCE_MIGRATIONS = (
    Migration(
        1,
        "nonces: one row per locked or consumed nonce",
        {
            "sqlite": (
                "CREATE TABLE nonces ("
                " nonce BLOB PRIMARY KEY CHECK (length(nonce) = 24),"
                " state TEXT NOT NULL CHECK (state IN ('locked', 'consumed')),"
                " ticket TEXT,"
                " lock_expires_at REAL NOT NULL,"
                " purge_after INTEGER NOT NULL)",
                "CREATE INDEX nonces_purge ON nonces (purge_after)",
            ),
            "postgresql": (
                "CREATE TABLE nonces ("
                " nonce BYTEA PRIMARY KEY CHECK (length(nonce) = 24),"
                " state TEXT NOT NULL CHECK (state IN ('locked', 'consumed')),"
                " ticket TEXT,"
                " lock_expires_at DOUBLE PRECISION NOT NULL,"
                " purge_after BIGINT NOT NULL)",
                "CREATE INDEX nonces_purge ON nonces (purge_after)",
            ),
        },
    ),
)


class SQLNonceStore(NonceStore):
    """:class:`NonceStore` over any :class:`Backend`. Each operation is one conditional statement in one
    transaction; the primary key on ``nonce`` is what makes two lockers of one nonce impossible."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        backend.migrate("nonces", NONCE_MIGRATIONS)

    def lock(self, nonce: bytes, ticket: str, now: float, lock_duration: float, purge_after: int) -> None:
        with self.backend.transaction() as cur:
            # Insert, or take over a lock whose holder ran out of time; a consumed row is never touched.
            cur.execute(
                "INSERT INTO nonces (nonce, state, ticket, lock_expires_at, purge_after)"
                " VALUES (?, 'locked', ?, ?, ?)"
                " ON CONFLICT (nonce) DO UPDATE SET ticket = excluded.ticket,"
                " lock_expires_at = excluded.lock_expires_at"
                " WHERE nonces.state = 'locked' AND nonces.lock_expires_at <= ?"
                " RETURNING ticket",
                (nonce, ticket, now + lock_duration, purge_after, now),
            )
            row = cur.fetchone()
            if row is not None and row[0] == ticket:
                return
            state = _state(cur, nonce, now)
        raise NonceConsumedError("nonce is consumed") if state == "consumed" else NonceLockedError("nonce is locked")

    def consume(self, nonce: bytes, ticket: str, now: float) -> None:
        with self.backend.transaction() as cur:
            cur.execute(
                "UPDATE nonces SET state = 'consumed', ticket = NULL"
                " WHERE nonce = ? AND state = 'locked' AND ticket = ? AND lock_expires_at > ?",
                (nonce, ticket, now),
            )
            if cur.rowcount == 1:
                return
            state = _state(cur, nonce, now)
        _refuse(state)

    def release(self, nonce: bytes, ticket: str, now: float) -> None:
        with self.backend.transaction() as cur:
            cur.execute(
                "DELETE FROM nonces WHERE nonce = ? AND state = 'locked' AND ticket = ?", (nonce, ticket)
            )
            if cur.rowcount == 1:
                return
            state = _state(cur, nonce, now)
        _refuse(state)

    def state(self, nonce: bytes, now: float) -> str:
        with self.backend.transaction() as cur:
            return _state(cur, nonce, now)

    def purge(self, now: float) -> int:
        with self.backend.transaction() as cur:
            # A consumed nonce is kept while it could still pass the validity window; a lock until it ends.
            cur.execute(
                "DELETE FROM nonces WHERE purge_after < ? AND (state = 'consumed' OR lock_expires_at <= ?)",
                (int(now), now),
            )
            return max(cur.rowcount, 0)

    def ping(self) -> None:
        with self.backend.transaction() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def close(self) -> None:
        self.backend.close()


def _state(cur: Cursor, nonce: bytes, now: float) -> str:
    cur.execute("SELECT state, lock_expires_at FROM nonces WHERE nonce = ?", (nonce,))
    row = cur.fetchone()
    if row is None:
        return "free"
    if row[0] == "consumed":
        return "consumed"
    return "locked" if float(row[1]) > now else "free"


def _refuse(state: str) -> None:
    if state == "consumed":
        raise NonceConsumedError("nonce is consumed")
    raise TicketMismatchError("the ticket does not hold this nonce's lock")
