"""A whole local stack for a test (:class:`openpcc.services.supervisor.Stack`): every role its own process
on a free block of loopback ports, the echo engine, every role's output kept in one file, every process
stopped by PID at the end (and checked gone).

    with echo_stack(tmp_path) as running:
        with openpcc.Client(running.stack.config_path) as client: ...
        assert canary not in running.all_output()
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpcc.services import supervisor
from openpcc.services.supervisor import PORT_OFFSETS, Stack

from .currency_key import TEST_CURRENCY_KEY_PEM

BLOCK = PORT_OFFSETS["node"] + supervisor.MAX_NODES
START_TIMEOUT_S = 120.0


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base_port() -> int:
    """A base port whose whole block is free now (bounded tries)."""
    for _ in range(50):
        base = random.randrange(20000, 60000 - BLOCK)
        if all(_free(base + i) for i in range(BLOCK)):
            return base
    raise RuntimeError("no free block of loopback ports")


def gone(pid: int) -> bool:
    """The process and its whole process group (a node's swtpm) are gone."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@dataclass
class RunningStack:
    stack: Stack
    home: Path
    output: Path  # every role's lines, prefixed with its label

    def port(self, role: str, name: str | None = None) -> int:
        return int(self.stack.url(role, name).rsplit(":", 1)[1])

    def all_output(self) -> str:
        """Every line every role printed (stdout and stderr), as the supervisor recorded it."""
        return self.output.read_text(errors="replace")

    def files_holding(self, needle: bytes) -> list[Path]:
        """Every file under the stack's home (logs, databases, key and wallet files, anything a role
        wrote) whose bytes hold ``needle``, and the output record if it does."""
        files = [self.output, *sorted(p for p in self.home.rglob("*") if p.is_file())]
        return [path for path in files if needle in path.read_bytes()]


@contextmanager
def echo_stack(workdir: Path, **kwargs: Any) -> Iterator[RunningStack]:
    """A stack with the echo engine in ``workdir/home``, started, yielded, stopped (every PID gone)."""
    home = workdir / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    output = workdir / "stack-output.txt"
    with open(output, "w") as sink:
        stack = Stack(
            home, base_port=free_base_port(), echo_for_tests=True,
            currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes(), log_stream=sink, **kwargs,
        )
        try:
            stack.start(timeout=START_TIMEOUT_S)
            yield RunningStack(stack, home, output)
        finally:
            pids = list(stack.pids().values())
            stack.stop()
            deadline = time.monotonic() + 10
            while not all(gone(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.1)
            left = [p for p in pids if not gone(p)]
            assert not left, f"processes outlived the stack: {left}"
