"""Compute-layer benchmarks: openpcc against the same scheme written on `cryptography` primitives.

Run: ``make bench`` or ``.venv/bin/python -m pytest -q benches/test_bench_compute.py --benchmark-enable
--benchmark-only --benchmark-columns=min,median,mean,ops,rounds``.

Groups pair ``openpcc`` with ``cryptography`` (the baseline peer, checked for correctness against openpcc
before it is timed) through the shared ``paired(group, impl)`` fixture, so ``benches/ratios.py`` puts them in
the common ratio table. In stream groups ``openpcc`` is the default (length-hiding) policy and
``openpcc-per-piece`` the reference-like one. Stream groups report per-token CPU; ``extra_info`` carries bytes per token on the wire.
"""

from __future__ import annotations

import hmac
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from openpcc import compute

HEADER = bytes.fromhex("00001000010001")
KEM_ID = b"KEM\x00\x10"
SUITE_ID = b"HPKE\x00\x10\x00\x01\x00\x01"


# ---------------------------------------------------------------- the baseline: same scheme on `cryptography`


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt or b"\x00" * 32, ikm, "sha256")


def _labeled_extract(sid: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + sid + label + ikm)


def _labeled_expand(sid: bytes, prk: bytes, label: bytes, info: bytes, n: int) -> bytes:
    return HKDFExpand(SHA256(), n, n.to_bytes(2, "big") + b"HPKE-v1" + sid + label + info).derive(
        prk
    )


def _pub(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def baseline_encapsulate(dek: bytes, pk_r: bytes, info: bytes) -> bytes:
    """HPKE base-mode SetupS + Seal("multi-encap-key", DEK) for DHKEM(P-256)/HKDF-SHA256/AES-128-GCM."""
    sk_e = ec.generate_private_key(ec.SECP256R1())
    enc = _pub(sk_e.public_key())
    dh = sk_e.exchange(
        ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pk_r)
    )
    eae_prk = _labeled_extract(KEM_ID, b"", b"eae_prk", dh)
    shared = _labeled_expand(KEM_ID, eae_prk, b"shared_secret", enc + pk_r, 32)
    ctx = (
        b"\x00"
        + _labeled_extract(SUITE_ID, b"", b"psk_id_hash", b"")
        + _labeled_extract(SUITE_ID, b"", b"info_hash", info)
    )
    secret = _labeled_extract(SUITE_ID, shared, b"secret", b"")
    key = _labeled_expand(SUITE_ID, secret, b"key", ctx, 16)
    nonce = _labeled_expand(SUITE_ID, secret, b"base_nonce", ctx, 12)
    return HEADER + enc + AESGCM(key).encrypt(nonce, dek, b"multi-encap-key")


def baseline_seal(plaintext: bytes, public_keys: list[bytes]) -> tuple[bytes, list[bytes]]:
    dek, nonce = os.urandom(32), os.urandom(12)
    body = nonce + AESGCM(dek).encrypt(nonce, plaintext, None)
    info = compute.REQUEST.encode() + b"\x00" + HEADER
    return body, [baseline_encapsulate(dek, pk, info) for pk in public_keys]


def baseline_open(body: bytes, key: bytes, sk_r: ec.EllipticCurvePrivateKey) -> bytes:
    enc, wrapped = key[7:72], key[72:]
    pk_r = _pub(sk_r.public_key())
    dh = sk_r.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), enc))
    shared = _labeled_expand(
        KEM_ID, _labeled_extract(KEM_ID, b"", b"eae_prk", dh), b"shared_secret", enc + pk_r, 32
    )
    info = compute.REQUEST.encode() + b"\x00" + HEADER
    ctx = (
        b"\x00"
        + _labeled_extract(SUITE_ID, b"", b"psk_id_hash", b"")
        + _labeled_extract(SUITE_ID, b"", b"info_hash", info)
    )
    secret = _labeled_extract(SUITE_ID, shared, b"secret", b"")
    k = _labeled_expand(SUITE_ID, secret, b"key", ctx, 16)
    n = _labeled_expand(SUITE_ID, secret, b"base_nonce", ctx, 12)
    dek = AESGCM(k).decrypt(n, wrapped, b"multi-encap-key")
    return AESGCM(dek).decrypt(body[:12], body[12:], None)


# ---------------------------------------------------------------- fixtures

NODES = [ec.generate_private_key(ec.SECP256R1()) for _ in range(8)]
SKS = [n.private_numbers().private_value.to_bytes(32, "big") for n in NODES]
PKS = [_pub(n.public_key()) for n in NODES]
IDS = [f"01936e5a-0000-7000-8000-0000000000{i:02d}" for i in range(8)]
SIZES = {"1k": 1024, "64k": 64 * 1024, "1m": 1024 * 1024}


def test_baseline_is_the_same_scheme() -> None:
    pt = os.urandom(1000)
    body, keys = baseline_seal(pt, PKS[:2])
    for key, sk in zip(keys, SKS):
        assert compute.NodeRequest.unwrap(compute.REQUEST, key, sk).open_body(body) == pt
    req = compute.seal_request(pt, [(IDS[0], PKS[0])])
    assert baseline_open(req.body, req.encapsulated_keys[0][1], NODES[0]) == pt


# ---------------------------------------------------------------- seal and open


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("n", [1, 3, 8])
def test_seal_openpcc(paired, n: int, size: str) -> None:  # type: ignore[no-untyped-def]
    benchmark = paired(f"compute-seal-{n}c-{size}", "openpcc")
    pt = os.urandom(SIZES[size])
    cands = list(zip(IDS[:n], PKS[:n]))
    benchmark(compute.seal_request, pt, cands)


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("n", [1, 3, 8])
def test_seal_cryptography(paired, n: int, size: str) -> None:  # type: ignore[no-untyped-def]
    benchmark = paired(f"compute-seal-{n}c-{size}", "cryptography")
    pt = os.urandom(SIZES[size])
    benchmark(baseline_seal, pt, PKS[:n])


