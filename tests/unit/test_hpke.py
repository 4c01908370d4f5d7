"""openpcc.hpke beyond the RFC vectors: the hybrid KEM, the external-DH recipient, bad input (each with its
specific exception class), secrets kept out of repr/str, and hypothesis round trips."""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives import hpke as pyca
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc import exceptions
from openpcc._openpcc.hpke import _setup_sender_with_ikm_e
from openpcc.hpke import (
    AEAD,
    KDF,
    KEM,
    AEADKey,
    HPKEError,
    InvalidInputError,
    InvalidKeyError,
    MessageLimitError,
    OpenError,
    SecretKey,
    Suite,
    UnsupportedSuiteError,
)

X25519 = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
P256 = Suite(KEM.P256, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
HYBRID = Suite(KEM.X25519_KYBER768_DRAFT00, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
DHKEMS = [KEM.P256, KEM.P384, KEM.P521, KEM.X25519, KEM.X448]
GATEWAY_SEED = bytes.fromhex("0f4eda2e6c806018fb1082a6b0d8dc30c3aee556b41ac47cda7db81a57985997")


def test_enums_hold_iana_ids_and_ints_are_accepted() -> None:
    assert (KEM.P256, KEM.X25519_KYBER768_DRAFT00, KDF.HKDF_SHA384, AEAD.EXPORT_ONLY) == (
        0x10,
        0x30,
        2,
        0xFFFF,
    )
    suite = Suite(0x20, 1, 3)
    assert suite == Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305)
    assert suite.kem is KEM.X25519 and suite.kdf is KDF.HKDF_SHA256
    assert suite.aead is AEAD.CHACHA20_POLY1305
    assert hash(suite) == hash(Suite(0x20, 1, 3))


@pytest.mark.parametrize(
    ("kem", "kdf", "aead"),
    [(0x13, 1, 1), (0x20, 4, 1), (0x20, 1, 4), (-1, 1, 1), (0x20, 1, 1 << 20)],
)
def test_unknown_ids_raise_unsupported(kem: int, kdf: int, aead: int) -> None:
    with pytest.raises(UnsupportedSuiteError):
        Suite(kem, kdf, aead)


def test_error_classes_sit_in_their_families() -> None:
    assert issubclass(OpenError, exceptions.DecryptError)
    assert issubclass(InvalidInputError, exceptions.MalformedInputError)
    assert issubclass(UnsupportedSuiteError, exceptions.UnsupportedError)
    assert issubclass(MessageLimitError, exceptions.LimitError)
    for cls in (
        OpenError,
        InvalidKeyError,
        MessageLimitError,
        InvalidInputError,
        UnsupportedSuiteError,
    ):
        assert issubclass(cls, HPKEError)


# --- the hybrid KEM (spec §2.2, §13.3) -------------------------------------------------------------


def test_hybrid_derive_key_pair_gives_the_reference_gateway_key() -> None:
    sk, pk = HYBRID.derive_key_pair(GATEWAY_SEED)
    assert len(pk) == 1216 and len(sk.to_bytes()) == 32 + 2400
    assert pk[:32].hex() == "43f39b8b1a493650689ae718f0d2630b3cf5b63c660c6fcb5c49686d646e232d"
    assert pk[32:48].hex() == "ede001b083470ba169750cae7e097989"
    assert SecretKey.from_bytes(KEM.X25519_KYBER768_DRAFT00, sk.to_bytes()).public_key() == pk


def test_hybrid_round_trip_sizes_and_tampering() -> None:
    sk, pk = HYBRID.derive_key_pair(GATEWAY_SEED)
    enc, ct = HYBRID.seal(pk, b"request", info=b"message/bhttp request")
    assert len(enc) == 1120 and len(ct) == len(b"request") + 16
    assert HYBRID.open(enc, sk, ct, info=b"message/bhttp request") == b"request"
    for position in (0, 31, 32, 600, 1119):  # X25519 half, Kyber half
        bad_enc = bytearray(enc)
        bad_enc[position] ^= 0x10
        with pytest.raises((OpenError, InvalidKeyError)):
            HYBRID.open(bytes(bad_enc), sk, ct, info=b"message/bhttp request")
    with pytest.raises(OpenError):
        HYBRID.open(enc, sk, ct[:-1] + bytes([ct[-1] ^ 1]), info=b"message/bhttp request")


def test_hybrid_encapsulation_seed_is_deterministic() -> None:
    _, pk = HYBRID.derive_key_pair(GATEWAY_SEED)
    seed = bytes(range(64))
    enc1, s1 = _setup_sender_with_ikm_e(HYBRID, pk, b"info", ikm_e=seed)
    enc2, s2 = _setup_sender_with_ikm_e(HYBRID, pk, b"info", ikm_e=seed)
    assert enc1 == enc2 and s1.seal(b"m") == s2.seal(b"m")
    with pytest.raises(InvalidInputError):
        _setup_sender_with_ikm_e(HYBRID, pk, b"info", ikm_e=seed[:32])


def test_hybrid_has_no_auth_mode() -> None:
    sk, pk = HYBRID.generate_key_pair()
    with pytest.raises(UnsupportedSuiteError):
        HYBRID.setup_sender(pk, sk_s=sk)


# --- external DH (TPM ECDH_ZGen) --------------------------------------------------------------------


def _zgen_p256(sk: ec.EllipticCurvePrivateKey):  # type: ignore[no-untyped-def]
    def dh(pk_e: bytes) -> bytes:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pk_e)
        return sk.exchange(ec.ECDH(), peer)

    return dh


