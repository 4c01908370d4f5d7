"""Every case of the RFC 9180 vectors through the Python API: key derivation, every encryption (exact
ciphertext bytes, via the ``ikm_e`` test hook) in sequence on both sides, every export, in all four modes."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from openpcc._openpcc.hpke import _setup_sender_with_ikm_e
from openpcc.hpke import (
    AEAD,
    KEM,
    InvalidKeyError,
    OpenError,
    SecretKey,
    Suite,
    UnsupportedSuiteError,
)
from support.vectors import load_json

VECTORS = "test-vectors.json.gz"


@cache
def _cases() -> list[Any]:
    return load_json("hpke", VECTORS)  # type: ignore[no-any-return]


def _case_id(case: dict[str, Any]) -> str:
    return f"mode{case['mode']}-kem{case['kem_id']:#06x}-kdf{case['kdf_id']}-aead{case['aead_id']:#06x}"


def _h(case: dict[str, Any], name: str) -> bytes:
    return bytes.fromhex(case[name])


def _opt(case: dict[str, Any], name: str) -> bytes | None:
    return bytes.fromhex(case[name]) if name in case else None


def test_vector_file_has_every_combination() -> None:
    cases = _cases()
    assert len(cases) == 128
    assert sum(len(c["encryptions"]) for c in cases) == 24_672
    assert sum(len(c["exports"]) for c in cases) == 384


@pytest.mark.parametrize("index", range(128))
def test_case(index: int) -> None:
    case = _cases()[index]
    suite = Suite(case["kem_id"], case["kdf_id"], case["aead_id"])
    info = _h(case, "info")

    sk_r, pk_r = suite.derive_key_pair(_h(case, "ikmR"))
    assert sk_r.to_bytes() == _h(case, "skRm")
    assert pk_r == _h(case, "pkRm")
    sk_e, pk_e = suite.derive_key_pair(_h(case, "ikmE"))
    assert sk_e == _h(case, "skEm")
    assert pk_e == _h(case, "pkEm")

    sk_s = pk_s = None
    if "ikmS" in case:
        sk_s, pk_s = suite.derive_key_pair(_h(case, "ikmS"))
        assert sk_s.to_bytes() == _h(case, "skSm")
        assert pk_s == _h(case, "pkSm")
    psk, psk_id = _opt(case, "psk"), _opt(case, "psk_id")

    enc, sender = _setup_sender_with_ikm_e(
        suite, pk_r, info, ikm_e=_h(case, "ikmE"), psk=psk, psk_id=psk_id, sk_s=sk_s
    )
    assert enc == _h(case, "enc")
    # The recipient gets the serialized secret key, the sender's key object: both forms are accepted.
    recipient = suite.setup_recipient(
        enc,
        SecretKey.from_bytes(case["kem_id"], _h(case, "skRm")),
        info,
        psk=psk,
        psk_id=psk_id,
        pk_s=pk_s,
    )

    for seq, encryption in enumerate(case["encryptions"]):
        aad, pt, ct = _h(encryption, "aad"), _h(encryption, "pt"), _h(encryption, "ct")
        assert sender.seq == seq
        assert sender.seal(pt, aad) == ct
        assert recipient.open(ct, aad=aad) == pt

    if case["aead_id"] == AEAD.EXPORT_ONLY:
        with pytest.raises(UnsupportedSuiteError):
            sender.seal(b"x")
        with pytest.raises(UnsupportedSuiteError):
            recipient.open(bytes(17))
    else:
        ct = sender.seal(b"next", b"aad")
        tampered = bytes([ct[0] ^ 1]) + ct[1:]
        with pytest.raises(OpenError):
            recipient.open(tampered, b"aad")
        with pytest.raises(OpenError):
            recipient.open(ct, b"aae")
        assert recipient.open(ct, b"aad") == b"next"
        # A flipped bit in enc: off the curve (InvalidKeyError) or another shared secret (OpenError).
        bad_enc = enc[:-1] + bytes([enc[-1] ^ 1])
        first = case["encryptions"][0]
        with pytest.raises((OpenError, InvalidKeyError)):
            suite.setup_recipient(bad_enc, sk_r, info, psk=psk, psk_id=psk_id, pk_s=pk_s).open(
                _h(first, "ct"), _h(first, "aad")
            )

    for export in case["exports"]:
        context, length = _h(export, "exporter_context"), export["L"]
        assert sender.export(context, length) == _h(export, "exported_value")
        assert recipient.export(context, length) == _h(export, "exported_value")


def test_one_shot_open_of_every_base_mode_case() -> None:
    """The first ciphertext of every base-mode case opens with the one-shot API and serialized key."""
    base = [c for c in _cases() if c["mode"] == 0 and c["encryptions"]]
    assert len(base) == 24
    for case in base:
        suite = Suite(KEM(case["kem_id"]), case["kdf_id"], case["aead_id"])
        first = case["encryptions"][0]
        pt = suite.open(
            _h(case, "enc"), _h(case, "skRm"), _h(first, "ct"), _h(case, "info"), _h(first, "aad")
        )
        assert pt == _h(first, "pt")
