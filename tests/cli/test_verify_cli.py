"""``openpcc verify <kind>`` as a user runs it: a subprocess on the repository vectors.

Asserts the exit status (0 valid, 1 invalid, 2 unreadable input) and the ``--json`` shape:
``valid``, ``checks`` (``name``, ``ok``, ``detail``) and ``claims``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.prerequisites import missing
from tests.support.vectors import load_json, read_bytes, vector_path

VALID, INVALID, UNREADABLE = 0, 1, 2
SNP_AT = "2026-01-01T00:00:00Z"
NVIDIA_AT = "2026-01-01T00:00:00Z"


def run(*args: str) -> tuple[int, dict[str, Any]]:
    """Runs ``python -m openpcc verify ARGS --json``; returns the exit status and the parsed JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "openpcc", "verify", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        document = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"stdout is not JSON (rc {proc.returncode}): {proc.stdout[:300]!r} {proc.stderr[:300]!r}"
        )
    return proc.returncode, document


def assert_shape(document: dict[str, Any]) -> None:
    assert set(document) >= {"valid", "checks", "claims"}
    assert isinstance(document["valid"], bool)
    assert isinstance(document["claims"], dict)
    assert document["checks"], "a verdict lists at least one check"
    for check in document["checks"]:
        assert set(check) == {"name", "ok", "detail"}
        assert isinstance(check["name"], str) and check["name"]
        assert isinstance(check["ok"], bool)
        assert isinstance(check["detail"], str) and check["detail"]


def failed(document: dict[str, Any]) -> list[str]:
    return [c["name"] for c in document["checks"] if not c["ok"]]


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# --- SEV-SNP ----------------------------------------------------------------


@pytest.mark.parametrize("index", range(3))
def test_sev_snp_vectors(index: int) -> None:
    case = load_json("sev-snp", "expected.json")["cases"][index]
    args = ["sev-snp", str(vector_path("sev-snp", case["file"])), "--at", SNP_AT]
    if "vcek" in case:
        args += ["--vcek", str(vector_path("sev-snp", case["vcek"]))]
    rc, doc = run(*args)
    assert_shape(doc)
    if case["expected"].startswith("valid"):
        assert (rc, doc["valid"]) == (VALID, True), failed(doc)
    else:
        # No VCEK was published for this report: the chain cannot be built offline.
        assert (rc, failed(doc)) == (INVALID, ["sevsnp.vcek"])
    assert doc["claims"]["measurement"] == case["parsed"]["measurement"]


def test_sev_snp_flipped_signed_byte_is_invalid(tmp_path: Path) -> None:
    report = bytearray(read_bytes("sev-snp", "reports/go-sev-guest_milan_v2_report.bin"))
    report[0x90] ^= 0x80  # inside the measurement, which the signature covers
    rc, doc = run(
        "sev-snp",
        write(tmp_path, "r.bin", bytes(report)),
        "--at",
        SNP_AT,
        "--vcek",
        str(vector_path("sev-snp", "vcek/go-sev-guest_milan_vcek.der")),
    )
    assert_shape(doc)
    assert rc == INVALID
    assert "sevsnp.report.signature" in failed(doc)


def test_sev_snp_wrong_chain_and_crl_options() -> None:
    rc, doc = run(
        "sev-snp",
        str(vector_path("sev-snp", "reports/go-sev-guest_milan_v2_report.bin")),
        "--at",
        SNP_AT,
        "--vcek",
        str(vector_path("sev-snp", "vcek/go-sev-guest_milan_vcek.der")),
        "--chain",
        str(vector_path("sev-snp", "ca/go-sev-guest_ask_ark_genoa.pem")),
    )
    assert (rc, failed(doc)) == (INVALID, ["sevsnp.chain.vcek"])


def test_sev_snp_missing_file_is_unreadable(tmp_path: Path) -> None:
    rc, doc = run("sev-snp", str(tmp_path / "absent.bin"))
    assert rc == UNREADABLE
    assert doc["valid"] is False and doc["checks"] == [] and "error" in doc


