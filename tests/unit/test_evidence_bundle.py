"""SignedEvidenceList / TPMQuoteAttestation encoding (spec §6.1) and verify_evidence on vector bundles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from openpcc.attestation import (
    EvidenceList,
    EvidencePiece,
    EvidenceType,
    Policy,
    load_policy,
    verify_evidence,
)
from openpcc.attestation.bundle import (
    decode_tpm_quote,
    encode_tpm_quote,
    gpu_nonce,
    quote_qualifying_data,
)
from openpcc.exceptions import EvidenceFormatError, MalformedInputError

from tests.support.vectors import load_json, read_bytes

T = EvidenceType


def test_all_twenty_reference_types_have_their_proto_numbers() -> None:
    names = [
        "UNSPECIFIED",
        "TPM_CERTIFY_REK_CREATION",
        "GCE_AK_CERTIFICATE",
        "TPMT_PUBLIC",
        "SEVSNP_REPORT",
        "TDX_REPORT",
        "NVIDIA_ETA",
        "GCE_AK_INTERMEDIATE_CERTIFICATE",
        "NVIDIA_INTERMEDIATE_CERTIFICATE",
        "AZURE_AK_CERTIFICATE",
        "EVENT_LOG",
        "TPM_QUOTE",
        "IMAGE_SIGSTORE_BUNDLE",
        "TDX_COLLATERAL",
        "NVIDIA_SWITCH_ETA",
        "NVIDIA_SWITCH_INTERMEDIATE_CERTIFICATE",
        "SEVSNP_EXTENDED_REPORT",
        "AK_TPMT_PUBLIC",
        "AZURE_CVM_RUNTIME_DATA",
        "TEE_TICKSTAMP",
    ]
    assert [T(i).name for i in range(20)] == names
    assert T.parse("EVIDENCE_TYPE_TPM_QUOTE") is T.TPM_QUOTE
    assert T.parse("tpm_quote") is T.TPM_QUOTE
    assert all(t.value >= 0x4F500000 for t in T if t.name.startswith("OPENPCC_"))


def test_exact_bytes_of_a_small_reference_shaped_list() -> None:
    bundle = EvidenceList.of(
        [EvidencePiece(T.TPM_QUOTE, b"\x01\x02", b"\x03"), EvidencePiece(T.UNSPECIFIED, b"", b"")]
    )
    expected = bytes.fromhex("0a09080b120201021a01030a06080012001a00")
    assert bundle.encode() == expected
    assert EvidenceList.decode(expected) == bundle


def test_decode_tolerates_omitted_zero_fields_and_unknown_fields() -> None:
    # A piece with only type 3 (Go may omit empty fields), then a piece with an unknown field 4.
    data = bytes.fromhex("0a0208030a0708011201aa2001")
    pieces = EvidenceList.decode(data).pieces
    assert pieces == (
        EvidencePiece(T.TPMT_PUBLIC, b"", b""),
        EvidencePiece(T.TPM_CERTIFY_REK_CREATION, b"\xaa", b""),
    )


def test_unknown_types_survive_a_round_trip() -> None:
    bundle = EvidenceList.of(
        [EvidencePiece(1234, b"x", b"y"), EvidencePiece(T.OPENPCC_COLLECTED_AT, b"\0" * 8)]
    )
    again = EvidenceList.decode(bundle.encode())
    assert again == bundle
    assert again.kinds() == ["UNKNOWN_1234", "OPENPCC_COLLECTED_AT"]
    assert "x" not in repr(again.pieces[0])  # evidence bytes stay out of repr


@pytest.mark.parametrize(
    "data", [b"\x0a", b"\x0a\x05\x08", b"\x0a\x02\x12\x05", b"\xff\xff\xff", b"\x0b"]
)
def test_malformed_lists_raise_the_format_error(data: bytes) -> None:
    with pytest.raises(EvidenceFormatError):
        EvidenceList.decode(data)
    assert issubclass(EvidenceFormatError, MalformedInputError)


def test_tpm_quote_attestation_exact_bytes() -> None:
    encoded = encode_tpm_quote(b"\xaa", {1: b"\x11", 0: b"\x00\x00"})
    assert encoded == bytes.fromhex("0a01aa120f0a060800120200000a050801120111")
    assert decode_tpm_quote(encoded) == (b"\xaa", {0: b"\x00\x00", 1: b"\x11"})


def test_tpm_quote_with_a_repeated_pcr_is_rejected() -> None:
    twice = bytes.fromhex("0a01aa120e0a0508011201110a050801120122")
    with pytest.raises(EvidenceFormatError):
        decode_tpm_quote(twice)


def test_binding_derivations() -> None:
    import hashlib

    assert quote_qualifying_data(b"n", None) == b"n"
    assert (
        quote_qualifying_data(b"n", 1)
        == hashlib.sha256(b"openpcc-quote-v1" + (1).to_bytes(8, "big") + b"n").digest()
    )
    assert gpu_nonce(b"n", b"k") == hashlib.sha256(hashlib.sha512(b"nk").digest()).digest()


def test_bytes_that_are_not_a_bundle_raise_not_verdict() -> None:
    with pytest.raises(EvidenceFormatError):
        verify_evidence(b"\xff\xff", Policy.dev(), nonce=b"\0" * 32)


# --- verify_evidence on bundles assembled from the repository vectors -------------------------

COS = "go-tpm-tools/extracted/gce-cos-85-nonce9009"
QUOTE_ONLY = b"""
name = "vectors"
require_tee = false
danger_allow_software_tpm = true
require_nonce = false
max_evidence_age_seconds = 0
required_evidence = ["TPM_QUOTE"]
[tpm]
rek_pcrs = [0, 1, 2, 3, 4, 5, 7, 8]
"""


def cos_sha256_pcrs() -> dict[int, bytes]:
    quotes = load_json("tpm", "expected.json")["quotes"]
    case = next(q for q in quotes if q["file"].endswith("gce-cos-85-nonce9009.pb"))
    bank = next(b for b in case["banks"] if b["bank"] == "sha256")
    return {int(k): bytes.fromhex(v) for k, v in bank["pcr_values"].items()}


def cos_bundle(*, log: bytes | None = None, pcrs: dict[int, bytes] | None = None) -> EvidenceList:
    pieces = [
        EvidencePiece(T.AK_TPMT_PUBLIC, read_bytes("tpm", f"{COS}.ak_pub.tpmt_public.bin")),
        EvidencePiece(
            T.TPM_QUOTE,
            encode_tpm_quote(
                read_bytes("tpm", f"{COS}.quote_sha256.tpms_attest.bin"), pcrs or cos_sha256_pcrs()
            ),
            read_bytes("tpm", f"{COS}.quote_sha256.tpmt_signature.bin"),
        ),
    ]
    if log is not None:
        pieces.append(EvidencePiece(T.OPENPCC_TCG_EVENT_LOG, log))
    return EvidenceList.of(pieces)


def failed(verdict) -> list[str]:
    return [c.name for c in verdict.failures]


def test_vector_quote_and_event_log_replay_agree() -> None:
    policy = load_policy(QUOTE_ONLY)
    bundle = cos_bundle(log=read_bytes("tpm", f"{COS}.event_log.bin"))
    verdict = verify_evidence(bundle.encode(), policy, nonce=b"\x90\x09")
    # Everything about the quote and the log verifies; only the missing REK fails.
    assert failed(verdict) == ["tpm.identity"]
    names = {c.name for c in verdict.checks}
    assert {
        "tpm.quote.signature",
        "tpm.quote.nonce",
        "tpm.quote.pcr_digest",
        "eventlog.pcrs.sha256",
        "tpm.ak.qualified_signer",
    } <= names
    assert "rek_public_key" not in verdict.claims


def test_vector_quote_with_wrong_nonce() -> None:
    verdict = verify_evidence(cos_bundle().encode(), load_policy(QUOTE_ONLY), nonce=b"\x90\x08")
    assert failed(verdict) == ["tpm.quote.nonce", "tpm.identity"]


def test_event_log_from_another_boot_does_not_match_the_quote() -> None:
    other = read_bytes("tpm", "eventlogs/cos-101-amd-sev.bin")
    verdict = verify_evidence(
        cos_bundle(log=other).encode(), load_policy(QUOTE_ONLY), nonce=b"\x90\x09"
    )
    assert "eventlog.pcrs.sha256" in failed(verdict)


def test_golden_pcr_values() -> None:
    pcrs = cos_sha256_pcrs()
    good = load_policy(QUOTE_ONLY + f'[tpm.pcrs]\n0 = ["{pcrs[0].hex()}"]\n'.encode())
    bad = load_policy(
        QUOTE_ONLY + f'[tpm.pcrs]\n0 = ["{"ab" * 32}"]\n9 = ["{"cd" * 32}"]\n'.encode()
    )
    assert failed(verify_evidence(cos_bundle().encode(), good, nonce=b"\x90\x09")) == [
        "tpm.identity"
    ]
    assert failed(verify_evidence(cos_bundle().encode(), bad, nonce=b"\x90\x09")) == [
        "tpm.identity",
        "policy.pcr.0",
        "policy.pcr.9",
    ]


def test_production_policy_rejects_the_vector_bundle_for_every_reason() -> None:
    verdict = verify_evidence(cos_bundle().encode(), Policy.production(), nonce=b"\x90\x09")
    names = failed(verdict)
    for expected in (
        "evidence.required.TPM_CERTIFY_REK_CREATION",
        "evidence.required.TPMT_PUBLIC",
        "evidence.nonce",
        "evidence.age",
        "tpm.identity",
        "policy.tee",
        "policy.tpm.ak_trust",
    ):
        assert expected in names


def test_sevsnp_report_piece_checks_debug_measurement_and_binding() -> None:
    case = load_json("sev-snp", "expected.json")["cases"][0]
    report = read_bytes("sev-snp", case["file"])
    pieces = [
        *cos_bundle(),
        EvidencePiece(T.SEVSNP_REPORT, b"go-sev-guest Attestation proto (not read)", report),
        EvidencePiece(T.OPENPCC_SEVSNP_VCEK, read_bytes("sev-snp", case["vcek"])),
    ]
    measurement = case["parsed"]["measurement"]
    policy = load_policy(
        QUOTE_ONLY
        + f"""
