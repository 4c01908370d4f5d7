"""A synthetic Intel SGX PKI and TDX quote (version 4, TD 1.0 body), built with ``cryptography``.

Real quotes are signed by PCK keys we do not hold, so an attacker who *does* hold one (a PCK
private key leaks from one platform) can only be played with a PKI of our own, shaped like
Intel's (Intel SGX PCK certificate and CRL profile, Intel DCAP quote format):

* an "Intel SGX Root CA": P-256, self-signed, ``basicConstraints`` cA pathLen 1, keyCertSign/cRLSign;
* an "Intel SGX PCK Platform CA" under it: pathLen 0, keyCertSign/cRLSign;
* a PCK leaf under that CA: not a CA, digitalSignature, with the SGX extension
  (OID 1.2.840.113741.1.13.1: PPID, TCB (16 SVNs, PCE SVN, CPUSVN), PCE-ID, FMSPC, SGX type);
* an "Intel SGX TCB Signing" certificate directly under the root (signs TCB info, QE identity);
* a quote: 48-byte header, 584-byte TD report body, ECDSA P-256 r||s by an attestation key over
  header and body, then certification data type 6 (QE report, its signature by the PCK, QE
  authentication data, then type 5: the PCK chain as PEM, leaf first).

Nothing here is Intel-signed: verify with ``root=`` :attr:`Pki.root_pem`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from .x509_usage import key_usage

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2049, 12, 31, tzinfo=UTC)
#: An instant inside the real TCB info / QE identity windows the collateral reuses.
COLLATERAL_INSTANT = datetime(2025, 7, 1, tzinfo=UTC)
FMSPC = bytes.fromhex("B0C06F000000")
PCE_ID = bytes.fromhex("0000")
_SGX = "1.2.840.113741.1.13.1"
OID_SGX_EXTENSION = x509.ObjectIdentifier(_SGX)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Intel Corporation"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + body


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, body)


def _int(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return _der(0x02, raw)


def _entry(arc: str, value: bytes) -> bytes:
    return _der(0x30, _oid(f"{_SGX}.{arc}") + value)


def sgx_extension(tcb: bytes, pce_svn: int) -> bytes:
    """The SGX extension's DER value for 16 TCB component SVNs and a PCE SVN."""
    comps = b"".join(_entry(f"2.{i + 1}", _int(svn)) for i, svn in enumerate(tcb))
    tcb_seq = _der(
        0x30, comps + _entry("2.17", _int(pce_svn)) + _entry("2.18", _der(0x04, bytes(tcb)))
    )
    return _der(
        0x30,
        _entry("1", _der(0x04, b"\x11" * 16))
        + _entry("2", tcb_seq)
        + _entry("3", _der(0x04, PCE_ID))
        + _entry("4", _der(0x04, FMSPC))
        + _entry("5", _der(0x0A, b"\x00")),
    )


def _p256() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None = None,
    sgx: bytes | None = None,
) -> x509.Certificate:
    """A certificate for ``key`` signed by ``issuer_key`` (self-signed when ``issuer`` is None)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer is not None else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(
            key_usage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca),
            critical=True,
        )
    )
    if sgx is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(OID_SGX_EXTENSION, sgx), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def raw_signature(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """ECDSA P-256/SHA-256 as Intel encodes it: r || s, 32 bytes each, big-endian."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass(frozen=True)
class Pki:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    pck_key: ec.EllipticCurvePrivateKey
    pck: x509.Certificate
    signing_key: ec.EllipticCurvePrivateKey
    signing: x509.Certificate

    @property
    def root_pem(self) -> bytes:
        return pem(self.root)

    def pck_chain(self) -> tuple[x509.Certificate, ...]:
        return (self.pck, self.ca, self.root)


@functools.cache
def pki(tcb: bytes = bytes([2] * 16), pce_svn: int = 13) -> Pki:
    root_key, ca_key, pck_key, signing_key = _p256(), _p256(), _p256(), _p256()
    root = issue("Intel SGX Root CA", root_key, None, root_key, ca=True, path_length=1)
    ca = issue("Intel SGX PCK Platform CA", ca_key, root, root_key, ca=True, path_length=0)
    pck = issue(
        "Intel SGX PCK Certificate", pck_key, ca, ca_key, ca=False, sgx=sgx_extension(tcb, pce_svn)
    )
    signing = issue("Intel SGX TCB Signing", signing_key, root, root_key, ca=False)
    return Pki(root_key, root, ca_key, ca, pck_key, pck, signing_key, signing)


