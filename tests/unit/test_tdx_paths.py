"""TDX certificate paths checked like a CA would, against a synthetic Intel-shaped PKI
(``tests/support/tdx_synthetic``): first the honest quote and collateral pass, then each attack a
holder of one PCK private key (or of a CA's key used out of its role) can build is refused by the
check named in the test."""

from __future__ import annotations

from typing import Any

import pytest
from openpcc.attestation.tdx import verify_quote

from tests.support import tdx_synthetic as syn
from tests.support.vectors import load_json

CHAIN_CHECKS = (
    "tdx.quote.signature",
    "tdx.qe_report.binding",
    "tdx.pck_chain",
    "tdx.qe_report.signature",
)
COLLATERAL_CHECKS = ("tdx.collateral.tcb_info", "tdx.collateral.qe_identity", "tdx.collateral.crl")


def outcome(verdict: Any) -> dict[str, bool]:
    return {c.name: c.ok for c in verdict.checks}


def detail(verdict: Any, name: str) -> str:
    return next(c.detail for c in verdict.checks if c.name == name)


@pytest.fixture(scope="module")
def real_collateral() -> dict[str, str]:
    return load_json("tdx", "collateral/dcap-qvl/tdx_v4_collateral.json")


def verify(quote: bytes, collateral: bytes | None = None) -> Any:
    pki = syn.pki()
    return verify_quote(quote, collateral=collateral, at=syn.COLLATERAL_INSTANT, root=pki.root_pem)


def test_synthetic_quote_and_collateral_pass_the_chain_and_collateral_checks(
    real_collateral: dict[str, str],
) -> None:
    pki = syn.pki()
    quote = syn.build_quote(pki.pck_chain(), pki.pck_key)
    checks = outcome(verify(quote, syn.collateral(pki, real_collateral)))
    for name in (*CHAIN_CHECKS, *COLLATERAL_CHECKS):
        assert checks.get(name) is True, name


def test_tdx_pck_chain_refuses_pck_signed_by_leaf() -> None:
    """A PCK key holder mints a "PCK" stating any TCB (all SVNs 255) under its own PCK."""
    pki = syn.pki()
    key, minted = syn.mint_pck_under(pki, bytes([255] * 16))
    quote = syn.build_quote((minted, *pki.pck_chain()), key)
    verdict = verify(quote)
    checks = outcome(verdict)
    assert checks["tdx.quote.signature"] and checks["tdx.qe_report.binding"]
    assert checks["tdx.pck_chain"] is False
    assert "not a CA" in detail(verdict, "tdx.pck_chain")
    assert "tdx.qe_report.signature" not in checks  # nothing trusts the minted key


def test_tdx_pck_chain_refuses_pck_issued_by_a_ca_that_is_not_a_pck_ca() -> None:
    """A CA under the root that is not the PCK Platform/Processor CA (here: a second root-level
    CA with its own name) may not issue PCKs: the shape is Intel's."""
    pki = syn.pki()
    other_key = syn._p256()
    other = syn.issue(
        "Intel SGX Other CA", other_key, pki.root, pki.root_key, ca=True, path_length=0
    )
    pck_key = syn._p256()
    pck = syn.issue(
        "Intel SGX PCK Certificate", pck_key, other, other_key, ca=False,
        sgx=syn.sgx_extension(bytes([2] * 16), 13),
    )  # fmt: skip
    verdict = verify(syn.build_quote((pck, other, pki.root), pck_key))
    assert outcome(verdict)["tdx.pck_chain"] is False
    assert "not an Intel SGX PCK Platform or Processor CA" in detail(verdict, "tdx.pck_chain")


def test_tdx_pck_chain_refuses_a_ca_beyond_its_path_length() -> None:
    """A sub-CA under the PCK Platform CA (pathLen 0) issuing the PCK breaks the CA's constraint."""
    pki = syn.pki()
    sub_key = syn._p256()
    sub = syn.issue(
        "Intel SGX PCK Platform CA", sub_key, pki.ca, pki.ca_key, ca=True, path_length=0
    )
    pck_key = syn._p256()
    pck = syn.issue(
        "Intel SGX PCK Certificate", pck_key, sub, sub_key, ca=False,
        sgx=syn.sgx_extension(bytes([2] * 16), 13),
    )  # fmt: skip
    verdict = verify(syn.build_quote((pck, sub, pki.ca, pki.root), pck_key))
    assert outcome(verdict)["tdx.pck_chain"] is False
    assert "pathLenConstraint" in detail(verdict, "tdx.pck_chain")


def test_tdx_collateral_tcb_info_refuses_tcb_info_signed_by_a_pck(
    real_collateral: dict[str, str],
) -> None:
    """A PCK key holder signs TCB info and QE identity itself (chain PCK → PCK CA → root) to
    call its own TCB UpToDate: only the TCB Signing certificate directly under the root may."""
    pki = syn.pki()
    quote = syn.build_quote(pki.pck_chain(), pki.pck_key)
    forged = syn.collateral(pki, real_collateral, signer=(pki.pck_key, pki.pck_chain()))
    verdict = verify(quote, forged)
    checks = outcome(verdict)
    assert checks["tdx.pck_chain"] is True
    assert checks["tdx.collateral.tcb_info"] is False
    assert checks["tdx.collateral.qe_identity"] is False
    assert "directly under" in detail(verdict, "tdx.collateral.tcb_info")


def test_tdx_collateral_crl_refuses_pck_crl_from_a_ca_without_crl_sign(
    real_collateral: dict[str, str],
) -> None:
    """The PCK CRL must come from the CA that issued the PCK, and that CA must assert cRLSign."""
    pki = syn.pki()
    ca_key = syn._p256()
    ca = syn.issue(
        "Intel SGX PCK Platform CA", ca_key, pki.root, pki.root_key, ca=True, path_length=0
    )
    ca_no_crl = syn.x509.load_der_x509_certificate(ca.public_bytes(syn.serialization.Encoding.DER))
    # Re-issue the CA with keyCertSign only.
    builder = (
        syn.x509.CertificateBuilder()
        .subject_name(ca_no_crl.subject)
        .issuer_name(pki.root.subject)
        .public_key(ca_key.public_key())
        .serial_number(syn.x509.random_serial_number())
        .not_valid_before(syn.NOT_BEFORE)
        .not_valid_after(syn.NOT_AFTER)
        .add_extension(syn.x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            syn.x509.KeyUsage(False, False, False, False, False, True, False, False, False),
            critical=True,
        )
    )
    ca_cert = builder.sign(pki.root_key, syn.hashes.SHA256())
    pck_key = syn._p256()
    pck = syn.issue(
        "Intel SGX PCK Certificate", pck_key, ca_cert, ca_key, ca=False,
        sgx=syn.sgx_extension(bytes([2] * 16), 13),
    )  # fmt: skip
    quote = syn.build_quote((pck, ca_cert, pki.root), pck_key)
    col = syn.collateral(pki, real_collateral, pck_crl_signer=(ca_cert, ca_key))
    verdict = verify(quote, col)
    assert outcome(verdict)["tdx.pck_chain"] is True
    assert outcome(verdict)["tdx.collateral.crl"] is False
    assert "cRLSign" in detail(verdict, "tdx.collateral.crl")
