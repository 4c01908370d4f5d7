"""TPM 2.0 verification core (``openpcc._openpcc.tpm``). Use ``openpcc.attestation.tpm``."""

from typing import Any

from .verdict import Verdict as _Verdict

REFERENCE_PCRS: list[int]
ROOT_LABELS: list[str]

def verify_quote(
    attest: bytes,
    signature: bytes,
    ak: bytes,
    *,
    nonce: bytes | None,
    nonce_required: bool,
    pcrs: dict[int, bytes] | None,
    bank: str,
    intermediates: list[bytes],
    at_unix: int,
    allow_weak_ak: bool = False,
) -> _Verdict: ...
def verify_certify_creation(
    attest: bytes,
    signature: bytes,
    ak: bytes,
    *,
    object_public: bytes | None,
    intermediates: list[bytes],
    at_unix: int,
    allow_weak_ak: bool = False,
) -> _Verdict: ...
def check_rek(
    rek_public: bytes, *, pcrs: dict[int, bytes] | None, bank: str, policy_pcrs: list[int]
) -> _Verdict: ...
def verify_identity(
    *,
    quote: bytes,
    quote_signature: bytes,
    pcrs: dict[int, bytes],
    bank: str,
    creation: bytes,
    creation_signature: bytes,
    rek_public: bytes,
    ak: bytes,
    nonce: bytes | None,
    nonce_required: bool,
    policy_pcrs: list[int],
    intermediates: list[bytes],
    at_unix: int,
    allow_weak_ak: bool = False,
) -> _Verdict: ...
def verify_ak(ak: bytes, *, intermediates: list[bytes], at_unix: int) -> _Verdict: ...
def parse_attest(data: bytes) -> dict[str, Any]: ...
def parse_public(data: bytes) -> dict[str, Any]: ...
def public_name(data: bytes) -> bytes: ...
def parse_signature(data: bytes) -> tuple[str, str]: ...
def policy_pcr_digest(bank: str, pcrs: list[int], values: list[bytes]) -> bytes: ...
