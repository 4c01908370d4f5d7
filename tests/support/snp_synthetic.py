"""A synthetic AMD SEV-SNP chain and attestation report, built with ``cryptography`` only.

Real AMD-signed reports bind data we do not choose, so the success path of a bundle with an
SEV-SNP report (``report_data = SHA-512(nonce || REK name)``) can only be reached with roots of
our own. This module builds them the way AMD does:

* an ARK: RSA-4096, self-signed with RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48);
* an ASK and an ASVK (``SEV-VLEK-<product>``): RSA-4096, signed by the ARK the same way;
* a VCEK (or VLEK): EC P-384, signed by the ASK (a VLEK by the ASVK), carrying AMD's KDS extensions (OIDs
  ``1.3.6.1.4.1.3704.1.x``): structVersion, productName (IA5String), blSPL/teeSPL/snpSPL/ucodeSPL
  (and fmcSPL for Turin) as DER INTEGERs, hwID as the raw chip id bytes (64, or 8 for Turin);
* an ``ATTESTATION_REPORT`` (AMD SEV-SNP ABI, table "ATTESTATION_REPORT"), version 3 or 5,
  1184 bytes, ECDSA P-384/SHA-384 over bytes ``[0, 0x2A0)`` by the VCEK's key, r and s
  little-endian in 72-byte fields at 0x2A0 and 0x2E8.

Nothing here is AMD-signed: it proves our verifier and its plumbing, not a real platform.
RSA-4096 key generation is slow, so chains are cached per ``(product, label)``.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from .x509_usage import key_usage

REPORT_LEN = 0x4A0
SIGNED_LEN = 0x2A0
SIG_R, SIG_S, SIG_COMPONENT_LEN = 0x2A0, 0x2E8, 72
SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1
#: Guest policy: bit 17 is reserved and must be one, bit 16 allows SMT, bit 19 allows debugging.
POLICY_DEFAULT = (1 << 17) | (1 << 16)
POLICY_DEBUG = 1 << 19
#: Guest policy bit 18: a migration agent may be associated with the guest.
POLICY_MIGRATE_MA = 1 << 18
FLAG_MASK_CHIP_ID = 1 << 1
SIGNING_KEY_VCEK, SIGNING_KEY_VLEK = 0, 1

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2049, 12, 31, tzinfo=UTC)

_AMD = "1.3.6.1.4.1.3704.1."
OID_STRUCT_VERSION = x509.ObjectIdentifier(_AMD + "1")
OID_PRODUCT_NAME = x509.ObjectIdentifier(_AMD + "2")
OID_BL_SPL = x509.ObjectIdentifier(_AMD + "3.1")
OID_TEE_SPL = x509.ObjectIdentifier(_AMD + "3.2")
OID_SNP_SPL = x509.ObjectIdentifier(_AMD + "3.3")
OID_UCODE_SPL = x509.ObjectIdentifier(_AMD + "3.8")
OID_FMC_SPL = x509.ObjectIdentifier(_AMD + "3.9")
OID_HW_ID = x509.ObjectIdentifier(_AMD + "4")
#: spl_4 .. spl_7: reserved SPLs AMD issues as zero.
_RESERVED_SPLS = tuple(x509.ObjectIdentifier(f"{_AMD}3.{n}") for n in (4, 5, 6, 7))


@dataclass(frozen=True)
class Product:
    """An AMD processor generation as the VCEK and the report's CPUID fields name it."""

    name: str  # "Milan", "Genoa", "Turin": ARK-<name>, SEV-<name>
    product_name: str  # the VCEK's productName extension
    family: int
    model: int
    stepping: int
    hwid_len: int  # 64, or 8 for Turin
    turin_layout: bool  # TCB bytes [FMC, BL, TEE, SNP, 0, 0, 0, UCODE]


PRODUCTS = {
    "milan": Product("Milan", "Milan-B0", 0x19, 0x01, 0x01, 64, False),
    "genoa": Product("Genoa", "Genoa", 0x19, 0x11, 0x01, 64, False),
    "turin": Product("Turin", "Turin", 0x1A, 0x02, 0x01, 8, True),
}


