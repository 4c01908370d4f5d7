"""A PostgreSQL server a stack runs for its replicas: ``initdb`` once under a directory of its own,
``pg_ctl start`` on a loopback port, stopped by the postmaster's PID.

The cluster lives in ``<root>/data`` and keeps its data across starts. Connections need the password
``initdb`` was given (SCRAM, also on the Unix socket, which stays inside ``<root>``); the password is
kept in ``<root>/pgpass`` (mode 0600, the libpq password-file format) and the URL names that file
(``passfile=``), so the URL written into configuration files carries no secret.

Debian's server refuses to run as root: as root it runs as the ``postgres`` user (through
``runuser``), which then owns ``<root>`` and must be able to reach it (see :func:`reachable_by_postgres`).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Self
from urllib.parse import quote

from openpcc.exceptions import DatabaseServerError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SERVER_USER = "postgres"  # the account the server runs as when we are root
DATABASE = "openpcc"
ROLE = "openpcc"


def bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: Debian's newest, else the one on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for directory in reversed(candidates):
        if Path(directory, "initdb").exists() and Path(directory, "pg_ctl").exists():
            return Path(directory)
    initdb = shutil.which("initdb")
    if initdb is None:
        raise DatabaseServerError(
            "PostgreSQL is not installed: no initdb in /usr/lib/postgresql/<version>/bin or on PATH "
            "(Debian: apt-get install postgresql, or scripts/install-postgres.sh as root)"
        )
    return Path(initdb).resolve().parent


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as (``None``: ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise DatabaseServerError("running as root and there is no postgres user to run the server as") from None


def reachable_by_postgres(path: Path) -> bool:
    """Whether the server's account could reach ``path`` (always true when we are not root): every
    existing ancestor must let it search, e.g. not /root or pytest's 0700 base directory."""
    account = _server_account()
    if account is None:
        return True
    for ancestor in reversed(Path(path).resolve().parents):
        try:
            st = ancestor.stat()
        except FileNotFoundError:
            break
        if st.st_uid == account.pw_uid:
            continue
        allowed = 0o010 if st.st_gid == account.pw_gid else 0o001
        if not st.st_mode & allowed:
            return False
    return True


class LocalPostgres:
    """One cluster under ``root`` listening on ``host:port``; :meth:`start` initializes it when new."""

    def __init__(self, root: Path, port: int, *, host: str = "127.0.0.1", durable: bool = True,
                 max_connections: int = 200) -> None:
        self.root = Path(root).resolve()
        self.data = self.root / "data"
        self.passfile = self.root / "pgpass"
        self.log_path = self.root / "server.log"
        self.host, self.port = host, port
        self.durable = durable
        self.max_connections = max_connections
        self.pid = 0

    @property
    def url(self) -> str:
        """The ``openpcc`` database's URL; the password comes from :attr:`passfile`."""
        return (f"postgresql://{ROLE}@{self.host}:{self.port}/{DATABASE}"
                f"?passfile={quote(str(self.passfile), safe='/')}")

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        account = _server_account()
        if not reachable_by_postgres(self.root):
            raise DatabaseServerError(
                f"the postgres user cannot reach {self.root}; as root, put the cluster where it can (e.g. /var/lib)"
            )
        tools = bin_dir()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        if account is not None:
            os.chown(self.root, account.pw_uid, account.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._initdb(tools)
        self._pg_ctl_start(tools, timeout)
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        try:
            self._create_database()
        except BaseException:
            self.stop()
            raise

    def _as_server(self, argv: list[str]) -> list[str]:
        if _server_account() is None:
            return argv
        if shutil.which("runuser") is None:
            raise DatabaseServerError("running as root and runuser (util-linux) is missing")
        return ["runuser", "-u", SERVER_USER, "--", *argv]

    def _initdb(self, tools: Path) -> None:
        password = secrets.token_urlsafe(32)
        account = _server_account()
        pwfile = self.root / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        try:
            if account is not None:
                os.chown(pwfile, account.pw_uid, account.pw_gid)
            done = subprocess.run(
                self._as_server([str(tools / "initdb"), "-D", str(self.data), "-U", ROLE, "-E", "UTF8",
                                 "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-instructions",
                                 *([] if self.durable else ["--no-sync"])]),
                capture_output=True, text=True, timeout=180, check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            raise DatabaseServerError(f"initdb failed: {done.stderr.strip()[-300:]}")
        # The client side's copy, owned by whoever runs the roles.
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"*:*:*:{ROLE}:{password}\n")

    def _pg_ctl_start(self, tools: Path, timeout: float) -> None:
        options = (f"-c listen_addresses={self.host} -p {self.port} -k {self.root} "
                   f"-c fsync={'on' if self.durable else 'off'} -c max_connections={self.max_connections}")
        done = subprocess.run(
            self._as_server([str(tools / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_path), "-o", options,
                             "-w", "-t", str(int(timeout)), "start"]),
            capture_output=True, text=True, timeout=timeout + 30, check=False,
        )
        if done.returncode != 0:
            raise DatabaseServerError(f"PostgreSQL did not start: {self._log_tail() or done.stderr.strip()[-300:]}")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-300:].strip()
        except OSError:
            return ""

    def _create_database(self) -> None:
        try:
            import psycopg
        except ImportError:
            raise DatabaseServerError("the stack's PostgreSQL needs psycopg: pip install 'openpcc[postgres]'") from None
        admin = self.url.replace(f"/{DATABASE}?", "/postgres?")
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                    conn.execute(f'CREATE DATABASE "{DATABASE}"')
        except psycopg.Error as exc:
            raise DatabaseServerError(f"cannot create the {DATABASE} database: {type(exc).__name__}") from None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stops the postmaster by its PID: SIGINT (fast shutdown: open transactions roll back), then
        SIGKILL if it lingers."""
        pid, self.pid = self.pid, 0
        if not pid or not _alive(pid):
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: alive
        return True
    return True
