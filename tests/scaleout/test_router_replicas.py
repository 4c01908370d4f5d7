"""Two routers on one PostgreSQL (started by ``openpcc.services.pgserver``), each its own process, and a
compute node (echo engine, swtpm) that heartbeats to the first only: the second learns the node from the
shared registry and routes to it, a credit spent at one is refused at the other, and the second keeps
routing after the first is killed by PID."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpcc import config
from openpcc.services import pgserver
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.prerequisites import missing
from support.scaleout import fresh_credit, seal_chat, send_compute
from support.servers import RoleProcess, free_port, role_process

DEV_POLICY = Path(__file__).resolve().parents[2] / "policies" / "dev.toml"


def toml(table: str, values: dict[str, Any]) -> str:
    return "\n".join([f"[{table}]", *(f"{k} = {json.dumps(v)}" for k, v in values.items())]) + "\n"


def router_toml(port: int, workdir: Path, database: str) -> str:
    key = workdir / "keys" / "currency-key.pem"
    if not key.exists():
        config.write_key_file(key, TEST_CURRENCY_KEY_PEM.read_bytes())
    return toml("router", {
        "port": port, "database": database, "currency_key_file": str(key), "policy": str(DEV_POLICY),
        "health_interval_secs": 0.2, "health_timeout_secs": 1.0, "health_retries": 1, "request_timeout": 5.0,
    })


def routable(router: RoleProcess) -> float:
    with urllib.request.urlopen(router.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = re.search(r"^openpcc_router_routable_nodes ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_node_admitted_by_one_router_is_routed_by_the_other(
    local_postgres: pgserver.LocalPostgres, tmp_path: Path
) -> None:
    if not shutil.which("swtpm"):
        missing("swtpm is not installed (scripts/install-swtpm.sh installs it)")
    database = local_postgres.url
    first_port, second_port, node_port = free_port(), free_port(), free_port()
    with (
        role_process("router", router_toml(first_port, tmp_path / "r1", database), tmp_path / "r1", first_port) as first,
        role_process("router", router_toml(second_port, tmp_path / "r2", database), tmp_path / "r2", second_port) as second,
        # Heartbeats an hour apart, to the first router only: the second can learn the node only from the store.
        role_process("node", toml("node.a", {"port": node_port, "engine": "echo", "router_url": first.url,
                                             "heartbeat_interval": 3600.0, "evidence_quotes_per_second": 20.0}),
                     tmp_path / "node", node_port, ("--name", "a")) as node,
    ):
        wait_for(lambda: routable(first) == 1, "the first router admitting the node")
        wait_for(lambda: routable(second) == 1, "the second router learning the node from the store")
        spent = fresh_credit(1024)
        assert send_compute(second.url, seal_chat(node.url, "through the second router"), spent)[0] == 200
        # The credit's nonce is in the shared database: the other router refuses it.
        assert send_compute(first.url, seal_chat(node.url, "the same credit again"), spent) == (410, "402")
        first.kill()
        assert send_compute(second.url, seal_chat(node.url, "after the first router died"), fresh_credit(1024))[0] == 200
