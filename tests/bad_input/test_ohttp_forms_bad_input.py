"""Bad input to the media-type-driven OHTTP APIs: unknown media types, truncated or altered messages in
either form, use after finish. Each raises a typed ``openpcc.exceptions`` error."""

from __future__ import annotations

import pytest
from openpcc import ohttp
from openpcc._openpcc.ohttp import _response_sealer_with_nonce
from openpcc.exceptions import (
    KeyIdMismatchError,
    MalformedMessageError,
    OHTTPDecryptError,
    OHTTPError,
    OHTTPMediaTypeError,
    OHTTPUsageError,
    TruncatedStreamError,
    UnsupportedError,
)


@pytest.fixture(scope="module")
def key() -> ohttp.GatewayKey:
    return ohttp.GatewayKey.from_seed(
        4, ohttp.X25519_KEM, bytes([7]) * 32, [ohttp.HKDF_SHA256_AES128GCM]
    )


def exchange(
    key: ohttp.GatewayKey, request_chunked: bool, response_chunked: bool
) -> tuple[bytes, str, bytes, str, ohttp.ClientContext]:
    if request_chunked:
        sealer = ohttp.ChunkedRequestSealer(key.key_config)
        request = b"".join(sealer.feed(b"r" * 100) + sealer.finish())
        client, request_type = sealer.client_context, ohttp.CHUNKED_REQUEST_MEDIA_TYPE
    else:
        request, client = ohttp.encapsulate_request(key.key_config, b"r" * 100)
        request_type = ohttp.REQUEST_MEDIA_TYPE
    opener = ohttp.RequestOpener(key, request_type)
    opener.feed(request)
    opener.finish()
    assert opener.response_context is not None
    rsealer = ohttp.ResponseSealer(opener.response_context, chunked=response_chunked)
    response = b"".join(rsealer.feed(b"s" * 100) + rsealer.finish())
    return request, request_type, response, rsealer.media_type, client


@pytest.mark.parametrize(
    "media_type",
    ["", "text/plain", "message/bhttp", "message/ohttp-res", "message/ohttp-req; x=1"],
)
def test_request_opener_refuses_other_media_types(key: ohttp.GatewayKey, media_type: str) -> None:
    with pytest.raises(OHTTPMediaTypeError) as info:
        ohttp.RequestOpener(key, media_type)
    assert isinstance(info.value, OHTTPError) and isinstance(info.value, UnsupportedError)


@pytest.mark.parametrize(
    "media_type", ["", "application/json", "message/ohttp-req", "message/ohttp-chunked-req"]
)
def test_response_opener_refuses_other_media_types(key: ohttp.GatewayKey, media_type: str) -> None:
    _, _, _, _, client = exchange(key, False, False)
    with pytest.raises(OHTTPMediaTypeError):
        ohttp.ResponseOpener(client, media_type)


def test_media_types_are_case_insensitive(key: ohttp.GatewayKey) -> None:
    assert ohttp.RequestOpener(key, "Message/OHTTP-Chunked-Req").chunked


@pytest.mark.parametrize("request_chunked", [False, True], ids=["plain-req", "chunked-req"])
def test_truncated_requests(key: ohttp.GatewayKey, request_chunked: bool) -> None:
    request, media_type, *_ = exchange(key, request_chunked, False)
    for cut in (0, 6, 7, 7 + 32, len(request) - 1):
        opener = ohttp.RequestOpener(key, media_type)
        opener.feed(request[:cut])
        with pytest.raises((MalformedMessageError, TruncatedStreamError, OHTTPDecryptError)):
            opener.finish()
        assert request_chunked or opener.response_context is None


@pytest.mark.parametrize("request_chunked", [False, True], ids=["plain-req", "chunked-req"])
def test_wrong_key_id_judged_on_arrival(key: ohttp.GatewayKey, request_chunked: bool) -> None:
    request, media_type, *_ = exchange(key, request_chunked, False)
    opener = ohttp.RequestOpener(key, media_type)
    with pytest.raises(KeyIdMismatchError):
        opener.feed(b"\x09" + request[1:7])
    with pytest.raises(OHTTPUsageError):
        opener.feed(request[7:])


@pytest.mark.parametrize("response_chunked", [False, True], ids=["plain-resp", "chunked-resp"])
@pytest.mark.parametrize("request_chunked", [False, True], ids=["plain-req", "chunked-req"])
def test_truncated_or_altered_responses(
    key: ohttp.GatewayKey, request_chunked: bool, response_chunked: bool
) -> None:
    _, _, response, media_type, client = exchange(key, request_chunked, response_chunked)
    for cut in (0, 15, 16, 31, len(response) - 1):
        opener = ohttp.ResponseOpener(client, media_type)
        opener.feed(response[:cut])
        with pytest.raises((MalformedMessageError, TruncatedStreamError, OHTTPDecryptError)):
            opener.finish()
    altered = bytearray(response)
    altered[-1] ^= 1
    opener = ohttp.ResponseOpener(client, media_type)
    with pytest.raises(OHTTPDecryptError):
        opener.feed(bytes(altered))
        opener.finish()
    # A response opened as the other form fails (the two forms use different response secrets).
    other = ohttp.RESPONSE_MEDIA_TYPE if response_chunked else ohttp.CHUNKED_RESPONSE_MEDIA_TYPE
    wrong = ohttp.ResponseOpener(client, other)
    with pytest.raises(OHTTPError):
        wrong.feed(response)
        wrong.finish()


def test_use_after_finish(key: ohttp.GatewayKey) -> None:
    request, media_type, response, response_type, client = exchange(key, False, False)
    opener = ohttp.RequestOpener(key, media_type)
    opener.feed(request)
    opener.finish()
    with pytest.raises(OHTTPUsageError):
        opener.finish()
    assert opener.response_context is not None
    sealer = ohttp.ResponseSealer(opener.response_context, chunked=False)
    sealer.finish()
    with pytest.raises(OHTTPUsageError):
        sealer.feed(b"late")
    with pytest.raises(OHTTPUsageError):
        _response_sealer_with_nonce(opener.response_context, bytes(3), chunked=True)
    reply = ohttp.ResponseOpener(client, response_type)
    reply.feed(response)
    reply.finish()
    with pytest.raises(OHTTPUsageError):
        reply.finish()
