"""The stores written once in SQL for both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from openpcc.exceptions import (
    BalanceLimitError,
    IdempotencyConflictError,
    InsufficientBalanceError,
    NonceConsumedError,
    NonceLockedError,
    TicketMismatchError,
    UnknownAccountError,
)
from openpcc.services.store.base import (
    MAX_BALANCE,
    Backend,
    BankStore,
    Cursor,
    Migration,
    NodeRecord,
    NonceStore,
    RouterStore,
)

NONCE_MIGRATIONS = (
    Migration(
        1,
        "nonces: one row per locked or consumed nonce",
        {
            "sqlite": (
                (
                    "CREATE TABLE nonces ("
                    " nonce BLOB PRIMARY KEY CHECK (length(nonce) = 24),"
                    " state TEXT NOT NULL CHECK (state IN ('locked', 'consumed')),"
                    " ticket TEXT,"
                    " lock_expires_at REAL NOT NULL,"
                    " purge_after INTEGER NOT NULL)"
                ),
                "CREATE INDEX nonces_purge ON nonces (purge_after)",
            ),
            "postgresql": (
                (
                    "CREATE TABLE nonces ("
                    " nonce BYTEA PRIMARY KEY CHECK (length(nonce) = 24),"
                    " state TEXT NOT NULL CHECK (state IN ('locked', 'consumed')),"
                    " ticket TEXT,"
                    " lock_expires_at DOUBLE PRECISION NOT NULL,"
                    " purge_after BIGINT NOT NULL)"
                ),
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


BANK_MIGRATIONS = (
    Migration(
        1,
        "bank: accounts (hashed ids, non-negative balances) and applied operations (idempotency)",
        {
            dialect: (
                (
                    "CREATE TABLE bank_accounts ("
                    f" id {blob} NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('apikey', 'blind')),"
                    " label TEXT NOT NULL DEFAULT '',"
                    f" balance {bigint} NOT NULL CHECK (balance >= 0 AND balance <= {MAX_BALANCE}),"
                    " PRIMARY KEY (kind, id))"
                ),
                (
                    "CREATE TABLE bank_operations ("
                    f" op_id {blob} PRIMARY KEY, kind TEXT NOT NULL, account {blob} NOT NULL,"
                    f" operation TEXT NOT NULL, amount {bigint} NOT NULL, result {bigint})"
                ),
            )
            for dialect, blob, bigint in (("sqlite", "BLOB", "INTEGER"), ("postgresql", "BYTEA", "BIGINT"))
        },
    ),
    Migration(
        2,
        "bank: operations keep their answer (an exchange's blind signature), so a repeat returns it",
        {
            "sqlite": ("ALTER TABLE bank_operations ADD COLUMN answer BLOB",),
            "postgresql": ("ALTER TABLE bank_operations ADD COLUMN answer BYTEA",),
        },
    ),
)


class SQLBankStore(BankStore):
    """:class:`BankStore` over any :class:`Backend`. Each operation is one transaction that first claims
    its operation id (the primary key makes a concurrent replay wait, then see it), then changes the
    balance with a conditional UPDATE, so the check and the debit cannot be separated."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._for_update = " FOR UPDATE" if backend.dialect == "postgresql" else ""
        backend.migrate("bank", BANK_MIGRATIONS)

    def create_api_key_account(self, account: bytes, label: str, balance: int) -> None:
        if not 0 <= balance <= MAX_BALANCE:
            raise BalanceLimitError("initial balance out of range")
        with self.backend.transaction() as cur:
            cur.execute(
                "INSERT INTO bank_accounts (id, kind, label, balance) VALUES (?, 'apikey', ?, ?)"
                " ON CONFLICT (kind, id) DO NOTHING RETURNING balance",
                (account, label, balance),
            )
            if cur.fetchone() is None:
                raise IdempotencyConflictError("an API key with this hash exists already")

    def account_exists(self, kind: str, account: bytes) -> bool:
        with self.backend.transaction() as cur:
            cur.execute("SELECT 1 FROM bank_accounts WHERE kind = ? AND id = ?", (kind, account))
            return cur.fetchone() is not None

    def balance(self, kind: str, account: bytes) -> int:
        with self.backend.transaction() as cur:
            cur.execute("SELECT balance FROM bank_accounts WHERE kind = ? AND id = ?", (kind, account))
            row = cur.fetchone()
            return int(row[0]) if row else 0

    def credit(self, kind: str, account: bytes, amount: int, op_id: bytes, *, create: bool) -> int:
        _check_amount(amount)
        with self.backend.transaction() as cur:
            done = _claim(cur, op_id, kind, account, "credit", amount)
            if done is not None:
                return done
            if create:
                cur.execute(
                    "INSERT INTO bank_accounts (id, kind, balance) VALUES (?, ?, 0)"
                    " ON CONFLICT (kind, id) DO NOTHING",
                    (account, kind),
                )
            cur.execute(
                "UPDATE bank_accounts SET balance = balance + ?"
                " WHERE kind = ? AND id = ? AND balance <= ? RETURNING balance",
                (amount, kind, account, MAX_BALANCE - amount),
            )
            row = cur.fetchone()
            if row is None:
                if not _exists(cur, kind, account):
                    raise UnknownAccountError("no such account")
                raise BalanceLimitError("the credit would pass the largest balance kept")
            return _record(cur, op_id, int(row[0]))

    def debit(self, kind: str, account: bytes, amount: int, op_id: bytes) -> int:
        _check_amount(amount)
        with self.backend.transaction() as cur:
            done = _claim(cur, op_id, kind, account, "debit", amount)
            if done is not None:
                return done
            cur.execute(
                "UPDATE bank_accounts SET balance = balance - ?"
                " WHERE kind = ? AND id = ? AND balance >= ? RETURNING balance",
                (amount, kind, account, amount),
            )
            row = cur.fetchone()
            if row is None:
                raise InsufficientBalanceError("insufficient balance")
            return _record(cur, op_id, int(row[0]))

    def debit_all(self, kind: str, account: bytes, op_id: bytes) -> int:
        with self.backend.transaction() as cur:
            done = _claim(cur, op_id, kind, account, "debit_all", 0)
            if done is not None:
                return done
            cur.execute(
                "SELECT balance FROM bank_accounts WHERE kind = ? AND id = ? AND balance > 0" + self._for_update,
                (kind, account),
            )
            row = cur.fetchone()
            if row is None:
                raise InsufficientBalanceError("insufficient balance")
            taken = int(row[0])
            cur.execute("UPDATE bank_accounts SET balance = 0 WHERE kind = ? AND id = ?", (kind, account))
            return _record(cur, op_id, taken)

    def exchanged(self, op_id: bytes, request: bytes, amount: int) -> bytes | None:
        with self.backend.transaction() as cur:
            cur.execute(
                "SELECT kind, account, operation, amount, answer FROM bank_operations WHERE op_id = ?", (op_id,)
            )
            row = cur.fetchone()
        if row is None:
            return None
        return _earlier_exchange(row, request, amount)

    def record_exchange(self, op_id: bytes, request: bytes, amount: int, answer: bytes) -> bytes:
        _check_amount(amount)
        if not 0 < len(op_id) <= 64:
            raise BalanceLimitError("operation id must be 1..64 bytes")
        with self.backend.transaction() as cur:
            cur.execute(
                "INSERT INTO bank_operations (op_id, kind, account, operation, amount, answer)"
                " VALUES (?, 'blind', ?, 'exchange', ?, ?) ON CONFLICT (op_id) DO NOTHING RETURNING op_id",
                (op_id, request, amount, answer),
            )
            if cur.fetchone() is not None:
                return answer
            cur.execute(
                "SELECT kind, account, operation, amount, answer FROM bank_operations WHERE op_id = ?", (op_id,)
            )
            row = cur.fetchone()
        if row is None:  # pragma: no cover - the conflicting row cannot vanish inside the transaction
            raise IdempotencyConflictError("operation id reused with different arguments")
        return _earlier_exchange(row, request, amount)

    def close(self) -> None:
        self.backend.close()


