"""NVIDIA reference integrity manifests (RIMs): golden GPU measurements, signed by NVIDIA.

A RIM is an ISO/IEC 19770-2 SWID tag (``SoftwareIdentity``) per driver version and per VBIOS
version, enveloped-signed with XML-DSig and carrying its signing chain in
``ds:KeyInfo/ds:X509Data``. ``Meta/@colloquialVersion`` is the driver or VBIOS version; each
``Payload/Resource`` is one measurement: ``index`` (0-based: RIM index *i* is SPDM measurement
block *i + 1*), ``active`` (``False`` = not compared), ``alternatives`` (how many values), ``size``
(bytes) and the values as ``SHA384:Hash0``, ``SHA384:Hash1``... attributes (namespace
``http://www.w3.org/2001/04/xmlenc#sha384``). This is the layout NVIDIA's local GPU verifier
(nvtrust) reads; no real RIM is among this project's vectors.

:func:`parse_rim` reads the XML without trusting it (no entities, no network);
:func:`verify_rim` checks the signing chain up to ``roots`` (cryptography's path validator: issuers
must be CAs allowed to sign certificates, path lengths hold, validity at ``at``) and the
XML-DSig signature with the chain's leaf (``signxml``), and returns the measurements read from the
*signed* document only. Needs the ``rim`` extra (``pip install openpcc[rim]``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from openpcc.exceptions import (
    AttestationError,
    EvidenceFormatError,
    RimChainError,
    RimSignatureError,
)

__all__ = ["Rim", "RimMeasurement", "load_roots", "parse_rim", "verify_rim"]

SWID_NS = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
SHA384_NS = "http://www.w3.org/2001/04/xmlenc#sha384"
#: A RIM chain is short (NVIDIA's: leaf, intermediate(s), root); anything longer is refused.
MAX_CHAIN = 5
MAX_RIM_BYTES = 4 << 20


@dataclass(frozen=True)
class RimMeasurement:
    """One ``Resource``: the allowed values of SPDM block ``index + 1`` (when ``active``)."""

    index: int
    name: str
    active: bool
    size: int
    values: frozenset[bytes]


@dataclass(frozen=True)
class Rim:
    """A parsed RIM. ``measurements`` maps the RIM index (0-based) to its entry."""

    raw: bytes
    version: str
    tag_id: str
    measurements: MappingProxyType[int, RimMeasurement]

    def describes_block(self, block: int) -> bool:
        return (block - 1) in self.measurements


def _require_rim_extra() -> None:
    """Raises AttestationError when the ``rim`` extra (lxml, signxml, cryptography) is missing."""
    try:
        import cryptography  # noqa: F401
        import lxml.etree  # noqa: F401
        import signxml  # noqa: F401
    except ImportError:  # pragma: no cover - the rim extra is a dev dependency
        raise AttestationError(
            "reading NVIDIA RIM files needs lxml, signxml and cryptography: "
            "pip install 'openpcc[rim]'"
        ) from None


def load_roots(pem: bytes) -> list[Any]:
    """The RIM trust anchors in ``pem``; raises :class:`~openpcc.exceptions.RimChainError`
    when it holds no certificate."""
    _require_rim_extra()
    from cryptography import x509

    try:
        anchors = x509.load_pem_x509_certificates(bytes(pem))
    except ValueError as exc:
        raise RimChainError(f"RIM trust roots unreadable: {exc!s:.80}") from None
    if not anchors:
        raise RimChainError("RIM trust roots hold no certificate")
    return anchors


def _parse_tree(data: bytes) -> Any:
    _require_rim_extra()
    from lxml import etree

    if len(data) > MAX_RIM_BYTES:
        raise EvidenceFormatError(f"RIM is {len(data)} bytes, more than {MAX_RIM_BYTES}")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise EvidenceFormatError(f"RIM is not well-formed XML: {exc}") from None
    if root is None or root.tag != f"{{{SWID_NS}}}SoftwareIdentity":
        raise EvidenceFormatError("RIM root element is not a SWID SoftwareIdentity")
    return root


def _measurements(root: Any) -> dict[int, RimMeasurement]:
    payload = root.find(f"{{{SWID_NS}}}Payload")
    if payload is None:
        raise EvidenceFormatError("RIM has no Payload")
    out: dict[int, RimMeasurement] = {}
    for resource in payload.iterchildren(f"{{{SWID_NS}}}Resource"):
        entry = _measurement(resource)
        if entry.index in out:
            raise EvidenceFormatError(f"RIM lists measurement index {entry.index} twice")
        out[entry.index] = entry
    if not out:
        raise EvidenceFormatError("RIM lists no measurement")
    return out


def _measurement(resource: Any) -> RimMeasurement:
    attrs = resource.attrib
    try:
        index = int(attrs["index"])
        alternatives = int(attrs["alternatives"])
        size = int(attrs["size"])
        values = [
            bytes.fromhex(attrs[f"{{{SHA384_NS}}}Hash{i}"]) for i in range(alternatives)
        ]
    except (KeyError, ValueError) as exc:
        raise EvidenceFormatError(f"RIM Resource is malformed ({exc!s:.60})") from None
    if not 0 <= index <= 253 or alternatives < 1 or any(len(v) != size for v in values):
        raise EvidenceFormatError(
            f"RIM Resource index {index}: index 0-253, at least one value, each of size {size}"
        )
    active = attrs.get("active", "True").strip().lower() != "false"
    return RimMeasurement(index, attrs.get("name", ""), active, size, frozenset(values))


def parse_rim(data: bytes) -> Rim:
    """Parses a RIM (unverified). Raises :class:`~openpcc.exceptions.EvidenceFormatError`."""
    root = _parse_tree(bytes(data))
    return _rim_from(bytes(data), root)


def _rim_from(raw: bytes, root: Any) -> Rim:
    meta = root.find(f"{{{SWID_NS}}}Meta")
    version = (meta.get("colloquialVersion") or "").strip() if meta is not None else ""
    if not version:
        raise EvidenceFormatError("RIM has no Meta colloquialVersion (the driver/VBIOS version)")
    return Rim(
        raw=raw,
        version=version.lower(),
        tag_id=root.get("tagId", ""),
        measurements=MappingProxyType(_measurements(root)),
    )


def _chain(root: Any) -> list[Any]:
    from cryptography import x509

    path = "/".join(
        f"{{http://www.w3.org/2000/09/xmldsig#}}{tag}"
        for tag in ("Signature", "KeyInfo", "X509Data", "X509Certificate")
    )
    texts = [(e.text or "") for e in root.iterfind(path)]
    if not texts:
        raise RimChainError("RIM signature carries no X509Certificate")
    if len(texts) > MAX_CHAIN:
        raise RimChainError(f"RIM carries {len(texts)} certificates, more than {MAX_CHAIN}")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode("".join(t.split()))) for t in texts]
    except ValueError as exc:
        raise RimChainError(f"RIM certificate unreadable: {exc!s:.80}") from None


def _check_chain(chain: list[Any], roots_pem: bytes, at: datetime) -> Any:
    """Validates leaf (first) → intermediates → one of ``roots``; returns the leaf."""
    from cryptography import x509
    from cryptography.x509 import verification as v

    anchors = load_roots(roots_pem)
    # A root the RIM carries itself is not an intermediate: it counts only as a policy anchor.
    leaf, rest = chain[0], [c for c in chain[1:] if c not in anchors]
    ca_policy = (
        v.ExtensionPolicy.permit_all()
        .require_present(x509.BasicConstraints, v.Criticality.AGNOSTIC, _must_be_ca)
        .require_present(x509.KeyUsage, v.Criticality.AGNOSTIC, _must_sign_certificates)
    )
    ee_policy = (
        v.ExtensionPolicy.permit_all()
        .may_be_present(x509.BasicConstraints, v.Criticality.AGNOSTIC, _must_not_be_ca)
        .may_be_present(x509.KeyUsage, v.Criticality.AGNOSTIC, _must_sign_data)
    )
    verifier = (
        v.PolicyBuilder()
        .store(v.Store(anchors))
        .time(at)
        .max_chain_depth(MAX_CHAIN)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, rest)
    except v.VerificationError as exc:
        raise RimChainError(f"RIM signer is not trusted: {exc!s:.200}") from None
    return leaf


def _must_be_ca(_policy: Any, cert: Any, ext: Any) -> None:
    if ext is None or not ext.ca:
        raise ValueError(f"{cert.subject.rfc4514_string()} issues certificates but is not a CA")


def _must_sign_certificates(_policy: Any, cert: Any, ext: Any) -> None:
    if ext is None or not ext.key_cert_sign:
        raise ValueError(f"{cert.subject.rfc4514_string()} keyUsage lacks keyCertSign")


def _must_not_be_ca(_policy: Any, cert: Any, ext: Any) -> None:
    if ext is not None and ext.ca:
        raise ValueError("the RIM signing leaf is a CA certificate")


def _must_sign_data(_policy: Any, cert: Any, ext: Any) -> None:
    if ext is not None and not ext.digital_signature:
        raise ValueError("the RIM signing leaf's keyUsage lacks digitalSignature")


def verify_rim(data: bytes, roots_pem: bytes, *, at: datetime | None = None) -> Rim:
    """Verifies a RIM's chain to ``roots_pem`` at ``at`` (default now) and its XML-DSig
    signature; returns the RIM read from the signed content. Raises
    :class:`~openpcc.exceptions.RimSignatureError` for a bad signature,
    :class:`~openpcc.exceptions.RimChainError` for an untrusted signer,
    :class:`~openpcc.exceptions.EvidenceFormatError` for XML that is not a RIM."""
    from signxml.exceptions import InvalidInput, InvalidSignature
    from signxml.verifier import SignatureConfiguration, XMLVerifier

    raw = bytes(data)
    root = _parse_tree(raw)
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    leaf = _check_chain(_chain(root), roots_pem, when)
    config = SignatureConfiguration(location="./", expect_references=1)
    try:
        result = XMLVerifier().verify(root, x509_cert=leaf, expect_config=config)
    except (InvalidSignature, InvalidInput) as exc:
        raise RimSignatureError(f"RIM signature does not verify: {exc!s:.200}") from None
    if isinstance(result, list):  # one expected reference gives one result; a list means more were signed
        raise RimSignatureError("the RIM signature covers more than one reference")
    signed = result.signed_xml
    if signed is None or signed.tag != f"{{{SWID_NS}}}SoftwareIdentity":
        raise RimSignatureError("the RIM signature does not cover the whole SoftwareIdentity")
    return _rim_from(raw, signed)
