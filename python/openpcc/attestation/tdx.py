"""Intel TDX (and SGX) DCAP quotes: parse and verify (versions 3 to 5; SGX, TD 1.0 and TD 1.5
bodies) with collateral, at an explicit instant, giving Intel's TCB status.

Collateral is one JSON object (the shape dcap-qvl and Intel PCCS use):
``tcb_info`` (the exact signed TCB-info text, or the whole PCS body
``{"tcbInfo":{...},"signature":"..."}``), ``tcb_info_signature`` (hex r||s, only with the
former), ``tcb_info_issuer_chain`` (PEM), the same three for ``qe_identity``, and ``pck_crl`` /
``root_ca_crl`` as hex DER. Nothing is fetched from the network.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from openpcc._openpcc import tdx as _core
from openpcc.attestation._instant import unix_seconds
from openpcc.attestation.verdict import Verdict

__all__ = ["TdxVerifier", "parse_quote", "verify_azure_hcl", "verify_quote"]


def verify_quote(
    quote: bytes,
    *,
    collateral: bytes | None,
    at: datetime | None = None,
    root: bytes | None = None,
    accept_tcb_status: Iterable[str] = (),
) -> Verdict:
    """Verifies a quote with its collateral at ``at`` (default now).

    ``root``: a trust anchor other than the built-in Intel SGX Root CA (DER or PEM). Without
    collateral the quote's own signatures and chain are checked and ``tdx.collateral.parse`` fails.
    ``accept_tcb_status``: Intel TCB statuses accepted besides ``UpToDate`` (for example
    ``OutOfDate``, ``SWHardeningNeeded``, ``ConfigurationNeeded``); any other status fails
    ``tdx.tcb.status``. ``Revoked`` is never accepted.
    """
    return _core.verify_quote(
        quote,
        collateral=collateral,
        at=unix_seconds(at),
        root=root,
        accept_tcb_status=list(accept_tcb_status),
    )


def verify_azure_hcl(hcl_report: bytes, *, quote: bytes | None = None) -> Verdict:
    """Checks an Azure TDX HCL report: its TDREPORT's REPORTDATA binds the runtime data (the vTPM
    keys), its inner hashes hold, and (given ``quote``) MRTD, RTMRs and REPORTDATA equal the
    quote's. The TDREPORT is not signed: verify the quote with :func:`verify_quote` as well.
    """
    return _core.verify_azure_hcl(hcl_report, quote=quote)


def parse_quote(quote: bytes) -> Verdict:
    """Parses a quote (no signature check); ``claims`` holds the header, body and PCK fields."""
    return _core.parse_quote(quote)


class TdxVerifier:
    """A verifier that caches the PCK chain and collateral checks: a quote whose chain and
    collateral were seen costs its two P-256 signature checks and the TCB matching. ``root``: a
    trust anchor other than the built-in Intel SGX Root CA. Thread-safe.
    """

    __slots__ = ("_inner",)

    def __init__(self, root: bytes | None = None) -> None:
        self._inner = _core.TdxVerifier(root)

    def verify(
        self,
        quote: bytes,
        *,
        collateral: bytes | None,
        at: datetime | None = None,
        accept_tcb_status: Iterable[str] = (),
    ) -> Verdict:
        """Same as :func:`verify_quote`."""
        return self._inner.verify(
            quote,
            collateral=collateral,
            at=unix_seconds(at),
            accept_tcb_status=list(accept_tcb_status),
        )
