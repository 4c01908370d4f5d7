"""Starting a role as its own process for a test: free loopback port, wait for /healthz, stop by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RoleProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> int:
        """SIGTERM by PID, then wait; SIGKILL if it does not stop in time. Returns the exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        return int(self.proc.returncode)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the role exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the role was not ready within {READY_TIMEOUT_S}s: {log.read_text()[-2000:]}")


@contextmanager
def role_process(
    role: str, config_text: str, workdir: Path, port: int, extra_args: tuple[str, ...] = ()
) -> Iterator[RoleProcess]:
    """Runs ``openpcc <role> --config FILE [extra_args]`` in its own process until the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / f"{role}-{port}.toml"
    config_file.write_text(config_text)
    log = workdir / f"{role}-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPCC_")}
    env["OPENPCC_HOME"] = str(workdir / "home")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "openpcc", role, "--config", str(config_file), *extra_args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    running = RoleProcess(proc, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(proc, running.url, log)
        yield running
    finally:
        running.terminate()