@dataclass(frozen=True)
class Tcb:
    """Security patch levels; ``fmc`` exists on Turin only."""

    bootloader: int = 9
    tee: int = 0
    snp: int = 23
    microcode: int = 72
    fmc: int | None = None

    def encode(self, product: Product) -> bytes:
        """The 8-byte ``TCB_VERSION`` in the generation's layout."""
        if product.turin_layout:
            return bytes(
                [self.fmc or 0, self.bootloader, self.tee, self.snp, 0, 0, 0, self.microcode]
            )
        return bytes([self.bootloader, self.tee, 0, 0, 0, 0, self.snp, self.microcode])


def _der_integer(value: int) -> bytes:
    """A DER INTEGER of 0..255 (what AMD puts in every SPL extension)."""
    body = value.to_bytes(1, "big")
    if body[0] & 0x80:
        body = b"\x00" + body
    return bytes([0x02, len(body)]) + body


def _der_ia5(text: str) -> bytes:
    raw = text.encode("ascii")
    return bytes([0x16, len(raw)]) + raw


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Engineering"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openpcc synthetic test AMD"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)


def _sign_rsa_pss(builder: x509.CertificateBuilder, key: rsa.RSAPrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA384(), rsa_padding=_PSS)


def _ca_builder(
    subject: x509.Name, issuer: x509.Name, public: rsa.RSAPublicKey, serial: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            key_usage(digital_signature=False, key_cert_sign=True, crl_sign=True),
            critical=True,
        )
    )


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Vcek:
    """A VCEK or VLEK certificate and its P-384 key."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)
    cert: x509.Certificate = field(repr=False)
    product: Product
    tcb: Tcb
    chip_id: bytes = field(repr=False)
    is_vlek: bool = False

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return pem(self.cert)


@dataclass(frozen=True)
class Chain:
    """A synthetic ARK and ASK for one product."""

    product: Product
    ark_key: rsa.RSAPrivateKey = field(repr=False)
    ark: x509.Certificate = field(repr=False)
    ask_key: rsa.RSAPrivateKey = field(repr=False)
    ask: x509.Certificate = field(repr=False)
    asvk_key: rsa.RSAPrivateKey = field(repr=False)
    asvk: x509.Certificate = field(repr=False)

    @property
    def ark_pem(self) -> bytes:
        return pem(self.ark)

    @property
    def chain_pem(self) -> bytes:
        """ASK, ASVK, then ARK (AMD's KDS serves ASK+ARK for VCEKs and ASVK+ARK for VLEKs)."""
        return pem(self.ask, self.asvk, self.ark)

    def issue_vcek(
        self,
        tcb: Tcb = Tcb(),
        chip_id: bytes | None = None,
        *,
        key: ec.EllipticCurvePrivateKey | None = None,
        cert_tcb: Tcb | None = None,
        omit: tuple[x509.ObjectIdentifier, ...] = (),
        vlek: bool = False,
    ) -> Vcek:
        """A VCEK (or VLEK) for ``tcb`` and ``chip_id``. ``cert_tcb`` states other SPLs in the
        certificate than the ones the VCEK is for (a mismatch); ``omit`` drops extensions."""
        product = self.product
        chip_id = chip_id if chip_id is not None else default_chip_id(product)
        key = key or ec.generate_private_key(ec.SECP384R1())
        stated = cert_tcb or tcb
        extensions: list[tuple[x509.ObjectIdentifier, bytes]] = [
            (OID_STRUCT_VERSION, _der_integer(1 if product.turin_layout else 0)),
            (OID_PRODUCT_NAME, _der_ia5(product.product_name)),
        ]
        if product.turin_layout:
            extensions.append((OID_FMC_SPL, _der_integer(stated.fmc or 0)))
        extensions += [
            (OID_BL_SPL, _der_integer(stated.bootloader)),
            (OID_TEE_SPL, _der_integer(stated.tee)),
            (OID_SNP_SPL, _der_integer(stated.snp)),
            *((oid, _der_integer(0)) for oid in _RESERVED_SPLS),
            (OID_UCODE_SPL, _der_integer(stated.microcode)),
        ]
        if not vlek:
            # The hwID is the chip id itself, not DER-wrapped (Turin: its first 8 bytes).
            extensions.append((OID_HW_ID, chip_id[: product.hwid_len]))
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name("SEV-VLEK" if vlek else "SEV-VCEK"))
            .issuer_name(self.asvk.subject if vlek else self.ask.subject)
            .public_key(key.public_key())
            # AMD issues VCEKs with serial 0, which cryptography refuses to build (the real
            # vectors cover serial 0).
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_AFTER)
        )
        for oid, value in extensions:
            if oid not in omit:
                builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), False)
        cert = _sign_rsa_pss(builder, self.asvk_key if vlek else self.ask_key)
        return Vcek(key, cert, product, tcb, chip_id, vlek)


