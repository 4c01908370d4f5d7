"""``openpcc._openpcc.attestation``: the ``SignedEvidenceList`` and ``TPMQuoteAttestation`` protobufs."""

def decode_evidence_list(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """``(type, data, signature)`` per piece, in wire order. Raises ``EvidenceFormatError``."""

def encode_evidence_list(pieces: list[tuple[int, bytes, bytes]]) -> bytes:
    """A ``SignedEvidenceList`` with every field of every piece written."""

def decode_tpm_quote(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """``(TPMS_ATTEST, [(pcr, value), ...])``. Raises ``EvidenceFormatError`` (also on a repeated PCR)."""

def encode_tpm_quote(attest: bytes, pcrs: list[tuple[int, bytes]]) -> bytes:
    """A ``TPMQuoteAttestation``, PCR entries in ascending index order."""
