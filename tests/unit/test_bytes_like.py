"""API edges of openpcc.hpke and openpcc.bhttp: every byte argument takes any bytes-like object
(``bytes``, ``bytearray``, ``memoryview``, also non-contiguous), other types are a ``TypeError``, and
the deterministic-encapsulation test hook stays out of the public API."""

from __future__ import annotations

import array
import inspect
from collections.abc import Callable

import pytest
from openpcc import bhttp, hpke
from openpcc._openpcc import hpke as hpke_extension
from openpcc.hpke import AEAD, KDF, KEM, AEADKey, SecretKey, Suite

X25519 = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
HYBRID = Suite(KEM.X25519_KYBER768_DRAFT00, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
IKM = bytes(range(32))

Form = Callable[[bytes], object]


def strided(data: bytes) -> memoryview:
    """A non-contiguous memoryview holding ``data`` (every other byte of a twice-as-long buffer)."""
    doubled = bytearray(2 * len(data))
    doubled[::2] = data
    return memoryview(doubled)[::2]


FORMS: list[tuple[str, Form]] = [
    ("bytes", bytes),
    ("bytearray", bytearray),
    ("memoryview", memoryview),
    ("memoryview-of-bytearray", lambda b: memoryview(bytearray(b))),
    ("readonly-memoryview", lambda b: memoryview(bytearray(b)).toreadonly()),
    ("strided-memoryview", strided),
]


@pytest.fixture(params=FORMS, ids=[name for name, _ in FORMS])
def form(request: pytest.FixtureRequest) -> Form:
    name_and_form: tuple[str, Form] = request.param
    return name_and_form[1]


@pytest.mark.parametrize("suite", [X25519, HYBRID], ids=["x25519", "x25519kyber768"])
def test_hpke_one_shot_and_keys_take_any_bytes_like(suite: Suite, form: Form) -> None:
    sk, pk = suite.derive_key_pair(form(IKM))
    assert (sk, pk) == suite.derive_key_pair(IKM)
    enc, ct = suite.seal(form(pk), form(b"message"), info=form(b"info"), aad=form(b"aad"))
    sk_bytes = sk.to_bytes()
    for secret in (sk, form(sk_bytes)):
        opened = suite.open(form(enc), secret, form(ct), info=form(b"info"), aad=form(b"aad"))
        assert opened == b"message"
    assert suite.public_key(form(sk_bytes)) == pk
    assert SecretKey.from_bytes(suite.kem, form(sk_bytes)) == sk
    assert sk == form(sk_bytes)


def test_hpke_contexts_take_any_bytes_like(form: Form) -> None:
    sk, pk = X25519.derive_key_pair(IKM)
    psk, psk_id = b"p" * 32, b"id"
    enc, sender = X25519.setup_sender(form(pk), form(b"info"), psk=form(psk), psk_id=form(psk_id))
    recipient = X25519.setup_recipient(
        form(enc), form(sk.to_bytes()), form(b"info"), psk=form(psk), psk_id=form(psk_id)
    )
    ct = sender.seal(form(b"hello"), form(b"aad"))
    assert recipient.open(form(ct), form(b"aad")) == b"hello"
    assert sender.export(form(b"ctx"), 16) == recipient.export(form(b"ctx"), 16)

    auth_sk, auth_pk = X25519.derive_key_pair(bytes(32))
    enc, sender = X25519.setup_sender(pk, sk_s=form(auth_sk.to_bytes()))
    recipient = X25519.setup_recipient(enc, sk, pk_s=form(auth_pk))
    assert recipient.open(sender.seal(b"auth")) == b"auth"


def test_hpke_external_dh_and_aead_key_take_any_bytes_like(form: Form) -> None:
    sk, pk = X25519.derive_key_pair(IKM)
    enc, sender = X25519.setup_sender(pk, b"info")
    ct = sender.seal(b"via dh")
    dh_secret = _x25519_dh(sk, enc)
    for dh in (form(dh_secret), lambda _enc: form(dh_secret)):
        recipient = X25519.setup_recipient_external(form(enc), form(pk), dh, form(b"info"))
        assert recipient.open(ct) == b"via dh"

    key = AEADKey(AEAD.AES_128_GCM, form(bytes(16)))
    sealed = key.seal(form(bytes(12)), form(b"pt"), form(b"aad"))
    assert key.open(form(bytes(12)), form(sealed), form(b"aad")) == b"pt"


def _x25519_dh(sk: SecretKey, enc: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import x25519

    private = x25519.X25519PrivateKey.from_private_bytes(sk.to_bytes())
    return private.exchange(x25519.X25519PublicKey.from_public_bytes(enc))


@pytest.mark.parametrize(
    "value",
    ["a str", 5, [1, 2], memoryview(array.array("i", [1, 2]))],
    ids=["str", "int", "list", "int-memoryview"],
)
def test_hpke_refuses_what_is_not_bytes_like(value: object) -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        X25519.seal(value, b"m")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes-like"):
        X25519.derive_key_pair(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes-like"):
        X25519.open(b"\x00" * 32, value, b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes-like"):
        AEADKey(AEAD.AES_128_GCM, value)  # type: ignore[arg-type]


def test_a_bytearray_changed_after_the_call_does_not_change_the_result() -> None:
    """Copied inputs are read once: mutating the caller's buffer afterwards affects nothing."""
    _, pk = X25519.derive_key_pair(IKM)
    key_bytes = bytearray(16)
    key = AEADKey(AEAD.AES_128_GCM, key_bytes)
    key_bytes[:] = b"\xff" * 16
    assert key.seal(bytes(12), b"pt") == AEADKey(AEAD.AES_128_GCM, bytes(16)).seal(bytes(12), b"pt")
    large = bytearray(64 * 1024)  # above the size where the AEAD releases the GIL
    enc, ct = X25519.seal(pk, large)
    large[0] = 1
    assert X25519.open(enc, X25519.derive_key_pair(IKM)[0], ct) == bytes(64 * 1024)


def test_deterministic_encapsulation_is_a_private_hook_only() -> None:
    _, pk = HYBRID.derive_key_pair(IKM)
    assert "ikm_e" not in inspect.signature(Suite.setup_sender).parameters
    with pytest.raises(TypeError):
        HYBRID.setup_sender(pk, b"info", ikm_e=bytes(64))  # type: ignore[call-arg]
    public_names = set(dir(hpke)) | set(hpke.__all__)
    assert not any("ikm_e" in name or name.startswith("_setup") for name in public_names)
    assert "_setup_sender_with_ikm_e" not in getattr(hpke_extension, "__all__", [])
    seed = bytes(range(64))
    hook = hpke_extension._setup_sender_with_ikm_e
    enc1, _ = hook(HYBRID, bytearray(pk), memoryview(b"info"), ikm_e=bytearray(seed))
    enc2, _ = hook(HYBRID, pk, b"info", ikm_e=seed)
    assert enc1 == enc2


def test_bhttp_takes_any_bytes_like(form: Form) -> None:
    request = bhttp.Request(
        method=form(b"POST"), path=form(b"/v1"), headers=[(form(b"x-a"), form(b"1"))],
        content=form(b"body"),
    )
    assert request == bhttp.Request(method="POST", path="/v1", headers=[("x-a", "1")], content="body")
    assert request.replace(content=form(b"other")).content == b"other"
    response = bhttp.Response(200, headers={"x-b": form(b"2")}, content=form(b"ok"))
    assert response.headers == [(b"x-b", b"2")] and response.content == b"ok"

    wire = bhttp.encode(request)
    assert bhttp.decode(form(wire)) == request
    assert bhttp.decode_request(form(wire)) == request
    assert bhttp.decode_framed(form(wire)).message == request
    assert bhttp.decode_response(form(bhttp.encode(response))) == response
    decoder = bhttp.StreamDecoder()
    events = decoder.feed(form(wire[:5])) + decoder.feed(form(wire[5:])) + decoder.finish()
    assert isinstance(events[-1], bhttp.End) and decoder.is_complete


def test_bhttp_refuses_what_is_not_bytes_like() -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        bhttp.Request(method=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bhttp.decode("not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bhttp.StreamDecoder().feed([1, 2])  # type: ignore[arg-type]


def test_bhttp_stream_decoder_has_one_feeding_verb() -> None:
    verbs = {name for name in dir(bhttp.StreamDecoder) if not name.startswith("_")}
    assert verbs == {"feed", "finish", "is_complete", "padding_len", "indeterminate"}
