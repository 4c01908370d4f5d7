"""The OpenAI Responses API (``POST /v1/responses``) carried over chat completions.

The engines behind a node answer ``/v1/chat/completions`` and ``/v1/completions`` only, so a Responses
request is rewritten into a chat completion (:func:`chat_request`), and the answer back into a Responses
object (:func:`response_from_chat`) or, for ``stream=true``, into the Responses event stream
(:class:`ResponseStreamTranslator`: ``response.created`` ... ``response.completed``), in the shapes the
official SDKs parse. Nothing is stored server-side, so ``previous_response_id`` and ``conversation`` are
refused; only text input and function tools are carried (others are refused with a 400 naming the field).

Errors are :class:`~openpcc.exceptions.EngineRequestError` (HTTP 400, the OpenAI error shape); messages name
fields, never their values.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping
from typing import Any

from openpcc.exceptions import EngineRequestError, UpstreamError

RESPONSES_PATH = "/v1/responses"
CHAT_PATH = "/v1/chat/completions"
_MESSAGE_ROLES = frozenset({"user", "system", "developer", "assistant"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
#: Responses fields that mean the same in a chat completion request.
_SAME_FIELDS = ("temperature", "top_p", "parallel_tool_calls", "user", "metadata", "safety_identifier")
_UNSUPPORTED_FIELDS = ("previous_response_id", "conversation", "prompt", "background")


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


# --- the request ----------------------------------------------------------------------------


def chat_request(body: Any) -> dict[str, Any]:
    """The chat completion request that answers the Responses request ``body`` (a parsed JSON value)."""
    if not isinstance(body, dict):
        raise EngineRequestError("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise EngineRequestError("'model' must be a non-empty string", param="model")
    for name in _UNSUPPORTED_FIELDS:
        if body.get(name) is not None:
            raise EngineRequestError(
                f"'{name}' is not supported: the private path keeps no conversation state", param=name
            )
    chat: dict[str, Any] = {"model": model, "messages": _messages(body)}
    for name in _SAME_FIELDS:
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if body.get("stream") is not None:
        chat["stream"] = body["stream"]
        if body["stream"] is True:
            chat["stream_options"] = {"include_usage": True}
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    return chat


def _messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise EngineRequestError("'instructions' must be a string", param="instructions")
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise EngineRequestError("'input' must be a non-empty string or array of items", param="input")
    for index, item in enumerate(items):
        _add_item(messages, item, f"input[{index}]")
    return messages


def _add_item(messages: list[dict[str, Any]], item: Any, param: str) -> None:
    if not isinstance(item, dict):
        raise EngineRequestError(f"{param} must be an object", param=param)
    kind = item.get("type", "message")
    if kind == "message" and item.get("role") in _MESSAGE_ROLES:
        messages.append({"role": item["role"], "content": _content(item.get("content"), param)})
    elif kind == "function_call":
        call = {
            "id": _string(item, "call_id", param), "type": "function",
            "function": {"name": _string(item, "name", param), "arguments": _string(item, "arguments", param)},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and "tool_calls" in last:
            last["tool_calls"].append(call)  # parallel calls form one assistant turn
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        content = output if isinstance(output, str) else _content(output, param)
        messages.append({"role": "tool", "tool_call_id": _string(item, "call_id", param), "content": content})
    else:
        raise EngineRequestError(
            f"{param}: only messages, function_call and function_call_output items are supported", param=param
        )


def _string(item: Mapping[str, Any], key: str, param: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise EngineRequestError(f"{param}.{key} must be a string", param=f"{param}.{key}")
    return value


def _content(content: Any, param: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise EngineRequestError(f"{param}.content must be a string or an array of text parts", param=param)
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS or not isinstance(part.get("text"), str):
            raise EngineRequestError(f"{param}.content supports only text parts", param=param)
        texts.append(part["text"])
    return "".join(texts)


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise EngineRequestError("'tools' must be an array", param="tools")
    out = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            raise EngineRequestError(f"tools[{index}]: only function tools are supported", param=f"tools[{index}]")
        function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise EngineRequestError("'tool_choice' must be auto, none, required or a function", param="tool_choice")


def _response_format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(fmt.get("schema"), dict):
        schema = {k: fmt[k] for k in ("name", "description", "schema", "strict") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": schema}
    raise EngineRequestError("'text.format' must be text, json_object or json_schema", param="text.format")


# --- the answer --------------------------------------------------------------------------------


def _usage(chat_usage: Any) -> dict[str, Any] | None:
    if not isinstance(chat_usage, dict):
        return None
    prompt = int(chat_usage.get("prompt_tokens") or 0)
    completion = int(chat_usage.get("completion_tokens") or 0)
    return {
        "input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


class _Shell:
    """The fields of a Responses object that come from the request."""

    def __init__(self, request: Mapping[str, Any]) -> None:
        self.id = _new_id("resp_")
        self.created_at = int(time.time())
        self.request = request

    def response(self, status: str, output: list[dict[str, Any]], usage: Any = None,
                 incomplete: str | None = None) -> dict[str, Any]:
        req = self.request
        text_format = req.get("text", {}).get("format") if isinstance(req.get("text"), dict) else None
        return {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "error": None, "incomplete_details": {"reason": incomplete} if incomplete else None,
            "instructions": req.get("instructions"), "max_output_tokens": req.get("max_output_tokens"),
            "model": req.get("model"), "output": output,
            "parallel_tool_calls": req.get("parallel_tool_calls", True),
            "temperature": req.get("temperature"), "top_p": req.get("top_p"),
            "tool_choice": req.get("tool_choice", "auto"), "tools": req.get("tools") or [],
            "text": {"format": text_format or {"type": "text"}},
            "metadata": req.get("metadata") or {}, "store": False, "usage": _usage(usage),
        }


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [part] if status != "in_progress" else []}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def _incomplete_reason(finish_reason: Any) -> str | None:
    return "max_output_tokens" if finish_reason == "length" else None


def response_from_chat(request: Mapping[str, Any], chat: Any) -> dict[str, Any]:
    """The Responses object for a non-streamed chat completion ``chat`` answering ``request``."""
    try:
        choice = chat["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise UpstreamError("the engine's answer is not a chat completion") from None
    output: list[dict[str, Any]] = []
    if message.get("content"):
        output.append(_message_item(_new_id("msg_"), message["content"], "completed"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        output.append(_call_item(_new_id("fc_"), str(call.get("id", "")), str(function.get("name", "")),
                                 str(function.get("arguments", "")), "completed"))
    reason = _incomplete_reason(choice.get("finish_reason"))
    return _Shell(request).response("incomplete" if reason else "completed", output, chat.get("usage"), reason)


# --- streams ----------------------------------------------------------------------------------


class SSEDecoder:
    """Splits a byte stream into server-sent events (``(event, data)`` pairs), whatever the piece sizes."""

    def __init__(self, max_event_bytes: int = 1 << 20) -> None:
        self._buffer = b""
        self._max = max_event_bytes

    def feed(self, data: bytes) -> Iterator[tuple[str | None, str]]:
        self._buffer += data.replace(b"\r\n", b"\n")
        while (end := self._buffer.find(b"\n\n")) >= 0:
            raw, self._buffer = self._buffer[:end], self._buffer[end + 2:]
            event, lines = None, []
            for line in raw.decode("utf-8", "replace").split("\n"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    event = value
                elif name == "data":
                    lines.append(value)
            if lines:
                yield event, "\n".join(lines)
        if len(self._buffer) > self._max:
            raise UpstreamError(f"a server-sent event exceeds {self._max} bytes")


def responses_event(obj: Mapping[str, Any]) -> bytes:
    """One Responses stream event as the OpenAI API frames it (``event:`` line, then ``data:``)."""
    return f"event: {obj['type']}\ndata: ".encode() + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


class ResponseStreamTranslator:
    """Turns a streamed chat completion (its SSE bytes, in pieces of any size) into the Responses events.

    Feed the bytes with :meth:`feed`, then call :meth:`finish` once they end; both return the bytes to send.
    A chat stream that ends without ``data: [DONE]`` ends the Responses stream with ``response.failed``.
    """

    def __init__(self, request: Mapping[str, Any]) -> None:
        self._shell = _Shell(request)
        self._decoder = SSEDecoder()
        self._sequence = 0
        self._started = False
        self._done = False
        self._text: tuple[int, str] | None = None  # (output index, item id) of the message being written
        self._texts: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}  # chat tool_call index -> its state
        self._output: list[dict[str, Any] | None] = []
        self._usage: Any = None
        self._finish_reason: Any = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        obj = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return responses_event(obj)

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        response = self._shell.response("in_progress", [])
        return [self._event("response.created", response=response),
                self._event("response.in_progress", response=response)]

    def feed(self, data: bytes) -> bytes:
        out = self._start()
        for _event, payload in self._decoder.feed(data):
            if self._done:
                continue
            if payload.strip() == "[DONE]":
                self._done = True
                continue
            try:
                chunk = json.loads(payload)
            except ValueError:
                raise UpstreamError("the engine's stream carries an event that is not JSON") from None
            out.extend(self._chunk(chunk))
        return b"".join(out)

    def _chunk(self, chunk: Any) -> list[bytes]:
        if not isinstance(chunk, dict):
            return []
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        out: list[bytes] = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.extend(self._text_delta(delta["content"]))
            for call in delta.get("tool_calls") or []:
                out.extend(self._call_delta(call))
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return out

    def _text_delta(self, text: str) -> list[bytes]:
        out = []
        if self._text is None:
            index, item_id = len(self._output), _new_id("msg_")
            self._text = (index, item_id)
            self._output.append(None)
            out.append(self._event("response.output_item.added", output_index=index,
                                   item=_message_item(item_id, "", "in_progress")))
            out.append(self._event("response.content_part.added", item_id=item_id, output_index=index,
                                   content_index=0, part={"type": "output_text", "text": "", "annotations": []}))
        index, item_id = self._text
        self._texts.append(text)
        out.append(self._event("response.output_text.delta", item_id=item_id, output_index=index,
                               content_index=0, delta=text, logprobs=[]))
        return out

    def _call_delta(self, call: Mapping[str, Any]) -> list[bytes]:
        position = call.get("index", 0)
        function = call.get("function") or {}
        out = []
        state = self._calls.get(position)
        if state is None:
            state = {"output_index": len(self._output), "id": _new_id("fc_"), "call_id": str(call.get("id", "")),
                     "name": str(function.get("name", "")), "arguments": ""}
            self._calls[position] = state
            self._output.append(None)
            out.append(self._event("response.output_item.added", output_index=state["output_index"],
                                   item=self._call_item(state, "in_progress")))
        if function.get("arguments"):
            state["arguments"] += function["arguments"]
            out.append(self._event("response.function_call_arguments.delta", item_id=state["id"],
                                   output_index=state["output_index"], delta=function["arguments"]))
        return out

    @staticmethod
    def _call_item(state: Mapping[str, Any], status: str) -> dict[str, Any]:
        return _call_item(state["id"], state["call_id"], state["name"], state["arguments"], status)

    def finish(self) -> bytes:
        """The closing events: every open item done, then ``response.completed`` (``incomplete`` when the
        engine stopped at the token limit, ``failed`` when its stream broke off)."""
        out = self._start()
        if not self._done:
            error = {"code": "server_error", "message": "the engine's stream ended early"}
            response = self._shell.response("failed", self._finished_output(), self._usage) | {"error": error}
            return b"".join([*out, self._event("response.failed", response=response)])
        out.extend(self._close_items())
        reason = _incomplete_reason(self._finish_reason)
        response = self._shell.response("incomplete" if reason else "completed", self._finished_output(),
                                        self._usage, reason)
        out.append(self._event("response.incomplete" if reason else "response.completed", response=response))
        return b"".join(out)

    def _close_items(self) -> list[bytes]:
        out = []
        if self._text is not None:
            index, item_id = self._text
            text = "".join(self._texts)
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out.append(self._event("response.output_text.done", item_id=item_id, output_index=index,
                                   content_index=0, text=text, logprobs=[]))
            out.append(self._event("response.content_part.done", item_id=item_id, output_index=index,
                                   content_index=0, part=part))
            out.append(self._event("response.output_item.done", output_index=index,
                                   item=_message_item(item_id, text, "completed")))
        for state in self._calls.values():
            out.append(self._event("response.function_call_arguments.done", item_id=state["id"],
                                   output_index=state["output_index"], arguments=state["arguments"]))
            out.append(self._event("response.output_item.done", output_index=state["output_index"],
                                   item=self._call_item(state, "completed")))
        return out

    def _finished_output(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any] | None] = list(self._output)
        if self._text is not None:
            items[self._text[0]] = _message_item(self._text[1], "".join(self._texts), "completed")
        for state in self._calls.values():
            items[state["output_index"]] = self._call_item(state, "completed")
        return [item for item in items if item is not None]
