"""Oblivious HTTP (RFC 9458) and chunked OHTTP (draft-ietf-ohai-chunked-ohttp), wire-compatible with
the OpenPCC reference.

Plain messages::

    key = GatewayKey.from_seed(1, 0x0020, seed, [(0x0001, 0x0001)])
    data, client = encapsulate_request(key.key_config, bhttp_request)
    request, responder = key.decapsulate_request(data)
    reply = responder.encapsulate_response(bhttp_response)
    assert client.decapsulate_response(reply) == bhttp_response

Chunked messages: ``ChunkedRequestSealer`` (client) -> ``ChunkedRequestOpener`` (gateway), then
``ChunkedResponseSealer`` (gateway) -> ``ChunkedResponseOpener`` (client).

The response's form does not follow the request's (the reference gateway answers chunked whenever
the inner response streams or announces trailers): every context answers or opens either form. A
gateway opens by the request's ``Content-Type`` and picks the response form::

    opener = RequestOpener(key, content_type)           # message/ohttp-req or -chunked-req
    pieces = opener.feed(body); last = opener.finish()
    sealer = ResponseSealer(opener.response_context, chunked=streams)
    send(sealer.media_type, sealer.feed(bhttp_response) + sealer.finish())

and a client opens by the response's ``Content-Type``::

    reply = ResponseOpener(client_context, response_content_type)
    bhttp_response = b"".join(reply.feed(body)) + reply.finish()

``feed`` takes bytes as they arrive and returns what is ready (wire pieces from sealers, chunk
plaintexts from openers); ``finish`` closes the stream and detects truncation.
``fixed_chunk_len=REFERENCE_CHUNK_LEN`` gives the reference's fixed 532-byte chunks (550 bytes on the
wire, zero-padded tail, 17-byte final).

A ``ResponseContext`` answers at most once: a second response or response sealer for the same request
raises ``OHTTPUsageError``. Every byte argument accepts ``bytes``, ``bytearray`` or ``memoryview``; secret
keys and seeds are copied once into memory that is zeroized after use. A fixed ephemeral key or response
nonce (for known-answer tests only) goes through the private ``_..._with_ephemeral``/``_..._with_nonce``
hooks of ``openpcc._openpcc.ohttp``. Errors are in ``openpcc.exceptions`` under ``OHTTPError``.
"""

from __future__ import annotations

from openpcc._openpcc.ohttp import (
    CHUNKED_REQUEST_MEDIA_TYPE,
    CHUNKED_RESPONSE_MEDIA_TYPE,
    DEFAULT_MAX_REQUEST_CHUNK,
    DEFAULT_MAX_RESPONSE_CHUNK,
    DEFAULT_SEAL_CHUNK_LEN,
    REFERENCE_CHUNK_LEN,
    REFERENCE_MAX_REQUEST_CHUNK,
    REQUEST_MEDIA_TYPE,
    RESPONSE_MEDIA_TYPE,
    ChunkedRequestOpener,
    ChunkedRequestSealer,
    ChunkedResponseOpener,
    ChunkedResponseSealer,
    ClientContext,
    GatewayKey,
    KeyConfig,
    RequestOpener,
    ResponseContext,
    ResponseOpener,
    ResponseSealer,
    decode_key_configs,
    encapsulate_request,
    encode_key_configs,
)
from openpcc.exceptions import (
    ChunkLimitError,
    ChunkTooLargeError,
    KeyConfigError,
    KeyIdMismatchError,
    MalformedMessageError,
    OHTTPDecryptError,
    OHTTPError,
    OHTTPMediaTypeError,
    OHTTPUnsupportedError,
    OHTTPUsageError,
    SuiteMismatchError,
    TruncatedStreamError,
)

#: HPKE suite of the reference gateway (spec §2.2): X25519Kyber768Draft00, HKDF-SHA256, AES-128-GCM.
REFERENCE_KEM = 0x0030
#: RFC 9458's example suite: DHKEM(X25519, HKDF-SHA256).
X25519_KEM = 0x0020
#: (HKDF-SHA256, AES-128-GCM), the symmetric pair the reference offers.
HKDF_SHA256_AES128GCM = (0x0001, 0x0001)

__all__ = [
    "CHUNKED_REQUEST_MEDIA_TYPE",
    "CHUNKED_RESPONSE_MEDIA_TYPE",
    "DEFAULT_MAX_REQUEST_CHUNK",
    "DEFAULT_MAX_RESPONSE_CHUNK",
    "DEFAULT_SEAL_CHUNK_LEN",
    "HKDF_SHA256_AES128GCM",
    "REFERENCE_CHUNK_LEN",
    "REFERENCE_KEM",
    "REFERENCE_MAX_REQUEST_CHUNK",
    "REQUEST_MEDIA_TYPE",
    "RESPONSE_MEDIA_TYPE",
    "X25519_KEM",
    "ChunkLimitError",
    "ChunkTooLargeError",
    "ChunkedRequestOpener",
    "ChunkedRequestSealer",
    "ChunkedResponseOpener",
    "ChunkedResponseSealer",
    "ClientContext",
    "GatewayKey",
    "KeyConfig",
    "KeyConfigError",
    "KeyIdMismatchError",
    "MalformedMessageError",
    "OHTTPDecryptError",
    "OHTTPError",
    "OHTTPMediaTypeError",
    "OHTTPUnsupportedError",
    "OHTTPUsageError",
    "RequestOpener",
    "ResponseContext",
    "ResponseOpener",
    "ResponseSealer",
    "SuiteMismatchError",
    "TruncatedStreamError",
    "decode_key_configs",
    "encapsulate_request",
    "encode_key_configs",
]
