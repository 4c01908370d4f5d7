"""openpcc.compute: round trips, candidate matching, the external-DH node path, protobufs, token streams,
and bad input (every case a specific exception class, no plaintext of the bad part released)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc import compute
from openpcc._openpcc.compute import _seal_response_with
from openpcc.exceptions import (
    ComputeArgumentError,
    ComputeChunkTooLargeError,
    ComputeDecryptError,
    ComputeMalformedError,
    ComputeStateError,
    ComputeTrailingDataError,
    ComputeTruncatedError,
    ComputeUnwrapError,
    UnknownNodeError,
    UnsupportedMediaTypeError,
)

IDS = [f"01936e5a-0000-7000-8000-00000000000{i}" for i in range(1, 4)]


def _node_key() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    sk = ec.generate_private_key(ec.SECP256R1())
    sk_bytes = sk.private_numbers().private_value.to_bytes(32, "big")
    pk = sk.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return sk, sk_bytes, pk


@pytest.fixture(scope="module")
def nodes() -> list[tuple[ec.EllipticCurvePrivateKey, bytes, bytes]]:
    return [_node_key() for _ in range(3)]


PLAINTEXT = bytes(range(256)) * 5 + b"tail"  # 1284 bytes: three chunks when chunked


@pytest.mark.parametrize("chunked", [False, True])
def test_round_trip_every_candidate(nodes: list, chunked: bool) -> None:  # type: ignore[type-arg]
    cands = [(IDS[i], nodes[i][2]) for i in range(3)]
    req = compute.seal_request(PLAINTEXT, cands, chunked=chunked)
    assert req.media_type == (compute.CHUNKED_REQUEST if chunked else compute.REQUEST)
    for (node_id, key), (_, sk, _) in zip(req.encapsulated_keys, nodes):
        assert len(key) == 120 and key[:7] == bytes.fromhex("00001000010001")
        for resp_chunked in (False, True):  # a node request answers once: one unwrap per answer
            node = compute.NodeRequest.unwrap(req.media_type, key, sk)
            assert node.open_body(req.body) == PLAINTEXT
            media = compute.CHUNKED_RESPONSE if resp_chunked else compute.RESPONSE
            body = node.seal_response(b"answer " * 200, chunked=resp_chunked)
            assert req.open_response(node_id, media, body) == b"answer " * 200


def test_chunked_body_layout(nodes: list) -> None:  # type: ignore[type-arg]
    req = compute.seal_request(PLAINTEXT, [(IDS[0], nodes[0][2])], chunked=True)
    # nonce(12) | 2 x (varint(530)=2 | 530) | (varint(272) | 272) | 0x00 | 16-byte final tag
    assert len(req.body) == 12 + 2 * 532 + 2 + 256 + 16 + 1 + 16
    assert req.body[12:14] == bytes([0x42, 0x12])
    assert req.body[-17] == 0


def test_responses_are_bound_to_their_candidate(nodes: list) -> None:  # type: ignore[type-arg]
    req = compute.seal_request(PLAINTEXT, [(IDS[i], nodes[i][2]) for i in range(2)])
    keys = dict(req.encapsulated_keys)
    node0 = compute.NodeRequest.unwrap(req.media_type, keys[IDS[0]], nodes[0][1])
    body = node0.seal_response(b"hello", chunked=True)
    # The router says node 1 served it: node 1's context cannot open node 0's response.
    with pytest.raises(ComputeDecryptError):
        req.open_response(IDS[1], compute.CHUNKED_RESPONSE, body)
    with pytest.raises(UnknownNodeError):
        req.open_response(IDS[2], compute.CHUNKED_RESPONSE, body)
    with pytest.raises(UnknownNodeError):
        req.token_stream_opener("not-a-candidate")


def test_external_dh_path_matches_software_key(nodes: list) -> None:  # type: ignore[type-arg]
    sk_obj, _, pk = nodes[0]
    req = compute.seal_request(PLAINTEXT, [(IDS[0], pk)])
    key = req.encapsulated_keys[0][1]
    seen: list[bytes] = []

    def tpm_ecdh_zgen(enc: bytes) -> bytes:
        seen.append(enc)
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), enc)
        return sk_obj.exchange(ec.ECDH(), peer)  # the x-coordinate, as ECDH_ZGen returns

    node = compute.NodeRequest.unwrap_external(req.media_type, key, pk, tpm_ecdh_zgen)
    assert seen == [key[7:72]]
    assert node.open_body(req.body) == PLAINTEXT
    body = node.seal_response(b"via tpm")
    assert req.open_response(IDS[0], compute.CHUNKED_RESPONSE, body) == b"via tpm"

    class TpmDown(Exception):
        pass

    def broken(enc: bytes) -> bytes:
        raise TpmDown

    with pytest.raises(TpmDown):
        compute.NodeRequest.unwrap_external(req.media_type, key, pk, broken)
    with pytest.raises(ComputeUnwrapError):  # wrong shared secret
        compute.NodeRequest.unwrap_external(req.media_type, key, pk, lambda enc: b"\x01" * 32)


# ---------------------------------------------------------------- protobufs


def test_compute_request_info_exact_bytes() -> None:
    key = bytes(range(120))
    data = compute.encode_compute_request_info([("ab", key)])
    candidate = b"\x0a\x02ab" + b"\x22\x78" + key  # field 1 "ab", field 4 (120 bytes)
    assert data == b"\x0a" + bytes([len(candidate)]) + candidate
    assert compute.decode_compute_request_info(data) == [("ab", key)]
    # Explicit presence: a set-but-empty field is still on the wire (Edition 2023 / proto3 optional).
    assert compute.encode_compute_request_info([("", b"")]) == b"\x0a\x04\x0a\x00\x22\x00"
    with pytest.raises(ComputeMalformedError):
        compute.decode_compute_request_info(b"\x0a\x05\x0a")


def test_routing_info_lists_candidates_in_order(nodes: list) -> None:  # type: ignore[type-arg]
    req = compute.seal_request(b"x", [(IDS[i], nodes[i][2]) for i in range(3)])
    assert compute.decode_compute_request_info(req.routing_info) == req.encapsulated_keys


# ---------------------------------------------------------------- token streams

# Every inner trailer is announced (the reference decoder drops unannounced ones); no refund inside.
STREAM_HEADERS = [(b"content-type", b"application/x-ndjson"), (b"trailer", b"x-example")]
STREAM_TRAILERS = [(b"x-example", b"done")]


def _stream(
    nodes: list,
    tokens: list[bytes],
    padding: str,
    step_ns: int = 30_000_000,  # type: ignore[type-arg]
) -> tuple[list[int], bytes, compute.ComputeRequest]:
    """Seals `tokens` arriving `step_ns` apart; returns the wire chunk sizes, the wire and the request."""
    req = compute.seal_request(b"prompt", [(IDS[0], nodes[0][2])])
    node = compute.NodeRequest.unwrap(req.media_type, req.encapsulated_keys[0][1], nodes[0][1])
    t = 0
    s = node.token_stream_sealer(200, STREAM_HEADERS, padding=padding, now_ns=t)
    chunks = list(s.start())
    for tok in tokens:
        t += step_ns
        chunks += s.poll(now_ns=t)  # the deadline of the previous token passed
        chunks += s.feed(tok, now_ns=t)
    t += step_ns
    chunks += s.poll(now_ns=t)
    chunks += s.finish(STREAM_TRAILERS)
    wire = s.response_nonce + b"".join(chunks)
    return [len(c) for c in chunks], wire, req


TOKENS_A = [b'{"response":"The"}\n', b'{"response":" sky"}\n', b'{"response":" is"}\n']
TOKENS_B = [b'{"response":"Rayleigh"}\n', b'{"response":","}\n', b'{"response":" scattering!"}\n']


def test_default_policy_hides_token_lengths(nodes: list) -> None:  # type: ignore[type-arg]
    sizes_a, wire_a, req_a = _stream(nodes, TOKENS_A, "fixed")
    sizes_b, wire_b, req_b = _stream(nodes, TOKENS_B, "fixed")
    assert sizes_a == sizes_b
    assert set(sizes_a[:-1]) == {2 + 512 + 16} and sizes_a[-1] == 17
    assert len(wire_a) == len(wire_b)
    for tokens, wire, req in ((TOKENS_A, wire_a, req_a), (TOKENS_B, wire_b, req_b)):
        opener = req.token_stream_opener(IDS[0])
        body = opener.feed(wire)
        last, trailers = opener.finish()
        assert body + last == b"".join(tokens)
        assert opener.status is None  # consumed by finish
        assert trailers == STREAM_TRAILERS


def test_reference_like_policy_leaks_token_lengths(nodes: list) -> None:  # type: ignore[type-arg]
    sizes_a, wire_a, req_a = _stream(nodes, TOKENS_A, "per-piece")
    sizes_b, _, _ = _stream(nodes, TOKENS_B, "per-piece")
    assert len(sizes_a) == len(sizes_b)
    assert sizes_a != sizes_b
    # One chunk per token: varint(len) + the token's own content-chunk framing + tag shows its length.
    assert sizes_a[1:4] == [1 + 1 + len(t) + 16 for t in TOKENS_A]
    opener = req_a.token_stream_opener(IDS[0])
    assert opener.feed(wire_a) + opener.finish()[0] == b"".join(TOKENS_A)


def test_opener_yields_each_token_as_its_chunk_arrives(nodes: list) -> None:  # type: ignore[type-arg]
    req = compute.seal_request(b"prompt", [(IDS[0], nodes[0][2])])
    node = compute.NodeRequest.unwrap(req.media_type, req.encapsulated_keys[0][1], nodes[0][1])
    s = node.token_stream_sealer(200, [(b"content-type", b"text/plain")], now_ns=0)
    opener = req.token_stream_opener(IDS[0])
    assert opener.feed(s.response_nonce) == b""
    assert s.feed(b"hello", now_ns=1) == []  # waits for more tokens, at most 20 ms
    assert s.next_deadline_ns == 20_000_000
    assert s.poll(now_ns=19_999_999) == []
    (chunk,) = s.poll(now_ns=20_000_000)
    assert opener.feed(chunk) == b"hello"
    assert opener.status == 200 and opener.headers == [(b"content-type", b"text/plain")]
    big = bytes(range(256)) * 3
    chunks = s.feed(big, now_ns=30_000_000)  # more than a frame: full frames go out at once
    assert [len(c) for c in chunks] == [530]
    got = b"".join(opener.feed(c) for c in chunks)
    assert big.startswith(got) and len(got) > 400
    rest = s.finish()
    assert b"".join(opener.feed(c) for c in rest) + opener.finish()[0] == big[len(got) :]


def test_filler_reads_as_whitespace_body_to_a_reference_decoder(nodes: list) -> None:  # type: ignore[type-arg]
    """The padded stream is plain BHTTP: a decoder that ignores our filler marker sees spaces in the body."""
    from openpcc import bhttp

    _, wire, req = _stream(nodes, TOKENS_A, "fixed")
    plain = b"".join(req.response_opener(IDS[0], compute.CHUNKED_RESPONSE).feed(wire[:]))
    opener = req.response_opener(IDS[0], compute.CHUNKED_RESPONSE)
    plain = b"".join(opener.feed(wire)) + opener.finish()
    msg = bhttp.decode(plain)
    assert msg.status == 200
    assert msg.content.replace(b" ", b"") == b"".join(TOKENS_A).replace(b" ", b"")
    assert msg.trailers == STREAM_TRAILERS


def test_token_stream_arguments() -> None:
    _, sk, pk = _node_key()
    req = compute.seal_request(b"p", [(IDS[0], pk)])
    node = compute.NodeRequest.unwrap(req.media_type, req.encapsulated_keys[0][1], sk)
    with pytest.raises(ComputeArgumentError):
        node.token_stream_sealer(padding="none")
    with pytest.raises(ComputeArgumentError):
        node.token_stream_sealer(frame=515)
    with pytest.raises(ComputeArgumentError):
        node.token_stream_sealer(status=99)
    with pytest.raises(ComputeArgumentError):
        node.token_stream_sealer(headers=[(b"Upper", b"x")])
    s = node.token_stream_sealer()
    s.finish()
    with pytest.raises(ComputeStateError):
        s.feed(b"late")


# ---------------------------------------------------------------- bad input


@pytest.fixture()
def sealed(nodes: list) -> tuple[compute.ComputeRequest, bytes, bytes]:  # type: ignore[type-arg]
    req = compute.seal_request(
        PLAINTEXT, [(IDS[0], nodes[0][2]), (IDS[1], nodes[1][2])], chunked=True
    )
    return req, req.encapsulated_keys[0][1], nodes[0][1]


def test_wrong_media_type(sealed: tuple) -> None:  # type: ignore[type-arg]
    req, key, sk = sealed
    with pytest.raises(UnsupportedMediaTypeError):
        compute.NodeRequest.unwrap("application/json", key, sk)
    with pytest.raises(UnsupportedMediaTypeError):
        compute.NodeRequest.unwrap(compute.RESPONSE, key, sk)
    # The other compute media type is part of the HPKE info: the key does not unwrap.
    with pytest.raises(ComputeUnwrapError):
        compute.NodeRequest.unwrap(compute.REQUEST, key, sk)
    with pytest.raises(UnsupportedMediaTypeError):
        req.response_opener(IDS[0], compute.CHUNKED_REQUEST)


def test_encapsulated_key_for_another_node(sealed: tuple, nodes: list) -> None:  # type: ignore[type-arg]
    req, key, _ = sealed
    with pytest.raises(ComputeUnwrapError):
        compute.NodeRequest.unwrap(req.media_type, key, nodes[1][1])
    other = req.encapsulated_keys[1][1]
    with pytest.raises(ComputeUnwrapError):
        compute.NodeRequest.unwrap(req.media_type, other, nodes[0][1])


def test_malformed_encapsulated_keys(sealed: tuple) -> None:  # type: ignore[type-arg]
    req, key, sk = sealed
    # header(7) | enc(65) | wrapped(48): cut at each boundary, extend, and change the header.
    for cut in (0, 3, 7, 71, 72, 119):
        with pytest.raises(ComputeTruncatedError):
            compute.NodeRequest.unwrap(req.media_type, key[:cut], sk)
    with pytest.raises(ComputeTrailingDataError):
        compute.NodeRequest.unwrap(req.media_type, key + b"\x00", sk)
    with pytest.raises(ComputeMalformedError):
        compute.NodeRequest.unwrap(req.media_type, b"\x01" + key[1:], sk)  # key id 1
    with pytest.raises(ComputeMalformedError):
        compute.NodeRequest.unwrap(req.media_type, key[:2] + b"\x11" + key[3:], sk)  # P-384
    with pytest.raises(ComputeMalformedError):
        compute.NodeRequest.unwrap(req.media_type, key[:7] + b"\x05" + key[8:], sk)  # not a point
    with pytest.raises(ComputeUnwrapError):
        compute.NodeRequest.unwrap(req.media_type, key[:-1] + bytes([key[-1] ^ 1]), sk)


def _node(sealed: tuple) -> compute.NodeRequest:  # type: ignore[type-arg]
    req, key, sk = sealed
    return compute.NodeRequest.unwrap(req.media_type, key, sk)


def _chunk_spans(body: bytes) -> list[tuple[int, int]]:
    """(start, end) of each non-final chunk of a chunked compute body (1- and 2-byte length prefixes)."""
    spans, pos = [], 12
    while body[pos] != 0:
        n = body[pos] if body[pos] < 0x40 else ((body[pos] & 0x3F) << 8) | body[pos + 1]
        head = 1 if body[pos] < 0x40 else 2
        spans.append((pos, pos + head + n))
        pos += head + n
    return spans


def test_truncated_and_extended_bodies(sealed: tuple, nodes: list) -> None:  # type: ignore[type-arg]
    req, _, _ = sealed
    node = _node(sealed)
    body = req.body
    with pytest.raises(ComputeTruncatedError):
        node.open_body(body[:11])  # inside the nonce
    spans = _chunk_spans(body)
    with pytest.raises(ComputeTruncatedError):
        node.open_body(body[: spans[-1][1]])  # every chunk, no final chunk
    with pytest.raises(ComputeDecryptError):
        node.open_body(body[:-1])  # final chunk cut
    with pytest.raises(ComputeDecryptError):
        node.open_body(body + b"\x00")  # extended
    unchunked = compute.seal_request(PLAINTEXT, [(IDS[0], nodes[0][2])])
    n2 = compute.NodeRequest.unwrap(
        unchunked.media_type, unchunked.encapsulated_keys[0][1], nodes[0][1]
    )
    # nonce(12) | ciphertext | tag(16)
    with pytest.raises(ComputeTruncatedError):
        n2.open_body(unchunked.body[:11])
    for bad in (unchunked.body[:-1], unchunked.body + b"\x00", unchunked.body[:12]):
        with pytest.raises(ComputeDecryptError):
            n2.open_body(bad)


def test_reordered_dropped_and_replayed_chunks_release_nothing_bad(sealed: tuple) -> None:  # type: ignore[type-arg]
    req, _, _ = sealed
    node = _node(sealed)
    body = req.body
    (a0, a1), (b0, b1), (c0, c1) = _chunk_spans(body)
    final = body[c1:]
    cases = {
        "reordered": body[:a0] + body[b0:b1] + body[a0:a1] + body[c0:],
        "dropped": body[:a0] + body[b0:],
        "replayed chunk": body[:b1] + body[a0:a1] + body[b1:],
        "replayed final": body + final,
    }
    for bad in cases.values():
        with pytest.raises(ComputeDecryptError):
            node.open_body(bad)


def test_incremental_response_releases_only_authenticated_chunks(sealed: tuple) -> None:  # type: ignore[type-arg]
    req, _, _ = sealed
    node = _node(sealed)
    body = _seal_response_with(
        node, [b"one", b"two", b"three"], compute.CHUNKED_RESPONSE, b"\x07" * 16
    )
    # nonce(16) | 01 13 ct(19) | 01 13 ct(19) | 01 15 ct(21) | 00 tag(16)
    c1, c2 = 16, 16 + 20
    c3 = c2 + 20
    end = c3 + 22
    reordered = body[:c1] + body[c2:c3] + body[c1:c2] + body[c3:]
    o = req.response_opener(IDS[0], compute.CHUNKED_RESPONSE)
    with pytest.raises(ComputeDecryptError):
        o.feed(reordered)
    with pytest.raises(ComputeStateError):
        o.feed(b"")  # a failed opener stays failed
    o = req.response_opener(IDS[0], compute.CHUNKED_RESPONSE)
    assert o.feed(body[:c2]) == [b"one"]
    with pytest.raises(ComputeDecryptError):
        o.feed(body[c3:end])  # "two" dropped
    o = req.response_opener(IDS[0], compute.CHUNKED_RESPONSE)
    assert o.feed(body) == [b"one", b"two", b"three"]
    assert o.finish() == b""
    o = req.response_opener(IDS[0], compute.CHUNKED_RESPONSE)
    o.feed(body + body[end:])  # final chunk replayed
    with pytest.raises(ComputeDecryptError):
        o.finish()
    o = req.response_opener(IDS[0], compute.CHUNKED_RESPONSE)
    o.feed(body[:end])
    with pytest.raises(ComputeTruncatedError):
        o.finish()


def test_oversized_chunk_is_refused_before_buffering(sealed: tuple) -> None:  # type: ignore[type-arg]
    req, _, _ = sealed
    node = _node(sealed)
    body = req.body
    # A chunk announcing 514 + 16 + 1 bytes: refused on its length prefix alone.
    with pytest.raises(ComputeChunkTooLargeError):
        node.open_body(body[:12] + bytes([0x42, 0x13]))
    o = req.response_opener(IDS[0], compute.CHUNKED_RESPONSE)
    with pytest.raises(ComputeChunkTooLargeError):
        o.feed(b"\x00" * 16 + bytes([0x80, 0x10, 0x00, 0x00]))
    # After the final indicator, more than one chunk's worth of data is too much.
    o = req.response_opener(IDS[0], compute.CHUNKED_RESPONSE)
    with pytest.raises(ComputeChunkTooLargeError):
        o.feed(b"\x00" * 16 + b"\x00" + b"\x00" * 531)


def test_messages_by_name_round_trip_with_explicit_presence() -> None:
    assert "csprotos.ComputeRequestInfo" in compute.message_names()
    data = compute.encode_message("csprotos.ComputeManifestRequest", {"tags": ["llm"], "limit": 0})
    assert data == bytes.fromhex("0a036c6c6d1000")  # limit=0 is on the wire: explicit presence
    assert compute.decode_message("csprotos.ComputeManifestRequest", data) == {
        "tags": ["llm"],
        "limit": 0,
    }
    event = {
        "nodeId": "01936e5a-0000-7000-8000-000000000001",
        "eventIndex": "3",
        "timestamp": "2025-01-01T00:00:00Z",
        "heartbeat": {"routingInfo": {"url": "http://10.0.0.2:8080", "tags": ["llm", "model=x"]}},
    }
    raw = compute.encode_message("csprotos.NodeEvent", event)
    assert compute.decode_message("csprotos.NodeEvent", raw) == event
    info = compute.encode_compute_request_info([("ab", b"\x01\x02")])
    assert compute.decode_message("csprotos.ComputeRequestInfo", info) == {
        "candidates": [{"id": "ab", "encapsulatedKey": "AQI="}]
    }
    with pytest.raises(ComputeArgumentError):
        compute.encode_message("csprotos.NoSuchMessage", {})
    with pytest.raises(ComputeArgumentError):
        compute.encode_message("csprotos.NodeEvent", {"nodeId": 5})
    with pytest.raises(ComputeMalformedError):
        compute.decode_message("csprotos.NodeEvent", b"\x0a\x05")


def test_http_helpers_pad_like_the_reference(nodes: list) -> None:  # type: ignore[type-arg]
    from openpcc import bhttp

    request = bhttp.Request(
        method=b"POST",
        scheme=b"http",
        authority=b"confsec.invalid",
        path=b"/api/chat",
        headers=[(b"content-type", b"application/json")],
        content=b'{"model":"m"}' * 100,
    )
    for chunked in (False, True):
        req = compute.seal_http_request(request, [(IDS[0], nodes[0][2])], chunked=chunked)
        node = compute.NodeRequest.unwrap(req.media_type, req.encapsulated_keys[0][1], nodes[0][1])
        assert len(node.open_body(req.body)) % 514 == 0
        assert compute.open_http_request(node, req.body).content == request.content
        response = bhttp.Response(
            status=200, headers=[(b"content-type", b"text/plain")], content=b"ok"
        )
        body = compute.seal_http_response(node, response, chunked=chunked)
        media = compute.CHUNKED_RESPONSE if chunked else compute.RESPONSE
        assert compute.open_http_response(req, IDS[0], media, body).content == b"ok"


def test_no_secret_in_repr_or_errors(nodes: list) -> None:  # type: ignore[type-arg]
    req = compute.seal_request(b"secret prompt", [(IDS[0], nodes[0][2])])
    node = compute.NodeRequest.unwrap(req.media_type, req.encapsulated_keys[0][1], nodes[0][1])
    key = req.encapsulated_keys[0][1]
    for text in (repr(req), repr(node), str(req)):
        assert key.hex() not in text and nodes[0][1].hex() not in text and "secret" not in text
    try:
        compute.NodeRequest.unwrap(req.media_type, key[:-1] + b"\x00", nodes[0][1])
    except ComputeUnwrapError as e:
        assert nodes[0][1].hex() not in str(e) and key.hex() not in str(e)


_STREAM_NODE = _node_key()
_STREAM_REQ = compute.seal_request(b"p", [(IDS[0], _STREAM_NODE[2])])


def _stream_server() -> compute.NodeRequest:
    """The node side of `_STREAM_REQ`, unwrapped afresh: a node request answers once."""
    return compute.NodeRequest.unwrap(
        _STREAM_REQ.media_type, _STREAM_REQ.encapsulated_keys[0][1], _STREAM_NODE[1]
    )


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.binary(min_size=0, max_size=700), st.integers(min_value=0, max_value=40_000_000)
        ),
        max_size=25,
    ),
    frame=st.integers(min_value=16, max_value=514),
    split=st.integers(min_value=1, max_value=600),
)
def test_fixed_policy_property(events: list[tuple[bytes, int]], frame: int, split: int) -> None:
    """Any pieces at any times: every non-final chunk is exactly `frame` bytes of plaintext, and the
    opener gives back exactly the pieces, whatever the wire is split into."""
    s = _stream_server().token_stream_sealer(
        200, padding="fixed", frame=frame, max_delay_ms=20.0, now_ns=0
    )
    chunks, t = list(s.start()), 0
    for piece, gap in events:
        t += gap
        chunks += s.poll(t) + s.feed(piece, t)
    chunks += s.finish()
    assert {len(c) for c in chunks[:-1]} <= {frame + 16 + (1 if frame + 16 < 64 else 2)}
    assert len(chunks[-1]) == 17
    wire = s.response_nonce + b"".join(chunks)
    opener = _STREAM_REQ.token_stream_opener(IDS[0])
    body = b"".join(opener.feed(wire[i : i + split]) for i in range(0, len(wire), split))
    assert body + opener.finish()[0] == b"".join(p for p, _ in events)


# ---------------------------------------------------------------- padding request and refund


def test_our_client_asks_for_padding_and_the_node_strips_it(nodes: list) -> None:  # type: ignore[type-arg]
    from openpcc import bhttp

    request = bhttp.Request(
        b"POST",
        b"http",
        b"confsec.invalid",
        b"/api/generate",
        [(b"content-type", b"application/json"), (b"X-Openpcc-Padding", b"other")],
        b'{"model":"m"}',
    )
    req = compute.seal_http_request(request, [(IDS[0], nodes[0][2])])
    node = compute.NodeRequest.unwrap(req.media_type, req.encapsulated_keys[0][1], nodes[0][1])
    inner = compute.open_http_request(node, req.body)
    assert (b"x-openpcc-padding", b"fixed") in inner.headers  # one field, the earlier one replaced
    assert [n for n, _ in inner.headers].count(b"x-openpcc-padding") == 1
    for_engine, padding = compute.take_padding_request(inner)
    assert padding == "fixed"
    assert for_engine.headers == [(b"content-type", b"application/json")]
    assert for_engine.content == b'{"model":"m"}'  # never a body field
    # A reference client does not ask: the reference's chunking, request untouched.
    plain = request.replace(headers=[(b"content-type", b"application/json")])
    assert compute.take_padding_request(plain) == (plain, "per-piece")
    with pytest.raises(ComputeMalformedError):
        compute.take_padding_request(request)


def test_refund_trailer_is_rounded_down_to_currency_steps() -> None:
    assert compute.REFUND_AMOUNT_TRAILER == "X-Refund-Amount"
    assert compute.refund_amount_trailer(0) == (0, "")
    assert compute.refund_amount_trailer(262_150) == (262_144, "CgIA8A==")  # Currency{00 f0}
    rounded, value = compute.refund_amount_trailer(261_144)
    assert rounded == 253_952 and compute.parse_refund_amount_trailer(value) == rounded
    assert compute.refund_amount_trailer(1000, significant_bits=3)[0] == 896
    assert compute.refund_amount_trailer(1000, significant_bits=1)[0] == 512
    for amount in range(0, 3000, 7):
        got, value = compute.refund_amount_trailer(amount)
        assert got <= amount and compute.parse_refund_amount_trailer(value) == got
    with pytest.raises(ComputeArgumentError):
        compute.refund_amount_trailer(5, significant_bits=6)
    with pytest.raises(ComputeMalformedError):
        compute.parse_refund_amount_trailer("CgIBAA==")  # the special attestation value


def test_stream_trailers_must_be_announced_and_refund_is_refused(nodes: list) -> None:  # type: ignore[type-arg]
    req = compute.seal_request(b"p", [(IDS[0], nodes[0][2])])
    node = compute.NodeRequest.unwrap(req.media_type, req.encapsulated_keys[0][1], nodes[0][1])
    s = node.token_stream_sealer(200, [(b"content-type", b"text/plain")], now_ns=0)
    with pytest.raises(ComputeArgumentError):
        s.finish([(b"x-example", b"1")])
    with pytest.raises(ComputeArgumentError):
        s.finish([(b"x-refund-amount", b"")])
    assert s.finish()[-1]  # still usable: nothing was sealed by the refused calls


def test_manifest_request_carries_the_client_nonce_extension_on_field_100() -> None:
    nonce = bytes(range(16))
    as_json = base64.b64encode(nonce).decode()  # the proto JSON mapping carries bytes as base64
    data = compute.encode_message("csprotos.ComputeManifestRequest", {"tags": ["llm"], "clientNonce": as_json})
    assert data.endswith(bytes.fromhex("a20610") + nonce)  # field 100, wire type 2, 16 bytes
    assert compute.decode_message("csprotos.ComputeManifestRequest", data)["clientNonce"] == as_json
