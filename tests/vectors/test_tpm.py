"""TPM 2.0 vectors (``tests/data/vectors/tpm``) through the Python API: every quote gives the
outcome ``expected.json`` states; negatives fail with the named check; bad bytes raise the
specific class from the parse helpers and never crash the verifiers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpcc.attestation import tpm
from openpcc.attestation.verdict import Verdict
from openpcc.exceptions import MalformedTPMStructureError, UnsupportedTPMAlgorithmError
from support.vectors import load_json, read_bytes

JAN_2026 = datetime(2026, 1, 1, tzinfo=UTC)


def _pcrs(values: dict[str, str]) -> dict[int, bytes]:
    return {int(k): bytes.fromhex(v) for k, v in values.items()}


def _failed(verdict: Verdict) -> list[str]:
    return [c.name for c in verdict.failures]


def _bank_cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    try:
        expected = load_json("tpm", "expected.json")
    except pytest.skip.Exception:
        return []
    return [(b["quote"], q, b) for q in expected["quotes"][1:] for b in q["banks"]]


@pytest.mark.parametrize(
    "name,quote,bank", _bank_cases(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_go_tpm_tools_quote_is_valid(
    name: str, quote: dict[str, Any], bank: dict[str, Any]
) -> None:
    ak = read_bytes("tpm", quote["extracted_files"]["ak_pub"])
    verdict = tpm.verify_quote(
        read_bytes("tpm", bank["quote"]),
        read_bytes("tpm", bank["signature"]),
        ak,
        nonce=bytes.fromhex(bank["attest"]["extraData"]),
        pcrs=_pcrs(bank["pcr_values"]),
        bank=bank["bank"],
    )
    assert verdict.valid, verdict.failures
    assert verdict.claims["clock"]["clock"] == bank["attest"]["clock"]
    assert verdict.claims["firmware"] == bank["attest"]["firmwareVersion"]
    assert verdict.claims["signer"] == bank["attest"]["qualifiedSigner"]
    assert verdict.claims["ak_name"] == quote["ak_public"]["name"]
    parsed = tpm.parse_attest(read_bytes("tpm", bank["quote"]))
    assert parsed["attested"]["pcrDigest"] == bank["attest"]["pcrDigest"]


def _windows() -> dict[str, Any]:
    return load_json("tpm", "go-attestation/windows_gcp_shielded_vm.json")


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def test_windows_gce_quote_and_creation_are_valid() -> None:
    w = _windows()
    expected = load_json("tpm", "expected.json")["quotes"][0]
    pcrs = {p["Index"]: _b64(p["Digest"]) for p in w["Log"]["PCRs"]}
    ak = _b64(w["AK"]["Public"])
    verdict = tpm.verify_quote(
        _b64(w["Quote"]["Quote"]),
        _b64(w["Quote"]["Signature"]),
        ak,
        pcrs=pcrs,
        bank="sha1",
        nonce_required=False,
        allow_weak_ak=True,
    )
    assert verdict.valid, verdict.failures
    # This Windows AK signs with SHA-1: refused unless the caller (a policy) allows weak AKs.
    strict = tpm.verify_quote(
        _b64(w["Quote"]["Quote"]), _b64(w["Quote"]["Signature"]), ak,
        pcrs=pcrs, bank="sha1", nonce_required=False,
    )  # fmt: skip
    assert _failed(strict) == ["tpm.quote.signature"]
    assert "SHA-1" in strict.failures[0].detail
    assert tpm.public_name(ak).hex() == expected["ak_public"]["name"]
    assert tpm.parse_signature(_b64(w["Quote"]["Signature"])) == ("rsassa", "sha1")
    creation = tpm.verify_certify_creation(
        _b64(w["AK"]["CreateAttestation"]),
        _b64(w["AK"]["CreateSignature"]),
        ak,
        object_public=ak,
        allow_weak_ak=True,
    )
    assert creation.valid, creation.failures
    assert creation.claims["object_name"] == expected["ak_public"]["name"]


def test_missing_nonce_is_a_failed_freshness_check() -> None:
    w = _windows()
    pcrs = {p["Index"]: _b64(p["Digest"]) for p in w["Log"]["PCRs"]}
    verdict = tpm.verify_quote(
        _b64(w["Quote"]["Quote"]),
        _b64(w["Quote"]["Signature"]),
        _b64(w["AK"]["Public"]),
        pcrs=pcrs,
        bank="sha1",
        allow_weak_ak=True,
    )
    assert _failed(verdict) == ["tpm.quote.nonce"]


@pytest.mark.parametrize(
    "leaf,intermediates,root",
    [
        ("openpcc/gce_ak_cert.pem", ["openpcc/gce_ak_intermediate_cert.pem"], "gce-ek-ak-root"),
        ("openpcc/azure_ak_cert_01.pem", [], "azure-vtpm-root-2023"),
        ("openpcc/azure_ak_cert_03.pem", [], "azure-vtpm-root-2023"),
    ],
)
def test_ak_certificates_chain_to_built_in_roots(
    leaf: str, intermediates: list[str], root: str
) -> None:
    verdict = tpm.verify_ak(
        read_bytes("tpm", leaf),
        intermediates=[read_bytes("tpm", i) for i in intermediates],
        at=JAN_2026,
    )
    assert verdict.valid, verdict.failures
    assert verdict.claims["ak_chain"][-1] == root


def test_expired_or_unanchored_ak_certificates_fail_the_chain() -> None:
    azure = read_bytes("tpm", "openpcc/azure_ak_cert_01.pem")
    assert _failed(tpm.verify_ak(azure, at=datetime(2027, 1, 1, tzinfo=UTC))) == ["tpm.ak.chain"]
    assert _failed(tpm.verify_ak(read_bytes("tpm", "openpcc/gce_ak_cert.pem"), at=JAN_2026)) == [
        "tpm.ak.chain"
    ]


def test_quote_under_an_ak_certificate_checks_signature_and_chain() -> None:
    expected = load_json("tpm", "expected.json")
    bank = expected["quotes"][2]["banks"][1]
    verdict = tpm.verify_quote(
        read_bytes("tpm", bank["quote"]),
        read_bytes("tpm", bank["signature"]),
        read_bytes("tpm", "go-tpm-tools/extracted/gce-cos-85-nonce9009.ak_cert.der"),
        nonce=b"\x90\x09",
        pcrs=_pcrs(bank["pcr_values"]),
        at=JAN_2026,
    )
    # Signed by the certified key; the 2020 Google intermediate that issued it is not available.
    assert _failed(verdict) == ["tpm.ak.chain"]
    assert any(c.name == "tpm.quote.signature" and c.ok for c in verdict.checks)


@pytest.fixture
def cos() -> dict[str, Any]:
    bank = load_json("tpm", "expected.json")["quotes"][2]["banks"][1]
    return {
        "attest": read_bytes("tpm", bank["quote"]),
        "signature": read_bytes("tpm", bank["signature"]),
        "ak": read_bytes(
            "tpm", "go-tpm-tools/extracted/gce-cos-85-nonce9009.ak_pub.tpmt_public.bin"
        ),
        "pcrs": _pcrs(bank["pcr_values"]),
    }


def _verify(case: dict[str, Any], **over: Any) -> list[str]:
    args = {**case, "nonce": b"\x90\x09", **over}
    return _failed(
        tpm.verify_quote(
            args["attest"], args["signature"], args["ak"], nonce=args["nonce"], pcrs=args["pcrs"]
        )
    )


def test_negatives_fail_with_the_named_check(cos: dict[str, Any]) -> None:
    assert _verify(cos) == []
    assert _verify(cos, nonce=b"\x90\x0a") == ["tpm.quote.nonce"]
    flipped = bytearray(cos["signature"])
    flipped[-1] ^= 1
    assert _verify(cos, signature=bytes(flipped)) == ["tpm.quote.signature"]
    changed = dict(cos["pcrs"])
    changed[0] = bytes(32)
    assert _verify(cos, pcrs=changed) == ["tpm.quote.pcr_digest"]
    shifted = {i + 1: v for i, v in cos["pcrs"].items()}
    assert _verify(cos, pcrs=shifted) == ["tpm.quote.pcr_selection"]
    assert _verify(cos, attest=cos["attest"] + b"\x00") == ["tpm.attest.parse"]
    assert _verify(cos, attest=cos["attest"][:-3]) == ["tpm.attest.parse"]
    assert _verify(cos, attest=b"\x00" + cos["attest"][1:]) == ["tpm.attest.magic"]
    assert _verify(cos, ak=base64.b64decode(_windows()["AK"]["Public"])) == ["tpm.quote.signature"]
    assert _verify(cos, ak=b"\x00\x01\x00") == ["tpm.ak.parse"]


def test_truncated_and_flipped_input_never_crashes(cos: dict[str, Any]) -> None:
    for field in ("attest", "signature", "ak"):
        data = cos[field]
        for n in range(len(data)):
            assert _verify(cos, **{field: data[:n]}) != []
        for i in range(0, len(data), 3):
            mutated = bytearray(data)
            mutated[i] ^= 0x41
            _verify(cos, **{field: bytes(mutated)})


def test_parse_helpers_raise_specific_classes(cos: dict[str, Any]) -> None:
    with pytest.raises(MalformedTPMStructureError):
        tpm.parse_attest(cos["attest"][:20])
    with pytest.raises(MalformedTPMStructureError):
        tpm.parse_public(cos["ak"] + b"\x00")
    with pytest.raises(UnsupportedTPMAlgorithmError):
        tpm.parse_signature(b"\x00\x99" + cos["signature"][2:])
    with pytest.raises(UnsupportedTPMAlgorithmError):
        tpm.parse_attest(cos["attest"][:4] + b"\x80\x14" + cos["attest"][6:])


def test_pcr_file_format(tmp_path: Path, cos: dict[str, Any]) -> None:
    path = tmp_path / "pcrs.json"
    path.write_text(
        json.dumps({"bank": "sha256", "pcrs": {str(k): v.hex() for k, v in cos["pcrs"].items()}})
    )
    bank, pcrs = tpm.load_pcrs(path)
    assert bank == "sha256" and pcrs == cos["pcrs"]
    path.write_text("[1, 2]")
    with pytest.raises(MalformedTPMStructureError):
        tpm.load_pcrs(path)
    with pytest.raises(MalformedTPMStructureError):
        tpm.parse_pcrs({"pcrs": {"x": "00"}})


def test_policy_pcr_digest_matches_spec_formula() -> None:
    import hashlib
    import struct

    values = {i: bytes([i]) * 32 for i in tpm.REFERENCE_PCRS}
    selection = struct.pack(">IHB", 1, 0x000B, 3) + bytes([0xBF, 0x11, 0x00])
    pcr_digest = hashlib.sha256(b"".join(values[i] for i in sorted(values))).digest()
    expected = hashlib.sha256(
        bytes(32) + struct.pack(">I", 0x17F) + selection + pcr_digest
    ).digest()
    assert tpm.policy_pcr_digest(values) == expected
