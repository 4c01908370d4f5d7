"""SEV-SNP report and TDX quote verification: openpcc against named peers.

Peers: the same checks written here on Python ``cryptography`` (OpenSSL underneath), and the
``dcap-qvl`` PyPI package for TDX. The floor of a cached SNP verification is one P-384 ECDSA
check; ``sevsnp-verify-cached`` carries that floor measured with OpenSSL.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from openpcc.attestation.sevsnp import SevSnpVerifier, verify_report
from openpcc.attestation.tdx import TdxVerifier, verify_quote
from support.vectors import read_bytes

# AMD issues VCEKs with serial number 0, which `cryptography` parses with a deprecation warning.
pytestmark = pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")

SNP_AT = datetime(2026, 1, 1, tzinfo=UTC)
TDX_AT = datetime.fromtimestamp(1752919234, tz=UTC)  # inside the dcap-qvl collateral window


@pytest.fixture(scope="module")
def snp() -> dict[str, bytes]:
    return {
        "report": read_bytes("sev-snp", "reports/go-sev-guest_milan_v2_report.bin"),
        "vcek": read_bytes("sev-snp", "vcek/go-sev-guest_milan_vcek.der"),
        "chain": read_bytes("sev-snp", "ca/go-sev-guest_ask_ark_milan.pem"),
    }


@pytest.fixture(scope="module")
def tdx() -> dict[str, bytes]:
    return {
        "quote": read_bytes("tdx", "quotes/dcap-qvl_tdx_v4.dat"),
        "collateral": read_bytes("tdx", "collateral/dcap-qvl/tdx_v4_collateral.json"),
        "root": read_bytes("tdx", "intel_sgx_root_ca.der"),
    }


# --- SEV-SNP baseline on `cryptography` ----------------------------------------------------

AMD_OID = "1.3.6.1.4.1.3704.1."
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


def _der_small_int(value: bytes) -> int:
    assert value[0] == 0x02
    return int.from_bytes(value[2 : 2 + value[1]], "big")


def _vcek_facts(vcek: x509.Certificate) -> dict:
    ext = {e.oid.dotted_string: e.value.value for e in vcek.extensions}
    return {
        "key": vcek.public_key(),
        "spl": [_der_small_int(ext[AMD_OID + s]) for s in ("3.1", "3.2", "3.3", "3.8")],
        "hwid": ext[AMD_OID + "4"],
        "window": (vcek.not_valid_before_utc, vcek.not_valid_after_utc),
    }


def _py_chain(vcek_der: bytes, chain_pem: bytes, pinned_ark: bytes) -> dict:
    vcek = x509.load_der_x509_certificate(vcek_der)
    ask, ark = sorted(x509.load_pem_x509_certificates(chain_pem), key=lambda c: c.subject == c.issuer)
    assert ark.public_bytes(serialization_der()) == pinned_ark
    ark.public_key().verify(ark.signature, ark.tbs_certificate_bytes, PSS, hashes.SHA384())
    ark.public_key().verify(ask.signature, ask.tbs_certificate_bytes, PSS, hashes.SHA384())
    ask.public_key().verify(vcek.signature, vcek.tbs_certificate_bytes, PSS, hashes.SHA384())
    return _vcek_facts(vcek)


def serialization_der():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def _py_report(report: bytes, facts: dict, at: datetime) -> bool:
    version, = struct.unpack_from("<I", report, 0)
    assert 2 <= version <= 5 and len(report) == 0x4A0
    before, after = facts["window"]
    assert before <= at <= after
    r = int.from_bytes(report[0x2A0:0x2D0], "little")
    s = int.from_bytes(report[0x2E8:0x318], "little")
    facts["key"].verify(encode_dss_signature(r, s), report[:0x2A0], ec.ECDSA(hashes.SHA384()))
    tcb = report[0x180:0x188]
    assert [tcb[0], tcb[1], tcb[6], tcb[7]] == facts["spl"]
    assert report[0x1A0:0x1E0] == facts["hwid"]
    return True


def _pinned_milan_ark(snp: dict[str, bytes]) -> bytes:
    certs = x509.load_pem_x509_certificates(snp["chain"])
    return next(c for c in certs if c.subject == c.issuer).public_bytes(serialization_der())


def test_sevsnp_cached_openpcc(benchmark, snp) -> None:
    benchmark.group = "sevsnp-verify-cached"
    verifier = SevSnpVerifier()
    assert verifier.verify(snp["report"], vcek=snp["vcek"], chain=snp["chain"], at=SNP_AT).valid
    verdict = benchmark(verifier.verify, snp["report"], vcek=snp["vcek"], chain=snp["chain"], at=SNP_AT)
    assert verdict.valid


def test_sevsnp_cached_python_cryptography(benchmark, snp) -> None:
    benchmark.group = "sevsnp-verify-cached"
    facts = _py_chain(snp["vcek"], snp["chain"], _pinned_milan_ark(snp))
    assert benchmark(_py_report, snp["report"], facts, SNP_AT)


def test_sevsnp_cached_floor_openssl_p384_verify(benchmark, snp) -> None:
    """The floor: the one P-384 ECDSA verification every report needs (OpenSSL)."""
    benchmark.group = "sevsnp-verify-cached"
    key = x509.load_der_x509_certificate(snp["vcek"]).public_key()
    report = snp["report"]
    sig = encode_dss_signature(
        int.from_bytes(report[0x2A0:0x2D0], "little"), int.from_bytes(report[0x2E8:0x318], "little")
    )
    benchmark(key.verify, sig, report[:0x2A0], ec.ECDSA(hashes.SHA384()))


def test_sevsnp_cold_openpcc(benchmark, snp) -> None:
    benchmark.group = "sevsnp-verify-cold"
    verdict = benchmark(verify_report, snp["report"], vcek=snp["vcek"], chain=snp["chain"], at=SNP_AT)
    assert verdict.valid


def test_sevsnp_cold_python_cryptography(benchmark, snp) -> None:
    benchmark.group = "sevsnp-verify-cold"
    pinned = _pinned_milan_ark(snp)

    def run() -> bool:
        return _py_report(snp["report"], _py_chain(snp["vcek"], snp["chain"], pinned), SNP_AT)

    assert benchmark(run)


# --- TDX baseline on `cryptography` -------------------------------------------------------


def _der_items(data: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(data):
        tag, length = data[i], data[i + 1]
        i += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        out.append((tag, data[i : i + length]))
        i += length
    return out


def _pck_tcb(pck: x509.Certificate) -> tuple[bytes, list[int], int]:
    ext = pck.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.2.840.113741.1.13.1")).value.value
    fmspc, comps, pcesvn = b"", [0] * 16, 0
    for _, pair in _der_items(_der_items(ext)[0][1]):
        (_, oid), (_, value) = _der_items(pair)
        arc = oid[-1]
        if arc == 4:
            fmspc = value
        elif arc == 2:
            for _, inner in _der_items(value):
                (_, ioid), (_, ival) = _der_items(inner)
                if 1 <= ioid[-1] <= 16:
                    comps[ioid[-1] - 1] = int.from_bytes(ival, "big")
                elif ioid[-1] == 17:
                    pcesvn = int.from_bytes(ival, "big")
    return fmspc, comps, pcesvn


def _p256_raw(key, sig: bytes, msg: bytes) -> None:
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    key.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))


def _chain_to_root(certs: list[x509.Certificate], root_der: bytes) -> None:
    for child, parent in itertools.pairwise(certs):
        parent.public_key().verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert certs[-1].public_bytes(serialization_der()) == root_der


def _py_tdx(quote: bytes, collateral: bytes, root_der: bytes, at: datetime) -> str:
    version, = struct.unpack_from("<H", quote, 0)
    assert version == 4
    signed = quote[: 48 + 584]
    sig_len, = struct.unpack_from("<I", quote, 632)
    sd = quote[636 : 636 + sig_len]
    sig, att_key = sd[:64], sd[64:128]
    inner = sd[134:]
    qe_report, qe_sig = inner[:384], inner[384:448]
    auth_len, = struct.unpack_from("<H", inner, 448)
    auth = inner[450 : 450 + auth_len]
    _, pem_len = struct.unpack_from("<HI", inner, 450 + auth_len)
    pem = inner[456 + auth_len : 456 + auth_len + pem_len]
    att = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + att_key)
    _p256_raw(att, sig, signed)
    assert qe_report[320:352] == hashlib.sha256(att_key + auth).digest()
    certs = x509.load_pem_x509_certificates(pem)
    _chain_to_root(certs, root_der)
    for c in certs:
        assert c.not_valid_before_utc <= at <= c.not_valid_after_utc
    _p256_raw(certs[0].public_key(), qe_sig, qe_report)
    col = json.loads(collateral)
    for doc in ("tcb_info", "qe_identity"):
        chain = x509.load_pem_x509_certificates(col[f"{doc}_issuer_chain"].encode())
        _chain_to_root(chain, root_der)
        _p256_raw(chain[0].public_key(), bytes.fromhex(col[f"{doc}_signature"]), col[doc].encode())
    root = certs[-1]
    root_crl = x509.load_der_x509_crl(bytes.fromhex(col["root_ca_crl"]))
    assert root_crl.is_signature_valid(root.public_key())
    pck_crl = x509.load_der_x509_crl(bytes.fromhex(col["pck_crl"]))
    assert pck_crl.is_signature_valid(certs[1].public_key())
    assert pck_crl.get_revoked_certificate_by_serial_number(certs[0].serial_number) is None
    assert root_crl.get_revoked_certificate_by_serial_number(certs[1].serial_number) is None
    tcb_info, qe_identity = json.loads(col["tcb_info"]), json.loads(col["qe_identity"])
    for doc in (tcb_info, qe_identity):
        issue = datetime.fromisoformat(doc["issueDate"])
        assert issue <= at <= datetime.fromisoformat(doc["nextUpdate"])
    fmspc, comps, pcesvn = _pck_tcb(certs[0])
    assert tcb_info["fmspc"].lower() == fmspc.hex()
    assert qe_report[128:160].hex().upper() == qe_identity["mrsigner"].upper()
    tee = signed[48:64]
    for level in tcb_info["tcbLevels"]:
        t = level["tcb"]
        skip = 2 if tee[1] > 0 else 0
        if (
            pcesvn >= t["pcesvn"]
            and all(c >= x["svn"] for c, x in zip(comps, t["sgxtcbcomponents"]))
            and all(c >= x["svn"] for c, x in list(zip(tee, t["tdxtcbcomponents"]))[skip:])
        ):
            return level["tcbStatus"]
    return "NoMatch"


def test_tdx_openpcc(benchmark, tdx) -> None:
    benchmark.group = "tdx-verify-with-collateral"
    verdict = benchmark(verify_quote, tdx["quote"], collateral=tdx["collateral"], at=TDX_AT)
    assert verdict.valid and verdict.claims["tcb_status"] == "UpToDate"


def test_tdx_openpcc_cached(benchmark, tdx) -> None:
    benchmark.group = "tdx-verify-with-collateral"
    # The peers verify cold, so ratios are against the cold row; this row shows what caching buys.
    benchmark.extra_info["impl"] = "openpcc-cached"
    verifier = TdxVerifier()
    verdict = benchmark(verifier.verify, tdx["quote"], collateral=tdx["collateral"], at=TDX_AT)
    assert verdict.valid and verdict.claims["tcb_status"] == "UpToDate"


def test_tdx_python_cryptography(benchmark, tdx) -> None:
    benchmark.group = "tdx-verify-with-collateral"
    assert benchmark(_py_tdx, tdx["quote"], tdx["collateral"], tdx["root"], TDX_AT) == "UpToDate"


def test_tdx_dcap_qvl(benchmark, tdx) -> None:
    dcap_qvl = pytest.importorskip("dcap_qvl")
    benchmark.group = "tdx-verify-with-collateral"
    collateral = dcap_qvl.QuoteCollateralV3.from_json(tdx["collateral"].decode())
    report = benchmark(dcap_qvl.verify, tdx["quote"], collateral, int(TDX_AT.timestamp()))
    assert report.status == "UpToDate"
