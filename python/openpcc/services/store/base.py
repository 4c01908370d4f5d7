"""The store interfaces of the server roles, and the SQL machinery their SQLite and PostgreSQL
implementations share.

Every method is blocking; a service calls it through ``asyncio.to_thread``. Atomicity comes from the
database (a primary key on each nonce, conditional single-statement updates, one transaction per
operation), never from a lock in this process, so several processes or replicas may share one database.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from openpcc.exceptions import MigrationError, UsageError


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True)
class Migration:
    """One schema step. ``sql`` maps a dialect (``sqlite``, ``postgresql``) to its statements."""

    version: int
    description: str
    sql: dict[str, tuple[str, ...]]


class Backend(abc.ABC):
    """A database connection factory with one transaction primitive. Statements use ``?`` placeholders;
    a backend translates them for its driver."""

    dialect: str

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()  # bookkeeping of connections only, never data atomicity

    @abc.abstractmethod
    def _connect(self) -> Any: ...

    @abc.abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """One write transaction: committed when the block ends, rolled back when it raises."""

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _forget_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._all_lock:
                if conn in self._all:
                    self._all.remove(conn)
            _close_quietly(conn)

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            _close_quietly(conn)

    def migrate(self, component: str, migrations: Sequence[Migration]) -> int:
        """Applies the missing ``migrations`` of ``component`` in order; returns the schema version."""
        latest = max((m.version for m in migrations), default=0)
        with self.transaction() as cur:
            self._lock_for_migrations(cur)
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT NOT NULL,"
                " PRIMARY KEY (component, version))"
            )
            cur.execute("SELECT MAX(version) FROM schema_migrations WHERE component = ?", (component,))
            row = cur.fetchone()
            current = int(row[0]) if row and row[0] is not None else 0
            if current > latest:
                raise MigrationError(
                    f"{component} schema is at version {current}, newer than this openpcc knows ({latest})"
                )
            for migration in sorted(migrations, key=lambda m: m.version):
                if migration.version <= current:
                    continue
                for statement in migration.sql[self.dialect]:
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations (component, version, description) VALUES (?, ?, ?)",
                    (component, migration.version, migration.description),
                )
        return latest

    def _lock_for_migrations(self, cur: Cursor) -> None:
        """Serializes concurrent starts against one database (a no-op where the transaction already does)."""


def _close_quietly(conn: Any) -> None:
    # A broken connection may fail to close; it is dropped either way.
    with contextlib.suppress(Exception):
        conn.close()


class NonceStore(abc.ABC):
    """Spent and locked nonces, for nonce locking (spec §8.5). Must:

    * lock a nonce for at most one holder at a time; a lock older than its duration may be taken over;
    * never let a consumed nonce be locked or consumed again while it is kept (until ``purge_after``);
    * consume or release only with the ticket the lock returned;
    * forget a released nonce entirely, so it may be locked again;
    * be correct with any number of processes sharing the database.

    ``nonce`` is the 24-byte blind-signature message (8-byte big-endian timestamp || 16 random bytes).
    """

    @abc.abstractmethod
    def lock(self, nonce: bytes, ticket: str, now: float, lock_duration: float, purge_after: int) -> None:
        """Takes the lock for ``ticket``; NonceLockedError or NonceConsumedError when it cannot."""

    @abc.abstractmethod
    def consume(self, nonce: bytes, ticket: str, now: float) -> None:
        """Marks the nonce spent; NonceConsumedError if already, TicketMismatchError if not held by ``ticket``."""

    @abc.abstractmethod
    def release(self, nonce: bytes, ticket: str, now: float) -> None:
        """Drops ``ticket``'s lock; NonceConsumedError after a consume, TicketMismatchError if not held."""

    @abc.abstractmethod
    def state(self, nonce: bytes, now: float) -> str:
        """``"free"``, ``"locked"`` or ``"consumed"`` (for health checks, tests and operators)."""

    @abc.abstractmethod
    def purge(self, now: float) -> int:
        """Deletes records of nonces past ``purge_after`` (they are refused as expired anyway)."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raises StoreUnavailableError when the database cannot be reached."""

    @abc.abstractmethod
    def close(self) -> None: ...


class AccountKind:
    """The two kinds of account, in separate namespaces: an id of one kind never reaches the other."""

    API_KEY = "apikey"  # the auth bank's identified accounts, one per API key (id: the key's hash)
    BLIND = "blind"  # the blind bank's pseudonymous accounts (id: the hash of the bearer token)


def account_id(kind: str, secret: bytes) -> bytes:
    """The id a bank stores for an API key or a bearer token: SHA-256 over a kind-separated label.

    The secret itself is never stored, so a copy of the database cannot spend. A fast hash suffices
    because both secrets are random with at least 128 bits (32-byte account tokens, generated API keys),
    so there is no dictionary to try. ``hmac.compare_digest`` is not needed on lookup: the database
    compares hashes, which reveal nothing about the secret.
    """
    if kind not in (AccountKind.API_KEY, AccountKind.BLIND):
        raise UsageError("unknown account kind")
    return hashlib.sha256(b"openpcc account v1\x00" + kind.encode() + b"\x00" + secret).digest()


# The largest balance a store keeps: far above any sum of currency values (MaxAmount is about 2^35),
# far below int64 overflow.
MAX_BALANCE = 1 << 62


