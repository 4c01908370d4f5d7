"""API edges of the OHTTP and compute bindings (issue 8 item 8): every byte argument takes any bytes-like
object, streams are fed with ``feed``, the test-only nonce/ephemeral-key arguments are gone from the public
API (private hooks instead), and a response context answers at most once."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from openpcc import compute, ohttp
from openpcc._openpcc import compute as _compute
from openpcc._openpcc import ohttp as _ohttp
from openpcc.exceptions import (
    ComputeArgumentError,
    ComputeStateError,
    OHTTPUsageError,
)

SEED = bytes(range(32))
SUITES = [ohttp.HKDF_SHA256_AES128GCM]
STUBS = Path(inspect.getfile(ohttp)).parent / "_openpcc"

Wrap = Callable[[bytes], Any]

# A buffer at an offset inside a larger one, to catch reads that ignore the view's start.
WRAPS: dict[str, Wrap] = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": memoryview,
    "memoryview-of-bytearray": lambda b: memoryview(bytearray(b)),
    "memoryview-slice": lambda b: memoryview(b"\xee" * 3 + b + b"\xee")[3 : 3 + len(b)],
}


@pytest.fixture(params=list(WRAPS), ids=list(WRAPS))
def wrap(request: pytest.FixtureRequest) -> Wrap:
    return WRAPS[request.param]


@pytest.fixture(scope="module")
def key() -> ohttp.GatewayKey:
    return ohttp.GatewayKey.from_seed(1, ohttp.X25519_KEM, SEED, SUITES)


# --- OHTTP: bytes-like everywhere ----------------------------------------------------------------------


def test_ohttp_keys_take_bytes_like(key: ohttp.GatewayKey, wrap: Wrap) -> None:
    assert (
        ohttp.GatewayKey.from_seed(1, ohttp.X25519_KEM, wrap(SEED), SUITES).key_config
        == key.key_config
    )
    sk = bytes.fromhex("3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a")
    from_sk = ohttp.GatewayKey.from_secret_key(1, ohttp.X25519_KEM, wrap(sk), SUITES)
    assert (
        from_sk.key_config
        == ohttp.GatewayKey.from_secret_key(1, ohttp.X25519_KEM, sk, SUITES).key_config
    )
    config = key.key_config
    assert ohttp.KeyConfig(1, ohttp.X25519_KEM, wrap(config.public_key), SUITES) == config
    assert ohttp.KeyConfig.decode(wrap(config.encode())) == config
    assert ohttp.decode_key_configs(wrap(ohttp.encode_key_configs([config]))) == [config]


def test_ohttp_plain_exchange_takes_bytes_like(key: ohttp.GatewayKey, wrap: Wrap) -> None:
    data, client = ohttp.encapsulate_request(key.key_config, wrap(b"request"))
    request, responder = key.decapsulate_request(wrap(data))
    assert request == b"request"
    reply = responder.encapsulate_response(wrap(b"response"))
    assert client.decapsulate_response(wrap(reply)) == b"response"


def test_ohttp_chunked_streams_take_bytes_like(key: ohttp.GatewayKey, wrap: Wrap) -> None:
    sealer = ohttp.ChunkedRequestSealer(key.key_config)
    wire = (
        sealer.feed(wrap(b"one"))
        + sealer.feed_many([wrap(b"two"), wrap(b"three")])
        + sealer.finish()
    )
    opener = ohttp.ChunkedRequestOpener(key)
    opened = [pt for piece in wire for pt in opener.feed(wrap(piece))] + [opener.finish()]
    assert opened == [b"one", b"two", b"three", b""]
    assert opener.response_context is not None
    response = ohttp.ChunkedResponseSealer(opener.response_context)
    wire = response.feed(wrap(b"four")) + response.feed_many([wrap(b"five")]) + response.finish()
    reply = ohttp.ChunkedResponseOpener(sealer.client_context)
    assert [pt for piece in wire for pt in reply.feed(wrap(piece))] + [reply.finish()] == [
        b"four",
        b"five",
        b"",
    ]


@pytest.mark.parametrize("chunked", [False, True])
def test_ohttp_media_type_streams_take_bytes_like(
    key: ohttp.GatewayKey, wrap: Wrap, chunked: bool
) -> None:
    data, client = ohttp.encapsulate_request(key.key_config, b"request")
    opener = ohttp.RequestOpener(key, ohttp.REQUEST_MEDIA_TYPE)
    assert opener.feed(wrap(data)) == [] and opener.finish() == b"request"
    assert opener.response_context is not None
    sealer = ohttp.ResponseSealer(opener.response_context, chunked=chunked)
    wire = b"".join(sealer.feed(wrap(b"response")) + sealer.finish())
    reply = ohttp.ResponseOpener(client, sealer.media_type)
    assert b"".join(reply.feed(wrap(wire))) + reply.finish() == b"response"


def test_ohttp_test_hooks_take_bytes_like(key: ohttp.GatewayKey, wrap: Wrap) -> None:
    eph = bytes(range(1, 33))
    expected, _ = _ohttp._encapsulate_request_with_ephemeral(key.key_config, b"m", eph)
    data, _ = _ohttp._encapsulate_request_with_ephemeral(key.key_config, wrap(b"m"), wrap(eph))
    assert data == expected
    sealer = _ohttp._chunked_request_sealer_with_ephemeral(key.key_config, wrap(eph))
    assert sealer.feed(b"x")[0][7:39] == expected[7:39]  # the same encapsulated key

    nonce = bytes(range(16))
    contexts = [key.decapsulate_request(data)[1] for _ in range(4)]
    plain = _ohttp._encapsulate_response_with_nonce(contexts[0], wrap(b"r"), wrap(nonce))
    assert plain[:16] == nonce
    chunked = _ohttp._chunked_response_sealer_with_nonce(contexts[1], wrap(nonce))
    assert chunked.feed(b"r")[0] == nonce
    either = _ohttp._response_sealer_with_nonce(contexts[2], wrap(nonce), chunked=False)
    assert either.feed(b"r") == [] and either.finish() == [plain]


def test_ohttp_refuses_non_bytes_like(key: ohttp.GatewayKey) -> None:
    with pytest.raises(TypeError):
        ohttp.encapsulate_request(key.key_config, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ohttp.GatewayKey.from_seed(1, ohttp.X25519_KEM, "seed" * 8, SUITES)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ohttp.ChunkedRequestSealer(key.key_config).feed_many([b"ok", 7])  # type: ignore[list-item]


def test_a_buffer_changed_after_the_call_does_not_change_the_result(key: ohttp.GatewayKey) -> None:
    body = bytearray(b"A" * 40_000)  # large enough to run without the GIL
    data, _ = ohttp.encapsulate_request(key.key_config, body)
    body[:] = b"B" * len(body)
    assert key.decapsulate_request(data)[0] == b"A" * 40_000


# --- compute: bytes-like everywhere --------------------------------------------------------------------

NODE_ID = "01936e5a-0000-7000-8000-000000000001"


@pytest.fixture(scope="module")
def node_key() -> tuple[ec.EllipticCurvePrivateKey, bytes, bytes]:
    sk = ec.generate_private_key(ec.SECP256R1())
    sk_bytes = sk.private_numbers().private_value.to_bytes(32, "big")
    pk = sk.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return sk, sk_bytes, pk


def _sealed(node_key: tuple[Any, bytes, bytes], wrap: Wrap, chunked: bool = False) -> Any:
    return compute.seal_request(wrap(b"plaintext"), [(NODE_ID, wrap(node_key[2]))], chunked=chunked)


def _unwrap(req: compute.ComputeRequest, node_key: tuple[Any, bytes, bytes], wrap: Wrap) -> Any:
    enc = req.encapsulated_keys[0][1]
    return compute.NodeRequest.unwrap(req.media_type, wrap(enc), wrap(node_key[1]))


@pytest.mark.parametrize("chunked", [False, True])
def test_compute_exchange_takes_bytes_like(node_key: Any, wrap: Wrap, chunked: bool) -> None:
    req = _sealed(node_key, wrap, chunked)
    node = _unwrap(req, node_key, wrap)
    assert node.open_body(wrap(req.body)) == b"plaintext"
    media = compute.CHUNKED_RESPONSE if chunked else compute.RESPONSE
    body = node.seal_response(wrap(b"answer"), chunked=chunked)
    assert req.open_response(NODE_ID, media, wrap(body)) == b"answer"
    opener = req.response_opener(NODE_ID, media)
    assert b"".join(opener.feed(wrap(body))) + opener.finish() == b"answer"


def test_compute_external_dh_takes_bytes_like(node_key: Any, wrap: Wrap) -> None:
    sk, _, pk = node_key
    req = _sealed(node_key, wrap)

    def dh(enc: bytes) -> Any:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), enc)
        return wrap(sk.exchange(ec.ECDH(), peer))

    enc = req.encapsulated_keys[0][1]
    node = compute.NodeRequest.unwrap_external(req.media_type, wrap(enc), wrap(pk), dh)
    assert node.open_body(req.body) == b"plaintext"


def test_compute_token_stream_takes_bytes_like(node_key: Any, wrap: Wrap) -> None:
    req = _sealed(node_key, wrap, chunked=True)
    node = _unwrap(req, node_key, wrap)
    headers = [(wrap(b"trailer"), wrap(b"x-done"))]
    sealer = node.token_stream_sealer(200, headers, padding="per-piece", now_ns=0)
    wire = [sealer.response_nonce, *sealer.start(), *sealer.feed(wrap(b"tok"), now_ns=1)]
    wire += sealer.finish([(wrap(b"x-done"), wrap(b"1"))])
    opener = req.token_stream_opener(NODE_ID)
    body = b"".join(opener.feed(wrap(c)) for c in wire)
    rest, trailers = opener.finish()
    assert body + rest == b"tok" and trailers == [(b"x-done", b"1")]


def test_compute_helpers_take_bytes_like(wrap: Wrap) -> None:
    info = compute.encode_compute_request_info([(NODE_ID, wrap(b"\x01" * 120))])
    assert compute.decode_compute_request_info(wrap(info)) == [(NODE_ID, b"\x01" * 120)]
    name = "csprotos.ComputeRequestInfo"
    assert _compute._decode_message_json(name, wrap(info)) == _compute._decode_message_json(
        name, info
    )
    headers, padding = _compute._take_padding_request(
        [(wrap(compute.PADDING_HEADER.encode()), wrap(b"fixed")), (wrap(b"a"), wrap(b"b"))]
    )
    assert (headers, padding) == ([(b"a", b"b")], "fixed")


def test_compute_test_hooks_take_bytes_like(node_key: Any, wrap: Wrap) -> None:
    dek, nonce, ikm = bytes(range(32)), bytes(12), bytes(range(32, 64))
    args: tuple[Any, ...] = ([b"p"], [(NODE_ID, node_key[2])], compute.REQUEST, dek, nonce, [ikm])
    expected = _compute._seal_request_with(*args)
    req = _compute._seal_request_with(
        [wrap(b"p")],
        [(NODE_ID, wrap(node_key[2]))],
        compute.REQUEST,
        wrap(dek),
        wrap(nonce),
        [wrap(ikm)],
    )
    assert (req.body, req.encapsulated_keys) == (expected.body, expected.encapsulated_keys)
    response_nonce = bytes(range(16))
    bodies = [
        _compute._seal_response_with(
            _unwrap(req, node_key, bytes), pieces, compute.CHUNKED_RESPONSE, n
        )
        for pieces, n in (([b"r"], response_nonce), ([wrap(b"r")], wrap(response_nonce)))
    ]
    assert bodies[0] == bodies[1]
    stream = _compute._token_stream_sealer_with(
        _unwrap(req, node_key, bytes), wrap(response_nonce), 200, [], padding="per-piece", now_ns=0
    )
    assert stream.response_nonce == response_nonce


def test_compute_refuses_non_bytes_like(node_key: Any) -> None:
    with pytest.raises(TypeError):
        compute.seal_request("text", [(NODE_ID, node_key[2])])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compute.NodeRequest.unwrap(compute.REQUEST, b"\x00" * 120, "k" * 32)  # type: ignore[arg-type]


# --- one verb: feed ------------------------------------------------------------------------------------


def _stub_classes(name: str) -> dict[str, ast.ClassDef]:
    tree = ast.parse((STUBS / f"{name}.pyi").read_text())
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


@pytest.mark.parametrize("module", ["ohttp", "compute", "bhttp"])
def test_streams_are_fed_with_feed_only(module: str) -> None:
    ext = {"ohttp": _ohttp, "compute": _compute}.get(module)
    for name, cls in _stub_classes(module).items():
        methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        assert "push" not in methods, f"{module}.{name} still has push"
        if ext is not None:
            assert not hasattr(getattr(ext, name), "push"), f"{module}.{name} still has push"


# --- test-only arguments out of the public API ---------------------------------------------------------

TEST_ONLY = {"response_nonce", "ephemeral_secret_key", "ikm_e", "dek", "body_nonce"}


def _public_parameters(module: str) -> dict[str, set[str]]:
    """``{qualified name: parameter names}`` of every public function and method of a stub."""
    tree = ast.parse((STUBS / f"{module}.pyi").read_text())
    out: dict[str, set[str]] = {}

    def visit(prefix: str, body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(f"{node.name}.", node.body)
            elif (
                isinstance(node, ast.FunctionDef)
                and not node.name.startswith("_")
                or (isinstance(node, ast.FunctionDef) and node.name == "__new__")
            ):
                a = node.args
                names = {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
                out[prefix + node.name] = names

    visit("", tree.body)
    return out


@pytest.mark.parametrize("module", ["ohttp", "compute"])
def test_public_stubs_take_no_test_only_argument(module: str) -> None:
    params = _public_parameters(module)
    assert params, "no public function found in the stub"
    leaks = {name: p & TEST_ONLY for name, p in params.items() if p & TEST_ONLY}
    assert leaks == {}


def test_nodes_have_no_underscore_test_methods() -> None:
    assert not [m for m in dir(_compute.NodeRequest) if m.startswith("_") and m.endswith("_with")]


def test_public_calls_refuse_test_only_keywords(key: ohttp.GatewayKey, node_key: Any) -> None:
    eph, nonce = bytes(range(1, 33)), bytes(16)
    with pytest.raises(TypeError):
        ohttp.encapsulate_request(key.key_config, b"m", ephemeral_secret_key=eph)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ohttp.ChunkedRequestSealer(key.key_config, ephemeral_secret_key=eph)  # type: ignore[call-arg]
    data, _ = ohttp.encapsulate_request(key.key_config, b"m")
    _, ctx = key.decapsulate_request(data)
    with pytest.raises(TypeError):
        ctx.encapsulate_response(b"r", response_nonce=nonce)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ohttp.ChunkedResponseSealer(ctx, response_nonce=nonce)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ohttp.ResponseSealer(ctx, chunked=True, response_nonce=nonce)  # type: ignore[call-arg]
    assert not ctx.answered  # refused calls did not use the context up
    ctx.encapsulate_response(b"r")
    assert ctx.answered


# --- a response context answers at most once -----------------------------------------------------------


def _context(key: ohttp.GatewayKey) -> ohttp.ResponseContext:
    data, _ = ohttp.encapsulate_request(key.key_config, b"m")
    return key.decapsulate_request(data)[1]


FIRST: dict[str, Callable[[ohttp.ResponseContext], object]] = {
    "encapsulate_response": lambda c: c.encapsulate_response(b"r"),
    "ChunkedResponseSealer": lambda c: ohttp.ChunkedResponseSealer(c),
    "ResponseSealer-plain": lambda c: ohttp.ResponseSealer(c, chunked=False),
    "ResponseSealer-chunked": lambda c: ohttp.ResponseSealer(c, chunked=True),
    "hook-plain": lambda c: _ohttp._encapsulate_response_with_nonce(c, b"r", bytes(16)),
    "hook-chunked": lambda c: _ohttp._chunked_response_sealer_with_nonce(c, bytes(16)),
    "hook-either": lambda c: _ohttp._response_sealer_with_nonce(c, bytes(16), chunked=True),
}


@pytest.mark.parametrize("second", list(FIRST))
@pytest.mark.parametrize("first", list(FIRST))
def test_ohttp_context_answers_once(key: ohttp.GatewayKey, first: str, second: str) -> None:
    ctx = _context(key)
    FIRST[first](ctx)
    with pytest.raises(OHTTPUsageError, match="already answered"):
        FIRST[second](ctx)


@pytest.mark.parametrize("media_type", [ohttp.REQUEST_MEDIA_TYPE, ohttp.CHUNKED_REQUEST_MEDIA_TYPE])
def test_every_handle_an_opener_returns_shares_one_answer(
    key: ohttp.GatewayKey, media_type: str
) -> None:
    if media_type == ohttp.REQUEST_MEDIA_TYPE:
        wire = [ohttp.encapsulate_request(key.key_config, b"m")[0]]
    else:
        sealer = ohttp.ChunkedRequestSealer(key.key_config)
        wire = sealer.feed(b"m") + sealer.finish()
    opener = ohttp.RequestOpener(key, media_type)
    for piece in wire:
        opener.feed(piece)
    opener.finish()
    one, two = opener.response_context, opener.response_context
    assert one is not None and two is not None and one is not two
    ohttp.ResponseSealer(one, chunked=False)
    assert two.answered
    with pytest.raises(OHTTPUsageError):
        ohttp.ResponseSealer(two, chunked=True)


def test_a_refused_attempt_does_not_use_the_context_up(key: ohttp.GatewayKey) -> None:
    ctx = _context(key)
    with pytest.raises(OHTTPUsageError):
        _ohttp._response_sealer_with_nonce(
            ctx, bytes(3), chunked=True
        )  # a nonce of the wrong length
    assert not ctx.answered
    ohttp.ResponseSealer(ctx, chunked=True)


NODE_FIRST: dict[str, Callable[[Any], object]] = {
    "seal_response-plain": lambda n: n.seal_response(b"r", chunked=False),
    "seal_response-chunked": lambda n: n.seal_response(b"r"),
    "token_stream_sealer": lambda n: n.token_stream_sealer(now_ns=0),
    "hook-seal": lambda n: _compute._seal_response_with(n, [b"r"], compute.RESPONSE, bytes(16)),
    "hook-stream": lambda n: _compute._token_stream_sealer_with(n, bytes(16), now_ns=0),
}


@pytest.mark.parametrize("second", list(NODE_FIRST))
@pytest.mark.parametrize("first", list(NODE_FIRST))
def test_node_request_answers_once(node_key: Any, first: str, second: str) -> None:
    node = _unwrap(_sealed(node_key, bytes), node_key, bytes)
    NODE_FIRST[first](node)
    with pytest.raises(ComputeStateError, match="already answered"):
        NODE_FIRST[second](node)


def test_a_refused_node_answer_does_not_use_the_request_up(node_key: Any) -> None:
    node = _unwrap(_sealed(node_key, bytes), node_key, bytes)
    with pytest.raises(ComputeArgumentError):
        node.token_stream_sealer(padding="none")
    with pytest.raises(ComputeArgumentError):
        _compute._seal_response_with(node, [b"r"], compute.RESPONSE, bytes(3))
    node.seal_response(b"r")
