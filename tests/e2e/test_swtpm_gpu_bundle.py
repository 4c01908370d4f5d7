"""GPU evidence bound to the client's nonce and the node's REK, end to end.

The real NVIDIA samples carry nonces we did not choose, so no other test reaches a passing verdict
for bound GPU evidence. Here the evidence is synthetic (``tests/support/nvidia_synthetic.py``):
same container, SPDM framing and chain shape as an H100's, signed by a device PKI made up per
test. First the standalone NVIDIA verifier must accept it and reject each forgery; then the swtpm
node's bundle carries it as ``OPENPCC_NVIDIA_EVIDENCE`` with the SPDM nonce ``gpu_nonce(nonce,
REK name)`` under a policy that requires a GPU and trusts the synthetic root.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from openpcc.attestation import (
    EvidencePiece,
    EvidenceType,
    Policy,
    load_policy,
    nvidia,
    verify_evidence,
)
from openpcc.attestation import tpm as tpm_verify
from openpcc.attestation.bundle import bundle_from_identity, gpu_nonce
from openpcc.attestation.policy import TrustRoots
from openpcc.node_identity import NodeIdentity

from tests.support import nvidia_rim_synthetic as rims
from tests.support import nvidia_synthetic as synth
from tests.support.swtpm import provisioned_node
from tests.support.vectors import read_bytes

ROOT = Path(__file__).resolve().parents[2]
DEV_POLICY = ROOT / "policies" / "dev.toml"
AT = datetime(2026, 6, 1, tzinfo=UTC)
GPU_CHECKS = (
    "spdm",
    "measurements_requested",
    "chain",
    "signature",
    "nonce",
    "driver_version",
    "vbios_version",
    "fwid",
)


def failed(verdict) -> list[str]:
    return [c.name for c in verdict.failures]


def passed(verdict) -> set[str]:
    return {c.name for c in verdict.checks if c.ok}


@pytest.fixture(scope="module")
def pki() -> synth.DevicePki:
    return synth.make_pki()


# --- the synthetic evidence under the standalone verifier --------------------------------


def test_synthetic_evidence_passes_every_check(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    report = synth.GpuReport.build(pki, nonce)
    verdict = nvidia.verify_evidence(
        synth.evidence_json(report), nonce=nonce, roots=pki.root_pem(), at=AT
    )
    assert verdict.valid, verdict.failures
    assert {f"nvidia.0.{k}" for k in GPU_CHECKS} | {"nvidia.format"} == passed(verdict)
    device = verdict.claims["devices"][0]
    assert device["measurements"] == synth.measurements_claim(report.blocks)
    assert len(device["measurements"]) == 64
    assert device["request_nonce"] == nonce.hex()
    assert device["responder_nonce"] == report.responder_nonce.hex()
    assert (device["driver_version"], device["vbios_version"]) == ("590.12", "96.00.A5.00.01")
    assert device["opaque"]["20"] == pki.fwid.hex()
    assert device["arch"] == "HOPPER"
    assert "Synthetic GPU A01 GSP FMC LF" in device["leaf_subject"]
    chain = next(c for c in verdict.checks if c.name == "nvidia.0.chain")
    assert chain.detail == "5 certificates, ending at the trusted root"


def test_framing_mirrors_the_real_h100_sample(pki: synth.DevicePki) -> None:
    """Same byte layout as gpu_evidence.json[0]: request, header, block sizes, total length
    minus the opaque data (ours is shorter), signature length."""
    real = base64.b64decode(json.loads(read_bytes("nvidia", "gpu_evidence.json"))[0]["evidence"])
    ours = synth.GpuReport.build(pki, os.urandom(32)).raw
    assert ours[:4] == real[:4] and ours[36] == real[36]  # version, code, param1, param2; slot
    assert ours[37:45] == real[37:45]  # response header, 64 blocks, 3520-byte record
    assert ours[45:49] == real[45:49]  # block 1: index, DMTF spec, size 51
    assert ours[49:52] == real[49:52]  # DMTF value type 0x01, 48-byte value
    real_opaque = int.from_bytes(real[45 + 3520 + 32 : 45 + 3520 + 34], "little")
    ours_opaque = int.from_bytes(ours[45 + 3520 + 32 : 45 + 3520 + 34], "little")
    assert len(real) - real_opaque == len(ours) - ours_opaque


def test_custom_blocks_are_exposed_as_built(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    blocks = {1: bytes(48), 7: b"\xab" * 48, 3: hashlib.sha384(b"vbios").digest()}
    report = synth.GpuReport.build(pki, nonce, blocks=blocks)
    verdict = nvidia.verify_evidence(
        synth.evidence_json(report), nonce=nonce, roots=pki.root_pem(), at=AT
    )
    assert verdict.valid, verdict.failures
    assert verdict.claims["devices"][0]["measurements"] == {
        "1": "00" * 48,
        "7": "ab" * 48,
        "3": blocks[3].hex(),
    }


def test_chain_without_the_root_is_issued_by_the_trusted_root(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    report = synth.GpuReport.build(pki, nonce)
    short = replace(report, chain_pem=pki.chain_pem(pki.chain[:-1]))
    verdict = nvidia.verify_evidence(
        synth.evidence_json(short), nonce=nonce, roots=pki.root_pem(), at=AT
    )
    assert verdict.valid, verdict.failures
    chain = next(c for c in verdict.checks if c.name == "nvidia.0.chain")
    assert chain.detail == "4 certificates, issued by the trusted root"


def _flip(raw: bytes, offset: int) -> bytes:
    out = bytearray(raw)
    out[offset] ^= 0x01
    return bytes(out)


def test_flipped_measurement_byte_breaks_the_signature(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    report = synth.GpuReport.build(pki, nonce)
    # Block 2's value starts after the request (37), response header (8), block 1 (55), block 2's
    # own headers (4 + 3).
    offset = 37 + 8 + 55 + 7
    assert report.raw[offset : offset + 48] == report.blocks[2]
    forged = replace(report, raw=_flip(report.raw, offset))
    verdict = nvidia.verify_evidence(
        synth.evidence_json(forged), nonce=nonce, roots=pki.root_pem(), at=AT
    )
    assert failed(verdict) == ["nvidia.0.signature"]
    assert verdict.claims["devices"][0]["measurements"]["2"] != report.blocks[2].hex()


def test_another_nonce_is_rejected(pki: synth.DevicePki) -> None:
    report = synth.GpuReport.build(pki, os.urandom(32))
    verdict = nvidia.verify_evidence(
        synth.evidence_json(report), nonce=os.urandom(32), roots=pki.root_pem(), at=AT
    )
    assert failed(verdict) == ["nvidia.0.nonce"]


def test_rewritten_request_nonce_breaks_the_signature(pki: synth.DevicePki) -> None:
    """Editing the signed request to carry the verifier's nonce is not enough."""
    report = synth.GpuReport.build(pki, os.urandom(32))
    wanted = os.urandom(32)
    raw = report.raw[:4] + wanted + report.raw[36:]
    forged = replace(report, raw=raw, nonce=wanted)
    verdict = nvidia.verify_evidence(
        synth.evidence_json(forged), nonce=wanted, roots=pki.root_pem(), at=AT
    )
    assert failed(verdict) == ["nvidia.0.signature"]


