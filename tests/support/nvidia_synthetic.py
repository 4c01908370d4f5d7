"""Synthetic NVIDIA GPU evidence, signed by a device PKI made up on the spot.

Real samples are signed by NVIDIA devices and carry nonces we did not choose, so they can never be
bound to a test's client nonce and REK. This module builds evidence in exactly the container the
verifier reads (``gpu_evidence.json``'s shape) with the ``cryptography`` package only:

* a five-certificate P-384 chain shaped like an H100's, leaf first: device leaf ("FMC LF",
  digitalSignature, a DICE FWID extension) → "BROM" CA → provisioner ICA → identity CA → a
  self-signed synthetic root, all ECDSA-with-SHA384;
* the 37-byte SPDM 1.1 ``GET_MEASUREMENTS`` request (signature requested, all measurements, the
  chosen 32-byte nonce, slot 0);
* the ``MEASUREMENTS`` response: DMTF blocks (SHA-384 values, value type 0x01 as on H100), a
  responder nonce, NVIDIA opaque TLVs (VBIOS version, driver version, FWID), and the raw r‖s
  P-384 signature over request‖response-without-signature by the leaf key.

Nothing here is NVIDIA-signed: it proves our verifier and binding, not any real GPU.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID, ObjectIdentifier

from .x509_usage import key_usage

__all__ = [
    "NOT_AFTER",
    "NOT_BEFORE",
    "DevicePki",
    "GpuReport",
    "block_values",
    "evidence_json",
    "make_pki",
    "measurements_claim",
    "opaque_data",
    "request",
    "response_unsigned",
    "sign_transcript",
]

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)

SPDM_1_1 = 0x11
GET_MEASUREMENTS = 0xE0
MEASUREMENTS = 0x60
SIGNATURE_REQUESTED = 0x01
ALL_MEASUREMENTS = 0xFF
DMTF_SPEC = 0x01
#: DMTFSpecMeasurementValueType as H100s report every block (mutable firmware, digest).
VALUE_TYPE = 0x01
#: NVIDIA opaque record types (nvtrust's ``OpaqueDataType``).
OPAQUE_DRIVER_VERSION = 3
OPAQUE_VBIOS_VERSION = 6
OPAQUE_FWID = 20
#: TCG DICE extension NVIDIA leaves carry: version, the issuer's key, FWID (SHA-384).
DICE_FWID_OID = ObjectIdentifier("2.23.133.5.4.1")
_SHA384_OID_DER = bytes.fromhex("0609608648016503040202")


@dataclass(frozen=True)
class DevicePki:
    """A device chain and its keys; ``chain`` is leaf first and ends with the root (as NVIDIA's)."""

    root: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    leaf_key: ec.EllipticCurvePrivateKey
    fwid: bytes

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self, certs: tuple[x509.Certificate, ...] | None = None) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (certs or self.chain))


