"""Attestation evidence: parse and verify SEV-SNP, TDX, TPM, event-log and NVIDIA evidence."""

from openpcc.attestation.verdict import Check, Verdict

__all__ = ["Check", "Verdict"]
