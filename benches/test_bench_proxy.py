"""``openpcc proxy`` against ``openpcc.Client`` directly, in the same run, over one local stack (``Stack``:
every role its own process, one echo-engine node on swtpm, the client verifying evidence over its own
nonce): the proxy's extra HTTP hop, JSON and server-sent-events framing on top of the same private path.

Groups (the ``variant`` column is direct median / proxy median; below 1: the proxy's cost):

* ``proxy: time to first token``: a streamed chat completion of one token, so the whole exchange is the
  time to its first (and only) token;
* ``proxy: chat completion, 16 tokens``: a complete non-streamed request; its ``ops/s`` is requests per
  second for one caller at a time.

Both sides spend one credit per request from wallets that withdraw 15 at a time without random waits
(``max_delay = 0``), so a refill falls into about one round in fifteen on either side. The proxy is its own
process (``python -m openpcc proxy``), reached over a keep-alive connection.

Run: ``pytest benches/test_bench_proxy.py --benchmark-enable --benchmark-only --benchmark-json=F`` then
``python benches/ratios.py F``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openpcc import config
from openpcc.client import ChatStream, Client
from openpcc.services.supervisor import Stack
from support.currency_key import TEST_CURRENCY_KEY_PEM
from support.prerequisites import missing
from support.scaleout import free_base_port, routable_nodes, router_overrides, wait_until
from support.servers import free_port

ROUNDS = 30
FAST_WALLET = {"max_delay": 0, "batch": 15, "concurrency": 1}
MESSAGES = [{"role": "user", "content": "one two three four five six seven eight nine ten eleven twelve"}]


class Running:
    def __init__(self, stack: Stack, proxy_port: int) -> None:
        self.stack = stack
        self.proxy_port = proxy_port


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    if not shutil.which("swtpm"):
        missing("swtpm is not installed (scripts/install-swtpm.sh installs it)")
    home = tmp_path_factory.mktemp("proxybench") / "home"
    home.mkdir(mode=0o700)
    base = free_base_port()
    stack = Stack(home, base_port=base, nodes=1, echo_for_tests=True, currency_key_pem=TEST_CURRENCY_KEY_PEM.read_bytes(),
                  overrides={"router": router_overrides()})
    proxy: subprocess.Popen[bytes] | None = None
    try:
        stack.start(timeout=180)
        assert wait_until(lambda: routable_nodes(stack.url("router")) == 1, 90), "the node never became routable"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(config.ENV_PREFIX)}
        env |= {config.HOME_ENV: str(home)} | {f"OPENPCC_CLIENT_{k.upper()}": str(v) for k, v in FAST_WALLET.items()}
        proxy = subprocess.Popen(
            [sys.executable, "-m", "openpcc", "proxy", "--config", str(stack.config_path), "--port", str(port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        assert proxy.stdout is not None
        assert b'"proxy"' in proxy.stdout.readline(), "the proxy did not start"
        yield Running(stack, port)
    finally:
        if proxy is not None and proxy.poll() is None:
            os.kill(proxy.pid, signal.SIGTERM)
            try:
                proxy.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(proxy.pid, signal.SIGKILL)
                proxy.wait(10)
        stack.stop()


@pytest.fixture(scope="module")
def direct(running: Running) -> Iterator[Client]:
    with Client(running.stack.config_path, **FAST_WALLET) as client:
        yield client


def _direct(client: Client, stream: bool, tokens: int) -> Callable[[], None]:
    def call() -> None:
        answer = client.chat(MESSAGES, model="echo", stream=stream, max_tokens=tokens)
        if stream:
            assert isinstance(answer, ChatStream)
            with answer:
                assert "".join(answer)
        else:
            assert answer.text  # type: ignore[union-attr]

    return call


def _through_proxy(conn: http.client.HTTPConnection, stream: bool, tokens: int) -> Callable[[], None]:
    body = json.dumps({"model": "echo", "messages": MESSAGES, "stream": stream, "max_tokens": tokens}).encode()

    def call() -> None:
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, data[:300]
        assert (b"data: [DONE]" in data) if stream else json.loads(data)["choices"]

    return call


CASES = {
    "proxy: time to first token": (True, 1),
    "proxy: chat completion, 16 tokens": (False, 16),
}


@pytest.mark.parametrize("group", list(CASES))
@pytest.mark.parametrize("impl", ["openpcc", "openpcc-proxy"])
def test_proxy_versus_client(paired: Any, running: Running, direct: Client, group: str, impl: str) -> None:
    stream, tokens = CASES[group]
    conn = http.client.HTTPConnection("127.0.0.1", running.proxy_port, timeout=120)
    try:
        call = _direct(direct, stream, tokens) if impl == "openpcc" else _through_proxy(conn, stream, tokens)
        call()  # candidates verified and connections open before the timing
        time.sleep(0.2)
        paired(group, impl).pedantic(call, rounds=ROUNDS, warmup_rounds=2)
    finally:
        conn.close()
