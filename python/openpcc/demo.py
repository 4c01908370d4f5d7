"""``python -m openpcc demo``: a real Oblivious HTTP round trip on embedded defaults.

A client encapsulates a Binary HTTP request for the gateway's key, the relay forwards opaque bytes,
the gateway decapsulates and answers (once plainly, once as a chunked response like compute answers),
and the client decapsulates. Each party prints what it saw. Sizes and padding follow the OpenPCC
reference (spec §2.6): BHTTP padded to multiples of 532 bytes, 550-byte chunks, a 17-byte final chunk.
"""

from __future__ import annotations

import argparse

from openpcc import bhttp, ohttp

#: The reference in-memory gateway's seed (spec §13.3); it derives the key of the signed dev bundle.
GATEWAY_SEED = bytes.fromhex("0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997")
GATEWAY_KEY_ID = 1
PAD = ohttp.REFERENCE_CHUNK_LEN


def _gateway_key() -> ohttp.GatewayKey:
    """The reference suite (X25519Kyber768Draft00), or X25519 if this build lacks it."""
    suites = [ohttp.HKDF_SHA256_AES128GCM]
    try:
        return ohttp.GatewayKey.from_seed(GATEWAY_KEY_ID, ohttp.REFERENCE_KEM, GATEWAY_SEED, suites)
    except ohttp.OHTTPUnsupportedError:
        return ohttp.GatewayKey.from_seed(GATEWAY_KEY_ID, ohttp.X25519_KEM, GATEWAY_SEED, suites)


def _say(party: str, text: str) -> None:
    print(f"[{party:<7}] {text}")


def _fields(fields: list[tuple[bytes, bytes]]) -> str:
    return ", ".join(f"{k.decode()}: {v.decode()}" for k, v in fields)


def _relay_view(direction: str, content_type: str, body: bytes, header_len: int = 0) -> None:
    clear = f"header {body[:header_len].hex()} (key id, KEM, KDF, AEAD) then " if header_len else ""
    _say(
        "relay",
        f"{direction} {content_type}, {len(body)} bytes: {clear}opaque {body[header_len : header_len + 8].hex()}...",
    )


def main(args: argparse.Namespace | None = None) -> int:
    del args  # no options yet
    key = _gateway_key()
    config = key.key_config
    _say(
        "gateway",
        f"key id {config.key_id}, KEM 0x{config.kem:04x}, public key {len(config.public_key)} bytes, "
        f"key config {len(ohttp.encode_key_configs([config]))} bytes (application/ohttp-keys)",
    )

    # Client: a Binary HTTP request, padded as the reference pads it, sealed for the gateway.
    request = bhttp.Request(
        method=b"POST",
        scheme=b"https",
        authority=b"confsec-router.invalid",
        path=b"/",
        headers=[(b"content-type", b"application/json"), (b"user-agent", b"Go-http-client/1.1")],
        content=b'{"model": "demo", "prompt": "hello"}',
    )
    inner = bhttp.encode(request, pad_to_multiple_of=PAD)
    sealed_request, client = ohttp.encapsulate_request(config, inner)
    enc_len = len(sealed_request) - 7 - len(inner) - 16
    _say(
        "client",
        f"POST https://confsec-router.invalid/ -> BHTTP {len(inner)} bytes (padded to {PAD}), "
        f"OHTTP request {len(sealed_request)} = 7 header + {enc_len} enc + {len(inner)} ciphertext + 16 tag",
    )
    _relay_view("->", "message/ohttp-req", sealed_request, header_len=7)

    # Gateway: decapsulate, read the inner request, answer.
    opened, responder = key.decapsulate_request(sealed_request)
    seen = bhttp.decode_request(opened)
    _say(
        "gateway",
        f"{seen.method.decode()} {seen.scheme.decode()}://{seen.authority.decode()}{seen.path.decode()} "
        f"[{_fields(seen.headers)}] body {seen.content!r}",
    )
    response = bhttp.Response(
        200, headers=[(b"content-type", b"application/json")], content=b'{"answer": "hi"}'
    )
    sealed_response = responder.encapsulate_response(bhttp.encode(response, pad_to_multiple_of=PAD))
    _relay_view("<-", "message/ohttp-res", sealed_response)
    answer = bhttp.decode_response(client.decapsulate_response(sealed_response))
    _say("client", f"status {answer.status} [{_fields(answer.headers)}] body {answer.content!r}")

    # The same exchange with a chunked response, as compute responses are: fixed 532-byte chunks.
    sealer = ohttp.ChunkedRequestSealer(config, fixed_chunk_len=PAD)
    request_wire = (
        sealer.feed(bhttp.encode(request, indeterminate=True, pad_to_multiple_of=PAD))
        + sealer.finish()
    )
    opener = ohttp.ChunkedRequestOpener(key)
    opener.feed(b"".join(request_wire))
    opener.finish()
    assert opener.response_context is not None
    chunked_response = response.replace(content=b"x" * 600, trailers=[(b"x-refund", b"0")])
    response_sealer = ohttp.ChunkedResponseSealer(opener.response_context, fixed_chunk_len=PAD)
    response_wire = response_sealer.feed(
        bhttp.encode(chunked_response, indeterminate=True, pad_to_multiple_of=PAD)
    )
    response_wire += response_sealer.finish()
    _say(
        "relay",
        f"chunked request pieces {[len(p) for p in request_wire]} bytes, "
        f"chunked response pieces {[len(p) for p in response_wire]} bytes",
    )
    response_opener = ohttp.ChunkedResponseOpener(sealer.client_context)
    plaintext = b"".join(pt for piece in response_wire for pt in response_opener.feed(piece))
    plaintext += response_opener.finish()
    streamed = bhttp.decode_response(plaintext)
    _say(
        "client",
        f"chunked: status {streamed.status}, {len(streamed.content)} body bytes, "
        f"trailers [{_fields(streamed.trailers)}]",
    )
    return 0