def test_bad_instant_is_unreadable() -> None:
    rc, _ = run(
        "sev-snp",
        str(vector_path("sev-snp", "reports/go-sev-guest_milan_v2_report.bin")),
        "--at",
        "yesterday",
    )
    assert rc == UNREADABLE


# --- TDX --------------------------------------------------------------------


def _tdx_collateral(tmp_path: Path, case: dict[str, Any]) -> str:
    if isinstance(case["collateral"], str):
        return str(vector_path("tdx", case["collateral"]))
    folder = "collateral/go-tdx-guest/"
    tcbinfo = case["collateral"][0].rsplit("/", 1)[1]
    document = {
        "tcb_info": read_bytes("tdx", folder + tcbinfo).decode(),
        "tcb_info_issuer_chain": read_bytes("tdx", folder + "tcb_info_issuer_chain.pem").decode(),
        "qe_identity": read_bytes("tdx", folder + "qe_identity.json").decode(),
        "qe_identity_issuer_chain": read_bytes(
            "tdx", folder + "qe_identity_issuer_chain.pem"
        ).decode(),
        "pck_crl": read_bytes("tdx", folder + "pckcrl_platform.der").hex(),
        "root_ca_crl": read_bytes("tdx", folder + "rootcrl.der").hex(),
    }
    return write(tmp_path, "collateral.json", json.dumps(document).encode())


@pytest.mark.parametrize("index", range(5))
def test_tdx_collateral_cases(tmp_path: Path, index: int) -> None:
    case = load_json("tdx", "expected.json")["collateral_cases"][index]
    when = case.get("suggested_verification_time") or case["verification_time_used_by_origin_tests"]
    rc, doc = run(
        "tdx",
        str(vector_path("tdx", case["quote"])),
        "--collateral",
        _tdx_collateral(tmp_path, case),
        "--at",
        when,
    )
    assert_shape(doc)
    status = case["tcb_level_match"]["status"]
    assert doc["claims"]["tcb_status"] == status
    if case["expected"].startswith("valid") and status != "UpToDate":
        # Intel calls it valid; a relying party must accept the status knowingly.
        assert (rc, failed(doc)) == (INVALID, ["tdx.tcb.status"])
        rc, doc = run(
            "tdx", str(vector_path("tdx", case["quote"])),
            "--collateral", _tdx_collateral(tmp_path, case), "--at", when,
            "--accept-tcb-status", status,
        )  # fmt: skip
        assert (rc, doc["valid"]) == (VALID, True), failed(doc)
    elif case["expected"].startswith("valid"):
        assert (rc, doc["valid"]) == (VALID, True), failed(doc)
    else:
        assert rc == INVALID
        assert "tdx.quote.signature" not in failed(doc)


def test_tdx_mutations_are_invalid(tmp_path: Path) -> None:
    expected = load_json("tdx", "expected.json")
    case = next(c for c in expected["collateral_cases"] if not isinstance(c["collateral"], str))
    collateral = _tdx_collateral(tmp_path, case)
    for n, mutation in enumerate(expected["negative_mutations"]):
        quote = bytearray(read_bytes("tdx", mutation["quote"]))
        quote[int(mutation["offset"], 16)] = int(mutation["new_byte"], 16)
        rc, doc = run(
            "tdx",
            write(tmp_path, f"q{n}.dat", bytes(quote)),
            "--collateral",
            collateral,
            "--at",
            "2023-07-01T01:00:00Z",
        )
        assert_shape(doc)
        assert rc == INVALID, mutation


def test_tdx_requires_collateral_option() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "openpcc",
            "verify",
            "tdx",
            str(vector_path("tdx", "quotes/dcap-qvl_tdx_v4.dat")),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == UNREADABLE  # argparse usage error


# --- TPM quote --------------------------------------------------------------