def _name(common_name: str, *, serial: str | None = None) -> x509.Name:
    attrs = []
    if serial is not None:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    attrs += [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openpcc synthetic test devices"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    return x509.Name(attrs)


def _der(tag: int, body: bytes) -> bytes:
    """One DER TLV (definite length, short or long form)."""
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def _dice_fwid(issuer_key: ec.EllipticCurvePublicKey, fwid: bytes) -> bytes:
    """``SEQUENCE { INTEGER 1, issuer SPKI, SEQUENCE { sha384, OCTET STRING fwid } }``,
    the layout of the 2.23.133.5.4.1 (TCG DICE) extension in H100 leaf certificates."""
    spki = issuer_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fwid_seq = _der(0x30, _SHA384_OID_DER + _der(0x04, fwid))
    return _der(0x30, _der(0x02, b"\x01") + spki + fwid_seq)


def _certificate(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    validity: tuple[datetime, datetime],
    extra: tuple[x509.ExtensionType, ...] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(key_usage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    for ext in extra:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(issuer_key, hashes.SHA384())


def _p384() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def make_pki(
    *,
    validity: tuple[datetime, datetime] = (NOT_BEFORE, NOT_AFTER),
    leaf_validity: tuple[datetime, datetime] | None = None,
    fwid: bytes | None = None,
    leaf_is_ca: bool = False,
) -> DevicePki:
    """A fresh synthetic root and an H100-shaped chain under it. ``leaf_validity`` narrows only the
    device leaf's window (to test a certificate outside its validity); ``leaf_is_ca`` gives the
    leaf CA constraints and usages (a chain a verifier must refuse)."""
    fwid = fwid if fwid is not None else hashlib.sha384(b"synthetic gpu firmware").digest()
    root_key, identity_key, ica_key, brom_key, leaf_key = (_p384() for _ in range(5))
    root_name = _name("Synthetic Device Identity CA")
    identity_name = _name("Synthetic GPU Identity")
    ica_name = _name("Synthetic GPU Provisioner ICA 1")
    brom_name = _name("Synthetic GPU A01 GSP BROM", serial=os.urandom(9).hex().upper())
    leaf_name = _name("Synthetic GPU A01 GSP FMC LF", serial=os.urandom(20).hex().upper())
    root = _certificate(root_name, root_key, root_name, root_key, ca=True, validity=validity)
    identity = _certificate(
        identity_name, identity_key, root_name, root_key, ca=True, validity=validity
    )
    ica = _certificate(ica_name, ica_key, identity_name, identity_key, ca=True, validity=validity)
    brom = _certificate(brom_name, brom_key, ica_name, ica_key, ca=True, validity=validity)
    dice = x509.UnrecognizedExtension(DICE_FWID_OID, _dice_fwid(brom_key.public_key(), fwid))
    leaf = _certificate(
        leaf_name,
        leaf_key,
        brom_name,
        brom_key,
        ca=leaf_is_ca,
        validity=leaf_validity or validity,
        extra=(dice,),
    )
    return DevicePki(
        root=root, chain=(leaf, brom, ica, identity, root), leaf_key=leaf_key, fwid=fwid
    )


# --- SPDM ---------------------------------------------------------------------------------


def block_values(count: int = 64, *, seed: bytes = b"synthetic") -> dict[int, bytes]:
    """``count`` SHA-384 measurement values, indices 1..count, as H100s report 64 of them."""
    return {i: hashlib.sha384(seed + i.to_bytes(2, "big")).digest() for i in range(1, count + 1)}


def measurements_claim(blocks: Mapping[int, bytes]) -> dict[str, str]:
    """What the verifier's ``measurements`` claim must be for ``blocks``."""
    return {str(i): v.hex() for i, v in blocks.items()}


def request(
    nonce: bytes,
    *,
    slot: int = 0,
    attributes: int = SIGNATURE_REQUESTED,
    operation: int = ALL_MEASUREMENTS,
) -> bytes:
    """SPDM 1.1 GET_MEASUREMENTS: version, code, param1 (attributes), param2, nonce, slot."""
    if len(nonce) != 32:
        raise ValueError("the SPDM nonce is 32 bytes")
    return bytes([SPDM_1_1, GET_MEASUREMENTS, attributes, operation]) + nonce + bytes([slot])


def _block(index: int, value: bytes) -> bytes:
    dmtf = bytes([VALUE_TYPE]) + len(value).to_bytes(2, "little") + value
    return bytes([index, DMTF_SPEC]) + len(dmtf).to_bytes(2, "little") + dmtf


def _tlv(kind: int, value: bytes) -> bytes:
    return kind.to_bytes(2, "little") + len(value).to_bytes(2, "little") + value


def _vbios_bytes(version: str) -> bytes:
    """Inverse of NVIDIA's printing: "96.00.A5.00.01" is bytes 3, 2, 1, 0, 4 of an 8-byte field."""
    b3, b2, b1, b0, b4 = (int(p, 16) for p in version.split("."))
    return bytes([b0, b1, b2, b3, b4, 0, 0, 0])


def opaque_data(*, driver_version: str, vbios_version: str, fwid: bytes) -> bytes:
    """NVIDIA opaque TLVs in the order H100s send them (VBIOS first, driver later, FWID)."""
    return (
        _tlv(OPAQUE_VBIOS_VERSION, _vbios_bytes(vbios_version))
        + _tlv(OPAQUE_DRIVER_VERSION, driver_version.encode() + b"\x00")
        + _tlv(OPAQUE_FWID, fwid)
    )


def response_unsigned(
    blocks: Mapping[int, bytes], *, responder_nonce: bytes, opaque: bytes, slot: int = 0
) -> bytes:
    """MEASUREMENTS up to the signature: header, count, u24 record length, blocks, nonce, opaque."""
    record = b"".join(_block(i, v) for i, v in blocks.items())
    header = bytes([SPDM_1_1, MEASUREMENTS, 0, slot, len(blocks)]) + len(record).to_bytes(
        3, "little"
    )
    return header + record + responder_nonce + len(opaque).to_bytes(2, "little") + opaque


def sign_transcript(key: ec.EllipticCurvePrivateKey, transcript: bytes) -> bytes:
    """ECDSA P-384 / SHA-384, raw r‖s (48 bytes each, big-endian) as SPDM carries it."""
    r, s = decode_dss_signature(key.sign(transcript, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


@dataclass(frozen=True)
class GpuReport:
    """One device's report: what to put in the JSON and what the verifier must find."""

    nonce: bytes
    blocks: Mapping[int, bytes]
    raw: bytes
    chain_pem: bytes
    driver_version: str = "590.12"
    vbios_version: str = "96.00.A5.00.01"
    responder_nonce: bytes = field(default=b"", repr=False)

    def item(self, *, arch: str = "HOPPER") -> dict[str, str]:
        """The collection tools' JSON object for this device."""
        return {
            "arch": arch,
            "certificate": base64.b64encode(self.chain_pem).decode(),
            "driver_version": self.driver_version,
            "evidence": base64.b64encode(self.raw).decode(),
            "nonce": self.nonce.hex(),
            "vbios_version": self.vbios_version,
            "version": "1.0",
        }

    @classmethod
    def build(
        cls,
        pki: DevicePki,
        nonce: bytes,
        *,
        blocks: Mapping[int, bytes] | None = None,
        signer: ec.EllipticCurvePrivateKey | None = None,
        driver_version: str = "590.12",
        vbios_version: str = "96.00.A5.00.01",
        operation: int = ALL_MEASUREMENTS,
        fwid: bytes | None = None,
    ) -> GpuReport:
        """A report for ``nonce`` signed by the PKI's leaf key (or by ``signer``, to forge one).
        ``operation`` is the request's param2; ``fwid`` replaces the leaf's FWID in the opaque data."""
        blocks = dict(blocks if blocks is not None else block_values())
        responder_nonce = os.urandom(32)
        opaque = opaque_data(
            driver_version=driver_version,
            vbios_version=vbios_version,
            fwid=pki.fwid if fwid is None else fwid,
        )
        transcript = request(nonce, operation=operation) + response_unsigned(
            blocks, responder_nonce=responder_nonce, opaque=opaque
        )
        raw = transcript + sign_transcript(signer or pki.leaf_key, transcript)
        return cls(
            nonce=nonce,
            blocks=blocks,
            raw=raw,
            chain_pem=pki.chain_pem(),
            driver_version=driver_version,
            vbios_version=vbios_version,
            responder_nonce=responder_nonce,
        )


def evidence_json(*reports: GpuReport) -> bytes:
    """The ``OPENPCC_NVIDIA_EVIDENCE`` piece's data: a JSON list like ``gpu_evidence.json``."""
    return json.dumps([r.item() for r in reports]).encode()
