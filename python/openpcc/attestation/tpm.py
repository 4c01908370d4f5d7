"""TPM 2.0 evidence: quote, certify-creation and request-encryption-key verification.

All parsing and cryptography run in the Rust core (``openpcc._openpcc.tpm``); this module turns
Python arguments into its calls, which return a :class:`~openpcc.attestation.verdict.Verdict`.

Verifiers never raise on bad evidence: every problem is a failed, named check
(``tpm.attest.parse``, ``tpm.attest.magic``, ``tpm.attest.type``, ``tpm.quote.signature``,
``tpm.quote.nonce``, ``tpm.quote.pcr_values``, ``tpm.quote.pcr_selection``,
``tpm.quote.pcr_digest``, ``tpm.ak.parse``, ``tpm.ak.attributes``, ``tpm.ak.chain``,
``tpm.creation.*``, ``tpm.rek.*``). The parse helpers raise
:class:`~openpcc.exceptions.MalformedTPMStructureError` or
:class:`~openpcc.exceptions.UnsupportedTPMAlgorithmError`.

PCR file format (``openpcc verify tpm-quote --pcrs F``), read by :func:`load_pcrs`::

    {"bank": "sha256", "pcrs": {"0": "<hex>", "1": "<hex>", ...}}

``bank`` is one of ``sha1``, ``sha256``, ``sha384``, ``sha512`` (default ``sha256``); keys are
decimal PCR indices, values the hex PCR contents of that bank. The indices must be exactly the
ones the quote selects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

from openpcc._openpcc import tpm as _tpm
from openpcc.attestation.verdict import Verdict
from openpcc.exceptions import MalformedTPMStructureError

__all__ = [
    "REFERENCE_PCRS",
    "check_rek",
    "load_pcrs",
    "parse_attest",
    "parse_pcrs",
    "parse_public",
    "parse_signature",
    "policy_pcr_digest",
    "public_name",
    "verify_ak",
    "verify_certify_creation",
    "verify_identity",
    "verify_quote",
]

#: PCRs the reference binds the request-encryption key to (spec §5.4), SHA-256 bank.
REFERENCE_PCRS: tuple[int, ...] = tuple(_tpm.REFERENCE_PCRS)


def _unix(at: datetime | None) -> int:
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp()))


def _pcr_dict(pcrs: Mapping[int, bytes] | None) -> dict[int, bytes] | None:
    if pcrs is None or (type(pcrs) is dict and all(type(v) is bytes for v in pcrs.values())):
        return pcrs  # already what the core takes: no copy
    return {int(k): bytes(v) for k, v in pcrs.items()}


def verify_quote(
    attest: bytes,
    signature: bytes,
    ak: bytes,
    *,
    nonce: bytes | None = None,
    pcrs: Mapping[int, bytes] | None = None,
    at: datetime | None = None,
    bank: str = "sha256",
    nonce_required: bool = True,
    intermediates: Iterable[bytes] = (),
    allow_weak_ak: bool = False,
) -> Verdict:
    """Verifies a TPM2_Quote.

    ``attest`` is the ``TPMS_ATTEST`` (a ``TPM2B_ATTEST`` is also accepted), ``signature`` the
    ``TPMT_SIGNATURE``, ``ak`` the attestation key as ``TPMT_PUBLIC``, ``TPM2B_PUBLIC`` or a DER/PEM
    X.509 AK certificate. A certificate is chained (with ``intermediates``) to the built-in GCE or
    Azure vTPM roots at ``at`` (default: now); a bare public area is only checked for being a
    restricted signing key.

    ``nonce`` must equal the quote's ``extraData``. With no nonce the freshness check fails,
    unless ``nonce_required=False`` says the caller accepts replayable evidence.

    ``pcrs`` are the values of one ``bank``; their indices must be exactly the quote's selection,
    and the hash (with the signature's hash algorithm) of the values in ascending index order
    must equal ``pcrDigest``. Without ``pcrs`` the digest check fails.

    An RSA AK under 2048 bits or a SHA-1 signature fails the signature check unless
    ``allow_weak_ak`` (a policy's ``tpm.allow_weak_ak``) says otherwise.
    """
    return _tpm.verify_quote(
        attest,
        signature,
        ak,
        nonce=nonce,
        nonce_required=nonce_required,
        pcrs=_pcr_dict(pcrs),
        bank=bank,
        intermediates=[bytes(c) for c in intermediates],
        at_unix=_unix(at),
        allow_weak_ak=allow_weak_ak,
    )


def verify_certify_creation(
    attest: bytes,
    signature: bytes,
    ak: bytes,
    *,
    object_public: bytes | None = None,
    at: datetime | None = None,
    intermediates: Iterable[bytes] = (),
    allow_weak_ak: bool = False,
) -> Verdict:
    """Verifies a TPM2_CertifyCreation by the AK; with ``object_public`` (a ``TPMT_PUBLIC``) also
    that the certified ``objectName`` is that key's name."""
    return _tpm.verify_certify_creation(
        attest,
        signature,
        ak,
        object_public=object_public,
        intermediates=[bytes(c) for c in intermediates],
        at_unix=_unix(at),
        allow_weak_ak=allow_weak_ak,
    )


def check_rek(
    rek_public: bytes,
    *,
    pcrs: Mapping[int, bytes] | None,
    bank: str = "sha256",
    policy_pcrs: Iterable[int] = REFERENCE_PCRS,
) -> Verdict:
    """Checks a request-encryption key ``TPMT_PUBLIC``: P-256, fixedTPM, fixedParent,
    sensitiveDataOrigin, decrypt, not sign/restricted, userWithAuth clear, and ``authPolicy`` equal
    to PolicyPCR over ``policy_pcrs`` with the given values."""
    return _tpm.check_rek(rek_public, pcrs=_pcr_dict(pcrs), bank=bank, policy_pcrs=list(policy_pcrs))


def verify_identity(
    *,
    quote: bytes,
    quote_signature: bytes,
    pcrs: Mapping[int, bytes],
    creation: bytes,
    creation_signature: bytes,
    rek_public: bytes,
    ak: bytes,
    nonce: bytes | None,
    nonce_required: bool = True,
    bank: str = "sha256",
    policy_pcrs: Iterable[int] = REFERENCE_PCRS,
    at: datetime | None = None,
    intermediates: Iterable[bytes] = (),
    allow_weak_ak: bool = False,
) -> Verdict:
    """Verifies a compute node's TPM identity: the quote, the AK's CertifyCreation of the REK and
    the REK itself. ``claims["rek_public_key"]`` (hex, uncompressed P-256) is present only when
    every check passed."""
    return _tpm.verify_identity(
        quote=quote,
        quote_signature=quote_signature,
        pcrs={int(k): bytes(v) for k, v in pcrs.items()},
        bank=bank,
        creation=creation,
        creation_signature=creation_signature,
        rek_public=rek_public,
        ak=ak,
        nonce=nonce,
        nonce_required=nonce_required,
        policy_pcrs=list(policy_pcrs),
        intermediates=[bytes(c) for c in intermediates],
        at_unix=_unix(at),
        allow_weak_ak=allow_weak_ak,
    )


def verify_ak(
    ak: bytes, *, intermediates: Iterable[bytes] = (), at: datetime | None = None
) -> Verdict:
    """Checks an attestation key alone: a certificate's chain to the built-in GCE/Azure roots at
    ``at`` (``tpm.ak.chain``), or a public area's restricted-signing attributes."""
    return _tpm.verify_ak(ak, intermediates=[bytes(c) for c in intermediates], at_unix=_unix(at))


def parse_attest(data: bytes) -> dict[str, Any]:
    """The fields of a ``TPMS_ATTEST`` / ``TPM2B_ATTEST`` (quote, creation or certify)."""
    return _tpm.parse_attest(data)


def parse_public(data: bytes) -> dict[str, Any]:
    """The fields of a ``TPMT_PUBLIC`` / ``TPM2B_PUBLIC``, with decoded attributes and its name."""
    return _tpm.parse_public(data)


def public_name(data: bytes) -> bytes:
    """``nameAlg || H(TPMT_PUBLIC)``."""
    return _tpm.public_name(data)


def parse_signature(data: bytes) -> tuple[str, str]:
    """``(scheme, hash)`` of a ``TPMT_SIGNATURE``, e.g. ``("rsassa", "sha256")``."""
    return _tpm.parse_signature(data)


def policy_pcr_digest(values: Mapping[int, bytes], *, bank: str = "sha256") -> bytes:
    """The digest a SHA-256 policy session reaches after PolicyPCR over ``values`` (all of them,
    ascending index order): the ``authPolicy`` to give a PCR-bound key."""
    indices = sorted(values)
    return _tpm.policy_pcr_digest(bank, indices, [bytes(values[i]) for i in indices])


PCR_BANKS = ("sha1", "sha256", "sha384", "sha512")


def parse_pcrs(document: Mapping[str, Any]) -> tuple[str, dict[int, bytes]]:
    """``(bank, {index: value})`` from the PCR file's JSON object (see the module docstring)."""
    try:
        bank = str(document.get("bank", "sha256"))
        entries = document["pcrs"]
        pcrs = {int(index): bytes.fromhex(str(value)) for index, value in entries.items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedTPMStructureError(f"PCR document: {type(exc).__name__}") from None
    if bank not in PCR_BANKS:
        raise MalformedTPMStructureError(f"PCR document: unknown bank {bank!r}")
    return bank, pcrs


def load_pcrs(path: str | PathLike[str]) -> tuple[str, dict[int, bytes]]:
    """Reads a PCR file (``{"bank": "sha256", "pcrs": {"0": "hex", ...}}``)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise MalformedTPMStructureError("PCR file is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedTPMStructureError("PCR file must hold a JSON object")
    return parse_pcrs(document)