class BankStore(abc.ABC):
    """Balances of the auth bank (API-key accounts) and the blind bank (pseudonymous accounts), spec §8.6.

    Must:

    * check and change a balance in one transaction: a debit never takes a balance below zero, however
      many debits race (``InsufficientBalanceError``, the same for unknown and empty accounts);
    * apply an operation id at most once: a replay with the same arguments returns the first result
      without changing anything, a replay with other arguments raises ``IdempotencyConflictError``;
    * refuse amounts outside ``1..MAX_BALANCE`` and credits past ``MAX_BALANCE`` (``BalanceLimitError``);
    * keep API-key and pseudonymous accounts apart, store only hashes of API keys and bearer tokens
      (callers pass ``account`` ids that are already hashes), and lose no committed operation on a crash.
    """

    @abc.abstractmethod
    def create_api_key_account(self, account: bytes, label: str, balance: int) -> None:
        """A new API-key account holding ``balance``; ``IdempotencyConflictError`` if the id exists."""

    @abc.abstractmethod
    def account_exists(self, kind: str, account: bytes) -> bool: ...

    @abc.abstractmethod
    def balance(self, kind: str, account: bytes) -> int:
        """The balance; 0 for an unknown account."""

    @abc.abstractmethod
    def credit(self, kind: str, account: bytes, amount: int, op_id: bytes, *, create: bool) -> int:
        """Adds ``amount``; creates the account when ``create`` (a blind deposit), else
        ``UnknownAccountError`` for a missing one (funding an API key). Returns the new balance."""

    @abc.abstractmethod
    def debit(self, kind: str, account: bytes, amount: int, op_id: bytes) -> int:
        """Takes ``amount`` if the balance allows, all in one transaction. Returns the new balance."""

    @abc.abstractmethod
    def debit_all(self, kind: str, account: bytes, op_id: bytes) -> int:
        """Zeroes the account and returns what it held (``InsufficientBalanceError`` when nothing)."""

    @abc.abstractmethod
    def exchanged(self, op_id: bytes, request: bytes, amount: int) -> bytes | None:
        """The answer kept by :meth:`record_exchange` under ``op_id`` for the same ``request`` and
        ``amount``; ``None`` when ``op_id`` is unused. ``IdempotencyConflictError`` when it was an
        exchange with other arguments, ``NonceConsumedError`` when another operation used it."""

    @abc.abstractmethod
    def record_exchange(self, op_id: bytes, request: bytes, amount: int, answer: bytes) -> bytes:
        """Claims ``op_id`` for an exchange of ``request`` (a digest of the blinded message) and keeps
        ``answer`` with it; returns the answer kept first (a concurrent or earlier identical exchange
        wins), raising like :meth:`exchanged` when ``op_id`` was used otherwise."""

    @abc.abstractmethod
    def close(self) -> None: ...


@dataclass(frozen=True)
class NodeRecord:
    """A node the router admitted (its evidence over the router's nonce passed the policy once).

    ``attested`` is the outcome of the last evidence check (admission or re-attestation) and
    ``verdict`` its summary (JSON: the failed checks, never evidence bytes); ``shutdown_at`` is set by a
    shutdown event and cleared by the next admission. Times are Unix seconds."""

    node_id: str
    url: str
    healthcheck_url: str
    tags: tuple[str, ...]
    evidence: bytes
    admitted_at: float
    attested_at: float
    attested: bool
    verdict: str
    last_event_index: int
    last_event_at: float
    shutdown_at: float | None = None


class RouterStore(abc.ABC):
    """The router's admitted nodes, so a restarted router (or another replica) keeps them. Must:

    * keep one row per node id; :meth:`admit` replaces a node's routing info and evidence at once;
    * change nothing for an unknown node id in :meth:`record_event`, :meth:`record_attestation` and
      :meth:`record_shutdown` (they return False);
    * never move a node's ``last_event_index`` backwards;
    * keep each abandoned stream's refund under its claim hash until it is taken or expires, and hand it
      out at most once however many replicas race (:meth:`take_refund` is one conditional DELETE);
    * lose no committed change on a crash.
    """

    @abc.abstractmethod
    def put_refund(self, claim: bytes, credit: str, expires_at: float) -> bool:
        """Keeps ``credit`` (``X-Refund`` text) under ``claim`` (SHA-256 of the client's claim secret, 32
        bytes) until ``expires_at``; False when that claim holds a refund already (nothing changes)."""

    @abc.abstractmethod
    def take_refund(self, claim: bytes, now: float) -> str | None:
        """Returns and deletes the refund kept under ``claim``; None when there is none or it expired."""

    @abc.abstractmethod
    def purge_refunds(self, now: float) -> int:
        """Deletes refunds past their expiry; returns how many."""

    @abc.abstractmethod
    def admit(self, record: NodeRecord) -> None:
        """Stores ``record`` (a new node, or a node re-admitted with new routing info or evidence)."""

    @abc.abstractmethod
    def record_event(self, node_id: str, event_index: int, at: float) -> bool:
        """A heartbeat of an admitted node: its time, and its index when higher than the last one."""

    @abc.abstractmethod
    def record_attestation(self, node_id: str, evidence: bytes | None, attested: bool, verdict: str, at: float) -> bool:
        """The outcome of a re-attestation; ``evidence`` replaces the kept one when given (a pass)."""

    @abc.abstractmethod
    def record_shutdown(self, node_id: str, event_index: int, at: float) -> bool:
        """A shutdown event: ``shutdown_at`` set (ignored when ``event_index`` is older than the last)."""

    @abc.abstractmethod
    def remove(self, node_id: str) -> bool: ...

    @abc.abstractmethod
    def nodes(self) -> list[NodeRecord]:
        """Every stored node, by id."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raises StoreUnavailableError when the database cannot be reached."""

    @abc.abstractmethod
    def close(self) -> None: ...