def _earlier_exchange(row: Any, request: bytes, amount: int) -> bytes:
    """The kept answer of an exchange row matching ``request`` and ``amount``."""
    kind, account, operation, stored_amount, answer = row
    if (kind, operation) != ("blind", "exchange"):
        raise NonceConsumedError("credit was spent by another operation")
    if bytes(account) != request or int(stored_amount) != amount or answer is None:
        raise IdempotencyConflictError("credit was exchanged already, for another blinded message")
    return bytes(answer)


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_BALANCE:
        raise BalanceLimitError("amount must be a positive integer within the balance limit")


def _exists(cur: Cursor, kind: str, account: bytes) -> bool:
    cur.execute("SELECT 1 FROM bank_accounts WHERE kind = ? AND id = ?", (kind, account))
    return cur.fetchone() is not None


def _claim(cur: Cursor, op_id: bytes, kind: str, account: bytes, operation: str, amount: int) -> int | None:
    """Claims ``op_id`` for this operation; returns the earlier result when it was applied already. A
    concurrent transaction with the same id makes the INSERT wait for it, then see its row."""
    if not 0 < len(op_id) <= 64:
        raise BalanceLimitError("operation id must be 1..64 bytes")
    cur.execute(
        "INSERT INTO bank_operations (op_id, kind, account, operation, amount) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (op_id) DO NOTHING RETURNING op_id",
        (op_id, kind, account, operation, amount),
    )
    if cur.fetchone() is not None:
        return None
    cur.execute("SELECT kind, account, operation, amount, result FROM bank_operations WHERE op_id = ?", (op_id,))
    row = cur.fetchone()
    if row is None or (row[0], bytes(row[1]), row[2], int(row[3])) != (kind, account, operation, amount):
        raise IdempotencyConflictError("operation id reused with different arguments")
    return int(row[4])


