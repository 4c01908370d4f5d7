"""PostgreSQL backend (psycopg 3), chosen by ``database = "postgresql://..."`` in a role's config.

Install the driver with ``pip install 'openpcc[postgres]'``. Statements run at READ COMMITTED; every store
operation is a single conditional statement (or a transaction whose row locks serialize it), which is
atomic at that level without an in-process lock, so replicas can share one database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openpcc.exceptions import StoreError, StoreUnavailableError
from openpcc.services.store.base import Backend, Cursor

CONNECT_TIMEOUT_S = 10
# Any 64-bit number, the same in every openpcc process: serializes concurrent schema migrations.
MIGRATION_LOCK_KEY = 0x6F70656E706363


class _Translating:
    """A psycopg cursor that takes the ``?`` placeholders the shared SQL is written with."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._cur.execute(sql.replace("?", "%s"), tuple(params))

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())


class PostgresBackend(Backend):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError:
            raise StoreUnavailableError(
                "a postgresql:// database needs psycopg: pip install 'openpcc[postgres]'"
            ) from None
        self._psycopg = psycopg
        self._url = url
        self._connection()  # fail at start, not on the first request

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=False)
        except self._psycopg.Error as exc:
            # Never the URL: it may hold a password.
            raise StoreUnavailableError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from None

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        conn = self._connection()
        if conn.closed or conn.broken:
            self._forget_connection()
            conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                yield _Translating(cur)
        except self._psycopg.OperationalError as exc:
            self._forget_connection()
            raise StoreUnavailableError(f"PostgreSQL unavailable: {type(exc).__name__}") from None
        except self._psycopg.Error as exc:  # a constraint or a statement the schema refuses: a bug of ours
            raise StoreError(f"PostgreSQL refused the operation: {type(exc).__name__}") from None

    def _lock_for_migrations(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK_KEY,))
