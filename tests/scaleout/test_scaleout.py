"""The scale-out test: ``Stack(replicas=2)`` runs two gateways and two routers behind HAProxy and two
compute nodes (echo engine, swtpm), the router, bank and noncelock on one PostgreSQL the stack runs,
every role its own process. ``openpcc.AsyncClient`` sends streamed chats through relay → HAProxy →
gateways → HAProxy → routers → nodes; mid-stream one router is killed by PID (SIGKILL).

It shows: the requests spread over both gateways and both routers; every stream that did not pass
through the killed router completes, and requests sent after the kill all complete; each request
reached a node once (nothing resent by the load balancer, so no credit is spent twice), and a credit
spent through one router is refused by the other; both admitted nodes stay routable at the surviving
router (and at the killed one once the supervisor restarts it, from the shared store)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpcc.client import AsyncChatStream, AsyncClient
from openpcc.services.supervisor import Stack
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.prerequisites import missing
from support.scaleout import (
    cluster_dir,
    free_base_port,
    fresh_credit,
    gone,
    require_haproxy,
    router_overrides,
    seal_chat,
    send_compute,
    wait_until,
)

STREAMS = 6
AFTER_KILL = 4
TOKENS = 40
TOKEN_DELAY_S = 0.1  # each answer streams for about four seconds: long enough to be cut


def metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def gauge(url: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+-]+)$", metrics(url), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def counter_sum(url: str, name: str, labels: str = "") -> float:
    pattern = rf"^{name}\{{[^}}]*{labels}[^}}]*\}} ([0-9.e+-]+)$" if labels else rf"^{name}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$"
    return sum(float(v) for v in re.findall(pattern, metrics(url), re.MULTILINE))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    require_haproxy()
    if not shutil.which("swtpm"):
        missing("swtpm is not installed (scripts/install-swtpm.sh installs it)")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    root = cluster_dir()
    base = free_base_port()
    router = router_overrides()
    nodes = {name: {"heartbeat_interval": 2.0, "evidence_quotes_per_second": 20.0} for name in "ab"}
    built = Stack(home, base_port=base, nodes=2, echo_for_tests=True, echo_token_delay=TOKEN_DELAY_S, replicas=2,
                  postgres_dir=root, currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes(),
                  overrides={"router": router, "node": nodes})
    pids: list[int] = []
    try:
        built.start(timeout=180)
        pids = [*built.pids().values(), built.pid("loadbalancer"), built.pid("postgres")]
        yield built
    finally:
        built.stop()
        shutil.rmtree(root, ignore_errors=True)
        assert wait_until(lambda: all(gone(p) for p in pids), 20), "a process outlived stop()"


def routers(stack: Stack) -> list[str]:
    return [stack.url("router", str(i)) for i in (1, 2)]


def node_answers(stack: Stack) -> float:
    """Compute requests the nodes took, whatever their outcome (a resent request would count twice)."""
    return sum(counter_sum(stack.url("node", n), "openpcc_node_requests_total", 'route="/"')
               for n in ("a", "b"))


async def one_chat(client: AsyncClient, text: str, started: asyncio.Event | None = None) -> str:
    stream = await client.chat([{"role": "user", "content": text}], model="echo", stream=True, max_tokens=TOKENS)
    assert isinstance(stream, AsyncChatStream)
    pieces = []
    async for piece in stream:
        pieces.append(piece)
        if started is not None:
            started.set()
    return "".join(pieces)


def test_two_of_each_behind_haproxy_survive_a_router_killed_mid_stream(stack: Stack) -> None:
    first, second = routers(stack)
    for url in (first, second):
        assert wait_until(lambda u=url: gauge(u, "openpcc_router_routable_nodes") == 2, 90), "nodes not routable"
    answered_before = node_answers(stack)

    async def scenario() -> tuple[list[object], int, list[object]]:
        async with AsyncClient(stack.config_path, max_delay=0, concurrency=STREAMS) as client:
            started = [asyncio.Event() for _ in range(STREAMS)]
            tasks = [asyncio.create_task(one_chat(client, f"stream {i} " + "word " * TOKENS, started[i]))
                     for i in range(STREAMS)]
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 120)
            # Every stream is under way; those the first router carries are cut by its death.
            through_first = int(gauge(first, "openpcc_router_active_streams"))
            assert through_first + int(gauge(second, "openpcc_router_active_streams")) == STREAMS
            os.kill(stack.pid("router", "1"), signal.SIGKILL)
            cut = await asyncio.gather(*tasks, return_exceptions=True)
            after = await asyncio.gather(*(one_chat(client, f"after {i}") for i in range(AFTER_KILL)),
                                         return_exceptions=True)
            return cut, through_first, after

    cut, through_first, after = asyncio.run(asyncio.wait_for(scenario(), 300))
    completed = [r for r in cut if isinstance(r, str)]
    failed = [r for r in cut if not isinstance(r, str)]
    # Both routers carried streams (leastconn spreads them); exactly the first router's were lost.
    assert 0 < through_first < STREAMS, through_first
    assert len(failed) == through_first, (through_first, [type(e).__name__ for e in failed])
    assert all(text.startswith("stream ") for text in completed)
    assert [f"{type(r).__name__}: {r}" for r in after if not isinstance(r, str)] == []
    # Each request reached a node exactly once: nothing was resent, so no credit could be spent twice.
    assert node_answers(stack) - answered_before == STREAMS + AFTER_KILL, [
        line for n in ("a", "b") for line in metrics(stack.url("node", n)).splitlines() if "requests_total" in line]
    # The gateways shared the work too.
    served = [counter_sum(stack.url("gateway", str(i)), "openpcc_gateway_requests_total") for i in (1, 2)]
    assert min(served) > 0, served
    # No admitted node is lost: the survivor routes both; the killed router, restarted by the supervisor,
    # finds them in the shared store.
    assert gauge(second, "openpcc_router_routable_nodes") == 2
    stack.wait_healthy("router", "1", timeout=60)
    assert wait_until(lambda: gauge(first, "openpcc_router_routable_nodes") == 2, 60)


def test_a_credit_spent_through_one_router_replica_is_refused_by_the_other(stack: Stack) -> None:
    first, second = routers(stack)
    for url in (first, second):
        assert wait_until(lambda u=url: gauge(u, "openpcc_router_routable_nodes") == 2, 90), "nodes not routable"
    node = stack.url("node", "a")
    spent = fresh_credit(1024)
    assert send_compute(first, seal_chat(node, "once"), spent)[0] == 200
    assert send_compute(second, seal_chat(node, "twice"), spent) == (410, "402")
    assert send_compute(stack.url("router"), seal_chat(node, "through the balancer"), spent) == (410, "402")
