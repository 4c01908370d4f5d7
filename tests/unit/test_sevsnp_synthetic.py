"""The SEV-SNP verifier against a synthetic AMD chain and report (``tests/support/snp_synthetic``).

First this proves the synthetic data is what the verifier expects (every check passes with our
ARK as the only root), then it drives the verifier where the real vectors cannot: version 5 and
Turin reports, a VLEK, and one failure per check with a report that is otherwise genuine.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from openpcc.attestation.policy import load_policy
from openpcc.attestation.sevsnp import SevSnpVerifier, check_roots, verify_report
from openpcc.exceptions import EvidenceFormatError, PolicyError

from tests.support.snp_synthetic import (
    FLAG_MASK_CHIP_ID,
    OID_HW_ID,
    OID_SNP_SPL,
    POLICY_DEBUG,
    POLICY_DEFAULT,
    SIGNING_KEY_VLEK,
    ReportFields,
    Tcb,
    build_report,
    impostor_ark,
    pem,
    reissue_ask,
    synthetic_chain,
    vcek_under,
)

AT = datetime(2026, 6, 1, tzinfo=UTC)
EVERY_CHECK = {
    "sevsnp.report.parse",
    "sevsnp.vcek",
    "sevsnp.chain.vcek",
    "sevsnp.chain.ask",
    "sevsnp.chain.ark",
    "sevsnp.chain.path",
    "sevsnp.chain.validity",
    "sevsnp.report.signing_key",
    "sevsnp.report.signature",
    "sevsnp.tcb.match",
    "sevsnp.chip_id.match",
}
DATA = bytes(range(64))


def failed(verdict) -> list[str]:
    return [c.name for c in verdict.failures]


def verify(report: bytes, vcek: bytes, product: str = "genoa", **kwargs):
    chain = synthetic_chain(product)
    options = {"chain": chain.chain_pem, "roots": chain.ark_pem, "at": AT, **kwargs}
    return verify_report(report, vcek=vcek, **options)


@pytest.mark.parametrize(("product", "version"), [("genoa", 5), ("genoa", 3), ("milan", 5)])
def test_synthetic_report_passes_every_check(product: str, version: int) -> None:
    vcek = synthetic_chain(product).issue_vcek()
    fields = ReportFields(report_data=DATA, version=version)
    verdict = verify(build_report(fields, vcek), vcek.der, product)
    assert verdict.valid, verdict.failures
    assert {c.name for c in verdict.checks} == EVERY_CHECK
    claims = verdict.claims
    assert claims["version"] == version
    assert claims["report_data"] == DATA.hex()
    assert claims["measurement"] == fields.measurement.hex()
    assert claims["policy"] == hex(POLICY_DEFAULT) and claims["debug_allowed"] is False
    assert claims["product"] == product
    assert claims["reported_tcb_decoded"] == {
        "bootloader": 9,
        "tee": 0,
        "snp": 23,
        "microcode": 72,
    }
    assert claims["chip_id"] == vcek.chip_id.hex()
    assert ("launch_mit_vector" in claims) == (version >= 5)


def test_turin_layout_and_eight_byte_hwid() -> None:
    tcb = Tcb(bootloader=3, tee=1, snp=4, microcode=5, fmc=2)
    vcek = synthetic_chain("turin").issue_vcek(tcb)
    verdict = verify(build_report(ReportFields(), vcek), vcek.pem, "turin")
    assert verdict.valid, verdict.failures
    assert verdict.claims["reported_tcb_decoded"] == {
        "fmc": 2,
        "bootloader": 3,
        "tee": 1,
        "snp": 4,
        "microcode": 5,
    }
    chip = next(c for c in verdict.checks if c.name == "sevsnp.chip_id.match")
    assert "8 bytes" in chip.detail
    # On Turin only the first 8 bytes of CHIP_ID are the chip; the rest must be zero.
    tail = vcek.chip_id[:63] + b"\x01"
    report = build_report(ReportFields(chip_id=tail), vcek)
    assert failed(verify(report, vcek.der, "turin")) == ["sevsnp.chip_id.match"]
    # fmcSPL is decoded from TCB byte 0 on Turin: a different FMC level in the cert is caught.
    other_fmc = synthetic_chain("turin").issue_vcek(tcb, key=vcek.key, cert_tcb=Tcb(3, 1, 4, 5, 7))
    verdict = verify(build_report(ReportFields(), vcek), other_fmc.der, "turin")
    assert failed(verdict) == ["sevsnp.tcb.match"]
    assert "fmcSPL" in verdict.failures[0].detail


def test_vlek_is_not_chip_bound() -> None:
    vlek = synthetic_chain().issue_vcek(vlek=True)
    report = build_report(ReportFields(flags=SIGNING_KEY_VLEK << 2), vlek)
    verdict = verify(report, vlek.der)
    assert verdict.valid, verdict.failures
    assert verdict.claims["signing_key_kind"] == "vlek"
    # The same report claiming a VCEK signed it disagrees with the certificate.
    wrong_kind = build_report(ReportFields(), vlek)
    assert failed(verify(wrong_kind, vlek.der)) == ["sevsnp.report.signing_key"]


@pytest.mark.parametrize("offset", [0x00 + 4, 0x08, 0x50, 0x90, 0x180, 0x1A0, 0x29F, 0x2A0, 0x2E8])
def test_flipped_byte_breaks_the_signature(offset: int) -> None:
    vcek = synthetic_chain().issue_vcek()
    report = bytearray(build_report(ReportFields(report_data=DATA), vcek))
    report[offset] ^= 0x01
    assert "sevsnp.report.signature" in failed(verify(bytes(report), vcek.der))


def test_signature_scalar_above_48_bytes_is_rejected() -> None:
    vcek = synthetic_chain().issue_vcek()
    report = bytearray(build_report(ReportFields(), vcek))
    report[0x2A0 + 48] = 1
    verdict = verify(bytes(report), vcek.der)
    assert failed(verdict) == ["sevsnp.report.signature"]
    assert "above 48" in verdict.failures[0].detail


def test_unsupported_signature_algorithm() -> None:
    vcek = synthetic_chain().issue_vcek()
    report = build_report(ReportFields(signature_algo=2), vcek)
    assert failed(verify(report, vcek.der)) == ["sevsnp.report.signature"]


def test_report_signed_by_another_key() -> None:
    vcek = synthetic_chain().issue_vcek()
    report = build_report(ReportFields(), vcek, signer=ec.generate_private_key(ec.SECP384R1()))
    assert failed(verify(report, vcek.der)) == ["sevsnp.report.signature"]


def test_built_in_roots_reject_the_synthetic_chain() -> None:
    chain = synthetic_chain()
    vcek = chain.issue_vcek()
    report = build_report(ReportFields(), vcek)
    # With the chain given, its self-signed ARK is not one of AMD's.
    verdict = verify_report(report, vcek=vcek.der, chain=chain.chain_pem, at=AT)
    assert failed(verdict) == ["sevsnp.chain.ark"]
    assert "not a trusted AMD root" in verdict.failures[0].detail
    # Without a chain, no built-in ASK issued this VCEK.
    assert failed(verify_report(report, vcek=vcek.der, at=AT)) == ["sevsnp.chain.vcek"]


def test_wrong_ark() -> None:
    chain = synthetic_chain()
    vcek = chain.issue_vcek()
    report = build_report(ReportFields(), vcek)
    _, other = impostor_ark()
    # Trusting an ARK with the same name but another key: the ARK the chain carries is not it...
    assert failed(verify(report, vcek.der, roots=pem(other))) == ["sevsnp.chain.ark"]
    # ...and with only the ASK given, the trusted ARK's key does not verify the ASK.
    verdict = verify(report, vcek.der, roots=pem(other), chain=pem(chain.ask))
    assert failed(verdict) == ["sevsnp.chain.ask"]
    assert "does not verify" in verdict.failures[0].detail
    # Another product's ARK is named differently: no issuer found.
    milan = synthetic_chain("milan")
    assert failed(verify(report, vcek.der, roots=milan.ark_pem, chain=pem(chain.ask))) == [
        "sevsnp.chain.ask"
    ]


def test_vcek_issued_by_another_ask() -> None:
    other = synthetic_chain("genoa", "other")
    vcek = other.issue_vcek()
    # Same names, other keys: the synthetic ASK does not verify this VCEK.
    verdict = verify(build_report(ReportFields(), vcek), vcek.der)
    assert failed(verdict) == ["sevsnp.chain.vcek"]


def test_vcek_tcb_disagrees_with_the_report() -> None:
    chain = synthetic_chain()
    vcek = chain.issue_vcek(Tcb(snp=23), cert_tcb=Tcb(snp=22))
    verdict = verify(build_report(ReportFields(), vcek), vcek.der)
    assert failed(verdict) == ["sevsnp.tcb.match"]
    assert verdict.failures[0].detail == "snpSPL: certificate 22, report 23"
    for component, tcb in (
        ("blSPL", Tcb(bootloader=1)),
        ("teeSPL", Tcb(tee=1)),
        ("ucodeSPL", Tcb(microcode=1)),
    ):
        stale = chain.issue_vcek(Tcb(), key=vcek.key, cert_tcb=tcb)
        detail = verify(build_report(ReportFields(), stale), stale.der).failures[0].detail
        assert detail.startswith(component), detail


def test_vcek_lacking_an_spl_or_hwid() -> None:
    chain = synthetic_chain()
    no_snp = chain.issue_vcek(omit=(OID_SNP_SPL,))
    verdict = verify(build_report(ReportFields(), no_snp), no_snp.der)
    assert failed(verdict) == ["sevsnp.tcb.match"]
    assert "lacks snpSPL" in verdict.failures[0].detail
    no_hwid = chain.issue_vcek(omit=(OID_HW_ID,))
    assert failed(verify(build_report(ReportFields(), no_hwid), no_hwid.der)) == [
        "sevsnp.chip_id.match"
    ]


def test_report_for_another_generation() -> None:
    milan = synthetic_chain("milan").issue_vcek()
    genoa = synthetic_chain("genoa").issue_vcek(chip_id=milan.chip_id, key=milan.key)
    # A report whose CPUID says Genoa, checked with the Milan VCEK (same key, so it verifies).
    verdict = verify(build_report(ReportFields(), genoa), milan.der, "milan")
    assert failed(verdict) == ["sevsnp.tcb.match"]
    assert "CPUID says genoa" in verdict.failures[0].detail


def test_chip_id_mismatch_or_masked() -> None:
    vcek = synthetic_chain().issue_vcek()
    other_chip = build_report(ReportFields(chip_id=b"\x42" * 64), vcek)
    assert failed(verify(other_chip, vcek.der)) == ["sevsnp.chip_id.match"]
    masked = build_report(ReportFields(flags=FLAG_MASK_CHIP_ID, chip_id=bytes(64)), vcek)
    verdict = verify(masked, vcek.der)
    assert failed(verdict) == ["sevsnp.chip_id.match"]
    assert "masks CHIP_ID" in verdict.failures[0].detail


def test_debug_bit_is_a_claim_not_a_verifier_failure() -> None:
    vcek = synthetic_chain().issue_vcek()
    verdict = verify(
        build_report(ReportFields(policy=POLICY_DEFAULT | POLICY_DEBUG), vcek), vcek.der
    )
    assert verdict.valid and verdict.claims["debug_allowed"] is True


def test_validity_window_is_judged_at_the_instant() -> None:
    vcek = synthetic_chain().issue_vcek()
    report = build_report(ReportFields(), vcek)
    for at in (datetime(2023, 6, 1, tzinfo=UTC), datetime(2050, 6, 1, tzinfo=UTC)):
        assert failed(verify(report, vcek.der, at=at)) == ["sevsnp.chain.validity"]


def test_cached_verifier_equals_the_function() -> None:
    chain = synthetic_chain()
    vcek = chain.issue_vcek()
    report = build_report(ReportFields(), vcek)
    verifier = SevSnpVerifier(roots=chain.ark_pem)
    for _ in range(2):
        cached = verifier.verify(report, vcek=vcek.der, chain=chain.chain_pem, at=AT)
        assert cached.valid and cached.checks == verify(report, vcek.der).checks


def test_roots_that_are_not_certificates() -> None:
    with pytest.raises(EvidenceFormatError):
        check_roots(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(EvidenceFormatError):
        verify_report(b"", roots=b"not a certificate")


def test_policy_amd_arks() -> None:
    chain = synthetic_chain()
    policy = load_policy(
        "require_tee = false\n"
        f'[trust_roots]\namd_arks = """{chain.ark_pem.decode()}"""\n'
        f'amd_chain = """{chain.chain_pem.decode()}"""\n'.encode()
    )
    assert policy.trust_roots.amd_arks == chain.ark_pem
    assert "amd_arks" in repr(policy.trust_roots) and "BEGIN" not in repr(policy.trust_roots)
    with pytest.raises(PolicyError, match="trust_roots.amd_arks: "):
        load_policy(b'[trust_roots]\namd_arks = "x"\namd_chain = "y"\n')
    with pytest.raises(PolicyError, match="give the ASK in trust_roots.amd_chain"):
        load_policy(f'[trust_roots]\namd_arks = """{chain.ark_pem.decode()}"""\n'.encode())


def test_several_arks_in_one_bundle() -> None:
    genoa, milan = synthetic_chain("genoa"), synthetic_chain("milan")
    roots = pem(genoa.ark, milan.ark)
    for chain in (genoa, milan):
        vcek = chain.issue_vcek()
        verdict = verify_report(
            build_report(ReportFields(), vcek),
            vcek=vcek.der,
            chain=pem(chain.ask),
            roots=roots,
            at=AT,
        )
        assert verdict.valid, verdict.failures


# --- path rules (issue 9): each attack is built, then refused by the named check -------------


def test_sevsnp_chain_path_refuses_vcek_signed_by_a_vcek() -> None:
    """A holder of one VCEK's private key mints a "VCEK" stating any TCB under it. (The old
    verifier refused it later, at sevsnp.chain.ask, because the real VCEK is not issued by an
    ARK; the path rule now stops it where it breaks: a VCEK is no CA.)"""
    chain = synthetic_chain()
    real = chain.issue_vcek()
    minted = vcek_under(real)
    report = build_report(ReportFields(), minted)
    verdict = verify(report, minted.der, chain=pem(real.cert, chain.ask, chain.ark))
    assert failed(verdict) == ["sevsnp.chain.path"]
    assert "not a CA" in verdict.failures[0].detail


@pytest.mark.parametrize(
    ("ca", "key_cert_sign", "reason"),
    [(False, True, "not a CA"), (True, False, "keyCertSign")],
)
def test_sevsnp_chain_path_refuses_an_ask_that_may_not_issue(
    ca: bool, key_cert_sign: bool, reason: str
) -> None:
    chain = synthetic_chain()
    vcek = chain.issue_vcek()
    ask = reissue_ask(chain, ca=ca, key_cert_sign=key_cert_sign)
    verdict = verify(build_report(ReportFields(), vcek), vcek.der, chain=pem(ask, chain.ark))
    assert failed(verdict) == ["sevsnp.chain.path"]
    assert reason in verdict.failures[0].detail


def test_sevsnp_chain_path_refuses_a_vlek_issued_by_an_ask() -> None:
    """VLEKs come from the ASVK (SEV-VLEK-<product>), VCEKs from the ASK: not interchangeable."""
    chain = synthetic_chain()
    vlek = chain.issue_vcek(vlek=True)
    misplaced = vcek_under_ask_as_vlek(chain)
    report = build_report(ReportFields(flags=SIGNING_KEY_VLEK << 2), misplaced)
    verdict = verify(report, misplaced.der)
    assert failed(verdict) == ["sevsnp.chain.path"]
    assert "ASVK" in verdict.failures[0].detail
    honest = verify(build_report(ReportFields(flags=SIGNING_KEY_VLEK << 2), vlek), vlek.der)
    assert honest.valid, honest.failures


def vcek_under_ask_as_vlek(chain):
    """A VLEK-named certificate signed by the ASK (as the old synthetic chain issued them)."""
    import dataclasses

    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    vlek = chain.issue_vcek(vlek=True)
    builder = (
        _x509.CertificateBuilder()
        .subject_name(vlek.cert.subject)
        .issuer_name(chain.ask.subject)
        .public_key(vlek.key.public_key())
        .serial_number(_x509.random_serial_number())
        .not_valid_before(vlek.cert.not_valid_before_utc)
        .not_valid_after(vlek.cert.not_valid_after_utc)
    )
    for ext in vlek.cert.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    cert = builder.sign(chain.ask_key, hashes.SHA384(), rsa_padding=pss)
    return dataclasses.replace(vlek, cert=cert)
