"""openpcc.bhttp: construction, encoding details, normalisation, streaming, round-trip properties."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc import bhttp
from openpcc.exceptions import BHTTPEncodeError, MalformedInputError, OpenPCCError

TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-!#$%&'*+.^_`|~", min_size=1, max_size=16
)
VALUE = st.binary(max_size=64).map(
    lambda b: bytes(c for c in b if c == 9 or (c >= 32 and c != 127))
)
FIELDS = st.lists(st.tuples(TOKEN.map(str.encode), VALUE), max_size=6)
CONTENT = st.one_of(st.binary(max_size=64), st.binary(min_size=500, max_size=9000))


@st.composite
def requests(draw: st.DrawFn) -> bhttp.Request:
    return bhttp.Request(
        method=draw(st.binary(max_size=10)),
        scheme=draw(st.binary(max_size=8)),
        authority=draw(st.binary(max_size=40)),
        path=draw(st.binary(max_size=100)),
        headers=draw(FIELDS),
        content=draw(CONTENT),
        trailers=draw(FIELDS),
    )


@st.composite
def responses(draw: st.DrawFn) -> bhttp.Response:
    infos = draw(st.lists(st.tuples(st.integers(100, 199), FIELDS), max_size=3))
    return bhttp.Response(
        status=draw(st.integers(200, 599)),
        headers=draw(FIELDS),
        content=draw(CONTENT),
        trailers=draw(FIELDS),
        informational=infos,
    )


MESSAGES = st.one_of(requests(), responses())
PADDING = st.one_of(st.none(), st.sampled_from([1, 16, 514, 532]), st.integers(1, 3000))


@settings(max_examples=300, deadline=None)
@given(
    message=MESSAGES,
    indeterminate=st.booleans(),
    pad=PADDING,
    chunk=st.sampled_from([4096, 532, 514, 64, 9]),
)
def test_encode_decode_identity(
    message: bhttp.Request | bhttp.Response, indeterminate: bool, pad: int | None, chunk: int
) -> None:
    data = bhttp.encode(
        message, indeterminate=indeterminate, pad_to_multiple_of=pad, max_encoded_chunk_len=chunk
    )
    if pad:
        assert len(data) % pad == 0
    framed = bhttp.decode_framed(data)
    assert framed.message == message
    assert framed.indeterminate == indeterminate
    unpadded = bhttp.encode(message, indeterminate=indeterminate, max_encoded_chunk_len=chunk)
    assert framed.padding_len == len(data) - len(unpadded)
    assert data[: len(unpadded)] == unpadded


@settings(max_examples=150, deadline=None)
@given(
    message=MESSAGES,
    indeterminate=st.booleans(),
    pad=PADDING,
    cuts=st.lists(st.integers(0, 20000), max_size=12),
)
def test_stream_decoder_matches_one_shot_for_any_split(
    message: bhttp.Request | bhttp.Response, indeterminate: bool, pad: int | None, cuts: list[int]
) -> None:
    data = bhttp.encode(message, indeterminate=indeterminate, pad_to_multiple_of=pad)
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    decoder = bhttp.StreamDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)] + decoder.finish()
    assert _assemble(events) == message


def _assemble(events: Sequence[object]) -> bhttp.Request | bhttp.Response:
    head = next(e for e in events if isinstance(e, bhttp.Head)).message
    content = b"".join(e.data for e in events if isinstance(e, bhttp.BodyChunk))
    trailers = next(e for e in events if isinstance(e, bhttp.Trailers)).fields
    assert isinstance(events[-1], bhttp.End)
    if isinstance(head, bhttp.Request):
        return head.replace(content=content, trailers=trailers)
    infos = [e for e in events if isinstance(e, bhttp.InformationalResponse)]
    return head.replace(content=content, trailers=trailers, informational=infos)


def test_known_length_layout() -> None:
    req = bhttp.Request(
        method="GET", scheme="https", authority="example.com", path="/", headers=[("a", "b")]
    )
    assert (
        bhttp.encode(req).hex()
        == "00034745540568747470730b6578616d706c652e636f6d012f" + "040161016200" + "00"
    )


def test_indeterminate_chunking_follows_the_reference() -> None:
    # 532 -> 530 data bytes per chunk (2-byte prefix), 514 -> 512, default 4096 -> 4094.
    for limit, data_max in [(532, 530), (514, 512), (4096, 4094)]:
        resp = bhttp.Response(content=b"x" * (data_max + 1))
        data = bhttp.encode(resp, indeterminate=True, max_encoded_chunk_len=limit)
        head = bytes.fromhex("0340c800")
        first = data[len(head) : len(head) + 2]
        assert int.from_bytes(first, "big") & 0x3FFF == data_max
        tail = data[len(head) + 2 + data_max :]
        assert tail == b"\x01x\x00\x00"


def test_padding_to_the_openpcc_multiples() -> None:
    resp = bhttp.Response(headers=[("content-type", "application/json")], content=b"hello world!")
    for multiple in (532, 514):
        data = bhttp.encode(resp, indeterminate=True, pad_to_multiple_of=multiple)
        assert len(data) == multiple
        unpadded = bhttp.encode(resp, indeterminate=True)
        assert data[: len(unpadded)] == unpadded
        assert set(data[len(unpadded) :]) == {0}
        assert bhttp.decode_framed(data).padding_len == multiple - len(unpadded)
    exact = bhttp.encode(resp)
    assert bhttp.encode(resp, pad_to_multiple_of=len(exact)) == exact


def test_conveniences() -> None:
    mapping: dict[str, str | bytes] = {"x-a": "1", "x-b": b"2"}
    a = bhttp.Request(method=b"POST", path="/v1/x", headers=mapping, content=bytearray(b"hi"))
    assert a.method == b"POST" and a.path == b"/v1/x" and a.content == b"hi"
    assert a.headers == [(b"x-a", b"1"), (b"x-b", b"2")]
    assert a.scheme == b"https" and a.authority == b""
    assert a.replace(path="/y").path == b"/y"
    assert a.replace(path="/y").headers == a.headers
    assert a == bhttp.Request(
        method="POST", path=b"/v1/x", headers=[("x-a", "1"), ("x-b", "2")], content="hi"
    )
    assert a != a.replace(content=b"other")
    r = bhttp.Response(204, informational=[bhttp.InformationalResponse(103, [("link", "</a>")])])
    assert r.status == 204 and r.informational[0].fields == [(b"link", b"</a>")]
    with pytest.raises(AttributeError):
        a.method = b"PUT"  # type: ignore[misc]
    with pytest.raises(TypeError):
        bhttp.Request(headers=[("a",)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        bhttp.Request(method=3)  # type: ignore[arg-type]


def test_repr_never_shows_content_or_values() -> None:
    secret = "s3cr3t-token-value"
    req = bhttp.Request(path="/" + secret, headers=[("authorization", secret)], content=secret)
    resp = bhttp.Response(
        headers=[("set-cookie", secret)], content=secret, trailers=[("x", secret)]
    )
    for obj in (req, resp, *bhttp.StreamDecoder().feed(bhttp.encode(req))):
        assert secret not in repr(obj)


def test_normalize_request_mirrors_the_reference() -> None:
    req = bhttp.Request(
        method="POST",
        authority="confsec-router.invalid",
        path="/api/v1/compute",
        headers=[
            ("User-Agent", "Go-http-client/1.1"),
            ("Host", "confsec-router.invalid"),
            ("X-Confsec-Foo", "2"),
            ("Content-Type", "application/json"),
            ("X-Confsec-Foo", "1"),
            ("Transfer-Encoding", "chunked"),
        ],
        content=b"{}",
    )
    out = bhttp.normalize_request(req)
    assert out.headers == [
        (b"content-length", b"2"),
        (b"content-type", b"application/json"),
        (b"user-agent", b"Go-http-client/1.1"),
        (b"x-confsec-foo", b"2"),
        (b"x-confsec-foo", b"1"),
    ]
    streamed = bhttp.normalize_request(
        req.replace(trailers=[("X-Refund", "5")]), indeterminate=True
    )
    assert (b"trailer", b"X-Refund") in streamed.headers
    assert all(name != b"content-length" for name, _ in streamed.headers)
    assert streamed.trailers == [(b"x-refund", b"5")]
    assert bhttp.normalize_request(bhttp.Request()).headers == []
    assert bhttp.normalize_request(bhttp.Request(method="PUT")).headers == [
        (b"content-length", b"0")
    ]


def test_normalize_response_mirrors_the_reference() -> None:
    resp = bhttp.Response(
        headers=[("Content-Type", "application/json"), ("Host", "x")], content=b"{}"
    )
    assert bhttp.normalize_response(resp).headers == [
        (b"content-length", b"2"),
        (b"content-type", b"application/json"),
        (b"host", b"x"),
    ]
    chunked = bhttp.normalize_response(
        resp.replace(trailers=[("X-Refund", "1")]), indeterminate=True
    )
    assert chunked.headers == [
        (b"content-type", b"application/json"),
        (b"host", b"x"),
        (b"trailer", b"X-Refund"),
    ]
    with pytest.raises(BHTTPEncodeError):
        bhttp.normalize_response(resp.replace(trailers=[("Content-Type", "x")]), indeterminate=True)
    with pytest.raises(BHTTPEncodeError):
        bhttp.normalize_response(bhttp.Response(204, content=b"x"))


def test_errors_are_typed() -> None:
    with pytest.raises(BHTTPEncodeError, match="field name"):
        bhttp.encode(bhttp.Request(headers=[("bad name", "x")]))
    with pytest.raises(BHTTPEncodeError, match="field value"):
        bhttp.encode(bhttp.Response(headers=[("x", "a\r\nb")]))
    with pytest.raises(BHTTPEncodeError, match="status"):
        bhttp.encode(bhttp.Response(99))
    with pytest.raises(BHTTPEncodeError, match="status"):
        bhttp.encode(bhttp.Response(informational=[(200, [])]))
    with pytest.raises(BHTTPEncodeError, match="padding"):
        bhttp.encode(bhttp.Response(), pad_to_multiple_of=0)
    with pytest.raises(BHTTPEncodeError, match="padding"):
        bhttp.encode(bhttp.Response(), pad_to_multiple_of=2**64 - 1)
    with pytest.raises(TypeError):
        bhttp.encode(b"not a message")  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError):
        bhttp.decode(b"\x09")
    assert issubclass(bhttp.BHTTPError, OpenPCCError)


def test_decode_request_and_response_check_the_kind() -> None:
    req, resp = bhttp.encode(bhttp.Request()), bhttp.encode(bhttp.Response())
    assert bhttp.decode_request(req) == bhttp.Request()
    assert bhttp.decode_response(resp) == bhttp.Response()
    with pytest.raises(bhttp.BHTTPDecodeError, match="request"):
        bhttp.decode_request(resp)
    with pytest.raises(bhttp.BHTTPDecodeError, match="response"):
        bhttp.StreamDecoder(expect="response").feed(req)


def test_large_bodies_from_many_threads() -> None:
    # Work above the GIL-release threshold, from several threads at once.
    body = bytes(range(256)) * 4096
    msg = bhttp.Response(content=body)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for indeterminate in (False, True):
                assert bhttp.decode(bhttp.encode(msg, indeterminate=indeterminate)).content == body
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_stream_decoder_reports_body_as_it_arrives() -> None:
    data = bhttp.encode(bhttp.Response(content=b"abcdef"), indeterminate=True)
    decoder = bhttp.StreamDecoder()
    assert decoder.indeterminate is None
    split = data.index(b"abc")
    first = decoder.feed(data[: split + 2])
    assert decoder.indeterminate is True
    assert [type(e) for e in first] == [bhttp.Head, bhttp.BodyChunk]
    assert first[1].data == b"ab"
    rest = decoder.feed(data[split + 2 :])
    assert [type(e) for e in rest] == [bhttp.BodyChunk, bhttp.Trailers, bhttp.End]
    assert decoder.is_complete and decoder.finish() == []
