"""Stores of the server roles: one interface per role (:mod:`.base`), SQLite by default
(:mod:`.sqlite`), PostgreSQL by URL (:mod:`.postgres`)."""

from __future__ import annotations

from openpcc.exceptions import SettingValueError
from openpcc.services.store.base import (
    AccountKind,
    Backend,
    BankStore,
    NodeRecord,
    NonceStore,
    RouterStore,
    account_id,
)


def open_backend(database: str) -> Backend:
    """The backend for a role's ``database`` location (``sqlite:PATH`` or ``postgresql://...``)."""
    if database.startswith("sqlite:"):
        from openpcc.services.store.sqlite import SQLiteBackend, sqlite_path

        return SQLiteBackend(sqlite_path(database))
    if database.startswith(("postgresql://", "postgres://")):
        from openpcc.services.store.postgres import PostgresBackend

        return PostgresBackend(database)
    raise SettingValueError("database must be sqlite:PATH or a postgresql:// URL")


def open_nonce_store(database: str) -> NonceStore:
    from openpcc.services.store.sql import SQLNonceStore

    return SQLNonceStore(open_backend(database))


def open_bank_store(database: str) -> BankStore:
    from openpcc.services.store.sql import SQLBankStore

    return SQLBankStore(open_backend(database))


def open_router_store(database: str) -> RouterStore:
    from openpcc.services.store.sql import SQLRouterStore

    return SQLRouterStore(open_backend(database))


__all__ = [
    "AccountKind",
    "Backend",
    "BankStore",
    "NodeRecord",
    "NonceStore",
    "RouterStore",
    "account_id",
    "open_backend",
    "open_bank_store",
    "open_nonce_store",
    "open_router_store",
]
