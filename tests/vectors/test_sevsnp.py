"""SEV-SNP vectors (tests/data/vectors/sev-snp) through the Python API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from openpcc.attestation.sevsnp import SevSnpVerifier, parse_report, verify_report
from openpcc.exceptions import EvidenceFormatError, MalformedInputError
from support.vectors import load_json, read_bytes

TOPIC = "sev-snp"
VALID_AT = datetime(2026, 1, 1, tzinfo=UTC)


def failed(verdict) -> list[str]:
    return [c.name for c in verdict.failures]


def cases() -> list[dict]:
    return load_json(TOPIC, "expected.json")["cases"]


@pytest.mark.parametrize("index", range(3))
def test_sample_gives_expected_outcome_and_claims(index: int) -> None:
    case = cases()[index]
    report = read_bytes(TOPIC, case["file"])
    vcek = read_bytes(TOPIC, case["vcek"]) if "vcek" in case else None
    verdict = verify_report(report, vcek=vcek, at=VALID_AT)
    if case["expected"].startswith("valid"):
        assert verdict.valid, verdict.failures
    else:
        assert failed(verdict) == ["sevsnp.vcek"]
        assert "VCEK unavailable" in verdict.failures[0].detail
    for key, want in case["parsed"].items():
        assert verdict.claims[key] == want, key
    assert verdict.claims["product"] == case["product"]
    if "reported_tcb_decoded" in case:
        assert verdict.claims["reported_tcb_decoded"] == case["reported_tcb_decoded"]
    assert parse_report(report).claims["measurement"] == case["parsed"]["measurement"]


def test_azure_runtime_data_binding() -> None:
    case = cases()[1]
    report = bytearray(read_bytes(TOPIC, case["file"]))
    vcek = read_bytes(TOPIC, case["vcek"])
    verdict = verify_report(bytes(report), vcek=vcek, at=VALID_AT)
    assert "HCLAkPub" in str(verdict.claims["hcl_runtime_data"])
    report[case["azure_hcl"]["runtime_data_json_offset"] + 5] ^= 1
    assert failed(verify_report(bytes(report), vcek=vcek, at=VALID_AT)) == ["sevsnp.hcl.report_data"]


def test_negative_mutations_from_the_readme() -> None:
    report = read_bytes(TOPIC, "reports/go-sev-guest_milan_v2_report.bin")
    vcek = read_bytes(TOPIC, "vcek/go-sev-guest_milan_vcek.der")
    for offset in (0x10, 0x90, 0x29F, 0x2A0, 0x2E8):
        mutated = bytearray(report)
        mutated[offset] ^= 0x80
        assert "sevsnp.report.signature" in failed(verify_report(bytes(mutated), vcek=vcek, at=VALID_AT))
    genoa_chain = read_bytes(TOPIC, "ca/go-sev-guest_ask_ark_genoa.pem")
    verdict = verify_report(report, vcek=vcek, chain=genoa_chain, at=VALID_AT)
    assert failed(verdict) == ["sevsnp.chain.vcek"]
    for cut in (0, 0x2A0, 0x49F):
        assert failed(parse_report(report[:cut])) == ["sevsnp.report.parse"]
    assert failed(parse_report(report + b"\0")) == ["sevsnp.report.parse"]


def test_validity_window_and_crl() -> None:
    report = read_bytes(TOPIC, "reports/go-sev-guest_milan_v2_report.bin")
    vcek = read_bytes(TOPIC, "vcek/go-sev-guest_milan_vcek.der")
    late = datetime(2030, 1, 1, tzinfo=UTC)
    assert failed(verify_report(report, vcek=vcek, at=late)) == ["sevsnp.chain.validity"]
    crl = read_bytes(TOPIC, "crl/openpcc_milan_crl.pem")
    assert verify_report(report, vcek=vcek, crl=crl, at=VALID_AT).valid
    wrong = read_bytes(TOPIC, "crl/openpcc_genoa_crl.pem")
    assert failed(verify_report(report, vcek=vcek, crl=wrong, at=VALID_AT)) == ["sevsnp.crl"]


def test_naive_datetime_is_utc_and_default_is_now() -> None:
    report = read_bytes(TOPIC, "reports/go-sev-guest_milan_v2_report.bin")
    vcek = read_bytes(TOPIC, "vcek/go-sev-guest_milan_vcek.der")
    assert verify_report(report, vcek=vcek, at=datetime(2026, 1, 1)).valid
    assert verify_report(report, vcek=vcek).claims["version"] == 2


def test_cached_verifier_matches_and_rejects_bad_roots() -> None:
    report = read_bytes(TOPIC, "reports/go-sev-guest_milan_v2_report.bin")
    vcek = read_bytes(TOPIC, "vcek/go-sev-guest_milan_vcek.der")
    verifier = SevSnpVerifier()
    for _ in range(2):
        assert verifier.verify(report, vcek=vcek, at=VALID_AT) == verify_report(report, vcek=vcek, at=VALID_AT)
    only_genoa = SevSnpVerifier(read_bytes(TOPIC, "ca/genoa_ark.pem"))
    chain = read_bytes(TOPIC, "ca/go-sev-guest_ask_ark_milan.pem")
    assert "sevsnp.chain.ark" in failed(only_genoa.verify(report, vcek=vcek, chain=chain, at=VALID_AT))
    with pytest.raises(EvidenceFormatError):
        SevSnpVerifier(b"not a certificate")
    assert issubclass(EvidenceFormatError, MalformedInputError)


def test_garbage_never_raises() -> None:
    for blob in (b"", b"HCLA", b"\x02" * 1184, b"\xff" * 5000):
        verdict = verify_report(blob, vcek=b"junk", chain=b"junk", crl=b"junk", at=VALID_AT)
        assert not verdict.valid
