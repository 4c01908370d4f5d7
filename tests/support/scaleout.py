"""Prerequisites of the scale-out tests: HAProxy, and a PostgreSQL cluster run by the library's own
server helper (``openpcc.services.pgserver``), each stopped by its PID.

A missing HAProxy or PostgreSQL skips naming what was looked for (``scripts/install-netdeps.sh``,
``scripts/install-postgres.sh``), or fails when ``CI`` is set.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpcc.exceptions import DatabaseServerError, LoadBalancerError
from openpcc.services import loadbalancer, pgserver

from .prerequisites import missing
from .servers import free_port


def require_haproxy() -> str:
    try:
        return loadbalancer.haproxy_binary()
    except LoadBalancerError as exc:
        missing(f"HAProxy: {exc}")


def cluster_dir() -> Path:
    """A fresh directory the server's account can reach (as root: under /tmp, owned by postgres)."""
    root = Path(tempfile.mkdtemp(prefix="openpcc-scale-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(pgserver.SERVER_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    return root


@pytest.fixture(scope="module")
def local_postgres() -> Iterator[pgserver.LocalPostgres]:
    """A cluster started by :class:`pgserver.LocalPostgres` (fsync off: test data), for the module."""
    try:
        pgserver.bin_dir()
    except DatabaseServerError as exc:
        missing(f"PostgreSQL: {exc}")
    root = cluster_dir()
    server = pgserver.LocalPostgres(root, free_port(), durable=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
