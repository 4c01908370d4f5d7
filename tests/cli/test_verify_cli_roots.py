"""`openpcc verify` with trust anchors of the caller's: --roots (SEV-SNP, NVIDIA), --root (TDX).

The SEV-SNP and NVIDIA cases use the synthetic chains of `tests/support` (not vendor-signed), so
they pass only when the CLI hands the given anchors to the verifier, and fail against the built-in
roots.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from tests.cli.test_verify_cli import (
    INVALID,
    UNREADABLE,
    VALID,
    _tdx_collateral,
    failed,
    run,
    write,
)
from tests.support import nvidia_synthetic as nv
from tests.support import snp_synthetic as snp
from tests.support.vectors import load_json, read_bytes, vector_path

AT = datetime(2026, 6, 1, tzinfo=UTC).isoformat()


def _snp_files(tmp_path: Path) -> list[str]:
    chain = snp.synthetic_chain("genoa")
    vcek = chain.issue_vcek()
    report = snp.build_report(snp.ReportFields(), vcek)
    return [
        write(tmp_path, "report.bin", report),
        "--vcek",
        write(tmp_path, "vcek.der", vcek.der),
        "--chain",
        write(tmp_path, "chain.pem", chain.chain_pem),
        "--at",
        AT,
    ]


def test_sev_snp_roots_option_trusts_the_given_ark(tmp_path: Path) -> None:
    args = _snp_files(tmp_path)
    ark = write(tmp_path, "ark.pem", snp.synthetic_chain("genoa").ark_pem)
    rc, doc = run("sev-snp", *args, "--roots", ark)
    assert (rc, doc["valid"]) == (VALID, True), failed(doc)
    rc, doc = run("sev-snp", *args)
    assert rc == INVALID and "sevsnp.chain.ark" in failed(doc)


def test_sev_snp_roots_that_are_not_certificates_are_unreadable(tmp_path: Path) -> None:
    rc, doc = run("sev-snp", *_snp_files(tmp_path), "--roots", write(tmp_path, "x.pem", b"no pem"))
    assert rc == UNREADABLE and doc["valid"] is False


def test_nvidia_roots_and_chain_options(tmp_path: Path) -> None:
    pki = nv.make_pki()
    nonce = os.urandom(32)
    report = nv.GpuReport.build(pki, nonce)
    evidence = write(tmp_path, "gpu.json", nv.evidence_json(report))
    root = write(tmp_path, "root.pem", pki.root_pem())
    common = ["--nonce", nonce.hex(), "--at", AT]
    rc, doc = run("nvidia", evidence, "--roots", root, *common)
    assert (rc, doc["valid"]) == (VALID, True), failed(doc)
    rc, doc = run("nvidia", evidence, *common)
    assert rc == INVALID and failed(doc) == ["nvidia.0.chain", "nvidia.0.signature"]
    hex_only = write(tmp_path, "gpu.hex", report.raw.hex().encode())
    chain = write(tmp_path, "chain.pem", report.chain_pem)
    rc, doc = run("nvidia", hex_only, "--chain", chain, "--roots", root, *common)
    assert (rc, doc["valid"]) == (VALID, True), failed(doc)


def test_tdx_root_option_replaces_the_intel_root(tmp_path: Path) -> None:
    case = load_json("tdx", "expected.json")["collateral_cases"][0]
    when = case.get("suggested_verification_time") or case["verification_time_used_by_origin_tests"]
    args = ["tdx", str(vector_path("tdx", case["quote"])), "--collateral", _tdx_collateral(tmp_path, case), "--at", when]
    intel = write(tmp_path, "intel.pem", read_bytes("tdx", "intel_sgx_root_ca.pem"))
    rc_builtin, builtin = run(*args)
    rc_given, given = run(*args, "--root", intel)
    assert (rc_given, given["valid"]) == (rc_builtin, builtin["valid"])
    other = write(tmp_path, "other.pem", snp.synthetic_chain("genoa").ark_pem)
    rc, doc = run(*args, "--root", other)
    assert rc == INVALID and any("chain" in name or "root" in name for name in failed(doc)), failed(doc)


def test_tdx_cli_refuses_a_pck_minted_under_a_pck(tmp_path: Path) -> None:
    """`openpcc verify tdx --root`: the honest synthetic chain verifies its chain checks, the
    chain a PCK-key holder mints fails tdx.pck_chain (exit 1)."""
    from tests.support import tdx_synthetic as syn

    pki = syn.pki()
    real = load_json("tdx", "collateral/dcap-qvl/tdx_v4_collateral.json")
    collateral = write(tmp_path, "collateral.json", syn.collateral(pki, real))
    root = write(tmp_path, "root.pem", pki.root_pem)
    at = syn.COLLATERAL_INSTANT.strftime("%Y-%m-%dT%H:%M:%SZ")
    honest = write(tmp_path, "honest.dat", syn.build_quote(pki.pck_chain(), pki.pck_key))
    rc, doc = run("tdx", honest, "--collateral", collateral, "--root", root, "--at", at)
    assert "tdx.pck_chain" not in failed(doc) and "tdx.collateral.tcb_info" not in failed(doc)
    key, minted = syn.mint_pck_under(pki, bytes([255] * 16))
    forged = write(tmp_path, "forged.dat", syn.build_quote((minted, *pki.pck_chain()), key))
    rc, doc = run("tdx", forged, "--collateral", collateral, "--root", root, "--at", at)
    assert rc == INVALID and "tdx.pck_chain" in failed(doc)