def test_transcript_signed_by_another_key_is_rejected(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    report = synth.GpuReport.build(pki, nonce, signer=ec.generate_private_key(ec.SECP384R1()))
    verdict = nvidia.verify_evidence(
        synth.evidence_json(report), nonce=nonce, roots=pki.root_pem(), at=AT
    )
    assert failed(verdict) == ["nvidia.0.signature"]


def test_builtin_nvidia_root_rejects_the_synthetic_chain(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    data = synth.evidence_json(synth.GpuReport.build(pki, nonce))
    verdict = nvidia.verify_evidence(data, nonce=nonce, at=AT)
    assert failed(verdict) == ["nvidia.0.chain", "nvidia.0.signature"]
    assert "trusted root" in verdict.failures[0].detail


def test_another_synthetic_root_rejects_the_chain(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    data = synth.evidence_json(synth.GpuReport.build(pki, nonce))
    other = synth.make_pki().root_pem()
    assert failed(nvidia.verify_evidence(data, nonce=nonce, roots=other, at=AT)) == [
        "nvidia.0.chain",
        "nvidia.0.signature",
    ]


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        (synth.NOT_BEFORE - timedelta(seconds=1), "a certificate is not yet valid"),
        (synth.NOT_AFTER + timedelta(seconds=1), "a certificate has expired"),
    ],
)
def test_chain_outside_its_validity_is_rejected(
    pki: synth.DevicePki, at: datetime, reason: str
) -> None:
    nonce = os.urandom(32)
    data = synth.evidence_json(synth.GpuReport.build(pki, nonce))
    verdict = nvidia.verify_evidence(data, nonce=nonce, roots=pki.root_pem(), at=at)
    assert failed(verdict) == ["nvidia.0.chain", "nvidia.0.signature"]
    assert verdict.failures[0].detail == reason
    edges = (synth.NOT_BEFORE, synth.NOT_AFTER)
    assert all(
        nvidia.verify_evidence(data, nonce=nonce, roots=pki.root_pem(), at=edge).valid
        for edge in edges
    )


def test_expired_leaf_alone_is_rejected() -> None:
    leaf_window = (synth.NOT_BEFORE, AT - timedelta(days=1))
    pki = synth.make_pki(leaf_validity=leaf_window)
    nonce = os.urandom(32)
    data = synth.evidence_json(synth.GpuReport.build(pki, nonce))
    verdict = nvidia.verify_evidence(data, nonce=nonce, roots=pki.root_pem(), at=AT)
    assert failed(verdict) == ["nvidia.0.chain", "nvidia.0.signature"]
    assert verdict.failures[0].detail == "a certificate has expired"
    assert nvidia.verify_evidence(data, nonce=nonce, roots=pki.root_pem(), at=leaf_window[1]).valid


def test_hex_report_followed_by_the_chain_is_accepted(pki: synth.DevicePki) -> None:
    """The nvtrust sample-pair format (hex report, then PEM chain) carries the same evidence."""
    nonce = os.urandom(32)
    report = synth.GpuReport.build(pki, nonce)
    data = report.raw.hex().encode() + b"\n" + pki.chain_pem()
    verdict = nvidia.verify_evidence(data, nonce=nonce, roots=pki.root_pem(), at=AT)
    assert verdict.valid, verdict.failures
    assert verdict.claims["devices"][0]["measurements"] == synth.measurements_claim(report.blocks)


def test_every_single_bit_flip_of_the_report_is_rejected(pki: synth.DevicePki) -> None:
    """Every byte of request‖response‖signature is covered: a flip anywhere fails a check."""
    import random

    nonce = os.urandom(32)
    report = synth.GpuReport.build(pki, nonce)
    rng = random.Random(7)
    for offset in range(len(report.raw)):
        raw = bytearray(report.raw)
        raw[offset] ^= 1 << rng.randrange(8)
        data = synth.evidence_json(replace(report, raw=bytes(raw)))
        verdict = nvidia.verify_evidence(data, nonce=nonce, roots=pki.root_pem(), at=AT)
        assert not verdict.valid, offset


def test_a_request_for_one_block_only_is_rejected(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    report = synth.GpuReport.build(pki, nonce, operation=1)
    verdict = nvidia.verify_evidence(
        synth.evidence_json(report), nonce=nonce, roots=pki.root_pem(), at=AT
    )
    assert failed(verdict) == ["nvidia.0.measurements_requested"]


def test_signed_fwid_must_be_the_leaf_certificates(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    report = synth.GpuReport.build(pki, nonce, fwid=hashlib.sha384(b"other firmware").digest())
    verdict = nvidia.verify_evidence(
        synth.evidence_json(report), nonce=nonce, roots=pki.root_pem(), at=AT
    )
    assert failed(verdict) == ["nvidia.0.fwid"]


def test_a_ca_leaf_cannot_sign_device_evidence() -> None:
    pki = synth.make_pki(leaf_is_ca=True)
    nonce = os.urandom(32)
    verdict = nvidia.verify_evidence(
        synth.evidence_json(synth.GpuReport.build(pki, nonce)),
        nonce=nonce,
        roots=pki.root_pem(),
        at=AT,
    )
    assert failed(verdict) == ["nvidia.0.chain", "nvidia.0.signature"]
    chain = next(c for c in verdict.checks if c.name == "nvidia.0.chain")
    assert "leaf is a ca" in chain.detail


def test_file_versions_must_match_the_signed_opaque_data(pki: synth.DevicePki) -> None:
    nonce = os.urandom(32)
    item = synth.GpuReport.build(pki, nonce).item()
    data = json.dumps([{**item, "driver_version": "999.99"}]).encode()
    verdict = nvidia.verify_evidence(data, nonce=nonce, roots=pki.root_pem(), at=AT)
    assert failed(verdict) == ["nvidia.0.driver_version"]


# --- the node bundle with bound GPU evidence ---------------------------------------------


@pytest.fixture(scope="module")
def node() -> Iterator[NodeIdentity]:
    """One node identity for the module: no test here extends PCRs."""
    with provisioned_node() as identity:
        yield identity


def _toml_string(pem: bytes) -> str:
    text = pem.decode()
    assert "'''" not in text
    return f"'''\n{text}'''"


#: Block 1 of the synthetic GPUs these tests build (default seed and the second GPU's): a
#: required GPU must have its measurements pinned or RIM-checked.
PINNED_BLOCK_1 = (synth.block_values()[1], synth.block_values(seed=b"second gpu")[1])


def gpu_policy_toml(root_pem: bytes | None, *, gpu_section: str | None = None) -> str:
    """policies/dev.toml (software TPM accepted) plus a required GPU, its block 1 pinned (or
    ``gpu_section``), and the synthetic root."""
    text = DEV_POLICY.read_text().replace('name = "dev"', 'name = "dev-gpu"\nrequire_gpu = true')
    if gpu_section is None:
        values = ", ".join(f'"{v.hex()}"' for v in PINNED_BLOCK_1)
        gpu_section = f"[gpu.allowed_measurements]\n1 = [{values}]\n"
    text += "\n" + gpu_section
    if root_pem is not None:
        text += f"\n[trust_roots]\nnvidia_device_root = {_toml_string(root_pem)}\n"
    return text


@pytest.fixture(scope="module")
def gpu_policy_path(pki: synth.DevicePki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "dev-gpu.toml"
    path.write_text(gpu_policy_toml(pki.root_pem()))
    return path


@pytest.fixture(scope="module")
def gpu_policy(gpu_policy_path: Path) -> Policy:
    return load_policy(gpu_policy_path.read_bytes())


def rek_name(node: NodeIdentity) -> bytes:
    return tpm_verify.public_name(node.rek_public)


def gpu_piece(
    pki: synth.DevicePki, spdm_nonce: bytes, **build
) -> tuple[EvidencePiece, synth.GpuReport]:
    report = synth.GpuReport.build(pki, spdm_nonce, **build)
    return EvidencePiece(EvidenceType.OPENPCC_NVIDIA_EVIDENCE, synth.evidence_json(report)), report


def test_policy_toml_carries_the_synthetic_root(gpu_policy: Policy, pki: synth.DevicePki) -> None:
    assert gpu_policy.name == "dev-gpu"
    assert (
        gpu_policy.require_gpu
        and gpu_policy.danger_allow_software_tpm
        and not gpu_policy.require_tee
    )
    assert gpu_policy.trust_roots.nvidia_device_root is not None
    assert gpu_policy.trust_roots.nvidia_device_root.strip() == pki.root_pem().strip()


def test_bound_gpu_evidence_gives_a_valid_verdict(
    node: NodeIdentity, gpu_policy: Policy, pki: synth.DevicePki
) -> None:
    nonce = os.urandom(32)
    piece, report = gpu_piece(pki, gpu_nonce(nonce, rek_name(node)))
    bundle = bundle_from_identity(node, nonce, extra=[piece]).encode()
    verdict = verify_evidence(bundle, gpu_policy, nonce=nonce)
    assert verdict.valid, verdict.failures
    assert {f"nvidia.0.{k}" for k in GPU_CHECKS} | {"nvidia.format", "tpm.quote.nonce"} <= passed(
        verdict
    )
    nonce_check = next(c for c in verdict.checks if c.name == "nvidia.0.nonce")
    assert nonce_check.detail == "request nonce equals the expected nonce"
    assert "policy.gpu" not in {c.name for c in verdict.checks}
    [device] = verdict.claims["gpu"]
    assert device["measurements"] == synth.measurements_claim(report.blocks)
    assert (
        device["request_nonce"]
        == hashlib.sha256(hashlib.sha512(nonce + rek_name(node)).digest()).hexdigest()
    )
    assert verdict.claims["rek_public_key"] == node.rek_public_key.hex()
    assert "OPENPCC_NVIDIA_EVIDENCE" in verdict.claims["pieces"]


def test_two_bound_gpus_are_each_checked(
    node: NodeIdentity, gpu_policy: Policy, pki: synth.DevicePki
) -> None:
    nonce = os.urandom(32)
    spdm_nonce = gpu_nonce(nonce, rek_name(node))
    first = synth.GpuReport.build(pki, spdm_nonce)
    second = synth.GpuReport.build(pki, spdm_nonce, blocks=synth.block_values(seed=b"second gpu"))
    piece = EvidencePiece(EvidenceType.OPENPCC_NVIDIA_EVIDENCE, synth.evidence_json(first, second))
    verdict = verify_evidence(
        bundle_from_identity(node, nonce, extra=[piece]).encode(), gpu_policy, nonce=nonce
    )
    assert verdict.valid, verdict.failures
    assert [d["measurements"] for d in verdict.claims["gpu"]] == [
        synth.measurements_claim(first.blocks),
        synth.measurements_claim(second.blocks),
    ]
    stale = synth.GpuReport.build(pki, os.urandom(32))
    piece = EvidencePiece(EvidenceType.OPENPCC_NVIDIA_EVIDENCE, synth.evidence_json(first, stale))
    verdict = verify_evidence(
        bundle_from_identity(node, nonce, extra=[piece]).encode(), gpu_policy, nonce=nonce
    )
    assert failed(verdict) == ["nvidia.1.nonce"]


def test_another_client_nonce_is_rejected(
    node: NodeIdentity, gpu_policy: Policy, pki: synth.DevicePki
) -> None:
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, gpu_nonce(nonce, rek_name(node)))
    bundle = bundle_from_identity(node, nonce, extra=[piece]).encode()
    verdict = verify_evidence(bundle, gpu_policy, nonce=os.urandom(32))
    assert failed(verdict) == ["tpm.quote.nonce", "evidence.age", "nvidia.0.nonce"]
    assert "rek_public_key" not in verdict.claims


def test_gpu_evidence_for_another_client_nonce_is_rejected(
    node: NodeIdentity, gpu_policy: Policy, pki: synth.DevicePki
) -> None:
    """The TPM answered this client, the GPU another one (replayed GPU evidence)."""
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, gpu_nonce(os.urandom(32), rek_name(node)))
    verdict = verify_evidence(
        bundle_from_identity(node, nonce, extra=[piece]).encode(), gpu_policy, nonce=nonce
    )
    assert failed(verdict) == ["nvidia.0.nonce"]
    assert "rek_public_key" not in verdict.claims


def test_gpu_evidence_bound_to_another_rek_is_rejected(
    node: NodeIdentity, gpu_policy: Policy, pki: synth.DevicePki
) -> None:
    nonce = os.urandom(32)
    other_rek = rek_name(node)[:2] + hashlib.sha256(b"another node's REK").digest()
    piece, _ = gpu_piece(pki, gpu_nonce(nonce, other_rek))
    verdict = verify_evidence(
        bundle_from_identity(node, nonce, extra=[piece]).encode(), gpu_policy, nonce=nonce
    )
    assert failed(verdict) == ["nvidia.0.nonce"]
    assert "rek_public_key" not in verdict.claims


def test_raw_nonce_instead_of_the_derived_one_is_rejected(
    node: NodeIdentity, gpu_policy: Policy, pki: synth.DevicePki
) -> None:
    """A GPU that signs the client's nonce directly is not bound to the REK."""
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, nonce)
    verdict = verify_evidence(
        bundle_from_identity(node, nonce, extra=[piece]).encode(), gpu_policy, nonce=nonce
    )
    assert failed(verdict) == ["nvidia.0.nonce"]


def test_missing_gpu_evidence_is_rejected_when_required(
    node: NodeIdentity, gpu_policy: Policy
) -> None:
    nonce = os.urandom(32)
    verdict = verify_evidence(bundle_from_identity(node, nonce).encode(), gpu_policy, nonce=nonce)
    assert failed(verdict) == ["policy.gpu"]
    assert "rek_public_key" not in verdict.claims
    optional = replace(gpu_policy, require_gpu=False)
    assert verify_evidence(bundle_from_identity(node, nonce).encode(), optional, nonce=nonce).valid


def test_default_roots_reject_the_synthetic_device(
    node: NodeIdentity, gpu_policy: Policy, pki: synth.DevicePki, tmp_path: Path
) -> None:
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, gpu_nonce(nonce, rek_name(node)))
    bundle = bundle_from_identity(node, nonce, extra=[piece]).encode()
    path = tmp_path / "no-root.toml"
    path.write_text(gpu_policy_toml(None))
    default_roots = load_policy(path.read_bytes())
    assert default_roots.trust_roots.nvidia_device_root is None
    verdict = verify_evidence(bundle, default_roots, nonce=nonce)
    assert failed(verdict) == ["nvidia.0.chain", "nvidia.0.signature"]
    assert "rek_public_key" not in verdict.claims
    # The same bundle under the policy that trusts the synthetic root passes.
    assert verify_evidence(bundle, gpu_policy, nonce=nonce).valid


