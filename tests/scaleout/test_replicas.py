"""Replicas side by side on the parts that exist today: two OHTTP gateways sharing one key directory and
two blind banks sharing one PostgreSQL (started by ``openpcc.services.pgserver``), each behind HAProxy
(``openpcc.services.loadbalancer``). Every process is its own, stopped by PID.

A credit deposited through one replica is refused through every other; concurrent double deposits spread
over the replicas credit once; a bank replica killed by PID leaves the others serving; the cluster keeps
its data across a restart and refuses connections without its password."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from openpcc import bhttp, config, ohttp
from openpcc.compute import encode_message
from openpcc.services import pgserver
from openpcc.services.loadbalancer import HAProxy, Pool, Timeouts
from support import edge
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.prerequisites import missing
from support.scaleout import (
    BINARY,
    b64,
    balance,
    cluster_dir,
    deposit_body,
    deposit_direct,
    deposit_through,
    fresh_credit,
    require_haproxy,
)
from support.servers import RoleProcess, free_port, role_process

LOOPBACK = "127.0.0.1"


@dataclass
class Replicated:
    gateways: list[edge.Proc]
    banks: list[RoleProcess]
    proxy: HAProxy
    gateway_front: str
    bank_front: str
    database: str


def bank_config(database: str, port: int, data_dir: Path) -> str:
    config.write_key_file(data_dir / "currency-key.pem", TEST_CURRENCY_KEY_PEM.read_bytes())
    return f'[bank]\nport = {port}\ndatabase = "{database}"\ndata_dir = "{data_dir}"\n'


def gateway_config(tmp: Path, index: int, port: int, keys_dir: Path, bank_front: str) -> Path:
    return edge.write_config(
        tmp / f"gateway-{index}.toml", "gateway", port=port, keys_dir=str(keys_dir), bank_url=bank_front,
        router_url=bank_front, manage_keys=index == 1, kem=0x0030, key_reload_secs=0.2, workers=1,
    )


@contextmanager
def replicated(tmp: Path, database: str) -> Iterator[Replicated]:
    """Two banks and two gateways on their own ports, HAProxy's two frontends before them."""
    require_haproxy()
    gateway_port, bank_port = free_port(), free_port()
    bank_front, gateway_front = f"http://{LOOPBACK}:{bank_port}", f"http://{LOOPBACK}:{gateway_port}"
    keys_dir = tmp / "shared-keys"
    with ExitStack() as stack:
        banks = []
        for i in (1, 2):
            port = free_port()
            banks.append(stack.enter_context(
                role_process("bank", bank_config(database, port, tmp / f"bank-{i}"), tmp / f"bank-{i}-run", port)))
        gateways = []
        for i in (1, 2):
            port = free_port()
            gateways.append(stack.enter_context(edge.role("gateway", gateway_config(tmp, i, port, keys_dir, bank_front))))
        proxy = HAProxy(
            [Pool("gateway", LOOPBACK, gateway_port, tuple((LOOPBACK, g.port) for g in gateways)),
             Pool("bank", LOOPBACK, bank_port, tuple((LOOPBACK, int(b.url.rsplit(":", 1)[1])) for b in banks))],
            tmp / "lb", Timeouts(check_interval=0.2, fall=1, rise=1),
        )
        stack.enter_context(proxy)
        for g in gateways:
            wait_healthy(g.url)
        yield Replicated(gateways, banks, proxy, gateway_front, bank_front, database)


def wait_healthy(url: str, attempts: int = 100) -> None:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy")