COS = "go-tpm-tools/extracted/gce-cos-85-nonce9009"


def cos_bank(bank: str) -> dict[str, Any]:
    """The expected entry of one bank of the go-tpm-tools COS quote with nonce 0x9009."""
    quotes = load_json("tpm", "expected.json")["quotes"]
    case = next(q for q in quotes if q["file"].endswith("gce-cos-85-nonce9009.pb"))
    return next(b for b in case["banks"] if b["bank"] == bank)


def _pcr_file(tmp_path: Path, bank: str, pcrs: dict[str, str] | None = None) -> str:
    values = pcrs if pcrs is not None else cos_bank(bank)["pcr_values"]
    return write(tmp_path, f"pcrs_{bank}.json", json.dumps({"bank": bank, "pcrs": values}).encode())


def _tpm_quote_args(quote: str, bank: str, *options: str) -> list[str]:
    """``tpm-quote`` on the attest, signature and AK files of the vector QUOTE in BANK, then OPTIONS."""
    return [
        "tpm-quote",
        "--attest", str(vector_path("tpm", f"{quote}.quote_{bank}.tpms_attest.bin")),
        "--signature", str(vector_path("tpm", f"{quote}.quote_{bank}.tpmt_signature.bin")),
        "--ak", str(vector_path("tpm", f"{quote}.ak_pub.tpmt_public.bin")),
        *options,
    ]


@pytest.mark.parametrize("bank", ["sha1", "sha256", "sha384"])
def test_tpm_quote_with_nonce_and_pcrs(tmp_path: Path, bank: str) -> None:
    pcrs = _pcr_file(tmp_path, bank)
    rc, doc = run(*_tpm_quote_args(COS, bank, "--nonce", "9009", "--pcrs", pcrs))
    assert_shape(doc)
    assert (rc, doc["valid"]) == (VALID, True), failed(doc)


def test_tpm_quote_wrong_nonce_is_invalid(tmp_path: Path) -> None:
    rc, doc = run(
        *_tpm_quote_args(COS, "sha256", "--nonce", "9008", "--pcrs", _pcr_file(tmp_path, "sha256"))
    )
    assert (rc, failed(doc)) == (INVALID, ["tpm.quote.nonce"])


def test_tpm_quote_altered_pcr_is_invalid(tmp_path: Path) -> None:
    pcrs = dict(cos_bank("sha256")["pcr_values"])
    pcrs["0"] = "11" * 32
    path = _pcr_file(tmp_path, "sha256", pcrs)
    rc, doc = run(*_tpm_quote_args(COS, "sha256", "--nonce", "9009", "--pcrs", path))
    assert (rc, failed(doc)) == (INVALID, ["tpm.quote.pcr_digest"])


def test_tpm_quote_bad_hex_nonce_is_unreadable() -> None:
    rc, _ = run(*_tpm_quote_args(COS, "sha256", "--nonce", "zz"))
    assert rc == UNREADABLE


# --- event logs -------------------------------------------------------------


def _eventlog_cases() -> list[dict[str, Any]]:
    return load_json("tpm", "expected.json")["eventlogs"]


@pytest.mark.parametrize("index", range(12))
def test_eventlog_replays_to_expected_pcrs(index: int) -> None:
    cases = _eventlog_cases()
    if index >= len(cases):
        missing(f"tpm/expected.json lists {len(cases)} event logs, this test expects 12")
    case = cases[index]
    rc, doc = run("eventlog", str(vector_path("tpm", case["file"])))
    assert_shape(doc)
    assert (rc, doc["valid"]) == (VALID, True), failed(doc)
    replayed = doc["claims"]["pcrs"]
    expected = _expected_eventlog_pcrs(case)
    assert expected, "the vector lists expected PCRs"
    for bank, values in expected.items():
        for pcr, value in values.items():
            assert replayed[bank][str(pcr)] == value.lower(), (bank, pcr)