def test_gpu_evidence_fails_even_when_not_required(
    node: NodeIdentity, pki: synth.DevicePki
) -> None:
    """Present but unbound GPU evidence invalidates the bundle under the plain dev policy."""
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, os.urandom(32))
    dev = replace(
        load_policy(DEV_POLICY.read_bytes()),
        trust_roots=TrustRoots(nvidia_device_root=pki.root_pem()),
    )
    verdict = verify_evidence(
        bundle_from_identity(node, nonce, extra=[piece]).encode(), dev, nonce=nonce
    )
    assert failed(verdict) == ["nvidia.0.nonce", "policy.gpu.measurements"]


def test_policy_gpu_measurements_refuses_unmeasured_gpu_evidence(
    node: NodeIdentity, pki: synth.DevicePki
) -> None:
    """CC mode: no signed field of NVIDIA's evidence shows it, so a genuine, bound GPU report is
    refused unless its measurements are pinned or RIM-checked (which is how a GPU outside CC
    mode, whose firmware measures differently, is kept out)."""
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, gpu_nonce(nonce, rek_name(node)))
    dev = replace(
        load_policy(DEV_POLICY.read_bytes()),
        trust_roots=TrustRoots(nvidia_device_root=pki.root_pem()),
    )
    verdict = verify_evidence(
        bundle_from_identity(node, nonce, extra=[piece]).encode(), dev, nonce=nonce
    )
    assert failed(verdict) == ["policy.gpu.measurements"]
    assert "confidential-computing mode" in verdict.failures[0].detail
    assert {f"nvidia.0.{k}" for k in GPU_CHECKS} <= passed(verdict)


