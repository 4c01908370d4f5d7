"""The echo engine: the OpenAI framing every engine shares, exact token counts, limits, cancellation."""

from __future__ import annotations

import asyncio
import json

import pytest
from openpcc.exceptions import (
    EndpointNotFoundError,
    EngineRequestError,
    ModelNotFoundError,
)
from openpcc.services.engines.base import SSE_DONE, Usage, error_body, word_tokens
from openpcc.services.engines.echo import EchoEngine

from .helpers import async_test, chunks, collect, split_events, streamed_text

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
TEXT = "The quick brown fox jumps over the lazy dog"


def chat(content: str = TEXT, **extra: object) -> dict[str, object]:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": content}]
    return {"model": "echo", "messages": messages, **extra}


@async_test
async def test_chat_stream_is_framed_as_openai_with_one_event_per_token() -> None:
    async with await EchoEngine().open(CHAT, chat(stream=True)) as answer:
        assert answer.content_type == "text/event-stream"
        pieces = await collect(answer)
    assert pieces[-1] == SSE_DONE
    assert all(p.startswith(b"data: ") and p.endswith(b"\n\n") for p in pieces)
    objs = chunks(b"".join(pieces))
    assert objs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {o["object"] for o in objs} == {"chat.completion.chunk"}
    assert len({o["id"] for o in objs}) == 1 and objs[0]["id"].startswith("chatcmpl-")
    assert [o["choices"][0]["delta"].get("content") for o in objs[1:-1]] == word_tokens(TEXT)
    assert objs[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert streamed_text(objs) == TEXT
    assert all("usage" not in o for o in objs)  # not asked for
    assert answer.usage == Usage(prompt_tokens=2 + 9, completion_tokens=9)


@async_test
async def test_include_usage_adds_null_usage_and_a_final_usage_chunk() -> None:
    body = chat(stream=True, stream_options={"include_usage": True})
    async with await EchoEngine().open(CHAT, body) as answer:
        objs = chunks(b"".join(await collect(answer)))
    assert all(o["usage"] is None for o in objs[:-1])
    assert objs[-1]["choices"] == []
    assert objs[-1]["usage"] == {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}


@async_test
async def test_non_stream_chat_is_one_json_body_with_usage() -> None:
    async with await EchoEngine().open(CHAT, chat()) as answer:
        assert answer.content_type == "application/json"
        body = json.loads(await answer.read())
    assert body["object"] == "chat.completion"
    assert body["choices"] == [{
        "index": 0, "message": {"role": "assistant", "content": TEXT}, "logprobs": None, "finish_reason": "stop",
    }]
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}


@async_test
async def test_completions_endpoint_stream_and_body() -> None:
    engine = EchoEngine()
    async with await engine.open(COMPLETIONS, {"model": "echo", "prompt": "a b c", "stream": True}) as answer:
        objs = chunks(b"".join(await collect(answer)))
    assert {o["object"] for o in objs} == {"text_completion"}
    assert [o["choices"][0]["text"] for o in objs] == ["a", " b", " c", ""]
    assert objs[-1]["choices"][0]["finish_reason"] == "stop"
    async with await engine.open(COMPLETIONS, {"model": "echo", "prompt": ["a b c"]}) as answer:
        body = json.loads(await answer.read())
    assert body["choices"][0]["text"] == "a b c" and body["usage"]["completion_tokens"] == 3


@async_test
async def test_max_tokens_cuts_with_finish_reason_length() -> None:
    async with await EchoEngine().open(CHAT, chat(max_tokens=3)) as answer:
        body = json.loads(await answer.read())
    assert body["choices"][0]["message"]["content"] == "The quick brown"
    assert body["choices"][0]["finish_reason"] == "length"
    assert answer.usage == Usage(11, 3)


@async_test
async def test_engine_cap_applies_when_the_request_asks_more() -> None:
    async with await EchoEngine(max_tokens=2).open(CHAT, chat(max_completion_tokens=50)) as answer:
        body = json.loads(await answer.read())
    assert body["choices"][0]["message"]["content"] == "The quick"
    assert answer.usage == Usage(11, 2)


@async_test
async def test_stop_sequence_cuts_the_answer_even_across_tokens() -> None:
    async with await EchoEngine().open(CHAT, chat(stream=True, stop=["s ov"])) as answer:
        objs = chunks(b"".join(await collect(answer)))
    assert streamed_text(objs) == "The quick brown fox jump"
    assert objs[-1]["choices"][0]["finish_reason"] == "stop"
    # the token holding the stop sequence was generated, so it counts
    assert answer.usage == Usage(11, 6)


