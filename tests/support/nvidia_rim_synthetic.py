"""Synthetic NVIDIA RIMs, signed by a RIM CA made up on the spot (tests only).

Real RIMs are signed by NVIDIA's RIM signing chain and describe real firmware; none is in the
vectors. This module builds RIMs in the structure NVIDIA's verifier reads (a SWID
``SoftwareIdentity`` with ``Meta/@colloquialVersion`` and ``Payload/Resource`` entries carrying
``index``, ``active``, ``alternatives``, ``size`` and ``SHA384:HashN`` values, enveloped-signed
with XML-DSig, ECDSA P-384/SHA-384, the chain in ``KeyInfo/X509Data``) under a three-certificate
P-384 chain: synthetic RIM root → RIM CA → RIM signing leaf.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureConstructionMethod, SignatureMethod
from signxml.signer import XMLSigner

from tests.support.nvidia_synthetic import NOT_AFTER, NOT_BEFORE
from tests.support.x509_usage import key_usage

SWID_NS = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
SHA384_NS = "http://www.w3.org/2001/04/xmlenc#sha384"
RIM_MODEL_NS = (
    "https://trustedcomputinggroup.org/resource/"
    "tcg-reference-integrity-manifest-rim-information-model/"
)


@dataclass(frozen=True)
class RimPki:
    root: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # leaf first, root excluded
    leaf_key: ec.EllipticCurvePrivateKey

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openpcc synthetic RIM signers"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    validity: tuple[datetime, datetime],
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            key_usage(digital_signature=not ca, key_cert_sign=ca, crl_sign=ca),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA384())


def make_rim_pki(
    *, validity: tuple[datetime, datetime] = (NOT_BEFORE, NOT_AFTER), leaf_is_ca: bool = False
) -> RimPki:
    root_key, ca_key, leaf_key = (ec.generate_private_key(ec.SECP384R1()) for _ in range(3))
    root_cn, ca_cn = "Synthetic RIM Root", "Synthetic RIM CA"
    root = _cert(root_cn, root_key, root_cn, root_key, ca=True, validity=validity)
    ca = _cert(ca_cn, ca_key, root_cn, root_key, ca=True, validity=validity)
    leaf = _cert(
        "Synthetic RIM Signer", leaf_key, ca_cn, ca_key, ca=leaf_is_ca, validity=validity
    )
    return RimPki(root=root, chain=(leaf, ca), leaf_key=leaf_key)


@dataclass(frozen=True)
class Entry:
    """One ``Resource``: SPDM block ``block`` (RIM index ``block - 1``)."""

    block: int
    values: Sequence[bytes]
    active: bool = True


def entries_for(blocks: Mapping[int, bytes], *, inactive: Sequence[int] = ()) -> list[Entry]:
    """One active entry per evidence block with its value as the only alternative."""
    return [Entry(b, [v], active=b not in inactive) for b, v in sorted(blocks.items())]


def rim_xml(version: str, entries: Sequence[Entry], *, product: str = "GH100") -> etree._Element:
    # lxml takes None as the default namespace's prefix; lxml-stubs types the keys as str only.
    nsmap = cast("dict[str, str]", {None: SWID_NS, "SHA384": SHA384_NS})
    root = etree.Element(
        f"{{{SWID_NS}}}SoftwareIdentity",
        nsmap=nsmap,
        attrib={
            "name": product,
            "tagId": f"synthetic-{product}-{version}",
            "version": version,
            "corpus": "false",
            "patch": "false",
            "supplemental": "false",
            "tagVersion": "0",
            "versionScheme": "alphanumeric",
        },
    )
    etree.SubElement(
        root,
        f"{{{SWID_NS}}}Meta",
        nsmap={"rim": RIM_MODEL_NS},
        attrib={
            "colloquialVersion": version,
            "edition": "GPU",
            "product": product,
            "revision": "r1",
            "PayloadType": "direct",
            f"{{{RIM_MODEL_NS}}}BindingSpec": "RIMIM",
            f"{{{RIM_MODEL_NS}}}FirmwareManufacturer": "openpcc synthetic",
        },
    )
    etree.SubElement(
        root,
        f"{{{SWID_NS}}}Entity",
        attrib={
            "name": "openpcc synthetic",
            "regid": "example.invalid",
            "role": "softwareCreator tagCreator",
        },
    )
    payload = etree.SubElement(root, f"{{{SWID_NS}}}Payload")
    for e in entries:
        attrib = {
            "type": "Measurement",
            "index": str(e.block - 1),
            "active": "True" if e.active else "False",
            "alternatives": str(len(e.values)),
            "name": f"MEASUREMENT_{e.block - 1}",
            "size": str(len(e.values[0])),
        }
        for i, value in enumerate(e.values):
            attrib[f"{{{SHA384_NS}}}Hash{i}"] = value.hex()
        etree.SubElement(payload, f"{{{SWID_NS}}}Resource", attrib=attrib)
    return root


def sign(
    root: etree._Element, pki: RimPki, *, key: ec.EllipticCurvePrivateKey | None = None
) -> bytes:
    """Enveloped XML-DSig over the whole document, the chain (leaf first) in X509Data."""
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.ECDSA_SHA384,
        digest_algorithm=DigestAlgorithm.SHA384,
    )
    certs = [c.public_bytes(serialization.Encoding.PEM).decode() for c in pki.chain]
    signed = signer.sign(root, key=key or pki.leaf_key, cert=certs)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def signed_rim(
    pki: RimPki,
    version: str,
    entries: Sequence[Entry],
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """A RIM for ``version`` with ``entries``, signed by the PKI's leaf (or ``key``, to forge)."""
    return sign(rim_xml(version, entries), pki, key=key)