def test_external_dh_with_a_callable_matches_the_sender() -> None:
    device_key = ec.generate_private_key(ec.SECP256R1())
    scalar = device_key.private_numbers().private_value.to_bytes(32, "big")
    pk_r = P256.public_key(scalar)
    enc, sender = P256.setup_sender(pk_r, b"application/confsec-req")
    seen: list[bytes] = []

    def dh(pk_e: bytes) -> bytes:
        seen.append(pk_e)
        return _zgen_p256(device_key)(pk_e)

    recipient = P256.setup_recipient_external(enc, pk_r, dh, b"application/confsec-req")
    assert seen == [enc]
    assert (
        recipient.open(sender.seal(b"DEK" * 10, b"multi-encap-key"), b"multi-encap-key")
        == b"DEK" * 10
    )
    assert recipient.export(b"resp", 16) == sender.export(b"resp", 16)


def test_external_dh_with_bytes_and_x25519() -> None:
    device = x25519.X25519PrivateKey.generate()
    pk_r = device.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    enc, ct = X25519.seal(pk_r, b"pt")
    shared = device.exchange(x25519.X25519PublicKey.from_public_bytes(enc))
    assert X25519.setup_recipient_external(enc, pk_r, shared).open(ct) == b"pt"


def test_external_dh_exceptions_propagate() -> None:
    _, pk = P256.generate_key_pair()
    enc, _ = P256.setup_sender(pk)

    class DeviceGone(RuntimeError):
        pass

    def failing(_: bytes) -> bytes:
        raise DeviceGone("tpm unplugged")

    with pytest.raises(DeviceGone):
        P256.setup_recipient_external(enc, pk, failing)
    with pytest.raises(InvalidInputError):
        P256.setup_recipient_external(enc, pk, lambda _: b"short")
    with pytest.raises(TypeError):
        P256.setup_recipient_external(enc, pk, lambda _: 42)
    with pytest.raises(InvalidKeyError):  # enc is checked before the device is asked
        P256.setup_recipient_external(b"\x04" + bytes(64), pk, failing)
    with pytest.raises(UnsupportedSuiteError):
        HYBRID.setup_recipient_external(bytes(1120), bytes(1216), b"")


# --- bad input, each with its specific class ------------------------------------------------------


@pytest.mark.parametrize("kem", DHKEMS + [KEM.X25519_KYBER768_DRAFT00])
def test_wrong_enc_length(kem: KEM) -> None:
    suite = Suite(kem, KDF.HKDF_SHA256, AEAD.AES_128_GCM)
    sk, pk = suite.generate_key_pair()
    enc, ct = suite.seal(pk, b"x")
    for bad in (enc[:-1], enc + b"\x00", b""):
        with pytest.raises(InvalidInputError):
            suite.open(bad, sk, ct)


