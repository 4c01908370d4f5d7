"""The swtpm node's evidence bundle under the dev and production policies.

Evidence from a software TPM passes ``policies/dev.toml`` with the client's nonce, fails with any
other nonce, fails under the production default (no TEE, unauthenticated AK), and fails once a
policy PCR has been extended. swtpm is installed by ``scripts/install-swtpm.sh`` when missing and
we are root; otherwise the module is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpcc.attestation import EvidenceList, EvidenceType, Policy, load_policy, verify_evidence
from openpcc.attestation.bundle import bundle_from_identity, report_data
from openpcc.node_identity import NodeIdentity

from tests.support.swtpm import provisioned_node

ROOT = Path(__file__).resolve().parents[2]
DEV_POLICY = ROOT / "policies" / "dev.toml"


@pytest.fixture
def node() -> Iterator[NodeIdentity]:
    """A node identity on a TPM of its own (tests extend PCRs)."""
    with provisioned_node() as identity:
        yield identity


@pytest.fixture
def dev() -> Policy:
    return load_policy(DEV_POLICY.read_bytes())


def failed(verdict) -> list[str]:
    return [c.name for c in verdict.failures]


def test_dev_policy_accepts_with_the_right_nonce(node: NodeIdentity, dev: Policy) -> None:
    nonce = os.urandom(32)
    bundle = bundle_from_identity(node, nonce).encode()
    verdict = verify_evidence(bundle, dev, nonce=nonce)
    assert verdict.valid, verdict.failures
    assert verdict.claims["rek_public_key"] == node.rek_public_key.hex()
    assert len(bytes.fromhex(verdict.claims["rek_public_key"])) == 65
    names = {c.name for c in verdict.checks}
    assert {
        "tpm.quote.nonce",
        "tpm.creation.object_name",
        "tpm.rek.policy",
        "policy.pcr.0",
        "policy.tpm.ak_trust",
        "evidence.age",
    } <= names


def test_wrong_nonce_is_rejected(node: NodeIdentity, dev: Policy) -> None:
    bundle = bundle_from_identity(node, os.urandom(32)).encode()
    verdict = verify_evidence(bundle, dev, nonce=os.urandom(32))
    # The collection time is signed only through the nonce-bound quote: unsigned now.
    assert failed(verdict) == ["tpm.quote.nonce", "evidence.age"]
    assert "rek_public_key" not in verdict.claims


def test_production_default_rejects_a_software_tpm(node: NodeIdentity) -> None:
    nonce = os.urandom(32)
    verdict = verify_evidence(
        bundle_from_identity(node, nonce).encode(), Policy.production(), nonce=nonce
    )
    assert failed(verdict) == ["policy.tee", "policy.tpm.ak_trust"]
    assert "rek_public_key" not in verdict.claims


def test_production_toml_is_a_template_that_refuses_to_load(node: NodeIdentity) -> None:
    from openpcc.exceptions import PolicyError

    with pytest.raises(PolicyError, match="placeholder .* template"):
        load_policy((ROOT / "policies" / "production.toml").read_bytes())


def test_extended_policy_pcr_is_rejected(node: NodeIdentity, dev: Policy) -> None:
    node.client.pcr_extend(8, hashlib.sha256(b"a different kernel command line").digest())
    nonce = os.urandom(32)
    verdict = verify_evidence(bundle_from_identity(node, nonce).encode(), dev, nonce=nonce)
    # The quote is genuine, but the REK's authPolicy was computed over the old PCR 8.
    assert failed(verdict) == ["tpm.rek.policy"]


def test_extended_golden_pcr_fails_both_checks(node: NodeIdentity, dev: Policy) -> None:
    node.client.pcr_extend(0, hashlib.sha256(b"other firmware").digest())
    nonce = os.urandom(32)
    verdict = verify_evidence(bundle_from_identity(node, nonce).encode(), dev, nonce=nonce)
    assert failed(verdict) == ["tpm.rek.policy", "policy.pcr.0"]


def test_stale_evidence_is_rejected(node: NodeIdentity, dev: Policy) -> None:
    nonce = os.urandom(32)
    taken = int(datetime.now(UTC).timestamp())
    bundle = bundle_from_identity(node, nonce, collected_at=taken).encode()
    later = datetime.fromtimestamp(taken, UTC) + timedelta(hours=2)
    assert failed(verify_evidence(bundle, dev, nonce=nonce, at=later)) == ["evidence.age"]
    assert verify_evidence(
        bundle, dev, nonce=nonce, at=later - timedelta(hours=1, minutes=30)
    ).valid


def test_forged_collection_time_breaks_the_quote_binding(node: NodeIdentity, dev: Policy) -> None:
    nonce = os.urandom(32)
    taken = int(datetime.now(UTC).timestamp()) - 7200
    pieces = list(bundle_from_identity(node, nonce, collected_at=taken))
    forged = [
        p
        if p.kind != EvidenceType.OPENPCC_COLLECTED_AT
        else type(p)(p.kind, (taken + 7200).to_bytes(8, "big"))
        for p in pieces
    ]
    verdict = verify_evidence(EvidenceList.of(forged).encode(), dev, nonce=nonce)
    assert failed(verdict) == ["tpm.quote.nonce", "evidence.age"]


def test_evidence_age_refuses_an_unsigned_collection_time(node: NodeIdentity, dev: Policy) -> None:
    """Old evidence replayed with a fresh OPENPCC_COLLECTED_AT, under a policy (built in code:
    load_policy refuses it) that limits age but needs no nonce: nothing signs that time."""
    from dataclasses import replace

    nonce = os.urandom(32)
    taken = int(datetime.now(UTC).timestamp()) - 7200
    pieces = list(bundle_from_identity(node, nonce, collected_at=taken))
    now = int(datetime.now(UTC).timestamp())
    replayed = [
        p
        if p.kind != EvidenceType.OPENPCC_COLLECTED_AT
        else type(p)(p.kind, now.to_bytes(8, "big"))
        for p in pieces
    ]
    no_nonce = replace(dev, require_nonce=False)
    verdict = verify_evidence(EvidenceList.of(replayed).encode(), no_nonce, nonce=None)
    assert failed(verdict) == ["evidence.age"]
    assert "not covered by a signature" in verdict.failures[0].detail
    assert "collected_at" in verdict.claims["unsigned_claims"]


def test_tee_report_data_binding_value(node: NodeIdentity) -> None:
    from openpcc.attestation import tpm as tpm_verify

    nonce = bytes(range(32))
    name = tpm_verify.public_name(node.rek_public)
    assert report_data(nonce, name) == hashlib.sha512(nonce + name).digest()


def test_cli_verify_evidence(node: NodeIdentity, tmp_path: Path) -> None:
    nonce = os.urandom(32)
    path = tmp_path / "bundle.pb"
    path.write_bytes(bundle_from_identity(node, nonce).encode())

    def run(policy: Path, hex_nonce: str) -> int:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "openpcc",
                "verify",
                "evidence",
                str(path),
                "--policy",
                str(policy),
                "--nonce",
                hex_nonce,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return proc.returncode

    assert run(DEV_POLICY, nonce.hex()) == 0
    assert run(DEV_POLICY, os.urandom(32).hex()) == 1
    # The shipped production policy is a template: unreadable (2) until its pins are filled in.
    assert run(ROOT / "policies" / "production.toml", nonce.hex()) == 2


def test_every_mutation_gives_a_failed_verdict_or_a_format_error(
    node: NodeIdentity, dev: Policy
) -> None:
    import random

    from openpcc.exceptions import EvidenceFormatError

    nonce = os.urandom(32)
    bundle = bundle_from_identity(node, nonce).encode()
    assert verify_evidence(bundle, dev, nonce=nonce).valid
    rng = random.Random(4)
    for _ in range(400):
        mutated = bytearray(bundle)
        position = rng.randrange(len(mutated))
        mutated[position] ^= 1 << rng.randrange(8)
        try:
            verdict = verify_evidence(bytes(mutated), dev, nonce=nonce)
        except EvidenceFormatError:
            continue
        assert not verdict.valid, position
        assert "rek_public_key" not in verdict.claims
    for cut in range(0, len(bundle), 97):
        try:
            assert not verify_evidence(bundle[:cut], dev, nonce=nonce).valid
        except EvidenceFormatError:
            pass


def reference_fake_bundle(node: NodeIdentity, qualifying: bytes) -> bytes:
    """The 5 pieces a reference mem-compute node sends in fake mode (spec §6.2), from our TPM."""
    from openpcc.attestation import EvidencePiece
    from openpcc.attestation import tpm as tpm_verify
    from openpcc.attestation.bundle import encode_tpm_quote

    quote = node.quote(qualifying)
    rek_name = tpm_verify.public_name(node.rek_public)
    return EvidenceList.of(
        [
            EvidencePiece(
                EvidenceType.UNSPECIFIED, node.ak_public, tpm_verify.public_name(node.ak_public)
            ),
            EvidencePiece(
                EvidenceType.TPM_CERTIFY_REK_CREATION,
                node.creation_attest_2b,
                node.creation.signature,
            ),
            EvidencePiece(
                EvidenceType.TPM_QUOTE, encode_tpm_quote(quote.attest, quote.pcrs), quote.signature
            ),
            EvidencePiece(EvidenceType.TPMT_PUBLIC, node.rek_public, rek_name),
            EvidencePiece(EvidenceType.UNSPECIFIED, os.urandom(128), os.urandom(32)),
        ]
    ).encode()


def test_reference_fake_mode_bundle(node: NodeIdentity, dev: Policy) -> None:
    from dataclasses import replace

    bundle = reference_fake_bundle(node, b"")
    # The reference's quote has no qualifying data: only a policy that waives the nonce accepts it.
    relaxed = replace(
        dev,
        require_nonce=False,
        max_evidence_age=None,
        required_evidence=dev.required_evidence - {EvidenceType.AK_TPMT_PUBLIC},
    )
    verdict = verify_evidence(bundle, relaxed, nonce=None)
    assert verdict.valid, verdict.failures
    assert verdict.claims["rek_public_key"] == node.rek_public_key.hex()
    assert verdict.claims["ignored_pieces"] == ["UNSPECIFIED"]
    strict = verify_evidence(bundle, dev, nonce=os.urandom(32))
    assert {"tpm.quote.nonce", "evidence.age", "evidence.required.AK_TPMT_PUBLIC"} <= set(
        failed(strict)
    )


def test_evidence_from_the_future_is_rejected(node: NodeIdentity, dev: Policy) -> None:
    nonce = os.urandom(32)
    ahead = int(datetime.now(UTC).timestamp()) + 600
    verdict = verify_evidence(bundle_from_identity(node, nonce, collected_at=ahead).encode(), dev, nonce=nonce)
    assert failed(verdict) == ["evidence.age"]
    assert "future" in verdict.failures[0].detail
