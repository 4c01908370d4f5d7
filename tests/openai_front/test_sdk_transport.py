"""The official openai SDK over openpcc.httpx, answered by the real echo engine in this process.

What is under test here is the OpenAI front (checks before spending, Responses translation, error mapping,
streaming and closing through the SDK); tests/openai/test_e2e.py runs the same over a whole stack.
"""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from openai.types.responses import Response
from openpcc.exceptions import (
    AttestationError,
    NoVerifiedNodeError,
    PolicyRejectedError,
    RelayError,
    WalletEmptyError,
)
from openpcc.openai import AsyncOpenAI, OpenAI
from openpcc.services.engines.echo import EchoEngine
from support.engine_client import AsyncEngineClient, EngineClient

TEXT = "Private inference keeps prompts away from operators."
WORDS = ["Private", " inference", " keeps", " prompts", " away", " from", " operators."]


@pytest.fixture
def private() -> EngineClient:
    client = EngineClient(EchoEngine("echo"), model="echo")
    yield client
    client.close()


def sdk(private_client: EngineClient, **options: object) -> openai.OpenAI:
    return OpenAI(private_client=private_client, **options)  # type: ignore[arg-type]


def test_chat_completion_streamed_word_by_word(private: EngineClient) -> None:
    stream = sdk(private).chat.completions.create(
        model="echo", messages=[{"role": "user", "content": TEXT}], stream=True
    )
    deltas = [chunk.choices[0].delta.content for chunk in stream if chunk.choices]
    assert [d for d in deltas if d] == WORDS
    assert private.received[0][0] == "/v1/chat/completions"


def test_a_stream_read_to_done_is_drained_for_the_refund_not_abandoned(private: EngineClient) -> None:
    """The SDK stops reading at ``data: [DONE]``; the router's refund trailer comes after it."""
    stream = sdk(private).chat.completions.create(
        model="echo", messages=[{"role": "user", "content": TEXT}], stream=True)
    assert len([chunk for chunk in stream]) > len(WORDS)
    assert private.answers[0].exhausted and private.answers[0].closed


def test_async_stream_read_to_done_is_drained() -> None:
    async def main() -> AsyncEngineClient:
        private = AsyncEngineClient(EchoEngine("echo"), model="echo")
        client = AsyncOpenAI(private_client=private)
        stream = await client.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": TEXT}], stream=True)
        async for _chunk in stream:
            pass
        await client.close()
        return private

    private = asyncio.run(main())
    assert private.answers[0].exhausted and private.answers[0].closed


def test_chat_completion_whole(private: EngineClient) -> None:
    completion = sdk(private).chat.completions.create(model="echo", messages=[{"role": "user", "content": TEXT}])
    assert completion.choices[0].message.content == TEXT
    assert completion.usage is not None and completion.usage.completion_tokens == len(WORDS)


def test_text_completion(private: EngineClient) -> None:
    completion = sdk(private).completions.create(model="echo", prompt=TEXT, max_tokens=2)
    assert completion.choices[0].text == "Private inference"
    assert completion.choices[0].finish_reason == "length"


def test_responses_quick_start(private: EngineClient) -> None:
    response = sdk(private).responses.create(model="echo", instructions="be brief", input=TEXT)
    assert response.output_text == TEXT
    assert response.status == "completed"
    Response.model_validate(response.model_dump())  # every field the SDK's model requires is there
    path, body = private.received[0]
    assert path == "/v1/chat/completions"
    assert json.loads(body)["messages"] == [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": TEXT},
    ]


def test_responses_streamed(private: EngineClient) -> None:
    events = list(sdk(private).responses.create(model="echo", input=TEXT, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == WORDS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output_text == TEXT and final.usage is not None and final.usage.output_tokens == len(WORDS)


def test_responses_stream_helper(private: EngineClient) -> None:
    """The SDK's own accumulating helper (``responses.stream``) rebuilds the answer from our events."""
    with sdk(private).responses.stream(model="echo", input=TEXT) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == TEXT and final.output_text == TEXT


def test_responses_token_limit_is_incomplete(private: EngineClient) -> None:
    response = sdk(private).responses.create(model="echo", input=TEXT, max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == "Private inference keeps"


def test_tool_and_json_mode_bodies_reach_the_engine_unchanged(private: EngineClient) -> None:
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }}]
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "user", "content": "Answer in JSON."},
    ]
    client = sdk(private)
    client.chat.completions.create(model="echo", messages=messages, tools=tools, tool_choice="auto",
                                   response_format={"type": "json_object"}, seed=7)
    sent = json.loads(private.received[0][1])
    assert sent["tools"] == tools and sent["messages"] == messages
    assert sent["response_format"] == {"type": "json_object"} and sent["tool_choice"] == "auto"


