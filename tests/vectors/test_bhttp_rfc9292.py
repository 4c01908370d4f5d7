"""RFC 9292 examples (repository vectors, topic ``bhttp``): decode exactly, re-encode byte for byte."""

from __future__ import annotations

from typing import Any

import pytest
from openpcc import bhttp
from support.vectors import load_json


def _cases() -> list[dict[str, Any]]:
    return list(load_json("bhttp", "rfc9292-examples.json")["cases"])


def _latin1(text: str) -> bytes:
    return text.encode("latin-1")


def _fields(pairs: list[list[str]]) -> list[tuple[bytes, bytes]]:
    return [(_latin1(n), _latin1(v)) for n, v in pairs]


def _by_name(name: str) -> dict[str, Any]:
    return next(c for c in _cases() if c["name"] == name)


CASE_NAMES = [
    "ex-bink-request",
    "ex-bini-request",
    "ex-bini-response",
    "ex-bink-chunked",
    "ex-bink-request-truncated",
    "ex-bini-request-truncated",
    "rfc9458-request",
    "rfc9458-response",
]


def test_the_file_holds_the_cases_named_in_its_readme() -> None:
    assert [c["name"] for c in _cases()] == CASE_NAMES
    assert all(c["valid"] for c in _cases())


def _expected(case: dict[str, Any]) -> bhttp.Request | bhttp.Response:
    d = case["decoded"]
    if d["framing_indicator"] % 2 == 0:
        return bhttp.Request(
            method=_latin1(d["method"]),
            scheme=_latin1(d["scheme"]),
            authority=_latin1(d["authority"]),
            path=_latin1(d["path"]),
            headers=_fields(d["header_fields"]),
            content=_latin1(d["content"]),
            trailers=_fields(d["trailer_fields"]),
        )
    return bhttp.Response(
        status=d["status"],
        headers=_fields(d["header_fields"]),
        content=_latin1(d["content"]),
        trailers=_fields(d["trailer_fields"]),
        informational=[(i["status"], _fields(i["fields"])) for i in d["informational"]],
    )


@pytest.mark.parametrize("name", CASE_NAMES)
def test_decodes_to_the_listed_object(name: str) -> None:
    case = _by_name(name)
    data = bytes.fromhex(case["encoded"])
    framed = bhttp.decode_framed(data)
    d = case["decoded"]
    assert framed.indeterminate == (d["framing_indicator"] >= 2)
    assert framed.padding_len == d["padding_bytes"]
    assert framed.message == _expected(case)
    assert bhttp.decode(data) == framed.message
    # Attribute by attribute too, so a broken __eq__ cannot hide a difference.
    msg = framed.message
    assert msg.headers == _fields(d["header_fields"])
    assert msg.trailers == _fields(d["trailer_fields"])
    assert msg.content == _latin1(d["content"])
    if isinstance(msg, bhttp.Request):
        assert (msg.method, msg.scheme, msg.authority, msg.path) == tuple(
            _latin1(d[k]) for k in ("method", "scheme", "authority", "path")
        )
    else:
        assert msg.status == d["status"]
        assert [(i.status, i.fields) for i in msg.informational] == [
            (i["status"], _fields(i["fields"])) for i in d["informational"]
        ]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_reencodes_byte_for_byte(name: str) -> None:
    case = _by_name(name)
    d = case["decoded"]
    indeterminate = d["framing_indicator"] >= 2
    # Truncated cases are compared with the message they were cut from (README).
    original = _by_name(case.get("equivalent_to", name))
    reference = bytes.fromhex(original["encoded"])
    padding = original["decoded"]["padding_bytes"]
    unpadded = reference[: len(reference) - padding]
    encoded = bhttp.encode(_expected(case), indeterminate=indeterminate)
    if name.startswith("rfc9458-"):
        # These omit the empty header section, content and trailers (RFC 9292 §3.8); the
        # encoder always writes them, as the reference does: three zero-length prefixes.
        assert encoded == unpadded + b"\x00\x00\x00"
    else:
        assert encoded == unpadded
    if padding:
        padded = bhttp.encode(
            _expected(case), indeterminate=indeterminate, pad_to_multiple_of=len(reference)
        )
        assert padded == reference


@pytest.mark.parametrize("name", CASE_NAMES)
def test_stream_decoder_byte_by_byte(name: str) -> None:
    case = _by_name(name)
    data = bytes.fromhex(case["encoded"])
    decoder = bhttp.StreamDecoder()
    events: list[object] = []
    for i in range(len(data)):
        events.extend(decoder.feed(data[i : i + 1]))
    events.extend(decoder.finish())
    assert isinstance(events[-1], bhttp.End)
    heads = [e for e in events if isinstance(e, bhttp.Head)]
    assert len(heads) == 1
    content = b"".join(e.data for e in events if isinstance(e, bhttp.BodyChunk))
    trailers = [e for e in events if isinstance(e, bhttp.Trailers)]
    infos = [e for e in events if isinstance(e, bhttp.InformationalResponse)]
    expected = _expected(case)
    assert heads[0].message.headers == expected.headers
    assert content == expected.content
    assert trailers[0].fields == expected.trailers
    head = heads[0].message
    if isinstance(expected, bhttp.Response):
        assert isinstance(head, bhttp.Response)
        assert infos == expected.informational
        assert head.status == expected.status
    else:
        assert isinstance(head, bhttp.Request)
        assert head.path == expected.path
    assert decoder.padding_len == case["decoded"]["padding_bytes"]
    assert decoder.is_complete
