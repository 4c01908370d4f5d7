"""A throwaway PostgreSQL server for the store tests: ``openpcc.services.pgserver`` (initdb + pg_ctl) in a
temporary directory, on a free loopback port, stopped by its PID at the end of the session.

Debian's server refuses to run as root, so as root it runs as the ``postgres`` user through ``runuser``.
``make test`` installs the server first (``scripts/install-postgres.sh``). When it cannot start, the tests
that need it skip naming what was looked for, or FAIL when the ``CI`` variable is set.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from openpcc.exceptions import DatabaseServerError
from openpcc.services import pgserver

from .prerequisites import missing

INSTALL = Path(__file__).resolve().parents[2] / "scripts" / "install-postgres.sh"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    pid: int
    passfile: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}?passfile={self.passfile}"


def _unavailable(reason: str) -> NoReturn:
    missing(f"PostgreSQL could not start: {reason}")


def _find_or_install() -> None:
    try:
        pgserver.bin_dir()
        return
    except DatabaseServerError:
        if os.geteuid() != 0 or not INSTALL.exists():
            raise
    subprocess.run(["bash", str(INSTALL)], capture_output=True, check=False, timeout=900)
    pgserver.bin_dir()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The tests' server: fsync off, since a test's data need not survive a power cut."""
    yield from _run_server(durable=False)


@pytest.fixture(scope="session")
def durable_postgres_server() -> Iterator[PostgresServer]:
    """The benchmarks' server: fsync on, as SQLite's synchronous=FULL, so their figures compare."""
    yield from _run_server(durable=True)


def _run_server(durable: bool) -> Iterator[PostgresServer]:
    """A cluster run by the library's own helper (``openpcc.services.pgserver``, as ``openpcc up
    --replicas`` runs one), in a fresh directory the server's account can reach."""
    try:
        _find_or_install()
    except DatabaseServerError as exc:
        _unavailable(str(exc))
    root = Path(tempfile.mkdtemp(prefix="openpcc-pg-"))
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(pgserver.SERVER_USER)
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            _unavailable("running as root and there is no postgres user to run the server as")
        os.chown(root, account.pw_uid, account.pw_gid)
    server = pgserver.LocalPostgres(root, _free_port(), durable=durable, max_connections=300)
    try:
        try:
            server.start(timeout=START_TIMEOUT_S)
        except DatabaseServerError as exc:
            _unavailable(str(exc))
        yield PostgresServer(server.host, server.port, pgserver.ROLE, server.pid, server.passfile)
    finally:
        server.stop(timeout=STOP_TIMEOUT_S)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    yield from _fresh_database(postgres_server)


@pytest.fixture
def durable_postgres_url(durable_postgres_server: PostgresServer) -> Iterator[str]:
    yield from _fresh_database(durable_postgres_server)


def _fresh_database(server: PostgresServer) -> Iterator[str]:
    try:
        import psycopg
    except ImportError:
        _unavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')")

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database location for each store implementation: an SQLite file, or a new PostgreSQL
    database on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'store' / 'test.sqlite3'}"
    return str(request.getfixturevalue("postgres_url"))
