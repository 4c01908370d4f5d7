"""openpcc.ohttp: the response form follows the response. All four request/response pairings on both
suites the reference uses, through the media-type APIs (``RequestOpener``, ``ResponseSealer``,
``ResponseOpener``) and the form-specific ones; request chunk limits."""

from __future__ import annotations

import pytest
from openpcc import ohttp
from openpcc.exceptions import ChunkTooLargeError

KEMS = [ohttp.X25519_KEM, ohttp.REFERENCE_KEM]
FORMS = [False, True]  # chunked?


@pytest.fixture(scope="module", params=KEMS, ids=lambda k: f"kem{k:04x}")
def key(request: pytest.FixtureRequest) -> ohttp.GatewayKey:
    kem: int = request.param
    return ohttp.GatewayKey.from_seed(5, kem, bytes(range(32)), [ohttp.HKDF_SHA256_AES128GCM])


def seal_request(
    key: ohttp.GatewayKey, chunked: bool, body: bytes, max_chunk_len: int = 4096
) -> tuple[bytes, ohttp.ClientContext, str]:
    if not chunked:
        wire, client = ohttp.encapsulate_request(key.key_config, body)
        return wire, client, ohttp.REQUEST_MEDIA_TYPE
    sealer = ohttp.ChunkedRequestSealer(key.key_config, max_chunk_len=max_chunk_len)
    wire = b"".join(sealer.feed(body) + sealer.finish())
    return wire, sealer.client_context, ohttp.CHUNKED_REQUEST_MEDIA_TYPE


def feed_in_pieces(opener: ohttp.RequestOpener | ohttp.ResponseOpener, wire: bytes) -> bytes:
    out = [piece for at in range(0, len(wire), 999) for piece in opener.feed(wire[at : at + 999])]
    return b"".join(out) + opener.finish()


@pytest.mark.parametrize("response_chunked", FORMS, ids=["plain-resp", "chunked-resp"])
@pytest.mark.parametrize("request_chunked", FORMS, ids=["plain-req", "chunked-req"])
def test_every_pairing_by_media_type(
    key: ohttp.GatewayKey, request_chunked: bool, response_chunked: bool
) -> None:
    question, answer = b"q" * 9000, b"a" * 11000
    wire, client, request_type = seal_request(key, request_chunked, question)
    assert client.request_chunked == request_chunked

    opener = ohttp.RequestOpener(key, request_type)
    assert opener.chunked == request_chunked
    assert feed_in_pieces(opener, wire) == question
    context = opener.response_context
    assert context is not None and context.request_chunked == request_chunked

    sealer = ohttp.ResponseSealer(context, chunked=response_chunked)
    expected_type = (
        ohttp.CHUNKED_RESPONSE_MEDIA_TYPE if response_chunked else ohttp.RESPONSE_MEDIA_TYPE
    )
    assert sealer.media_type == expected_type and sealer.chunked == response_chunked
    pieces = sealer.feed(answer[:5000]) + sealer.feed(answer[5000:])
    assert bool(pieces) == response_chunked, "a plain sealer emits everything at finish"
    response = b"".join(pieces + sealer.finish())

    reply = ohttp.ResponseOpener(client, sealer.media_type)
    assert reply.chunked == response_chunked
    assert feed_in_pieces(reply, response) == answer


@pytest.mark.parametrize("request_chunked", FORMS, ids=["plain-req", "chunked-req"])
def test_form_specific_apis_answer_either_request_form(
    key: ohttp.GatewayKey, request_chunked: bool
) -> None:
    wire, client, _ = seal_request(key, request_chunked, b"question")

    def open_request() -> ohttp.ResponseContext:  # a context answers once: one per answer
        if not request_chunked:
            return key.decapsulate_request(wire)[1]
        opener = ohttp.ChunkedRequestOpener(key)
        opener.feed(wire)
        opener.finish()
        assert opener.response_context is not None
        return opener.response_context

    plain = open_request().encapsulate_response(b"plain answer")
    assert client.decapsulate_response(plain) == b"plain answer"
    sealer = ohttp.ChunkedResponseSealer(open_request())
    chunked = b"".join(sealer.feed(b"chunked answer") + sealer.finish())
    reply = ohttp.ChunkedResponseOpener(client)
    assert b"".join(reply.feed(chunked)) + reply.finish() == b"chunked answer"


def test_request_chunks_of_16384_bytes_accepted_by_default(key: ohttp.GatewayKey) -> None:
    assert ohttp.DEFAULT_MAX_REQUEST_CHUNK == 16384
    assert ohttp.REFERENCE_MAX_REQUEST_CHUNK == 4096
    body = bytes(2 * 16384)
    wire, _, media_type = seal_request(key, True, body, max_chunk_len=16384)
    for opener in (ohttp.ChunkedRequestOpener(key), ohttp.RequestOpener(key, media_type)):
        assert b"".join(opener.feed(wire)) + opener.finish() == body
    for strict in (
        ohttp.ChunkedRequestOpener(key, max_chunk_len=ohttp.REFERENCE_MAX_REQUEST_CHUNK),
        ohttp.RequestOpener(key, media_type, max_chunk_len=ohttp.REFERENCE_MAX_REQUEST_CHUNK),
    ):
        with pytest.raises(ChunkTooLargeError):
            strict.feed(wire)
    too_big, _, _ = seal_request(key, True, bytes(16385), max_chunk_len=16385)
    with pytest.raises(ChunkTooLargeError):
        ohttp.RequestOpener(key, media_type).feed(too_big)