def test_require_gpu_without_pins_or_rims_does_not_load() -> None:
    from openpcc.exceptions import PolicyError

    with pytest.raises(PolicyError, match="require_gpu = true but GPU measurements"):
        load_policy(gpu_policy_toml(None, gpu_section=""))


def test_real_nvidia_sample_is_genuine_but_not_bound(
    node: NodeIdentity, gpu_policy: Policy
) -> None:
    """An NVIDIA-signed H100 report under the built-in root: chain and signature pass, the nonce
    (chosen by whoever collected it) does not bind it to this client and REK."""
    nonce = os.urandom(32)
    real = EvidencePiece(
        EvidenceType.OPENPCC_NVIDIA_EVIDENCE, read_bytes("nvidia", "gpu_evidence.json")
    )
    builtin = replace(gpu_policy, trust_roots=TrustRoots())
    verdict = verify_evidence(
        bundle_from_identity(node, nonce, extra=[real]).encode(), builtin, nonce=nonce
    )
    devices = len(verdict.claims["gpu"])
    assert devices == 8
    nvidia_failures = [f for f in failed(verdict) if f.startswith("nvidia.")]
    assert nvidia_failures == [f"nvidia.{i}.nonce" for i in range(devices)]
    assert {f"nvidia.{i}.{k}" for i in range(devices) for k in ("chain", "signature")} <= passed(
        verdict
    )


