"""TDX vectors (tests/data/vectors/tdx) through the Python API."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from openpcc.attestation.tdx import TdxVerifier, parse_quote, verify_azure_hcl, verify_quote
from openpcc.exceptions import EvidenceFormatError
from support.vectors import load_json, read_bytes

TOPIC = "tdx"


def failed(verdict) -> list[str]:
    return [c.name for c in verdict.failures]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def go_collateral(tcbinfo: str) -> bytes:
    g = "collateral/go-tdx-guest/"
    return json.dumps(
        {
            "tcb_info": read_bytes(TOPIC, g + tcbinfo).decode(),
            "tcb_info_issuer_chain": read_bytes(TOPIC, g + "tcb_info_issuer_chain.pem").decode(),
            "qe_identity": read_bytes(TOPIC, g + "qe_identity.json").decode(),
            "qe_identity_issuer_chain": read_bytes(TOPIC, g + "qe_identity_issuer_chain.pem").decode(),
            "pck_crl": read_bytes(TOPIC, g + "pckcrl_platform.der").hex(),
            "root_ca_crl": read_bytes(TOPIC, g + "rootcrl.der").hex(),
        }
    ).encode()


def collateral_for(case: dict) -> bytes:
    if isinstance(case["collateral"], str):
        return read_bytes(TOPIC, case["collateral"])
    return go_collateral(case["collateral"][0].rsplit("/", 1)[1])


@pytest.mark.parametrize("index", range(8))
def test_quote_parses_to_stated_fields(index: int) -> None:
    case = load_json(TOPIC, "expected.json")["quotes"][index]
    verdict = parse_quote(read_bytes(TOPIC, case["file"]))
    assert verdict.valid, verdict.failures
    claims = verdict.claims
    for key, want in case["body"].items():
        assert claims[key] == want, key
    for key, want in case["qe_report"].items():
        assert claims["qe_report"][key] == want, key
    assert claims["fmspc"] == case["pck"]["fmspc"]
    assert claims["trailing_bytes"] == case["length"] - case["bytes_used_by_quote"]


@pytest.mark.parametrize("index", range(5))
def test_collateral_case_outcome(index: int) -> None:
    case = load_json(TOPIC, "expected.json")["collateral_cases"][index]
    quote = read_bytes(TOPIC, case["quote"])
    when = case.get("suggested_verification_time") or case["verification_time_used_by_origin_tests"]
    verdict = verify_quote(quote, collateral=collateral_for(case), at=instant(when))
    status = case["tcb_level_match"]["status"]
    assert verdict.claims["tcb_status"] == status
    if case["quote"] == "quotes/dcap-qvl_sgx_v3.dat":
        # ConfigurationAndSWHardeningNeeded: valid only for a caller that accepts it.
        assert failed(verdict) == ["tdx.tcb.status"]
        accepted = verify_quote(
            quote, collateral=collateral_for(case), at=instant(when), accept_tcb_status=[status]
        )
        assert accepted.valid, accepted.failures
        assert accepted.claims["advisory_ids"] == case["tcb_level_match"]["advisoryIDs"]
    elif case["quote"] == "quotes/dcap-qvl_tdx_v4.dat":
        assert verdict.valid, verdict.failures
        assert verdict.claims["advisory_ids"] == case["tcb_level_match"]["advisoryIDs"]
    elif status == "NoMatch":
        assert failed(verdict) == ["tdx.tcb.status"]
    else:
        assert "tdx.collateral.freshness" in failed(verdict)
        assert "tdx.quote.signature" not in failed(verdict)


def test_every_listed_mutation_is_rejected() -> None:
    expected = load_json(TOPIC, "expected.json")
    collateral = go_collateral("tcbinfo_50806f000000.json")
    at = instant("2023-07-01T01:00:00Z")
    for mutation in expected["negative_mutations"]:
        quote = bytearray(read_bytes(TOPIC, mutation["quote"]))
        quote[int(mutation["offset"], 16)] = int(mutation["new_byte"], 16)
        verdict = verify_quote(bytes(quote), collateral=collateral, at=at)
        assert not verdict.valid
        first = verdict.failures[0].name
        assert first in ("tdx.quote.parse", "tdx.quote.signature", "tdx.pck_chain"), mutation


def test_pck_chain_expired_in_2053() -> None:
    quote = read_bytes(TOPIC, "quotes/go-tdx-guest_v4_spr_e4.dat")
    verdict = verify_quote(quote, collateral=go_collateral("tcbinfo_50806f000000.json"), at=instant("2053-07-01T00:00:00Z"))
    assert "tdx.pck_chain.validity" in failed(verdict)


def test_missing_collateral_and_wrong_root() -> None:
    quote = read_bytes(TOPIC, "quotes/dcap-qvl_tdx_v4.dat")
    at = instant("2025-07-01T00:00:00Z")
    assert failed(verify_quote(quote, collateral=None, at=at)) == ["tdx.collateral.parse"]
    assert failed(verify_quote(quote, collateral=b"{}", at=at)) == ["tdx.collateral.parse"]
    amd_root = read_bytes("sev-snp", "ca/milan_ark.pem")
    assert "tdx.pck_chain" in failed(verify_quote(quote, collateral=None, at=at, root=amd_root))
    with pytest.raises(EvidenceFormatError):
        verify_quote(quote, collateral=None, at=at, root=b"junk")


def test_truncation_and_garbage_are_parse_failures() -> None:
    quote = read_bytes(TOPIC, "quotes/go-tdx-guest_v5_td15.dat")
    for cut in (0, 47, 48, 54, 702, 706, 1290, 5005):
        assert failed(parse_quote(quote[:cut])) == ["tdx.quote.parse"]
    for blob in (b"", b"\x04\x00\x02\x00\x81" + b"\0" * 700, b"\xff" * 9000):
        assert not verify_quote(blob, collateral=b"junk", at=None).valid


def test_cached_verifier_matches() -> None:
    verifier = TdxVerifier()
    for case in load_json(TOPIC, "expected.json")["collateral_cases"]:
        quote = read_bytes(TOPIC, case["quote"])
        collateral = collateral_for(case)
        when = instant(case.get("suggested_verification_time") or case["verification_time_used_by_origin_tests"])
        cold = verify_quote(quote, collateral=collateral, at=when)
        assert verifier.verify(quote, collateral=collateral, at=when) == cold
        assert verifier.verify(quote, collateral=collateral, at=when) == cold
    with pytest.raises(EvidenceFormatError):
        TdxVerifier(b"junk")


def test_azure_tdx_hcl() -> None:
    hcl = read_bytes(TOPIC, "azure/openpcc_azure_tdx_hcl_report.bin")
    quote = read_bytes(TOPIC, "azure/openpcc_azure_tdx_v4_quote.bin")
    verdict = verify_azure_hcl(hcl, quote=quote)
    assert verdict.valid, verdict.failures
    assert verdict.claims["mrtd"] == parse_quote(quote).claims["mrtd"]
    other = read_bytes(TOPIC, "quotes/dcap-qvl_tdx_v4.dat")
    assert failed(verify_azure_hcl(hcl, quote=other)) == ["tdx.hcl.quote_match"]
    assert failed(verify_azure_hcl(hcl[:100])) == ["tdx.hcl.parse"]
