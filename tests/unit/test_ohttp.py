"""openpcc.ohttp: round trips (plain and chunked, random split points), options, repr hygiene."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc import ohttp
from openpcc._openpcc.ohttp import _chunked_response_sealer_with_nonce
from openpcc.exceptions import DecryptError, OHTTPError, OpenPCCError

SUITES = [(0x0001, 0x0001), (0x0001, 0x0002), (0x0001, 0x0003), (0x0002, 0x0001), (0x0003, 0x0002)]
KEMS = [0x0020, 0x0010, 0x0011, 0x0012, 0x0021]
SEED = bytes(range(32))


@pytest.fixture(scope="module")
def key() -> ohttp.GatewayKey:
    return ohttp.GatewayKey.from_seed(3, ohttp.X25519_KEM, SEED, [ohttp.HKDF_SHA256_AES128GCM])


@pytest.mark.parametrize("kem", KEMS)
@pytest.mark.parametrize("suite", SUITES)
def test_round_trip_every_kem_and_suite(kem: int, suite: tuple[int, int]) -> None:
    key = ohttp.GatewayKey.from_seed(9, kem, SEED * 3, [suite])
    data, client = ohttp.encapsulate_request(key.key_config, b"GET /")
    assert data[:7] == bytes([9]) + kem.to_bytes(2, "big") + suite[0].to_bytes(2, "big") + suite[
        1
    ].to_bytes(2, "big")
    request, responder = key.decapsulate_request(data)
    assert request == b"GET /"
    response = responder.encapsulate_response(b"200 OK")
    nonce_len = 32 if suite[1] in (0x0002, 0x0003) else 16
    assert len(response) == nonce_len + 6 + 16
    assert client.decapsulate_response(response) == b"200 OK"


def test_from_seed_is_deterministic_and_from_secret_key_agrees() -> None:
    a = ohttp.GatewayKey.from_seed(1, 0x0020, SEED, [(1, 1)])
    b = ohttp.GatewayKey.from_seed(1, 0x0020, SEED, [(1, 1)])
    assert a.key_config == b.key_config
    fresh = ohttp.GatewayKey.generate(1, 0x0020, [(1, 1)])
    assert fresh.key_config != a.key_config


def test_key_config_fields_and_list() -> None:
    key = ohttp.GatewayKey.from_seed(200, 0x0010, SEED, [(1, 1), (2, 2)])
    config = key.key_config
    assert (config.key_id, config.kem, len(config.public_key)) == (200, 0x0010, 65)
    assert config.symmetric_algorithms == [(1, 1), (2, 2)]
    rebuilt = ohttp.KeyConfig(200, 0x0010, config.public_key, [(1, 1), (2, 2)])
    assert rebuilt == config
    encoded = config.encode()
    assert len(encoded) == 1 + 2 + 65 + 2 + 8
    other = ohttp.GatewayKey.from_seed(7, 0x0020, SEED, [(1, 1)]).key_config
    blob = ohttp.encode_key_configs([config, other])
    assert blob[:2] == len(encoded).to_bytes(2, "big")
    assert ohttp.decode_key_configs(blob) == [config, other]


def test_client_uses_first_symmetric_algorithm() -> None:
    key = ohttp.GatewayKey.from_seed(1, 0x0020, SEED, [(1, 3), (1, 1)])
    data, _ = ohttp.encapsulate_request(key.key_config, b"x")
    assert data[3:7] == bytes.fromhex("00010003")


def test_secrets_never_in_repr(key: ohttp.GatewayKey) -> None:
    secret = bytes(range(1, 33))
    gw = ohttp.GatewayKey.from_secret_key(1, 0x0020, secret, [(1, 1)])
    data, client = ohttp.encapsulate_request(gw.key_config, b"hello")
    _, responder = gw.decapsulate_request(data)
    for obj in (gw, client, responder, gw.key_config):
        text = repr(obj)
        assert secret.hex() not in text and "hello" not in text
    assert "hidden" in repr(gw)


def test_exception_families() -> None:
    assert issubclass(ohttp.OHTTPDecryptError, DecryptError)
    assert issubclass(ohttp.TruncatedStreamError, DecryptError)
    for cls in (ohttp.KeyConfigError, ohttp.ChunkTooLargeError, ohttp.KeyIdMismatchError):
        assert issubclass(cls, OHTTPError) and issubclass(cls, OpenPCCError)


def test_reference_fixed_chunk_layout(key: ohttp.GatewayKey) -> None:
    sealer = ohttp.ChunkedRequestSealer(key.key_config, fixed_chunk_len=ohttp.REFERENCE_CHUNK_LEN)
    wire = sealer.feed(b"a" * 600) + sealer.feed(b"b" * 600) + sealer.finish()
    assert [len(p) for p in wire] == [7 + 32, 550, 550, 550, 17]
    opener = ohttp.ChunkedRequestOpener(key)
    chunks = opener.feed(b"".join(wire))
    assert [len(c) for c in chunks] == [532, 532, 532]
    assert opener.finish() == b""
    body = b"".join(chunks)
    assert body[:1200] == b"a" * 600 + b"b" * 600 and body[1200:] == bytes(396)


def test_opener_yields_each_chunk_as_soon_as_complete(key: ohttp.GatewayKey) -> None:
    sealer = ohttp.ChunkedRequestSealer(key.key_config)
    wire = b"".join(sealer.feed(b"first") + sealer.feed(b"second") + sealer.finish())
    opener = ohttp.ChunkedRequestOpener(key)
    first_chunk_end = 39 + 1 + 5 + 16
    assert opener.feed(wire[: first_chunk_end - 1]) == []
    assert opener.response_context is not None
    assert opener.feed(wire[first_chunk_end - 1 : first_chunk_end]) == [b"first"]
    assert opener.feed(wire[first_chunk_end:]) == [b"second"]
    assert opener.finish() == b""


def test_max_chunk_len_splits_large_feeds(key: ohttp.GatewayKey) -> None:
    sealer = ohttp.ChunkedRequestSealer(key.key_config, max_chunk_len=100)
    wire = sealer.feed(bytes(250)) + sealer.finish()
    assert [len(p) for p in wire] == [39, 2 + 116, 2 + 116, 2 + 66, 17]


def test_feed_many_equals_feed(key: ohttp.GatewayKey) -> None:
    request = b"".join(ohttp.ChunkedRequestSealer(key.key_config).finish())
    contexts = []
    for _ in range(2):  # a context answers once: two openers of the same request, one per sealer
        opener = ohttp.ChunkedRequestOpener(key)
        opener.feed(request)
        assert opener.response_context is not None
        contexts.append(opener.response_context)
    nonce = bytes(16)
    one = _chunked_response_sealer_with_nonce(contexts[0], nonce)
    many = _chunked_response_sealer_with_nonce(contexts[1], nonce)
    chunks = [bytes([i]) * 32 for i in range(10)]
    expected = [p for c in chunks for p in one.feed(c)]
    assert many.feed_many(chunks) == expected


def chunked_round_trip(
    key: ohttp.GatewayKey, pieces: list[bytes], cuts: list[int], fixed: int | None
) -> None:
    body = b"".join(pieces)
    sealer = ohttp.ChunkedRequestSealer(key.key_config, fixed_chunk_len=fixed)
    wire = b"".join([w for p in pieces for w in sealer.feed(p)] + sealer.finish())
    opener = ohttp.ChunkedRequestOpener(key)
    bounds = sorted({0, len(wire), *(c % (len(wire) + 1) for c in cuts)})
    opened = [pt for a, b in itertools.pairwise(bounds) for pt in opener.feed(wire[a:b])]
    opened.append(opener.finish())
    got = b"".join(opened)
    if fixed is None:
        assert got == body
    else:
        assert got[: len(body)] == body and not any(got[len(body) :]) and len(got) % fixed == 0

    ctx = opener.response_context
    assert ctx is not None
    rsealer = ohttp.ChunkedResponseSealer(ctx, fixed_chunk_len=fixed)
    rwire = b"".join([w for p in pieces for w in rsealer.feed(p)] + rsealer.finish())
    ropener = ohttp.ChunkedResponseOpener(sealer.client_context)
    rbounds = sorted({0, len(rwire), *(c % (len(rwire) + 1) for c in cuts)})
    ropened = [pt for a, b in itertools.pairwise(rbounds) for pt in ropener.feed(rwire[a:b])]
    ropened.append(ropener.finish())
    assert b"".join(ropened)[: len(body)] == body


@settings(max_examples=60, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=0, max_size=700), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
    fixed=st.sampled_from([None, 7, 532]),
)
def test_chunked_round_trip_random_splits(
    key: ohttp.GatewayKey, pieces: list[bytes], cuts: list[int], fixed: int | None
) -> None:
    chunked_round_trip(key, pieces, cuts, fixed)


@settings(max_examples=60, deadline=None)
@given(request=st.binary(max_size=2000), response=st.binary(max_size=2000))
def test_plain_round_trip(key: ohttp.GatewayKey, request: bytes, response: bytes) -> None:
    data, client = ohttp.encapsulate_request(key.key_config, request)
    assert len(data) == 7 + 32 + len(request) + 16
    got, responder = key.decapsulate_request(data)
    assert got == request
    assert client.decapsulate_response(responder.encapsulate_response(response)) == response


def test_hpke_enums_are_accepted() -> None:
    from openpcc.hpke import AEAD, KDF, KEM

    key = ohttp.GatewayKey.from_seed(1, KEM.X25519, SEED, [(KDF.HKDF_SHA256, AEAD.AES_128_GCM)])
    assert key.key_config.kem == KEM.X25519
    assert key.key_config.symmetric_algorithms == [(KDF.HKDF_SHA256, AEAD.AES_128_GCM)]


def test_threads_share_a_gateway_key(key: ohttp.GatewayKey) -> None:
    """HPKE work runs without the GIL; a shared key and per-thread streams stay consistent."""
    from concurrent.futures import ThreadPoolExecutor

    def exchange(i: int) -> bytes:
        body = bytes([i]) * (20_000 + i)  # large enough to take the GIL-free paths
        data, client = ohttp.encapsulate_request(key.key_config, body)
        request, responder = key.decapsulate_request(data)
        assert request == body
        response = responder.encapsulate_response(request)
        assert client.decapsulate_response(response) == body
        sealer = ohttp.ChunkedRequestSealer(key.key_config, max_chunk_len=16384)
        opener = ohttp.ChunkedRequestOpener(key, max_chunk_len=16384)
        wire = b"".join(sealer.feed(body) + sealer.finish())
        assert b"".join(opener.feed(wire)) + opener.finish() == body
        return wire

    with ThreadPoolExecutor(max_workers=4) as pool:
        wires = list(pool.map(exchange, range(16)))
    assert len({len(w) for w in wires}) == 16