def td_body(*, mrtd: bytes = b"\x5a" * 48, report_data: bytes = bytes(64)) -> bytes:
    """A TD 1.0 report body (584 bytes): TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, SEAMATTRIBUTES,
    TDATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3, REPORTDATA."""
    body = (
        bytes([3, 0, 4]) + bytes(13)
        + b"\x2f" * 48 + bytes(48) + bytes(8) + bytes(8) + bytes(8)
        + mrtd + bytes(48 * 3) + bytes(48 * 4) + report_data
    )  # fmt: skip
    assert len(body) == 584
    return body


def build_quote(
    chain: tuple[x509.Certificate, ...],
    signer: ec.EllipticCurvePrivateKey,
    *,
    body: bytes | None = None,
) -> bytes:
    """A v4 TD quote whose QE report is signed by ``signer`` and which carries ``chain`` (PEM)."""
    attestation_key = _p256()
    point = attestation_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]
    header = struct.pack("<HHIHH", 4, 2, 0x81, 0, 0) + bytes(16) + bytes(20)
    signed = header + (body if body is not None else td_body())
    auth = bytes(range(32))
    qe_buffer = bytearray(384)
    qe_buffer[320:352] = hashlib.sha256(point + auth).digest()
    qe_report = bytes(qe_buffer)
    chain_pem = pem(*chain)
    inner = (
        qe_report
        + raw_signature(signer, qe_report)
        + struct.pack("<H", len(auth))
        + auth
        + struct.pack("<HI", 5, len(chain_pem))
        + chain_pem
    )
    sig_data = (
        raw_signature(attestation_key, signed) + point + struct.pack("<HI", 6, len(inner)) + inner
    )
    return signed + struct.pack("<I", len(sig_data)) + sig_data


def mint_pck_under(pki_: Pki, tcb: bytes) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """What a holder of one PCK private key can make: a "PCK" with any TCB, signed by that PCK."""
    key = _p256()
    cert = issue(
        "Intel SGX PCK Certificate",
        key,
        pki_.pck,
        pki_.pck_key,
        ca=False,
        sgx=sgx_extension(tcb, 255),
    )
    return key, cert


def _crl(issuer: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bytes:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(datetime(2025, 6, 1, tzinfo=UTC))
        .next_update(datetime(2025, 8, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.DER)


def collateral(
    pki_: Pki,
    real: dict[str, str],
    *,
    signer: tuple[ec.EllipticCurvePrivateKey, tuple[x509.Certificate, ...]] | None = None,
    pck_crl_signer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
) -> bytes:
    """Collateral for the synthetic PKI: Intel's real TCB info and QE identity texts (FMSPC
    B0C06F000000, PCE-ID 0000, as ``real`` holds them) re-signed by ``signer`` (default: the TCB
    Signing certificate under the root), and CRLs by the root and by ``pck_crl_signer``
    (default: the PCK Platform CA)."""
    key, chain = signer or (pki_.signing_key, (pki_.signing, pki_.root))
    crl_cert, crl_key = pck_crl_signer or (pki_.ca, pki_.ca_key)
    tcb_info, qe_identity = real["tcb_info"], real["qe_identity"]
    return json.dumps(
        {
            "tcb_info": tcb_info,
            "tcb_info_signature": raw_signature(key, tcb_info.encode()).hex(),
            "tcb_info_issuer_chain": pem(*chain).decode(),
            "qe_identity": qe_identity,
            "qe_identity_signature": raw_signature(key, qe_identity.encode()).hex(),
            "qe_identity_issuer_chain": pem(*chain).decode(),
            "pck_crl": _crl(crl_cert, crl_key).hex(),
            "root_ca_crl": _crl(pki_.root, pki_.root_key).hex(),
        }
    ).encode()
