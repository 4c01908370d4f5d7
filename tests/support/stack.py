"""A whole local stack for a test (:class:`openpcc.services.supervisor.Stack`): every role its own process
on a free block of loopback ports, the echo engine, every role's output kept in one file, every process
stopped by PID at the end (and checked gone).

    with echo_stack(tmp_path) as running:
        with openpcc.Client(running.stack.config_path) as client: ...
        assert canary not in running.all_output()
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import socket
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpcc.exceptions import PortInUseError
from openpcc.services import supervisor
from openpcc.services.supervisor import PORT_OFFSETS, Stack

from .currency_key import TEST_CURRENCY_KEY_PEM

BLOCK = PORT_OFFSETS["node"] + supervisor.MAX_NODES
START_TIMEOUT_S = 120.0
ROUTABLE_TIMEOUT_S = 60.0
PORT_ATTEMPTS = 3


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
        base = random.randrange(20000, 32000 - BLOCK)  # below the ephemeral range (32768+)
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

    def metric(self, role: str, name: str, labels: str = "", node: str | None = None) -> float:
        """One sample of a role's ``/metrics`` (0 when absent)."""
        with urllib.request.urlopen(self.stack.url(role, node) + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
        selector = re.escape("{" + labels + "}") if labels else ""
        found = re.search(rf"^{re.escape(name)}{selector} ([0-9.e+-]+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def wait_routable(self, count: int, timeout: float = ROUTABLE_TIMEOUT_S) -> None:
        """Until the router routes exactly ``count`` nodes (admitted on evidence, graded healthy)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.metric("router", "openpcc_router_routable_nodes") == count:
                    return
            time.sleep(0.2)
        with urllib.request.urlopen(self.stack.url("router") + "/metrics", timeout=10) as resp:
            router = [line for line in resp.read().decode().splitlines()
                      if line.startswith(("openpcc_router_admi", "openpcc_router_routable"))]
        tail = [line for line in self.output.read_text(errors="replace").splitlines()
                if "/metrics" not in line and "/_health" not in line][-30:]
        raise AssertionError(f"the router did not route {count} nodes within {timeout}s; router: {router}; "
                             "output:\n" + "\n".join(tail))

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
    """A stack with the echo engine in ``workdir/home``, started, yielded, stopped (every PID gone). The
    client's wallet does not wait between bank operations (``max_delay = 0``) unless ``settings`` say."""
    settings = kwargs.pop("settings", None) or {}
    settings["client"] = {"max_delay": 0.0, **settings.get("client", {})}
    with local_stack(workdir, settings=settings, echo_for_tests=True, **kwargs) as running:
        yield running


@contextmanager
def embedded_model_stack(workdir: Path, nodes: int = 1) -> Iterator[RunningStack]:
    """A stack whose nodes run the embedded model (``make model`` installs it)."""
    with local_stack(workdir, settings={"client": {"max_delay": 0.0}}, engine="llama", nodes=nodes) as running:
        yield running


def set_settings(config_path: Path, table: str, **settings: Any) -> None:
    """Changes settings of one table (``"router"``, ``"node.a"``) of the stack's ``openpcc.toml``
    before the stack starts (or before the role restarts)."""
    tables = tomllib.loads(config_path.read_text())
    target = tables
    for part in table.split("."):
        target = target.setdefault(part, {})
    target.update(settings)
    config_path.write_text(supervisor.to_toml(tables))


def _router_defaults(stack: Stack) -> None:
    """What the router needs that the first-run config may not set yet: the spending settings the banks
    use, the node policy the client pins, and health checks quick enough for a test; and the client's
    wallet inside the stack's home (each set only where the config has no value of its own)."""
    tables = tomllib.loads(stack.config_path.read_text())
    router, bank = tables.get("router", {}), tables.get("bank", {})
    wanted = {
        "currency_key_file": bank.get("currency_key_file"), "noncelock_url": bank.get("noncelock_url"),
        "policy": tables.get("client", {}).get("node_policy"),
        "health_interval_secs": 1.0, "health_min_checks": 1,
    }
    missing_values = {k: v for k, v in wanted.items() if k not in router and v is not None}
    if missing_values:
        set_settings(stack.config_path, "router", **missing_values)
    if "data_dir" not in tables.get("client", {}):
        # Else the wallet lives under the *test process's* home (~/.local/share/openpcc), shared by
        # every run and holding credits of other stacks' currency keys.
        set_settings(stack.config_path, "client", data_dir=str(stack.paths.client_dir))


def prepare_config(stack: Stack, settings: dict[str, dict[str, Any]] | None = None) -> None:
    """The first-run config made ready for a test: router and client defaults, then ``settings``."""
    _router_defaults(stack)
    for table, values in (settings or {}).items():
        set_settings(stack.config_path, table, **values)


@contextmanager
def local_stack(workdir: Path, settings: dict[str, dict[str, Any]] | None = None,
                **kwargs: Any) -> Iterator[RunningStack]:
    """A :class:`Stack` in ``workdir/home`` with ``settings`` (``{table: {key: value}}``) applied to its
    first-run config before it starts. A port block that another process took between the choice and
    the start (other test runs share the machine) is given up for a fresh one, a few times."""
    for attempt in range(PORT_ATTEMPTS):
        home = workdir / ("home" if attempt == 0 else f"home-{attempt}")
        home.mkdir(mode=0o700, exist_ok=True)
        output = workdir / ("stack-output.txt" if attempt == 0 else f"stack-output-{attempt}.txt")
        with open(output, "w") as sink:
            stack = Stack(
                home, base_port=free_base_port(), currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes(),
                log_stream=sink, **kwargs,
            )
            prepare_config(stack, settings)
            try:
                try:
                    stack.start(timeout=START_TIMEOUT_S)
                except PortInUseError:
                    if attempt + 1 < PORT_ATTEMPTS:
                        continue
                    raise
                running = RunningStack(stack, home, output)
                running.wait_routable(len(stack.layout.node_names))
                yield running
                return
            finally:
                _stop_all(stack)


def _stop_all(stack: Stack) -> None:
    pids = list(stack.pids().values())
    stack.stop()
    deadline = time.monotonic() + 10
    while not all(gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in pids if not gone(p)]
    assert not left, f"processes outlived the stack: {left}"
