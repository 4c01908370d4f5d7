"""NVIDIA GPU and NVSwitch SPDM evidence from the repository vectors, and its mutations."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpcc.attestation.nvidia import DEVICE_ROOT_PEM, verify_evidence

from tests.support.vectors import load_json, read_bytes

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _failed(verdict) -> list[str]:
    return [c.name for c in verdict.failures]


@pytest.fixture(scope="module")
def expected() -> list[dict]:
    return load_json("nvidia", "expected.json")["cases"]


@pytest.fixture(scope="module")
def hopper_pair() -> bytes:
    return read_bytes("nvidia", "hopperAttestationReport.txt") + b"\n" + read_bytes("nvidia", "hopperCertChain.txt")


@pytest.fixture(scope="module")
def gpu_item() -> dict:
    return load_json("nvidia", "gpu_evidence.json")[0]


def _with_evidence(item: dict, edit) -> bytes:
    raw = bytearray(base64.b64decode(item["evidence"]))
    edit(raw)
    return json.dumps({**item, "evidence": base64.b64encode(bytes(raw)).decode()}).encode()


@pytest.mark.parametrize("name", ["gpu_evidence.json", "switch_evidence.json"])
def test_json_files_are_valid_with_expected_claims(name: str, expected: list[dict]) -> None:
    verdict = verify_evidence(read_bytes("nvidia", name), at=AT)
    assert verdict.valid, verdict.failures
    cases = [c for c in expected if c["file"].startswith(name)]
    devices = verdict.claims["devices"]
    assert len(devices) == len(cases) > 0
    for case, device in zip(cases, devices):
        assert device["request_nonce"] == case["request_nonce"]
        assert device["responder_nonce"] == case["responder_nonce"]
        assert len(device["measurements"]) == case["number_of_blocks"]
        assert device["arch"] == case["arch"]
        if "driver_version" in case:
            assert (device["driver_version"], device["vbios_version"]) == (case["driver_version"], case["vbios_version"])
    names = {c.name for c in verdict.checks}
    assert {f"nvidia.{i}.{k}" for i in range(len(cases)) for k in ("spdm", "measurements_requested", "chain", "signature", "nonce", "fwid")} <= names
    fwid_details = {c.detail for c in verdict.checks if c.name.endswith(".fwid")}
    if name == "gpu_evidence.json":  # GPUs sign their FWID; NVSwitches send none
        assert fwid_details == {"the opaque data's FWID is the one in the leaf certificate's DICE TcbInfo"}


def test_raw_hex_report_and_chain(hopper_pair: bytes, expected: list[dict]) -> None:
    verdict = verify_evidence(hopper_pair, at=AT)
    assert verdict.valid, verdict.failures
    assert verdict.claims["devices"][0]["request_nonce"] == expected[0]["request_nonce"]
    apart = verify_evidence(
        read_bytes("nvidia", "hopperAttestationReport.txt"), at=AT, chain=read_bytes("nvidia", "hopperCertChain.txt")
    )
    assert apart.valid
    no_chain = verify_evidence(read_bytes("nvidia", "hopperAttestationReport.txt"), at=AT)
    assert _failed(no_chain) == ["nvidia.0.chain", "nvidia.0.signature"]


def test_builtin_root_is_the_vector_root() -> None:
    assert DEVICE_ROOT_PEM.encode().strip() == read_bytes("nvidia", "verifier_device_root.pem").strip()


def test_flipped_signature_and_measurement(gpu_item: dict) -> None:
    sig = _with_evidence(gpu_item, lambda raw: raw.__setitem__(-1, raw[-1] ^ 1))
    assert _failed(verify_evidence(sig, at=AT)) == ["nvidia.0.signature"]
    meas = _with_evidence(gpu_item, lambda raw: raw.__setitem__(52, raw[52] ^ 1))
    assert _failed(verify_evidence(meas, at=AT)) == ["nvidia.0.signature"]


def test_nonce(gpu_item: dict) -> None:
    data = json.dumps(gpu_item).encode()
    right = bytes.fromhex(gpu_item["nonce"])
    assert verify_evidence(data, nonce=right, at=AT).valid
    wrong = bytes([right[0] ^ 1]) + right[1:]
    assert _failed(verify_evidence(data, nonce=wrong, at=AT)) == ["nvidia.0.nonce"]


def test_expired_and_not_yet_valid_certificates(hopper_pair: bytes) -> None:
    early = verify_evidence(hopper_pair, at=datetime(2019, 1, 1))
    assert _failed(early) == ["nvidia.0.chain", "nvidia.0.signature"]
    assert "not yet valid" in early.failures[0].detail
    # notAfter is 9999-12-31T23:59:59Z, the last instant a datetime can name: the expiry side is
    # covered by the Rust test (rust/openpcc-attest/tests/vectors_nvidia.rs) with a later instant.
    assert verify_evidence(hopper_pair, at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)).valid


def test_wrong_root_and_foreign_chain(hopper_pair: bytes, gpu_item: dict) -> None:
    wrong = verify_evidence(hopper_pair, at=AT, roots=read_bytes("nvidia", "verifier_RIM_root.pem"))
    assert _failed(wrong) == ["nvidia.0.chain", "nvidia.0.signature"]
    other = load_json("nvidia", "gpu_evidence.json")[1]
    swapped = json.dumps({**gpu_item, "certificate": other["certificate"]}).encode()
    assert _failed(verify_evidence(swapped, at=AT)) == ["nvidia.0.signature"]
    bad_roots = verify_evidence(hopper_pair, at=AT, roots=b"not a pem")
    assert _failed(bad_roots) == ["nvidia.roots"]


def test_claimed_versions_must_match_the_signed_opaque_data(gpu_item: dict) -> None:
    data = json.dumps({**gpu_item, "driver_version": "999.99"}).encode()
    assert _failed(verify_evidence(data, at=AT)) == ["nvidia.0.driver_version"]


@pytest.mark.parametrize("data", [b"", b"[]", b"{}", b"not hex", b"\xff\xfe", b'[{"evidence": "!!"}]'])
def test_malformed_containers(data: bytes) -> None:
    assert _failed(verify_evidence(data, at=AT)) == ["nvidia.format"]


def test_random_mutations_never_crash(gpu_item: dict) -> None:
    rng = random.Random(7)
    raw_len = len(base64.b64decode(gpu_item["evidence"]))
    for _ in range(60):
        at = rng.randrange(raw_len)
        cut = rng.choice([raw_len, rng.randrange(raw_len)])

        def edit(raw: bytearray, at: int = at, cut: int = cut) -> None:
            raw[at] ^= rng.randrange(1, 256)
            del raw[cut:]

        assert not verify_evidence(_with_evidence(gpu_item, edit), at=AT).valid


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=512) | st.text(max_size=512).map(str.encode))
def test_arbitrary_input_is_a_verdict(data: bytes) -> None:
    assert not verify_evidence(data, at=AT).valid
