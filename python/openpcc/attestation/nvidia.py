"""NVIDIA GPU and NVSwitch attestation, verified offline against the device root.

Each device report is an SPDM 1.1 ``GET_MEASUREMENTS`` request and its signed ``MEASUREMENTS``
response. The verifier checks the ECDSA P-384 signature over both with the device's leaf key, the
device certificate chain up to the NVIDIA Device Identity CA (built in; ``roots`` replaces it) at
the instant ``at``, the request nonce, and the driver and VBIOS versions a JSON file claims against
the signed opaque data. Claims: ``devices`` with ``measurements`` (block index → hex) per device.
"""

from __future__ import annotations

from datetime import UTC, datetime

from openpcc._openpcc import nvidia as _nvidia
from openpcc.attestation.verdict import Verdict

__all__ = ["DEVICE_ROOT_PEM", "verify_evidence"]

DEVICE_ROOT_PEM: str = _nvidia.DEVICE_ROOT_PEM


def verify_evidence(
    data: bytes,
    *,
    nonce: bytes | None = None,
    at: datetime | None = None,
    roots: bytes | None = None,
    chain: bytes | None = None,
) -> Verdict:
    """Verifies NVIDIA evidence and returns a verdict naming each check.

    ``data`` is a JSON list or object as written by NVIDIA's collection tools (``arch``,
    ``certificate`` (base64 PEM chain), ``evidence`` (base64 request‖response), ``nonce`` (hex),
    optional ``driver_version`` / ``vbios_version``), or the hex of request‖response optionally
    followed by the PEM chain; ``chain`` gives the PEM chain separately for raw hex.
    ``nonce`` is the nonce the verifier sent; without it the file's own nonce is compared, which
    proves consistency, not freshness. ``at`` (default: now) is the instant certificates are
    judged at; a naive datetime is taken as UTC. ``roots`` (PEM) replaces the built-in root.
    """
    return _nvidia.verify_evidence(bytes(data), _unix_seconds(at), nonce, roots, chain)


def _unix_seconds(at: datetime | None) -> int:
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(0, int(at.timestamp()))
