"""``openpcc proxy`` (ProxyServer) on loopback, answered by the real echo engine in this process; called
with the official openai SDK and with raw HTTP for the bad input the SDK would never send."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest
from openpcc.exceptions import PolicyRejectedError, UsageError
from openpcc.proxy import ProxyServer, is_loopback
from openpcc.services.engines.echo import EchoEngine
from support.engine_client import AsyncEngineClient
from support.proxy_runner import Running

TEXT = "one two three four five"


@pytest.fixture
def proxy() -> Iterator[Running]:
    running = Running(AsyncEngineClient(EchoEngine("echo", token_delay=0.002), model="echo"))
    yield running
    running.stop()


def post(proxy: Running, path: str, body: bytes, **headers: str) -> httpx2.Response:
    return httpx2.post(proxy.server.url + path, content=body, headers={"content-type": "application/json", **headers})


def test_sdk_streamed_chat_through_the_proxy(proxy: Running) -> None:
    stream = proxy.sdk().chat.completions.create(
        model="echo", messages=[{"role": "user", "content": TEXT}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == TEXT


def test_sdk_responses_through_the_proxy(proxy: Running) -> None:
    client = proxy.sdk()
    assert client.responses.create(model="echo", input=TEXT).output_text == TEXT
    events = list(client.responses.create(model="echo", input=TEXT, stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.output_text == TEXT


def test_text_completions_and_models(proxy: Running) -> None:
    client = proxy.sdk()
    assert client.completions.create(model="echo", prompt=TEXT).choices[0].text == TEXT
    assert [m.id for m in client.models.list()] == ["echo"]
    assert client.models.retrieve("echo").id == "echo"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


def test_sse_framing_is_the_openai_apis(proxy: Running) -> None:
    answer = post(proxy, "/v1/chat/completions", json.dumps(
        {"model": "echo", "messages": [{"role": "user", "content": "hi there"}], "stream": True}).encode())
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    events = answer.text.split("\n\n")
    assert events[-2] == "data: [DONE]" and all(e.startswith("data: ") for e in events[:-1])


@pytest.mark.parametrize(("body", "status", "param"), [
    (b"{not json", 400, None),
    (b"[1, 2]", 400, None),
    (b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model"),
    (b'{"model": "echo", "messages": "hello"}', 400, "messages"),
    (b'{"model": "echo", "messages": [{"role": "wizard", "content": "x"}]}', 400, "messages.[0]"),
    (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}', 400, "max_tokens"),
])
def test_malformed_bodies_get_openai_errors_and_spend_nothing(
    proxy: Running, body: bytes, status: int, param: str | None
) -> None:
    answer = post(proxy, "/v1/chat/completions", body)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert proxy.private.received == []


def test_unknown_model_with_a_model_list_is_refused_before_any_spend() -> None:
    running = Running(AsyncEngineClient(EchoEngine("echo"), model="echo"), models=["echo"])
    try:
        answer = post(running, "/v1/chat/completions",
                      b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}')
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "model_not_found"
        assert running.private.received == []
    finally:
        running.stop()


def test_unknown_model_without_a_list_is_the_nodes_404(proxy: Running) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        proxy.sdk().chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found" and caught.value.param == "model"


def test_oversized_prompt_is_413_and_not_echoed(proxy: Running) -> None:
    secret = "hunter2-" * 150_000
    answer = post(proxy, "/v1/chat/completions", json.dumps(
        {"model": "echo", "messages": [{"role": "user", "content": secret}]}).encode())
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"
    assert "hunter2" not in answer.text and proxy.private.received == []


def test_unknown_endpoint_and_method(proxy: Running) -> None:
    assert post(proxy, "/v1/embeddings", b"{}").json()["error"]["code"] == "unknown_url"
    assert httpx2.get(proxy.server.url + "/v1/chat/completions").status_code == 404


def test_policy_failure_is_a_502_the_sdk_does_not_retry() -> None:
    failure = PolicyRejectedError("every node failed the policy: node-a: tdx.mrtd", {"node-a": ["tdx.mrtd"]})
    running = Running(AsyncEngineClient(EchoEngine("echo"), model="echo", failure=failure))
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            running.sdk(max_retries=3).chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x"}])
        assert caught.value.status_code == 502 and "tdx.mrtd" in caught.value.message
        assert caught.value.response.headers["x-should-retry"] == "false"
    finally:
        running.stop()


def test_abandoned_stream_stops_the_engine(proxy: Running) -> None:
    body = json.dumps({"model": "echo", "messages": [{"role": "user", "content": "word " * 2000}],
                       "stream": True}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with socket.create_connection((proxy.server.host, proxy.server.port), timeout=10) as sock:
        sock.sendall(request)
        seen = b""
        while b"data: " not in seen:
            piece = sock.recv(4096)
            assert piece, "the proxy closed before the first event"
            seen += piece
    deadline = time.monotonic() + 10
    while not (proxy.private.answers and proxy.private.answers[0].closed) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proxy.private.answers[0].closed and proxy.server.abandoned == 1


def test_bearer_token_required_when_set() -> None:
    running = Running(AsyncEngineClient(EchoEngine("echo"), model="echo"), token="s3cret-token")
    try:
        with pytest.raises(openai.AuthenticationError) as caught:
            running.sdk(api_key="wrong").models.list()
        assert caught.value.code == "invalid_api_key" and "s3cret" not in caught.value.message
        assert [m.id for m in running.sdk(api_key="s3cret-token").models.list()] == ["echo"]
    finally:
        running.stop()


def test_off_loopback_needs_a_token() -> None:
    with pytest.raises(UsageError):
        ProxyServer(AsyncEngineClient(EchoEngine("echo")), host="0.0.0.0")
    assert ProxyServer(AsyncEngineClient(EchoEngine("echo")), host="0.0.0.0", token="t").host == "0.0.0.0"
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def test_concurrent_streams_through_the_proxy(proxy: Running) -> None:
    async def main() -> list[str]:
        client = openai.AsyncOpenAI(base_url=proxy.base_url, api_key="unused")

        async def one(i: int) -> str:
            stream = await client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": f"caller {i} here"}], stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        try:
            return await asyncio.gather(*(one(i) for i in range(8)))
        finally:
            await client.close()

    assert asyncio.run(main()) == [f"caller {i} here" for i in range(8)]


def test_an_answer_breaking_off_mid_stream_ends_with_an_error_event() -> None:
    running = Running(AsyncEngineClient(EchoEngine("echo"), model="echo", break_after=3))
    try:
        stream = running.sdk(max_retries=0).chat.completions.create(
            model="echo", messages=[{"role": "user", "content": TEXT}], stream=True)
        with pytest.raises(openai.APIError) as caught:
            list(stream)
        assert "broke off" in caught.value.message and TEXT not in caught.value.message
    finally:
        running.stop()
