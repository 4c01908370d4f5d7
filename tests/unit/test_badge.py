"""Badges (spec §8.9): the worked vector with the reference's dev key, produced and verified, and every way a
badge can be wrong stopped by the check named for it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from openpcc.badge import (
    Badge,
    credentials_bytes,
    decode_models,
    encode_models,
    load_public_key,
    public_key_pem,
)
from openpcc.compute import encode_message
from openpcc.exceptions import BadgeSignatureError, ConfigError, MalformedBadgeError, UsageError

# The reference's dev badge key (inttest/key_provider.go; spec §1.2) and its public key (router_com config).
DEV_KEY_DER = base64.b64decode("MC4CAQAwBQYDK2VwBCIEIPTqQ1PtTaEjElKNEBRipKse2k/U4CWxzfJ71DyJGzKc")
DEV_PUBLIC_DER = base64.b64decode("MCowBQYDK2VwAyEA1J5raA7De44zQREZqSmAnDL+TNn1OQDNemlZg8yg7k8=")
# The worked vector of spec §8.9 for ["my-model:1b"].
DEV_CREDENTIALS = bytes.fromhex("0a0f0b0000006d792d6d6f64656c3a3162")
DEV_SIGNATURE = bytes.fromhex(
    "47529d714543541f867f10ac88d046279ffa398453572f01722eb43af9e9beb7"
    "56ccf71d393b21da960183105fba234d8d482dce75f083165377dcc76dfaa009"
)
DEV_HEADER = (
    "ChEKDwsAAABteS1tb2RlbDoxYhJAR1KdcUVDVB+GfxCsiNBGJ5/6OYRTVy8Bci60OvnpvrdWzPcdOTsh2pYBgxBfuiNNjUgtznXwgxZTd9zHbfqgCQ=="
)


def dev_key() -> Ed25519PrivateKey:
    key = serialization.load_der_private_key(DEV_KEY_DER, None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def test_issuing_reproduces_the_worked_vector() -> None:
    badge = Badge.issue(dev_key(), ["my-model:1b"])
    assert badge.credentials == DEV_CREDENTIALS
    assert badge.signature == DEV_SIGNATURE
    assert badge.to_header() == DEV_HEADER
    # the hand-made encoding is the protobuf encoding of the JSON form
    assert encode_message("csprotos.Badge", badge.to_message()) == badge.encode()
    public = dev_key().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public == DEV_PUBLIC_DER


def test_the_worked_vector_verifies_under_the_dev_public_key(tmp_path: Path) -> None:
    pem = tmp_path / "badge.pem"
    pem.write_bytes(public_key_pem(serialization.load_der_public_key(DEV_PUBLIC_DER)))  # type: ignore[arg-type]
    badge = Badge.from_header(DEV_HEADER)
    assert badge.models == ("my-model:1b",) and badge.grants("my-model:1b") and not badge.grants("my-model")
    badge.verify(load_public_key(pem))
    assert Badge.from_message(badge.to_message()) == badge
    assert "signature" not in repr(badge) and DEV_SIGNATURE.hex() not in repr(badge)


def test_models_are_sorted_length_prefixed_ascii() -> None:
    assert encode_models(["b", "a"]) == b"\x01\x00\x00\x00a\x01\x00\x00\x00b"
    assert decode_models(encode_models(["b", "a"])) == ("a", "b")
    assert credentials_bytes([]) == b""  # the reference leaves an empty list's field unset
    for bad in (["a", "a"], [""], ["tab\t"], ["é"]):
        with pytest.raises(UsageError):
            encode_models(bad)


@pytest.mark.parametrize(
    "field",
    [
        b"\x01\x00\x00",  # truncated length
        b"\x00\x00\x00\x00",  # empty name
        b"\x05\x00\x00\x00abc",  # runs past the end
        b"\x01\x00\x00\x00\x7f",  # not printable
        b"\x01\x00\x00\x00b\x01\x00\x00\x00a",  # not sorted
    ],
)
def test_bad_model_lists_do_not_decode(field: bytes) -> None:
    with pytest.raises(MalformedBadgeError) as caught:
        decode_models(field)
    assert caught.value.check == "badge.decode"


def test_a_forged_or_altered_badge_fails_the_signature_check() -> None:
    public = dev_key().public_key()
    forged = Badge.issue(Ed25519PrivateKey.generate(), ["my-model:1b"])
    widened = Badge(("my-model:1b", "other:70b"), DEV_SIGNATURE)  # the dev signature over another model set
    unsigned = Badge(("my-model:1b",), b"")
    for badge in (forged, widened, unsigned):
        with pytest.raises(BadgeSignatureError) as caught:
            badge.verify(public)
        assert caught.value.check == "badge.signature"


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"\xff\xff\xff").decode()])
def test_headers_that_are_not_badges(text: str) -> None:
    with pytest.raises(MalformedBadgeError):
        Badge.from_header(text)


def test_a_client_refuses_a_badge_naming_a_model_twice() -> None:
    twice = Badge(("a", "a"), b"\x00" * 64)
    assert Badge.decode(twice.encode()).models == ("a", "a")  # sorted (not strictly), as the reference decodes
    with pytest.raises(MalformedBadgeError):
        Badge.decode(twice.encode()).check_distinct()


def test_public_key_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_public_key(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_bytes(b"junk")
    with pytest.raises(ConfigError):
        load_public_key(tmp_path / "junk.pem")
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "p256.pem").write_bytes(
        other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ConfigError):
        load_public_key(tmp_path / "p256.pem")


def test_the_auth_bank_writes_its_public_key_beside_a_new_or_older_key(tmp_path: Path) -> None:
    import stat

    from openpcc import config
    from openpcc.services.auth import ensure_badge_key

    key_path = tmp_path / "auth" / "badge-key.pem"
    public_path = ensure_badge_key(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(config.read_key_file(key_path), None)
    assert isinstance(key, Ed25519PrivateKey)
    Badge.issue(key, ["echo"]).verify(load_public_key(public_path))
    assert ensure_badge_key(key_path) == public_path and config.read_key_file(key_path) == key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )  # kept, not replaced
    public_path.unlink()  # a key made before public keys were written beside it
    ensure_badge_key(key_path)
    Badge.issue(key, ["echo"]).verify(load_public_key(public_path))
