"""``Stack(replicas=2)`` (``openpcc up --replicas 2``): two gateways and two routers behind HAProxy on the
roles' ports, the router, bank and noncelock on one PostgreSQL the stack runs, every process stopped by
PID."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from openpcc import config
from openpcc.exceptions import SupervisorError, UsageError
from openpcc.services.supervisor import Stack
from support import edge
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.scaleout import (
    balance,
    cluster_dir,
    deposit_through,
    free_base_port,
    fresh_credit,
    gone,
    require_haproxy,
    router_overrides,
    wait_until,
)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return home


@contextmanager
def replicated_stack(home: Path, **kwargs) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    require_haproxy()
    root = cluster_dir()
    base = free_base_port()
    router = router_overrides()
    stack = Stack(home, base_port=base, echo_for_tests=True, replicas=2, postgres_dir=root,
                  currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes(), overrides={"router": router}, **kwargs)
    pids: list[int] = []
    try:
        stack.start(timeout=120)
        pids = [*stack.pids().values(), stack.pid("loadbalancer"), stack.pid("postgres")]
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)
        assert wait_until(lambda: all(gone(p) for p in pids), 15), "a process outlived stop()"


def test_the_first_run_describes_the_replicas_and_puts_shared_state_on_postgresql(home: Path) -> None:
    base = free_base_port()
    stack = Stack(home, base_port=base, echo_for_tests=True, replicas=3, postgres_dir=home / "pg",
                  currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes())
    tables = tomllib.loads(stack.config_path.read_text())
    assert tables["stack"]["replicas"] == 3
    assert tables["stack"]["gateway_replica_port"] == base + 30
    assert tables["stack"]["router_replica_port"] == base + 40
    assert tables["stack"]["postgres_port"] == base + 9
    for role in ("router", "bank", "noncelock"):
        assert tables[role]["database"].startswith("postgresql://openpcc@127.0.0.1:")
        assert "passfile=" in tables[role]["database"]
    assert "database" not in tables["auth"]
    # Clients, the relay and the nodes keep talking to the roles' own ports: the load balancer's.
    assert stack.url("gateway") == f"http://127.0.0.1:{base + 2}"
    assert stack.url("gateway", "3") == f"http://127.0.0.1:{base + 32}"
    assert tables["relay"]["gateway_url"] == stack.url("gateway") + "/"
    assert {label for label in stack.labels if label.startswith("gateway")} == {"gateway-1", "gateway-2", "gateway-3"}
    with pytest.raises(UsageError, match="replicas 1..3"):
        stack.pid("gateway")
    # A later run reads the file; asking for another count is refused with what to do.
    assert Stack(home).replication == stack.replication
    with pytest.raises(SupervisorError, match="describes 3 replica"):
        Stack(home, replicas=2)


def test_a_given_database_url_is_shared_and_no_server_is_run(home: Path) -> None:
    url = "postgresql://openpcc@db.internal:5432/openpcc?passfile=/etc/openpcc/pgpass"
    stack = Stack(home, base_port=free_base_port(), echo_for_tests=True, replicas=2, database=url,
                  currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes())
    tables = tomllib.loads(stack.config_path.read_text())
    assert tables["stack"]["database"] == url
    assert {tables[role]["database"] for role in ("router", "bank", "noncelock")} == {url}
    assert stack.replication is not None and not stack.replication.own_postgres
    assert "postgres" not in stack._ports()
    with pytest.raises(SupervisorError, match="another database"):
        Stack(home, database="postgresql://elsewhere/openpcc")


def test_bad_replica_requests_are_usage_errors(home: Path) -> None:
    with pytest.raises(UsageError):
        Stack(home, replicas=0)
    with pytest.raises(UsageError):
        Stack(home, replicas=config.MAX_REPLICAS + 1)
    with pytest.raises(UsageError):
        Stack(home, replicas=2, database="mysql://x")


def test_a_file_whose_shared_roles_are_not_on_postgresql_is_refused(home: Path) -> None:
    Stack(home, base_port=free_base_port(), echo_for_tests=True, currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes())
    path = home / "openpcc.toml"
    path.write_text(path.read_text() + "\n[stack]\nreplicas = 2\n")
    with pytest.raises(SupervisorError, match="router, bank, noncelock"):
        Stack(home)


def test_replicas_serve_through_the_relay_and_survive_a_gateway_killed_by_pid(home: Path) -> None:
    with replicated_stack(home) as stack:
        gateways = [stack.url("gateway", str(i)) for i in (1, 2)]
        assert len({edge.get(url, "/.well-known/ohttp-gateway")[2] for url in gateways}) == 1
        relay = stack.url("relay")
        token = os.urandom(32)
        deposit = fresh_credit()
        # Sealed to the key a replica publishes, posted to the relay in front of HAProxy.
        assert deposit_through(relay, token, deposit, key_source=gateways[0]) == 200
        assert deposit_through(relay, token, deposit, key_source=gateways[1]) == 410  # spent, whichever replica
        killed = stack.pid("gateway", "1")
        os.kill(killed, signal.SIGKILL)
        statuses = [deposit_through(relay, token, fresh_credit(), key_source=gateways[1]) for _ in range(5)]
        assert statuses == [200] * 5
        assert balance(stack.url("bank"), token) == 6 * 64
        # The supervisor brings the killed replica back under a new PID.
        stack.wait_healthy("gateway", "1", timeout=30)
        assert stack.pid("gateway", "1") != killed
        # HAProxy too: killed by PID, started again with the same configuration.
        balancer = stack.pid("loadbalancer")
        os.kill(balancer, signal.SIGKILL)
        assert wait_until(lambda: stack.pid("loadbalancer") != balancer, 30)
        assert wait_until(lambda: _answers(stack.url("gateway") + "/healthz"), 30)
        assert deposit_through(relay, token, fresh_credit(), key_source=gateways[1]) == 200


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def test_openpcc_up_refuses_a_bad_replica_count(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "openpcc", "up", "--home", str(tmp_path / "home"), "--replicas", "0"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "replicas must be 1..8" in done.stderr