@pytest.fixture(scope="module")
def cluster(local_postgres: pgserver.LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    with replicated(tmp_path_factory.mktemp("replicas"), local_postgres.url) as r:
        yield r


def deposits_served(bank: RoleProcess) -> int:
    with urllib.request.urlopen(bank.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    pattern = r'^openpcc_bank_requests_total\{[^}]*route="/deposit"[^}]*\} (\S+)$'
    return int(sum(float(v) for v in re.findall(pattern, text, re.MULTILINE)))


def test_the_gateways_share_their_keys(cluster: Replicated) -> None:
    published = {edge.get(g.url, "/.well-known/ohttp-gateway")[2] for g in cluster.gateways}
    assert len(published) == 1
    # Sealed to the key gateway 1 publishes, opened by gateway 2.
    key = edge.key_config(cluster.gateways[0].url)
    reply = edge.send_plain(cluster.gateways[1].url, key, edge.inner_request(
        "confsec-bank.invalid", "/balance",
        encode_message("csprotos.BalanceRequest", {"accountToken": b64(os.urandom(32))}), headers=BINARY))
    assert reply.status == 200 and reply.response is not None and reply.response.status == 200


def test_a_credit_spent_through_one_replica_is_refused_through_every_other(cluster: Replicated) -> None:
    token, c = os.urandom(32), fresh_credit()
    assert deposit_through(cluster.gateway_front, token, c) == 200
    for gateway in cluster.gateways:
        assert deposit_through(gateway.url, token, c) == 410
    for bank in cluster.banks:
        assert deposit_direct(bank.url, token, c) == 410
    assert {balance(b.url, token) for b in cluster.banks} == {64}


def test_concurrent_double_deposits_over_both_replicas_credit_once(cluster: Replicated) -> None:
    token = os.urandom(32)
    credits = [fresh_credit() for _ in range(6)]
    before = [deposits_served(b) for b in cluster.banks]
    attempts = [c for c in credits for _ in range(2)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda c: deposit_through(cluster.gateway_front, token, c), attempts))
    # Exactly one deposit of each credit counts; its twin is refused as spent (410) or, racing it, locked (409).
    assert statuses.count(200) == 6 and set(statuses) <= {200, 409, 410}, statuses
    assert balance(cluster.banks[1].url, token) == 6 * 64
    served = [deposits_served(b) - n for b, n in zip(cluster.banks, before, strict=True)]
    assert sum(served) == 12 and min(served) > 0, served  # both replicas took part


def test_a_bank_replica_killed_by_pid_leaves_the_other_serving(
    local_postgres: pgserver.LocalPostgres, tmp_path: Path
) -> None:
    with replicated(tmp_path, local_postgres.url) as r:
        token = os.urandom(32)
        assert deposit_through(r.gateway_front, token, fresh_credit()) == 200
        os.kill(r.banks[0].pid, signal.SIGKILL)
        r.banks[0].proc.wait(10)
        statuses = [deposit_through(r.gateway_front, token, fresh_credit())
                    for _ in range(6)]
        assert statuses == [200] * 6
        assert balance(r.banks[1].url, token) == 7 * 64


def test_the_cluster_keeps_its_data_across_a_restart_and_wants_its_password(tmp_path: Path) -> None:
    try:
        import psycopg
    except ImportError:
        missing("psycopg (the PostgreSQL driver, the `postgres` extra) is not installed")
    root = cluster_dir()
    server = pgserver.LocalPostgres(root, free_port(), durable=False)
    try:
        server.start()
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v INTEGER)")
            conn.execute("INSERT INTO kept VALUES (7)")
        first_pid = server.pid
        server.stop()
        assert not _alive(first_pid)
        server.start()
        with psycopg.connect(server.url, autocommit=True) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == (7,)
        without_password = f"postgresql://{pgserver.ROLE}@{server.host}:{server.port}/{pgserver.DATABASE}"
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(without_password, connect_timeout=5, passfile="/dev/null")
        assert "password" not in server.url.split("?")[0]
        assert os.stat(server.passfile).st_mode & 0o077 == 0
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_key_file_written_by_the_managing_gateway_is_the_only_writer(cluster: Replicated) -> None:
    # Only gateway 1 manages keys; gateway 2 reads. Both answer with the same single active key window.
    windows = {edge.get(g.url, "/key-rotation-periods")[2] for g in cluster.gateways}
    assert len(windows) == 1


def test_one_sealed_deposit_replayed_to_every_replica_credits_once(cluster: Replicated) -> None:
    """The gateways' replay guard is per replica (docs/edge.md): a copy sent to another replica is
    forwarded, and the bank's shared nonce lock refuses it, so the account is credited once."""
    token, c = os.urandom(32), fresh_credit()
    key = edge.key_config(cluster.gateways[0].url)
    encoded = bhttp.encode(bhttp.normalize_request(edge.inner_request(
        "confsec-bank.invalid", "/deposit", deposit_body(token, c), headers=BINARY)), pad_to_multiple_of=532)
    sealed, context = ohttp.encapsulate_request(key, encoded)

    def post(url: str) -> tuple[int, int | None]:
        """(outer status, inner status when the gateway forwarded it)."""
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            conn.request("POST", "/", body=sealed, headers={"Content-Type": "message/ohttp-req"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                return resp.status, None
            return 200, bhttp.decode_response(context.decapsulate_response(body)).status
        finally:
            conn.close()

    assert post(cluster.gateways[0].url) == (200, 200)
    # Again at the same replica: its guard refuses it (400), or without the guard the bank does (410).
    assert post(cluster.gateways[0].url) in ((400, None), (200, 410))
    # At the other replica: forwarded, refused by the nonce the banks share.
    assert post(cluster.gateways[1].url) == (200, 410)
    assert post(cluster.gateway_front) in ((400, None), (200, 410))
    assert balance(cluster.banks[0].url, token) == 64
