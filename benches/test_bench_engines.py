"""The embedded engine against llama-cpp-python's own high-level API, same model file, same run.

* ``engine-llama-32-tokens``: one chat completion of exactly 32 tokens at temperature 0 (greedy, so
  both produce the same tokens), through :class:`openpcc.services.engines.llama.LlamaEngine` (worker
  thread, asyncio queue, OpenAI framing) and through ``Llama.create_chat_completion`` called directly.
  Tokens/s = 32 x ops/s; ``extra_info["tokens_per_s"]`` carries it.
* ``engine-llama-process``: a fresh Python process that loads the model and answers 8 tokens, openpcc's
  engine against plain ``llama_cpp.Llama``; ``extra_info["rss_mib"]`` is the process's resident memory
  then (``VmRSS``), which ``benches/ratios.py`` prints in its memory table.

Without the model (``make model``) these skip naming what they looked for; with ``CI`` set they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from openpcc.services.engines.llama import DEFAULT_MODEL, LlamaEngine, missing_prerequisite

TOKENS = 32
MESSAGES = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]


@pytest.fixture(scope="module", autouse=True)
def _model_installed() -> None:
    missing = missing_prerequisite()
    if missing is not None:
        message = f"embedded model not installed: looked for {missing}; run `make model`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def ours() -> LlamaEngine:
    return LlamaEngine(context_tokens=2048, max_tokens=TOKENS)


@pytest.fixture(scope="module")
def peer(ours: LlamaEngine) -> Any:
    from llama_cpp import Llama

    return Llama(
        model_path=str(ours.model_path), n_ctx=2048, verbose=False, chat_format="chat_template.default"
    )


def _ours_once(engine: LlamaEngine) -> int:
    async def go() -> int:
        body = {"model": DEFAULT_MODEL, "messages": MESSAGES, "temperature": 0, "max_tokens": TOKENS}
        async with await engine.open("/v1/chat/completions", body) as answer:
            await answer.read()
        assert answer.usage is not None
        return answer.usage.completion_tokens

    return asyncio.run(go())


def _peer_once(llm: Any) -> int:
    out = llm.create_chat_completion(messages=MESSAGES, temperature=0, max_tokens=TOKENS)
    return int(out["usage"]["completion_tokens"])


def _record_rate(benchmark: Any) -> None:
    benchmark.extra_info["completion_tokens"] = TOKENS
    benchmark.extra_info["tokens_per_s"] = round(TOKENS / benchmark.stats.stats.median, 1)


def test_llama_tokens_openpcc(paired: Callable[[str, str], Any], ours: LlamaEngine) -> None:
    assert _ours_once(ours) == TOKENS
    benchmark = paired("engine-llama-32-tokens", "openpcc")
    benchmark.pedantic(_ours_once, args=(ours,), rounds=5, warmup_rounds=1)
    _record_rate(benchmark)


def test_llama_tokens_create_chat_completion(paired: Callable[[str, str], Any], peer: Any) -> None:
    assert _peer_once(peer) == TOKENS
    benchmark = paired("engine-llama-32-tokens", "llama-cpp-python create_chat_completion")
    benchmark.pedantic(_peer_once, args=(peer,), rounds=5, warmup_rounds=1)
    _record_rate(benchmark)


_RSS = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmRSS:'))) / 1024"

OURS_PROCESS = f"""
import asyncio, json
from openpcc.services.engines.llama import DEFAULT_MODEL, LlamaEngine
engine = LlamaEngine(max_tokens=8)
async def go():
    body = {{"model": DEFAULT_MODEL, "messages": {MESSAGES!r}, "temperature": 0, "max_tokens": 8}}
    async with await engine.open("/v1/chat/completions", body) as answer:
        await answer.read()
asyncio.run(go())
print(json.dumps({{"rss_mib": {_RSS}}}))
"""

PEER_PROCESS = f"""
import json
from llama_cpp import Llama
from openpcc.services.engines.llama import shipped_model_path
llm = Llama(model_path=str(shipped_model_path()), n_ctx=2048, verbose=False, chat_format="chat_template.default")
llm.create_chat_completion(messages={MESSAGES!r}, temperature=0, max_tokens=8)
print(json.dumps({{"rss_mib": {_RSS}}}))
"""


def _process(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=300)
    return float(json.loads(out.stdout.decode().strip().splitlines()[-1])["rss_mib"])


@pytest.mark.parametrize(("impl", "code"), [("openpcc", OURS_PROCESS), ("llama-cpp-python Llama", PEER_PROCESS)])
def test_llama_process_memory(paired: Callable[[str, str], Any], impl: str, code: str) -> None:
    benchmark = paired("engine-llama-process", impl)
    rss: list[float] = []
    benchmark.pedantic(lambda: rss.append(_process(code)), rounds=3)
    benchmark.extra_info["rss_mib"] = round(max(rss), 1)
