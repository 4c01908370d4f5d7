"""Collecting TEE evidence on a real confidential VM, through the kernel's configfs-tsm interface.

Linux (6.7+) exposes SEV-SNP and TDX report generation under ``/sys/kernel/config/tsm/report``:
make a directory, write the 64 bytes of report data to ``inblob``, read the report from ``outblob``
(and, on SEV-SNP, the certificate table from ``auxblob``). ``generation`` counts the writes to the
directory, so reading it after ``outblob`` tells whether another writer raced us. The legacy
``/dev/sev-guest`` ioctl is not used: configfs-tsm covers both vendors with one code path.

Only compute nodes collect evidence; clients only verify it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from openpcc.exceptions import TEECollectionError

TSM_REPORT_ROOT = Path("/sys/kernel/config/tsm/report")
REPORT_DATA_LEN = 64
PROVIDERS = ("sev_guest", "tdx_guest")


@dataclass(frozen=True)
class TeeReport:
    """A report from the TEE: ``provider`` is ``sev_guest`` (SNP report) or ``tdx_guest`` (TDX quote)."""

    provider: str
    report: bytes
    aux: bytes | None

    def __repr__(self) -> str:
        aux = "none" if self.aux is None else f"{len(self.aux)} bytes"
        return f"TeeReport(provider={self.provider!r}, report={len(self.report)} bytes, aux={aux})"


def tsm_available(root: Path = TSM_REPORT_ROOT) -> bool:
    """Whether this machine exposes configfs-tsm reports (a confidential VM with a recent kernel)."""
    return root.is_dir()


def collect_tsm_report(
    report_data: bytes, *, root: Path = TSM_REPORT_ROOT, privlevel: int | None = None
) -> TeeReport:
    """Asks the TEE for a report binding ``report_data`` (exactly 64 bytes)."""
    if len(report_data) != REPORT_DATA_LEN:
        raise TEECollectionError(f"report data must be {REPORT_DATA_LEN} bytes, got {len(report_data)}")
    if not tsm_available(root):
        raise TEECollectionError(f"no configfs-tsm report interface at {root} (not a confidential VM?)")
    entry = root / f"openpcc-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        entry.mkdir()
    except OSError as exc:
        raise TEECollectionError(f"cannot create {entry}: {exc.strerror or exc}") from None
    try:
        return _read_report(entry, report_data, privlevel)
    finally:
        _remove(entry)


def _read_report(entry: Path, report_data: bytes, privlevel: int | None) -> TeeReport:
    writes = 0
    try:
        if privlevel is not None:
            (entry / "privlevel").write_text(f"{privlevel}\n")
            writes += 1
        (entry / "inblob").write_bytes(report_data)
        writes += 1
        report = (entry / "outblob").read_bytes()
        aux_path = entry / "auxblob"
        aux = aux_path.read_bytes() if aux_path.exists() else None
        provider = (entry / "provider").read_text().strip()
        generation = int((entry / "generation").read_text().strip())
    except (OSError, ValueError) as exc:
        raise TEECollectionError(f"configfs-tsm report failed: {exc}") from None
    if generation != writes:
        raise TEECollectionError(
            f"configfs-tsm generation is {generation}, expected {writes}: another writer raced this report"
        )
    if provider not in PROVIDERS:
        raise TEECollectionError(f"unknown configfs-tsm provider {provider!r}")
    if not report:
        raise TEECollectionError("configfs-tsm returned an empty report")
    return TeeReport(provider=provider, report=report, aux=aux or None)


def _remove(entry: Path) -> None:
    # configfs removes the attribute files itself on rmdir; a plain directory (tests) needs them gone.
    try:
        entry.rmdir()
    except OSError:
        for child in entry.iterdir():
            child.unlink(missing_ok=True)
        entry.rmdir()