def _record(cur: Cursor, op_id: bytes, result: int) -> int:
    cur.execute("UPDATE bank_operations SET result = ? WHERE op_id = ?", (result, op_id))
    return result


ROUTER_MIGRATIONS = (
    Migration(
        1,
        "router: admitted nodes (routing info, the evidence that passed, the last verdict, events)",
        {
            dialect: (
                (
                    "CREATE TABLE router_nodes ("
                    " node_id TEXT PRIMARY KEY, url TEXT NOT NULL, healthcheck_url TEXT NOT NULL,"
                    f" tags TEXT NOT NULL, evidence {blob} NOT NULL,"
                    f" admitted_at {real} NOT NULL, attested_at {real} NOT NULL,"
                    " attested INTEGER NOT NULL CHECK (attested IN (0, 1)), verdict TEXT NOT NULL,"
                    f" last_event_index {bigint} NOT NULL, last_event_at {real} NOT NULL,"
                    f" shutdown_at {real})"
                ),
            )
            for dialect, blob, bigint, real in (
                ("sqlite", "BLOB", "INTEGER", "REAL"),
                ("postgresql", "BYTEA", "BIGINT", "DOUBLE PRECISION"),
            )
        },
    ),
    Migration(
        2,
        "router: refunds of abandoned streams, kept under the hash of the client's claim secret",
        {
            dialect: (
                (
                    "CREATE TABLE router_refunds ("
                    f" claim {blob} PRIMARY KEY CHECK (length(claim) = 32), credit TEXT NOT NULL,"
                    f" expires_at {real} NOT NULL)"
                ),
                "CREATE INDEX router_refunds_expiry ON router_refunds (expires_at)",
            )
            for dialect, blob, real in (("sqlite", "BLOB", "REAL"), ("postgresql", "BYTEA", "DOUBLE PRECISION"))
        },
    ),
)

_NODE_COLUMNS = (
    "node_id, url, healthcheck_url, tags, evidence, admitted_at, attested_at, attested, verdict,"
    " last_event_index, last_event_at, shutdown_at"
)


