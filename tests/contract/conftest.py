from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database location for each store implementation."""
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'store' / 'test.sqlite3'}"
    else:
        yield request.getfixturevalue("postgres_url")
