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


#: The least a production policy must pin: one SEV-SNP launch measurement and its minimum TCB.
PINS = f"""
[sevsnp]
allowed_measurements = ["{M48}"]
min_tcb = {{ bootloader = 9, tee = 0, snp = 23, microcode = 72 }}
"""


def test_empty_document_is_refused_naming_the_missing_pins() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(b"")
    for key in ("sevsnp.allowed_measurements", "sevsnp.min_tcb", "tdx.allowed_mrtd"):
        assert key in str(info.value)


def test_pinned_document_takes_the_production_defaults() -> None:
    policy = load_policy(PINS.encode())
    assert policy.require_tee and policy.forbid_debug and policy.require_nonce
    assert not policy.danger_allow_software_tpm and not policy.accept_reference_binding
    assert policy.max_evidence_age == timedelta(minutes=5)
    assert policy.required_evidence == {
        EvidenceType.TPM_QUOTE,
        EvidenceType.TPM_CERTIFY_REK_CREATION,
        EvidenceType.TPMT_PUBLIC,
    }
    assert policy.tpm.rek_pcrs == (0, 1, 2, 3, 4, 5, 7, 8, 12)
    assert policy.sevsnp.vmpl == 0 and not policy.sevsnp.allow_migration_agent
    assert not policy.tpm.allow_weak_ak
    assert policy.sevsnp.allowed_measurements == {bytes.fromhex(M48)}


def test_shipped_policies() -> None:
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
require_tee = false
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
        ("[gpu]\nrequire_cc = true", "gpu.require_cc"),
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


# --- a policy fails closed at load (issue 9) --------------------------------------------------


def test_policy_load_refuses_require_tee_without_a_launch_measurement() -> None:
    with pytest.raises(PolicyError, match="pins no launch measurement") as info:
        load_policy(b"[sevsnp.min_tcb]\nbootloader = 1\ntee = 0\nsnp = 8\nmicrocode = 1\n")
    assert "sevsnp.allowed_measurements" in str(info.value)
    assert "tdx.allowed_mrtd" in str(info.value)


def test_policy_load_refuses_snp_measurements_without_a_minimum_tcb() -> None:
    document = f'[sevsnp]\nallowed_measurements = ["{M48}"]\nmin_tcb = {{ snp = 8 }}\n'
    with pytest.raises(PolicyError) as info:
        load_policy(document.encode())
    for key in ("sevsnp.min_tcb.bootloader", "sevsnp.min_tcb.tee", "sevsnp.min_tcb.microcode"):
        assert key in str(info.value)
    assert "sevsnp.min_tcb.snp" not in str(info.value)


def test_policy_load_accepts_a_tdx_only_pin() -> None:
    policy = load_policy(f'[tdx]\nallowed_mrtd = ["{M48}"]\n'.encode())
    assert policy.tdx.allowed_mrtd == {bytes.fromhex(M48)}
    assert policy.tdx.allowed_tcb_status == {"UpToDate"}


def test_policy_load_refuses_max_age_without_nonce() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(b"require_tee = false\nrequire_nonce = false\nmax_evidence_age_seconds = 60\n")
    assert "max_evidence_age_seconds" in str(info.value) and "require_nonce" in str(info.value)
    relaxed = load_policy(
        b"require_tee = false\nrequire_nonce = false\nmax_evidence_age_seconds = 0\n"
    )
    assert relaxed.max_evidence_age is None


def test_production_template_refuses_to_load_until_filled() -> None:
    template = (ROOT / "policies" / "production.toml").read_text()
    with pytest.raises(PolicyError, match="placeholder .* is not filled in.*template") as info:
        load_policy(template)
    assert "sevsnp.allowed_measurements" in str(info.value)
    filled = (
        template.replace("<48-byte hex SEV-SNP launch measurement of your guest image>", M48)
        .replace("<48-byte hex MRTD of your TD image>", M48)
        .replace('"<minimum bootloader SVN>"', "9")
        .replace('"<minimum TEE SVN>"', "0")
        .replace('"<minimum SNP firmware SVN>"', "23")
        .replace('"<minimum microcode SVN>"', "72")
    )
    policy = load_policy(filled)
    assert policy.name == "production" and policy.require_tee
    assert dict(policy.sevsnp.min_tcb) == {"bootloader": 9, "tee": 0, "snp": 23, "microcode": 72}
    assert policy.tdx.allowed_mrtd == {bytes.fromhex(M48)}
    # Unfilled minimum TCB placeholders are named too, one key at a time.
    half = template.replace("<48-byte hex SEV-SNP launch measurement of your guest image>", M48)
    with pytest.raises(PolicyError, match="sevsnp.min_tcb.bootloader: placeholder"):
        load_policy(half)


def test_policy_production_defaults_pin_nothing() -> None:
    policy = Policy.production()
    assert policy.require_tee and not policy.sevsnp.allowed_measurements
    assert not policy.tdx.allowed_mrtd


def test_gpu_measurement_pins() -> None:
    policy = load_policy(
        f'require_tee = false\n[gpu.allowed_measurements]\n2 = ["{M48}"]\n'.encode()
    )
    assert policy.gpu.allowed_measurements[2] == {bytes.fromhex(M48)}
    with pytest.raises(PolicyError, match="gpu.allowed_measurements.0: SPDM measurement index"):
        load_policy(f'require_tee = false\n[gpu.allowed_measurements]\n0 = ["{M48}"]\n'.encode())