class SQLRouterStore(RouterStore):
    """:class:`RouterStore` over any :class:`Backend`: one row per node, each change one statement."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        backend.migrate("router", ROUTER_MIGRATIONS)

    def admit(self, record: NodeRecord) -> None:
        values = (
            record.node_id, record.url, record.healthcheck_url, json.dumps(list(record.tags)), record.evidence,
            record.admitted_at, record.attested_at, int(record.attested), record.verdict,
            record.last_event_index, record.last_event_at, record.shutdown_at,
        )
        with self.backend.transaction() as cur:
            cur.execute(
                f"INSERT INTO router_nodes ({_NODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (node_id) DO UPDATE SET url = excluded.url,"
                " healthcheck_url = excluded.healthcheck_url, tags = excluded.tags, evidence = excluded.evidence,"
                " admitted_at = excluded.admitted_at, attested_at = excluded.attested_at,"
                " attested = excluded.attested, verdict = excluded.verdict,"
                " last_event_index = CASE WHEN excluded.last_event_index > router_nodes.last_event_index"
                " THEN excluded.last_event_index ELSE router_nodes.last_event_index END,"
                " last_event_at = excluded.last_event_at, shutdown_at = excluded.shutdown_at",
                values,
            )

    def record_event(self, node_id: str, event_index: int, at: float) -> bool:
        with self.backend.transaction() as cur:
            cur.execute(
                "UPDATE router_nodes SET last_event_at = ?,"
                " last_event_index = CASE WHEN ? > last_event_index THEN ? ELSE last_event_index END"
                " WHERE node_id = ?",
                (at, event_index, event_index, node_id),
            )
            return cur.rowcount == 1

    def record_attestation(self, node_id: str, evidence: bytes | None, attested: bool, verdict: str, at: float) -> bool:
        with self.backend.transaction() as cur:
            if evidence is None:
                cur.execute(
                    "UPDATE router_nodes SET attested = ?, verdict = ?, attested_at = ? WHERE node_id = ?",
                    (int(attested), verdict, at, node_id),
                )
            else:
                cur.execute(
                    "UPDATE router_nodes SET attested = ?, verdict = ?, attested_at = ?, evidence = ?"
                    " WHERE node_id = ?",
                    (int(attested), verdict, at, evidence, node_id),
                )
            return cur.rowcount == 1

    def record_shutdown(self, node_id: str, event_index: int, at: float) -> bool:
        with self.backend.transaction() as cur:
            cur.execute(
                "UPDATE router_nodes SET shutdown_at = ?, last_event_index = ?"
                " WHERE node_id = ? AND last_event_index <= ?",
                (at, event_index, node_id, event_index),
            )
            return cur.rowcount == 1

    def remove(self, node_id: str) -> bool:
        with self.backend.transaction() as cur:
            cur.execute("DELETE FROM router_nodes WHERE node_id = ?", (node_id,))
            return cur.rowcount == 1

    def nodes(self) -> list[NodeRecord]:
        with self.backend.transaction() as cur:
            cur.execute(f"SELECT {_NODE_COLUMNS} FROM router_nodes ORDER BY node_id")
            rows = cur.fetchall()
        return [_node_record(row) for row in rows]

    def put_refund(self, claim: bytes, credit: str, expires_at: float) -> bool:
        with self.backend.transaction() as cur:
            cur.execute(
                "INSERT INTO router_refunds (claim, credit, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (claim) DO NOTHING RETURNING claim",
                (claim, credit, expires_at),
            )
            return cur.fetchone() is not None

    def take_refund(self, claim: bytes, now: float) -> str | None:
        with self.backend.transaction() as cur:
            # One statement: of two replicas taking the same claim, only one DELETE returns the row.
            cur.execute(
                "DELETE FROM router_refunds WHERE claim = ? AND expires_at > ? RETURNING credit", (claim, now)
            )
            row = cur.fetchone()
        return None if row is None else str(row[0])

    def purge_refunds(self, now: float) -> int:
        with self.backend.transaction() as cur:
            cur.execute("DELETE FROM router_refunds WHERE expires_at <= ?", (now,))
            return int(cur.rowcount)

    def ping(self) -> None:
        with self.backend.transaction() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()

    def close(self) -> None:
        self.backend.close()


def _node_record(row: Any) -> NodeRecord:
    return NodeRecord(
        node_id=str(row[0]), url=str(row[1]), healthcheck_url=str(row[2]), tags=tuple(json.loads(row[3])),
        evidence=bytes(row[4]), admitted_at=float(row[5]), attested_at=float(row[6]), attested=bool(row[7]),
        verdict=str(row[8]), last_event_index=int(row[9]), last_event_at=float(row[10]),
        shutdown_at=None if row[11] is None else float(row[11]),
    )
