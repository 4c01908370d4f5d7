"""Two stores of one role on one SQLite file (the bank's balances and its nonces), while another process
opens and closes the file: no committed write may be lost. Closing any descriptor of the file drops
every POSIX lock the process holds on it, so a backend that opened and closed the file itself (to
create it 0600) let the other process's close checkpoint and delete the WAL under live connections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from openpcc.services.store import open_backend

WRITE = "CREATE TABLE IF NOT EXISTS t (n INTEGER); INSERT INTO t VALUES ({n})"


def write(backend: object, n: int) -> None:
    with backend.transaction() as cur:  # type: ignore[attr-defined]
        for statement in WRITE.format(n=n).split("; "):
            cur.execute(statement)


def test_a_second_backend_and_another_process_lose_no_write(tmp_path: Path) -> None:
    database = f"sqlite:{tmp_path / 'store' / 'shared.sqlite3'}"
    first = open_backend(database)
    write(first, 1)
    second = open_backend(database)  # the role's other store on the same file
    try:
        for n in (2, 3, 4):
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"from openpcc.services.store import open_backend; open_backend({database!r}).close()",
                ],
                check=True,
                timeout=60,
            )
            write(first, n)
        check = open_backend(database)
        try:
            with check.transaction() as cur:
                cur.execute("SELECT n FROM t ORDER BY n")
                assert [row[0] for row in cur.fetchall()] == [1, 2, 3, 4]
        finally:
            check.close()
    finally:
        second.close()
        first.close()
