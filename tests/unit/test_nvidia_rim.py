"""NVIDIA RIM parsing and verification (openpcc.attestation.nvidia_rim) on synthetic RIMs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from openpcc.attestation import nvidia_rim
from openpcc.exceptions import EvidenceFormatError, RimChainError, RimSignatureError

from tests.support import nvidia_rim_synthetic as rims
from tests.support import nvidia_synthetic as synth

AT = datetime(2026, 6, 1, tzinfo=UTC)
BLOCKS = synth.block_values(4)


@pytest.fixture(scope="module")
def pki() -> rims.RimPki:
    return rims.make_rim_pki()


def test_a_signed_rim_verifies_and_reads_its_measurements(pki: rims.RimPki) -> None:
    entries = rims.entries_for(BLOCKS, inactive=[4])
    rim = nvidia_rim.verify_rim(rims.signed_rim(pki, "590.12", entries), pki.root_pem(), at=AT)
    assert rim.version == "590.12"
    assert sorted(rim.measurements) == [0, 1, 2, 3]  # RIM index = SPDM block - 1
    assert rim.measurements[0].values == {BLOCKS[1]}
    assert rim.measurements[0].active and not rim.measurements[3].active
    assert rim.describes_block(4) and not rim.describes_block(5)


def test_an_unsigned_resource_added_after_signing_is_refused(pki: rims.RimPki) -> None:
    """Signature wrapping: an extra Resource in the signed Payload breaks the digest."""
    data = rims.signed_rim(pki, "590.12", rims.entries_for(BLOCKS))
    extra = (
        f'<Resource type="Measurement" index="9" active="True" alternatives="1" name="x" '
        f'size="48" SHA384:Hash0="{"00" * 48}"/></Payload>'
    ).encode()
    forged = data.replace(b"</Payload>", extra)
    assert nvidia_rim.parse_rim(forged).describes_block(10)
    with pytest.raises(RimSignatureError, match="Digest mismatch"):
        nvidia_rim.verify_rim(forged, pki.root_pem(), at=AT)


def test_a_rim_without_signature_is_refused(pki: rims.RimPki) -> None:
    from lxml import etree

    unsigned = etree.tostring(rims.rim_xml("590.12", rims.entries_for(BLOCKS)))
    with pytest.raises(RimChainError, match="no X509Certificate"):
        nvidia_rim.verify_rim(unsigned, pki.root_pem(), at=AT)


def test_a_signer_outside_its_validity_is_refused() -> None:
    expired = rims.make_rim_pki(
        validity=(datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
    )
    data = rims.signed_rim(expired, "590.12", rims.entries_for(BLOCKS))
    with pytest.raises(RimChainError, match="not trusted"):
        nvidia_rim.verify_rim(data, expired.root_pem(), at=AT)


@pytest.mark.parametrize(
    ("target", "edit", "message"),
    [
        ('index="0"', 'index="1"', "lists measurement index 1 twice"),
        ('size="48"', 'size="47"', "each of size 47"),
        ('alternatives="1"', 'alternatives="2"', "Resource is malformed"),
        ('colloquialVersion="590.12"', 'colloquialVersion=""', "no Meta colloquialVersion"),
    ],
)
def test_malformed_rims_are_refused(
    pki: rims.RimPki, target: str, edit: str, message: str
) -> None:
    data = rims.signed_rim(pki, "590.12", rims.entries_for(BLOCKS))
    forged = data.replace(target.encode(), edit.encode(), 1)
    assert forged != data
    with pytest.raises(EvidenceFormatError, match=message):
        nvidia_rim.parse_rim(forged)


def test_entities_are_not_expanded() -> None:
    doc = (
        b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        b'<SoftwareIdentity xmlns="' + rims.SWID_NS.encode() + b'"><Meta colloquialVersion="&x;"/>'
        b"<Payload/></SoftwareIdentity>"
    )
    with pytest.raises(EvidenceFormatError):
        nvidia_rim.parse_rim(doc)


def test_not_a_swid_tag_is_refused() -> None:
    with pytest.raises(EvidenceFormatError, match="SoftwareIdentity"):
        nvidia_rim.parse_rim(b"<a/>")
    with pytest.raises(EvidenceFormatError, match="well-formed"):
        nvidia_rim.parse_rim(b"<a")
