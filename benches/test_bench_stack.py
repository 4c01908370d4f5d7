"""What the private path adds to a streamed answer, against calling the same echo engine directly, in the
same run:

* ``stack-stream-1`` / ``stack-stream-64``: streamed chat completions of ``TOKENS`` tokens, one at a time
  (``SEQUENTIAL`` of them) or 64 at once. ``openpcc`` is ``openpcc.AsyncClient`` through relay →
  gateway → router → compute node (every role its own process, the echo engine in the node, its request
  key in swtpm, or in software where swtpm is missing); the peer ``echo-direct`` is the same echo engine
  with the same per-token delay behind ``openpcc.services.engines.serve``, called over loopback HTTP.
  Each row's ``extra_info`` carries time to first token and inter-token latency, p50 and p99, in ms;
  ``benches/ratios.py`` prints them with what the private path adds (openpcc minus peer). The time
  column is the whole workload's.
* ``node-embedded-model-rss``: resident memory of a compute node process serving the embedded model after
  one private answer, against a bare ``llama_cpp.Llama`` process answering the same prompt.

The TPM's own operations are reported apart by ``test_bench_node_tpm.py``. The candidates the client
verified are cached (the evidence lifetime), so the measured requests do not fetch manifests; the first
request of each run warms that cache and is not counted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openpcc.client import AsyncChatStream, AsyncClient, ChatCompletion
from support.stack import RunningStack, echo_stack, embedded_model_stack

TOKENS = 32
TOKEN_DELAY_S = 0.002
SEQUENTIAL = 30
CONCURRENT = 64
PROMPT = " ".join(f"word{i}" for i in range(TOKENS))
MESSAGES = [{"role": "user", "content": PROMPT}]
CHAT = "/v1/chat/completions"


class Timings:
    """Per stream: when it was asked for, and when each text piece arrived (monotonic seconds)."""

    def __init__(self) -> None:
        self.ttft: list[float] = []
        self.itl: list[float] = []

    def add(self, started: float, arrivals: list[float]) -> None:
        assert arrivals, "a stream answered nothing"
        self.ttft.append(arrivals[0] - started)
        self.itl.extend(b - a for a, b in itertools.pairwise(arrivals))

    def record(self, benchmark: Any) -> None:
        for name, values in (("ttft", self.ttft), ("itl", self.itl)):
            benchmark.extra_info[f"{name}_p50_ms"] = round(_percentile(values, 50) * 1000, 3)
            benchmark.extra_info[f"{name}_p99_ms"] = round(_percentile(values, 99) * 1000, 3)
            benchmark.extra_info[f"{name}_samples"] = len(values)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(pct) - 1]


# --- the two ways to one echo engine --------------------------------------------------------------


async def _private_stream(client: AsyncClient, timings: Timings | None) -> None:
    started = time.monotonic()
    stream = await client.chat(MESSAGES, stream=True)
    assert isinstance(stream, AsyncChatStream)
    arrivals, text = [], ""
    try:
        async for piece in stream:
            arrivals.append(time.monotonic())
            text += piece
    finally:
        await stream.aclose()
    assert text == PROMPT
    if timings is not None:
        timings.add(started, arrivals)


async def _direct_stream(session: aiohttp.ClientSession, url: str, timings: Timings | None) -> None:
    started = time.monotonic()
    body = {"model": "echo", "stream": True, "messages": MESSAGES}
    arrivals, text, buffer = [], "", b""
    async with session.post(url + CHAT, json=body) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                data = event.removeprefix(b"data: ")
                if data == b"[DONE]":
                    continue
                for choice in json.loads(data).get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        arrivals.append(time.monotonic())
                        text += piece
    assert text == PROMPT
    if timings is not None:
        timings.add(started, arrivals)


async def _workload(one: Callable[[Timings | None], Awaitable[None]], streams: int, timings: Timings) -> None:
    await one(None)  # warm: connections, verified candidates
    if streams == 1:
        for _ in range(SEQUENTIAL):
            await one(timings)
    else:
        await asyncio.gather(*(one(timings) for _ in range(streams)))


def _run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=300))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with echo_stack(tmp_path_factory.mktemp("stack"), nodes=2, echo_token_delay=TOKEN_DELAY_S) as running:
        yield running


@pytest.fixture(scope="module")
def direct_engine() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "openpcc.services.engines.serve", "--engine", "echo",
         "--token-delay", str(TOKEN_DELAY_S)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while "listening on http://" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the echo engine server exited"
            assert time.monotonic() < deadline, "the echo engine server did not start"
        yield line.strip().rsplit(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.parametrize("streams", [1, CONCURRENT])
def test_stream_through_the_private_path(paired: Callable[[str, str], Any], stack: RunningStack, streams: int) -> None:
    timings = Timings()

    async def go() -> None:
        async with AsyncClient(stack.stack.config_path) as client:
            await _workload(lambda t: _private_stream(client, t), streams, timings)

    benchmark = paired(f"stack-stream-{streams}", "openpcc")
    benchmark.pedantic(lambda: _run(go()), rounds=1, iterations=1)
    timings.record(benchmark)


@pytest.mark.parametrize("streams", [1, CONCURRENT])
def test_stream_from_the_echo_engine_directly(
    paired: Callable[[str, str], Any], direct_engine: str, streams: int
) -> None:
    timings = Timings()

    async def go() -> None:
        connector = aiohttp.TCPConnector(limit=CONCURRENT)
        async with aiohttp.ClientSession(connector=connector) as session:
            await _workload(lambda t: _direct_stream(session, direct_engine, t), streams, timings)

    benchmark = paired(f"stack-stream-{streams}", "echo-direct")
    benchmark.pedantic(lambda: _run(go()), rounds=1, iterations=1)
    timings.record(benchmark)


# --- memory of a node with the embedded model -----------------------------------------------------

_RSS = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS:'))) / 1024"
LLAMA_PROCESS = f"""
import itertools
import json
from llama_cpp import Llama
from openpcc.services.engines.llama import shipped_model_path
llm = Llama(model_path=str(shipped_model_path()), n_ctx=2048, verbose=False, chat_format="chat_template.default")
llm.create_chat_completion(messages={MESSAGES!r}, temperature=0, max_tokens=8)
print(json.dumps({{"rss_mib": {_RSS}}}))
"""


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _model_installed() -> None:
    from openpcc.services.engines.llama import missing_prerequisite

    missing = missing_prerequisite()
    if missing is not None:
        message = f"embedded model not installed: looked for {missing}; run `make model`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_node_with_the_embedded_model_memory(paired: Callable[[str, str], Any], tmp_path: Path) -> None:
    _model_installed()
    rss: list[float] = []

    async def one_answer(config: Path) -> str:
        async with AsyncClient(config) as client:
            answer = await client.chat(MESSAGES, max_tokens=8, temperature=0)
            assert isinstance(answer, ChatCompletion)
            return answer.text

    def measure() -> None:
        with embedded_model_stack(tmp_path) as running:
            assert asyncio.run(asyncio.wait_for(one_answer(running.stack.config_path), timeout=300))
            rss.append(_rss_mib(running.stack.pid("node", "a")))

    benchmark = paired("node-embedded-model-rss", "openpcc")
    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info["rss_mib"] = round(max(rss), 1)


def test_bare_llama_process_memory(paired: Callable[[str, str], Any]) -> None:
    _model_installed()
    rss: list[float] = []

    def measure() -> None:
        out = subprocess.run([sys.executable, "-c", LLAMA_PROCESS], capture_output=True, check=True, timeout=300)
        rss.append(float(json.loads(out.stdout.decode().strip().splitlines()[-1])["rss_mib"]))

    benchmark = paired("node-embedded-model-rss", "llama-cpp-python Llama")
    benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info["rss_mib"] = round(max(rss), 1)
