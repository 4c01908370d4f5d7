"""Attestation evidence: parse and verify SEV-SNP, TDX, TPM, event-log and NVIDIA evidence.

``verify_evidence(bundle, policy, nonce=..., at=...)`` judges a node's whole evidence bundle (a
``SignedEvidenceList``) against a policy loaded with ``load_policy(toml_bytes)``; the per-evidence
verifiers live in the submodules ``sevsnp``, ``tdx``, ``tpm``, ``eventlog`` and ``nvidia``.
"""

from openpcc.attestation.bundle import EvidenceList, EvidencePiece, EvidenceType
from openpcc.attestation.evidence import verify_evidence
from openpcc.attestation.policy import Policy, load_policy
from openpcc.attestation.verdict import Check, Verdict

__all__ = [
    "Check",
    "EvidenceList",
    "EvidencePiece",
    "EvidenceType",
    "Policy",
    "Verdict",
    "load_policy",
    "verify_evidence",
]