def test_responses_tools_and_json_schema_become_chat_fields(private: EngineClient) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
              "additionalProperties": False}
    sdk(private).responses.create(
        model="echo", input=[
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ],
        tools=[{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}},
                "strict": True}],
        tool_choice={"type": "function", "name": "f"},
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}},
    )
    sent = json.loads(private.received[0][1])
    assert sent["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {}}, "strict": True}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert sent["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": schema, "strict": True}}


def test_models_lists_the_served_model(private: EngineClient) -> None:
    assert [m.id for m in sdk(private).models.list()] == ["echo"]


def test_unknown_model_is_not_found_before_any_spend(private: EngineClient) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        sdk(private, models=["echo"]).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found" and caught.value.param == "model"
    assert private.received == []


def test_malformed_request_is_a_bad_request_before_any_spend(private: EngineClient) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(private).chat.completions.create(model="echo", messages=[], temperature=5)
    assert caught.value.param in ("messages", "temperature")
    assert private.received == []


def test_oversized_prompt_is_413_and_echoes_nothing(private: EngineClient) -> None:
    prompt = "secret " * 200_000
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(private).chat.completions.create(model="echo", messages=[{"role": "user", "content": prompt}])
    assert caught.value.status_code == 413 and "secret" not in str(caught.value.body)
    assert private.received == []


def test_engine_error_keeps_the_openai_shape() -> None:
    private = EngineClient(EchoEngine("echo"), model=None)  # no model list: the engine decides
    try:
        with pytest.raises(openai.NotFoundError) as caught:
            sdk(private).chat.completions.create(model="other", messages=[{"role": "user", "content": "x"}])
        assert caught.value.code == "model_not_found"
        assert len(private.received) == 1
    finally:
        private.close()


def test_attestation_failure_is_a_502_naming_the_check_and_not_retried() -> None:
    failure = AttestationError("tdx.mrtd does not match the policy")
    private = EngineClient(EchoEngine("echo"), model="echo", failure=failure)
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            sdk(private).chat.completions.create(model="echo", messages=[{"role": "user", "content": "x"}])
        error = caught.value
        assert error.status_code == 502 and error.code == "attestation_failed"
        assert "tdx.mrtd" in error.message
        assert error.response.headers["x-should-retry"] == "false"
    finally:
        private.close()


def test_attestation_failure_is_asked_once_despite_sdk_retries() -> None:
    calls = []

    class Counting(EngineClient):
        def request(self, method: str, path: str, **options: object):  # type: ignore[no-untyped-def]
            calls.append(path)
            return super().request(method, path, **options)

    private = Counting(EchoEngine("echo"), model="echo", failure=AttestationError("sevsnp.policy: debug allowed"))
    try:
        with pytest.raises(openai.APIStatusError):
            sdk(private, max_retries=3).chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x"}])
        assert len(calls) == 1
    finally:
        private.close()


def test_no_credit_is_insufficient_quota() -> None:
    private = EngineClient(EchoEngine("echo"), model="echo", failure=WalletEmptyError("no credit of value 100"))
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            sdk(private, max_retries=0).chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x"}])
        assert caught.value.code == "insufficient_quota"
    finally:
        private.close()


def test_unreachable_private_path_is_a_connection_error() -> None:
    private = EngineClient(EchoEngine("echo"), model="echo", failure=RelayError(0, "connection refused"))
    try:
        with pytest.raises(openai.APIConnectionError):
            sdk(private, max_retries=0).chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x"}])
    finally:
        private.close()


def test_closing_a_stream_early_stops_the_engine() -> None:
    private = EngineClient(EchoEngine("echo", token_delay=0.01), model="echo")
    try:
        stream = sdk(private).chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "word " * 500}], stream=True)
        for _chunk in zip(range(3), stream, strict=False):
            pass
        stream.close()
        assert private.answers[0].closed and not private.answers[0].exhausted
    finally:
        private.close()


def test_async_sdk_concurrent_streams() -> None:
    async def main() -> list[str]:
        private = AsyncEngineClient(EchoEngine("echo", token_delay=0.001), model="echo")
        client = AsyncOpenAI(private_client=private)

        async def one(i: int) -> str:
            stream = await client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": f"stream {i} says hello"}], stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        try:
            return await asyncio.gather(*(one(i) for i in range(6)))
        finally:
            await client.close()
            await private.aclose()

    assert asyncio.run(main()) == [f"stream {i} says hello" for i in range(6)]


def test_async_responses_stream() -> None:
    async def main() -> list[str]:
        private = AsyncEngineClient(EchoEngine("echo"), model="echo")
        client = AsyncOpenAI(private_client=private)
        try:
            stream = await client.responses.create(model="echo", input=TEXT, stream=True)
            return [e.type async for e in stream]
        finally:
            await client.close()

    kinds = asyncio.run(main())
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_policy_rejection_names_the_failed_checks() -> None:
    failure = PolicyRejectedError("every node failed the policy: node-1: tpm.pcr[4]",
                                  {"node-1": ["tpm.pcr[4]"]})
    private = EngineClient(EchoEngine("echo"), model="echo", failure=failure)
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            sdk(private).responses.create(model="echo", input="x")
        assert caught.value.status_code == 502 and "tpm.pcr[4]" in caught.value.message
        assert caught.value.body["code"] == "attestation_failed"  # type: ignore[index]
    finally:
        private.close()


def test_a_model_no_node_serves_is_not_found() -> None:
    private = EngineClient(EchoEngine("echo"), model=None, failure=NoVerifiedNodeError("no node for this model"))
    try:
        with pytest.raises(openai.NotFoundError) as caught:
            sdk(private).chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        assert caught.value.code == "model_not_found"
    finally:
        private.close()


def test_an_answer_breaking_off_mid_stream_is_a_connection_error() -> None:
    private = EngineClient(EchoEngine("echo"), model="echo", break_after=3)
    try:
        stream = sdk(private, max_retries=0).chat.completions.create(
            model="echo", messages=[{"role": "user", "content": TEXT}], stream=True)
        with pytest.raises(openai.APIConnectionError):
            list(stream)
    finally:
        private.close()
