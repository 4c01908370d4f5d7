"""Every row a bank role keeps, for tests that check a refusal changed nothing."""

from __future__ import annotations

from typing import Any

from openpcc.services.store import open_backend

TABLES = ("bank_accounts", "bank_operations", "nonces")


def snapshot(database: str) -> dict[str, list[tuple[Any, ...]]]:
    backend = open_backend(database)
    try:
        with backend.transaction() as cur:
            rows = {}
            for table in TABLES:
                cur.execute(f"SELECT * FROM {table}")
                rows[table] = sorted(
                    tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()
                )
            return rows
    finally:
        backend.close()