def test_invalid_points() -> None:
    sk, pk = P256.generate_key_pair()
    off_curve = pk[:-1] + bytes([pk[-1] ^ 1])
    compressed = bytes([2 + (pk[-1] & 1)]) + pk[1:33]
    for bad_pk in (off_curve, bytes(65), pk[:33], compressed):
        with pytest.raises(InvalidKeyError):
            P256.seal(bad_pk, b"x")
    enc, ct = P256.seal(pk, b"x")
    with pytest.raises(InvalidKeyError):
        P256.open(enc[:-1] + bytes([enc[-1] ^ 1]), sk, ct)
    # X25519 small-order points give an all-zero shared secret.
    with pytest.raises(InvalidKeyError):
        X25519.seal(bytes(32), b"x")
    x_sk, _ = X25519.generate_key_pair()
    with pytest.raises(InvalidKeyError):
        X25519.setup_recipient(b"\x01" + bytes(31), x_sk)


def test_invalid_secret_keys() -> None:
    for kem, data in [
        (KEM.P256, bytes(32)),
        (KEM.P256, b"\xff" * 32),
        (KEM.P256, bytes(31)),
        (KEM.X25519, bytes(33)),
        (KEM.X25519_KYBER768_DRAFT00, bytes(2432)),
    ]:
        with pytest.raises(InvalidKeyError):
            SecretKey.from_bytes(kem, data)
    x_sk, _ = X25519.generate_key_pair()
    _, pk = P256.generate_key_pair()
    enc, _ = P256.seal(pk, b"")
    with pytest.raises(InvalidKeyError):
        P256.setup_recipient(enc, x_sk)  # a key of another KEM
    with pytest.raises(TypeError):
        P256.setup_recipient(enc, 12345)  # type: ignore[arg-type]


def test_wrong_key_and_tampering_fail_to_open() -> None:
    sk, pk = X25519.generate_key_pair()
    other, _ = X25519.generate_key_pair()
    enc, ct = X25519.seal(pk, b"secret", info=b"i", aad=b"a")
    with pytest.raises(OpenError):
        X25519.open(enc, other, ct, info=b"i", aad=b"a")
    with pytest.raises(OpenError):
        X25519.open(enc, sk, ct, info=b"j", aad=b"a")
    with pytest.raises(OpenError):
        X25519.open(enc, sk, ct, info=b"i", aad=b"b")
    for bad in (ct[:-1], ct[:10], b"", bytes([ct[0] ^ 0x80]) + ct[1:]):
        with pytest.raises(OpenError):
            X25519.open(enc, sk, bad, info=b"i", aad=b"a")


def test_failed_open_keeps_the_sequence_number() -> None:
    sk, pk = X25519.generate_key_pair()
    enc, sender = X25519.setup_sender(pk)
    recipient = X25519.setup_recipient(enc, sk)
    ct = sender.seal(b"one")
    with pytest.raises(OpenError):
        recipient.open(ct[:-1] + bytes([ct[-1] ^ 1]))
    assert recipient.seq == 0
    assert recipient.open(ct) == b"one" and recipient.seq == 1


def test_psk_arguments() -> None:
    sk, pk = X25519.generate_key_pair()
    with pytest.raises(InvalidInputError):
        X25519.setup_sender(pk, psk=b"k" * 32)
    with pytest.raises(InvalidInputError):
        X25519.setup_sender(pk, psk_id=b"id")
    with pytest.raises(InvalidInputError):
        X25519.setup_sender(pk, psk=b"", psk_id=b"id")
    with pytest.raises(InvalidInputError):
        X25519.setup_recipient(bytes(32), sk, psk=b"k" * 32)
    enc, sender = X25519.setup_sender(pk, psk=b"k" * 32, psk_id=b"id")
    ct = sender.seal(b"m")
    with pytest.raises(OpenError):
        X25519.setup_recipient(enc, sk).open(ct)
    assert X25519.setup_recipient(enc, sk, psk=b"k" * 32, psk_id=b"id").open(ct) == b"m"


def test_auth_mode_binds_the_sender_key() -> None:
    sk_r, pk_r = P256.generate_key_pair()
    sk_s, pk_s = P256.generate_key_pair()
    _, pk_other = P256.generate_key_pair()
    enc, sender = P256.setup_sender(pk_r, sk_s=sk_s)
    ct = sender.seal(b"from s")
    with pytest.raises(OpenError):
        P256.setup_recipient(enc, sk_r, pk_s=pk_other).open(ct)
    assert P256.setup_recipient(enc, sk_r, pk_s=pk_s).open(ct) == b"from s"