@pytest.mark.parametrize("size", list(SIZES))
def test_node_open_openpcc(paired, size: str) -> None:  # type: ignore[no-untyped-def]
    benchmark = paired(f"compute-node-open-{size}", "openpcc")
    pt = os.urandom(SIZES[size])
    req = compute.seal_request(pt, [(IDS[0], PKS[0])])
    key, body = req.encapsulated_keys[0][1], req.body

    def run() -> bytes:
        return compute.NodeRequest.unwrap(compute.REQUEST, key, SKS[0]).open_body(body)

    assert benchmark(run) == pt


@pytest.mark.parametrize("size", list(SIZES))
def test_node_open_cryptography(paired, size: str) -> None:  # type: ignore[no-untyped-def]
    benchmark = paired(f"compute-node-open-{size}", "cryptography")
    pt = os.urandom(SIZES[size])
    body, (key,) = baseline_seal(pt, PKS[:1])
    assert benchmark(baseline_open, body, key, NODES[0]) == pt


# ---------------------------------------------------------------- streaming, per token

N_TOKENS = 1000
TOKEN_LINES = [f'{{"response":"tok{i % 97}","done":false}}\n'.encode() for i in range(N_TOKENS)]
STEP_NS = (
    25_000_000  # one token every 25 ms: each token gets its own flush under the default policy
)


def _node() -> tuple[compute.ComputeRequest, compute.NodeRequest]:
    req = compute.seal_request(b"prompt", [(IDS[0], PKS[0])])
    return req, compute.NodeRequest.unwrap(req.media_type, req.encapsulated_keys[0][1], SKS[0])


def _seal_stream(node: compute.NodeRequest, padding: str) -> list[bytes]:
    """Node side: N_TOKENS tokens through push/poll, as a server loop would call them."""
    s = node.token_stream_sealer(
        200, [(b"content-type", b"application/x-ndjson")], padding=padding, now_ns=0
    )
    out = [s.response_nonce, *s.start()]
    t = 0
    for tok in TOKEN_LINES:
        t += STEP_NS
        out += s.poll(t)
        out += s.feed(tok, t)
    out += s.poll(t + STEP_NS)
    out += s.finish()
    return out


def _open_stream(req: compute.ComputeRequest, chunks: list[bytes]) -> int:
    """Client side: one push per wire chunk, as they arrive."""
    o = req.token_stream_opener(IDS[0])
    n = 0
    for c in chunks:
        n += len(o.feed(c))
    return n + len(o.finish()[0])


def _stream_impl(padding: str) -> str:
    return "openpcc" if padding == "fixed" else f"openpcc-{padding}"


@pytest.mark.parametrize("padding", ["fixed", "per-piece"])
def test_stream_seal_openpcc(paired, padding: str) -> None:  # type: ignore[no-untyped-def]
    benchmark = paired("compute-stream-seal-1000-tokens", _stream_impl(padding))
    _, node = _node()
    chunks = benchmark(_seal_stream, node, padding)
    benchmark.extra_info["wire_bytes_per_token"] = sum(map(len, chunks)) / N_TOKENS
    benchmark.extra_info["plaintext_bytes_per_token"] = sum(map(len, TOKEN_LINES)) / N_TOKENS


@pytest.mark.parametrize("padding", ["fixed", "per-piece"])
def test_stream_open_openpcc(paired, padding: str) -> None:  # type: ignore[no-untyped-def]
    benchmark = paired("compute-stream-open-1000-tokens", _stream_impl(padding))
    req, node = _node()
    chunks = _seal_stream(node, padding)
    assert benchmark(_open_stream, req, chunks) == sum(map(len, TOKEN_LINES))


def _plaintext_loop() -> int:
    out = bytearray()
    for tok in TOKEN_LINES:
        out += tok
    return len(out)


@pytest.mark.parametrize("group", ["seal", "open"])
def test_stream_plaintext(paired, group: str) -> None:  # type: ignore[no-untyped-def]
    """The floor: the same tokens through a Python loop without encryption."""
    benchmark = paired(f"compute-stream-{group}-1000-tokens", "plaintext")
    benchmark(_plaintext_loop)


KEY, BASE = os.urandom(16), int.from_bytes(os.urandom(12), "big")


def _crypto_seal() -> list[bytes]:
    enc = AESGCM(KEY)
    return [
        bytes([len(tok) + 17])
        + enc.encrypt((BASE ^ i).to_bytes(12, "big"), bytes([len(tok)]) + tok, b"")
        for i, tok in enumerate(TOKEN_LINES)
    ]


def test_stream_seal_cryptography(paired) -> None:  # type: ignore[no-untyped-def]
    """Baseline peer: the reference's one-chunk-per-token scheme on `cryptography` AES-GCM."""
    benchmark = paired("compute-stream-seal-1000-tokens", "cryptography")
    benchmark(_crypto_seal)


def test_stream_open_cryptography(paired) -> None:  # type: ignore[no-untyped-def]
    benchmark = paired("compute-stream-open-1000-tokens", "cryptography")
    chunks = _crypto_seal()

    def run() -> int:
        dec = AESGCM(KEY)
        return sum(
            len(dec.decrypt((BASE ^ i).to_bytes(12, "big"), c[1:], b""))
            for i, c in enumerate(chunks)
        )

    benchmark(run)
