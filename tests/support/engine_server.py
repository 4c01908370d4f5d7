"""An OpenAI-compatible server (``openpcc.services.engines.serve``) in its own
process on a free loopback port, stopped by its PID."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL by PID (the upstream dying), then reap it."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()


def _read_listening_line(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            byte = os.read(proc.stdout.fileno(), 1)
            if not byte:
                break
            line += byte
        elif proc.poll() is not None:
            break
    text = line.decode().strip()
    if not text.startswith("listening on "):
        raise RuntimeError(f"the engine server did not start (exit {proc.poll()}): {text!r}")
    return text.removeprefix("listening on ")


@contextmanager
def engine_server(*args: str) -> Iterator[ServerProcess]:
    """``python -m openpcc.services.engines.serve ARGS`` on a free loopback port until the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPCC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "openpcc.services.engines.serve", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env,
    )
    server = ServerProcess(proc, "")
    try:
        server.url = _read_listening_line(proc)
        yield server
    finally:
        server.stop()
        if proc.stdout is not None:
            proc.stdout.close()

