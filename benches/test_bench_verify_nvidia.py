"""NVIDIA GPU evidence (SPDM measurements + 5-certificate P-384 chain): openpcc against a baseline
written on ``cryptography`` that performs the same checks (chain signatures, validity, CA flags,
root match, SPDM signature, nonce)."""

from __future__ import annotations

import base64
import itertools
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpcc._openpcc import nvidia as _nvidia
from openpcc.attestation.nvidia import DEVICE_ROOT_PEM, verify_evidence

from tests.support.vectors import load_json

GROUP = "nvidia-gpu-verify"
AT = datetime(2026, 1, 1, tzinfo=UTC)
_ROOT = x509.load_pem_x509_certificate(DEVICE_ROOT_PEM.encode())


def python_verify(item: dict, at: datetime) -> bool:
    raw = base64.b64decode(item["evidence"])
    chain = x509.load_pem_x509_certificates(base64.b64decode(item["certificate"]))
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return False
    for cert, issuer in itertools.pairwise(chain):
        if not issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
        cert.verify_directly_issued_by(issuer)
    if chain[-1] != _ROOT:
        return False
    if raw[0] != 0x11 or raw[1] != 0xE0 or raw[37] != 0x11 or raw[38] != 0x60:
        return False
    record_len = int.from_bytes(raw[37 + 5 : 37 + 8], "little")
    opaque_at = 37 + 8 + record_len + 32
    opaque_len = int.from_bytes(raw[opaque_at : opaque_at + 2], "little")
    if opaque_at + 2 + opaque_len + 96 != len(raw):
        return False
    sig = raw[-96:]
    der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
    chain[0].public_key().verify(der, raw[:-96], ec.ECDSA(hashes.SHA384()))
    return raw[4:36] == bytes.fromhex(item["nonce"])


@pytest.fixture(scope="module")
def item() -> dict:
    return load_json("nvidia", "gpu_evidence.json")[0]


def test_baseline_agrees(item: dict) -> None:
    assert python_verify(item, AT)
    assert verify_evidence(json.dumps(item).encode(), at=AT).valid


@pytest.mark.benchmark(group=GROUP)
def test_openpcc_verify_nvidia_cached_chain(benchmark, item: dict) -> None:
    """Certificate signatures verified once per process; the SPDM signature every time."""
    # The baseline verifies cold, so ratios are against the cold row.
    benchmark.extra_info["impl"] = "openpcc-cached"
    data = json.dumps(item).encode()
    assert benchmark(lambda: verify_evidence(data, at=AT)).valid


@pytest.mark.benchmark(group=GROUP)
def test_openpcc_verify_nvidia_cold(benchmark, item: dict) -> None:
    """Every signature verified: the cache is cleared before each round."""
    data = json.dumps(item).encode()
    result = benchmark.pedantic(
        lambda: verify_evidence(data, at=AT), setup=_nvidia._clear_signature_cache, rounds=60, iterations=1
    )
    assert result.valid


@pytest.mark.benchmark(group=GROUP)
def test_python_cryptography_baseline(benchmark, item: dict) -> None:
    assert benchmark(python_verify, item, AT)
