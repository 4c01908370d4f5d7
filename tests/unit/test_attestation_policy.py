"""Policy documents: parsing, defaults, and the errors a typo or a wrong type gives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from openpcc.attestation import EvidenceType, Policy, load_policy
from openpcc.exceptions import MalformedInputError, PolicyError

ROOT = Path(__file__).resolve().parents[2]
M48 = "ab" * 48
P32 = "cd" * 32


def test_empty_document_is_the_production_default() -> None:
    policy = load_policy(b"")
    assert policy.require_tee and policy.forbid_debug and policy.require_nonce
    assert not policy.danger_allow_software_tpm and not policy.accept_reference_binding
    assert policy.max_evidence_age == timedelta(minutes=5)
    assert policy.required_evidence == {
        EvidenceType.TPM_QUOTE,
        EvidenceType.TPM_CERTIFY_REK_CREATION,
        EvidenceType.TPMT_PUBLIC,
    }
    assert policy.tpm.rek_pcrs == (0, 1, 2, 3, 4, 5, 7, 8, 12)
    assert policy == Policy.production().__class__(name="custom")


def test_shipped_policies() -> None:
    assert load_policy((ROOT / "policies" / "production.toml").read_bytes()) == Policy.production()
    dev = load_policy((ROOT / "policies" / "dev.toml").read_bytes())
    assert dev.danger_allow_software_tpm and not dev.require_tee and dev.forbid_debug
    assert (
        Policy.dev().danger_allow_software_tpm and not Policy.production().danger_allow_software_tpm
    )


def test_full_document() -> None:
    policy = load_policy(
        f"""
name = "fleet-a"
max_evidence_age_seconds = 0
required_evidence = ["SEVSNP_REPORT", "evidence_type_tpm_quote", "OPENPCC_TCG_EVENT_LOG"]
accept_reference_binding = true
[sevsnp]
allowed_measurements = ["{M48}", "{M48.upper()}"]
min_tcb = {{ snp = 8, microcode = 209 }}
[tdx]
allowed_mrtd = ["{M48}"]
allowed_tcb_status = ["UpToDate", "SWHardeningNeeded"]
[tdx.allowed_rtmr]
1 = ["{M48}"]
[tpm]
rek_pcrs = [12, 0, 0, 7]
[tpm.pcrs]
0 = ["{P32}"]
12 = ["{P32}", "{"00" * 32}"]
[trust_roots]
amd_chain = "-----BEGIN CERTIFICATE-----"
tpm_ak_intermediates = ["x", "y"]
""".encode()
    )
    assert (
        policy.name == "fleet-a"
        and policy.max_evidence_age is None
        and policy.accept_reference_binding
    )
    assert policy.required_evidence == {
        EvidenceType.SEVSNP_REPORT,
        EvidenceType.TPM_QUOTE,
        EvidenceType.OPENPCC_TCG_EVENT_LOG,
    }
    assert policy.sevsnp.allowed_measurements == {bytes.fromhex(M48)}
    assert dict(policy.sevsnp.min_tcb) == {"snp": 8, "microcode": 209}
    assert policy.tdx.allowed_rtmr[1] == {bytes.fromhex(M48)}
    assert policy.tdx.allowed_tcb_status == {"UpToDate", "SWHardeningNeeded"}
    assert policy.tpm.rek_pcrs == (0, 7, 12)
    assert policy.tpm.golden_pcrs[12] == {bytes.fromhex(P32), bytes(32)}
    assert policy.trust_roots.amd_chain == b"-----BEGIN CERTIFICATE-----"
    assert policy.trust_roots.tpm_ak_intermediates == (b"x", b"y")
    assert "BEGIN" not in repr(policy.trust_roots)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("requre_tee = false", "unknown policy key(s): requre_tee"),
        ("[sevsnp]\nallowed_measurement = []", "sevsnp.allowed_measurement"),
        ("[sevsnp.min_tcb]\nsvn = 1", "sevsnp.min_tcb.svn"),
        ("[tdx.allowed_rtmr]\n4 = []", "tdx.allowed_rtmr.4"),
        ("[tpm.pcrs]\nseven = []", "tpm.pcrs.seven"),
        ("[trust_roots]\nark = 'x'", "trust_roots.ark"),
        ("[gpu]", "gpu"),
    ],
)
def test_unknown_keys_are_errors(document: str, message: str) -> None:
    with pytest.raises(PolicyError, match="unknown policy key|PCR index") as info:
        load_policy(document.encode())
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ('require_tee = "yes"', "require_tee: expected true or false"),
        ("forbid_debug = 1", "forbid_debug: expected true or false"),
        ("max_evidence_age_seconds = true", "max_evidence_age_seconds: expected an integer"),
        ("max_evidence_age_seconds = -5", "max_evidence_age_seconds: must be an integer >= 0"),
        ('required_evidence = "TPM_QUOTE"', "required_evidence: expected a list of strings"),
        ('required_evidence = ["TPM_QOUTE"]', "unknown evidence type"),
        ('[sevsnp]\nallowed_measurements = ["abcd"]', "expected 48 bytes"),
        ('[sevsnp]\nallowed_measurements = ["zz"]', "is not hex"),
        ("[sevsnp.min_tcb]\nsnp = 300", "components are 0-255"),
        ('[tdx]\nallowed_tcb_status = ["Fine"]', "unknown status"),
        ("[tpm]\nrek_pcrs = [24]", "PCR indices must be integers 0-23"),
        (f'[tpm.pcrs]\n0 = "{P32}"', "expected a list of strings"),
        ("sevsnp = 3", "sevsnp: expected a table"),
        ("name = ", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(document: str, where: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(document.encode())
    assert where in str(info.value)


def test_policy_error_is_malformed_input_and_bad_utf8() -> None:
    assert issubclass(PolicyError, MalformedInputError)
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(b"\xff")


def test_policy_is_immutable() -> None:
    policy = Policy.production()
    with pytest.raises(AttributeError):
        policy.require_tee = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.tpm.golden_pcrs[0] = frozenset()  # type: ignore[index]