def default_chip_id(product: Product) -> bytes:
    """A fixed chip id; Turin chips report an 8-byte id, the rest of CHIP_ID zero."""
    chip = hashlib.sha512(b"openpcc synthetic chip " + product.name.encode()).digest()
    return chip[: product.hwid_len].ljust(64, b"\x00")


def synthetic_chain(product: str = "genoa", label: str = "") -> Chain:
    """ARK and ASK for ``product``; another ``label`` gives other keys under the same names.
    The same arguments always give the same chain (within one process)."""
    return _chain(product, label)


@functools.cache
def _chain(product: str, label: str) -> Chain:
    prod = PRODUCTS[product]
    ark_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    ask_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    ark_name, ask_name = _name(f"ARK-{prod.name}"), _name(f"SEV-{prod.name}")
    ark = _sign_rsa_pss(_ca_builder(ark_name, ark_name, ark_key.public_key(), 0x20000), ark_key)
    ask = _sign_rsa_pss(_ca_builder(ask_name, ark_name, ask_key.public_key(), 0x20001), ark_key)
    asvk_key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    asvk_name = _name(f"SEV-VLEK-{prod.name}")
    asvk = _sign_rsa_pss(_ca_builder(asvk_name, ark_name, asvk_key.public_key(), 0x20002), ark_key)
    return Chain(prod, ark_key, ark, ask_key, ask, asvk_key, asvk)


def reissue_ask(chain: Chain, *, ca: bool = True, key_cert_sign: bool = True) -> x509.Certificate:
    """The chain's ASK (same name, same key, signed by the same ARK) with other CA extensions:
    what a misissued intermediate looks like."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(chain.ask.subject)
        .issuer_name(chain.ark.subject)
        .public_key(chain.ask_key.public_key())
        .serial_number(0x20003)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            key_usage(digital_signature=True, key_cert_sign=key_cert_sign, crl_sign=False),
            critical=True,
        )
    )
    return _sign_rsa_pss(builder, chain.ark_key)


def vcek_under(issuer: Vcek, product: str = "genoa") -> Vcek:
    """What a holder of one VCEK private key can make: a "VCEK" (same chip, any TCB) signed by it."""
    prod = PRODUCTS[product]
    key = ec.generate_private_key(ec.SECP384R1())
    tcb = Tcb(bootloader=255, tee=255, snp=255, microcode=255)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("SEV-VCEK"))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
    )
    for oid, value in (
        (OID_STRUCT_VERSION, _der_integer(0)),
        (OID_PRODUCT_NAME, _der_ia5(prod.product_name)),
        (OID_BL_SPL, _der_integer(255)),
        (OID_TEE_SPL, _der_integer(255)),
        (OID_SNP_SPL, _der_integer(255)),
        (OID_UCODE_SPL, _der_integer(255)),
        (OID_HW_ID, issuer.chip_id[: prod.hwid_len]),
    ):
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), False)
    cert = builder.sign(issuer.key, hashes.SHA384())
    return Vcek(key, cert, prod, tcb, issuer.chip_id)


def impostor_ark(product: str = "genoa") -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed ARK with the same name as :func:`synthetic_chain`'s but another key."""
    return _impostor_ark(product)


