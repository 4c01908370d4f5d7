"""AMD SEV-SNP attestation reports: parse and verify (versions 2 to 5, bare or in Azure's HCL
wrapper), with the VCEK/VLEK chain to AMD's built-in roots, an optional CRL, and the TCB and
chip-id match. Nothing is fetched from the network: without a VCEK the verdict fails with
``sevsnp.vcek``.
"""

from __future__ import annotations

import functools
from datetime import datetime

from openpcc._openpcc import sevsnp as _core
from openpcc.attestation._instant import unix_seconds
from openpcc.attestation.verdict import Verdict

__all__ = ["SevSnpVerifier", "check_roots", "parse_report", "verify_report"]


def verify_report(
    report: bytes,
    *,
    vcek: bytes | None = None,
    chain: bytes | None = None,
    crl: bytes | None = None,
    at: datetime | None = None,
    roots: bytes | None = None,
) -> Verdict:
    """Verifies a report at ``at`` (default now).

    ``vcek``: the VCEK or VLEK, DER or PEM. ``chain``: PEM with the ASK (or ASVK) and ARK, any
    order; without it the built-in AMD intermediates are used. ``crl``: the ARK's CRL, DER or PEM.
    ``roots``: PEM of the ARKs to trust *instead of* the built-in AMD roots (``None`` = built-in);
    with it no built-in intermediate is offered either, so ``chain`` must hold the ASK. Raises
    :class:`~openpcc.exceptions.EvidenceFormatError` when ``roots`` holds no parsable certificate.
    """
    if roots is None:
        return _core.verify_report(report, vcek=vcek, chain=chain, crl=crl, at=unix_seconds(at))
    return _verifier_for(bytes(roots)).verify(
        report, vcek=vcek, chain=chain, crl=crl, at=unix_seconds(at)
    )


def check_roots(roots: bytes) -> None:
    """Raises :class:`~openpcc.exceptions.EvidenceFormatError` unless ``roots`` is a PEM bundle
    (or one DER certificate) of ARKs, as ``verify_report(roots=...)`` takes."""
    _verifier_for(bytes(roots))


@functools.lru_cache(maxsize=8)
def _verifier_for(roots: bytes) -> _core.SevSnpVerifier:
    """One verifier per root set: a policy's ARKs are parsed once and its chains cached."""
    return _core.SevSnpVerifier(roots)


def parse_report(report: bytes) -> Verdict:
    """Parses a report (no signature check); ``claims`` holds every field."""
    return _core.parse_report(report)


class SevSnpVerifier:
    """A verifier that caches verified chains: a report with a known VCEK costs one P-384
    signature check. ``roots``: PEM of the ARKs to trust instead of the built-in ones (then the
    chain must be given). Thread-safe.
    """

    __slots__ = ("_inner",)

    def __init__(self, roots: bytes | None = None) -> None:
        self._inner = _core.SevSnpVerifier(roots)

    def verify(
        self,
        report: bytes,
        *,
        vcek: bytes | None = None,
        chain: bytes | None = None,
        crl: bytes | None = None,
        at: datetime | None = None,
    ) -> Verdict:
        """Same as :func:`verify_report`."""
        return self._inner.verify(report, vcek=vcek, chain=chain, crl=crl, at=unix_seconds(at))
