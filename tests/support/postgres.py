"""A throwaway PostgreSQL server for the store tests: initdb + pg_ctl in a temporary directory, on a free
loopback port, stopped by its PID at the end of the session.

Debian's server refuses to run as root, so as root it runs as the ``postgres`` user through ``runuser``.
``make test`` installs the server first (``scripts/install-postgres.sh``). When it cannot start, the tests
that need it skip naming what was looked for, or FAIL when the ``CI`` variable is set.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

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

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


def _unavailable(reason: str) -> NoReturn:
    missing(f"PostgreSQL could not start: {reason}")


def _bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for directory in reversed(candidates):
        if Path(directory, "initdb").exists() and Path(directory, "pg_ctl").exists():
            return Path(directory)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _find_or_install() -> Path:
    found = _bin_dir()
    if found is None and os.geteuid() == 0 and INSTALL.exists():
        subprocess.run(["bash", str(INSTALL)], capture_output=True, check=False, timeout=900)
        found = _bin_dir()
    if found is None:
        _unavailable(
            "no initdb/pg_ctl in /usr/lib/postgresql/<version>/bin or on PATH "
            "(install with scripts/install-postgres.sh as root)"
        )
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser") is None:
        _unavailable("running as root and runuser (util-linux) is missing to start PostgreSQL as postgres")
    return ["runuser", "-u", "postgres", "--", *argv]


def _postmaster_pid(data: Path) -> int:
    return int((data / "postmaster.pid").read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The tests' server: fsync off, since a test's data need not survive a power cut."""
    yield from _run_server(durable=False)


@pytest.fixture(scope="session")
def durable_postgres_server() -> Iterator[PostgresServer]:
    """The benchmarks' server: fsync on, as SQLite's synchronous=FULL, so their figures compare."""
    yield from _run_server(durable=True)


def _run_server(durable: bool) -> Iterator[PostgresServer]:
    bin_dir = _find_or_install()
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no postgres user to run the server as")
    root = Path(tempfile.mkdtemp(prefix="openpcc-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        os.chown(root, server_user.pw_uid, server_user.pw_gid)
    user, port = "openpcc", _free_port()
    pid = 0
    try:
        init = subprocess.run(
            _as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust",
                             "-E", "UTF8", "--no-sync"]),
            capture_output=True, text=True, timeout=120, check=False,
        )
        if init.returncode != 0:
            _unavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
        fsync = "on" if durable else "off"
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync={fsync} -c max_connections=300"
        start = subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                             "-w", "-t", str(START_TIMEOUT_S), "start"]),
            capture_output=True, text=True, timeout=START_TIMEOUT_S + 30, check=False,
        )
        if start.returncode != 0:
            tail = log.read_text()[-300:] if log.exists() else start.stderr[-300:]
            _unavailable(f"pg_ctl start failed: {tail.strip()}")
        pid = _postmaster_pid(data)
        yield PostgresServer("127.0.0.1", port, user, pid)
    finally:
        if pid and _alive(pid):
            os.kill(pid, signal.SIGINT)  # "fast" shutdown: roll back open transactions, then exit
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
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