[sevsnp]
allowed_measurements = ["{measurement}"]
[sevsnp.min_tcb]
snp = 5
microcode = 68
""".encode()
    )
    at = datetime(2026, 1, 1, tzinfo=UTC)
    verdict = verify_evidence(EvidenceList.of(pieces).encode(), policy, nonce=b"\x90\x09", at=at)
    names = failed(verdict)
    # The signature and chain verify and the measurement and TCB match the policy, but this
    # test report's guest policy (0xb0000) allows debugging and its report_data binds nothing of ours.
    assert "sevsnp.report.signature" not in names
    assert "policy.sevsnp.measurement" not in names and "policy.sevsnp.tcb" not in names
    assert {"policy.sevsnp.debug", "binding.report_data"} <= set(names)
    stricter = load_policy(
        QUOTE_ONLY + b'[sevsnp]\nallowed_measurements = ["' + b"00" * 48 + b'"]\n'
        b"[sevsnp.min_tcb]\nsnp = 6\n"
    )
    names = failed(
        verify_evidence(EvidenceList.of(pieces).encode(), stricter, nonce=b"\x90\x09", at=at)
    )
    assert {"policy.sevsnp.measurement", "policy.sevsnp.tcb"} <= set(names)


def test_tdx_report_piece_checks_tcb_status_and_mrtd() -> None:
    case = load_json("tdx", "expected.json")["collateral_cases"][0]
    quote = read_bytes("tdx", case["quote"])
    pieces = [
        *cos_bundle(),
        EvidencePiece(T.TDX_REPORT, quote),
        EvidencePiece(T.OPENPCC_TDX_COLLATERAL, read_bytes("tdx", case["collateral"])),
    ]
    at = datetime.fromisoformat(case["suggested_verification_time"])
    verdict = verify_evidence(
        EvidenceList.of(pieces).encode(), load_policy(QUOTE_ONLY), nonce=b"\x90\x09", at=at
    )
    names = failed(verdict)
    assert "tdx.quote.signature" not in names and "policy.tdx.tcb_status" not in names
    assert "binding.report_data" in names
    assert verdict.claims["tdx"]["tcb_status"] == "UpToDate"
    pinned = load_policy(
        QUOTE_ONLY
        + b'[tdx]\nallowed_mrtd = ["'
        + b"11" * 48
        + b'"]\nallowed_tcb_status = ["OutOfDate"]\n'
    )
    names = failed(
        verify_evidence(EvidenceList.of(pieces).encode(), pinned, nonce=b"\x90\x09", at=at)
    )
    assert {"policy.tdx.mrtd", "policy.tdx.tcb_status"} <= set(names)


def test_two_tee_reports_or_duplicate_quotes_are_rejected() -> None:
    base = list(cos_bundle())
    dup = EvidenceList.of([*base, base[1]])
    assert "evidence.unique" in failed(
        verify_evidence(dup.encode(), load_policy(QUOTE_ONLY), nonce=b"\x90\x09")
    )


def test_gpu_evidence_needs_a_rek_to_bind_to() -> None:
    gpu = read_bytes("nvidia", "gpu_evidence.json")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    pieces = [*cos_bundle(), EvidencePiece(T.OPENPCC_NVIDIA_EVIDENCE, gpu)]
    verdict = verify_evidence(
        EvidenceList.of(pieces).encode(), load_policy(QUOTE_ONLY), nonce=b"\x90\x09", at=at
    )
    # No REK in this bundle, so the GPU nonce cannot be derived: the binding check fails.
    assert "binding.gpu" in failed(verdict)


def test_required_gpu_evidence_missing() -> None:
    pin = b'\n[gpu.allowed_measurements]\n1 = ["' + b"00" * 48 + b'"]\n'
    policy = load_policy(b"require_gpu = true\n" + QUOTE_ONLY + pin)
    assert "policy.gpu" in failed(verify_evidence(cos_bundle().encode(), policy, nonce=b"\x90\x09"))


def test_node_bundle_keeps_the_reference_pieces_and_order() -> None:
    from openpcc.attestation.bundle import node_bundle

    tee = EvidencePiece(T.SEVSNP_REPORT, b"proto", b"report")
    bundle = node_bundle(
        ak_public=b"ak",
        creation_attest=b"ca",
        creation_signature=b"cs",
        rek_public=b"rek",
        rek_name=b"name",
        quote_attest=b"qa",
        quote_signature=b"qs",
        pcrs={0: b"\0" * 32},
        collected_at=7,
        event_log=b"log",
        extra=[EvidencePiece(T.OPENPCC_SEVSNP_VCEK, b"vcek"), tee],
    )
    assert bundle.kinds() == [
        "SEVSNP_REPORT",
        "AK_TPMT_PUBLIC",
        "TPM_CERTIFY_REK_CREATION",
        "TPMT_PUBLIC",
        "TPM_QUOTE",
        "OPENPCC_TCG_EVENT_LOG",
        "OPENPCC_COLLECTED_AT",
        "OPENPCC_SEVSNP_VCEK",
    ]
    assert bundle.first(T.TPMT_PUBLIC) == EvidencePiece(T.TPMT_PUBLIC, b"rek", b"name")
    assert decode_tpm_quote(bundle.first(T.TPM_QUOTE).data) == (b"qa", {0: b"\0" * 32})
    assert bundle.first(T.OPENPCC_COLLECTED_AT).data == (7).to_bytes(8, "big")
    assert EvidenceList.decode(bundle.encode()) == bundle


def test_a_different_ak_public_area_with_the_same_key_is_not_the_signer() -> None:
    pieces = list(cos_bundle())
    ak = bytearray(pieces[0].data)
    ak[7] ^= 0x20  # objectAttributes bit 5 (fixedParent...): same key, different name
    pieces[0] = EvidencePiece(T.AK_TPMT_PUBLIC, bytes(ak))
    verdict = verify_evidence(
        EvidenceList.of(pieces).encode(), load_policy(QUOTE_ONLY), nonce=b"\x90\x09"
    )
    assert "tpm.ak.qualified_signer" in failed(verdict)


@pytest.mark.parametrize(
    ("which", "accept_reference", "ok", "binds"),
    [
        ("ours_ak", False, True, "ak"),
        ("ours", False, True, "rek"),
        ("ours", True, True, "rek"),
        ("reference", False, False, None),
        ("reference", True, True, "quote"),
        ("other", True, False, None),
    ],
)
def test_report_data_bindings(
    which: str, accept_reference: bool, ok: bool, binds: str | None
) -> None:
    from dataclasses import replace

    from openpcc.attestation import evidence
    from openpcc.attestation.bundle import reference_report_data, report_data

    nonce, name, quote_sig = b"n" * 32, b"\x00\x0b" + b"k" * 32, b"signature bytes"
    ak = b"\x00\x0b" + b"a" * 32
    value = {
        "ours_ak": report_data(nonce, name, ak),
        "ours": report_data(nonce, name),
        "reference": reference_report_data(quote_sig),
        "other": bytes(64),
    }[which]
    run = evidence._Run()
    policy = replace(Policy.production(), accept_reference_binding=accept_reference)
    assert evidence._report_data(run, policy, value.hex(), nonce, name, ak, quote_sig) == binds
    assert [(c.name, c.ok) for c in run.checks] == [("binding.report_data", ok)]
    assert reference_report_data(quote_sig)[32:] == bytes(32)
    # The AK-binding form is domain-separated from the REK-only one.
    assert report_data(nonce, name, ak) != report_data(nonce, name + ak)


from hypothesis import given, settings
from hypothesis import strategies as st

_pieces = st.lists(
    st.tuples(
        st.integers(min_value=-(2**31), max_value=2**31 - 1),
        st.binary(max_size=64),
        st.binary(max_size=64),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(_pieces)
def test_any_list_round_trips(raw: list[tuple[int, bytes, bytes]]) -> None:
    bundle = EvidenceList.of(EvidencePiece(k, d, s) for k, d, s in raw)
    assert EvidenceList.decode(bundle.encode()) == bundle


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_decode_or_raise_the_format_error(data: bytes) -> None:
    try:
        EvidenceList.decode(data)
    except EvidenceFormatError:
        pass
    try:
        decode_tpm_quote(data)
    except EvidenceFormatError:
        pass


def _filled_production(measurement: str, mrtd: str, tcb: dict[str, int]) -> Policy:
    from pathlib import Path

    template = (Path(__file__).resolve().parents[2] / "policies" / "production.toml").read_text()
    return load_policy(
        template.replace(
            "<48-byte hex SEV-SNP launch measurement of your guest image>", measurement
        )
        .replace("<48-byte hex MRTD of your TD image>", mrtd)
        .replace('"<minimum bootloader SVN>"', str(tcb["bootloader"]))
        .replace('"<minimum TEE SVN>"', str(tcb["tee"]))
        .replace('"<minimum SNP firmware SVN>"', str(tcb["snp"]))
        .replace('"<minimum microcode SVN>"', str(tcb["microcode"]))
    )


def test_real_vectors_pass_their_tee_checks_under_a_production_policy_pinning_them() -> None:
    """The production template filled with the real vectors' values: every SEV-SNP / TDX check
    and every TEE policy check passes. (The bundle still fails as a whole: these reports bind
    data of their own, not this nonce and REK, and the cos quote has no REK.)"""
    snp_case = load_json("sev-snp", "expected.json")["cases"][1]  # Azure Genoa HCL report
    tdx_case = load_json("tdx", "expected.json")["collateral_cases"][0]  # dcap-qvl v4, UpToDate
    snp_report = read_bytes("sev-snp", snp_case["file"])
    from openpcc.attestation import sevsnp
    from openpcc.attestation.tdx import parse_quote

    snp_at = datetime(2026, 1, 1, tzinfo=UTC)
    snp_claims = sevsnp.verify_report(
        snp_report, vcek=read_bytes("sev-snp", snp_case["vcek"]), at=snp_at
    ).claims
    quote = read_bytes("tdx", tdx_case["quote"])
    policy = _filled_production(
        snp_claims["measurement"],
        parse_quote(quote).claims["mrtd"],
        snp_claims["reported_tcb_decoded"],
    )
    for kind, pieces, at, prefixes in (
        (
            "sev-snp",
            [
                EvidencePiece(T.SEVSNP_REPORT, b"", snp_report),
                EvidencePiece(T.OPENPCC_SEVSNP_VCEK, read_bytes("sev-snp", snp_case["vcek"])),
            ],
            snp_at,
            ("sevsnp.", "policy.sevsnp."),
        ),
        (
            "tdx",
            [
                EvidencePiece(T.TDX_REPORT, quote),
                EvidencePiece(T.OPENPCC_TDX_COLLATERAL, read_bytes("tdx", tdx_case["collateral"])),
            ],
            datetime.fromisoformat(tdx_case["suggested_verification_time"]),
            ("tdx.", "policy.tdx."),
        ),
    ):
        verdict = verify_evidence(
            EvidenceList.of([*cos_bundle(), *pieces]).encode(), policy, nonce=bytes(32), at=at
        )
        tee_checks = [c for c in verdict.checks if c.name.startswith(prefixes)]
        assert len(tee_checks) >= 8, kind
        assert all(c.ok for c in tee_checks), [c for c in tee_checks if not c.ok]
        assert not verdict.valid and "binding.report_data" in failed(verdict)
        # Unpinned, the same evidence fails the TEE's pins.
        unpinned = Policy.production()
        names = failed(
            verify_evidence(
                EvidenceList.of([*cos_bundle(), *pieces]).encode(), unpinned, nonce=bytes(32), at=at
            )
        )
        assert ("policy.sevsnp.measurement" if kind == "sev-snp" else "policy.tdx.mrtd") in names


def test_a_nonce_too_long_for_the_ak_binding_is_a_failed_check_not_an_exception() -> None:
    from openpcc.attestation import evidence
    from openpcc.attestation.bundle import report_data

    nonce, name, ak = b"n" * 300, b"\x00\x0b" + b"k" * 32, b"\x00\x0b" + b"a" * 32
    with pytest.raises(EvidenceFormatError):
        report_data(nonce, name, ak)
    run = evidence._Run()
    binds = evidence._report_data(
        run, Policy.production(), report_data(nonce, name).hex(), nonce, name, ak, b"sig"
    )
    assert binds == "rek" and [c.ok for c in run.checks] == [True]