@functools.cache
def _impostor_ark(product: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    prod = PRODUCTS[product]
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    name = _name(f"ARK-{prod.name}")
    return key, _sign_rsa_pss(_ca_builder(name, name, key.public_key(), 0x20000), key)


# --- the report ---------------------------------------------------------------


@dataclass(frozen=True)
class ReportFields:
    """The fields of an ``ATTESTATION_REPORT`` the tests choose; the rest are fixed or zero."""

    report_data: bytes = bytes(64)
    measurement: bytes = bytes.fromhex("5a" * 48)
    policy: int = POLICY_DEFAULT
    version: int = 5
    vmpl: int = 0
    guest_svn: int = 1
    host_data: bytes = bytes(32)
    flags: int = SIGNING_KEY_VCEK << 2
    signature_algo: int = SIGNATURE_ALGO_ECDSA_P384_SHA384
    #: ``None``: the VCEK's TCB (what a genuine report carries).
    reported_tcb: Tcb | None = None
    #: ``None``: the VCEK's chip id.
    chip_id: bytes | None = None

    def but(self, **changes: object) -> ReportFields:
        return replace(self, **changes)  # type: ignore[arg-type]


def unsigned_report(fields: ReportFields, vcek: Vcek) -> bytearray:
    """The 1184 report bytes with a zero signature area."""
    if fields.version not in (3, 5):
        raise ValueError("synthetic reports are version 3 or 5")
    product = vcek.product
    tcb = (fields.reported_tcb or vcek.tcb).encode(product)
    chip_id = fields.chip_id if fields.chip_id is not None else vcek.chip_id
    if vcek.is_vlek and fields.chip_id is None:
        chip_id = bytes(64)
    out = bytearray(REPORT_LEN)

    def put(at: int, value: bytes, length: int) -> None:
        if len(value) != length:
            raise ValueError(f"field at {at:#x} is {length} bytes, got {len(value)}")
        out[at : at + length] = value

    put(0x00, struct.pack("<I", fields.version), 4)
    put(0x04, struct.pack("<I", fields.guest_svn), 4)
    put(0x08, struct.pack("<Q", fields.policy), 8)
    put(0x10, b"\x01" * 16, 16)  # FAMILY_ID
    put(0x20, b"\x02" * 16, 16)  # IMAGE_ID
    put(0x30, struct.pack("<I", fields.vmpl), 4)
    put(0x34, struct.pack("<I", fields.signature_algo), 4)
    put(0x38, tcb, 8)  # CURRENT_TCB
    put(0x40, struct.pack("<Q", 0b1), 8)  # PLATFORM_INFO: SMT enabled
    put(0x48, struct.pack("<I", fields.flags), 4)
    put(0x50, fields.report_data, 64)
    put(0x90, fields.measurement, 48)
    put(0xC0, fields.host_data, 32)
    put(0x140, hashlib.sha256(b"report id").digest(), 32)  # REPORT_ID
    put(0x160, b"\xff" * 32, 32)  # REPORT_ID_MA: no migration agent
    put(0x180, tcb, 8)  # REPORTED_TCB
    put(0x188, bytes([product.family, product.model, product.stepping]), 3)
    put(0x1A0, chip_id, 64)
    put(0x1E0, tcb, 8)  # COMMITTED_TCB
    put(0x1E8, bytes([12, 55, 1, 0]), 4)  # CURRENT_BUILD, _MINOR, _MAJOR: 1.55.12
    put(0x1EC, bytes([12, 55, 1, 0]), 4)  # COMMITTED_*
    put(0x1F0, tcb, 8)  # LAUNCH_TCB
    if fields.version >= 5:
        put(0x1F8, struct.pack("<Q", 0), 8)  # LAUNCH_MIT_VECTOR
        put(0x200, struct.pack("<Q", 0), 8)  # CURRENT_MIT_VECTOR
    return out


def sign_report(report: bytearray | bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """Writes the ECDSA P-384/SHA-384 signature of ``report[0:0x2A0]`` into the signature area."""
    out = bytearray(report)
    r, s = decode_dss_signature(key.sign(bytes(out[:SIGNED_LEN]), ec.ECDSA(hashes.SHA384())))
    out[SIG_R : SIG_R + SIG_COMPONENT_LEN] = r.to_bytes(SIG_COMPONENT_LEN, "little")
    out[SIG_S : SIG_S + SIG_COMPONENT_LEN] = s.to_bytes(SIG_COMPONENT_LEN, "little")
    return bytes(out)


def build_report(
    fields: ReportFields, vcek: Vcek, *, signer: ec.EllipticCurvePrivateKey | None = None
) -> bytes:
    """A signed report; ``signer`` (default the VCEK's key) lets a test sign with another key."""
    return sign_report(unsigned_report(fields, vcek), signer or vcek.key)