def _expected_eventlog_pcrs(case: dict[str, Any]) -> dict[str, dict[str, str]]:
    for key in ("expected_pcrs", "pcrs"):
        if isinstance(case.get(key), dict):
            return case[key]
    return {}


def test_eventlog_garbage_is_invalid_or_unreadable(tmp_path: Path) -> None:
    rc, doc = run("eventlog", write(tmp_path, "junk.bin", b"\x01\x02\x03"))
    assert rc in (INVALID, UNREADABLE)
    assert doc["valid"] is False


# --- NVIDIA -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["gpu_evidence.json", "switch_evidence.json"])
def test_nvidia_json_files_are_valid(name: str) -> None:
    rc, doc = run("nvidia", str(vector_path("nvidia", name)), "--at", NVIDIA_AT)
    assert_shape(doc)
    assert (rc, doc["valid"]) == (VALID, True), failed(doc)
    assert doc["claims"]["devices"]


def test_nvidia_wrong_nonce_is_invalid() -> None:
    rc, doc = run(
        "nvidia",
        str(vector_path("nvidia", "gpu_evidence.json")),
        "--at",
        NVIDIA_AT,
        "--nonce",
        "00" * 32,
    )
    assert rc == INVALID
    assert any(name.endswith(".nonce") for name in failed(doc))


def test_nvidia_certificates_not_yet_valid() -> None:
    rc, doc = run(
        "nvidia", str(vector_path("nvidia", "gpu_evidence.json")), "--at", "2019-01-01T00:00:00Z"
    )
    assert rc == INVALID
    assert doc["valid"] is False


# --- evidence bundles (exit 0 with a real bundle is in tests/e2e/test_swtpm_evidence_policy.py) --

COS_POLICY = b"""
name = "vectors"
require_tee = false
danger_allow_software_tpm = true
require_nonce = false
max_evidence_age_seconds = 0
required_evidence = ["TPM_QUOTE"]
"""


def _cos_bundle(tmp_path: Path) -> str:
    from openpcc.attestation import EvidenceList, EvidencePiece, EvidenceType
    from openpcc.attestation.bundle import encode_tpm_quote

    pcrs = {int(k): bytes.fromhex(v) for k, v in cos_bank("sha256")["pcr_values"].items()}
    bundle = EvidenceList.of(
        [
            EvidencePiece(
                EvidenceType.AK_TPMT_PUBLIC, read_bytes("tpm", f"{COS}.ak_pub.tpmt_public.bin")
            ),
            EvidencePiece(
                EvidenceType.TPM_QUOTE,
                encode_tpm_quote(read_bytes("tpm", f"{COS}.quote_sha256.tpms_attest.bin"), pcrs),
                read_bytes("tpm", f"{COS}.quote_sha256.tpmt_signature.bin"),
            ),
            EvidencePiece(
                EvidenceType.OPENPCC_TCG_EVENT_LOG, read_bytes("tpm", f"{COS}.event_log.bin")
            ),
        ]
    )
    return write(tmp_path, "bundle.pb", bundle.encode())


def test_evidence_bundle_without_rek_is_invalid_with_named_checks(tmp_path: Path) -> None:
    policy = write(tmp_path, "policy.toml", COS_POLICY)
    rc, doc = run("evidence", _cos_bundle(tmp_path), "--policy", policy, "--nonce", "9009")
    assert_shape(doc)
    assert (rc, failed(doc)) == (INVALID, ["tpm.identity"])
    names = {c["name"] for c in doc["checks"]}
    assert {"tpm.quote.signature", "tpm.quote.nonce", "eventlog.pcrs.sha256"} <= names
    assert doc["claims"]["pcrs"]["sha256"]["0"] == cos_bank("sha256")["pcr_values"]["0"]
    assert "rek_public_key" not in doc["claims"]


