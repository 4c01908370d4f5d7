"""HPKE and AES-GCM from Python: openpcc against cryptography (OpenSSL) and pyhpke.

Groups: one-shot seal+open of 1 KiB (base mode, AES-128-GCM) with X25519 and P-256, one-shot seal and open
separately, and bulk AES-GCM on 1 MiB. Run with ``make bench`` (prints the ratio table).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from openpcc import hpke
from pyhpke import AEADId, CipherSuite, KDFId, KEMId, KEMKey

PT_1K = bytes(range(256)) * 4
INFO = b"message/bhttp request"
PT_1M = bytes(1 << 20)

Paired = Callable[[str, str], Any]


def _pyca_keys(curve: str) -> tuple[Any, Any, bytes]:
    """A cryptography key pair and its scalar (to load the same key everywhere)."""
    if curve == "x25519":
        sk = x25519.X25519PrivateKey.generate()
        raw = sk.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return sk, sk.public_key(), raw
    sk_ec = ec.generate_private_key(ec.SECP256R1())
    return sk_ec, sk_ec.public_key(), sk_ec.private_numbers().private_value.to_bytes(32, "big")


SUITES = {
    "x25519": (hpke.KEM.X25519, pyca_hpke.KEM.X25519, KEMId.DHKEM_X25519_HKDF_SHA256),
    "p256": (hpke.KEM.P256, pyca_hpke.KEM.P256, KEMId.DHKEM_P256_HKDF_SHA256),
}


@pytest.fixture(params=["x25519", "p256"])
def curve(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def _setups(
    curve: str,
) -> dict[str, tuple[Callable[[], bytes], Callable[[], tuple[Any, ...]], Callable[..., bytes]]]:
    """Per implementation: (seal+open, seal, open) closures over the same key and plaintext."""
    ours_kem, pyca_kem, pyhpke_kem = SUITES[curve]
    pyca_sk, pyca_pk, raw_sk = _pyca_keys(curve)

    ours = hpke.Suite(ours_kem, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
    sk = hpke.SecretKey.from_bytes(ours_kem, raw_sk)
    pk = sk.public_key()

    pyca = pyca_hpke.Suite(pyca_kem, pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_128_GCM)

    other = CipherSuite.new(pyhpke_kem, KDFId.HKDF_SHA256, AEADId.AES128_GCM)
    other_sk = KEMKey.from_pyca_cryptography_key(pyca_sk)
    other_pk = KEMKey.from_pyca_cryptography_key(pyca_pk)

    def ours_round() -> bytes:
        enc, ct = ours.seal(pk, PT_1K, INFO)
        return ours.open(enc, sk, ct, INFO)

    def pyca_round() -> bytes:
        return pyca.decrypt(pyca.encrypt(PT_1K, pyca_pk, INFO), pyca_sk, INFO)

    # pyhpke 0.6 leaves its one-shot seal/open unimplemented; its contexts are the one-shot equivalent.
    def other_seal() -> tuple[bytes, bytes]:
        enc, ctx = other.create_sender_context(other_pk, INFO)
        return enc, ctx.seal(PT_1K)

    def other_open(enc: bytes, ct: bytes) -> bytes:
        return other.create_recipient_context(enc, other_sk, INFO).open(ct)  # type: ignore[no-any-return]

    def pyhpke_round() -> bytes:
        return other_open(*other_seal())

    for check in (ours_round, pyca_round, pyhpke_round):
        assert check() == PT_1K
    sealed_ours = ours.seal(pk, PT_1K, INFO)
    sealed_pyca = pyca.encrypt(PT_1K, pyca_pk, INFO)
    sealed_other = other_seal()
    return {
        "openpcc": (
            ours_round,
            lambda: ours.seal(pk, PT_1K, INFO),
            lambda: ours.open(sealed_ours[0], sk, sealed_ours[1], INFO),
        ),
        "cryptography": (
            pyca_round,
            lambda: (pyca.encrypt(PT_1K, pyca_pk, INFO),),
            lambda: pyca.decrypt(sealed_pyca, pyca_sk, INFO),
        ),
        "pyhpke": (pyhpke_round, other_seal, lambda: other_open(*sealed_other)),
    }


IMPLS = ["openpcc", "cryptography", "pyhpke"]


@pytest.mark.parametrize("impl", IMPLS)
def test_hpke_seal_open_1k(paired: Paired, curve: str, impl: str) -> None:
    round_trip = _setups(curve)[impl][0]
    assert paired(f"hpke seal+open 1KiB {curve}", impl)(round_trip) == PT_1K


@pytest.mark.parametrize("impl", IMPLS)
def test_hpke_seal_1k(paired: Paired, curve: str, impl: str) -> None:
    paired(f"hpke seal 1KiB {curve}", impl)(_setups(curve)[impl][1])


@pytest.mark.parametrize("impl", IMPLS)
def test_hpke_open_1k(paired: Paired, curve: str, impl: str) -> None:
    assert paired(f"hpke open 1KiB {curve}", impl)(_setups(curve)[impl][2]) == PT_1K


KEY_128 = bytes(range(16))
NONCE = bytes(12)


@pytest.mark.parametrize("impl", ["openpcc", "cryptography"])
def test_aes128gcm_seal_1m(paired: Paired, impl: str) -> None:
    if impl == "openpcc":
        ours = hpke.AEADKey(hpke.AEAD.AES_128_GCM, KEY_128)
        paired("aes-128-gcm seal 1MiB", impl)(ours.seal, NONCE, PT_1M)
    else:
        peer = AESGCM(KEY_128)
        paired("aes-128-gcm seal 1MiB", impl)(peer.encrypt, NONCE, PT_1M, None)


@pytest.mark.parametrize("impl", ["openpcc", "cryptography"])
def test_aes128gcm_open_1m(paired: Paired, impl: str) -> None:
    ct = AESGCM(KEY_128).encrypt(NONCE, PT_1M, None)
    if impl == "openpcc":
        ours = hpke.AEADKey(hpke.AEAD.AES_128_GCM, KEY_128)
        assert paired("aes-128-gcm open 1MiB", impl)(ours.open, NONCE, ct) == PT_1M
    else:
        peer = AESGCM(KEY_128)
        assert paired("aes-128-gcm open 1MiB", impl)(peer.decrypt, NONCE, ct, None) == PT_1M


@pytest.mark.parametrize("impl", ["openpcc", "cryptography"])
def test_hpke_context_seal_open_32b(paired: Paired, impl: str) -> None:
    """Per-message overhead: seal+open of a 32-byte message on an established context."""
    if impl == "openpcc":
        suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
        sk, pk = suite.generate_key_pair()
        enc, sender = suite.setup_sender(pk)
        recipient = suite.setup_recipient(enc, sk)

        def round_trip() -> bytes:
            return recipient.open(sender.seal(PT_1K[:32]))
    else:
        # cryptography has no multi-message HPKE context; its AESGCM with a fixed nonce is the floor.
        aead = AESGCM(KEY_128)

        def round_trip() -> bytes:
            return aead.decrypt(NONCE, aead.encrypt(NONCE, PT_1K[:32], None), None)

    assert paired("aead seal+open 32B (context vs raw AESGCM)", impl)(round_trip) == PT_1K[:32]


def test_hpke_seal_open_1k_hybrid(paired: Paired) -> None:
    """The gateway suite (0x0030, no Python peer implements it): for scale next to the DHKEM groups."""
    suite = hpke.Suite(
        hpke.KEM.X25519_KYBER768_DRAFT00, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM
    )
    sk, pk = suite.generate_key_pair()

    def round_trip() -> bytes:
        enc, ct = suite.seal(pk, PT_1K, INFO)
        return suite.open(enc, sk, ct, INFO)

    assert paired("hpke seal+open 1KiB x25519kyber768 (no peer)", "openpcc")(round_trip) == PT_1K
