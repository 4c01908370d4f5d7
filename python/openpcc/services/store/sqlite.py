"""SQLite backend: the embedded default, one file under the role's data directory, in WAL mode."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openpcc.config import ensure_private_dir
from openpcc.exceptions import StoreError, StoreUnavailableError
from openpcc.services.store.base import Backend, Cursor

BUSY_TIMEOUT_MS = 10_000


class SQLiteBackend(Backend):
    """One connection per thread; ``BEGIN IMMEDIATE`` takes the database's write lock at the start of each
    transaction, so concurrent writers (threads or processes) queue on SQLite's lock, not on ours."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        try:
            ensure_private_dir(path.parent)
            _create_private(path)
            conn = self._connection()
            conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailableError(f"cannot open SQLite store {path}: {type(exc).__name__}") from None

    def _connect(self) -> Any:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # FULL: a committed transaction survives power loss, not just a killed process.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        try:
            conn = self._connection()
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"SQLite store unavailable: {type(exc).__name__}") from None
        try:
            yield cur
        except sqlite3.OperationalError as exc:  # busy past the timeout, disk full, I/O error
            conn.rollback()
            raise StoreUnavailableError(f"SQLite store unavailable: {type(exc).__name__}") from None
        except sqlite3.Error as exc:  # a constraint or a statement the schema refuses: a bug of ours
            conn.rollback()
            raise StoreError(f"SQLite refused the operation: {type(exc).__name__}") from None
        except BaseException:
            conn.rollback()
            raise
        try:
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.rollback()
            raise StoreUnavailableError(f"SQLite commit failed: {type(exc).__name__}") from None


def _create_private(path: Path) -> None:
    """Creates the file 0600 before SQLite opens it (its -wal and -shm files take the same mode). Never
    opens an existing file: closing any descriptor of it would drop every POSIX lock this process's
    connections hold on it, and another process closing the database could then checkpoint and delete
    the WAL under them, losing committed writes."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def sqlite_path(database: str) -> Path:
    """The file of a ``sqlite:PATH`` (or ``sqlite:///PATH``) location."""
    rest = database.removeprefix("sqlite:")
    rest = rest.removeprefix("//")
    return Path(rest)