def test_evidence_under_the_unfilled_production_template_says_so(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "openpcc", "verify", "evidence", _cos_bundle(tmp_path),
            "--policy", str(Path(__file__).resolve().parents[2] / "policies" / "production.toml"),
            "--nonce", "9009" * 8,
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == UNREADABLE
    assert "placeholder" in proc.stderr and "template" in proc.stderr, proc.stderr
    assert "sevsnp.allowed_measurements" in proc.stderr


def test_evidence_under_a_filled_production_policy(tmp_path: Path) -> None:
    template = (Path(__file__).resolve().parents[2] / "policies" / "production.toml").read_text()
    filled = tmp_path / "production.toml"
    filled.write_text(
        template.replace("<48-byte hex SEV-SNP launch measurement of your guest image>", "ab" * 48)
        .replace("<48-byte hex MRTD of your TD image>", "ab" * 48)
        .replace('"<minimum bootloader SVN>"', "9")
        .replace('"<minimum TEE SVN>"', "0")
        .replace('"<minimum SNP firmware SVN>"', "23")
        .replace('"<minimum microcode SVN>"', "72")
    )
    rc, doc = run("evidence", _cos_bundle(tmp_path), "--policy", str(filled), "--nonce", "9009" * 8)
    assert rc == INVALID
    assert {"policy.tee", "policy.tpm.ak_trust", "tpm.quote.nonce"} <= set(failed(doc))


@pytest.mark.parametrize(
    ("bundle", "policy", "nonce"),
    [
        (b"\xff\xff\xff", COS_POLICY, "00"),
        (None, b"requre_tee = false", "00"),
        (None, COS_POLICY, "xyz"),
    ],
)
def test_evidence_unreadable_inputs(
    tmp_path: Path, bundle: bytes | None, policy: bytes, nonce: str
) -> None:
    path = write(tmp_path, "b.pb", bundle) if bundle is not None else _cos_bundle(tmp_path)
    rc, doc = run("evidence", path, "--policy", write(tmp_path, "p.toml", policy), "--nonce", nonce)
    assert rc == UNREADABLE
    assert doc["valid"] is False and "error" in doc


def test_tpm_quote_unknown_pcr_bank_is_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", b'{"bank": "md5", "pcrs": {"0": "00"}}')
    rc, doc = run(*_tpm_quote_args(COS, "sha256", "--pcrs", path))
    assert rc == UNREADABLE
    assert "md5" in doc["error"]


def test_evidence_human_output(tmp_path: Path) -> None:
    policy = write(tmp_path, "policy.toml", COS_POLICY)
    proc = subprocess.run(
        [sys.executable, "-m", "openpcc", "verify", "evidence", _cos_bundle(tmp_path), "--policy", policy,
         "--nonce", "9009"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == INVALID
    lines = proc.stdout.splitlines()
    assert lines[-1] == "INVALID"
    assert any(line.startswith("FAIL tpm.identity:") for line in lines)
    assert any(line.startswith("ok   tpm.quote.signature:") for line in lines)


NO_NONCE = "go-tpm-tools/extracted/gce-cos-85-no-nonce"


def _no_nonce_args(tmp_path: Path) -> list[str]:
    quotes = load_json("tpm", "expected.json")["quotes"]
    case = next(q for q in quotes if q["file"].endswith("gce-cos-85-no-nonce.pb"))
    bank = next(b for b in case["banks"] if b["bank"] == "sha256")
    pcrs = write(
        tmp_path, "pcrs.json", json.dumps({"bank": "sha256", "pcrs": bank["pcr_values"]}).encode()
    )
    return _tpm_quote_args(NO_NONCE, "sha256", "--pcrs", pcrs)


def test_tpm_quote_without_nonce_fails_freshness_unless_accepted(tmp_path: Path) -> None:
    rc, doc = run(*_no_nonce_args(tmp_path))
    assert (rc, failed(doc)) == (INVALID, ["tpm.quote.nonce"])
    rc, doc = run(*_no_nonce_args(tmp_path), "--no-nonce")
    assert_shape(doc)
    assert (rc, doc["valid"]) == (VALID, True), failed(doc)