def test_cli_with_the_gpu_policy_file(
    node: NodeIdentity, gpu_policy_path: Path, pki: synth.DevicePki, tmp_path: Path
) -> None:
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, gpu_nonce(nonce, rek_name(node)))
    bundle_path = tmp_path / "bundle.pb"
    bundle_path.write_bytes(bundle_from_identity(node, nonce, extra=[piece]).encode())

    def run(policy: Path, hex_nonce: str) -> tuple[int, dict]:
        proc = subprocess.run(
            [sys.executable, "-m", "openpcc", "verify", "evidence", str(bundle_path)]
            + ["--policy", str(policy), "--nonce", hex_nonce, "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return proc.returncode, json.loads(proc.stdout)

    code, out = run(gpu_policy_path, nonce.hex())
    assert code == 0, out
    assert out["claims"]["gpu"][0]["measurements"] == synth.measurements_claim(synth.block_values())
    code, out = run(DEV_POLICY, nonce.hex())  # built-in NVIDIA root
    assert code == 1
    assert [c["name"] for c in out["checks"] if not c["ok"]] == [
        "nvidia.0.chain",
        "nvidia.0.signature",
        "policy.gpu.measurements",  # dev.toml neither pins nor RIM-checks GPU measurements
    ]


def test_policy_gpu_measurements_refuses_a_gpu_whose_blocks_are_not_pinned(
    node: NodeIdentity, gpu_policy: Policy, pki: synth.DevicePki
) -> None:
    """A genuine, bound GPU report whose firmware measurements are not the pinned ones."""
    from openpcc.attestation.policy import GpuPolicy

    nonce = os.urandom(32)
    piece, report = gpu_piece(pki, gpu_nonce(nonce, rek_name(node)))
    bundle = bundle_from_identity(node, nonce, extra=[piece]).encode()
    good = {2: frozenset({report.blocks[2]}), 5: frozenset({report.blocks[5]})}
    pinned = replace(gpu_policy, gpu=GpuPolicy(good))
    verdict = verify_evidence(bundle, pinned, nonce=nonce)
    assert verdict.valid, verdict.failures
    assert "policy.gpu.0.measurements" in passed(verdict)
    other = replace(gpu_policy, gpu=GpuPolicy({**good, 5: frozenset({bytes(48)})}))
    verdict = verify_evidence(bundle, other, nonce=nonce)
    assert failed(verdict) == ["policy.gpu.0.measurements"]
    assert "block(s) 5" in verdict.failures[0].detail


# --- NVIDIA reference integrity manifests (RIMs), signed by a synthetic RIM CA -----------
#
# The device reports 64 blocks, driver 590.12 and VBIOS 96.00.A5.00.01 (signed opaque data).
# As NVIDIA splits them, the VBIOS RIM describes blocks 1-32 and the driver RIM 33-64.

DRIVER, VBIOS = "590.12", "96.00.a5.00.01"


@pytest.fixture(scope="module")
def rim_pki() -> rims.RimPki:
    return rims.make_rim_pki()


def _split(blocks: dict[int, bytes]) -> tuple[dict[int, bytes], dict[int, bytes]]:
    return {b: v for b, v in blocks.items() if b <= 32}, {b: v for b, v in blocks.items() if b > 32}


def rim_files(
    rim_pki: rims.RimPki,
    tmp_path: Path,
    *,
    vbios: list[rims.Entry] | None = None,
    driver: list[rims.Entry] | None = None,
    driver_version: str = DRIVER,
) -> list[bytes]:
    low, high = _split(synth.block_values())
    return [
        rims.signed_rim(rim_pki, VBIOS, vbios if vbios is not None else rims.entries_for(low)),
        rims.signed_rim(
            rim_pki, driver_version, driver if driver is not None else rims.entries_for(high)
        ),
    ]


def rim_policy(
    pki: synth.DevicePki, roots_pem: bytes, files: list[bytes], tmp_path: Path
) -> Policy:
    """The dev-gpu policy with ``[gpu] rim_files`` / ``rim_roots`` (files on disk), no pins."""
    paths = []
    for k, data in enumerate(files):
        path = tmp_path / f"rim{k}.swidtag"
        path.write_bytes(data)
        paths.append(f"'{path}'")
    roots = tmp_path / "rim-roots.pem"
    roots.write_bytes(roots_pem)
    section = f"[gpu]\nrim_files = [{', '.join(paths)}]\nrim_roots = '{roots}'\n"
    return load_policy(gpu_policy_toml(pki.root_pem(), gpu_section=section))


def rim_verdict(node: NodeIdentity, pki: synth.DevicePki, policy: Policy, **build):
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, gpu_nonce(nonce, rek_name(node)), **build)
    return verify_evidence(
        bundle_from_identity(node, nonce, extra=[piece]).encode(), policy, nonce=nonce
    )


RIM_CHECKS = {
    "nvidia.rim.0.chain",
    "nvidia.rim.0.signature",
    "nvidia.rim.1.chain",
    "nvidia.rim.1.signature",
    "nvidia.0.rim.version",
    "nvidia.0.rim.measurements",
}


def test_rims_for_the_gpus_versions_give_a_valid_verdict(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    policy = rim_policy(pki, rim_pki.root_pem(), rim_files(rim_pki, tmp_path), tmp_path)
    assert len(policy.gpu.rims) == 2 and not policy.gpu.allowed_measurements
    verdict = rim_verdict(node, pki, policy)
    assert verdict.valid, verdict.failures
    assert RIM_CHECKS <= passed(verdict)


def test_rim_alternatives_and_inactive_entries(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    """A block matching any alternative passes; an inactive entry describes a block without
    comparing it (its value here is wrong on purpose)."""
    low, _high = _split(synth.block_values())
    vbios = [
        rims.Entry(b, [bytes(48), v]) if b == 3 else rims.Entry(b, [bytes(48)], active=False)
        if b == 4 else rims.Entry(b, [v])
        for b, v in low.items()
    ]
    files = rim_files(rim_pki, tmp_path, vbios=vbios)
    verdict = rim_verdict(node, pki, rim_policy(pki, rim_pki.root_pem(), files, tmp_path))
    assert verdict.valid, verdict.failures


def test_nvidia_rim_measurements_refuses_a_block_with_another_value(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    policy = rim_policy(pki, rim_pki.root_pem(), rim_files(rim_pki, tmp_path), tmp_path)
    blocks = {**synth.block_values(), 5: hashlib.sha384(b"other firmware").digest()}
    verdict = rim_verdict(node, pki, policy, blocks=blocks)
    assert failed(verdict) == ["nvidia.0.rim.measurements"]
    assert verdict.failures[0].detail == "block(s) 5 not among the RIM's values"


def test_nvidia_rim_measurements_refuses_a_block_no_rim_describes(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    _, high = _split(synth.block_values())
    driver = [e for e in rims.entries_for(high) if e.block != 64]
    files = rim_files(rim_pki, tmp_path, driver=driver)
    verdict = rim_verdict(node, pki, rim_policy(pki, rim_pki.root_pem(), files, tmp_path))
    assert failed(verdict) == ["nvidia.0.rim.measurements"]
    assert verdict.failures[0].detail == "block(s) 64 not described by any RIM"


def test_nvidia_rim_measurements_refuses_evidence_missing_an_active_measurement(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    policy = rim_policy(pki, rim_pki.root_pem(), rim_files(rim_pki, tmp_path), tmp_path)
    verdict = rim_verdict(node, pki, policy, blocks=synth.block_values(63))
    assert failed(verdict) == ["nvidia.0.rim.measurements"]
    assert verdict.failures[0].detail == "active RIM measurement(s) 64 missing from the evidence"


def test_nvidia_rim_measurements_refuses_an_index_active_in_both_rims(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    low, high = _split(synth.block_values())
    driver = rims.entries_for({**high, 7: low[7]})
    files = rim_files(rim_pki, tmp_path, driver=driver)
    verdict = rim_verdict(node, pki, rim_policy(pki, rim_pki.root_pem(), files, tmp_path))
    assert failed(verdict) == ["nvidia.0.rim.measurements"]
    assert "block 7 is active in two RIMs" in verdict.failures[0].detail


def test_nvidia_rim_signature_refuses_an_edited_rim(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    """A RIM edited after signing to allow other firmware for block 5."""
    other = hashlib.sha384(b"other firmware").digest()
    files = rim_files(rim_pki, tmp_path)
    files[0] = files[0].replace(synth.block_values()[5].hex().encode(), other.hex().encode())
    policy = rim_policy(pki, rim_pki.root_pem(), files, tmp_path)
    verdict = rim_verdict(node, pki, policy, blocks={**synth.block_values(), 5: other})
    assert failed(verdict) == [
        "nvidia.rim.0.signature",
        "nvidia.0.rim.version",
        "nvidia.0.rim.measurements",
    ]
    assert "Digest mismatch" in verdict.failures[0].detail
    assert "no verified RIM for VBIOS 96.00.a5.00.01" in verdict.failures[1].detail


def test_nvidia_rim_signature_refuses_a_rim_signed_by_another_key(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    """The trusted chain attached, the signature made with a key that is not its leaf's."""
    files = rim_files(rim_pki, tmp_path)
    low, _ = _split(synth.block_values())
    files[0] = rims.signed_rim(
        rim_pki, VBIOS, rims.entries_for(low), key=ec.generate_private_key(ec.SECP384R1())
    )
    verdict = rim_verdict(node, pki, rim_policy(pki, rim_pki.root_pem(), files, tmp_path))
    assert failed(verdict)[0] == "nvidia.rim.0.signature"
    assert "nvidia.rim.0.chain" in passed(verdict)


def test_nvidia_rim_chain_refuses_an_untrusted_signer(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    """A well-formed RIM signed under another (self-made) RIM CA."""
    files = rim_files(rim_pki, tmp_path)
    low, _ = _split(synth.block_values())
    files[0] = rims.signed_rim(rims.make_rim_pki(), VBIOS, rims.entries_for(low))
    verdict = rim_verdict(node, pki, rim_policy(pki, rim_pki.root_pem(), files, tmp_path))
    assert failed(verdict) == [
        "nvidia.rim.0.chain",
        "nvidia.0.rim.version",
        "nvidia.0.rim.measurements",
    ]
    assert "not trusted" in verdict.failures[0].detail


def test_nvidia_rim_chain_refuses_a_ca_certificate_as_signer(
    node: NodeIdentity, pki: synth.DevicePki, tmp_path: Path
) -> None:
    ca_signer = rims.make_rim_pki(leaf_is_ca=True)
    files = rim_files(ca_signer, tmp_path)
    verdict = rim_verdict(node, pki, rim_policy(pki, ca_signer.root_pem(), files, tmp_path))
    assert {"nvidia.rim.0.chain", "nvidia.rim.1.chain"} <= set(failed(verdict))


def test_nvidia_rim_version_refuses_a_rim_for_another_driver(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    files = rim_files(rim_pki, tmp_path, driver_version="590.13")
    verdict = rim_verdict(node, pki, rim_policy(pki, rim_pki.root_pem(), files, tmp_path))
    assert failed(verdict) == ["nvidia.0.rim.version", "nvidia.0.rim.measurements"]
    assert "no verified RIM for driver 590.12" in verdict.failures[0].detail
    # The GPU that runs that driver passes.
    assert rim_verdict(
        node, pki, rim_policy(pki, rim_pki.root_pem(), files, tmp_path), driver_version="590.13"
    ).valid


def test_rim_policy_errors(pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path) -> None:
    from openpcc.exceptions import PolicyError

    rim = tmp_path / "r.swidtag"
    rim.write_bytes(rim_files(rim_pki, tmp_path)[0])
    with pytest.raises(PolicyError, match="rim_files needs gpu.rim_roots"):
        load_policy(gpu_policy_toml(None, gpu_section=f"[gpu]\nrim_files = ['{rim}']\n"))
    with pytest.raises(PolicyError, match="require_gpu = true but GPU measurements"):
        rim_policy(pki, rim_pki.root_pem(), [], tmp_path)  # no RIM, no pin: fails closed
    bad = tmp_path / "bad.swidtag"
    bad.write_bytes(b"<SoftwareIdentity/>")
    roots = tmp_path / "roots.pem"
    roots.write_bytes(rim_pki.root_pem())
    section = f"[gpu]\nrim_files = ['{bad}']\nrim_roots = '{roots}'\n"
    with pytest.raises(PolicyError, match="not a SWID SoftwareIdentity"):
        load_policy(gpu_policy_toml(None, gpu_section=section))
    section = f"[gpu]\nrim_files = ['{tmp_path / 'absent'}']\nrim_roots = '{roots}'\n"
    with pytest.raises(PolicyError, match="gpu.rim_files: cannot read"):
        load_policy(gpu_policy_toml(None, gpu_section=section))
    roots.write_bytes(b"not pem")
    section = f"[gpu]\nrim_files = ['{rim}']\nrim_roots = '{roots}'\n"
    with pytest.raises(PolicyError, match="gpu.rim_roots"):
        load_policy(gpu_policy_toml(None, gpu_section=section))


def test_cli_with_a_rim_policy_file(
    node: NodeIdentity, pki: synth.DevicePki, rim_pki: rims.RimPki, tmp_path: Path
) -> None:
    """``openpcc verify evidence`` with ``[gpu] rim_files``: valid for the GPU's versions,
    invalid (exit 1, ``nvidia.0.rim.version``) when the driver RIM is for another version."""
    nonce = os.urandom(32)
    piece, _ = gpu_piece(pki, gpu_nonce(nonce, rek_name(node)))
    bundle_path = tmp_path / "bundle.pb"
    bundle_path.write_bytes(bundle_from_identity(node, nonce, extra=[piece]).encode())

    def run(files: list[bytes], where: Path) -> tuple[int, list[str]]:
        where.mkdir()
        rim_policy(pki, rim_pki.root_pem(), files, where)  # writes the files, checks it loads
        policy_path = where / "policy.toml"
        paths = ", ".join(f"'{where / f'rim{k}.swidtag'}'" for k in range(len(files)))
        section = f"[gpu]\nrim_files = [{paths}]\nrim_roots = '{where / 'rim-roots.pem'}'\n"
        policy_path.write_text(gpu_policy_toml(pki.root_pem(), gpu_section=section))
        proc = subprocess.run(
            [sys.executable, "-m", "openpcc", "verify", "evidence", str(bundle_path)]
            + ["--policy", str(policy_path), "--nonce", nonce.hex(), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        out = json.loads(proc.stdout)
        return proc.returncode, [c["name"] for c in out["checks"] if not c["ok"]]

    assert run(rim_files(rim_pki, tmp_path), tmp_path / "ok") == (0, [])
    other = rim_files(rim_pki, tmp_path, driver_version="591.01")
    assert run(other, tmp_path / "other") == (
        1,
        ["nvidia.0.rim.version", "nvidia.0.rim.measurements"],
    )