@async_test
async def test_closing_early_stops_generation_and_freezes_counts() -> None:
    engine = EchoEngine(token_delay=0.01)
    answer = await engine.open(CHAT, chat(" ".join(["word"] * 200), stream=True))
    received = []
    async for piece in answer:
        received.append(piece)
        if len(received) == 4:  # role chunk + 3 tokens
            break
    await answer.aclose()
    assert answer.finished
    frozen = answer.usage
    assert frozen is not None and frozen.completion_tokens == 3
    await asyncio.sleep(0.1)
    assert answer.usage == frozen


@async_test
async def test_cancelling_the_consuming_task_stops_generation() -> None:
    engine = EchoEngine(token_delay=0.01)
    answer = await engine.open(CHAT, chat(" ".join(["word"] * 500), stream=True))
    got = asyncio.Event()

    async def consume() -> None:
        async with answer:
            async for _piece in answer:
                got.set()

    task = asyncio.create_task(consume())
    await got.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert answer.finished
    frozen = answer.usage
    assert frozen is not None and 0 < frozen.completion_tokens < 500
    await asyncio.sleep(0.1)
    assert answer.usage == frozen


@async_test
async def test_token_delay_paces_the_stream() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await EchoEngine(token_delay=0.02).open(CHAT, chat("a b c d e", stream=True)) as answer:
        await collect(answer)
    assert loop.time() - started >= 5 * 0.02


@pytest.mark.parametrize(
    ("path", "body", "error", "param"),
    [
        (CHAT, [], EngineRequestError, None),
        (CHAT, {"messages": [{"role": "user", "content": "x"}]}, EngineRequestError, "model"),
        (CHAT, {"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}, ModelNotFoundError, "model"),
        (CHAT, {"model": "echo", "messages": []}, EngineRequestError, "messages"),
        (CHAT, {"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}, EngineRequestError, "messages.[0]"),
        (CHAT, {"model": "echo", "messages": [{"role": "user", "content": 5}]}, EngineRequestError, "messages.[0]"),
        (CHAT, {"model": "echo", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
         EngineRequestError, "messages.[0]"),
        (CHAT, chat(stream="yes"), EngineRequestError, "stream"),
        (CHAT, chat(stream_options={"include_usage": True}), EngineRequestError, "stream_options"),
        (CHAT, chat(max_tokens=0), EngineRequestError, "max_tokens"),
        (CHAT, chat(max_tokens=True), EngineRequestError, "max_tokens"),
        (CHAT, chat(temperature=3), EngineRequestError, "temperature"),
        (CHAT, chat(top_p="1"), EngineRequestError, "top_p"),
        (CHAT, chat(stop=["a", "b", "c", "d", "e"]), EngineRequestError, "stop"),
        (CHAT, chat(stop=[""]), EngineRequestError, "stop"),
        (CHAT, chat(n=2), EngineRequestError, "n"),
        (COMPLETIONS, {"model": "echo", "prompt": ["a", "b"]}, EngineRequestError, "prompt"),
        (COMPLETIONS, {"model": "echo", "prompt": [1, 2, 3]}, EngineRequestError, "prompt"),
        ("/v1/embeddings", {"model": "echo", "input": "x"}, EndpointNotFoundError, None),
    ],
)
@async_test
async def test_bad_requests_raise_typed_errors_before_any_byte(
    path: str, body: object, error: type[Exception], param: str | None
) -> None:
    with pytest.raises(error) as raised:
        await EchoEngine().open(path, body)
    exc = raised.value
    assert exc.param == param  # type: ignore[attr-defined]
    obj = error_body(exc)  # type: ignore[arg-type]
    assert set(obj["error"]) == {"message", "type", "param", "code"}
    assert obj["error"]["type"] == "invalid_request_error"
    assert exc.status == (404 if error in (ModelNotFoundError, EndpointNotFoundError) else 400)  # type: ignore[attr-defined]


@async_test
async def test_error_texts_never_quote_the_request() -> None:
    secret = "canary-7f3a"
    bodies = [
        {"model": secret, "messages": [{"role": "user", "content": secret}]},
        {"model": "echo", "messages": [{"role": secret, "content": secret}]},
        chat(secret, temperature=secret),
        chat(secret, stop=[secret] * 5),
    ]
    for body in bodies:
        with pytest.raises((EngineRequestError, ModelNotFoundError)) as raised:
            await EchoEngine().open(CHAT, body)
        assert secret not in json.dumps(error_body(raised.value))  # type: ignore[arg-type]


def test_sse_split_helper_rejects_bad_framing() -> None:
    with pytest.raises(AssertionError):
        split_events(b"data: {}\n")


def test_echo_request_answers_the_body_it_received() -> None:
    engine = EchoEngine("echo")
    body = {"model": "echo", "messages": [{"role": "user", "content": "/echo-request"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], "response_format": {"type": "json_object"}}

    async def main() -> bytes:
        async with await engine.open(CHAT, body) as answer:
            return await answer.read()

    text = json.loads(asyncio.run(main()))["choices"][0]["message"]["content"]
    assert json.loads(text) == body