def test_export_length_limits() -> None:
    suite = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.EXPORT_ONLY)
    _, pk = suite.generate_key_pair()
    _, ctx = suite.setup_sender(pk)
    assert len(ctx.export(b"c", 255 * 32)) == 255 * 32
    for bad in (255 * 32 + 1, 1 << 40, -1):
        with pytest.raises(InvalidInputError):
            ctx.export(b"c", bad)


def test_message_limit() -> None:
    sk, pk = X25519.generate_key_pair()
    enc, sender = X25519.setup_sender(pk)
    recipient = X25519.setup_recipient(enc, sk)
    sender._set_seq(2**64 - 2)
    recipient._set_seq(2**64 - 2)
    assert recipient.open(sender.seal(b"last")) == b"last"
    with pytest.raises(MessageLimitError):
        sender.seal(b"more")
    with pytest.raises(MessageLimitError):
        recipient.open(bytes(32))


def test_derive_key_pair_needs_nsk_bytes() -> None:
    with pytest.raises(InvalidInputError):
        P256.derive_key_pair(bytes(31))
    with pytest.raises(InvalidInputError):
        HYBRID.derive_key_pair(bytes(31))


def test_aead_key() -> None:
    key = AEADKey(AEAD.AES_256_GCM, bytes(32))
    ct = key.seal(bytes(12), b"body", b"aad")
    assert key.open(bytes(12), ct, b"aad") == b"body"
    with pytest.raises(OpenError):
        key.open(bytes(11) + b"\x01", ct, b"aad")
    with pytest.raises(InvalidInputError):
        key.seal(bytes(8), b"x")
    with pytest.raises(InvalidInputError):
        AEADKey(AEAD.AES_128_GCM, bytes(32))
    with pytest.raises(UnsupportedSuiteError):
        AEADKey(AEAD.EXPORT_ONLY, b"")


def test_aead_key_matches_cryptography() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    for aead, peer, key in [
        (AEAD.AES_128_GCM, AESGCM, bytes(range(16))),
        (AEAD.CHACHA20_POLY1305, ChaCha20Poly1305, bytes(range(32))),
    ]:
        nonce, pt = bytes(range(12)), bytes(range(256)) * 300  # large enough to release the GIL
        assert AEADKey(aead, key).seal(nonce, pt, b"a") == peer(key).encrypt(nonce, pt, b"a")


# --- secrets stay out of repr/str -------------------------------------------------------------------


def test_secrets_never_appear_in_repr_or_str() -> None:
    sk, pk = P256.derive_key_pair(bytes(range(32)))
    secret_hex = sk.to_bytes().hex()
    enc, sender = P256.setup_sender(pk)
    recipient = P256.setup_recipient(enc, sk)
    texts = [
        repr(sk),
        str(sk),
        repr(sender),
        str(sender),
        repr(recipient),
        str(recipient),
        repr(AEADKey(AEAD.AES_128_GCM, sk.to_bytes()[:16])),
    ]
    for raise_error in (
        lambda: P256.open(enc, sk, b"\x00" * 40),
        lambda: P256.setup_recipient(enc[:-1], sk),
        lambda: SecretKey.from_bytes(KEM.P256, b"\xff" + sk.to_bytes()[1:] + b"\x00"),
        lambda: P256.setup_recipient(enc, sk.to_bytes()[:31]),
    ):
        with pytest.raises(HPKEError) as info:
            raise_error()
        texts += [repr(info.value), str(info.value)]
    for text in texts:
        assert secret_hex not in text
        assert secret_hex[:16] not in text
        assert repr(sk.to_bytes()) not in text


def test_secret_key_equality_and_hash() -> None:
    sk, _ = X25519.derive_key_pair(bytes(32))
    same, _ = X25519.derive_key_pair(bytes(32))
    other, _ = X25519.derive_key_pair(bytes([1] * 32))
    assert sk == same and sk != other and sk == sk.to_bytes() and bytes(sk) == sk.to_bytes()
    with pytest.raises(TypeError):
        hash(sk)


