"""TEE evidence collection through configfs-tsm.

No confidential VM is available to the test suite, so the real interface is only checked for its
absence here (a clear error); the read protocol (generation race check, provider check) runs against
a directory laid out as configfs-tsm lays out a report entry.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from openpcc.attestation.collect import (
    TSM_REPORT_ROOT,
    _read_report,
    collect_tsm_report,
    tsm_available,
)
from openpcc.exceptions import AttestationError, TEECollectionError


def entry(tmp_path: Path, *, provider: str = "sev_guest", generation: int = 1) -> Path:
    path = tmp_path / "report0"
    path.mkdir()
    (path / "outblob").write_bytes(b"\x05" * 1184)
    (path / "auxblob").write_bytes(b"certs")
    (path / "provider").write_text(provider + "\n")
    (path / "generation").write_text(f"{generation}\n")
    return path


def test_report_data_must_be_64_bytes() -> None:
    with pytest.raises(TEECollectionError, match="64 bytes, got 3"):
        collect_tsm_report(b"abc")


def test_missing_interface_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TEECollectionError, match="no configfs-tsm report interface"):
        collect_tsm_report(bytes(64), root=tmp_path / "absent")


@pytest.mark.skipif(tsm_available(), reason="this machine is a confidential VM")
def test_this_machine_has_no_tsm_interface() -> None:
    with pytest.raises(TEECollectionError, match=str(TSM_REPORT_ROOT)):
        collect_tsm_report(bytes(64))


def test_reads_report_aux_and_provider(tmp_path: Path) -> None:
    path = entry(tmp_path)
    report = _read_report(path, bytes(64), None)
    assert (report.provider, len(report.report), report.aux) == ("sev_guest", 1184, b"certs")
    assert (path / "inblob").read_bytes() == bytes(64)
    assert "1184 bytes" in repr(report)


def test_a_raced_generation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TEECollectionError, match="another writer"):
        _read_report(entry(tmp_path, generation=2), bytes(64), None)


def test_privlevel_counts_as_a_write(tmp_path: Path) -> None:
    path = entry(tmp_path, generation=2)
    assert _read_report(path, bytes(64), 1).provider == "sev_guest"
    assert (path / "privlevel").read_text() == "1\n"


def test_unknown_provider_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AttestationError, match="unknown configfs-tsm provider"):
        _read_report(entry(tmp_path, provider="nitro"), bytes(64), None)
