"""openpcc.responses_api: the Responses request as a chat completion, and the answers back, checked
against the official SDK's own models (strict pydantic validation, not the SDK's lenient parsing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from openpcc.exceptions import EngineRequestError, UpstreamError
from openpcc.responses_api import (
    ResponseStreamTranslator,
    SSEDecoder,
    chat_request,
    response_from_chat,
)
from pydantic import TypeAdapter

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    obj: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        obj = obj | {"choices": [], "usage": usage}
    return sse(obj)


def events_of(data: bytes) -> list[dict[str, Any]]:
    decoded = list(SSEDecoder().feed(data))
    for event, payload in decoded:
        assert event == json.loads(payload)["type"]
    return [json.loads(payload) for _event, payload in decoded]


@pytest.mark.parametrize(("body", "param"), [
    ([], None),
    ({"input": "x"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": []}, "input"),
    ({"model": "m", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]},
     "input[0]"),
    ({"model": "m", "input": [{"type": "reasoning", "summary": []}]}, "input[0]"),
    ({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0]"),
    ({"model": "m", "input": "x", "tool_choice": {"type": "file_search"}}, "tool_choice"),
    ({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}, "text.format"),
    ({"model": "m", "input": "x", "instructions": ["not", "text"]}, "instructions"),
])
def test_requests_the_private_path_cannot_carry_are_400s(body: Any, param: str | None) -> None:
    with pytest.raises(EngineRequestError) as caught:
        chat_request(body)
    assert caught.value.status == 400 and caught.value.param == param


def test_request_fields_map_to_chat_fields() -> None:
    chat = chat_request({"model": "m", "instructions": "brief", "input": "hi", "max_output_tokens": 9,
                         "temperature": 0.5, "top_p": 0.9, "stream": True, "metadata": {"k": "v"}})
    assert chat == {"model": "m", "messages": [{"role": "system", "content": "brief"},
                                               {"role": "user", "content": "hi"}],
                    "temperature": 0.5, "top_p": 0.9, "metadata": {"k": "v"}, "max_tokens": 9,
                    "stream": True, "stream_options": {"include_usage": True}}


def test_parallel_function_calls_form_one_assistant_turn() -> None:
    chat = chat_request({"model": "m", "input": [
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": [{"type": "input_text", "text": "1"}]},
    ]})
    assert [m["role"] for m in chat["messages"]] == ["assistant", "tool"]
    assert [c["id"] for c in chat["messages"][0]["tool_calls"]] == ["a", "b"]
    assert chat["messages"][1] == {"role": "tool", "tool_call_id": "a", "content": "1"}


def test_whole_answer_with_text_and_a_tool_call_validates() -> None:
    chat = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "calling",
        "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    response = Response.model_validate(response_from_chat({"model": "m", "input": "x"}, chat))
    assert response.output_text == "calling" and response.status == "completed"
    call = response.output[1]
    assert call.type == "function_call" and call.call_id == "call_9" and call.arguments == '{"a":1}'
    assert response.usage is not None and response.usage.total_tokens == 7


def test_an_answer_that_is_not_a_chat_completion_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        response_from_chat({"model": "m"}, {"object": "something else"})


def test_streamed_text_in_pieces_of_any_size_validates_event_by_event() -> None:
    raw = (chunk({"role": "assistant", "content": ""}) + chunk({"content": "Hel"}) + chunk({"content": "lo"})
           + chunk({}, "stop") + chunk({}, usage={"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4})
           + b"data: [DONE]\n\n")
    translator = ResponseStreamTranslator({"model": "m", "input": "x"})
    out = b"".join(translator.feed(raw[i:i + 7]) for i in range(0, len(raw), 7)) + translator.finish()
    events = events_of(out)
    for event in events:
        EVENTS.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == ["Hel", "lo"]
    final = Response.model_validate(events[-1]["response"])
    assert events[-1]["type"] == "response.completed" and final.output_text == "Hello"
    assert final.usage is not None and final.usage.output_tokens == 2


def test_streamed_tool_call_gives_function_call_events() -> None:
    translator = ResponseStreamTranslator({"model": "m", "input": "x"})
    out = translator.feed(
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "f", "arguments": ""}}]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})
        + chunk({}, "tool_calls") + b"data: [DONE]\n\n") + translator.finish()
    events = events_of(out)
    for event in events:
        EVENTS.validate_python(event)
    kinds = [e["type"] for e in events]
    assert kinds.count("response.function_call_arguments.delta") == 2
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert done["arguments"] == '{"a":1}'
    final = Response.model_validate(events[-1]["response"])
    assert final.output[0].type == "function_call" and final.output[0].call_id == "call_1"


def test_token_limit_ends_incomplete_and_a_broken_stream_fails() -> None:
    limited = ResponseStreamTranslator({"model": "m", "input": "x"})
    events = events_of(limited.feed(chunk({"content": "a"}) + chunk({}, "length") + b"data: [DONE]\n\n")
                       + limited.finish())
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}

    broken = ResponseStreamTranslator({"model": "m", "input": "x"})
    events = events_of(broken.feed(chunk({"content": "a"})) + broken.finish())
    assert events[-1]["type"] == "response.failed"
    Response.model_validate(events[-1]["response"])


def test_an_event_that_is_not_json_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        ResponseStreamTranslator({"model": "m"}).feed(b"data: {not json\n\n")


def test_sse_decoder_bounds_an_event_without_end() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(UpstreamError):
        list(decoder.feed(b"data: " + b"x" * 100))