def test_contexts_are_safe_across_threads() -> None:
    sk, pk = X25519.generate_key_pair()
    enc, sender = X25519.setup_sender(pk)
    cts: list[bytes] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            with lock:  # keep list order == sequence order
                cts.append(sender.seal(b"m"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recipient = X25519.setup_recipient(enc, sk)
    assert all(recipient.open(ct) == b"m" for ct in cts) and recipient.seq == 800


# --- hypothesis round trips ----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    kem=st.sampled_from(DHKEMS),
    kdf=st.sampled_from(list(KDF)),
    aead=st.sampled_from([AEAD.AES_128_GCM, AEAD.AES_256_GCM, AEAD.CHACHA20_POLY1305]),
    messages=st.lists(st.tuples(st.binary(max_size=300), st.binary(max_size=40)), max_size=5),
    info=st.binary(max_size=64),
    psk=st.one_of(st.none(), st.binary(min_size=1, max_size=48)),
    auth=st.booleans(),
)
def test_round_trip(
    kem: KEM,
    kdf: KDF,
    aead: AEAD,
    messages: list[tuple[bytes, bytes]],
    info: bytes,
    psk: bytes | None,
    auth: bool,
) -> None:
    suite = Suite(kem, kdf, aead)
    sk_r, pk_r = suite.generate_key_pair()
    sk_s, pk_s = suite.generate_key_pair() if auth else (None, None)
    psk_id = b"id" if psk is not None else None
    enc, sender = suite.setup_sender(pk_r, info, psk=psk, psk_id=psk_id, sk_s=sk_s)
    recipient = suite.setup_recipient(enc, sk_r, info, psk=psk, psk_id=psk_id, pk_s=pk_s)
    for pt, aad in messages:
        assert recipient.open(sender.seal(pt, aad), aad) == pt
    assert sender.export(info, 42) == recipient.export(info, 42)


@settings(max_examples=200, deadline=None)
@given(enc=st.binary(max_size=200), ct=st.binary(max_size=64))
def test_garbage_never_crashes(enc: bytes, ct: bytes) -> None:
    sk, _ = X25519.derive_key_pair(bytes(32))
    p_sk, _ = P256.derive_key_pair(bytes(32))
    for suite, key in ((X25519, sk), (P256, p_sk)):
        with pytest.raises(HPKEError):
            suite.open(enc, key, ct)


# --- interop with cryptography's HPKE where the RFC vectors have no case (P-384, HKDF-SHA384) ------------


@pytest.mark.parametrize(
    ("kem", "kdf", "aead"),
    [
        (KEM.P384, KDF.HKDF_SHA384, AEAD.AES_256_GCM),
        (KEM.P384, KDF.HKDF_SHA256, AEAD.CHACHA20_POLY1305),
        (KEM.P256, KDF.HKDF_SHA384, AEAD.AES_128_GCM),
        (KEM.X25519, KDF.HKDF_SHA384, AEAD.CHACHA20_POLY1305),
        (KEM.P521, KDF.HKDF_SHA384, AEAD.AES_256_GCM),
    ],
)
def test_interoperates_with_cryptography_hpke(kem: KEM, kdf: KDF, aead: AEAD) -> None:
    """Both directions against OpenSSL's HPKE (base mode, empty aad, which is all its API offers)."""
    pyca_suite = pyca.Suite(
        getattr(pyca.KEM, kem.name), getattr(pyca.KDF, kdf.name), getattr(pyca.AEAD, aead.name)
    )
    suite = Suite(kem, kdf, aead)
    if kem == KEM.X25519:
        pyca_sk = x25519.X25519PrivateKey.generate()
        raw = pyca_sk.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    else:
        curve = {KEM.P256: ec.SECP256R1(), KEM.P384: ec.SECP384R1(), KEM.P521: ec.SECP521R1()}[kem]
        pyca_sk = ec.generate_private_key(curve)
        nsk = {KEM.P256: 32, KEM.P384: 48, KEM.P521: 66}[kem]
        raw = pyca_sk.private_numbers().private_value.to_bytes(nsk, "big")
    sk = SecretKey.from_bytes(kem, raw)
    info, pt = b"interop info", b"interop plaintext" * 5

    enc, ct = suite.seal(sk.public_key(), pt, info)
    assert pyca_suite.decrypt(enc + ct, pyca_sk, info) == pt
    theirs = pyca_suite.encrypt(pt, pyca_sk.public_key(), info)
    enc_len = len(enc)
    assert suite.open(theirs[:enc_len], sk, theirs[enc_len:], info) == pt
